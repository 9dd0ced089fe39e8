"""Figures for notebook 06: functions ``plot_x(...) -> Figure`` that draw what they are given.

None of them optimises anything: a notebook (or a deck) runs :func:`~course_lib.style.synthesize`
and hands the :class:`~course_lib.train_loop.TrainRecord` to :func:`plot_results`,
:func:`plot_snapshots` or :func:`plot_losses`. The feature-map and Gram-matrix figures run the
frozen network forward once to get what they show.
"""

from __future__ import annotations

import torch

from ..data import IMAGES, load_image
from ..device import model_device
from ..train_loop import TrainRecord
from ..validation import check_choice, check_images, check_instance, check_int
from ..viz import new_figure, to_unit
from .features import FeatureExtractor, check_layer
from .losses import gram_matrix, style_layer_loss
from .optimize import GATYS_STYLE_LAYERS

# Gatys et al.'s nested sets of style layers (their Fig. 1 and the texture paper's Fig. 2).
STYLE_LAYER_SETS = {
    "conv1_1": ("conv1_1",),
    "conv1_1 … conv2_1": ("conv1_1", "conv2_1"),
    "conv1_1 … conv3_1": ("conv1_1", "conv2_1", "conv3_1"),
    "conv1_1 … conv4_1": ("conv1_1", "conv2_1", "conv3_1", "conv4_1"),
    "conv1_1 … conv5_1": GATYS_STYLE_LAYERS,
}
CONTENT_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")


def _show(ax, image: torch.Tensor, title: str | None = None) -> None:
    ax.imshow(to_unit(image[0]).permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def _check_image_dict(name: str, images) -> dict:
    if not isinstance(images, dict) or not images:
        raise ValueError(f"{name} must be a non-empty dict {{title: image (1, 3, H, W) in [-1, 1]}}")
    for title, img in images.items():
        check_images(f"{name}[{title!r}]", img, channels=3, pixel_range=True)
    return images


def _check_records(name: str, records) -> dict:
    if not isinstance(records, dict) or not records:
        raise ValueError(f"{name} must be a non-empty dict {{title: TrainRecord from synthesize}}")
    for title, record in records.items():
        check_instance(f"{name}[{title!r}]", record, TrainRecord, hint="what synthesize returns")
    return records


def plot_images(images: dict, size: float = 2.2):
    """Show named images ({title: (1, 3, H, W) in [-1, 1]}) in one row."""
    _check_image_dict("images", images)
    fig, axes = new_figure(1, len(images), figsize=(size * len(images), size + 0.3), squeeze=False)
    for ax, (title, img) in zip(axes[0], images.items()):
        _show(ax, img[:1], title)
    return fig


def plot_feature_maps(extractor: FeatureExtractor, image: torch.Tensor, layer: str = "conv1_1",
                      num_maps: int = 7, size: float = 1.8):
    """The image and ``num_maps`` of the feature maps F^l_k (the most active channels) at ``layer``.

    Each map is one filter's response at every position: "content" lives in where things are.
    """
    check_instance("extractor", extractor, FeatureExtractor, hint="build it with vgg19_extractor()")
    check_images("image", image, channels=3, pixel_range=True)
    layer = check_layer("layer", layer)
    num_maps = check_int("num_maps", num_maps, 1, 64)
    with torch.no_grad():
        f = extractor.extract(image[:1].to(model_device(extractor)), [layer])[layer][0].cpu()
    order = f.mean(dim=(1, 2)).argsort(descending=True)[:num_maps]
    fig, axes = new_figure(1, num_maps + 1, figsize=(size * (num_maps + 1), size + 0.5), squeeze=False)
    _show(axes[0, 0], image[:1], "image")
    for ax, k in zip(axes[0, 1:], order.tolist()):
        ax.imshow(f[k].numpy(), cmap="magma")
        ax.set_axis_off()
        ax.set_title(f"map {k}", fontsize=8)
    c, h, w = f.shape
    fig.suptitle(f"{layer}: {c} feature maps of {h}×{w} ($F^l$ has $N_l$ = {c} rows, $M_l$ = {h * w} columns)",
                 fontsize=10)
    return fig


def plot_layer_explorer(extractor: FeatureExtractor, image: str = "chelsea", layer: str = "conv1_1",
                        size: int = 128):
    """:func:`plot_feature_maps` of a shipped image (by name) at ``size`` px: the slider figure."""
    check_choice("image", image, IMAGES)
    size = check_int("size", size, 16, 1024)
    return plot_feature_maps(extractor, load_image(image, size), layer)


def plot_gram_matrices(extractor: FeatureExtractor, images: dict, layer: str = "conv2_1",
                       num_channels: int = 32, compare_to: str | None = None, size: float = 2.6):
    """Each image above its Gram matrix G^l (the first ``num_channels`` channels) at ``layer``.

    With ``compare_to`` (a key of ``images``) each title also gives the style distance
    E_l = ¼ Σ_ij (G_ij − A_ij)² (:func:`~course_lib.style.style_layer_loss`) to that image's Gram
    matrix A. Two crops of the same texture are close even though no pixel is in the same place:
    the Gram matrix is a spatial summary.
    """
    from matplotlib.colors import PowerNorm

    check_instance("extractor", extractor, FeatureExtractor, hint="build it with vgg19_extractor()")
    _check_image_dict("images", images)
    layer = check_layer("layer", layer)
    num_channels = check_int("num_channels", num_channels, 2, 512)
    if compare_to is not None and compare_to not in images:
        raise ValueError(f"compare_to must be one of the titles {list(images)}, got {compare_to!r}")
    with torch.no_grad():
        feats = {title: extractor.extract(img[:1].to(model_device(extractor)), [layer])[layer].cpu()
                 for title, img in images.items()}
    grams = {title: gram_matrix(f) for title, f in feats.items()}          # (1, C, C) each
    vmax = max(float(g[0, :num_channels, :num_channels].max()) for g in grams.values())
    n = len(images)
    fig, axes = new_figure(2, n, figsize=(size * n, 2 * size + 0.5), squeeze=False)
    for j, (title, img) in enumerate(images.items()):
        _show(axes[0, j], img[:1], title)
        g = grams[title][0, :num_channels, :num_channels].clamp_min(0)
        im = axes[1, j].imshow(g.numpy(), cmap="viridis", norm=PowerNorm(0.5, vmin=0, vmax=vmax))
        text = f"G at {layer} ({num_channels}×{num_channels} corner)"
        if compare_to is not None:
            text += f"\n$E_l$ to {compare_to}: {float(style_layer_loss(feats[title], grams[compare_to])):.2e}"
        axes[1, j].set_title(text, fontsize=8)
        axes[1, j].set_xticks([])
        axes[1, j].set_yticks([])
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.8, label="$G_{ij}$ (square-root colour scale)")
    return fig


def plot_results(results: dict, reference: dict | None = None, size: float = 2.2):
    """One row: the ``reference`` images ({title: image}), then each run's output.

    ``results``: {title: TrainRecord from synthesize}; each title gets the run's steps and seconds.
    """
    _check_records("results", results)
    if reference is not None:
        _check_image_dict("reference", reference)
    reference = reference or {}
    n = len(reference) + len(results)
    fig, axes = new_figure(1, n, figsize=(size * n, size + 0.6), squeeze=False)
    for ax, (title, img) in zip(axes[0], reference.items()):
        _show(ax, img[:1], title)
    for ax, (title, record) in zip(axes[0, len(reference):], results.items()):
        seconds = f"{record.seconds:.1f}" if record.seconds < 10 else f"{record.seconds:.0f}"
        _show(ax, record.output, f"{title}\n{record.steps} steps, {seconds} s")
    return fig


def plot_snapshots(record: TrainRecord, max_snapshots: int = 8, size: float = 1.9):
    """The image along the optimisation: x at step 0 (the start), …, the end (the output)."""
    check_instance("record", record, TrainRecord, hint="what synthesize returns")
    max_snapshots = check_int("max_snapshots", max_snapshots, 2)
    snaps = sorted(record.snapshots.items())
    if not snaps:
        raise ValueError("record has no snapshots: pass the TrainRecord that synthesize returned")
    if len(snaps) > max_snapshots:
        idx = torch.linspace(0, len(snaps) - 1, max_snapshots).round().long().unique().tolist()
        snaps = [snaps[i] for i in idx]
    fig, axes = new_figure(1, len(snaps), figsize=(size * len(snaps), size + 0.4), squeeze=False)
    for ax, (step, img) in zip(axes[0], snaps):
        _show(ax, img, f"step {step}")
    return fig


def plot_losses(records: dict, x: str = "step"):
    """Curves of L_total (and its nonzero terms) against ``x`` = ``"step"`` or ``"seconds"``, log scale.

    ``records``: {title: TrainRecord from synthesize}. Seconds are steps × the run's mean time per
    step (every step costs one forward and backward pass through the network).
    """
    check_choice("x", x, ("step", "seconds"))
    _check_records("records", records)
    fig, ax = new_figure(figsize=(6, 3.6))
    for title, record in records.items():
        total = record.series("total")
        steps = torch.arange(1, len(total) + 1, dtype=torch.float64)
        xs = (steps * record.seconds / max(record.steps, 1) if x == "seconds" else steps).numpy()
        line, = ax.plot(xs, total, label=f"{title}: total")
        for term, style in (("content", "--"), ("style", ":")):
            values = record.series(term)
            if any(v > 0 for v in values):
                ax.plot(xs, values, style, color=line.get_color(), label=f"{title}: {term}")
    ax.set_yscale("log")
    lowest = min(min(record.series("total")) for record in records.values())
    ax.set_ylim(bottom=lowest / 30)  # a term that starts at 0 (content, from p) would squash the plot
    ax.set_xlabel("optimisation step" if x == "step" else "seconds")
    ax.set_ylabel("loss (weighted)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig
