"""Image-to-image (SDEdit, Meng et al. 2022): noise an input part of the way, then denoise it back.

A sketch is not a digit, but after enough noise the two are indistinguishable: at timestep t_0,
x_{t_0} = √ᾱ_{t_0} x + √(1−ᾱ_{t_0}) ε keeps the sketch's coarse layout (where the light strokes
are) and drowns its details. Running the reverse process from there invents details that fit
real digits (SDEdit, §3: "hijack" the reverse SDE at an intermediate time).

**Strength.** With ``nfe`` the sampler's number of steps (``ddim_timesteps(T, nfe)``, from T−1
down), strength s ∈ [0, 1] keeps the last k = ⌊s·nfe + ½⌋ of those steps (diffusers' img2img
does the same with ⌊s·nfe⌋): the walk starts at t_0 = the k-th timestep from the end.

* s = 0: k = 0, no step at all: the input comes back unchanged (exactly).
* s = 1: k = nfe, t_0 = T−1, the start is √ᾱ_{T−1} x + √(1−ᾱ_{T−1}) ε — unconditional sampling
  from the noise ε, except for the signal √ᾱ_{T−1} x that the last step of the schedule keeps
  (√ᾱ_{T−1} ≈ 4.9·10⁻⁵ for the cosine schedule, 6.4·10⁻³ for DDPM's linear one).
* in between: faithfulness to the input trades against realism (notebook 09 measures it).
"""

from __future__ import annotations

import torch
from torch import nn

from ..diffusion.forward import q_sample
from ..diffusion.samplers import ddim_timesteps, denoise
from ..diffusion.schedules import Schedule
from ..validation import check_float
from .common import check_model_images, prepare_call


def sdedit_timesteps(strength: float, nfe: int, num_steps: int) -> list[int]:
    """The timesteps an SDEdit run evaluates: the last k = ⌊strength·nfe + ½⌋ of ``ddim_timesteps``.

    ``[]`` for strength 0; all ``nfe`` of them (from T−1) for strength 1. The first is t_0.
    """
    k = int(strength * nfe + 0.5)                       # k = ⌊s·nfe + ½⌋ steps are run
    return ddim_timesteps(num_steps, nfe)[nfe - k:]     # the last k of the sampler's timesteps


def sdedit_start(images: torch.Tensor, t0: int, schedule: Schedule, noise: torch.Tensor) -> torch.Tensor:
    """SDEdit's start point x_{t_0} = √ᾱ_{t_0} x + √(1−ᾱ_{t_0}) ε: the forward process q(x_{t_0} | x).

    ``t0 = -1`` (strength 0) returns the images themselves (ᾱ_{−1} = 1).
    """
    if t0 < 0:
        return images                                   # no noise at all
    return q_sample(images, t0, schedule, noise)        # x_{t0} = √ᾱ_{t0} x + √(1−ᾱ_{t0}) ε (DDPM eq. 4)


def sdedit(
    model: nn.Module,
    images: torch.Tensor,
    strength: float = 0.5,
    *,
    nfe: int | None = None,
    eta: float = 0.0,
    labels=None,
    guidance_scale: float = 0.0,
    seed: int | None = None,
    device=None,
    progress: bool = True,
) -> torch.Tensor:
    """Edit ``images`` (B, C, H, W) in [−1, 1] with SDEdit at ``strength`` ∈ [0, 1]; returns (B, C, H, W).

    Noises each image to t_0 (:func:`sdedit_timesteps`, :func:`sdedit_start`) and runs the DDIM
    sampler (``nfe`` steps for the whole way, default 50; stochasticity ``eta``) from there, with
    classifier-free guidance when ``labels`` and ``guidance_scale`` are given. ``seed``: the noise
    ε is the first draw of the run's generator, exactly as :func:`~course_lib.diffusion.sample`
    draws its start, so strength 1 with seed s starts from sample(..., seed=s)'s noise (plus
    √ᾱ_{T−1} x). A drawing of another size or range: :func:`~course_lib.control.prepare_sketch`.
    """
    strength = check_float("strength", strength, 0.0, 1.0,
                           hint="0 returns the input, 1 ignores it (pure noise)")
    check_model_images("images", images, model)
    call = prepare_call(model, len(images), labels=labels, guidance_scale=guidance_scale, nfe=nfe, eta=eta,
                        seed=seed, device=device)
    x = images.to(device=call.device, dtype=torch.float32).clamp(-1, 1)
    timesteps = sdedit_timesteps(strength, call.nfe, call.schedule.num_steps)
    if not timesteps:
        return x.clone()                                # strength 0: the input, exactly
    noise = torch.randn(x.shape, generator=call.generator, device=call.device)  # ε ~ N(0, I)
    x = sdedit_start(x, timesteps[0], call.schedule, noise)
    with torch.inference_mode():
        x, _ = denoise(model, x, timesteps + [-1], labels=call.labels, guidance_scale=call.guidance_scale,
                       eta=call.eta, generator=call.generator, progress=progress,
                       desc=f"SDEdit, strength {strength:g}")
    return x.clamp(-1, 1)
