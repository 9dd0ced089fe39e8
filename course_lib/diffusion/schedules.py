"""Beta schedules and every quantity derived from them (taught in notebook 03).

Notation (CONVENTIONS): ``T = num_steps``; the timestep ``t`` is **0-indexed in code**, so code
``t = 0 … T-1`` is the paper's step ``t + 1``: ``betas[0]`` is the paper's β_1 and
``alpha_bars[0] = 1 − betas[0]`` its ᾱ_1 (one step of noise). With β_t = ``betas[t]``:

* α_t = 1 − β_t                                   ``alphas``
* ᾱ_t = ∏_{s ≤ t} α_s                             ``alpha_bars`` (strictly decreasing, in (0, 1))
* SNR(t) = ᾱ_t / (1 − ᾱ_t)                        ``snr``
* β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)            ``posterior_variance`` (DDPM eq. 7)
* μ̃_t = c₀ x_0 + c_t x_t with c₀ = β_t √ᾱ_{t−1} / (1 − ᾱ_t) and c_t = √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
  ``posterior_mean_coef_x0``, ``posterior_mean_coef_xt``

with ᾱ_{−1} = 1 (so β̃_0 = 0: the last reverse step adds no noise). :func:`snr_crossing_step`
finds the first t with SNR(t) < 1, where noise starts to outweigh the signal. Values are kept in float64,
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

    def check_t(self, t, name: str = "t", batch: int | None = None):
        """Check a timestep where it enters: an int in 0 … T−1 (returned as an int), or an integer
        tensor of such values (returned as a long tensor; with ``batch``, of shape (batch,))."""
        hint = f"0-indexed timestep of a {self.num_steps}-step schedule"
        if not isinstance(t, torch.Tensor):
            return check_int(name, t, 0, self.num_steps - 1, hint=hint)
        if t.is_floating_point() or t.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer timesteps, got dtype {t.dtype}")
        if batch is not None and t.shape != (batch,):
            raise ValueError(f"{name} must be an int or have shape (B,) with B = {batch}, got {tuple(t.shape)}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) > self.num_steps - 1):
            raise ValueError(
                f"{name} must be in [0, {self.num_steps - 1}] ({hint}), "
                f"got values from {int(t.min())} to {int(t.max())}"
            )
        return t.long()

    def __repr__(self) -> str:
        return (
            f"Schedule(kind={self.kind!r}, num_steps={self.num_steps}, "
            f"beta_0={float(self.betas[0]):.3g}, beta_T-1={float(self.betas[-1]):.3g}, "
            f"alpha_bar_T-1={float(self.alpha_bars[-1]):.3g})"
        )


def schedule_from_betas(betas, kind: str = "custom") -> Schedule:
    """Build a :class:`Schedule` from any β_t (each strictly between 0 and 1), shape (T,).

    Raises ``ValueError`` when a β_t is outside (0, 1), when a β_t is so small that 1 − β_t rounds
    to 1 in float64 (ᾱ_t would then stop decreasing), or when the product ᾱ_{T−1} underflows to 0
    (the schedule destroys the signal so completely that SNR and log-SNR are no longer finite).
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string naming the schedule, got {type(kind).__name__}")
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
    if not bool((alphas < 1).all()):
        raise ValueError(
            f"every beta must be at least 1e-15 so that 1 - beta < 1 in float64 (alpha_bars must "
            f"strictly decrease); got min {float(betas.min()):.3g}"
        )
    alpha_bars = torch.cumprod(alphas, dim=0)
    if not float(alpha_bars[-1]) > 0:
        raise ValueError(
            "the betas are so large that alpha_bar_(T-1) underflows to 0 in float64 (SNR would "
            "be 0 and log-SNR -inf); use smaller betas or fewer steps"
        )
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
    """β_t for ``kind`` in :data:`SCHEDULE_KINDS`, as a float64 tensor of shape (T,).

    With code timestep t = 0 … T−1 and u = t / (T − 1) (u = 0 when T = 1):

    * ``linear``    β_t = β_start + (β_end − β_start) u  (DDPM: ``torch.linspace(1e-4, 0.02, 1000)``)
    * ``quadratic`` β_t = (√β_start + (√β_end − √β_start) u)²
    * ``sigmoid``   β_t = β_start + (β_end − β_start) σ(−6 + 12 u)  (as in DDPM's code; its ends are
      within 0.25 % of β_end − β_start of β_start and β_end)
    * ``cosine``    (Nichol & Dhariwal 2021, eq. 17) is defined through ᾱ instead:
      ᾱ(τ) = f(τ)/f(0) with f(τ) = cos²(π/2 · (τ/T + s)/(1 + s)) for the paper's step τ = 0 … T,
      and β_t = min(1 − ᾱ(t+1)/ᾱ(t), ``max_beta``) (their clip at 0.999 keeps the last step from
      being pure β = 1). It ignores ``beta_start`` and ``beta_end``; ``cosine_s`` is s = 0.008.

    Raises ``ValueError`` naming the argument when ``kind`` is unknown, ``num_steps`` < 1, a β
    bound is outside (0, 1) or ``beta_end`` < ``beta_start``.
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

    ``t`` is an int (one timestep for the whole batch: a 0-dim result) or a (B,) integer tensor
    (one timestep per image: a (B, 1, 1, 1) result). This is the fix for the seed's
    ``forward_diffusion``, whose coefficients ``alpha_bars[t]`` had shape (B,) and so lined up with
    the *last* axis W of (B, C, H, W) instead of the batch axis. Bare indexing: ``t`` is checked
    where it enters (:meth:`Schedule.check_t`), not here.
    """
    picked = values[t].to(device=like.device, dtype=like.dtype)
    return picked if picked.ndim == 0 else picked.reshape(-1, *([1] * (like.ndim - 1)))


def snr_crossing_step(schedule: Schedule, level: float = 1.0) -> int | None:
    """The first code timestep t with SNR(t) = ᾱ_t / (1 − ᾱ_t) < ``level`` (for ``level`` = 1:
    where noise starts to carry more variance than signal, ᾱ_t < 1/2), or ``None`` if SNR stays
    at or above ``level`` for all T steps. SNR strictly decreases, so every later t is below too.
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule (see make_schedule), got {type(schedule).__name__}")
    level = check_float("level", level, 0.0, low_open=True)
    below = torch.nonzero(schedule.snr < level)
    return int(below[0, 0]) if below.numel() else None
