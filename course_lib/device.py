"""Device choice and seeding, shared by every notebook."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .validation import check_choice, check_int


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (``"cuda"``, ``"mps"`` or ``"cpu"``) forces one; asking for a device that is not
    available raises a clear error instead of failing later. ``COURSE_DEVICE`` overrides too.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    if prefer is not None:
        check_choice("prefer", prefer, ("cuda", "mps", "cpu"))
        if prefer == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("prefer='cuda' but CUDA is not available on this machine")
        if prefer == "mps" and not _mps_available():
            raise RuntimeError("prefer='mps' but Apple's MPS backend is not available")
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with one call; return the seed."""
    seed = check_int("seed", seed, 0, 2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed
