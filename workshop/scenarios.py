"""What `make workshop-check` and `room.py sizing` do with the simulated learners.

The check: log in through the REST API (refusals included), start every learner's server at
once, run notebook 03 in each learner's own kernel at once, then the faults: isolation, two
learners training at once, a learner over the memory limit, a server killed mid-notebook, and the
idle culler. Every step prints one line with what it measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time

from .hubclient import HubError, Learner, code_cells
from .room import REPO, gib, run_parallel, say

NB03 = "03_forward_diffusion.ipynb"
NB04 = "04_reverse_sampling.ipynb"


def run_check(room, checks, args) -> None:
    say(f"workshop-check: {len(room.names)} simulated learners + 1 instructor, budget {args.budget}, "
        f"{room.limits.describe(args.mem_bytes, float(args.cpu_limit))}")
    if room.limits_note:
        say(f"  limits: {room.limits_note}")
    base = room.open(activity_interval=10, last_activity_interval=10, poll_interval=5, cull_every=10)
    say(f"  hub and proxy up at {base} in {room.hub_seconds:.1f} s (hub log: {room.log})")

    # ---- logging in: refusals first ----
    stranger = Learner(base, "nobodyhere", "some-long-password")
    checks.expect(stranger.login().status_code == 403, "an unknown user is refused", "HTTP 403")
    first = Learner(base, room.names[0], room.passwords[room.names[0]])
    r = first.login("short")
    checks.expect(r.status_code == 403, "a first-use password under 8 characters is refused", f"HTTP {r.status_code}")
    learners = [Learner(base, n, room.passwords[n]) for n in room.names]
    codes = [lr.login().status_code for lr in learners]
    checks.expect(all(c in (200, 201) for c in codes), "every learner logs in (first use sets the password)",
                  f"HTTP {codes}")
    r = Learner(base, room.names[0], "the-wrong-password").login()
    checks.expect(r.status_code == 403, "a wrong password is refused", f"HTTP {r.status_code}")
    teacher = Learner(base, room.instructor, room.passwords[room.instructor])
    r = teacher.login()
    admin = r.status_code in (200, 201) and teacher.server_state().get("admin") is True
    checks.expect(admin, "the instructor logs in with the class list's password and is admin", f"HTTP {r.status_code}")

    # ---- every learner's server at once ----
    spawn = run_parallel(lambda lr: lr.start_server(), learners)
    ok = all(isinstance(s, float) for s in spawn)
    checks.expect(ok, f"{len(learners)} servers started at once",
                  ", ".join(f"{lr.name} {s:.1f} s" if isinstance(s, float) else f"{lr.name} {s}" for lr, s in zip(learners, spawn)))
    if not ok:
        return
    listing = learners[0].listing()
    checks.expect(NB03 in listing, "each learner's JupyterLab opens on their own copy of notebooks/",
                  f"{len(listing)} files in ~/noise-to-art/notebooks of {learners[0].name}")

    # ---- notebook 03 in every learner's own kernel, at once ----
    cells = code_cells(REPO / "notebooks" / NB03)

    def run03(lr):
        kernel = lr.open_kernel(NB03)
        t0 = time.perf_counter()
        try:
            res = kernel.run_notebook(cells, timeout=300)
        finally:
            kernel.close()
        return time.perf_counter() - t0, res
    runs = run_parallel(run03, learners)
    table = []
    for lr, spawn_s, run in zip(learners, spawn, runs):
        if isinstance(run, Exception):
            checks.expect(False, f"{lr.name} runs {NB03}", f"{type(run).__name__}: {run}")
            continue
        seconds, res = run
        bad = [r for r in res if r.status != "ok"]
        peak, rss = room.memory(lr.name)
        table.append(f"  {lr.name} | {spawn_s:.1f} s | {seconds:.1f} s ({len(res)}/{len(cells)} cells) | {gib(peak)} | {gib(rss)}")
        checks.expect(not bad and len(res) == len(cells), f"{lr.name} runs {NB03} in its own kernel",
                      f"{len(res)}/{len(cells)} cells in {seconds:.1f} s; memory peak {gib(peak)}, now {gib(rss)}"
                      + (f"; cell {bad[0].index}: {bad[0].status} {bad[0].error}" if bad else ""))

    say(f"  learners at once: {len(learners)} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    say("  learner | spawn | notebook 03 | memory peak (cgroup) | resident after")
    for line in table:
        say(line)

    # ---- isolation ----
    a, b = learners[0], learners[1]
    home_b = room.home(b.name)
    probe = (f"import os\ntry:\n    print(sorted(os.listdir({str(home_b)!r})))\nexcept PermissionError as e:\n    print('refused', e.errno)\n"
             f"try:\n    open({str(home_b / 'noise-to-art' / 'notebooks' / NB03)!r}).read(1)\n    print('read')\n"
             "except PermissionError as e:\n    print('refused', e.errno)\n")
    ka = a.open_kernel(NB03)
    res = ka.execute(probe)
    checks.expect(res.status == "ok" and res.stdout.split().count("refused") == 2,
                  f"{a.name}'s kernel cannot list or read {b.name}'s home", res.stdout.strip().replace("\n", "; "))
    r = b.server("GET", "/contents/", as_token=a.token)
    checks.expect(r.status_code in (401, 403, 404), f"{a.name}'s token is refused by {b.name}'s server", f"HTTP {r.status_code}")
    r = b.server("GET", "/contents/", as_token=teacher.token)
    checks.expect(r.status_code == 200, f"the instructor's token opens {b.name}'s server (to help)", f"HTTP {r.status_code}")
    manifest = json.loads((REPO / "course_lib" / "checkpoints" / "manifest.json").read_text())
    shipped = REPO / "course_lib" / "checkpoints" / manifest["ddpm_mnist"]["file"]
    res = ka.execute(f"try:\n    open({str(shipped)!r}, 'r+b')\n    print('writable')\nexcept PermissionError:\n    print('read-only')\n")
    checks.expect(res.stdout.strip() == "read-only", "the shipped checkpoints are read-only for learners", res.stdout.strip())
    ka.close()

    # ---- two learners train at once: each writes under their own home ----
    # The notebook's own training call, saving to a relative path (the learner's notebooks folder);
    # the file is then read back and hashed, independent of what the call returns.
    train = ("import hashlib, os, torch\n"
             "from course_lib.diffusion.training import load_or_train_denoiser\n"
             "load_or_train_denoiser('ddpm_mnist', train=True, path='my_ddpm.pt')\n"
             "state = torch.load('my_ddpm.pt', weights_only=True)\n"
             "digest = hashlib.sha256(open('my_ddpm.pt', 'rb').read()).hexdigest()\n"
             "print('SAVED', os.path.abspath('my_ddpm.pt'), digest, len(state))\n")

    def train_one(lr):
        k = lr.open_kernel(NB03)
        try:
            return k.execute(train, timeout=600)
        finally:
            k.close()
    t0 = time.perf_counter()
    trained = run_parallel(train_one, [a, b])
    def saved(t):
        if isinstance(t, Exception) or t.status != "ok":
            return None
        lines = [ln.split() for ln in t.stdout.splitlines() if ln.startswith("SAVED ")]
        return lines[-1][1] if lines else None
    paths = [saved(t) for t in trained]
    own = all(p and p.startswith(str(room.home(lr.name)) + "/") for p, lr in zip(paths, (a, b)))
    shipped_ok = hashlib.sha256(shipped.read_bytes()).hexdigest() == manifest["ddpm_mnist"]["sha256"]
    checks.expect(own and shipped_ok, "two learners train at once without touching a shared checkpoint",
                  f"{time.perf_counter() - t0:.1f} s; each saved its own file and read it back ("
                  + ", ".join(str(p) for p in paths) + f"); shipped ddpm_mnist SHA-256 unchanged: {shipped_ok}"
                  + "".join(f"; {t}" for t in trained if isinstance(t, Exception) or t.status != "ok"))

    # ---- a learner asks for more memory than the limit ----
    c = learners[-1]
    others = [lr for lr in learners if lr is not c]
    over = args.mem_bytes + 512 * 2**20
    kc = c.open_kernel(NB03)
    kc.execute("import torch")
    kother = others[0].open_kernel(NB03)
    kother.execute("x = 41")
    oom_before = room.limits.group(c.name).oom_kills() if room.limits.name == "cgroup-v1" else None
    res = kc.execute(f"big = torch.ones({over // 4}, dtype=torch.float32)\nprint('allocated', big.numel())", timeout=120)
    stopped = res.status in ("died", "error")
    oom_after = room.limits.group(c.name).oom_kills() if room.limits.name == "cgroup-v1" else None
    # The learner's next step, as in JupyterLab: the same kernel, restarted, runs the next cell.
    try:
        back = f"came back in {kc.reconnect(120):.1f} s" if res.status == "died" else "did not die"
        again = kc.execute("print(6 * 7)", timeout=120)
    except HubError as err:
        back, again = str(err), None
    kc.close()
    alive = c.server("GET", "/status").status_code == 200
    other = kother.execute("print(x + 1)", timeout=120)
    kother.close()
    works = again is not None and again.stdout.strip() == "42"
    checks.expect(stopped and res.seconds < 60 and alive and other.stdout.strip() == "42" and works,
                  f"{c.name} allocating {gib(over)} (limit {gib(args.mem_bytes)}) is stopped alone within a minute",
                  f"{res.status} after {res.seconds:.1f} s ({res.error or res.stdout.strip()}); "
                  f"OOM kills in its cgroup {oom_before} -> {oom_after}; its kernel {back} and runs the next "
                  f"cell: {works}; its server answers: {alive}; "
                  f"{others[0].name}'s kernel kept its state: {other.stdout.strip() == '42'}")

    # ---- a server killed mid-notebook comes back with the learner's files ----
    note = f"my notes {time.time()}\n"
    a.put_text("my_notes.txt", note)
    before = a.listing()
    kernel = a.open_kernel(NB03)
    box = {}

    def mid():
        box["res"] = kernel.run_notebook(cells)
    worker = threading.Thread(target=mid)
    worker.start()
    time.sleep(4)
    pid = room.server_pid(a.name)
    if pid:
        os.kill(pid, signal.SIGKILL)
    worker.join(timeout=120)
    kernel.close()
    died = box.get("res") and box["res"][-1].status != "ok"
    restart = a.start_server()
    after = a.listing()
    same = a.get_text("my_notes.txt") == note and all(after.get(k) == v for k, v in before.items())
    k2 = a.open_kernel(NB03)
    t0 = time.perf_counter()
    res = k2.run_notebook(cells)
    k2.close()
    again_ok = all(r.status == "ok" for r in res) and len(res) == len(cells)
    checks.expect(bool(pid) and died and same and again_ok, f"{a.name}'s server killed mid-notebook comes back with its files",
                  f"killed pid {pid} after {len(box.get('res') or [])} cells; restarted in {restart:.1f} s; "
                  f"{len(before)} files unchanged: {same}; {NB03} again: {len(res)}/{len(cells)} cells in {time.perf_counter() - t0:.1f} s"
                  + ("" if again_ok else f" (cell {res[-1].index}: {res[-1].status} {res[-1].error})"))

    # ---- the idle culler stops servers nobody uses (their files stay) ----
    t0 = time.perf_counter()
    deadline = time.monotonic() + args.idle_timeout + 120
    running = set(room.names)
    while running and time.monotonic() < deadline:
        for lr in learners:
            if lr.name in running and not lr.server_state()["servers"]:
                running.discard(lr.name)
        time.sleep(2)
    checks.expect(not running, f"the idle culler stops idle servers (timeout {args.idle_timeout} s)",
                  f"all {len(learners)} stopped, the last {time.perf_counter() - t0:.0f} s after the check stopped using them"
                  if not running else f"still running: {sorted(running)}")
    if not running:
        r = a.start_server()
        checks.expect(a.get_text("my_notes.txt") == note, "a culled learner starts again with their files",
                      f"restarted in {r:.1f} s")


def find_cell(cells: list[str], needle: str, what: str) -> str:
    for code in cells:
        if needle in code:
            return code
    raise HubError(f"{NB04} has no code cell containing {needle!r} ({what}); update workshop/scenarios.py")


def run_sizing(room, args) -> int:
    """Time notebook 04's sampling cell with 1, 2, ... learners running it at the same moment."""
    cells = code_cells(REPO / "notebooks" / NB04)
    setup = find_cell(cells, "seed_everything(0)", "imports and budget")
    model = find_cell(cells, "load_or_train_denoiser(", "the model cell")
    sampling = find_cell(cells, "shipped_images = sample(", "the shipped model's sampling cell")
    say(f"sizing: load average before {os.getloadavg()[0]:.1f}; budget {args.budget}, {room.limits.describe(args.mem_bytes, float(args.cpu_limit))}, "
        f"up to {len(room.names)} learners on {os.cpu_count()} cores")
    base = room.open()
    learners = [Learner(base, n, room.passwords[n]) for n in room.names]
    for lr in learners:
        if lr.login().status_code not in (200, 201):
            raise HubError(f"{lr.name} could not log in")
    spawn = run_parallel(lambda lr: lr.start_server(), learners)
    say("  servers started: " + ", ".join(f"{s:.1f} s" if isinstance(s, float) else str(s) for s in spawn))
    kernels = [lr.open_kernel(NB04) for lr in learners]
    steps = [setup, "TRAIN_OWN = False  # the workshop loads the shipped model (instructor guide)", model]
    if args.samples:
        steps.append(f"N_DDIM = {args.samples}  # room.py sizing --samples")
    for code in steps:
        for k, res in zip(kernels, run_parallel(lambda k, code=code: k.execute(code, timeout=900), kernels)):
            if isinstance(res, Exception) or res.status != "ok":
                raise HubError(f"{k.learner.name}: setup cell failed: {res if isinstance(res, Exception) else res.error}")
    alone = None
    rows = []
    def timed(k):
        # The cell's wall time, and the CPU time its kernel used meanwhile (all threads).
        k.execute("import time as _sizing_time; _sizing_cpu = _sizing_time.process_time()")
        res = k.execute(sampling, timeout=3600)
        cpu = k.execute("print(_sizing_time.process_time() - _sizing_cpu)")
        return res, float(cpu.stdout.strip() or "nan")

    for n in range(1, len(kernels) + 1):
        load0 = os.getloadavg()[0]
        results = run_parallel(timed, kernels[:n])
        bad = [r for r in results if isinstance(r, Exception) or r[0].status != "ok"]
        if bad:
            b = bad[0]
            raise HubError(f"{n} at once: the sampling cell failed: {b if isinstance(b, Exception) else b[0].error}")
        times = [r.seconds for r, _ in results]
        share = [c / r.seconds for r, c in results]
        alone = alone or times[0]
        mem = [room.memory(k.learner.name)[0] for k in kernels[:n]]
        worst = max(times) / alone
        rows.append((n, min(times), max(times), worst, max(m or 0 for m in mem), min(share), load0))
        say(f"  {n} learner(s) at once: cell {min(times):.1f}-{max(times):.1f} s ({worst:.2f}x alone); "
            f"each kernel got {min(share):.2f}-{max(share):.2f} of a core; memory peak per learner up to "
            f"{gib(max(m or 0 for m in mem))}; load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after")
        if worst >= 2.0:
            break
    fit = max((n for n, _, _, w, *_ in rows if w < 2.0), default=0)
    say("sizing table (learners at once | fastest | slowest | slowest / alone | least CPU share | "
        "peak memory per learner | load average before):")
    for n, lo, hi, w, m, sh, ld in rows:
        say(f"  {n} | {lo:.1f} s | {hi:.1f} s | {w:.2f}x | {sh:.2f} core | {gib(m)} | {ld:.1f}")
    verdict = (f"{fit} learner(s) run the cell at once before it takes twice as long as alone"
               if rows[-1][3] >= 2.0 else f"all {fit} learners stayed under twice the time alone; try --learners {fit + 1}")
    say(f"sizing: {verdict} ({os.cpu_count()} cores, --cpu-limit {args.cpu_limit})")
    for k in kernels:
        k.close()
    return 0
