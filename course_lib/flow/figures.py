"""Figures for notebook 10 (diffusion as an ODE, flow matching): pure ``plot_x(**params) -> Figure``.

They draw what they are given — points, trajectories, tables of scores. The score and velocity
fields are one forward pass of a trained toy network on a grid (:func:`course_lib.flow.toy.score_field`),
cheap enough for a slider; nothing here trains or samples.
"""

from __future__ import annotations

import math

import torch

from ..diffusion.samplers import Trajectory
from ..validation import check_instance, check_int
from ..viz import new_figure
from .ode import ODETrajectory
from .toy import ToyDenoiser, check_points, field_grid, score_field, velocity_field

DATA_COLOR, NOISE_COLOR, PATH_COLOR = "#9aa5b1", "#d1495b", "#00798c"


def _square(ax, lim: float) -> None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_toy_datasets(datasets: dict, lim: float = 2.6):
    """Scatter plots of the toy 2-D sets: ``datasets`` maps a name to points (N, 2)."""
    if not isinstance(datasets, dict) or not datasets:
        raise ValueError("datasets must be a non-empty dict: name -> points (N, 2)")
    fig, axes = new_figure(1, len(datasets), figsize=(3 * len(datasets), 3.1), squeeze=False)
    for ax, (name, points) in zip(axes[0], datasets.items()):
        check_points(f"datasets[{name!r}]", points)
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color=DATA_COLOR)
        _square(ax, lim)
        ax.set_title(f"{name} ({points.shape[0]} points)", fontsize=10)
    return fig


def _draw_score_field(ax, model: ToyDenoiser, points: torch.Tensor, t: int, lim: float, size: int, seed: int):
    """One panel: the data noised to step t (faint) and the arrows σ_t · score = −ε̂ on a grid."""
    schedule = model.schedule
    alpha_bar = float(schedule.alpha_bars[t])
    gen = torch.Generator().manual_seed(seed)
    noisy = math.sqrt(alpha_bar) * points + math.sqrt(1 - alpha_bar) * torch.randn(points.shape, generator=gen)
    grid = field_grid(lim, size)
    sigma = math.sqrt(1 - alpha_bar)
    arrows = sigma * score_field(model, t, grid)                 # σ_t ∇ log q_t = −ε̂: length O(1) at every t
    ax.scatter(noisy[:, 0], noisy[:, 1], s=2, alpha=0.35, color=DATA_COLOR, zorder=1)
    ax.quiver(grid[:, 0], grid[:, 1], arrows[:, 0], arrows[:, 1], color=PATH_COLOR, angles="xy",
              scale_units="xy", scale=1.0 / (0.6 * 2 * lim / size), width=0.004, zorder=2)
    _square(ax, lim)
    ax.set_title(f"t = {t}: σ_t = {sigma:.2f}, √ᾱ_t = {math.sqrt(alpha_bar):.2f}", fontsize=9)


def plot_score_field(model: ToyDenoiser, points: torch.Tensor, t: int = 200, lim: float = 2.6, size: int = 21,
                     seed: int = 0):
    """The learned score of the noised data at step ``t``, as arrows, over the noised points.

    Arrows show σ_t · ∇_x log q_t(x) = −ε̂(x, t) (scaled by σ_t so they stay readable at every
    noise level; the score itself grows like 1/σ_t as t → 0): each points the way to more probable
    x_t. Faint dots: ``points`` (N, 2) noised to step t with one seeded draw.
    """
    check_instance("model", model, ToyDenoiser, hint="a trained ToyDenoiser")
    check_points("points", points)
    t = model.schedule.check_t(t)
    size = check_int("size", size, 3, 60)
    fig, ax = new_figure(figsize=(4.4, 4.4))
    _draw_score_field(ax, model, points, t, lim, size, seed)
    fig.suptitle("the score field −ε̂(x, t) = σ_t ∇ log q_t(x)", fontsize=10)
    return fig


def plot_score_fields(model: ToyDenoiser, points: torch.Tensor, ts=(5, 100, 300, 600), lim: float = 2.6,
                      size: int = 17, seed: int = 0):
    """:func:`plot_score_field` at several steps ``ts`` side by side (low noise on the left)."""
    check_instance("model", model, ToyDenoiser, hint="a trained ToyDenoiser")
    check_points("points", points)
    ts = [model.schedule.check_t(t, name="ts") for t in ts]
    if not ts:
        raise ValueError("ts must name at least one timestep")
    size = check_int("size", size, 3, 60)
    fig, axes = new_figure(1, len(ts), figsize=(3 * len(ts), 3.2), squeeze=False)
    for ax, t in zip(axes[0], ts):
        _draw_score_field(ax, model, points, t, lim, size, seed)
    fig.suptitle("arrows: −ε̂(x, t) = σ_t · score, pointing towards the noised data", fontsize=10)
    return fig


def _draw_paths(ax, states: torch.Tensor, points: torch.Tensor | None, lim: float, paths: int):
    """Paths of the first ``paths`` samples of ``states`` (K, B, 2), start ○ and end ●, data faint behind."""
    if points is not None:
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.25, color=DATA_COLOR, zorder=1)
    k = min(paths, states.shape[1])
    for j in range(k):
        ax.plot(states[:, j, 0], states[:, j, 1], lw=0.7, alpha=0.7, color=PATH_COLOR, zorder=2)
    ax.scatter(states[0, :k, 0], states[0, :k, 1], s=10, facecolors="none", edgecolors=NOISE_COLOR, lw=0.8,
               zorder=3, label="start (noise)")
    ax.scatter(states[-1, :k, 0], states[-1, :k, 1], s=10, color="black", zorder=3, label="end (sample)")
    _square(ax, lim)


def plot_sampling_paths(paths: dict, points: torch.Tensor | None = None, lim: float = 3.2, count: int = 40):
    """Sampling runs on 2-D data side by side: ``paths`` maps a title to a recorded run —
    a :class:`~course_lib.diffusion.samplers.Trajectory` (DDPM, DDIM) or an :class:`ODETrajectory`
    (flow models) — of which the first ``count`` paths are drawn, over the data ``points``."""
    if not isinstance(paths, dict) or not paths:
        raise ValueError("paths must be a non-empty dict: title -> Trajectory or ODETrajectory")
    count = check_int("count", count, 1)
    if points is not None:
        check_points("points", points)
    fig, axes = new_figure(1, len(paths), figsize=(3.6 * len(paths), 3.8), squeeze=False)
    for ax, (title, run) in zip(axes[0], paths.items()):
        if not isinstance(run, (Trajectory, ODETrajectory)):
            raise TypeError(f"paths[{title!r}] must be a Trajectory (toy_trajectories) or an ODETrajectory "
                            f"(sample_flow(..., return_trajectory=True)), got {type(run).__name__}")
        states = run.xt if isinstance(run, Trajectory) else run.x
        _draw_paths(ax, states, points, lim, count)
        ax.set_title(str(title), fontsize=10)
    axes[0][0].legend(fontsize=7, loc="lower left")
    return fig


def plot_solver_errors(errors: dict, title: str = "error of the ODE solution against a fine reference"):
    """Error against network evaluations on log–log axes, one line per solver.

    ``errors`` maps a solver name to ``(nfe list, error list)``. Dotted guides of slope −1 and −2
    show first and second order: halving the step halves (Euler) or quarters (Heun) the error.
    """
    if not isinstance(errors, dict) or not errors:
        raise ValueError("errors must be a non-empty dict: solver -> (nfe list, error list)")
    fig, ax = new_figure(figsize=(5.6, 3.8))
    for name, (nfes, errs) in errors.items():
        ax.plot(nfes, errs, "o-", label=str(name))
    first_nfe, first_err = next(iter(errors.values()))
    x0, y0 = float(first_nfe[0]), float(first_err[0])
    xs = torch.tensor([x0, float(max(max(n) for n, _ in errors.values()))])
    for order, style in ((1, ":"), (2, "--")):
        ax.plot(xs, y0 * (xs / x0) ** (-order), style, color="gray", lw=1, label=f"slope −{order}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("network evaluations (nfe)")
    ax.set_ylabel("mean distance to the reference")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_velocity_field(model, points: torch.Tensor, time: float = 0.5, lim: float = 3.2, size: int = 19):
    """A flow model's velocity field at ``time`` (arrows of −velocity: the way a sampler moves)."""
    check_points("points", points)
    grid = field_grid(lim, check_int("size", size, 3, 60))
    arrows = -velocity_field(model, time, grid)                 # samplers go from time 1 to 0: dx = −velocity dτ
    fig, ax = new_figure(figsize=(4.4, 4.4))
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.3, color=DATA_COLOR)
    ax.quiver(grid[:, 0], grid[:, 1], arrows[:, 0], arrows[:, 1], color=PATH_COLOR, angles="xy",
              scale_units="xy", scale=1.0 / (0.25 * 2 * lim / size), width=0.004)
    _square(ax, lim)
    ax.set_title(f"−velocity at time = {time:.2f} (0 = data, 1 = noise)", fontsize=10)
    return fig


def plot_nfe_quality(rows: list, title: str = "quality against network evaluations"):
    """The NFE–quality curves: ``rows`` of dicts with ``method``, ``nfe``, ``confident_share``,
    ``frechet_ratio`` (as printed by ``benchmarks/bench_nfe.py``). Left: confident share; right:
    Fréchet ratio (lower is better), one line per method, NFE on a log axis."""
    if not isinstance(rows, list) or not rows:
        raise ValueError("rows must be a non-empty list of dicts with method, nfe, confident_share, frechet_ratio")
    methods: dict = {}
    for row in rows:
        methods.setdefault(row["method"], []).append(row)
    fig, axes = new_figure(1, 2, figsize=(10, 3.8))
    for method, group in methods.items():
        group = sorted(group, key=lambda r: r["nfe"])
        nfes = [r["nfe"] for r in group]
        axes[0].plot(nfes, [r["confident_share"] for r in group], "o-", label=method)
        axes[1].plot(nfes, [r["frechet_ratio"] for r in group], "o-", label=method)
    for ax, label in zip(axes, ("confident share (≥ 0.9 sure)", "Fréchet ratio (1 ≈ real digits)")):
        ax.set_xscale("log")
        ax.set_xlabel("network evaluations (nfe)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
