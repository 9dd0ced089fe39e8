"""Showing images and making figures.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so a plotting function
can be called a hundred times (by a slider) without leaking figures, runs headless in CI, and the
same function makes the slide's picture. In a notebook, a returned figure displays itself.
"""

from __future__ import annotations

import os

import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from .validation import check_int, check_tensor


def _register_notebook_display() -> None:
    """Show pyplot-free figures as PNG in IPython/Jupyter (pyplot's inline backend only registers
    its formatter once pyplot is in use, so without this a returned Figure prints as text)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]
    formatter.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


_register_notebook_display()


def new_figure(nrows: int = 1, ncols: int = 1, figsize=(6, 4), **subplot_kw):
    """Return ``(fig, axes)`` from a pyplot-free ``Figure`` (``axes`` as ``Figure.subplots`` gives)."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, **subplot_kw)
    return fig, axes


def check_showable(name: str, images, ndim=(3, 4)) -> torch.Tensor:
    """Check images about to be shown or saved: float tensors in the models' range [−1, 1].

    Values outside (noised x_t) are clamped for showing; a uint8 batch or one that looks like
    [0, 255] (no negative value and a maximum above 2.5) is refused with the conversion to use.
    """
    if isinstance(images, torch.Tensor) and not images.is_floating_point():
        raise TypeError(f"{name} must be float images in [-1, 1], got dtype {images.dtype}; "
                        "convert with images.float() / 127.5 - 1")
    check_tensor(name, images, ndim=ndim)
    if images.numel() and float(images.min()) >= 0 and float(images.max()) > 2.5:
        raise ValueError(f"{name} must be in [-1, 1]; got values from {float(images.min()):.4g} to "
                         f"{float(images.max()):.4g} (divide by 127.5 and subtract 1)")
    return images


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """Map images from the models' [-1, 1] to [0, 1] for showing or saving (clamped)."""
    return ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """Tile a batch (B, C, H, W) in [-1, 1] into one (3, H', W') image in [0, 1] (torchvision's make_grid)."""
    check_showable("images", images)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    nrow = check_int("nrow", nrow, 1)
    return make_grid(to_unit(images), nrow=nrow, padding=padding, pad_value=1.0)


def show_images(images: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None, scale: float = 0.6):
    """Show a batch (B, C, H, W) in [-1, 1] as a grid. Returns the figure (or draws into ``ax``)."""
    grid = image_grid(images, nrow=nrow)
    fig = None
    if ax is None:
        ncols = min(nrow, images.shape[0])
        nrows = -(-images.shape[0] // nrow)
        h, w = images.shape[-2:]
        width = max(2.0, scale * ncols * w / 28)
        height = max(1.5, scale * nrows * h / 28 + (0.3 if title else 0))
        fig, ax = new_figure(figsize=(min(width, 14), min(height, 14)))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig if fig is not None else ax.figure


def show_image_row(images, titles=None, size: float = 2.5):
    """Show a list of single images (each (1, C, H, W) or (C, H, W), in [-1, 1]) side by side."""
    images = list(images)
    if not images:
        raise ValueError("images must contain at least one image")
    for i, img in enumerate(images):
        check_showable(f"images[{i}]", img)
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image ({len(images)}), got {len(titles)}")
    fig, axes = new_figure(1, len(images), figsize=(size * len(images), size + 0.4), squeeze=False)
    for i, (ax, img) in enumerate(zip(axes[0], images)):
        img = img[0] if img.ndim == 4 else img
        arr = to_unit(img).permute(1, 2, 0).numpy()
        ax.imshow(arr.squeeze(-1) if arr.shape[-1] == 1 else arr, cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    return fig


def save_images(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8) -> None:
    """Save a batch in [-1, 1] as one PNG grid (torchvision's save_image on the [0, 1] images)."""
    from torchvision.utils import save_image

    check_showable("images", images, ndim=4)
    save_image(to_unit(images), str(path), nrow=nrow, padding=2, pad_value=1.0)


def plot_class_histogram(scores: dict, title: str | None = None):
    """Bar chart of the predicted-class histogram from :func:`course_lib.metrics.score_digits`, with the uniform level.

    The title reports the confident share, the class entropy and the Fréchet ratio. Returns a Figure.
    """
    if not isinstance(scores, dict) or "class_histogram" not in scores:
        raise TypeError("scores must be the dict returned by score_digits(images)")
    counts = scores["class_histogram"]
    check_tensor("scores['class_histogram']", counts, shape=(10,))
    share = counts.double() / counts.sum()
    fig, ax = new_figure(figsize=(5, 3))
    ax.bar(range(10), share.numpy(), color="tab:blue")
    ax.axhline(1 / 10, color="k", ls="--", lw=1, label="uniform (entropy 1)")
    ax.set_xticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("share of samples")
    ax.set_ylim(0, max(0.3, float(share.max()) * 1.1))
    ax.legend(loc="upper right", fontsize=8)
    parts = [f"confident {scores['confident_share']:.0%}", f"entropy {scores['class_entropy']:.2f}"]
    if scores.get("frechet_ratio") is not None:
        parts.append(f"FD {scores['frechet_ratio']:.1f}× real")
    ax.set_title((title + "\n" if title else "") + ", ".join(parts), fontsize=10)
    return fig
