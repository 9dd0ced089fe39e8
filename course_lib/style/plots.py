"""Figures for notebook 06: pure functions ``plot_x(**params) -> Figure`` (static, then sliders)."""

from __future__ import annotations

import torch

from ..data import IMAGES, load_image
from ..validation import check_choice, check_float, check_images, check_int
from ..viz import new_figure, to_unit
from .features import VGG19_LAYERS, FeatureExtractor, check_layer
from .losses import gram_matrix
from .optimize import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, StyleResult, synthesize

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
    img = image[0] if image.ndim == 4 else image
    ax.imshow(to_unit(img).permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def plot_images(images: dict, size: float = 2.2):
    """Show named images ({title: (1, 3, H, W) in [-1, 1]}) in one row."""
    if not isinstance(images, dict) or not images:
        raise ValueError("images must be a non-empty dict {title: image}")
    fig, axes = new_figure(1, len(images), figsize=(size * len(images), size + 0.3), squeeze=False)
    for ax, (title, img) in zip(axes[0], images.items()):
        check_images(f"images[{title!r}]", img, channels=3)
        _show(ax, img, title)
    return fig


def plot_feature_maps(extractor: FeatureExtractor, image: torch.Tensor, layer: str = "conv1_1",
                      num_maps: int = 7, size: float = 1.8):
    """The image and ``num_maps`` of the feature maps F^l_k (the most active channels) at ``layer``.

    Each map is one filter's response at every position: "content" lives in where things are.
    """
    check_images("image", image, channels=3)
    layer = check_layer("layer", layer)
    num_maps = check_int("num_maps", num_maps, 1, 64)
    with torch.no_grad():
        f = extractor(image[:1], [layer])[layer][0].cpu()
    order = f.mean(dim=(1, 2)).argsort(descending=True)[:num_maps]
    fig, axes = new_figure(1, num_maps + 1, figsize=(size * (num_maps + 1), size + 0.5), squeeze=False)
    _show(axes[0, 0], image, "image")
    for ax, k in zip(axes[0, 1:], order.tolist()):
        ax.imshow(f[k].numpy(), cmap="magma")
        ax.set_axis_off()
        ax.set_title(f"map {k}", fontsize=8)
    c, h, w = f.shape
    fig.suptitle(f"{layer}: {c} feature maps of {h}×{w} ($F^l$ has $N_l$ = {c} rows, $M_l$ = {h * w} columns)",
                 fontsize=10)
    return fig


def plot_gram_matrices(extractor: FeatureExtractor, images: dict, layer: str = "conv2_1",
                       num_channels: int = 32, compare_to: str | None = None, size: float = 2.6):
    """Each image above its Gram matrix G^l (the first ``num_channels`` channels) at ``layer``.

    With ``compare_to`` (a key of ``images``) each title also gives E_l = ¼ Σ_ij (G_ij − A_ij)²,
    the style distance to that image's Gram matrix A. Two crops of the same texture are close
    even though no pixel is in the same place: the Gram matrix is a spatial summary.
    """
    from matplotlib.colors import PowerNorm

    layer = check_layer("layer", layer)
    num_channels = check_int("num_channels", num_channels, 2, 512)
    if not isinstance(images, dict) or not images:
        raise ValueError("images must be a non-empty dict {title: image}")
    if compare_to is not None and compare_to not in images:
        raise ValueError(f"compare_to must be one of the titles {list(images)}, got {compare_to!r}")
    n = len(images)
    fig, axes = new_figure(2, n, figsize=(size * n, 2 * size + 0.5), squeeze=False)
    grams = {}
    for title, img in images.items():
        check_images(f"images[{title!r}]", img, channels=3)
        with torch.no_grad():
            grams[title] = gram_matrix(extractor(img[:1], [layer])[layer])[0].cpu()
    vmax = max(float(g[:num_channels, :num_channels].max()) for g in grams.values())
    for j, (title, img) in enumerate(images.items()):
        _show(axes[0, j], img, title)
        g = grams[title][:num_channels, :num_channels].clamp_min(0)
        im = axes[1, j].imshow(g.numpy(), cmap="viridis", norm=PowerNorm(0.5, vmin=0, vmax=vmax))
        text = f"G at {layer} ({num_channels}×{num_channels} corner)"
        if compare_to is not None:
            dist = 0.25 * float((grams[title] - grams[compare_to]).pow(2).sum())
            text += f"\n$E_l$ to {compare_to}: {dist:.2e}"
        axes[1, j].set_title(text, fontsize=8)
        axes[1, j].set_xticks([])
        axes[1, j].set_yticks([])
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.8, label="$G_{ij}$ (square-root colour scale)")
    return fig


def plot_results(results: dict, reference: dict | None = None, size: float = 2.2):
    """One row: the ``reference`` images ({title: image}), then each result ({title: StyleResult})."""
    if not isinstance(results, dict) or not results:
        raise ValueError("results must be a non-empty dict {title: StyleResult}")
    reference = reference or {}
    n = len(reference) + len(results)
    fig, axes = new_figure(1, n, figsize=(size * n, size + 0.4), squeeze=False)
    for ax, (title, img) in zip(axes[0], reference.items()):
        _show(ax, img, title)
    for ax, (title, res) in zip(axes[0, len(reference):], results.items()):
        if not isinstance(res, StyleResult):
            raise TypeError(f"results[{title!r}] must be a StyleResult, got {type(res).__name__}")
        _show(ax, res.image, title)
    return fig


def plot_snapshots(result: StyleResult, max_snapshots: int = 8, size: float = 1.9):
    """The image along the optimisation: x at step 0 (the start), …, the last step."""
    if not isinstance(result, StyleResult):
        raise TypeError(f"result must be a StyleResult, got {type(result).__name__}")
    max_snapshots = check_int("max_snapshots", max_snapshots, 2)
    snaps = result.snapshots
    if len(snaps) > max_snapshots:
        idx = torch.linspace(0, len(snaps) - 1, max_snapshots).round().long().unique().tolist()
        snaps = [snaps[i] for i in idx]
    fig, axes = new_figure(1, len(snaps), figsize=(size * len(snaps), size + 0.4), squeeze=False)
    for ax, (step, img) in zip(axes[0], snaps):
        _show(ax, img, f"step {step}")
    return fig


def plot_losses(results: dict, x: str = "step"):
    """Loss curves L_total (and its terms) against ``x`` = ``"step"`` or ``"seconds"``, log scale."""
    check_choice("x", x, ("step", "seconds"))
    if not isinstance(results, dict) or not results:
        raise ValueError("results must be a non-empty dict {title: StyleResult}")
    fig, ax = new_figure(figsize=(6, 3.6))
    for title, res in results.items():
        total = res.history["total"]
        steps = torch.arange(1, len(total) + 1).float()
        xs = steps * res.seconds_per_step if x == "seconds" else steps
        line, = ax.plot(xs.numpy(), total, label=f"{title}: total")
        for term, style in (("content", "--"), ("style", ":")):
            vals = res.history[term]
            if any(v > 0 for v in vals):
                ax.plot(xs.numpy(), vals, style, color=line.get_color(), label=f"{title}: {term}")
    ax.set_yscale("log")
    lowest = min(min(res.history["total"]) for res in results.values())
    ax.set_ylim(bottom=lowest / 30)  # a term that starts at 0 (content, from p) would squash the plot
    ax.set_xlabel("optimisation step" if x == "step" else "seconds")
    ax.set_ylabel("loss (weighted)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def plot_style_transfer(
    extractor: FeatureExtractor,
    content: str = "astronaut",
    style: str = "brick",
    log10_style_weight: float = 3.0,
    content_layer: str = GATYS_CONTENT_LAYER,
    style_layers: str = "conv1_1 … conv5_1",
    size: int = 128,
    steps: int = 50,
    tv_weight: float = 0.0,
    optimizer: str = "lbfgs",
    progress: bool = True,
):
    """Run style transfer with the slider's settings and show content | style | result.

    The sliders: β/α = 10^``log10_style_weight`` (α = 1), the ``content_layer``, the set of
    ``style_layers`` (a key of :data:`STYLE_LAYER_SETS`), the image ``size`` in pixels.
    """
    check_choice("content", content, IMAGES)
    check_choice("style", style, IMAGES)
    log10_style_weight = check_float("log10_style_weight", log10_style_weight, -3.0, 12.0)
    check_choice("style_layers", style_layers, STYLE_LAYER_SETS)
    size = check_int("size", size, 16, 1024)
    p, a = load_image(content, size), load_image(style, size)
    res = synthesize(
        extractor, content=p, style=a, content_layer=content_layer,
        style_layers=STYLE_LAYER_SETS[style_layers], style_weight=10.0 ** log10_style_weight,
        tv_weight=tv_weight, init="content", optimizer=optimizer, steps=steps, progress=progress,
    )
    fig = plot_results(
        {f"β/α = 1e{log10_style_weight:g}": res},
        reference={f"content: {content}": p, f"style: {style}": a}, size=2.6,
    )
    fig.suptitle(
        f"{size} px, content {content_layer}, style {style_layers}, {steps} {optimizer} steps "
        f"({res.seconds:.0f} s)", fontsize=9,
    )
    return fig


def plot_layer_explorer(extractor: FeatureExtractor, image: str = "chelsea", layer: str = "conv1_1",
                        size: int = 128):
    """Slider figure: feature maps of a shipped image at any VGG19 layer."""
    check_choice("image", image, IMAGES)
    check_choice("layer", layer, VGG19_LAYERS)
    size = check_int("size", size, 16, 1024)
    return plot_feature_maps(extractor, load_image(image, size), layer)

