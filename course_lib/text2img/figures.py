"""Figures for notebook 08 (text to image): pure ``plot_x(**params) -> Figure`` functions.

They draw what they are given. :func:`plot_prompt_panel` is the one that asks the model for
pictures (it samples; it never trains), so the prompt panel's controls can call it again and again.
"""

from __future__ import annotations

import math
import textwrap
from functools import lru_cache

import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..classifier import check_digits, classify
from ..validation import check_int, check_tensor
from ..viz import image_grid, new_figure, to_unit
from .captions import measure
from .pipeline import DEFAULT_GUIDANCE, DEFAULT_NFE, AttentionRecord, TextToImage, generate
from .tokenizer import END, START, PromptError, to_english

# ----------------------------------------------------------------------------- Chinese in figures

#: Fonts with Chinese characters that figures use when one is installed (else Chinese prompts are
#: shown in English, marked "zh:", rather than as empty boxes).
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
             "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "AR PL UMing CN")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font with Chinese characters, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def shown(text: str) -> str:
    """``text`` as a figure can show it: unchanged when it has no Chinese or a Chinese font is
    installed; otherwise its English reading, "zh: a bold seven" (see :func:`~.tokenizer.to_english`)."""
    if cjk_font() is None and _has_cjk(text):
        try:
            return "zh: " + to_english(text)
        except PromptError:
            return text
    return text


def _has_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def text_font() -> dict:
    """Keyword arguments for matplotlib text that can hold Chinese characters (empty without such a font)."""
    return {"fontfamily": ["DejaVu Sans", cjk_font()]} if cjk_font() else {}


# ----------------------------------------------------------------------------- the pipeline


_BOXES = {  # name: (x, y, text, colour) on a 12 × 5 canvas
    "prompt": (0.2, 3.6, "prompt", "#f3f3f3"),
    "tokens": (2.6, 3.6, "tokenizer\n<start> a bold seven <end>", "#f3f3f3"),
    "text": (5.7, 3.6, "text encoder\n(CLIP-mini, frozen)\ntext_emb (B, L, D)", "#dbe9f6"),
    "noise": (0.2, 0.7, "noise z_T\n4×7×7", "#f3f3f3"),
    "unet": (4.6, 0.7, "denoiser: U-Net\nwith cross-attention\n× nfe DDIM steps", "#fde2c8"),
    "latent": (7.9, 0.7, "latent z_0\n4×7×7", "#f3f3f3"),
    "vae": (9.9, 2.1, "VAE decoder\n(vae_latent)", "#dff0d8"),
    "image": (9.9, 3.6, "picture\n28×28", "#f3f3f3"),
}


def plot_pipeline():
    """The text-to-image pipeline: text → tokens → encoder → cross-attention ← latent ← noise; decoder → picture."""
    fig, ax = new_figure(figsize=(11, 4.6))
    ax.set_xlim(-0.1, 12.2)
    ax.set_ylim(0, 5)
    ax.set_axis_off()
    centres = {}
    for name, (x, y, text, colour) in _BOXES.items():
        w, h = (2.1, 1.05) if name != "unet" else (2.7, 1.25)
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="0.3", lw=1))
        if name == "prompt":
            text = f'"a bold seven"\n"{shown("一个粗的七")}"'
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5, **text_font())
        centres[name] = (x, y, w, h)

    def arrow(a, b, label="", a_side="right", b_side="left", style="-|>"):
        def point(name, side):
            x, y, w, h = centres[name]
            return {"right": (x + w, y + h / 2), "left": (x, y + h / 2), "top": (x + w / 2, y + h),
                    "bottom": (x + w / 2, y)}[side]
        p, q = point(a, a_side), point(b, b_side)
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle=style, mutation_scale=12, lw=1.2, color="0.25"))
        if label and abs(q[0] - p[0]) < abs(q[1] - p[1]):   # a steep arrow: the label beside it
            ax.text((p[0] + q[0]) / 2 + 0.15, (p[1] + q[1]) / 2, label, ha="left", va="center", fontsize=7.5,
                    color="0.2")
        elif label:                                          # a flat arrow: the label above it
            ax.text((p[0] + q[0]) / 2, (p[1] + q[1]) / 2 + 0.12, label, ha="center", fontsize=7.5, color="0.2")

    arrow("prompt", "tokens")
    arrow("tokens", "text", "ids, mask")
    arrow("text", "unet", "keys, values", "bottom", "top")
    arrow("noise", "unet", "z_t: the queries")
    arrow("unet", "latent")
    arrow("latent", "vae", "", "right", "bottom")
    arrow("vae", "image", "", "top", "bottom")
    ax.text(6.0, 0.25, "guidance: ε̃ = (1 + w) ε(z_t, prompt) − w ε(z_t, negative prompt)", ha="center",
            fontsize=8.5, color="0.2")
    ax.set_title("Text to image, as Stable Diffusion does it: only the denoiser is trained here; "
                 "the text encoder and the VAE are frozen", fontsize=10)
    return fig


# ----------------------------------------------------------------------------- data and measurers


def plot_captioned_digits(images: torch.Tensor, captions: list, ncols: int = 8):
    """Digits with their captions (one caption per image) underneath."""
    check_digits("images", images)
    if len(captions) != len(images):
        raise ValueError(f"captions must hold one caption per image ({len(images)}), got {len(captions)}")
    ncols = check_int("ncols", ncols, 1)
    nrows = math.ceil(len(images) / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(1.75 * ncols, 1.9 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(to_unit(images[i, 0]).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(textwrap.fill(shown(captions[i]), 20) or '""', fontsize=7, **text_font())
    return fig


def plot_measurers(images: torch.Tensor, ncols: int = 8):
    """What the measurers see: the ink (above half intensity), its centre line (red) and the slant
    axis through the centre of mass (blue), with the numbers and words under each digit."""
    from skimage.morphology import skeletonize

    check_digits("images", images)
    found = measure(images)
    ncols = check_int("ncols", ncols, 1)
    nrows = math.ceil(len(images) / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(1.6 * ncols, 1.9 * nrows), squeeze=False)
    classes = found.classes()
    names = {"thickness": ("thin", "bold"), "slant": ("left", "upright", "right"), "size": ("small", "large")}
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= len(images):
            continue
        img = to_unit(images[i, 0]).numpy()
        mask = img > 0.5
        rgb = np.stack([img * 0.55] * 3, -1)
        rgb[skeletonize(mask)] = (1.0, 0.2, 0.2)
        ax.imshow(rgb, interpolation="nearest")
        w = img.sum()
        ys, xs = np.mgrid[0:28, 0:28]
        cx, cy = (img * xs).sum() / w, (img * ys).sum() / w
        s = math.tan(math.radians(float(found.slant_deg[i])))
        ax.plot([cx - s * -9, cx - s * 9], [cy - 9, cy + 9], color="#3b8bff", lw=1.5)
        ax.set_xlim(-0.5, 27.5)
        ax.set_ylim(27.5, -0.5)
        words = [names[k][int(classes[k][i])] for k in names if int(classes[k][i]) >= 0]
        ax.set_title(f"{float(found.thickness_px[i]):.1f} px, {round(float(found.slant_deg[i])):+d}°, "
                     f"h {int(found.height_px[i])}\n{' '.join(words) or '—'}", fontsize=7)
    return fig


# ----------------------------------------------------------------------------- CLIP in miniature


def plot_similarity(similarity: torch.Tensor, images: torch.Tensor, prompts: list, title: str = ""):
    """A heatmap of cosine similarities (N, P) between N digits (shown along the left) and P prompts."""
    check_tensor("similarity", similarity, ndim=2)
    check_digits("images", images)
    n, p = similarity.shape
    fig, (ax_img, ax) = new_figure(1, 2, figsize=(1.2 + 0.7 * p, 0.5 * n + 1.6),
                                   gridspec_kw={"width_ratios": [1, p]})
    ax_img.imshow(image_grid(images, nrow=1, padding=1).permute(1, 2, 0).numpy(), aspect="auto")
    ax_img.set_axis_off()
    im = ax.imshow(similarity.numpy(), cmap="viridis", aspect="auto")
    best = similarity.argmax(1)
    for row in range(n):
        ax.add_patch(FancyBboxPatch((best[row] - 0.45, row - 0.45), 0.9, 0.9, boxstyle="square,pad=0",
                                    fill=False, ec="white", lw=1.5))
    ax.set_xticks(range(p), [shown(q) for q in prompts], rotation=60, ha="right", fontsize=8, **text_font())
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, shrink=0.8, label="cosine similarity")
    ax.set_title(title or "which caption fits each digit (white: the best)", fontsize=10)
    return fig


def plot_retrieval(results: dict):
    """Rows of retrieved digits: ``results`` maps a prompt to its best digits (k, 1, 28, 28), best first."""
    if not isinstance(results, dict) or not results:
        raise ValueError("results must be a non-empty dict: prompt -> images (k, 1, 28, 28)")
    k = max(len(v) for v in results.values())
    fig, axes = new_figure(len(results), 1, figsize=(0.75 * k + 2.5, 0.95 * len(results) + 0.2), squeeze=False)
    for ax, (prompt, images) in zip(axes[:, 0], results.items()):
        check_digits(f"results[{prompt!r}]", images)
        ax.imshow(image_grid(images, nrow=k).permute(1, 2, 0).numpy())
        ax.set_axis_off()
        ax.set_title(f'"{shown(prompt)}"', fontsize=9, loc="left", **text_font())
    return fig


# ----------------------------------------------------------------------------- the prompt panel


def plot_prompt_panel(prompt: str = "a bold seven", negative_prompt: str = "", guidance_scale: float = DEFAULT_GUIDANCE,
                      steps: int = DEFAULT_NFE, seed: int = 0, pipe: TextToImage | None = None, n: int = 8):
    """Draw ``n`` digits for ``prompt`` (DDIM with ``steps`` network evaluations, guidance w,
    ``negative_prompt`` in place of ∅, initial noise from ``seed``) and show what the classifier
    and the measurers read in each. A prompt with an unknown word draws its one-line message instead."""
    if pipe is None:
        raise ValueError("pipe must be the text-to-image model, e.g. load_pretrained('text2img')")
    try:
        images = generate(pipe, prompt, n, negative_prompt=negative_prompt, guidance_scale=guidance_scale, nfe=steps,
                          seed=seed, progress=False).cpu()
    except PromptError as err:  # a word the model does not know: say so in the panel, in one line
        fig, ax = new_figure(figsize=(1.45 * n, 1.0))
        ax.set_axis_off()
        ax.text(0, 0.5, str(err).split("; the vocabulary")[0] + " (the vocabulary: see §3)", fontsize=10,
                color="tab:red", va="center")
        return fig
    digits = classify(images)[0].argmax(1)
    found = measure(images)
    fig, axes = new_figure(1, n, figsize=(1.45 * n, 2.3), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(to_unit(images[i, 0]).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(f"reads {int(digits[i])}\n{float(found.thickness_px[i]):.1f} px {round(float(found.slant_deg[i])):+d}°",
                     fontsize=8)
    neg = f'   negative: "{shown(negative_prompt)}"' if negative_prompt else ""
    fig.suptitle(f'"{shown(prompt)}"{neg}   w = {guidance_scale:g}, {steps} steps, seed {seed}', fontsize=10,
                 **text_font())
    return fig


# ----------------------------------------------------------------------------- cross-attention maps


def plot_cross_attention(images: torch.Tensor, record: AttentionRecord, image: int = 0, columns: int = 6):
    """Which word shapes which pixels: for one sample, the cross-attention map of every word of its
    prompt (rows) at ``columns`` steps of the denoising (from noise to the end), next to the picture.
    ``images`` and ``record`` are what ``generate(..., return_attention=True)`` returns.

    Each map is the attention weight that the latent's positions give that token (averaged over
    heads and blocks), on the 7×7 latent grid stretched over the 28×28 picture. A row sums to 1
    over the tokens at every position, so the maps of one column share one colour scale.
    """
    check_digits("images", images)
    image = check_int("image", image, 0, len(record.words) - 1)
    columns = check_int("columns", columns, 1)
    words = record.words[image]
    rows = [i for i, w in enumerate(words) if w not in (START, END)] or list(range(len(words)))
    k = len(record.timesteps)
    picks = sorted({round(i * (k - 1) / max(columns - 1, 1)) for i in range(columns)})
    fig, axes = new_figure(len(rows), len(picks) + 1, figsize=(1.35 * (len(picks) + 1) + 0.6, 1.35 * len(rows) + 0.6),
                           squeeze=False)
    picture = to_unit(images[image, 0]).numpy()
    for r, token in enumerate(rows):
        for c, step in enumerate(picks):
            ax = axes[r][c]
            maps = record.maps[step, image, :len(words)]
            ax.imshow(picture, cmap="gray", vmin=0, vmax=1, extent=(0, 28, 28, 0))
            ax.imshow(maps[token].numpy(), cmap="magma", alpha=0.7, extent=(0, 28, 28, 0),
                      vmin=0, vmax=float(maps[rows].max()))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t = {record.timesteps[step]}", fontsize=8)
            if c == 0:
                ax.set_ylabel(words[token] if cjk_font() or not _has_cjk(words[token]) else
                              f"{to_english(words[token]) or 'link word'} (zh)",  # 的 only links: no English
                              fontsize=9, rotation=0, ha="right", va="center", **text_font())
        axes[r][-1].set_axis_off()
    axes[0][-1].imshow(picture, cmap="gray", vmin=0, vmax=1)
    axes[0][-1].set_title("picture", fontsize=8)
    prompt = ("" if any(_has_cjk(w) for w in words) else " ").join(w for w in words if w not in (START, END))
    fig.suptitle(f'cross-attention per word: "{shown(prompt)}"', fontsize=10, **text_font())
    return fig


def plot_prompt_attention(prompt: str = "a bold right-leaning seven", pipe: TextToImage | None = None,
                          nfe: int = DEFAULT_NFE, seed: int = 3, columns: int = 6):
    """Draw one digit for ``prompt`` while recording its cross-attention, and show the maps
    (:func:`plot_cross_attention`): the one-call version, for slides."""
    if pipe is None:
        raise ValueError("pipe must be the text-to-image model, e.g. load_pretrained('text2img')")
    images, record = generate(pipe, [prompt], nfe=nfe, seed=seed, return_attention=True, progress=False)
    return plot_cross_attention(images, record, image=0, columns=columns)


# ----------------------------------------------------------------------------- measurements


def plot_guidance_sweep(sweep: dict):
    """Accuracy (digit) and diversity against the guidance scale w, with a row of samples at each w.

    ``sweep``: {w: :class:`~.evaluate.PromptScores`} (e.g. from :func:`~.evaluate.guidance_sweep`).
    """
    if not isinstance(sweep, dict) or not sweep:
        raise ValueError("sweep must be a non-empty dict: w -> PromptScores")
    scales = sorted(sweep)
    fig = new_figure(figsize=(11, 3.2 + 0.75 * len(scales)))[0]
    fig.clear()
    grid = fig.add_gridspec(len(scales), 2, width_ratios=[1.1, 1])
    ax = fig.add_subplot(grid[:, 0])
    acc = [sweep[w].digit_accuracy if sweep[w].digit_accuracy is not None else sweep[w].class_entropy for w in scales]
    ax.plot(scales, acc, "o-", color="tab:blue", label="digit accuracy")
    ax.plot(scales, [sweep[w].diversity for w in scales], "s--", color="tab:red", label="diversity (1 = real digits)")
    if all(sweep[w].attribute_accuracy is not None for w in scales):
        ax.plot(scales, [sweep[w].attribute_accuracy for w in scales], "^-", color="tab:green",
                label="attribute accuracy")
    ax.set_xlabel("guidance scale w")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"{sweep[scales[0]].n} samples per w", fontsize=10)
    for r, w in enumerate(scales):
        sub = fig.add_subplot(grid[r, 1])
        sub.imshow(image_grid(sweep[w].images[:10], nrow=10).permute(1, 2, 0).numpy())
        sub.set_axis_off()
        sub.set_title(f"w = {w:g}", fontsize=8, loc="left")
    return fig


def plot_negative_prompt(effect: dict, count: int = 10):
    """The same seeds without and with a negative prompt (two rows), and the measured attribute's
    distribution for both. ``effect``: :func:`~.evaluate.negative_prompt_effect`'s result."""
    without, with_negative = effect["without"], effect["with"]
    key = {"thickness": "thickness_px", "slant": "slant_deg", "size": "height_px"}[effect["attribute"]]
    fig = new_figure(figsize=(11, 3.4))[0]
    fig.clear()
    grid = fig.add_gridspec(2, 2, width_ratios=[1.3, 1])
    for r, (scores, label) in enumerate(((without, 'negative prompt ""'),
                                         (with_negative, f'negative prompt "{with_negative.negative_prompt}"'))):
        sub = fig.add_subplot(grid[r, 0])
        sub.imshow(image_grid(scores.images[:count], nrow=count).permute(1, 2, 0).numpy())
        sub.set_axis_off()
        sub.set_title(label, fontsize=9, loc="left")
    ax = fig.add_subplot(grid[:, 1])
    a = getattr(without.measured, key).numpy()
    b = getattr(with_negative.measured, key).numpy()
    bins = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 30)
    ax.hist(a, bins, alpha=0.6, label='""')
    ax.hist(b, bins, alpha=0.6, label=f'"{with_negative.negative_prompt}"')
    ax.set_xlabel(f"{effect['attribute']} ({effect['unit']})")
    ax.legend(fontsize=8)
    ax.set_title(f"mean {effect['mean_without']:.2f} → {effect['mean_with']:.2f} {effect['unit']} "
                 f"(n = {without.n} each)", fontsize=9)
    return fig
