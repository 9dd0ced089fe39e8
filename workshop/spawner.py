"""Each learner's JupyterLab: their own Linux user, their own copy of the notebooks, capped.

:class:`CourseSpawner` is JupyterHub's LocalProcessSpawner (the server runs as the learner's Linux
account, so file permissions keep learners apart) plus what a workshop room needs:

* the first start copies the course's ``notebooks/`` into ``~/noise-to-art/notebooks`` (owned by
  the learner); later starts leave the learner's files as they are, so a server that died comes
  back with their work intact;
* JupyterLab opens there with the course kernel (``noise-to-art``, the course's virtual
  environment, shared and read-only) and the room's budget in ``COURSE_BUDGET``; the shipped
  checkpoints are read from the installed course (read-only: a learner's own training writes under
  their home);
* memory, CPU and process limits from :mod:`workshop.limits`, applied before the server starts,
  so its kernels inherit them; leftover processes (a kernel orphaned by a killed server) are killed
  before a restart and at stop.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Any, Dict, Integer, Unicode

from .limits import LearnerGroup, expose_in_namespace, set_rlimits


def copy_course_notebooks(source: Path, home: Path, uid: int, gid: int) -> Path:
    """Copy ``source`` to ``home/noise-to-art/notebooks`` once, owned by the learner; return it."""
    target = home / "noise-to-art" / "notebooks"
    if target.exists():
        return target  # the learner's own copy, perhaps edited: never overwritten
    staging = target.with_name(".notebooks.copying")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for path in [home / "noise-to-art", staging, *staging.rglob("*")]:
        os.chown(path, uid, gid)
    staging.rename(target)  # a crash mid-copy never leaves a half copy in place
    return target


class CourseSpawner(LocalProcessSpawner):
    course_notebooks = Unicode(config=True, help="The course's notebooks/ directory, copied for each learner.")
    budget = Unicode("cpu", config=True, help="COURSE_BUDGET for the learners' kernels.")
    limits = Any(config=True, help="A backend of workshop.limits (CgroupV1 or RLimit).")
    exposure = Dict(config=True, help="workshop.limits.exposure_plan() of the course's Python, or {}.")
    activity_interval = Integer(0, config=True, help="JUPYTERHUB_ACTIVITY_INTERVAL (0: the default).")
    home_root = Unicode("/home", config=True, help="Where a late arrival's home directory is made.")

    group: LearnerGroup | None = None

    def get_env(self):
        env = super().get_env()
        threads = str(max(1, int(self.cpu_limit or 1)))
        env.update({
            "COURSE_BUDGET": self.budget,
            # One BLAS/OpenMP thread per allowed core: more threads than the quota only slow down.
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
        })
        if self.activity_interval:
            env["JUPYTERHUB_ACTIVITY_INTERVAL"] = str(self.activity_interval)
        return env

    def make_preexec_fn(self, name):
        setuid = set_user_setuid(name)
        group, mem, plan = self.group, self.mem_limit, dict(self.exposure)

        def preexec():
            # Runs in the child after fork, as root, before exec: order matters.
            if group is not None:
                group.join(os.getpid())
            elif mem:
                set_rlimits(int(mem))
            if plan:
                expose_in_namespace(plan)
            setuid()

        return preexec

    async def start(self):
        from .room import ensure_account

        pw = ensure_account(self.user.name, Path(self.home_root))  # a late arrival gets an account now
        home = Path(pw.pw_dir)
        notebooks = copy_course_notebooks(Path(self.course_notebooks), home, pw.pw_uid, pw.pw_gid)
        self.notebook_dir = str(notebooks)
        if getattr(self.limits, "name", "") == "cgroup-v1":
            self.group = self.limits.create(self.user.name, int(self.mem_limit), float(self.cpu_limit or 1))
        self.log.info("Starting %s's server in %s (budget %s, %s)", self.user.name, notebooks, self.budget,
                      self.limits.describe(int(self.mem_limit), float(self.cpu_limit or 1)))
        return await super().start()

    async def stop(self, now=False):
        await super().stop(now=now)
        group = self.group or (self.limits.group(self.user.name) if getattr(self.limits, "name", "") == "cgroup-v1" else None)
        if group is not None:
            group.remove()  # kernels left behind by a killed server go too
        self.group = None
