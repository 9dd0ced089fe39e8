"""The forward (noising) process q (taught in notebook 03).

One step (DDPM eq. 2), written with the reparameterisation trick:

    q(x_t | x_{t−1}) = N(√(1−β_t) x_{t−1}, β_t I)   ⇔   x_t = √(1−β_t) x_{t−1} + √β_t ε,  ε ~ N(0, I)

Closed form (DDPM eq. 4), from merging the independent Gaussian noises of all steps:

    q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I)          ⇔   x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε

:func:`q_sample` is the closed form, for one t or a batch of t; :func:`q_sample_chain` is the
step-by-step chain it replaces, kept so the two can be compared (:func:`chain_and_closed_form`,
:func:`compare_moments`). Timesteps are 0-indexed: code t = 0 is the paper's first step.
"""

from __future__ import annotations

import math

import torch

from ..validation import check_float, check_images, check_int
from .schedules import Schedule, at


def check_schedule(schedule, name: str = "schedule") -> Schedule:
    """Raise naming ``name`` unless ``schedule`` is a :class:`Schedule` (a boundary check)."""
    if not isinstance(schedule, Schedule):
        raise TypeError(f"{name} must be a Schedule (see make_schedule), got {type(schedule).__name__}")
    return schedule


def q_mean_variance(x0: torch.Tensor, t, schedule: Schedule) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean √ᾱ_t x_0 and variance (1 − ᾱ_t) of q(x_t | x_0) (DDPM eq. 4).

    ``x0``: (B, C, H, W); ``t``: an int or a (B,) tensor of 0-indexed timesteps. The mean has the
    shape of ``x0``; the variance is a 0-dim tensor (int ``t``) or (B, 1, 1, 1) (batched ``t``).
    """
    alpha_bar_t = at(schedule.alpha_bars, t, x0)
    return alpha_bar_t.sqrt() * x0, 1 - alpha_bar_t


def q_sample(x0: torch.Tensor, t, schedule: Schedule, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Sample x_t ~ q(x_t | x_0) in one shot (DDPM eq. 4).

    ``x0``: (B, C, H, W); ``t``: an int (the same step for every image) or a (B,) integer tensor
    (one 0-indexed step per image, as in training); ``noise``: ε ~ N(0, I), shaped like ``x0``
    (drawn when not given).
    """
    if noise is None:
        noise = torch.randn_like(x0)
    # √ᾱ_t and √(1−ᾱ_t) are taken in float64 before the cast to x0's dtype: 1 − ᾱ_t computed in
    # float32 would lose ~1e-4 of its value at t = 0, where ᾱ_0 = 0.9999.
    signal = at(schedule.alpha_bars.sqrt(), t, x0)            # √ᾱ_t
    noise_scale = at((1 - schedule.alpha_bars).sqrt(), t, x0)  # √(1 − ᾱ_t)
    return signal * x0 + noise_scale * noise                   # x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε


def q_step(x_prev: torch.Tensor, t, schedule: Schedule, noise: torch.Tensor | None = None) -> torch.Tensor:
    """One step of the chain (DDPM eq. 2); at code ``t = 0`` the seed's x_1 from x_0.

    ``t`` is an int or a (B,) tensor; ``noise`` is ε ~ N(0, I), shaped like ``x_prev`` (drawn
    when not given).
    """
    if noise is None:
        noise = torch.randn_like(x_prev)
    keep = at(schedule.alphas.sqrt(), t, x_prev)         # √(1 − β_t), in float64 before the cast
    noise_scale = at(schedule.betas.sqrt(), t, x_prev)   # √β_t
    return keep * x_prev + noise_scale * noise           # x_t = √(1−β_t) x_{t−1} + √β_t ε


def q_sample_chain(x0: torch.Tensor, t: int, schedule: Schedule, generator=None) -> torch.Tensor:
    """Reach x_t by applying :func:`q_step` t + 1 times (code t = 0 is one step). Slow, for comparison.

    ``generator``: an optional ``torch.Generator`` (on ``x0``'s device) for the step noises.
    """
    check_images("x0", x0)
    t = check_schedule(schedule).check_t(t)
    x = x0
    for s in range(t + 1):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = q_step(x, s, schedule, noise)
    return x


def chain_and_closed_form(
    x0_value: float, ts, schedule: Schedule, num_samples: int = 20_000, generator=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of x_t for one pixel x_0 = ``x0_value`` at each t in ``ts``, two ways.

    Returns ``(chain, closed)``, each float64 of shape (len(ts), num_samples): ``chain[i]`` from
    running the step-by-step chain (one pass, recorded at each t), ``closed[i]`` from
    :func:`q_sample` at ``ts[i]``. If the closed form is right, both are draws from
    N(√ᾱ_t x_0, 1 − ᾱ_t).
    """
    x0_value = check_float("x0_value", x0_value, -10.0, 10.0)
    num_samples = check_int("num_samples", num_samples, 2, 50_000_000)
    check_schedule(schedule)
    ts = [schedule.check_t(t, name="ts") for t in ts]
    if not ts:
        raise ValueError("ts must name at least one timestep")
    x0 = torch.full((num_samples, 1, 1, 1), x0_value, dtype=torch.float64)
    wanted = {t: i for i, t in enumerate(ts)}
    chain = torch.empty(len(ts), num_samples, dtype=torch.float64)
    x = x0
    for s in range(max(ts) + 1):
        x = q_step(x, s, schedule, torch.randn(x.shape, generator=generator, dtype=x.dtype))
        if s in wanted:
            chain[[i for i, t in enumerate(ts) if t == s]] = x.flatten()
    closed = torch.stack([
        q_sample(x0, t, schedule, torch.randn(x0.shape, generator=generator, dtype=x0.dtype)).flatten()
        for t in ts
    ])
    return chain, closed


def compare_moments(
    x0_value: float, ts, schedule: Schedule, num_samples: int = 20_000, generator=None
) -> list[dict]:
    """Mean and variance of the chain and of the closed form against N(√ᾱ_t x_0, 1 − ᾱ_t).

    One row per t with the theory (``mean``, ``var``), the sample moments (``chain_mean``,
    ``chain_var``, ``closed_mean``, ``closed_var``) and their distances from theory in standard
    errors (``z_*``): SE(mean) = √(var/n) and SE(var) ≈ var·√(2/(n−1)) for Gaussian samples.
    |z| beyond about 4 would mean the formula is wrong, not bad luck.
    """
    chain, closed = chain_and_closed_form(x0_value, ts, schedule, num_samples, generator)
    n = chain.shape[1]
    rows = []
    for i, t in enumerate(int(t) for t in ts):
        mean, var = q_mean_variance(torch.full((1, 1, 1, 1), float(x0_value), dtype=torch.float64), t, schedule)
        mean, var = float(mean), float(var)
        se_mean, se_var = math.sqrt(var / n), var * math.sqrt(2 / (n - 1))
        row = {"t": t, "mean": mean, "var": var}
        for name, samples in (("chain", chain[i]), ("closed", closed[i])):
            m, v = float(samples.mean()), float(samples.var())
            row |= {f"{name}_mean": m, f"{name}_var": v,
                    f"z_{name}_mean": (m - mean) / se_mean, f"z_{name}_var": (v - var) / se_var}
        rows.append(row)
    return rows
