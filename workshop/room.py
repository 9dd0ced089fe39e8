"""The workshop room from the command line: start the hub, check it, size it, remove the accounts.

    python -m workshop.room start --class-list FILE [--budget cpu] [--mem-limit 3G] [--cpu-limit 1]
    python -m workshop.room check [--learners 3]          # what `make workshop-check` runs
    python -m workshop.room sizing [--learners 4]         # notebook 04's sampling cell, 1..N at once
    python -m workshop.room remove-users --class-list FILE --yes

Run from the repository root as root (the hub starts each learner's server as their own Linux user).
Expected failures print one line and exit 2; the check exits 1 when something it checks is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKSHOP = REPO / "workshop"
MARKER = "noise-to-art workshop"  # the GECOS field of every account the workshop makes
BUDGETS = ("cpu", "smoke", "gpu")
CHECK_PREFIX = "ntacheck"
# Measured: a course kernel's VmPeak is 4.3 GiB after notebook 03's imports (torch's CUDA build,
# matplotlib, ipywidgets); under RLIMIT_AS = 4G those imports hang, at 5G and 6G they run.
RLIMIT_FLOOR = 6 * 2**30


class RoomError(Exception):
    """An expected failure: printed as one line."""


def say(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- settings and accounts

def venv_dir() -> Path:
    return Path(sys.prefix)


def course_python_paths() -> list[Path]:
    """What learners' processes must reach: the interpreter's installation, the venv, the repo."""
    return [Path(sys.base_prefix), venv_dir(), REPO]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_common(args) -> None:
    if args.budget not in BUDGETS:
        raise RoomError(f"--budget: {args.budget!r} is not one of {', '.join(BUDGETS)}")
    try:
        cpu = float(args.cpu_limit)
    except ValueError:
        raise RoomError(f"--cpu-limit: {args.cpu_limit!r} is not a number of cores (e.g. 1 or 0.5)") from None
    ncpu = os.cpu_count() or 1
    if not 0.1 <= cpu <= ncpu:
        raise RoomError(f"--cpu-limit: {args.cpu_limit!r} must be between 0.1 and this machine's {ncpu} cores")
    from .limits import LimitError, parse_bytes
    try:
        args.mem_bytes = parse_bytes(args.mem_limit or args.mem_default)
    except LimitError as err:
        raise RoomError(str(err)) from None
    if os.geteuid() != 0:
        raise RoomError("this needs root: it creates the learners' Linux accounts and starts their servers as them")
    if shutil.which("useradd") is None:
        raise RoomError("useradd is not on PATH (Debian package passwd)")
    if not (venv_dir() / "bin" / "jupyterhub-singleuser").exists():
        raise RoomError(f"{venv_dir()} has no JupyterHub: install the course with `pip install -e '.[dev,workshop]'` (make workshop does)")
    if not (venv_dir() / "share" / "jupyter" / "kernels" / "noise-to-art").is_dir():
        raise RoomError("the course kernel 'noise-to-art' is not registered in the venv: run `make kernel`")
    if not (WORKSHOP / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        raise RoomError("workshop/node_modules has no configurable-http-proxy: run `cd workshop && npm ci`")


def fit_memory_to(backend, args) -> str:
    """Under the rlimit fallback a course kernel needs about 4.3 GiB of address space: raise the
    default to 6G, refuse an explicit lower limit. Returns a note for the user, or ''."""
    if backend.name != "rlimit" or args.mem_bytes >= RLIMIT_FLOOR:
        return ""
    if args.mem_limit:
        raise RoomError(f"--mem-limit: {args.mem_limit!r} is below 6G; under the rlimit limits (a cap on each "
                        "process's address space) a course kernel needs 4.3G of address space; use 6G or more")
    args.mem_bytes = RLIMIT_FLOOR
    return "memory limit raised to 6G: under the rlimit fallback a course kernel needs 4.3G of address space"


def account(name: str):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def ensure_account(name: str, home_root: Path) -> pwd.struct_passwd:
    """Create the Linux account of a learner (no password, no login shell use), or reuse ours."""
    pw = account(name)
    if pw is not None:
        if pw.pw_gecos != MARKER:
            raise RoomError(f"class list: {name!r} is already an account on this machine that the workshop did not make; rename them")
        return pw
    home = home_root / name
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                    "--comment", MARKER, "--user-group", name], check=True, capture_output=True)
    os.chmod(home, 0o700)  # learners cannot read each other's files
    return pwd.getpwnam(name)


def processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except FileNotFoundError:
                pass
    return pids


def remove_account(name: str, limits=None) -> None:
    """Kill the account's processes (by pid), remove its cgroups, the account and its home."""
    pw = account(name)
    if pw is None or pw.pw_gecos != MARKER:
        return
    for _ in range(50):
        pids = processes_of(pw.pw_uid)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    if limits is not None and getattr(limits, "name", "") == "cgroup-v1":
        limits.group(name).remove()
    subprocess.run(["userdel", "--remove", name], capture_output=True)
    shutil.rmtree(pw.pw_dir, ignore_errors=True)


def write_settings(path: Path, **settings) -> Path:
    path.write_text(json.dumps(settings, indent=1, default=str))
    os.chmod(path, 0o600)
    return path


def hub_settings(args, class_list: Path, state: Path, ip: str, port: int, home_root: Path, **extra) -> dict:
    from .limits import exposure_plan
    plan = exposure_plan(course_python_paths())
    return dict(
        repo=str(REPO), venv=str(venv_dir()), class_list=str(class_list), state_dir=str(state), home_root=str(home_root),
        budget=args.budget, mem_limit=args.mem_bytes, cpu_limit=float(args.cpu_limit),
        idle_timeout=int(args.idle_timeout), cull_every=extra.pop("cull_every", 60), limits=args.limits,
        ip=ip, port=port, hub_port=free_port(), proxy_api_port=free_port(),
        proxy_command=str(WORKSHOP / "node_modules" / ".bin" / "configurable-http-proxy"),
        exposure={str(k): [str(p) for p in v] for k, v in plan.items()}, **extra,
    )


def start_hub(settings_path: Path, state: Path, log_path: Path | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "HOME")}
    env["WORKSHOP_SETTINGS"] = str(settings_path)
    env["PATH"] = f"{venv_dir() / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    out = open(log_path, "ab") if log_path else None

    def default_signals():
        # A shell starting us in the background ignores SIGINT; the hub and the services it stops
        # with SIGINT (the idle culler) must not inherit that, or stopping waits for time-outs.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return subprocess.Popen([str(venv_dir() / "bin" / "jupyterhub"), "-f", str(WORKSHOP / "jupyterhub_config.py")],
                            cwd=state, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
                            start_new_session=True, preexec_fn=default_signals)


def wait_for_hub(base: str, proc: subprocess.Popen, timeout: float = 90) -> float:
    import requests
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RoomError(f"the hub exited with code {proc.returncode} while starting (see its log)")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base}/hub/api/", timeout=2).status_code == 200:
                return time.perf_counter() - t0
        time.sleep(0.3)
    raise RoomError(f"the hub did not answer at {base} within {timeout:.0f} s")


def stop_hub(proc: subprocess.Popen, state: Path) -> None:
    """Stop the hub (it stops the servers and the proxy), then anything it left, by pid."""
    import psutil
    try:
        family = [proc.pid] + [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = [proc.pid]
    for name in ("jupyterhub-proxy.pid", "jupyterhub.pid"):
        with contextlib.suppress(OSError, ValueError):
            family.append(int((state / name).read_text().strip()))
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    time.sleep(0.5)
    for pid in set(family):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p = psutil.Process(pid)
            if any(s in " ".join(p.cmdline()) for s in ("jupyterhub", "configurable-http-proxy")):
                p.kill()


def learner_preflight(name: str, plan: dict) -> None:
    """Run the course's Python as a learner once: fail in one line if they cannot."""
    from jupyterhub.spawner import set_user_setuid

    from .limits import expose_in_namespace
    setuid = set_user_setuid(name)

    def pre():
        if plan:
            expose_in_namespace({Path(k): [Path(p) for p in v] for k, v in plan.items()})
        setuid()
    r = subprocess.run([str(venv_dir() / "bin" / "python"), "-c", "import course_lib, torch, jupyterhub"],
                       preexec_fn=pre, capture_output=True, text=True, cwd="/")
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        raise RoomError(f"learner {name!r} cannot run the course's Python {venv_dir() / 'bin' / 'python'}: {last}")


# ---------------------------------------------------------------- start (make workshop)

def cmd_start(args) -> int:
    from .classlist import ClassListError, read_class_list
    try:
        people = read_class_list(args.class_list)
    except ClassListError as err:
        raise RoomError(str(err)) from None
    check_common(args)
    state = Path(args.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    home_root = Path(args.home_root)
    from .limits import LimitError, detect_backend
    try:
        backend, note = detect_backend(args.limits)
    except LimitError as err:
        raise RoomError(str(err)) from None
    note = "; ".join(filter(None, [note, fit_memory_to(backend, args)]))
    for p in people:
        ensure_account(p.username, home_root)
    settings = hub_settings(args, Path(args.class_list).resolve(), state, args.ip, args.port, home_root,
                            ssl_cert=args.ssl_cert, ssl_key=args.ssl_key)
    learner_preflight(people[0].username, settings["exposure"])
    path = write_settings(state / "settings.json", **settings)
    scheme = "https" if args.ssl_cert else "http"
    host = socket.gethostname() if args.ip in ("0.0.0.0", "") else args.ip
    say(f"workshop: {len(people)} accounts ({sum(p.is_instructor for p in people)} instructor), budget {args.budget}, "
        f"{backend.describe(args.mem_bytes, float(args.cpu_limit))}, idle servers stopped after {args.idle_timeout} s")
    if note:
        say(f"workshop: limits: {note}")
    say(f"workshop: learners open {scheme}://{host}:{args.port}/ (Ctrl-C stops the hub and every server; files stay)")

    def stop(signum, frame):
        raise KeyboardInterrupt
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)  # Ctrl-C, kill, a closed terminal: stop the hub and the servers
    proc = start_hub(path, state, None)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        say("workshop: stopping the hub and every learner's server (their files stay)")
        stop_hub(proc, state)
        if backend.name == "cgroup-v1":
            backend.remove_base()
        return 0


def cmd_remove_users(args) -> int:
    from .classlist import ClassListError, read_class_list
    from .limits import detect_backend
    if os.geteuid() != 0:
        raise RoomError("remove-users needs root")
    try:
        people = read_class_list(args.class_list)
    except ClassListError as err:
        raise RoomError(str(err)) from None
    if not args.yes:
        raise RoomError("remove-users deletes the accounts and home directories (the learners' work): add --yes")
    limits, _ = detect_backend("auto")
    removed = [p.username for p in people if account(p.username) and account(p.username).pw_gecos == MARKER]
    for name in removed:
        remove_account(name, limits)
    if limits.name == "cgroup-v1":
        limits.remove_base()
    say(f"removed {len(removed)} workshop accounts and their homes: {', '.join(removed) or 'none'}")
    return 0


# ---------------------------------------------------------------- the check (make workshop-check)

class Room:
    """A hub on localhost with throw-away accounts; :meth:`close` removes everything it made."""

    def __init__(self, args, learners: int, tag: str):
        from .limits import LimitError, detect_backend
        self.args = args
        try:
            self.limits, self.limits_note = detect_backend(args.limits)
        except LimitError as err:
            raise RoomError(str(err)) from None
        self.limits_note = "; ".join(filter(None, [self.limits_note, fit_memory_to(self.limits, args)]))
        self.tmp = Path(tempfile.mkdtemp(prefix=f"nta-{tag}-"))
        os.chmod(self.tmp, 0o755)
        self.state = self.tmp / "state"
        self.state.mkdir(mode=0o700)
        self.home_root = self.tmp / "home"
        self.home_root.mkdir(mode=0o755)
        self.log = self.tmp / "hub.log"
        self.names = [f"{CHECK_PREFIX}{i}" for i in range(1, learners + 1)]
        self.instructor = f"{CHECK_PREFIX}teacher"
        self.passwords = {n: secrets.token_urlsafe(12) for n in self.names}
        self.passwords[self.instructor] = secrets.token_urlsafe(12)
        self.proc = None
        self.ports: list[int] = []

    def open(self, **extra) -> str:
        # Accounts left by an earlier check that was killed: remove them first.
        for pw in pwd.getpwall():
            if pw.pw_name.startswith(CHECK_PREFIX) and pw.pw_gecos == MARKER:
                say(f"  removing {pw.pw_name}, left by an earlier check")
                remove_account(pw.pw_name, self.limits)
        for name in self.names + [self.instructor]:
            ensure_account(name, self.home_root)
        # The instructor's password is in the class list; learners choose theirs at first login.
        lines = [f"{self.instructor},{self.passwords[self.instructor]},instructor"] + [f"{n},,learner" for n in self.names]
        class_list = self.tmp / "class_list.csv"
        class_list.write_text("\n".join(lines) + "\n")
        os.chmod(class_list, 0o600)
        port = free_port()
        settings = hub_settings(self.args, class_list, self.state, "127.0.0.1", port, self.home_root, **extra)
        self.ports = [port, settings["hub_port"], settings["proxy_api_port"]]
        learner_preflight(self.names[0], settings["exposure"])
        path = write_settings(self.state / "settings.json", **settings)
        self.proc = start_hub(path, self.state, self.log)
        self.base = f"http://127.0.0.1:{port}"
        self.hub_seconds = wait_for_hub(self.base, self.proc)
        return self.base

    def home(self, name: str) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)

    def server_pid(self, name: str) -> int | None:
        import psutil
        uid = pwd.getpwnam(name).pw_uid
        for p in psutil.process_iter(["uids", "cmdline"]):
            with contextlib.suppress(psutil.Error, TypeError):
                if p.info["uids"].real == uid and any("jupyterhub-singleuser" in a for a in p.info["cmdline"]):
                    return p.pid
        return None

    def memory(self, name: str) -> tuple[int | None, int]:
        """(peak of the learner's cgroup or None, resident memory of their processes now)."""
        import psutil
        uid = pwd.getpwnam(name).pw_uid
        rss = 0
        for pid in processes_of(uid):
            with contextlib.suppress(psutil.Error):
                rss += psutil.Process(pid).memory_info().rss
        peak = self.limits.group(name).memory_peak() if self.limits.name == "cgroup-v1" else None
        return peak, rss

    def close(self) -> list[str]:
        """Stop everything and remove what the check made; return what is still there (empty: clean)."""
        if self.proc is not None:
            stop_hub(self.proc, self.state)
        for name in self.names + [self.instructor]:
            remove_account(name, self.limits)
        if self.limits.name == "cgroup-v1":
            self.limits.remove_base()
        left = []
        for name in self.names + [self.instructor]:
            if account(name) is not None:
                left.append(f"account {name}")
            if self.limits.name == "cgroup-v1" and any(d.exists() for d in self.limits.group(name).dirs.values()):
                left.append(f"cgroup of {name}")
        if self.limits.name == "cgroup-v1":
            left += [f"cgroup {d}" for d in self.limits.leftovers()]
        for port in self.ports:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    left.append(f"a listener on port {port}")
        if self.proc is not None and self.proc.poll() is None:
            left.append(f"the hub (pid {self.proc.pid})")
        keep_log = self.args.keep_log
        if keep_log:
            shutil.copy(self.log, keep_log)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.tmp.exists():
            left.append(f"directory {self.tmp}")
        return left


def gib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.2f} GiB"


def run_parallel(fn, items) -> list:
    """fn(item) for each item in its own thread; exceptions are returned, not raised."""
    results = [None] * len(items)

    def work(i, item):
        try:
            results[i] = fn(item)
        except Exception as err:  # reported by the caller as a failed check
            results[i] = err
    threads = [threading.Thread(target=work, args=(i, it)) for i, it in enumerate(items)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class Checks:
    def __init__(self):
        self.failed: list[str] = []
        self.passed = 0

    def expect(self, ok: bool, what: str, detail: str = "") -> bool:
        say(f"  [{'ok' if ok else 'FAIL'}] {what}{(': ' + detail) if detail else ''}")
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
        return ok


def cmd_check(args) -> int:
    from . import scenarios
    check_common(args)
    if args.learners < 2:
        raise RoomError(f"--learners: {args.learners} is too few; the isolation check needs at least 2")
    room = Room(args, args.learners, "check")
    checks = Checks()
    interrupted = []

    def on_signal(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    t0 = time.perf_counter()
    try:
        scenarios.run_check(room, checks, args)
    except KeyboardInterrupt:
        checks.expect(False, "the check was interrupted", f"signal {interrupted[0] if interrupted else 'SIGINT'}")
    except Exception as err:  # an unexpected failure still cleans up, then is reported in one line
        checks.expect(False, "the check stopped early", f"{type(err).__name__}: {err}")
    finally:
        say("cleanup: stopping the hub, the servers and the proxy; removing the accounts, homes and cgroups")
        left = room.close()
        checks.expect(not left, "nothing left behind (accounts, homes, processes, cgroups, ports, files)",
                      "; ".join(left) or f"{len(room.names) + 1} accounts and {len(room.ports)} ports checked")
        for s, h in old.items():
            signal.signal(s, h)
    say(f"took {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    say(f"workshop-check: {checks.passed} passed, {len(checks.failed)} failed")
    if checks.failed:
        say("failed: " + "; ".join(checks.failed))
    return 1 if checks.failed else 0


def cmd_sizing(args) -> int:
    from . import scenarios
    check_common(args)
    if args.learners < 1 or args.samples < 0:
        raise RoomError(f"--learners {args.learners} / --samples {args.samples}: use at least 1 learner and 0 or more samples")
    room = Room(args, args.learners, "sizing")
    try:
        return scenarios.run_sizing(room, args)
    finally:
        left = room.close()
        say("cleanup: " + ("nothing left behind" if not left else "LEFT: " + "; ".join(left)))


# ---------------------------------------------------------------- command line

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workshop.room", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p, budget="cpu", mem="3G"):
        p.add_argument("--budget", default=budget, help=f"COURSE_BUDGET for the learners ({', '.join(BUDGETS)})")
        p.add_argument("--mem-limit", default="", help=f"memory per learner, e.g. 3G (default {mem}; 6G at least "
                       "under the rlimit fallback)")
        p.set_defaults(mem_default=mem)
        p.add_argument("--cpu-limit", default="1", help="CPU cores per learner (default %(default)s)")
        p.add_argument("--limits", default="auto", help="auto, cgroup-v1 or rlimit (default %(default)s)")
        p.add_argument("--idle-timeout", type=int, default=3600, help="stop a server idle this many seconds")

    p = sub.add_parser("start", help="start the hub for a class (make workshop)")
    common(p)
    p.add_argument("--class-list", required=True)
    p.add_argument("--ip", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--home-root", default="/home")
    p.add_argument("--state-dir", default=str(WORKSHOP / "state"))
    p.add_argument("--ssl-cert", default="")
    p.add_argument("--ssl-key", default="")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("check", help="simulated learners on localhost (make workshop-check)")
    common(p, budget="smoke", mem="2G")
    p.add_argument("--learners", type=int, default=3)
    p.add_argument("--keep-log", default="", help="copy the hub's log here before cleaning up")
    p.set_defaults(func=cmd_check, idle_timeout=60)

    p = sub.add_parser("sizing", help="how many learners run notebook 04's sampling cell at once")
    common(p)
    p.add_argument("--learners", type=int, default=4)
    p.add_argument("--samples", type=int, default=0,
                   help="set N_DDIM (samples per DDIM run) before the cell; 0: the budget's own (cpu: 500)")
    p.add_argument("--keep-log", default="")
    p.set_defaults(func=cmd_sizing)

    p = sub.add_parser("remove-users", help="delete the class's accounts and homes after the workshop")
    p.add_argument("--class-list", required=True)
    p.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_remove_users)

    args = ap.parse_args(argv)
    if getattr(args, "idle_timeout", 30) < 30:
        raise RoomError(f"--idle-timeout: {args.idle_timeout} seconds is too short; use at least 30")
    return args.func(args)


if __name__ == "__main__":
    from .hubclient import HubError
    try:
        sys.exit(main())
    except RoomError as err:
        print(f"workshop: {err}", file=sys.stderr)
        sys.exit(2)
    except HubError as err:  # the sizing run met a failure it reports as one line
        print(f"workshop: {err}", file=sys.stderr)
        sys.exit(1)
