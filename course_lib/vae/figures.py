"""Figures for notebook 07 (the VAE): pure ``plot_x(**params) -> Figure`` functions.

They draw what they are given. Those that take a model only run its decoder or encoder (no
training, no optimisation), so a slider can call them many times: the latent explorer decodes one
point, the manifold a grid, the interpolation one strip per model.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..classifier import NUM_CLASSES, check_digits
from ..validation import check_float, check_int, check_tensor
from ..viz import image_grid, new_figure, to_unit

CLASS_COLOURS = "tab10"


def heldout_digits(num_digits: int = 1000, seed: int = 0):
    """``num_digits`` held-out MNIST digits in a seeded random order, as a
    :class:`course_lib.data.Digits` (images (N, 1, 28, 28) in [−1, 1] and labels): the test split
    is stored class by class, so its first digits are all 0s; these are mixed. Quiet."""
    from ..data import Digits, load_mnist

    test = load_mnist("test", quiet=True)
    num_digits = check_int("num_digits", num_digits, 1, len(test))
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(check_int("seed", seed, 0)))
    order = order[:num_digits]
    return Digits(test.images[order].clone(), test.labels[order].clone(), test.source)


def _check_map(latents, labels) -> None:
    check_tensor("latents", latents, shape=(None, 2), floating=True)
    check_tensor("labels", labels, shape=(latents.shape[0],))


def _check_2d_model(model) -> None:
    if tuple(getattr(model, "latent_shape", ())) != (2,):
        raise ValueError(f"model must have a 2-D latent (latent_shape (2,)), got "
                         f"{tuple(getattr(model, 'latent_shape', ())) or type(model).__name__}")


def _draw_map(ax, latents, labels, title: str = "", size: float = 7.0):
    """Scatter of 2-D codes coloured by digit class, with a legend."""
    pts = latents.detach().cpu().numpy()
    cls = labels.cpu().numpy()
    scatter = ax.scatter(pts[:, 0], pts[:, 1], c=cls, cmap=CLASS_COLOURS, vmin=-0.5, vmax=NUM_CLASSES - 0.5,
                         s=size, alpha=0.8, linewidths=0)
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.set_title(title, fontsize=10)
    return scatter


def _show(ax, image, title: str = "") -> None:
    ax.imshow(to_unit(image).reshape(image.shape[-2:]).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def plot_latent_map(latents: torch.Tensor, labels: torch.Tensor, title: str = "held-out digits in the latent space",
                    points: torch.Tensor | None = None):
    """The 2-D codes ``latents`` (N, 2) of digits, coloured by their ``labels`` (N,); optional
    ``points`` (M, 2) are marked with black crosses."""
    _check_map(latents, labels)
    fig, ax = new_figure(figsize=(5.6, 4.6))
    scatter = _draw_map(ax, latents, labels, title)
    if points is not None:
        check_tensor("points", points, shape=(None, 2), floating=True)
        ax.scatter(points[:, 0].numpy(), points[:, 1].numpy(), marker="x", c="k", s=40, label="decoded below")
        ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(scatter, ax=ax, ticks=range(NUM_CLASSES), label="digit")
    return fig


def principal_axes(codes: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, axes)``: the mean (d,) of ``codes`` (N, d) and their ``k`` principal axes (d, k), to
    draw d-dimensional codes on a page: ``(codes − mean) @ axes``."""
    mean = codes.mean(0)
    _, _, vh = torch.linalg.svd(codes - mean, full_matrices=False)
    return mean, vh[:k].T


@torch.no_grad()
def plot_holes(models: dict, codes: dict, labels: torch.Tensor, points: dict, nrow: int = 6):
    """For each model (title → model with a vector latent): its codes of held-out digits with
    random latent ``points`` crossed out, and what its decoder makes of those points. ``codes`` and
    ``points`` map the same titles to (N, d) and (M, d) tensors; for d > 2 the map shows the codes'
    first two principal axes (the points are decoded in all d dimensions)."""
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict: title -> model with a vector latent")
    fig, axes = new_figure(len(models), 2, figsize=(9, 4.2 * len(models)), squeeze=False)
    for row, (title, model) in enumerate(models.items()):
        d = tuple(getattr(model, "latent_shape", ()))
        if len(d) != 1:
            raise ValueError(f"models[{title!r}] must have a vector latent (latent_shape (d,)), got {d}")
        check_tensor(f"codes[{title!r}]", codes[title], shape=(labels.shape[0], d[0]), floating=True)
        check_tensor(f"points[{title!r}]", points[title], shape=(None, d[0]), floating=True)
        code, pts = codes[title].detach().cpu(), points[title].detach().cpu()
        where = "z₁, z₂"
        if d[0] > 2:
            mean, axes2 = principal_axes(code)
            code, pts = (code - mean) @ axes2, (pts - mean) @ axes2
            where = f"first two principal axes of {d[0]}"
        ax_map, ax_img = axes[row]
        _draw_map(ax_map, code, labels, f"{title}: codes of held-out digits ({where})")
        if d[0] > 2:
            ax_map.set_xlabel("principal axis 1")
            ax_map.set_ylabel("principal axis 2")
        ax_map.scatter(pts[:, 0].numpy(), pts[:, 1].numpy(), marker="x", c="k", s=40)
        for i, (a, b) in enumerate(pts[:, :2].tolist()):
            ax_map.annotate(str(i), (a, b), fontsize=7, xytext=(3, 3), textcoords="offset points")
        decoded = model.decode(points[title])
        ax_img.imshow(image_grid(decoded, nrow=nrow).permute(1, 2, 0).numpy(), interpolation="nearest")
        ax_img.set_axis_off()
        ax_img.set_title(f"{title}: the crosses decoded (0, 1, 2, … row by row)", fontsize=10)
    return fig


@torch.no_grad()
def plot_manifold(model, span: float = 3.0, grid: int = 15):
    """The decoder's manifold: decode(z) on a ``grid`` × ``grid`` lattice over [−span, span]²
    (z₁ left to right, z₂ bottom to top) of a model with a 2-D latent."""
    _check_2d_model(model)
    span = check_float("span", span, 0.0, 20.0, low_open=True)
    grid = check_int("grid", grid, 2, 40)
    axis = torch.linspace(-span, span, grid)
    z2, z1 = torch.meshgrid(axis.flip(0), axis, indexing="ij")  # rows: z₂ from top (+span) down
    images = model.decode(torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)).cpu()
    fig, ax = new_figure(figsize=(6.2, 6.2))
    ax.imshow(image_grid(images, nrow=grid, padding=0).permute(1, 2, 0).numpy(),
              extent=(-span, span, -span, span), interpolation="nearest")
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.set_title(f"decode(z) on a {grid}×{grid} grid over [−{span:g}, {span:g}]²", fontsize=10)
    return fig


@torch.no_grad()
def plot_latent_explorer(z1: float = 0.0, z2: float = 0.0, model=None, latents=None, labels=None):
    """Where (z₁, z₂) lies among the held-out digits' codes (left) and what the decoder draws
    there (right): the slider figure of the 2-D latent space."""
    if model is None or latents is None or labels is None:
        raise ValueError("give model (a 2-D VAE), latents (N, 2) and labels (N,) of held-out digits")
    _check_2d_model(model)
    _check_map(latents, labels)
    z1, z2 = check_float("z1", z1), check_float("z2", z2)
    fig, (ax_map, ax_img) = new_figure(1, 2, figsize=(9, 4.2), gridspec_kw=dict(width_ratios=[1.3, 1]))
    scatter = _draw_map(ax_map, latents, labels, "held-out digits' codes μ(x), coloured by class")
    fig.colorbar(scatter, ax=ax_map, ticks=range(NUM_CLASSES), label="digit", fraction=0.05)
    ax_map.scatter([z1], [z2], marker="*", s=320, c="k", edgecolors="w", zorder=3)
    lim = max(3.0, abs(z1) + 0.5, abs(z2) + 0.5)
    ax_map.set_xlim(-lim, lim)
    ax_map.set_ylim(-lim, lim)
    _show(ax_img, model.decode(torch.tensor([[z1, z2]])).cpu(), f"decode(z = ({z1:.2f}, {z2:.2f}))")
    return fig


def _estimates_against_a_line(xs, values, errors, line: float, *, label: str, line_label: str, xlabel: str,
                              ylabel: str, title: str, fmt: str = "o", line_colour: str = "k"):
    """Estimates with ± error bars on a log x axis, and one horizontal reference line."""
    xs, values = np.asarray(xs, dtype=float), np.asarray(values, dtype=float)
    errors = None if errors is None else np.asarray(errors, dtype=float)
    if xs.ndim != 1 or len(xs) == 0 or xs.shape != values.shape or (errors is not None and errors.shape != xs.shape):
        raise ValueError("the x values, the estimates and their errors must be 1-D sequences of one length")
    fig, ax = new_figure(figsize=(6, 3.5))
    ax.errorbar(xs, values, yerr=None if errors is None else 2 * errors, fmt=fmt, capsize=3, label=label)
    ax.axhline(float(line), color=line_colour, ls="--", lw=1.2, label=line_label)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_kl_estimates(num_samples, estimates, stderrs, closed_form: float, title: str = ""):
    """Monte-Carlo estimates of a KL (with ±2 standard errors) against the number of samples,
    and the closed form as a line: the estimates close in on it like 1/√n."""
    return _estimates_against_a_line(
        num_samples, estimates, stderrs, closed_form, label="Monte Carlo ± 2 SE",
        line_label=f"closed form {float(closed_form):.4f}", xlabel="samples n", ylabel="KL (nats)",
        title=title or "KL(q ‖ p): sampling converges to the closed form")


def plot_gradient_estimators(comparison: dict, exact=None, bins: int = 80):
    """Histograms of the per-sample gradient estimates of the two estimators
    (:func:`course_lib.vae.estimate.compare_gradient_estimators`), one panel per parameter, with
    the exact gradient as a line. The reparameterised estimates are a narrow spike; the
    score-function ones spread far on both sides of the same mean."""
    if not isinstance(comparison, dict) or not {"reparam", "score"} <= set(comparison):
        raise ValueError("comparison must be what compare_gradient_estimators returns")
    bins = check_int("bins", bins, 5)
    fig, axes = new_figure(1, 2, figsize=(10, 3.4))
    names = ("∂/∂μ", "∂/∂log σ²")
    for j, ax in enumerate(axes):
        score = comparison["score"]["samples"][:, j].numpy()
        reparam = comparison["reparam"]["samples"][:, j].numpy()
        lo, hi = np.percentile(score, [0.5, 99.5])
        edges = np.linspace(min(lo, reparam.min()), max(hi, reparam.max()), bins)
        for key, values, colour in (("score", score, "tab:orange"), ("reparam", reparam, "tab:blue")):
            std = comparison[key]["std"][j]
            label = {"score": "score function (REINFORCE)", "reparam": "reparameterised"}[key]
            ax.hist(values, bins=edges, density=True, alpha=0.6, color=colour, label=f"{label}, std {std:.3g}")
        if exact is not None:
            ax.axvline(float(exact[j]), color="k", ls="--", lw=1.2, label=f"exact {float(exact[j]):.3g}")
        ax.set_yscale("log")
        ax.set_title(f"per-sample estimates of {names[j]} E[f(z)]", fontsize=10)
        ax.legend(fontsize=7)
    return fig


def plot_training_curves(records: dict, window: int = 50):
    """Reconstruction term and KL term (nats per digit) over training, one line per run:
    ``records`` maps a title to a :class:`course_lib.train_loop.TrainRecord` of :func:`train_vae`."""
    if not isinstance(records, dict) or not records:
        raise ValueError("records must be a non-empty dict: title -> TrainRecord")
    window = check_int("window", window, 1)
    fig, axes = new_figure(1, 2, figsize=(10, 3.2))
    for title, record in records.items():
        for ax, key in zip(axes, ("reconstruction", "kl")):
            series = record.series(key)
            if series:
                ax.plot(record.smoothed(key, min(window, len(series))), label=str(title))
    axes[0].set_ylabel("−log p(x | z) (nats)")
    axes[1].set_ylabel("KL(q ‖ p) (nats)")
    for ax, name in zip(axes, ("reconstruction term", "KL term")):
        ax.set_xlabel("training step")
        ax.set_title(name, fontsize=10)
    axes[1].legend(fontsize=8)
    return fig


def plot_kl_sweep(sweep: dict):
    """What the KL weight β trades, one point per trained model: ``sweep`` is what
    :func:`course_lib.vae.sweep_kl_weight` returns ({β: run with ``reconstruction``, ``kl``,
    ``active_units`` of ``latent_units``, ``confident_share`` and ``mid_grey`` of prior samples})."""
    if not isinstance(sweep, dict) or not sweep:
        raise ValueError("sweep must be what sweep_kl_weight returns: {kl_weight: run}")
    rows = [sweep[b] for b in sorted(sweep)]
    beta = sorted(sweep)
    fig, axes = new_figure(1, 3, figsize=(12, 3.3))
    axes[0].plot(beta, [r["reconstruction"] for r in rows], "o-", label="−log p(x | z)")
    axes[0].plot(beta, [r["kl"] for r in rows], "s-", label="KL(q ‖ p)")
    axes[0].set_ylabel("nats per held-out digit")
    axes[0].legend(fontsize=8)
    axes[1].plot(beta, [r["active_units"] for r in rows], "o-", color="tab:green")
    axes[1].axhline(rows[0]["latent_units"], color="k", ls=":", lw=1, label="latent units")
    axes[1].set_ylabel("active units")
    axes[1].set_ylim(0, rows[0]["latent_units"] + 1)
    axes[1].legend(fontsize=8)
    axes[2].plot(beta, [100 * r["confident_share"] for r in rows], "o-", color="tab:red", label="read confidently")
    axes[2].plot(beta, [100 * r["mid_grey"] for r in rows], "s--", color="tab:gray", label="mid-grey pixels")
    axes[2].set_ylabel("% of prior samples / pixels")
    axes[2].set_ylim(0, 100)
    axes[2].legend(fontsize=8)
    titles = ("reconstruction against KL", "latent units in use", "samples from the prior")
    for ax, title in zip(axes, titles):
        if min(beta) > 0:
            ax.set_xscale("log")
        ax.set_xlabel("kl_weight β")
        ax.set_title(title, fontsize=10)
    return fig


def plot_kl_weight_explorer(kl_weight: float = 1.0, sweep: dict | None = None, nrow: int = 8):
    """Reconstructions and prior samples of the model trained with ``kl_weight``: ``sweep`` maps
    each trained β to a dict with ``originals``, ``reconstructions`` and ``samples`` (images in
    [−1, 1]) and the scores of :func:`plot_kl_sweep`."""
    if not sweep:
        raise ValueError("sweep must map each trained kl_weight to its images and scores")
    if kl_weight not in sweep:
        raise ValueError(f"kl_weight must be one of the trained values {sorted(sweep)}, got {kl_weight!r}")
    run = sweep[kl_weight]
    fig, axes = new_figure(1, 2, figsize=(10, 3.4))
    pair = torch.cat([run["originals"][:nrow], run["reconstructions"][:nrow]])
    axes[0].imshow(image_grid(pair, nrow=nrow).permute(1, 2, 0).numpy(), interpolation="nearest")
    axes[0].set_title(f"β = {kl_weight:g}: held-out digits (top) and reconstructions\n"
                      f"−log p(x|z) {run['reconstruction']:.1f}, KL {run['kl']:.1f} nats, "
                      f"{run['active_units']}/{run['latent_units']} units active", fontsize=9)
    axes[1].imshow(image_grid(run["samples"][:2 * nrow], nrow=nrow).permute(1, 2, 0).numpy(),
                   interpolation="nearest")
    axes[1].set_title(f"β = {kl_weight:g}: decoded prior samples z ~ N(0, I)\n"
                      f"{run['confident_share']:.0%} read confidently by the classifier", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    return fig


def plot_image_rows(rows: dict, nrow: int | None = None, title: str = ""):
    """Rows of images under one another: ``rows`` maps a label to images (n, 1, H, W) in [−1, 1]
    (e.g. originals and their reconstructions by two models)."""
    if not isinstance(rows, dict) or not rows:
        raise ValueError("rows must be a non-empty dict: label -> images (n, C, H, W)")
    fig, axes = new_figure(len(rows), 1, figsize=(10, 1.25 * len(rows) + 0.3), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        images = check_digits(f"rows[{label!r}]", images.detach() if torch.is_tensor(images) else images)
        n = nrow or images.shape[0]
        ax.imshow(image_grid(images[:n], nrow=n).permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(str(label), fontsize=9, loc="left")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


@torch.no_grad()
def interpolation_rows(x_a: torch.Tensor, x_b: torch.Tensor, models: dict, fractions) -> dict:
    """The strips of :func:`plot_interpolation`: pixels (1 − f)·x_a + f·x_b, and for each model
    decode((1 − f)·μ(x_a) + f·μ(x_b)), each (len(fractions), 1, 28, 28)."""
    check_digits("x_a", x_a)
    check_digits("x_b", x_b)
    f = torch.as_tensor(list(fractions), dtype=torch.float32)
    rows = {"pixels": ((1 - f).view(-1, 1, 1, 1) * x_a[:1] + f.view(-1, 1, 1, 1) * x_b[:1]).cpu()}
    for title, model in models.items():
        mu_a, _ = model.encode(x_a[:1])
        mu_b, _ = model.encode(x_b[:1])
        shape = (-1, *([1] * (mu_a.ndim - 1)))
        z = (1 - f.to(mu_a.device)).view(shape) * mu_a + f.to(mu_a.device).view(shape) * mu_b
        rows[f"latent of {title}"] = model.decode(z).cpu()
    return rows


def plot_interpolation(fraction: float = 0.5, x_a=None, x_b=None, models=None, steps: int = 9):
    """From digit ``x_a`` to ``x_b`` (each (1, 1, 28, 28)) in ``steps`` steps: a cross-fade in
    pixels, and a straight line in each model's latent space, decoded (left); the three images at
    ``fraction`` ∈ [0, 1] of the way (right)."""
    if x_a is None or x_b is None or not models:
        raise ValueError("give x_a and x_b (two digits (1, 1, 28, 28)) and models (title -> VAE)")
    fraction = check_float("fraction", fraction, 0.0, 1.0)
    steps = check_int("steps", steps, 2, 20)
    strips = interpolation_rows(x_a, x_b, models, torch.linspace(0, 1, steps).tolist())
    here = interpolation_rows(x_a, x_b, models, [fraction])
    fig, axes = new_figure(len(strips), 2, figsize=(11, 1.5 * len(strips) + 0.4), squeeze=False,
                           gridspec_kw=dict(width_ratios=[steps, 1.3]))
    for (label, images), (ax_strip, ax_one) in zip(strips.items(), axes):
        ax_strip.imshow(image_grid(images, nrow=steps).permute(1, 2, 0).numpy(), interpolation="nearest")
        ax_strip.set_axis_off()
        ax_strip.set_title(label, fontsize=9, loc="left")
        _show(ax_one, here[label], f"f = {fraction:.2f}")
    return fig


def plot_iwae(ks, iwae, elbo: float, stderrs=None, title: str = ""):
    """The importance-weighted bound L_k (mean over digits, ± 2 standard errors if given) against
    k, and the ELBO as a line: L_1 is the ELBO, and L_k climbs towards log p(x) as k grows."""
    return _estimates_against_a_line(
        ks, iwae, stderrs, elbo, label="IWAE bound L_k (± 2 SE over digits)", line_label=f"ELBO {float(elbo):.2f}",
        xlabel="importance samples k", ylabel="nats per digit (mean)", fmt="o-", line_colour="tab:red",
        title=title or "log p(x) ≥ L_k ≥ … ≥ L_1 = ELBO")


def plot_latent_channels(latents: torch.Tensor, images: torch.Tensor | None = None, count: int = 4):
    """The channels of spatial latents (B, c, h, w) of ``count`` digits, one row per digit (with the
    digit itself first when ``images`` are given), on one shared colour scale."""
    latents = check_tensor("latents", latents, ndim=4, floating=True).detach().cpu()
    count = min(check_int("count", count, 1), latents.shape[0])
    channels = latents.shape[1]
    extra = 1 if images is not None else 0
    fig, axes = new_figure(count, channels + extra, figsize=(1.6 * (channels + extra), 1.6 * count + 0.4),
                           squeeze=False)
    lim = float(latents[:count].abs().max()) or 1.0
    for i in range(count):
        if images is not None:
            _show(axes[i, 0], images[i:i + 1], "digit" if i == 0 else "")
        for c in range(channels):
            ax = axes[i, c + extra]
            ax.imshow(latents[i, c].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_axis_off()
            if i == 0:
                ax.set_title(f"channel {c}", fontsize=9)
    shape = "×".join(map(str, latents.shape[1:]))
    fig.suptitle(f"latents μ(x), {shape} = {math.prod(latents.shape[1:])} numbers per digit", fontsize=10)
    return fig
