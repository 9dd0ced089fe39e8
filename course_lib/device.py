"""Devices, a model's device and size, and seeding, shared by every notebook and model family.

**The one default-device rule.** Every function of the course that takes ``device=`` treats
``None`` the same way: the best available device — ``COURSE_DEVICE`` if set, else CUDA, then
Apple's MPS, then the CPU (:func:`resolve_device`). Functions that are given a model move it there.
Asking for a device this machine does not have is answered with one clear sentence, before any
work starts.
"""

from __future__ import annotations

import itertools
import os
import random

import numpy as np
import torch
from torch import nn

from .validation import check_int

DEVICE_KINDS = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device=None, name: str = "device") -> torch.device:
    """The device a call should run on: ``device`` if it is available here, else the best one.

    ``None``: ``COURSE_DEVICE`` if set, else CUDA, then MPS, then the CPU. A string (``"cuda"``,
    ``"cuda:1"``, ``"mps"``, ``"cpu"``) or ``torch.device`` is checked: one this machine lacks
    raises ``ValueError`` naming ``name`` (the caller's argument), the value and what is available.
    """
    if device is None:
        env = os.environ.get("COURSE_DEVICE", "").strip()
        if env:
            return resolve_device(env, name="COURSE_DEVICE")
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = available_devices()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{name} must be one of {', '.join(available)} (or leave it unset for the best available), "
            f"got {device!r}"
        ) from None
    if dev.type not in DEVICE_KINDS:
        raise ValueError(
            f"{name} must be one of {', '.join(available)} (or leave it unset for the best available), "
            f"got {device!r}"
        )
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}={device!r} but this machine has no CUDA GPU; use "
                             f"{' or '.join(available)}, or leave it unset for the best available")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"{name}={device!r} but this machine has {count} CUDA GPU(s) "
                             f"(cuda:0 … cuda:{count - 1})")
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"{name}={device!r} but Apple's MPS backend is not available here; use "
                         f"{' or '.join(available)}, or leave it unset for the best available")
    return dev


def available_devices() -> list[str]:
    """The device kinds this machine can run on, best first (always ends with ``"cpu"``)."""
    kinds = []
    if torch.cuda.is_available():
        kinds.append("cuda")
    if _mps_available():
        kinds.append("mps")
    return kinds + ["cpu"]


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device (see :func:`resolve_device`); ``prefer`` forces one."""
    return resolve_device(prefer, name="prefer")


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); the CPU for a model without either."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with one call; return the seed."""
    seed = check_int("seed", seed, 0, 2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed
