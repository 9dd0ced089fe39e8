"""The boundary every editing method shares: the checks of its model, images, ``nfe`` and device.

:func:`course_lib.control.sdedit`, :func:`~course_lib.control.inpaint`,
:func:`~course_lib.control.ddim_invert` and :func:`~course_lib.control.guided_sample` all take a
denoiser and (most of them) a batch of images; they check them here, once, and then walk the one
sampling loop, :func:`course_lib.diffusion.samplers.denoise`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..device import resolve_device
from ..diffusion.samplers import DEFAULT_NFE, check_conditioning, check_denoiser, seeded_generator
from ..diffusion.schedules import Schedule
from ..validation import check_float, check_images, check_int


def check_nfe(nfe, num_steps: int) -> int:
    """``nfe`` network evaluations of a DDIM run: an int in [1, T] (``None``: the default 50)."""
    return check_int("nfe", DEFAULT_NFE if nfe is None else nfe, 1, num_steps,
                     hint=f"network evaluations, at most T = {num_steps}")


def check_model_images(name: str, images, model: nn.Module) -> torch.Tensor:
    """Check images for ``model``: float (B, C, H, W) of the model's size, values in [−1, 1].

    The error names ``name``, the shape or range found and what is allowed; a drawing of another
    size or range is converted by :func:`course_lib.control.sketches.prepare_sketch` first.
    """
    check_denoiser(model)
    hint = "prepare_sketch() converts a drawing of any square size and range"
    if isinstance(images, torch.Tensor) and images.ndim in (2, 3):
        raise ValueError(f"{name} must be a batch (B, C, H, W), got shape {tuple(images.shape)}; "
                         f"add the batch (and channel) axes with images[None] ({hint})")
    check_images(name, images, pixel_range=True)
    want = (model.in_channels, model.image_size, model.image_size)
    if tuple(images.shape[1:]) != want or images.shape[0] < 1:
        raise ValueError(f"{name} must have shape (B, {', '.join(map(str, want))}) with B >= 1 for this "
                         f"model, got {tuple(images.shape)} ({hint})")
    return images


class Call(NamedTuple):
    """What :func:`prepare_call` checked: the model's schedule (on ``device``), the device, the
    labels ((n,) long or ``None``) and guidance scale, ``nfe``, ``eta`` and the run's generator."""

    schedule: Schedule
    device: torch.device
    labels: torch.Tensor | None
    guidance_scale: float
    nfe: int
    eta: float
    generator: torch.Generator


def prepare_call(model: nn.Module, n: int, *, labels=None, guidance_scale=0.0, nfe=None, eta=0.0, seed=None,
                 device=None) -> Call:
    """The checks every editing method starts with (for a batch of ``n`` images); moves ``model``
    to the device and seeds the run's own generator (``seed=None``: a fresh seed)."""
    schedule = check_denoiser(model)
    device = resolve_device(device)
    labels, guidance_scale = check_conditioning(model, labels, guidance_scale, n, device)
    nfe = check_nfe(nfe, schedule.num_steps)
    eta = check_float("eta", eta, 0.0, hint="0 = deterministic DDIM, 1 = DDPM-like")
    model.to(device)
    return Call(schedule.to(device), device, labels, guidance_scale, nfe, eta, seeded_generator(seed, device))
