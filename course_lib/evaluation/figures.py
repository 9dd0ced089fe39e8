"""Figures for notebook 11 (evaluation and responsibility). Each is a pure function returning a
``Figure`` that draws what it is given (the toy explorers compute precision and recall of 2-D
points, which takes milliseconds); static first, then the same function behind sliders."""

from __future__ import annotations

import math

import torch

from ..data import ring_centers, ring_of_gaussians
from ..metrics import frechet_extrapolation, psnr
from ..validation import check_float, check_images, check_instance, check_int, check_tensor
from ..viz import image_grid, new_figure, to_unit
from .detection import (
    WATERMARK_STRENGTH,
    WATERMARK_THRESHOLD,
    watermark_pattern,
    watermark_statistic,
)
from .memorisation import MemorisationReport
from .precision_recall import precision_recall

REAL_COLOR, FAKE_COLOR = "#1f77b4", "#d62728"


# ----------------------------------------------------------------------------- the Fréchet distance


def plot_frechet_bias(fds_by_n: dict, title: str = "Fréchet distance of real digits to real digits"):
    """The FD of n *real* digits to the held-out reference against n (log axis): the mean and the
    2.5–97.5 % range of the repeats at each n (from :func:`course_lib.metrics.frechet_by_sample_size`),
    and the fit FD(n) = FD_∞ + k/n. Every point above 0 is estimation bias."""
    check_instance("fds_by_n", fds_by_n, dict, hint="{n: FDs (repeats,)}")
    sizes = sorted(fds_by_n)
    if len(sizes) < 2:
        raise ValueError("fds_by_n must hold at least two sample sizes")
    values = [check_tensor(f"fds_by_n[{n}]", torch.as_tensor(fds_by_n[n], dtype=torch.float64), ndim=1) for n in sizes]
    means = [float(v.mean()) for v in values]
    low = [float(v.quantile(0.025)) for v in values]
    high = [float(v.quantile(0.975)) for v in values]
    fd_inf, k = frechet_extrapolation(sizes, means)
    fig, ax = new_figure(figsize=(7, 3.8))
    ax.fill_between(sizes, low, high, color=REAL_COLOR, alpha=0.2, label="95 % of single measurements")
    ax.plot(sizes, means, "o-", color=REAL_COLOR, label=f"mean of {len(values[0])} draws")
    grid = torch.logspace(math.log10(sizes[0]), math.log10(sizes[-1]), 100, dtype=torch.float64)
    ax.plot(grid, fd_inf + k / grid, "--", color="k", lw=1, label=f"fit {fd_inf:.2f} + {k:.0f}/n")
    ax.axhline(fd_inf, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("n, the number of samples")
    ax.set_ylabel("Fréchet distance")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_ranking_flips(flips_by_n: dict, labels=("A", "B")):
    """How often n samples rank two models the wrong way round, against n: ``flips_by_n`` maps n
    to a :func:`course_lib.metrics.ranking_flip_rate` result. Left: the flip rate; right: the
    FDs of both models' repeats at the smallest and the largest n, with the full-pool values."""
    check_instance("flips_by_n", flips_by_n, dict, hint="{n: ranking_flip_rate(...)}")
    sizes = sorted(flips_by_n)
    if not sizes:
        raise ValueError("flips_by_n must hold at least one sample size")
    fig, (ax, ax_fd) = new_figure(1, 2, figsize=(10, 3.6))
    ax.plot(sizes, [100 * flips_by_n[n]["flip_rate"] for n in sizes], "o-", color=FAKE_COLOR)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("n, samples per model")
    ax.set_ylabel("wrong ranking (% of draws)")
    ax.set_ylim(bottom=0)
    ax.set_title("how often n samples rank the two wrong", fontsize=10)
    for i, n in enumerate(dict.fromkeys((sizes[0], sizes[-1]))):
        r = flips_by_n[n]
        for j, (key, label, color) in enumerate((("fds_a", labels[0], REAL_COLOR), ("fds_b", labels[1], FAKE_COLOR))):
            x = 2 * i + j + 0.15 * torch.linspace(-1, 1, len(r[key]))
            ax_fd.plot(x.numpy(), r[key].numpy(), ".", color=color, alpha=0.6,
                       label=label if i == 0 else None)
            ax_fd.hlines(r[key.replace("fds", "fd")], 2 * i + j - 0.3, 2 * i + j + 0.3, color="k", lw=1.5)
    ax_fd.set_xticks([2 * i + 0.5 for i in range(len(dict.fromkeys((sizes[0], sizes[-1]))))],
                     [f"n = {n}" for n in dict.fromkeys((sizes[0], sizes[-1]))])
    ax_fd.set_ylabel("Fréchet distance")
    ax_fd.set_title("each draw's FD (dots); the full pools' FD (bars)", fontsize=10)
    ax_fd.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- precision and recall


def toy_generator(n: int, modes=range(8), spread: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Points from a stand-in generator on the ring of 8 Gaussians (radius 2): equal shares of
    the listed ``modes``, each a Gaussian of std ``spread`` (the data have 0.05). Bare."""
    gen = torch.Generator().manual_seed(seed)
    centres = ring_centers(8, 2.0)[list(modes)]
    which = torch.randint(0, centres.shape[0], (n,), generator=gen)
    return centres[which] + spread * torch.randn(n, 2, generator=gen)


def plot_ring_explorer(modes_covered: int = 8, spread: float = 0.05, k: int = 3, n: int = 1000):
    """Precision and recall where the truth is known: 1000 points of the ring of 8 Gaussians
    (std 0.05) against a stand-in generator that covers the first ``modes_covered`` modes with
    Gaussians of std ``spread``. Left: the points and the generator's k-NN balls; right: the
    two numbers (and Naeem's coverage)."""
    modes_covered = check_int("modes_covered", modes_covered, 1, 8)
    spread = check_float("spread", spread, 0.005, 1.0)
    k = check_int("k", k, 1, 20)
    n = check_int("n", n, 50, 5000)
    real = ring_of_gaussians(n, std=0.05, generator=torch.Generator().manual_seed(1))
    fake = toy_generator(n, range(modes_covered), spread, seed=2)
    pr = precision_recall(real, fake, k=k)
    fig, (ax, ax_bar) = new_figure(1, 2, figsize=(10, 4.4), width_ratios=(1.3, 1))
    ax.scatter(real[:, 0], real[:, 1], s=3, color=REAL_COLOR, label="data")
    ax.scatter(fake[:, 0], fake[:, 1], s=3, color=FAKE_COLOR, label="generator")
    ax.set_aspect("equal")
    lim = 2.0 + max(0.4, 4 * spread)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.legend(fontsize=8, loc="center")
    ax.set_title(f"generator: {modes_covered} of 8 modes, spread {spread:g}", fontsize=10)
    values = (pr.precision, pr.recall, pr.coverage)
    ax_bar.bar(["precision\n(fidelity)", "recall\n(coverage)", "coverage\n(Naeem)"], values,
               color=[FAKE_COLOR, REAL_COLOR, "grey"])
    for i, v in enumerate(values):
        ax_bar.text(i, v + 0.02, f"{v:.2f}", ha="center")
    ax_bar.axhline(modes_covered / 8, color="k", ls="--", lw=1, label=f"share of modes covered {modes_covered}/8")
    ax_bar.set_ylim(0, 1.15)
    ax_bar.legend(fontsize=8, loc="upper right")
    ax_bar.set_title(f"k = {k}, {n} points each", fontsize=10)
    return fig


def plot_trilemma(rows: list[dict]):
    """The comparison table as two pictures: precision (quality) against recall (coverage), the
    area of each dot growing with the class entropy; and the cost, milliseconds per picture on a
    log axis. ``rows`` from :func:`~.compare.comparison_table` (with ``ms_per_image`` for the
    right panel)."""
    check_instance("rows", rows, list)
    if not rows:
        raise ValueError("rows must hold at least one model")
    fig, (ax, ax_cost) = new_figure(1, 2, figsize=(11, 4.2), width_ratios=(1.2, 1))
    colors = [f"C{i}" for i in range(len(rows))]
    for i, (row, color) in enumerate(zip(rows, colors)):
        ax.scatter(row["recall"], row["precision"], s=30 + 170 * row["class_entropy"], color=color, alpha=0.8,
                   label=row["label"])
        ax.annotate(str(i + 1), (row["recall"], row["precision"]), fontsize=8, ha="center", va="center")
    ax.legend([f"{i + 1}: {row['label']}" for i, row in enumerate(rows)], fontsize=7, loc="lower left",
              markerscale=0.5)
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall (coverage of real digits)")
    ax.set_ylabel("precision (samples on the real manifold)")
    ax.set_title("quality against coverage (dot size: class entropy)", fontsize=10)
    timed = [(row, color) for row, color in zip(rows, colors) if row.get("ms_per_image")]
    if timed:
        ax_cost.barh([r["label"] for r, _ in timed], [r["ms_per_image"] for r, _ in timed],
                     color=[c for _, c in timed])
        ax_cost.set_xscale("log")
        ax_cost.invert_yaxis()
        ax_cost.set_xlabel("milliseconds per picture (log scale)")
        ax_cost.set_title("sampling cost, measured in the same run", fontsize=10)
    else:
        ax_cost.set_axis_off()
    return fig


# ----------------------------------------------------------------------------- memorisation


def plot_nearest_digits(samples: torch.Tensor, report: MemorisationReport, train: torch.Tensor,
                        count: int = 8, title: str = ""):
    """The ``count`` samples most suspected of copying (lowest d_train / d_held) above the training
    digit nearest to each, with both distances; and the histogram of d_train / d_held over all
    samples, the copy line marked."""
    check_images("samples", samples, pixel_range=True)
    check_instance("report", report, MemorisationReport)
    check_images("train", train, pixel_range=True)
    count = min(check_int("count", count, 1), samples.shape[0])
    ratio = report.d_train / report.d_held.clamp(min=1e-12)
    order = ratio.argsort()[:count]
    fig = new_figure(figsize=(11, 3.6))[0]
    fig.clear()
    grid = fig.add_gridspec(2, count + 4)
    for j, i in enumerate(order.tolist()):
        for r, image in enumerate((samples[i], train[report.nearest_train[i]])):
            ax = fig.add_subplot(grid[r, j])
            ax.imshow(to_unit(image[0]).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{report.d_train[i]:.1f} / {report.d_held[i]:.1f}", fontsize=7)
            if j == 0:
                ax.set_ylabel("sample" if r == 0 else "nearest\ntraining", fontsize=8)
    ax = fig.add_subplot(grid[:, count + 1:])
    ax.hist(ratio.clamp(max=2).numpy(), bins=40, range=(0, 2), color=FAKE_COLOR, alpha=0.8)
    ax.axvline(report.copy_ratio, color="k", ls="--", lw=1, label=f"copy line {report.copy_ratio:g}")
    ax.set_xlabel("d_train / d_held")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    fig.suptitle((title + ": " if title else "") + f"{report.copy_share:.1%} copies "
                 f"(above: d_train / d_held of the most suspect samples)", fontsize=10)
    return fig


# ----------------------------------------------------------------------------- detection and watermarks


def plot_detection_rates(rates: dict, seen=(), title: str = "which pictures the detector calls generated"):
    """Bar chart of a detector's rates (from :func:`~.detection.detection_rates`): generators it
    was trained on (``seen``) in one colour, unseen generators in another, real digits (false
    alarms) in grey; the 50 % line is a coin toss."""
    check_instance("rates", rates, dict)
    names = list(rates)
    colors = ["grey" if n == "real digits" else FAKE_COLOR if n in seen else "#ff7f0e" for n in names]
    fig, ax = new_figure(figsize=(8, 3.6))
    ax.barh(names, [100 * rates[n] for n in names], color=colors)
    for i, n in enumerate(names):
        ax.text(100 * rates[n] + 1, i, f"{rates[n]:.0%}", va="center", fontsize=8)
    ax.axvline(50, color="k", ls=":", lw=1)
    ax.invert_yaxis()
    ax.set_xlim(0, 110)
    ax.set_xlabel("% flagged as generated (red: seen in training, orange: unseen, grey: real = false alarms)")
    ax.set_title(title, fontsize=10)
    return fig


def plot_watermark(images: torch.Tensor, strength: float = WATERMARK_STRENGTH, key: int = 0, noise: float = 0.0):
    """A watermark you cannot see and a detector can: one digit, the same digit marked with
    strength α = ``strength``, their difference ×10, and the detection statistic z of all
    ``images`` without and with the mark (after Gaussian noise of std ``noise``), with the
    threshold. The title gives the PSNR of the marked digits and the share detected."""
    check_images("images", images, pixel_range=True)
    strength = check_float("strength", strength, 0.0, 1.0)
    noise = check_float("noise", noise, 0.0, 1.0)
    key = check_int("key", key, 0)
    pattern = watermark_pattern(key, images.shape[1:])
    marked = (images + strength * pattern).clamp(-1, 1)
    gen = torch.Generator().manual_seed(0)
    noisy_clean = (images + noise * torch.randn(images.shape, generator=gen)).clamp(-1, 1)
    noisy_marked = (marked + noise * torch.randn(images.shape, generator=gen)).clamp(-1, 1)
    z_clean, z_marked = watermark_statistic(noisy_clean, pattern), watermark_statistic(noisy_marked, pattern)
    detected = float((z_marked > WATERMARK_THRESHOLD).double().mean())
    false_alarms = float((z_clean > WATERMARK_THRESHOLD).double().mean())
    fig = new_figure(figsize=(11, 3.3))[0]
    fig.clear()
    grid = fig.add_gridspec(1, 6)
    pictures = (("digit", images[0, 0]), (f"marked, α = {strength:g}", marked[0, 0]),
                ("difference ×10", 0.5 + 5 * (marked[0, 0] - images[0, 0])))
    for j, (name, picture) in enumerate(pictures):
        ax = fig.add_subplot(grid[0, j])
        shown = to_unit(picture).numpy() if j < 2 else picture.clamp(0, 1).numpy()
        ax.imshow(shown, cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    ax = fig.add_subplot(grid[0, 3:])
    bins = torch.linspace(-5, max(12.0, float(z_marked.max()) + 1), 60).numpy()
    ax.hist(z_clean.numpy(), bins=bins, color="grey", alpha=0.7, label="without the mark")
    ax.hist(z_marked.numpy(), bins=bins, color=FAKE_COLOR, alpha=0.7, label="with the mark")
    ax.axvline(WATERMARK_THRESHOLD, color="k", ls="--", lw=1, label=f"threshold z = {WATERMARK_THRESHOLD:g}")
    ax.set_xlabel("detection statistic z")
    ax.legend(fontsize=8)
    ax.set_title(f"noise σ = {noise:g}: {detected:.1%} detected, {false_alarms:.1%} false alarms", fontsize=9)
    fig.suptitle(f"PSNR of the marked digits {float(psnr(marked, images).mean()):.1f} dB "
                 f"({images.shape[0]} digits)", fontsize=10)
    return fig


def plot_watermark_robustness(rows: list[dict]):
    """Detection rate (and false alarms) against each attack, from
    :func:`~.detection.watermark_robustness`: Gaussian noise, a centre crop, a shift."""
    check_instance("rows", rows, list)
    attacks = [a for a in ("noise", "crop", "shift") if any(r["attack"] == a for r in rows)]
    if not attacks:
        raise ValueError("rows must come from watermark_robustness")
    labels = {"noise": "noise std σ", "crop": "side of the centre kept (pixels)", "shift": "shift (pixels)"}
    fig, axes = new_figure(1, len(attacks), figsize=(3.6 * len(attacks), 3.2), squeeze=False)
    for ax, attack in zip(axes[0], attacks):
        sel = [r for r in rows if r["attack"] == attack]
        x = [r["value"] for r in sel]
        ax.plot(x, [100 * r["detected"] for r in sel], "o-", color=FAKE_COLOR, label="marked: detected")
        ax.plot(x, [100 * r["false_alarms"] for r in sel], "s--", color="grey", label="unmarked: false alarms")
        ax.set_xlabel(labels[attack])
        ax.set_ylim(-3, 103)
        if attack == "crop":
            ax.invert_xaxis()
        ax.set_title(attack, fontsize=10)
    axes[0][0].set_ylabel("% of digits")
    axes[0][0].legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- explainability


def plot_saliency(images: torch.Tensor, maps: dict, target: torch.Tensor):
    """Digits (top row) and, one row per method, where the classifier's evidence for ``target``
    lies: red pixels raised the class's logit, blue ones lowered it (``maps``: {method name:
    attributions (B, 1, 28, 28)}, from :func:`~.explain.saliency`)."""
    check_images("images", images, pixel_range=True)
    check_instance("maps", maps, dict)
    b = images.shape[0]
    fig, axes = new_figure(1 + len(maps), b, figsize=(1.3 * b + 1.2, 1.4 * (1 + len(maps)) + 0.3), squeeze=False)
    for j in range(b):
        axes[0][j].imshow(to_unit(images[j, 0]).numpy(), cmap="gray", vmin=0, vmax=1)
        axes[0][j].set_title(f"class {int(target[j])}", fontsize=8)
        for r, (name, m) in enumerate(maps.items(), start=1):
            check_images(f"maps[{name!r}]", m)
            a = m[j, 0]
            scale = float(a.abs().max()) or 1.0
            axes[r][j].imshow(a.numpy(), cmap="bwr", vmin=-scale, vmax=scale)
            if j == 0:
                axes[r][0].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


# ----------------------------------------------------------------------------- cost


def plot_operator_breakdown(profiles: dict, title: str = "where the time of one call goes"):
    """Share of self time per operator, one panel per profiled call (``profiles``: {name:
    :func:`~.cost.profile_call` result}), with each call's measured time in its title."""
    check_instance("profiles", profiles, dict)
    fig, axes = new_figure(1, len(profiles), figsize=(5.2 * len(profiles), 3.4), squeeze=False)
    for ax, (name, prof) in zip(axes[0], profiles.items()):
        ops = prof["operators"]
        ax.barh([o["name"] for o in ops], [100 * o["share"] for o in ops], color="C0")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel("% of self CPU time")
        ax.set_title(f"{name}: {1000 * prof['seconds']:.1f} ms per call", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_sample_rows(rows: dict, count: int = 10):
    """One row of ``count`` digits per entry of ``rows`` {label: images (n, 1, 28, 28)}."""
    check_instance("rows", rows, dict)
    fig, axes = new_figure(len(rows), 1, figsize=(1.0 * count + 2.2, 1.05 * len(rows) + 0.2), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        check_images(f"rows[{label!r}]", images, pixel_range=True)
        ax.imshow(image_grid(images[:count], nrow=count).permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    return fig
