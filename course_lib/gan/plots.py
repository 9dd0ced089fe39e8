"""Figures for the GAN notebooks. Each is a pure function returning a ``Figure`` (static first,
then the same function behind sliders; see CONVENTIONS). They draw what they are given (densities,
training records, samples) and check it first: they are where a notebook calls in.
"""

from __future__ import annotations

import math

import torch

from ..train_loop import TrainRecord
from ..validation import (
    check_choice,
    check_float,
    check_images,
    check_instance,
    check_int,
    check_same_shape,
    check_tensor,
)
from ..viz import image_grid, new_figure
from .losses import EQUILIBRIUM_LOSSES, generator_loss_gradient
from .modes import mode_coverage
from .objective import (
    DATA_DENSITIES,
    LOG4,
    data_density,
    density_grid,
    gaussian_pdf,
    jensen_shannon,
    optimal_discriminator,
    optimal_discriminator_logit,
    training_criterion,
    value_function_on_grid,
)
from .training import HISTORY_KEYS

DATA_COLOR, GEN_COLOR, D_COLOR = "#1f77b4", "#d62728", "#2ca02c"


def plot_objective(gen_mean: float = -1.0, gen_std: float = 0.6, data: str = "gaussian"):
    """The minimax game on the line, for a generator p_g = N(gen_mean, gen_std²).

    Left: p_data, p_g and the optimal discriminator D*(x) = p_data / (p_data + p_g).
    Right: C(G) = V(D*, G) as the generator's mean moves (its spread fixed), with −log 4 marked;
    the title gives V(D*, G), JSD(p_data ‖ p_g) and −log 4 + 2·JSD for the current generator.
    """
    gen_mean = check_float("gen_mean", gen_mean, -6.0, 6.0)
    gen_std = check_float("gen_std", gen_std, 0.05, 4.0)
    check_choice("data", data, DATA_DENSITIES)
    x = density_grid(-8.0, 8.0, 3201)
    p_data = data_density(x, data)
    p_g = gaussian_pdf(x, gen_mean, gen_std)
    d_star = optimal_discriminator(p_data, p_g)
    c = float(training_criterion(p_data, p_g, x))
    jsd = float(jensen_shannon(p_data, p_g, x))

    fig, (ax, ax_c) = new_figure(1, 2, figsize=(11, 3.8), width_ratios=(1.4, 1))
    ax.fill_between(x, p_data, color=DATA_COLOR, alpha=0.3, label="p_data")
    ax.plot(x, p_g, color=GEN_COLOR, lw=2, label="p_g (generator)")
    ax.set_xlim(-5, 5)
    ax.set_ylim(0, max(float(p_data.max()), float(p_g.max()), 0.5) * 1.1)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax_d = ax.twinx()
    ax_d.plot(x, d_star, color=D_COLOR, lw=2, ls="--", label="D*(x)")
    ax_d.axhline(0.5, color=D_COLOR, lw=0.8, ls=":")
    ax_d.set_ylim(-0.02, 1.02)
    ax_d.set_ylabel("D*(x)", color=D_COLOR)
    handles = ax.get_legend_handles_labels()[0] + ax_d.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    ax.set_title(f"V(D*, G) = {c:.3f}    JSD = {jsd:.3f}    −log 4 + 2·JSD = {-LOG4 + 2 * jsd:.3f}", fontsize=10)

    means = torch.linspace(-4.0, 4.0, 81, dtype=torch.float64)
    curve = [float(training_criterion(p_data, gaussian_pdf(x, float(m), gen_std), x)) for m in means]
    ax_c.plot(means, curve, color="black", lw=1.5, label=f"C(G), spread {gen_std:.2f}")
    ax_c.axhline(-LOG4, color="gray", ls="--", lw=1, label="−log 4 (p_g = p_data)")
    ax_c.plot([gen_mean], [c], "o", color=GEN_COLOR, ms=8, label="this generator")
    ax_c.set_xlabel("generator mean")
    ax_c.set_ylabel("C(G) = V(D*, G)")
    ax_c.set_ylim(-LOG4 - 0.05, 0.02)
    ax_c.legend(fontsize=8, loc="lower left")
    ax_c.set_title("the generator's criterion", fontsize=10)
    return fig


def plot_discriminator_perturbations(p_data, p_g, x, directions, epsilons):
    """V(D_ε, G) − V(D*, G) for D_ε = σ(logit D* + ε h), one curve per direction h in
    ``directions`` (tensors like ``x``), at each ε in ``epsilons``: every curve
    peaks at 0 when ε = 0, so no nearby discriminator scores higher than D*."""
    check_tensor("x", x, ndim=1, floating=True)
    for name, p in (("p_data", p_data), ("p_g", p_g)):
        check_same_shape(name, p, x, "x")
        if bool((p < 0).any()):
            raise ValueError(f"{name} must be a density (values >= 0), got a minimum of {float(p.min()):.3g}")
    for i, h in enumerate(directions):
        check_same_shape(f"directions[{i}]", h, x, "x")
    epsilons = check_tensor("epsilons", torch.as_tensor(epsilons, dtype=x.dtype), ndim=1)
    a_star = optimal_discriminator_logit(p_data, p_g)
    d_star = torch.sigmoid(a_star)
    v_star = float(value_function_on_grid(a_star, p_data, p_g, x, logits=True))
    fig, (ax_h, ax_v) = new_figure(1, 2, figsize=(10, 3.5))
    for i, h in enumerate(directions):
        gaps = [float(value_function_on_grid(a_star + float(e) * h, p_data, p_g, x, logits=True)) - v_star
                for e in epsilons]
        ax_v.plot(epsilons, gaps, lw=1.2)
        ax_h.plot(x, torch.sigmoid(a_star + h), lw=1, alpha=0.7,
                  label="D_ε, ε = 1" if i == 0 else None)
    ax_h.plot(x, d_star, color="black", lw=2.5, label="D*")
    mass = p_data + p_g
    seen = x[mass > 1e-3 * float(mass.max())]  # where either density is visible
    ax_h.set_xlim(float(seen.min()) - 0.5, float(seen.max()) + 0.5)
    ax_h.set_xlabel("x")
    ax_h.set_ylabel("D(x)")
    ax_h.legend(fontsize=8)
    ax_h.set_title("D* and some perturbed discriminators", fontsize=10)
    ax_v.axhline(0, color="black", lw=0.8)
    ax_v.axvline(0, color="gray", lw=0.8, ls=":")
    ax_v.set_xlabel("ε")
    ax_v.set_ylabel("V(D_ε, G) − V(D*, G)")
    ax_v.set_title("moving D away from D* only lowers V", fontsize=10)
    return fig


def plot_generator_gradients():
    """|∂L_G/∂a| against D(G(z)) for the saturating loss log(1 − D(G(z))) and the non-saturating
    loss −log D(G(z)), where a is D's logit: the first vanishes as D(G(z)) → 0, the second does not."""
    d = torch.logspace(-4, math.log10(0.9999), 400, dtype=torch.float64)
    sat = generator_loss_gradient(d, "saturating").abs()
    ns = generator_loss_gradient(d, "non_saturating").abs()
    fig, (ax_l, ax_g) = new_figure(1, 2, figsize=(10, 3.5))
    ax_l.plot(d, torch.log1p(-d), color=GEN_COLOR, lw=2, label="saturating: log(1 − D(G(z)))")
    ax_l.plot(d, -torch.log(d), color=D_COLOR, lw=2, label="non-saturating: −log D(G(z))")
    ax_l.set_xlabel("D(G(z))")
    ax_l.set_ylabel("generator loss (G minimises)")
    ax_l.set_ylim(-5, 5)
    ax_l.legend(fontsize=8)
    ax_l.set_title("the two generator losses", fontsize=10)
    ax_g.loglog(d, sat, color=GEN_COLOR, lw=2, label="saturating: |∂L/∂a| = D(G(z))")
    ax_g.loglog(d, ns, color=D_COLOR, lw=2, label="non-saturating: |∂L/∂a| = 1 − D(G(z))")
    ax_g.axvspan(1e-4, 1e-2, color="gray", alpha=0.15, label="early training: D rejects the fakes")
    ax_g.set_xlabel("D(G(z))")
    ax_g.set_ylabel("|gradient w.r.t. D's logit|")
    ax_g.legend(fontsize=8, loc="lower right")
    ax_g.set_title("the gradient G receives", fontsize=10)
    return fig


def _check_record(name: str, record) -> TrainRecord:
    check_instance(name, record, TrainRecord, "the record train_gan returns")
    missing = [k for k in HISTORY_KEYS if k not in record.history]
    if missing:
        raise ValueError(f"{name} must be a GAN's record from train_gan (history {', '.join(HISTORY_KEYS)}); "
                         f"it has no {', '.join(missing)}")
    if record.steps == 0 or not record.history["d_loss"]:
        raise ValueError(f"{name} is empty: train for at least one step")
    return record


def plot_loss_curves(record: TrainRecord, smooth: int = 25, title: str = ""):
    """The losses L_D, L_G and D's mean outputs D(x), D(G(z)) of a :func:`train_gan` record,
    raw (faint) and as a running mean over ``smooth`` steps, with the values at the equilibrium
    D = 1/2 marked: L_D = 2 log 2 ≈ 1.386, L_G = log 2 ≈ 0.693 (non-saturating)."""
    _check_record("record", record)
    smooth = check_int("smooth", smooth, 1)
    fig, (ax_l, ax_d) = new_figure(1, 2, figsize=(11, 3.5))
    steps = range(1, len(record.history["d_loss"]) + 1)
    for key, color, label in (("d_loss", DATA_COLOR, "L_D"), ("g_loss", GEN_COLOR, "L_G")):
        ax_l.plot(steps, record.history[key], color=color, alpha=0.25, lw=0.8)
        ax_l.plot(steps, record.smoothed(key, smooth), color=color, lw=2, label=label)
        ax_l.axhline(EQUILIBRIUM_LOSSES[key], color=color, ls="--", lw=1)
    for key, text, color in (("d_loss", "2 log 2 ", DATA_COLOR), ("g_loss", "log 2 ", GEN_COLOR)):
        ax_l.text(1.0, EQUILIBRIUM_LOSSES[key], text, transform=ax_l.get_yaxis_transform(), ha="left",
                  va="center", fontsize=8, color=color)
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("loss")
    ax_l.legend(fontsize=8)
    ax_l.set_title(f"{title} losses".strip(), fontsize=10)
    for key, color, label in (("d_real", DATA_COLOR, "D(x), real"), ("d_fake", GEN_COLOR, "D(G(z)), fake")):
        ax_d.plot(steps, record.history[key], color=color, alpha=0.25, lw=0.8)
        ax_d.plot(steps, record.smoothed(key, smooth), color=color, lw=2, label=label)
    ax_d.axhline(0.5, color="gray", ls="--", lw=1)
    ax_d.set_ylim(0, 1)
    ax_d.set_xlabel("step")
    ax_d.set_ylabel("mean D output")
    ax_d.legend(fontsize=8)
    ax_d.set_title("what D says", fontsize=10)
    return fig


def plot_snapshots(snapshots: dict, nrow: int = 8, title: str = ""):
    """Image batches (B, C, H, W) in [−1, 1] side by side, one panel per entry of ``snapshots``.

    Integer keys are training steps ({step: G(fixed_z)}, shown in order as "step N": the same z
    at each step); other keys are shown in the given order with the key as the panel's title.
    """
    if not isinstance(snapshots, dict) or not snapshots:
        raise ValueError("snapshots must be a non-empty dict {step or name: images}, such as "
                         "record.snapshots of train_gan with fixed_z")
    for key, images in snapshots.items():
        check_images(f"snapshots[{key!r}]", images, pixel_range=True)
    nrow = check_int("nrow", nrow, 1)
    by_step = all(isinstance(k, int) for k in snapshots)
    keys = sorted(snapshots) if by_step else list(snapshots)
    grids = {key: image_grid(snapshots[key], nrow=nrow) for key in keys}
    height, width = grids[keys[0]].shape[1:]
    panel = 2.6 if len(keys) > 3 else 3.2
    figsize = (panel * len(keys), panel * height / width + 0.45 + (0.3 if title else 0))
    fig, axes = new_figure(1, len(keys), figsize=figsize, squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.imshow(grids[key].permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(f"step {key}" if by_step else str(key), fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def plot_toy_snapshots(runs: dict, centers: torch.Tensor, std: float, real: torch.Tensor | None = None, limit: float = 3.0):
    """Scatter plots of generated 2-D samples over training, one row per run.

    ``runs`` maps a run's name to its snapshots {step: (N, 2)}; each panel's title gives the
    mode coverage of those samples (modes covered, share within 3σ of a mode)."""
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict {name: {step: samples (N, 2)}}")
    check_tensor("centers", centers, shape=(None, 2), floating=True)
    std = check_float("std", std, 0.0, low_open=True)
    names = list(runs)
    ncols = max(len(runs[n]) for n in names)
    fig, axes = new_figure(len(names), ncols, figsize=(2.3 * ncols, 2.45 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c, step in enumerate(sorted(runs[name])):
            ax = axes[r][c]
            samples = runs[name][step]
            if real is not None:
                ax.scatter(real[:, 0], real[:, 1], s=2, color="lightgray")
            ax.scatter(samples[:, 0], samples[:, 1], s=2, color=GEN_COLOR, alpha=0.4)
            ax.scatter(centers[:, 0], centers[:, 1], marker="x", s=25, color="black")
            cov = mode_coverage(samples, centers, std)
            ax.set_title(f"{name}, step {step}\n{cov.covered}/{cov.num_modes} modes, {100 * cov.high_quality:.0f}% HQ", fontsize=8)
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
        for c in range(len(runs[name]), ncols):
            axes[r][c].set_axis_off()
    return fig


HISTORY_LABELS = {
    "d_loss": "L_D",
    "g_loss": "L_G",
    "d_real": "D(x) on real samples",
    "d_fake": "D(G(z)) on generated samples",
    "g_grad_norm": "‖∇θ L_G‖, G's gradient norm",
}


def plot_history_comparison(records: dict, keys=("d_fake", "g_grad_norm"), smooth: int = 25, log_keys=("g_grad_norm",)):
    """Compare the recorded series of several runs: one panel per key in ``keys`` (series of a
    :func:`train_gan` record), one running-mean curve per run in ``records`` {name: TrainRecord}."""
    if not isinstance(records, dict) or not records:
        raise ValueError("records must be a non-empty dict {name: TrainRecord}")
    for name, record in records.items():
        _check_record(f"records[{name!r}]", record)
    for i, key in enumerate(keys):
        check_choice(f"keys[{i}]", key, HISTORY_LABELS)
    smooth = check_int("smooth", smooth, 1)
    fig, axes = new_figure(1, len(keys), figsize=(4.2 * len(keys), 3.3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, record in records.items():
            ax.plot(range(1, record.steps + 1), record.smoothed(key, smooth), lw=1.6, label=name)
        if key in log_keys:
            ax.set_yscale("log")
        if key in ("d_real", "d_fake"):
            ax.set_ylim(0, 1)
            ax.axhline(0.5, color="gray", ls=":", lw=1)
        ax.set_xlabel("step")
        ax.set_title(HISTORY_LABELS[key], fontsize=10)
    axes[0][0].legend(fontsize=8)
    return fig


def plot_latent_walk(images: torch.Tensor, weight: float = 0.5):
    """A walk through G's latent space, drawn from ``images`` = G(z_w) at evenly spaced weights
    w = 0, …, 1 along z_w = (1 − w) z_0 + w z_1 (what :func:`~course_lib.gan.latent_walk` returns).

    Top: the whole walk, the step nearest ``weight`` framed. Bottom: that sample G(z_w), and for
    comparison the pixel blend (1 − w) G(z_0) + w G(z_1) of the two ends at the same w.
    """
    check_images("images", images, pixel_range=True)
    num = images.shape[0]
    if num < 2:
        raise ValueError(f"images must hold at least 2 steps of the walk, got {num}")
    weight = check_float("weight", weight, 0.0, 1.0)
    index = round(weight * (num - 1))
    w = index / (num - 1)                                     # the walk's weight nearest ``weight``
    blend = (1 - w) * images[0] + w * images[-1]              # (1 − w) G(z_0) + w G(z_1)
    fig, axes = new_figure(2, 2, figsize=(min(1.0 * num, 12), 4.6), height_ratios=(1, 2.4))
    for ax in axes[0]:
        ax.remove()
    ax_walk = fig.add_subplot(axes[1][0].get_gridspec()[0, :])  # the top row, both columns
    pad, size = 2, images.shape[-1]
    ax_walk.imshow(image_grid(images, nrow=num, padding=pad).permute(1, 2, 0).numpy(), interpolation="nearest")
    left = index * (size + pad) + pad / 2
    ax_walk.add_patch(_frame(left, pad / 2, size + pad, GEN_COLOR))
    ax_walk.set_axis_off()
    ax_walk.set_title("G(z_w) for w = 0 … 1, z_w = (1 − w)·z₀ + w·z₁", fontsize=10)
    ax_g, ax_b = axes[1]
    for ax, image, text in ((ax_g, images[index], f"walk in z: G((1 − w)·z₀ + w·z₁), w = {w:.2f}"),
                            (ax_b, blend, f"blend of pixels: (1 − w)·G(z₀) + w·G(z₁), w = {w:.2f}")):
        ax.imshow(((image[0] + 1) / 2).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(text, fontsize=10)
    return fig


def _frame(left: float, top: float, size: float, color: str):
    from matplotlib.patches import Rectangle

    return Rectangle((left - 0.5, top - 0.5), size, size, fill=False, edgecolor=color, lw=2.5)
