"""Inpainting: regenerate the masked part of an image, consistent with the part that is kept.

The mask m is 1 where a pixel is **known** (kept) and 0 where it is regenerated (RePaint's m,
Lugmayr et al. 2022). An unconditional denoiser knows nothing about the known pixels, so at every
step of the reverse process the known region is replaced by the known image noised to the same
timestep (RePaint eq. 8–9; the "replacement" of Song et al. 2021, app. I):

    x_{t}  ←  m ⊙ x^known_{t} + (1 − m) ⊙ x_{t},     x^known_{t} = √ᾱ_t x^known + √(1−ᾱ_t) ε

so the model's next prediction sees the true known pixels at the noise level it expects, and the
unknown region is drawn to fit them. At the end (t = −1) the known pixels are pasted exactly.

**Resampling** (RePaint §4.2): the replacement makes the known part right at each step, but the
unknown part only learns of it in the *next* prediction, so the two halves can still disagree.
With ``resample`` = r > 1, each step t → s is followed r − 1 times by going back to t with the
forward process, x_t = √(ᾱ_t/ᾱ_s) x_s + √(1−ᾱ_t/ᾱ_s) z (:func:`renoise`), and stepping down
again: r times the network evaluations, and more time for the halves to agree.

The **naive** baseline (``method="paste"``) samples a whole image from the same noise and pastes
the known pixels over it at the end: the known pixels are right, but nothing made the rest agree.
"""

from __future__ import annotations

import torch
from torch import nn

from ..diffusion.forward import q_sample
from ..diffusion.samplers import ddim_timesteps, denoise
from ..diffusion.schedules import Schedule
from ..validation import check_choice, check_int
from .common import check_model_images, prepare_call

METHODS = ("merge", "paste")
SIDES = ("bottom", "top", "left", "right")


def inpaint_merge(x: torch.Tensor, x_known: torch.Tensor, mask: torch.Tensor, t: int, schedule: Schedule,
                  noise: torch.Tensor) -> torch.Tensor:
    """The merge step at timestep ``t``: m ⊙ x^known_t + (1 − m) ⊙ x_t (RePaint eq. 8).

    ``x^known_t`` = q_sample(x_known, t, noise) for t ≥ 0 and ``x_known`` itself at t = −1 (the
    end: the known pixels come back exactly). ``mask`` m: 1 = known, 0 = regenerate.
    """
    known_t = q_sample(x_known, t, schedule, noise) if t >= 0 else x_known  # x^known_t = √ᾱ_t x^known + √(1−ᾱ_t) ε
    return mask * known_t + (1 - mask) * x                                  # m ⊙ x^known_t + (1 − m) ⊙ x_t


def renoise(x_s: torch.Tensor, s: int, t: int, schedule: Schedule, z: torch.Tensor) -> torch.Tensor:
    """Go back up from timestep s to t > s with the forward process: a draw of q(x_t | x_s).

    x_t = √(ᾱ_t/ᾱ_s) x_s + √(1 − ᾱ_t/ᾱ_s) z, since ᾱ_t/ᾱ_s = ∏_{s<r≤t} α_r (DDPM eq. 2, composed).
    """
    alpha_bar_s = schedule.alpha_bars[s] if s >= 0 else torch.ones_like(schedule.alpha_bars[0])
    ratio = (schedule.alpha_bars[t] / alpha_bar_s).to(x_s.dtype)  # ᾱ_t / ᾱ_s
    return ratio.sqrt() * x_s + (1 - ratio).sqrt() * z            # √(ᾱ_t/ᾱ_s) x_s + √(1 − ᾱ_t/ᾱ_s) z


def repaint_path(timesteps: list[int], resample: int = 1) -> list[int]:
    """The walk of an inpainting run: down the sampler's ``timesteps``, each step t → s taken
    ``resample`` times (going back up s → t in between), then to −1.

    ``repaint_path([999, 499], 2) == [999, 499, 999, 499, -1]``; ``resample=1`` gives
    ``timesteps + [-1]``.
    """
    path = timesteps[:1]
    for t, s in zip(timesteps, timesteps[1:]):
        path += [s, t] * (resample - 1) + [s]          # t → s, (s → t → s) × (r − 1)
    return path + [-1]


def half_mask(side: str = "bottom", size: int = 28) -> torch.Tensor:
    """A (1, 1, size, size) mask that keeps one half of the image and regenerates the ``side`` half
    (1 = known, 0 = regenerate)."""
    check_choice("side", side, SIDES)
    size = check_int("size", size, 2)
    mask = torch.ones(1, 1, size, size)
    half = size // 2
    region = {"bottom": (slice(half, None), slice(None)), "top": (slice(None, half), slice(None)),
              "left": (slice(None), slice(None, half)), "right": (slice(None), slice(half, None))}[side]
    mask[(0, 0, *region)] = 0
    return mask


def check_mask(mask, images: torch.Tensor) -> torch.Tensor:
    """Check a mask for ``images`` (B, C, H, W): binary (0 = regenerate, 1 = known), of shape
    (B or 1, C or 1, H, W); bool masks are accepted. Returns it as float, broadcast to the images."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a tensor of 0s and 1s (1 = known, 0 = regenerate), got {type(mask).__name__}")
    b, c, h, w = images.shape
    if mask.ndim != 4 or tuple(mask.shape[2:]) != (h, w) or mask.shape[0] not in (1, b) or mask.shape[1] not in (1, c):
        raise ValueError(f"mask must match the images {tuple(images.shape)}: shape (B or 1, C or 1, {h}, {w}), "
                         f"got {tuple(mask.shape)}")
    mask = mask.float()
    bad = (mask != 0) & (mask != 1)
    if bool(bad.any()):
        values = mask[bad]
        raise ValueError(f"mask must be binary (1 = known, 0 = regenerate), got {int(bad.sum())} value(s) that "
                         f"are neither, from {float(values.min()):.3g} to {float(values.max()):.3g} "
                         "(threshold it: (mask > 0.5).float())")
    return mask.expand(b, c, h, w)


def inpaint(
    model: nn.Module,
    images: torch.Tensor,
    mask: torch.Tensor,
    *,
    method: str = "merge",
    resample: int = 1,
    nfe: int | None = None,
    eta: float = 0.0,
    labels=None,
    guidance_scale: float = 0.0,
    seed: int | None = None,
    device=None,
    progress: bool = True,
) -> torch.Tensor:
    """Regenerate where ``mask`` is 0 in ``images`` (B, C, H, W) in [−1, 1]; returns (B, C, H, W).

    ``method="merge"``: the known region is replaced by its forward-noised version after every
    step (:func:`inpaint_merge`), with ``resample`` rounds per step (RePaint; 1 = none);
    ``"paste"``: the naive baseline, one ordinary sampling run from the same noise with the
    known pixels pasted at the end. Either way the known pixels of the result equal those of
    ``images`` exactly. DDIM with ``nfe`` steps (default 50) and stochasticity ``eta``;
    ``labels`` and ``guidance_scale`` as in :func:`~course_lib.diffusion.sample`.
    """
    check_model_images("images", images, model)
    mask = check_mask(mask, images)
    check_choice("method", method, METHODS)
    resample = check_int("resample", resample, 1, 20, hint="rounds per step; 1 = no resampling")
    if method == "paste" and resample != 1:
        raise ValueError(f"resample={resample} needs method='merge' (the paste baseline never looks back)")
    call = prepare_call(model, len(images), labels=labels, guidance_scale=guidance_scale, nfe=nfe, eta=eta,
                        seed=seed, device=device)
    device, sched = call.device, call.schedule
    x_known = images.to(device=device, dtype=torch.float32).clamp(-1, 1)
    mask = mask.to(device)

    def merge(x, t, gen):
        if method == "paste" and t >= 0:
            return x                                     # the naive run ignores the known pixels until the end
        noise = torch.randn(x.shape, generator=gen, device=device) if t >= 0 else None
        return inpaint_merge(x, x_known, mask, t, sched, noise)

    def back_up(x, s, t, gen):
        return renoise(x, s, t, sched, torch.randn(x.shape, generator=gen, device=device))

    x = torch.randn(x_known.shape, generator=call.generator, device=device)   # x_{T−1} ~ N(0, I)
    path = repaint_path(ddim_timesteps(sched.num_steps, call.nfe), resample)
    with torch.inference_mode():
        x, _ = denoise(model, x, path, labels=call.labels, guidance_scale=call.guidance_scale, eta=call.eta,
                       generator=call.generator, after_step=merge, ascend=back_up, progress=progress,
                       desc=f"inpainting ({method})")
    return x.clamp(-1, 1)
