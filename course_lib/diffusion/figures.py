"""Figures for notebook 03 (forward diffusion): pure functions that return a matplotlib Figure.

* :func:`plot_schedules` — β_t, ᾱ_t and log-SNR against t for each schedule kind, with the t
  where SNR crosses 1 marked.
* :func:`plot_schedule_strips` — one image noised at the same t (and the same ε) under each kind.
* :func:`plot_chain_vs_closed_form` — samples of the step-by-step chain and of the closed form
  against the density N(√ᾱ_t x_0, 1 − ᾱ_t).
* :func:`plot_forward_explorer` — the slider figure: noised digits and a photo at t, their pixel
  histogram against N(0, 1), and the ᾱ_t and SNR curves with t marked.

Every function builds its figure with :func:`course_lib.viz.new_figure` (no pyplot), so a slider
can redraw it many times and the slides can reuse it.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ..validation import check_choice, check_images, check_int
from ..viz import image_grid, new_figure
from .forward import chain_and_closed_form, q_sample
from .schedules import SCHEDULE_KINDS, make_schedule, snr_crossing_step

KIND_COLORS = {"linear": "tab:blue", "quadratic": "tab:orange", "cosine": "tab:green",
               "sigmoid": "tab:red"}


def _check_kinds(kinds) -> tuple[str, ...]:
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds:
        raise ValueError(f"kinds must name at least one of {', '.join(SCHEDULE_KINDS)}")
    for kind in kinds:
        check_choice("kinds", kind, SCHEDULE_KINDS)
    return kinds


def plot_schedules(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                   kinds=SCHEDULE_KINDS):
    """β_t (log scale), ᾱ_t and log SNR(t) = log(ᾱ_t / (1 − ᾱ_t)) for each kind, one panel each;
    a dot marks the first t where SNR < 1 (ᾱ_t < 1/2)."""
    kinds = _check_kinds(kinds)
    fig, axes = new_figure(1, 3, figsize=(13, 3.8))
    for kind in kinds:
        s = make_schedule(kind, num_steps, beta_start, beta_end)
        t = np.arange(s.num_steps)
        color = KIND_COLORS[kind]
        axes[0].plot(t, s.betas.numpy(), color=color, label=kind)
        axes[1].plot(t, s.alpha_bars.numpy(), color=color, label=kind)
        axes[2].plot(t, s.log_snr.numpy(), color=color, label=kind)
        cross = snr_crossing_step(s)
        if cross is not None:
            axes[1].plot(cross, float(s.alpha_bars[cross]), "o", color=color)
            axes[2].plot(cross, float(s.log_snr[cross]), "o", color=color)
    axes[0].set(yscale="log", title="β_t: noise added at step t", xlabel="t (0-indexed)")
    axes[1].axhline(0.5, color="0.6", lw=0.8, ls="--")
    axes[1].set(title="ᾱ_t: share of the signal left", xlabel="t (0-indexed)", ylim=(-0.02, 1.02))
    axes[2].axhline(0.0, color="0.6", lw=0.8, ls="--")
    axes[2].set(title="log SNR(t); dashed: SNR = 1, dots: first t with SNR < 1",
                xlabel="t (0-indexed)")
    axes[2].title.set_fontsize(10)
    axes[0].legend(fontsize=9)
    fig.suptitle(f"Schedules with T = {num_steps} (linear/quadratic/sigmoid: β from {beta_start:g} "
                 f"to {beta_end:g}; cosine: s = 0.008)", fontsize=11)
    return fig


def plot_schedule_strips(image: torch.Tensor, ts=(0, 100, 250, 500, 750, 999), kinds=SCHEDULE_KINDS,
                         num_steps: int = 1000, seed: int = 0):
    """One image (1, C, H, W) in [−1, 1] noised with q_sample at each t in ``ts`` (columns) under
    each schedule kind (rows), with the same ε everywhere so only ᾱ_t differs."""
    check_images("image", image, pixel_range=True)
    if image.shape[0] != 1:
        raise ValueError(f"image must be a single image of shape (1, C, H, W), got {tuple(image.shape)}")
    kinds = _check_kinds(kinds)
    ts = [check_int("ts", t, 0, num_steps - 1) for t in ts]
    if not ts:
        raise ValueError("ts must name at least one timestep")
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(check_int("seed", seed, 0)))
    fig, axes = new_figure(len(kinds), len(ts), figsize=(1.5 * len(ts) + 0.8, 1.55 * len(kinds) + 0.4),
                           squeeze=False)
    for r, kind in enumerate(kinds):
        s = make_schedule(kind, num_steps)
        for c, t in enumerate(ts):
            ax = axes[r, c]
            xt = q_sample(image, t, s, noise)
            ax.imshow(image_grid(xt, nrow=1, padding=0).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"t={t}  ᾱ={float(s.alpha_bars[t]):.2f}", fontsize=8)
            if c == 0:
                ax.set_ylabel(kind, fontsize=10)
    fig.suptitle("The same image and the same ε under each schedule", fontsize=11)
    return fig


def plot_chain_vs_closed_form(ts=(0, 10, 100, 300, 999), x0_value: float = 0.8,
                              num_samples: int = 20_000, kind: str = "linear",
                              num_steps: int = 1000, seed: int = 0):
    """For one pixel x_0 = ``x0_value``: histograms of x_t from the step-by-step chain and from
    the closed form, with the density of N(√ᾱ_t x_0, 1 − ᾱ_t), one panel per t."""
    s = make_schedule(kind, num_steps)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    chain, closed = chain_and_closed_form(x0_value, ts, s, num_samples, generator=g)
    fig, axes = new_figure(1, len(ts), figsize=(2.9 * len(ts), 2.9), squeeze=False)
    for i, (ax, t) in enumerate(zip(axes[0], ts)):
        alpha_bar_t = float(s.alpha_bars[t])
        mean, sd = math.sqrt(alpha_bar_t) * x0_value, math.sqrt(1 - alpha_bar_t)
        grid = np.linspace(mean - 4.5 * sd, mean + 4.5 * sd, 200)
        bins = np.linspace(grid[0], grid[-1], 50)
        ax.hist(chain[i].numpy(), bins=bins, density=True, alpha=0.45, color="tab:blue",
                label="step-by-step chain")
        ax.hist(closed[i].numpy(), bins=bins, density=True, histtype="step", lw=1.6,
                color="tab:orange", label="closed form")
        ax.plot(grid, np.exp(-0.5 * ((grid - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)),
                color="k", lw=1, label="N(√ᾱ_t x₀, 1−ᾱ_t)")
        ax.set_title(f"t = {t}: mean {mean:.3g}, var {sd * sd:.3g}", fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=8)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=9)
    fig.suptitle(f"x₀ = {x0_value}: {num_samples:,} samples each ({kind} schedule)", fontsize=11)
    return fig


@functools.lru_cache(maxsize=4)
def demo_images(num_digits: int = 64, photo: str = "astronaut", size: int = 64):
    """``(digits, photo)`` for the explorer: ``num_digits`` real test digits (N, 1, 28, 28) taken
    class by class (0, 1, …, 9, 0, 1, …) so any first few show different digits, and a photo
    (1, 3, size, size); both in [−1, 1]. Loaded once per process."""
    from ..data import load_image, load_mnist

    num_digits = check_int("num_digits", num_digits, 1, 1000)
    digits = load_mnist("test", quiet=True)
    by_class = [torch.nonzero(digits.labels == c).flatten() for c in range(10)]
    order = [int(idx[i]) for i in range(max(len(i) for i in by_class)) for idx in by_class if i < len(idx)]
    return digits.images[order[:num_digits]].clone(), load_image(photo, size)


def plot_forward_explorer(t: int = 250, kind: str = "linear", beta_start: float = 1e-4,
                          beta_end: float = 0.02, num_steps: int = 1000,
                          digits: torch.Tensor | None = None, photo: torch.Tensor | None = None,
                          num_shown: int = 8, seed: int = 0):
    """The forward-diffusion explorer (the notebook's slider figure).

    Noises real ``digits`` (B, 1, H, W) and a ``photo`` (1, 3, H, W), both in [−1, 1], to step
    ``t`` of a ``kind`` schedule with x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (the same ε for every t, so
    moving t only changes ᾱ_t). Shows the first ``num_shown`` digits clean and noised and the
    photo; the histogram of every digit pixel of x_t against N(0, 1); ᾱ_t and log SNR(t) with t
    marked. When ``t`` is past the last step T − 1 (a slider left high after T was lowered), the
    figure shows t = T − 1 and says so in its title. Defaults load 64 test digits and the
    astronaut photo.
    """
    t = check_int("t", t, 0)
    num_steps = check_int("num_steps", num_steps, 1, 100_000)
    num_shown = check_int("num_shown", num_shown, 1, 32)
    seed = check_int("seed", seed, 0)
    s = make_schedule(kind, num_steps, beta_start, beta_end)
    if digits is None or photo is None:
        default_digits, default_photo = demo_images()
        digits = default_digits if digits is None else digits
        photo = default_photo if photo is None else photo
    check_images("digits", digits, pixel_range=True)
    check_images("photo", photo, pixel_range=True)
    note = ""
    if t > s.num_steps - 1:
        note = f" (t = {t} is past T − 1; showing t = {s.num_steps - 1})"
        t = s.num_steps - 1
    g = torch.Generator().manual_seed(seed)
    digit_noise = torch.randn(digits.shape, generator=g, dtype=digits.dtype)
    photo_noise = torch.randn(photo.shape, generator=g, dtype=photo.dtype)
    xt = q_sample(digits, t, s, digit_noise)
    photo_t = q_sample(photo, t, s, photo_noise)
    alpha_bar_t = float(s.alpha_bars[t])
    cross = snr_crossing_step(s)

    fig, axes = new_figure(2, 3, figsize=(13, 6.6), gridspec_kw={"height_ratios": [1.0, 1.0],
                                                                   "width_ratios": [1.2, 1.2, 1.0]})
    gs = axes[0, 0].get_gridspec()
    for ax in axes[0, :2]:
        ax.remove()
    ax_strip = fig.add_subplot(gs[0, :2])
    n = min(num_shown, digits.shape[0])
    strip = image_grid(torch.cat([digits[:n], xt[:n]]), nrow=n)
    ax_strip.imshow(strip.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax_strip.set_axis_off()
    ax_strip.set_title(f"digits: x₀ (top) and x_t (bottom) at t = {t}", fontsize=10)
    ax_photo = axes[0, 2]
    ax_photo.imshow(image_grid(torch.cat([photo, photo_t]), nrow=2).permute(1, 2, 0).numpy())
    ax_photo.set_axis_off()
    ax_photo.set_title(f"photo: x₀ and x_t at t = {t}", fontsize=10)

    ax_hist, ax_ab, ax_snr = axes[1]
    grid = np.linspace(-4, 4, 200)
    ax_hist.hist(xt.flatten().numpy(), bins=np.linspace(-4, 4, 81), density=True, color="tab:blue",
                 alpha=0.6, label=f"pixels of x_t ({digits.shape[0]} digits)")
    ax_hist.plot(grid, np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi), "k", lw=1.5, label="N(0, 1)")
    ax_hist.set(xlim=(-4, 4), ylim=(0, 1.0), xlabel="pixel value",
                title=f"histogram of x_t: mean {float(xt.mean()):.2f}, std {float(xt.std()):.2f}")
    ax_hist.title.set_fontsize(10)
    ax_hist.legend(fontsize=8, loc="upper right")

    steps = np.arange(s.num_steps)
    ax_ab.plot(steps, s.alpha_bars.numpy(), color=KIND_COLORS[kind])
    ax_ab.axvline(t, color="k", lw=0.8)
    ax_ab.plot(t, alpha_bar_t, "ko")
    ax_ab.set(ylim=(-0.02, 1.02), xlabel="t (0-indexed)",
              title=f"ᾱ_t = {alpha_bar_t:.3f}: {100 * alpha_bar_t:.1f} % of the signal's power left")
    ax_ab.title.set_fontsize(10)

    log_snr = s.log_snr.numpy()
    ax_snr.plot(steps, log_snr, color=KIND_COLORS[kind])
    ax_snr.axhline(0.0, color="0.6", lw=0.8, ls="--")
    ax_snr.axvline(t, color="k", lw=0.8)
    ax_snr.plot(t, log_snr[t], "ko")
    where = f"SNR < 1 from t = {cross} (dotted)" if cross is not None else "SNR ≥ 1 for every t"
    if cross is not None:
        ax_snr.axvline(cross, color="0.6", lw=0.8, ls=":")
    ax_snr.set(xlabel="t (0-indexed)",
               title=f"log SNR(t) = {log_snr[t]:.2f}, SNR = {math.exp(log_snr[t]):.3g}\n{where}")
    ax_snr.title.set_fontsize(10)

    bounds = "" if kind == "cosine" else f", β from {beta_start:.2g} to {beta_end:.2g}"
    fig.suptitle(f"{kind} schedule, T = {s.num_steps}{bounds}: t = {t}{note}; signal kept "
                 f"√ᾱ_t = {math.sqrt(alpha_bar_t):.3f}, noise √(1−ᾱ_t) = {math.sqrt(1 - alpha_bar_t):.3f}", fontsize=11)
    return fig


__all__ = ["demo_images", "plot_chain_vs_closed_form", "plot_forward_explorer", "plot_schedule_strips", "plot_schedules"]
