"""Beta schedules and every quantity derived from them (taught in notebook 03).

Notation (CONVENTIONS): ``T = num_steps``; the timestep ``t`` is **0-indexed in code**, so code
``t = 0 … T-1`` is the paper's step ``t + 1``. With β_t = ``betas[t]``:

* α_t = 1 − β_t                                   ``alphas``
* ᾱ_t = ∏_{s ≤ t} α_s                             ``alpha_bars`` (strictly decreasing, in (0, 1))
* SNR(t) = ᾱ_t / (1 − ᾱ_t)                        ``snr``
* β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)            ``posterior_variance`` (DDPM eq. 7)
* μ̃_t = c₀ x_0 + c_t x_t with c₀ = β_t √ᾱ_{t−1} / (1 − ᾱ_t) and c_t = √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
  ``posterior_mean_coef_x0``, ``posterior_mean_coef_xt``

with ᾱ_{−1} = 1 (so β̃_0 = 0: the last reverse step adds no noise). Values are kept in float64,
which keeps ᾱ_t exact enough over 1000 products; :func:`at` casts to the images' dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from ..validation import check_choice, check_float, check_int, check_tensor

SCHEDULE_KINDS = ("linear", "quadratic", "cosine", "sigmoid")


@dataclass(frozen=True)
class Schedule:
    """A noise schedule: β_t and everything derived from it, each a float64 tensor of shape (T,)."""

    kind: str
    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor
    alpha_bars_prev: torch.Tensor
    snr: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_mean_coef_x0: torch.Tensor
    posterior_mean_coef_xt: torch.Tensor

    @property
    def num_steps(self) -> int:
        """T, the number of diffusion steps."""
        return self.betas.shape[0]

    @property
    def log_snr(self) -> torch.Tensor:
        """log SNR(t) = log ᾱ_t − log(1 − ᾱ_t)."""
        return torch.log(self.alpha_bars) - torch.log1p(-self.alpha_bars)

    def to(self, device) -> Schedule:
        """The same schedule with every tensor on ``device``."""
        values = {
            f.name: (getattr(self, f.name).to(device) if f.name != "kind" else self.kind)
            for f in fields(self)
        }
        return Schedule(**values)

    def check_t(self, t, name: str = "t") -> torch.Tensor:
        """Validate a timestep (int or integer tensor) against 0 … T−1; return a long tensor."""
        hint = f"0-indexed timestep of a {self.num_steps}-step schedule"
        if isinstance(t, torch.Tensor):
            if t.is_floating_point() or t.dtype == torch.bool:
                raise TypeError(f"{name} must hold integer timesteps, got dtype {t.dtype}")
            if t.numel() and (int(t.min()) < 0 or int(t.max()) > self.num_steps - 1):
                raise ValueError(
                    f"{name} must be in [0, {self.num_steps - 1}] ({hint}), "
                    f"got values from {int(t.min())} to {int(t.max())}"
                )
            return t.long()
        return torch.tensor(check_int(name, t, 0, self.num_steps - 1, hint=hint))

    def __repr__(self) -> str:
        return (
            f"Schedule(kind={self.kind!r}, num_steps={self.num_steps}, "
            f"beta_0={float(self.betas[0]):.3g}, beta_T-1={float(self.betas[-1]):.3g}, "
            f"alpha_bar_T-1={float(self.alpha_bars[-1]):.3g})"
        )


def schedule_from_betas(betas, kind: str = "custom") -> Schedule:
    """Build a :class:`Schedule` from any β_t (each strictly between 0 and 1)."""
    betas = torch.as_tensor(betas, dtype=torch.float64)
    check_tensor("betas", betas, ndim=1)
    if betas.numel() < 1:
        raise ValueError("betas must hold at least one value (T >= 1)")
    if not bool(((betas > 0) & (betas < 1)).all()):
        raise ValueError(
            f"every beta must be in (0, 1); got min {float(betas.min()):.3g}, "
            f"max {float(betas.max()):.3g}"
        )
    alphas = 1.0 - betas
    alpha_bars = torch.cumprod(alphas, dim=0)
    alpha_bars_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bars[:-1]])
    one_minus = 1.0 - alpha_bars
    return Schedule(
        kind=kind,
        betas=betas,
        alphas=alphas,
        alpha_bars=alpha_bars,
        alpha_bars_prev=alpha_bars_prev,
        snr=alpha_bars / one_minus,
        posterior_variance=betas * (1.0 - alpha_bars_prev) / one_minus,
        posterior_mean_coef_x0=betas * torch.sqrt(alpha_bars_prev) / one_minus,
        posterior_mean_coef_xt=torch.sqrt(alphas) * (1.0 - alpha_bars_prev) / one_minus,
    )


def make_betas(
    kind: str = "linear",
    num_steps: int = 1000,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    cosine_s: float = 0.008,
    max_beta: float = 0.999,
) -> torch.Tensor:
    """β_t for ``kind`` in ``linear`` (DDPM's ``linspace(1e-4, 0.02, T)``), ``quadratic``,
    ``cosine`` (Nichol & Dhariwal 2021, eq. 17) or ``sigmoid``; float64, shape (T,).

    ``beta_start``/``beta_end`` set the ends of the linear, quadratic and sigmoid schedules; the
    cosine schedule is defined through ᾱ_t instead and ignores them:
    ᾱ(t) = f(t)/f(0) with f(t) = cos²(π/2 · (t/T + s)/(1 + s)), β_t = min(1 − ᾱ_t/ᾱ_{t−1}, max_beta).
    """
    check_choice("kind", kind, SCHEDULE_KINDS)
    T = check_int("num_steps", num_steps, 1, 100_000)
    if kind != "cosine":
        beta_start = check_float("beta_start", beta_start, 0.0, 1.0, low_open=True, high_open=True)
        beta_end = check_float("beta_end", beta_end, 0.0, 1.0, low_open=True, high_open=True)
        if beta_end < beta_start:
            raise ValueError(
                f"beta_end must be >= beta_start (got beta_start={beta_start}, beta_end={beta_end})"
            )
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    if kind == "quadratic":
        return torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float64) ** 2
    if kind == "sigmoid":
        return torch.sigmoid(torch.linspace(-6, 6, T, dtype=torch.float64)) * (beta_end - beta_start) + beta_start
    cosine_s = check_float("cosine_s", cosine_s, 0.0)
    max_beta = check_float("max_beta", max_beta, 0.0, 1.0, low_open=True, high_open=True)
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + cosine_s) / (1 + cosine_s) * math.pi / 2) ** 2
    alpha_bars = f / f[0]
    return (1 - alpha_bars[1:] / alpha_bars[:-1]).clamp(min=1e-12, max=max_beta)


def make_schedule(
    kind: str = "linear",
    num_steps: int = 1000,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    **kwargs,
) -> Schedule:
    """A :class:`Schedule` of ``kind`` with ``num_steps`` steps (see :func:`make_betas`)."""
    return schedule_from_betas(make_betas(kind, num_steps, beta_start, beta_end, **kwargs), kind=kind)


def at(values: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` shaped to broadcast against ``like`` (B, C, H, W), in ``like``'s dtype/device.

    ``t`` is an int (one timestep for the whole batch) or a (B,) tensor (one per image). This is
    the fix for the seed's ``forward_diffusion``, whose coefficients had shape (B,) and so could
    not broadcast against (B, C, H, W).
    """
    t = torch.as_tensor(t, device=values.device).long()
    picked = values[t].to(device=like.device, dtype=like.dtype)
    if picked.ndim == 0:
        return picked
    if picked.ndim != 1 or picked.shape[0] != like.shape[0]:
        raise ValueError(
            f"t must be an int or have shape (B,) with B = {like.shape[0]}, got shape {tuple(t.shape)}"
        )
    return picked.reshape(-1, *([1] * (like.ndim - 1)))
