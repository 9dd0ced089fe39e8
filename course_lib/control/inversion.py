"""DDIM inversion: run the deterministic sampler backwards, from an image to the noise it came from.

With η = 0 a DDIM step is a deterministic map x_t → x_s (Song et al. 2021, eq. 12):

    x_s = √ᾱ_s x̂_0(x_t, t) + √(1−ᾱ_s) ε̂(x_t, t).

It reads as a discretised ODE, and an ODE can be run the other way: to go *up* from s to a later
t, use the same formula with the roles swapped (Song et al. 2021, §4.3; Dhariwal & Nichol 2021,
app. F),

    x_t = √ᾱ_t x̂_0(x_s, s) + √(1−ᾱ_t) ε̂(x_s, s),

evaluating the network at the point we *have*, (x_s, s), in place of the unknown (x_t, t). That
approximation is the only error of the round trip image → noise → image, and it shrinks as the
steps get smaller: notebook 09 measures it against ``nfe``. The first move starts from the clean
image at "t = −1"; there the network is evaluated at the first timestep of the walk instead.

Inverted noises are (nearly) standard normal, so two of them are interpolated on the sphere that
such vectors live near (spherical linear interpolation, Shoemake 1985), not on a straight line,
whose midpoint is too short (‖(z_a + z_b)/2‖ ≈ ‖z‖/√2) to be typical noise.
"""

from __future__ import annotations

import torch
from torch import nn

from ..diffusion.samplers import ddim_timesteps, denoise, guided_predictions, sample
from ..diffusion.schedules import Schedule
from ..validation import check_float, check_tensor
from .common import check_model_images, prepare_call


def ddim_invert_step(x0_pred: torch.Tensor, noise_pred: torch.Tensor, t_next: int, schedule: Schedule) -> torch.Tensor:
    """One inverted DDIM step up to ``t_next``: x_{t'} = √ᾱ_{t'} x̂_0 + √(1−ᾱ_{t'}) ε̂ (DDIM eq. 12 with
    η = 0, run upwards), with (x̂_0, ε̂) predicted at the current, lower timestep."""
    alpha_bar_next = schedule.alpha_bars[t_next].to(x0_pred.dtype)
    return alpha_bar_next.sqrt() * x0_pred + (1 - alpha_bar_next).sqrt() * noise_pred  # √ᾱ_t' x̂_0 + √(1−ᾱ_t') ε̂


def slerp(z_a: torch.Tensor, z_b: torch.Tensor, fraction: float) -> torch.Tensor:
    """Spherical interpolation between noises, image by image (each flattened to a vector):

        slerp(z_a, z_b; f) = sin((1−f)θ)/sin θ · z_a + sin(fθ)/sin θ · z_b,   cos θ = ⟨z_a, z_b⟩ / (‖z_a‖ ‖z_b‖).

    Falls back to the straight line (1−f) z_a + f z_b where θ ≈ 0 (parallel vectors).
    """
    a, b = z_a.flatten(1), z_b.flatten(1)
    cos = ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).clamp(-1, 1)  # cos θ
    theta = torch.acos(cos)[:, None]
    sin = torch.sin(theta)
    small = sin.abs() < 1e-6
    safe = torch.where(small, torch.ones_like(sin), sin)
    w_a = torch.where(small, 1 - fraction, torch.sin((1 - fraction) * theta) / safe)  # sin((1−f)θ)/sin θ
    w_b = torch.where(small, torch.full_like(sin, fraction), torch.sin(fraction * theta) / safe)  # sin(fθ)/sin θ
    return (w_a * a + w_b * b).reshape(z_a.shape)


def ddim_invert(
    model: nn.Module,
    images: torch.Tensor,
    *,
    nfe: int | None = None,
    labels=None,
    guidance_scale: float = 0.0,
    device=None,
    progress: bool = True,
) -> torch.Tensor:
    """The noise x_{T−1} (B, C, H, W) from which deterministic DDIM (η = 0, ``nfe`` steps) draws
    ``images`` (B, C, H, W) in [−1, 1] — approximately (see the module docstring).

    The walk is the sampler's timesteps in reverse, −1 → τ_1 → … → T−1, one network evaluation per
    move. ``sample(model, B, nfe=nfe, x_start=noise)`` goes back (:func:`round_trip`). ``labels``
    (and ``guidance_scale``) invert a class-conditional model under that condition.
    """
    check_model_images("images", images, model)
    call = prepare_call(model, len(images), labels=labels, guidance_scale=guidance_scale, nfe=nfe, device=device)
    sched, labels, guidance_scale = call.schedule, call.labels, call.guidance_scale

    def invert_step(x, t, t_next, _generator):
        noise_pred, x0_pred = guided_predictions(model, x, t if t >= 0 else t_next, sched, labels, guidance_scale)
        return ddim_invert_step(x0_pred, noise_pred, t_next, sched)

    path = [-1] + ddim_timesteps(sched.num_steps, call.nfe)[::-1]
    x = images.to(device=call.device, dtype=torch.float32).clamp(-1, 1)
    with torch.inference_mode():
        noise, _ = denoise(model, x, path, ascend=invert_step, progress=progress, desc="DDIM inversion")
    return noise


def round_trip(model: nn.Module, images: torch.Tensor, *, nfe: int | None = None, labels=None,
               guidance_scale: float = 0.0, device=None, progress: bool = True):
    """Invert ``images`` with ``nfe`` DDIM steps and sample them back with the same steps (η = 0).

    Returns ``(noise, reconstructions)``: the inverted noise and the images drawn back from it
    (:func:`course_lib.control.measure.rms_distance` to the originals is the round-trip error).
    """
    noise = ddim_invert(model, images, nfe=nfe, labels=labels, guidance_scale=guidance_scale, device=device,
                        progress=progress)
    back = sample(model, len(images), nfe=nfe, eta=0.0, labels=labels, guidance_scale=guidance_scale,
                  x_start=noise, device=device, progress=progress)
    return noise, back


def interpolate_noises(z_a: torch.Tensor, z_b: torch.Tensor, fractions) -> torch.Tensor:
    """:func:`slerp` from z_a to z_b (each (1, C, H, W)) at each of ``fractions`` ∈ [0, 1]: (K, C, H, W)."""
    check_tensor("z_a", z_a, ndim=4)
    check_tensor("z_b", z_b, shape=tuple(z_a.shape))
    if z_a.shape[0] != 1:
        raise ValueError(f"z_a and z_b must each hold one noise (1, C, H, W), got {tuple(z_a.shape)}")
    fractions = [check_float("fractions", f, 0.0, 1.0) for f in fractions]
    return torch.cat([slerp(z_a, z_b, f) for f in fractions])

