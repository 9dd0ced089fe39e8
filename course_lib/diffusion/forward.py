"""The forward (noising) process q (taught in notebook 03).

One step:     q(x_t | x_{t−1}) = N(√(1−β_t) x_{t−1}, β_t I)
Closed form:  q(x_t | x_0)     = N(√ᾱ_t x_0, (1−ᾱ_t) I),  so  x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε.
"""

from __future__ import annotations

import torch

from ..validation import check_images
from .schedules import Schedule, at


def q_sample(x0: torch.Tensor, t, schedule: Schedule, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Sample x_t ~ q(x_t | x_0) in one shot: x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4).

    ``x0``: (B, C, H, W); ``t``: an int or a (B,) tensor of 0-indexed timesteps; ``noise``: ε of
    the same shape as ``x0`` (drawn if not given).
    """
    check_images("x0", x0)
    t = schedule.check_t(t)
    if noise is None:
        noise = torch.randn_like(x0)
    elif noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    a_bar = at(schedule.alpha_bars, t, x0)
    return a_bar.sqrt() * x0 + (1 - a_bar).sqrt() * noise


def q_step(x_prev: torch.Tensor, t, schedule: Schedule, noise: torch.Tensor | None = None) -> torch.Tensor:
    """One step of the chain: x_t = √(1−β_t) x_{t−1} + √β_t ε (the seed's x_1 example at t = 0)."""
    check_images("x_prev", x_prev)
    t = schedule.check_t(t)
    if noise is None:
        noise = torch.randn_like(x_prev)
    beta = at(schedule.betas, t, x_prev)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise


def q_sample_chain(x0: torch.Tensor, t: int, schedule: Schedule, generator=None) -> torch.Tensor:
    """Reach x_t by applying :func:`q_step` t + 1 times (code t = 0 is one step). Slow, for comparison."""
    check_images("x0", x0)
    t = int(schedule.check_t(t))
    x = x0
    for s in range(t + 1):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = q_step(x, s, schedule, noise)
    return x
