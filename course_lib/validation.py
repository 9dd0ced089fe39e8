"""Argument checks that name the bad argument, its value and what is allowed.

They run once, at the boundary a notebook or the CLI calls (``sample``, ``train_*``,
``synthesize``, ``score_digits``, the self-checks, the figures), so a learner who passes
``t=1000`` for a 1000-step schedule reads ``t must be an integer in [0, 999] (0-indexed timestep
of a 1000-step schedule), got 1000`` instead of an index error deep inside PyTorch. The formula
functions below that boundary stay bare math (CONVENTIONS, "The API"), and nothing is validated
inside a per-step loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real

import torch


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(name: str, value, low: int | None = None, high: int | None = None, hint: str = "") -> int:
    """Return ``value`` as an int, or raise ``ValueError``/``TypeError`` naming ``name``.

    ``low`` and ``high`` are inclusive bounds; ``None`` means unbounded.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
            value = int(value.item())
        else:
            raise TypeError(f"{name} must be an integer{_range_text(low, high)}, got {_show(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(
            f"{name} must be an integer{_range_text(low, high)}{_hint(hint)}, got {value}"
        )
    return value


def check_float(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> float:
    """Return ``value`` as a finite float inside the given bounds, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value.item())
        else:
            raise TypeError(f"{name} must be a real number, got {_show(value)}")
    value = float(value)
    lo_br, hi_br = ("(" if low_open else "["), (")" if high_open else "]")
    lo_txt = "-inf" if low is None else f"{low:g}"
    hi_txt = "inf" if high is None else f"{high:g}"
    allowed = f"in {lo_br}{lo_txt}, {hi_txt}{hi_br}"
    bad = not math.isfinite(value)
    if low is not None and (value < low or (low_open and value == low)):
        bad = True
    if high is not None and (value > high or (high_open and value == high)):
        bad = True
    if bad:
        raise ValueError(f"{name} must be a finite number {allowed}{_hint(hint)}, got {value!r}")
    return value


def check_choice(name: str, value, choices: Iterable):
    """Raise ``ValueError`` naming ``name`` unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}; got {_show(value)}")
    return value


def check_tensor(
    name: str,
    value,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    finite: bool = True,
    floating: bool = False,
) -> torch.Tensor:
    """Check that ``value`` is a tensor of the expected rank/shape with finite values.

    ``shape`` may contain ``None`` for "any size". Shapes are described in the error as
    ``(B, C, H, W)``-style text so the message matches the docstrings.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(
                f"{name} must have {want} dimensions, got shape {tuple(value.shape)}"
            )
    if shape is not None:
        ok = value.ndim == len(shape) and all(
            s is None or s == v for s, v in zip(shape, value.shape)
        )
        if not ok:
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def check_images(name: str, value, channels: int | None = None, pixel_range: bool = False) -> torch.Tensor:
    """Check an image batch of shape (B, C, H, W) with finite values.

    With ``pixel_range`` the values must also lie in the models' range [−1, 1] (CONVENTIONS):
    a uint8 batch or one in [0, 255] is refused with the conversion to use.
    """
    if isinstance(value, torch.Tensor) and pixel_range and not value.is_floating_point():
        raise TypeError(
            f"{name} must be float images in [-1, 1], got dtype {value.dtype}; "
            "convert with images.float() / 127.5 - 1"
        )
    check_tensor(name, value, ndim=4, floating=True)
    if channels is not None and value.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channel(s) in shape (B, C, H, W), "
            f"got shape {tuple(value.shape)}"
        )
    if pixel_range and value.numel():
        low, high = float(value.detach().min()), float(value.detach().max())
        if low < -1 - PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE:
            hint = ("divide by 127.5 and subtract 1" if high > 2 else
                    "clamp them, or map [0, 1] images with x * 2 - 1")
            raise ValueError(
                f"{name} must be in [-1, 1]; got values from {low:.4g} to {high:.4g} ({hint})"
            )
    return value


#: How far outside [−1, 1] an image may stray before it is refused (float round-off of x * 2 − 1).
PIXEL_TOLERANCE = 1e-3


def check_same_shape(name: str, value, like: torch.Tensor, like_name: str) -> torch.Tensor:
    """Check that tensor ``value`` has exactly the shape of ``like`` (and finite values)."""
    check_tensor(name, value, floating=True)
    if value.shape != like.shape:
        raise ValueError(
            f"{name} must have the shape of {like_name} {tuple(like.shape)}, got {tuple(value.shape)}"
        )
    return value


def check_module(name: str, value) -> torch.nn.Module:
    """Raise ``TypeError`` naming ``name`` unless ``value`` is a ``torch.nn.Module``."""
    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def check_instance(name: str, value, kind: type, hint: str = ""):
    """Raise ``TypeError`` naming ``name`` unless ``value`` is a ``kind``."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__}{_hint(hint)}, got {type(value).__name__}")
    return value


def check_budget(steps, minutes) -> tuple[int | None, float | None]:
    """Check a training budget: ``steps`` (int ≥ 1) and/or ``minutes`` (> 0); at least one."""
    if steps is None and minutes is None:
        raise ValueError("give steps=, minutes= or both: training needs a budget to stop at")
    if steps is not None:
        steps = check_int("steps", steps, 1)
    if minutes is not None:
        minutes = check_float("minutes", minutes, 0.0, low_open=True)
    return steps, minutes


def _range_text(low, high) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" >= {low}"
    if low is None:
        return f" <= {high}"
    return f" in [{low}, {high}]"


def _hint(hint: str) -> str:
    return f" ({hint})" if hint else ""
