"""Figures for notebook 09 (control and editing): pure ``plot_x(**params) -> Figure``.

Each function only draws what it is given — images a method already made and the rows of
:mod:`course_lib.control.measure` — so a slider can call it many times cheaply.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from ..validation import check_images, check_int
from ..viz import image_grid, new_figure, to_unit

#: How the sweeps' row keys are labelled on the plots.
LABELS = {
    "rms_to_sketch": "RMS distance to the sketch",
    "agreement": "read as the intended digit",
    "confident": "confident (p ≥ 0.9)",
    "p_digit": "mean p(digit | x)",
    "accuracy": "read as the digit",
    "accuracy_shifted": "… shifted by 1 pixel",
    "rms_mean": "mean RMS error",
    "rms_max": "largest RMS error",
    "texture_loss": "texture loss (relative)",
    "denoising_error": "denoising error (lower: more typical)",
}


def _grid(ax, images: torch.Tensor, nrow: int, title: str = "") -> None:
    ax.imshow(image_grid(images, nrow=nrow).permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def _check_sweep(images_by_value: dict, rows: list, key: str) -> list:
    if not isinstance(images_by_value, dict) or not images_by_value:
        raise ValueError("images_by_value must be a non-empty dict: knob value -> images (n, C, H, W)")
    for value, images in images_by_value.items():
        check_images(f"images_by_value[{value!r}]", images, pixel_range=True)
    if not isinstance(rows, list) or not rows or any(key not in r for r in rows):
        raise ValueError(f"rows must be the sweep's list of dicts, each with the key {key!r}")
    return sorted(images_by_value)


def plot_sweep(images_by_value: dict, rows: list, value=None, *, key: str = "strength",
               metrics=("rms_to_sketch", "agreement"), reference: torch.Tensor | None = None,
               reference_title: str = "input", nrow: int = 10, log_x: bool = False):
    """One knob, swept: the images made at ``value`` (left; default the middle value), under the
    ``reference`` images when given, and the ``metrics`` of every row against the knob ``key``
    (right), the shown value marked."""
    values = _check_sweep(images_by_value, rows, key)
    shown = values[len(values) // 2] if value is None else min(values, key=lambda v: abs(v - float(value)))
    nrow = check_int("nrow", nrow, 1)
    images = images_by_value[shown][:2 * nrow].cpu()
    rows_of_images = -(-len(images) // nrow)
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    if reference is None:
        axes = fig.subplot_mosaic([["images", "plot"]], width_ratios=[1.4, 1])
    else:
        check_images("reference", reference, pixel_range=True)
        axes = fig.subplot_mosaic([["reference", "plot"], ["images", "plot"]], width_ratios=[1.4, 1],
                                  height_ratios=[1, rows_of_images])
        _grid(axes["reference"], reference[:nrow].cpu(), nrow, reference_title)
    _grid(axes["images"], images, nrow, f"{key} = {shown:g}")
    ax_plot = axes["plot"]
    xs = [r[key] for r in rows]
    for metric in metrics:
        ax_plot.plot(xs, [r[metric] for r in rows], "o-", label=LABELS.get(metric, metric))
    ax_plot.axvline(shown, color="0.5", ls="--", lw=1)
    if log_x and any(v > 0 for v in xs):
        ax_plot.set_xscale("symlog", linthresh=min(v for v in xs if v > 0), linscale=0.5)
        ax_plot.set_xticks(xs, [f"{v:g}" for v in xs])
        ax_plot.set_xlim(0, max(xs) * 1.15)
    ax_plot.set_xlabel(key)
    ax_plot.set_ylim(bottom=0)
    ax_plot.grid(alpha=0.3)
    ax_plot.legend(fontsize=8)
    return fig


def plot_inpainting(images: torch.Tensor, mask: torch.Tensor, results: dict, rows: list | None = None,
                    count: int = 10):
    """Inpainting side by side: the originals, what the method sees (the regenerated region grey),
    and each method's result (``results``: name → images), with its agreement from ``rows``."""
    check_images("images", images, pixel_range=True)
    if not isinstance(results, dict) or not results:
        raise ValueError("results must be a non-empty dict: method -> images (n, C, H, W)")
    count = min(check_int("count", count, 1), len(images))
    mask = mask.cpu().expand_as(images.cpu())[:count]
    shown = {"original": images[:count].cpu(), "input (grey: regenerated)": images[:count].cpu() * mask}
    shown |= {name: out[:count].cpu() for name, out in results.items()}
    scores = {r["method"]: r for r in rows or []}
    fig, axes = new_figure(len(shown), 1, figsize=(1.0 * count + 2.4, 1.15 * len(shown) + 0.3), squeeze=False)
    for ax, (name, batch) in zip(axes[:, 0], shown.items()):
        check_images(f"results[{name!r}]", batch, pixel_range=True)
        _grid(ax, batch, count)
        label = name if name not in scores else (f"{name}: {scores[name]['agreement']:.0%} read as the true digit, "
                                                 f"known pixels changed by ≤ {scores[name]['known_change']:.1g}")
        ax.set_title(label, fontsize=9, loc="left")
    return fig


def plot_round_trip(images: torch.Tensor, reconstructions: dict, rows: list, count: int = 8):
    """DDIM inversion: the originals and their round trips image → noise → image for each number
    of steps (``reconstructions``: nfe → images), and the RMS error against the steps (log–log)."""
    check_images("images", images, pixel_range=True)
    nfes = _check_sweep(reconstructions, rows, "nfe")
    count = min(check_int("count", count, 1), len(images))
    fig, (ax_img, ax_plot) = new_figure(1, 2, figsize=(11, 3.6), gridspec_kw=dict(width_ratios=[1.2, 1]))
    stack = torch.cat([images[:count].cpu()] + [reconstructions[n][:count] for n in nfes])
    _grid(ax_img, stack, count, "top: originals; then round trips with " + ", ".join(map(str, nfes)) + " steps")
    xs = [r["nfe"] for r in rows]
    ax_plot.loglog(xs, [r["rms_mean"] for r in rows], "o-", label=LABELS["rms_mean"])
    ax_plot.loglog(xs, [r["rms_max"] for r in rows], "s--", label=LABELS["rms_max"])
    ref = rows[0]["rms_mean"] * xs[0]
    ax_plot.loglog(xs, [ref / x for x in xs], ":", color="0.5", label="∝ 1 / steps")
    ax_plot.set_xlabel("DDIM steps (each way)")
    ax_plot.set_ylabel("RMS error, [−1, 1] units")
    ax_plot.grid(alpha=0.3, which="both")
    ax_plot.legend(fontsize=8)
    return fig


def plot_interpolations(strips: dict, fractions, fraction: float = 0.5):
    """Interpolations between two digits, one strip per method (``strips``: name → images (K, 1, H, W)
    at ``fractions``), and the images at ``fraction`` of the way, large, on the right."""
    if not isinstance(strips, dict) or not strips:
        raise ValueError("strips must be a non-empty dict: method -> images (K, C, H, W)")
    fractions = list(fractions)
    k = min(range(len(fractions)), key=lambda i: abs(fractions[i] - float(fraction)))
    fig, axes = new_figure(len(strips), 2, figsize=(11, 1.5 * len(strips) + 0.4), squeeze=False,
                           gridspec_kw=dict(width_ratios=[len(fractions), 1.3]))
    for (name, images), (ax_strip, ax_one) in zip(strips.items(), axes):
        check_images(f"strips[{name!r}]", images, pixel_range=True)
        if len(images) != len(fractions):
            raise ValueError(f"strips[{name!r}] must hold one image per fraction ({len(fractions)}), got {len(images)}")
        _grid(ax_strip, images.cpu(), len(fractions))
        ax_strip.set_title(name, fontsize=9, loc="left")
        ax_one.imshow(to_unit(images[k, 0]).numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax_one.set_axis_off()
        ax_one.set_title(f"f = {fractions[k]:.2f}", fontsize=9)
    return fig


def plot_sketch_edits(sketch: torch.Tensor, edits: dict, title: str = ""):
    """A sketch (1, 1, H, W) and what SDEdit made of it at several strengths (``edits``: strength →
    images (m, 1, H, W), one row per strength, m seeds)."""
    check_images("sketch", sketch, pixel_range=True)
    if not isinstance(edits, dict) or not edits:
        raise ValueError("edits must be a non-empty dict: strength -> images (m, C, H, W)")
    strengths = sorted(edits)
    m = max(len(edits[s]) for s in strengths)
    fig, axes = new_figure(len(strengths), m + 1, figsize=(1.2 * (m + 1) + 0.5, 1.25 * len(strengths) + 0.4),
                           squeeze=False)
    for row, s in enumerate(strengths):
        check_images(f"edits[{s!r}]", edits[s], pixel_range=True)
        for col in range(m + 1):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            image = sketch[0] if col == 0 else edits[s][col - 1] if col - 1 < len(edits[s]) else None
            if image is not None:
                ax.imshow(to_unit(image[0]).numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if col == 0:
                ax.set_ylabel(f"s = {s:g}", fontsize=9)
        if row == 0:
            axes[0][0].set_title("sketch", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
