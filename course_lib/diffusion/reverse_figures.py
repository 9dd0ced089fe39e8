"""Figures for notebooks 04–05 (reverse sampling, guidance): pure ``plot_x(**params) -> Figure``.

Each function only draws what it is given (samples, a trajectory, scores), so a slider can call
it many times cheaply; the sampling itself happens once, in the notebook, through
:mod:`course_lib.diffusion.samplers`.
"""

from __future__ import annotations

import torch

from ..train_loop import TrainRecord, running_mean
from ..validation import check_images, check_instance, check_int
from ..viz import image_grid, new_figure, to_unit
from .forward import check_schedule
from .samplers import Trajectory
from .schedules import Schedule


def plot_sampler_variances(schedule: Schedule):
    """The two DDPM choices of σ_t²: β_t and β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t) · β_t, on a log scale.

    They agree except near t = 0, where β̃_t → 0 (the last steps add almost no noise).
    """
    check_schedule(schedule)
    fig, axes = new_figure(1, 2, figsize=(9, 3.2))
    t = torch.arange(schedule.num_steps)
    for ax, upto in zip(axes, (schedule.num_steps, 50)):
        ax.plot(t[:upto], schedule.betas[:upto], label="σ_t² = β_t")
        ax.plot(t[:upto], schedule.posterior_variance[:upto], "--", label="σ_t² = β̃_t (posterior)")
        ax.set_yscale("log")
        ax.set_xlabel("t (code index)")
        ax.set_title("all steps" if upto == schedule.num_steps else f"the last {upto} steps (t < {upto})")
    axes[0].set_ylabel("variance")
    axes[0].legend(fontsize=8)
    return fig


def plot_loss_curve(record: TrainRecord, window: int = 50, title: str = "training loss"):
    """The per-step loss of a training ``record`` (faint) and its running mean over ``window`` steps."""
    check_instance("record", record, TrainRecord, hint="what train_diffusion returns")
    losses = record.series("loss")
    if not losses:
        raise ValueError("record holds no losses: train for at least one step")
    window = check_int("window", window, 1)
    smooth = running_mean(losses, min(window, len(losses)))
    fig, ax = new_figure(figsize=(6, 3))
    ax.plot(losses, alpha=0.3, lw=0.8, label="per step")
    ax.plot(smooth, lw=2, label=f"mean of {min(window, len(losses))}")
    ax.set_xlabel("training step")
    ax.set_ylabel("squared error per pixel")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def _score_text(scores: dict | None) -> str:
    if not scores:
        return ""
    parts = [f"conf {scores['confident_share']:.0%}", f"H {scores['class_entropy']:.2f}"]
    if scores.get("frechet_ratio") is not None:
        parts.append(f"FD {scores['frechet_ratio']:.1f}×")
    return ", ".join(parts)


def plot_sample_grids(grids: dict, scores: dict | None = None, seconds: dict | None = None, nrow: int = 8,
                      size: float = 3.2):
    """Grids of samples side by side: ``grids`` maps a title to images (n, C, H, W) in [−1, 1].

    ``scores`` (title → :func:`course_lib.metrics.score_digits` dict) and ``seconds`` (title → s
    per image) are added under each title when given.
    """
    if not isinstance(grids, dict) or not grids:
        raise ValueError("grids must be a non-empty dict: title -> images (n, C, H, W)")
    fig, axes = new_figure(1, len(grids), figsize=(size * len(grids), size + 0.6), squeeze=False)
    for ax, (title, images) in zip(axes[0], grids.items()):
        check_images(f"grids[{title!r}]", images, pixel_range=True)
        ax.imshow(image_grid(images, nrow=nrow).permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_axis_off()
        lines = [str(title)]
        if seconds and title in seconds:
            lines.append(f"{seconds[title]:.3g} s/image")
        if scores and title in scores:
            lines.append(_score_text(scores[title]))
        ax.set_title("\n".join(lines), fontsize=9)
    return fig


def plot_trajectory(trajectory: Trajectory, step: int | None = None, images: int = 4):
    """One moment of a sampling run: x_t (top row) and the model's x̂_0 (bottom row).

    ``step`` indexes the recorded steps (0 = pure noise, ``len(trajectory) − 1`` = the last);
    default the middle. Shows the first ``images`` samples.
    """
    check_instance("trajectory", trajectory, Trajectory, hint="sample(..., return_trajectory=True)")
    k = len(trajectory) // 2 if step is None else check_int("step", step, 0, len(trajectory) - 1)
    count = check_int("images", images, 1)
    count = min(count, trajectory.xt.shape[1])
    t = trajectory.timesteps[k]
    fig, axes = new_figure(2, count, figsize=(1.6 * count + 0.8, 3.6), squeeze=False)
    for j in range(count):
        for row, (name, tensor) in enumerate((("x_t", trajectory.xt), ("x̂_0", trajectory.x0_pred))):
            ax = axes[row][j]
            ax.imshow(to_unit(tensor[k, j, 0]).numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize=11)
    fig.suptitle(f"t = {t}  (recorded step {k} of {len(trajectory) - 1}): x_t above, predicted x̂_0 below",
                 fontsize=10)
    return fig


def plot_trajectory_strip(trajectory: Trajectory, columns: int = 8, image: int = 0):
    """One sample's whole run as two strips: x_t and x̂_0 at ``columns`` evenly spaced steps."""
    check_instance("trajectory", trajectory, Trajectory, hint="sample(..., return_trajectory=True)")
    columns = check_int("columns", columns, 2)
    image = check_int("image", image, 0, trajectory.xt.shape[1] - 1)
    idx = torch.linspace(0, len(trajectory) - 1, min(columns, len(trajectory))).round().long().tolist()
    fig, axes = new_figure(2, len(idx), figsize=(1.4 * len(idx), 3.2), squeeze=False)
    for j, k in enumerate(idx):
        for row, tensor in enumerate((trajectory.xt, trajectory.x0_pred)):
            ax = axes[row][j]
            ax.imshow(to_unit(tensor[k, image, 0]).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t = {trajectory.timesteps[k]}", fontsize=9)
        if j == 0:
            axes[0][0].set_ylabel("x_t")
            axes[1][0].set_ylabel("x̂_0")
    return fig


def plot_guidance(samples_by_w: dict, scores_by_w: dict | None = None, w: float | None = None, nrow: int = 10):
    """Classifier-free guidance at one scale w, with the fidelity–diversity trade across all scales.

    ``samples_by_w``: w → images (n, C, H, W) (one row per class works best); ``scores_by_w``:
    w → :func:`course_lib.metrics.score_digits` dict. Left: the samples at ``w`` (default the
    smallest). Right (with scores): confident share (fidelity) and the Fréchet ratio (which rises
    when samples lose the variety of real digits) against w, with ``w`` marked.
    """
    if not isinstance(samples_by_w, dict) or not samples_by_w:
        raise ValueError("samples_by_w must be a non-empty dict: w -> images")
    scales = sorted(samples_by_w)
    if w is None:
        w = scales[0]
    w = min(scales, key=lambda s: abs(s - float(w)))
    ncols = 2 if scores_by_w else 1
    fig, axes = new_figure(1, ncols, figsize=(5.2 * ncols, 4.6), squeeze=False)
    ax = axes[0][0]
    ax.imshow(image_grid(samples_by_w[w], nrow=nrow).permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    title = f"guidance scale w = {w:g}"
    if scores_by_w and w in scores_by_w:
        title += "\n" + _score_text(scores_by_w[w])
    ax.set_title(title, fontsize=10)
    if scores_by_w:
        ax = axes[0][1]
        ws = [s for s in scales if s in scores_by_w]
        conf = [scores_by_w[s]["confident_share"] for s in ws]
        ax.plot(ws, conf, "o-", color="tab:blue", label="confident share (fidelity)")
        ax.set_xlabel("guidance scale w")
        ax.set_ylabel("confident share", color="tab:blue")
        ax.set_ylim(0, 1.02)
        ax.axvline(w, color="k", ls=":", lw=1)
        if all(scores_by_w[s].get("frechet_ratio") is not None for s in ws):
            ax2 = ax.twinx()
            ax2.plot(ws, [scores_by_w[s]["frechet_ratio"] for s in ws], "s--", color="tab:red",
                     label="Fréchet ratio (lower = closer to real)")
            ax2.set_ylabel("Fréchet distance / real-vs-real", color="tab:red")
            ax2.set_ylim(bottom=0)
        ax.set_title("fidelity vs. closeness to real digits", fontsize=10)
        handles = ax.get_legend_handles_labels()
        if ncols == 2 and len(fig.axes) > 2:
            h2 = fig.axes[-1].get_legend_handles_labels()
            handles = (handles[0] + h2[0], handles[1] + h2[1])
        ax.legend(*handles, fontsize=8, loc="lower right")
    return fig
