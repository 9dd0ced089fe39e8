"""Per-learner memory and CPU limits without systemd or Docker, and the course's Python for learners.

Two ways to cap a learner, chosen by :func:`detect_backend` when the hub starts:

* ``cgroup-v1``: the kernel's control groups, as mounted on this kind of server (memory, cpu and
  pids controllers in their own hierarchies, writable by root). Each learner gets a group under
  the hub's own: ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``, so no swap) caps
  the resident memory of *all* the learner's processes together; the kernel's OOM killer then
  kills the biggest process in that group only (in practice the notebook's kernel, which Jupyter
  restarts), never another learner's. ``cpu.cfs_quota_us`` caps CPU time to ``cpu_limit`` cores,
  ``pids.max`` stops a fork bomb.
* ``rlimit``: where no cgroup is writable. ``RLIMIT_AS`` caps the *address space* of each process
  separately (not resident memory, not the learner's total): an allocation past it fails in that
  process (``MemoryError``, or PyTorch's "can't allocate memory"). Address space is far more than
  what is resident: measured here, a course kernel reaches a VmPeak of 4.3 GiB after notebook 03's
  imports (PyTorch's CUDA build, matplotlib, ipywidgets) while 0.6 GiB is resident; under 4G those
  imports hang, so ``room.py`` uses at least 6G in this mode. There is no CPU-share limit in this
  mode; ``OMP_NUM_THREADS`` still keeps each kernel to ``cpu_limit`` threads.

cgroup v2 (the unified hierarchy with its own memory and cpu controllers, what systemd hosts use)
is not handled here: on such a host the limits fall back to ``rlimit`` and the hub says so in
one line; SystemdSpawner is the usual answer there.

:func:`exposure_plan` and :func:`expose_in_namespace` deal with a course whose Python lives in a
directory other users cannot enter (for example a pyenv build under ``/root``): in each learner's
processes only, a private mount namespace lays an empty tmpfs over that directory and binds the
Python installation back into it, so learners can run the course's interpreter and see nothing
else of it. Nothing on the disk changes, so nothing is left behind.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path

GROUP_ROOT = "noise-to-art-workshop"
PIDS_MAX = 1024


class LimitError(RuntimeError):
    """A limit that could not be set up; the message is one line."""


def parse_bytes(text: str | int, what: str = "--mem-limit") -> int:
    """'3G', '512M', '1.5G' or a number of bytes -> bytes."""
    if isinstance(text, int):
        value = text
    else:
        s = str(text).strip().upper().removesuffix("B")
        units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
        try:
            value = int(float(s[:-1]) * units[s[-1]]) if s and s[-1] in units else int(s)
        except (ValueError, IndexError):
            raise LimitError(f"{what}: {text!r} is not a size; use e.g. 3G, 1536M or a number of bytes") from None
    if value < 256 * 2**20:
        raise LimitError(f"{what}: {text!r} is below 256M; a learner's JupyterLab alone needs more")
    return value


def _controller_paths() -> dict:
    """controller -> (mount point, this process's group path) for cgroup v1 hierarchies."""
    mounts = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        fields, post = pre.split(), post.split()
        if post and post[0] == "cgroup":
            for opt in post[2].split(","):
                mounts[opt] = fields[4]
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            groups[c] = path
    return {c: (mounts[c], groups[c]) for c in ("memory", "cpu", "pids") if c in mounts and c in groups}


@dataclass
class LearnerGroup:
    """One learner's cgroups (v1): the directories, one per controller."""

    dirs: dict  # controller -> Path

    def join(self, pid: int) -> None:
        for d in self.dirs.values():
            (d / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        found = set()
        for d in self.dirs.values():
            try:
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except FileNotFoundError:
                pass
        return found

    def memory_peak(self) -> int | None:
        d = self.dirs.get("memory")
        try:
            return int((d / "memory.max_usage_in_bytes").read_text()) if d else None
        except FileNotFoundError:
            return None

    def memory_now(self) -> int | None:
        d = self.dirs.get("memory")
        try:
            return int((d / "memory.usage_in_bytes").read_text()) if d else None
        except FileNotFoundError:
            return None

    def oom_kills(self) -> int | None:
        d = self.dirs.get("memory")
        try:
            for line in (d / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (FileNotFoundError, TypeError):
            pass
        return None

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process left in the group (kernels orphaned by a killed server), wait."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise LimitError(f"processes {sorted(pids)} did not die within {timeout:.0f} s")
            time.sleep(0.1)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs.values():
            for _ in range(50):  # the kernel frees a group a moment after its last process exits
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


class CgroupV1:
    name = "cgroup-v1"

    def __init__(self, paths: dict):
        self.paths = paths

    def base(self, controller: str) -> Path:
        mount, own = self.paths[controller]
        return Path(mount) / own.lstrip("/") / GROUP_ROOT

    def group(self, username: str) -> LearnerGroup:
        return LearnerGroup({c: self.base(c) / username for c in self.paths})

    def create(self, username: str, mem_bytes: int, cpus: float) -> LearnerGroup:
        group = self.group(username)
        group.remove()  # a stale group from a server that was killed: start clean
        for d in group.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        mem = group.dirs["memory"]
        (mem / "memory.limit_in_bytes").write_text(str(mem_bytes))
        if (mem / "memory.memsw.limit_in_bytes").exists():
            (mem / "memory.memsw.limit_in_bytes").write_text(str(mem_bytes))
        (mem / "memory.max_usage_in_bytes").write_text("0")  # reset the peak
        if "cpu" in group.dirs:
            period = 100_000
            (group.dirs["cpu"] / "cpu.cfs_period_us").write_text(str(period))
            (group.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(int(cpus * period)))
        if "pids" in group.dirs:
            (group.dirs["pids"] / "pids.max").write_text(str(PIDS_MAX))
        return group

    def remove_base(self) -> None:
        """Remove the workshop's parent groups once no learner group is left in them."""
        for c in self.paths:
            try:
                self.base(c).rmdir()
            except OSError:
                pass  # absent, or a learner's group is still there

    def leftovers(self) -> list[str]:
        return [str(self.base(c)) for c in self.paths if self.base(c).exists()]

    def describe(self, mem_bytes: int, cpus: float) -> str:
        return (f"cgroup v1: {mem_bytes / 2**30:.1f} GiB of memory (no swap) for all of a learner's "
                f"processes together, {cpus:g} CPU, {PIDS_MAX} processes")


def _probe_v1() -> tuple[CgroupV1 | None, str]:
    try:
        paths = _controller_paths()
    except OSError as err:
        return None, f"cannot read /proc/self/cgroup ({err})"
    if "memory" not in paths:
        return None, "no cgroup-v1 memory controller is mounted"
    v1 = CgroupV1(paths)
    probe = v1.base("memory") / f".probe-{os.getpid()}"
    try:
        probe.mkdir(parents=True, exist_ok=True)
        (probe / "memory.limit_in_bytes").write_text(str(2**30))
        probe.rmdir()
    except OSError as err:
        return None, f"the memory cgroup {probe.parent} is not writable ({err.strerror})"
    # cpu and pids are optional; keep only those we can write.
    for c in ("cpu", "pids"):
        if c in paths:
            try:
                d = v1.base(c) / f".probe-{os.getpid()}"
                d.mkdir(parents=True, exist_ok=True)
                d.rmdir()
            except OSError:
                paths.pop(c)
    return v1, ""


class RLimit:
    name = "rlimit"

    def describe(self, mem_bytes: int, cpus: float) -> str:
        return (f"rlimit: {mem_bytes / 2**30:.1f} GiB of address space per process (not resident memory, "
                f"not the learner's total), no CPU-share limit ({cpus:g} thread(s) per kernel)")


def detect_backend(prefer: str = "auto"):
    """Return (backend, note). ``prefer``: auto, cgroup-v1 or rlimit."""
    if prefer not in ("auto", "cgroup-v1", "rlimit"):
        raise LimitError(f"--limits: {prefer!r} is not one of auto, cgroup-v1, rlimit")
    if prefer == "rlimit":
        return RLimit(), "as asked"
    if os.geteuid() != 0:
        raise LimitError("limits: the hub must run as root to start learners as their own users")
    v1, why = _probe_v1()
    if v1 is not None:
        return v1, ""
    if prefer == "cgroup-v1":
        raise LimitError(f"--limits cgroup-v1: {why}")
    return RLimit(), f"no usable cgroup ({why}); falling back to per-process address-space limits"


def set_rlimits(mem_bytes: int) -> None:
    """In a learner's process (preexec): cap the address space of it and each child it starts."""
    resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))


# ---- the course's Python, for learners who cannot enter the directory it lives in ----

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 1 << 14, 1 << 18


def _searchable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o001)


def exposure_plan(paths) -> dict:
    """For the directories learners must reach: {closed ancestor: [directories below it]}.

    Empty when every path is reachable by other users already (the usual layout, a course in /srv
    or /opt with a system Python).
    """
    plan: dict = {}
    for path in paths:
        target = Path(os.path.realpath(path))
        for parent in reversed(target.parents):
            if parent != Path("/") and not _searchable_by_others(parent):
                plan.setdefault(parent, [])
                if target not in plan[parent]:
                    plan[parent].append(target)
                break
    return plan


def expose_in_namespace(plan: dict) -> None:
    """In the calling process (after fork, still root): make the plan's directories reachable.

    Unshares the mount namespace, lays an empty tmpfs over each closed ancestor and binds the
    directories below it back into place. Other processes are unaffected.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

    def mount(src, target, fstype, flags, data):
        def enc(s):
            return s.encode() if s is not None else None

        if libc.mount(enc(src), enc(str(target)), enc(fstype), flags, enc(data)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(target))

    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE, None)  # nothing we mount leaks back to the host
    for hidden, insides in plan.items():
        # Open the directories in the new namespace, before the cover hides them.
        fds = [os.open(inside, os.O_PATH | os.O_DIRECTORY) for inside in insides]
        try:
            mount("tmpfs", hidden, "tmpfs", 0, "mode=0755,size=64k")
            for inside, fd in zip(insides, fds):
                os.makedirs(inside, exist_ok=True)
                mount(f"/proc/self/fd/{fd}", inside, None, MS_BIND | MS_REC, None)
        finally:
            for fd in fds:
                os.close(fd)
