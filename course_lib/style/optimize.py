"""The optimisation of Gatys et al. (2016): change the pixels of x until its features match (notebook 06).

    L_total(x) = α L_content(x, p) + β L_style(x, a) + γ L_TV(x)          (Gatys eq. 7, plus TV)

One loop serves the three experiments of the notebook:

* content reconstruction: β = 0 (only a content image p, start from noise);
* texture synthesis:      α = 0 (only a style image a, start from noise);
* style transfer:         both (start from the content image, or from noise as in the paper).

The pixels are the only parameters: the network is frozen. Optimisers: L-BFGS (as in the paper,
with a strong-Wolfe line search so that no iteration makes the loss worse) or Adam (projected onto
the image range [-1, 1] after each update). L-BFGS keeps a memory of past steps to estimate the
curvature; clamping in between would corrupt it, so L-BFGS never clamps x during the run (its
pixels may stray a little outside [-1, 1]); the returned image and the snapshots are clamped.

One *step* is one evaluation of the loss and its gradient, a forward and a backward pass through
VGG19: the costly part, so steps of both optimisers cost the same time. An Adam update is one
step; an L-BFGS iteration is one step or a few (its line search may evaluate more than one point).

The run follows the one training shape of the course (CONVENTIONS, "The API"): a
:class:`~course_lib.train_loop.Budget` of ``steps`` and/or ``minutes`` with one progress bar,
and a :class:`~course_lib.train_loop.TrainRecord` back.
"""

from __future__ import annotations

import math

import torch

from ..device import resolve_device
from ..train_loop import Budget, TrainRecord
from ..validation import check_choice, check_float, check_images, check_instance, check_int
from .features import FeatureExtractor, check_layer, check_layers
from .losses import content_loss, gram_matrix, style_loss, total_variation_loss

GATYS_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
GATYS_CONTENT_LAYER = "conv4_2"


class _BudgetSpent(Exception):
    """Raised inside the loss closure when the budget is spent: it ends L-BFGS mid-iteration."""


def _one_image(name: str, image: torch.Tensor) -> torch.Tensor:
    check_images(name, image, channels=3, pixel_range=True)
    if image.shape[0] != 1:
        raise ValueError(f"{name} must be one image (1, 3, H, W), got {tuple(image.shape)}")
    return image


def _check_layer_weights(layer_weights, style_layers: tuple) -> dict:
    if not isinstance(layer_weights, dict) or set(layer_weights) != set(style_layers):
        shown = sorted(layer_weights) if isinstance(layer_weights, dict) else type(layer_weights).__name__
        raise ValueError(f"layer_weights must be a dict with one weight per style layer "
                         f"{list(style_layers)}, got {shown}")
    return {name: check_float(f"layer_weights[{name!r}]", w, 0.0) for name, w in layer_weights.items()}


def synthesize(
    extractor: FeatureExtractor,
    *,
    content: torch.Tensor | None = None,
    style: torch.Tensor | None = None,
    content_layer: str = GATYS_CONTENT_LAYER,
    style_layers=GATYS_STYLE_LAYERS,
    layer_weights: dict | None = None,
    content_weight: float = 1.0,
    style_weight: float = 1.0,
    tv_weight: float = 0.0,
    init: str | torch.Tensor = "noise",
    size: int | None = None,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    steps: int | None = None,
    minutes: float | None = None,
    snapshot_every: int | None = None,
    seed: int = 0,
    device=None,
    progress: bool = True,
) -> TrainRecord:
    """Optimise the pixels of x to minimise α L_content + β L_style + γ L_TV; return a TrainRecord.

    ``extractor``: from :func:`~course_lib.style.vgg19_extractor`; it is moved to ``device``
    (default: the best available, :func:`~course_lib.device.resolve_device`).
    ``content`` p and ``style`` a: (1, 3, H, W) images in [-1, 1] (either may be None, not both).
    ``content_weight`` α, ``style_weight`` β, ``tv_weight`` γ (≥ 0); β/α = 1 balances the two on
    the course's normalised VGG19. ``layer_weights``: w_l per style layer (default 1 / L).
    ``init``: ``"noise"`` (white noise, uniform in [-1, 1], as in the paper), ``"content"`` (start
    from p, fewer steps), or a (1, 3, H, W) tensor. ``size``: the output's side when there is no
    content image (default: the style image's). ``optimizer``: ``"lbfgs"`` (lr 1, strong-Wolfe
    line search) or ``"adam"`` (lr 0.02 by default, x clamped to [-1, 1] after each update).

    The run stops after ``steps`` loss evaluations or ``minutes`` minutes, whichever comes first
    (at least one is needed); one progress bar shows what will stop it.

    Returns a :class:`~course_lib.train_loop.TrainRecord`: ``steps`` (= loss evaluations) and
    ``seconds``; ``history`` with the per-step weighted terms ``total``, ``content``, ``style``,
    ``tv`` of L_total; ``snapshots`` {step: image} of x as evaluated at steps 0, 1, 2, 4, 8, … (or
    every ``snapshot_every`` steps) and at the end; ``output``: the evaluated image with the lowest
    L_total (for L-BFGS the last accepted iterate or a better point; for Adam about the last),
    (1, 3, H, W) on the CPU. Snapshots and output are clamped to [-1, 1].
    """
    # ---- the boundary: every argument is checked here, once
    check_instance("extractor", extractor, FeatureExtractor, hint="build it with vgg19_extractor()")
    if content is None and style is None:
        raise ValueError("give a content image, a style image, or both")
    if content is not None:
        _one_image("content", content)
    if style is not None:
        _one_image("style", style)
    content_weight = check_float("content_weight", content_weight, 0.0)
    style_weight = check_float("style_weight", style_weight, 0.0)
    tv_weight = check_float("tv_weight", tv_weight, 0.0)
    content_layer = check_layer("content_layer", content_layer)
    style_layers = check_layers("style_layers", style_layers)
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(style_layers) for name in style_layers}   # w_l = 1 / L
    layer_weights = _check_layer_weights(layer_weights, style_layers)
    optimizer = check_choice("optimizer", optimizer, ("lbfgs", "adam"))
    if lr is None:
        lr = 1.0 if optimizer == "lbfgs" else 0.02
    lr = check_float("lr", lr, 0.0, low_open=True)
    seed = check_int("seed", seed, 0)
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every, 1)
    use_content = content is not None and content_weight > 0
    use_style = style is not None and style_weight > 0
    if not (use_content or use_style):
        raise ValueError("nothing to optimise: content_weight and style_weight are both 0 "
                         "(or their images are missing)")
    if content is not None:
        shape = tuple(content.shape)
    elif size is not None:
        side = check_int("size", size, 8, 4096)
        shape = (1, 3, side, side)
    else:
        shape = tuple(style.shape)
    if isinstance(init, torch.Tensor):
        _one_image("init", init)
        if tuple(init.shape) != shape:
            raise ValueError(f"init must have the output's shape {shape}, got {tuple(init.shape)}")
    elif check_choice("init", init, ("noise", "content")) == "content" and content is None:
        raise ValueError("init='content' needs a content image")
    budget = Budget(steps, minutes, desc=f"synthesize ({optimizer})", progress=progress)
    device = resolve_device(device)

    # ---- the targets P^l and A^l, computed once without gradients
    extractor.to(device)
    with torch.no_grad():
        if use_content:
            content_features = extractor.extract(content.to(device), [content_layer])[content_layer]  # P^l
        if use_style:
            target_grams = {name: gram_matrix(f)                                                   # A^l
                            for name, f in extractor.extract(style.to(device), style_layers).items()}
    layers = ([content_layer] if use_content else []) + \
             [name for name in style_layers if use_style and name != content_layer]

    # ---- the start x and the optimiser over its pixels
    if isinstance(init, torch.Tensor):
        x = init.detach().clone()
    elif init == "content":
        x = content.detach().clone()
    else:
        x = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    x = x.to(device).requires_grad_(True)
    if optimizer == "lbfgs":  # tolerances 0: stop only when the budget is spent
        opt = torch.optim.LBFGS([x], lr=lr, max_iter=2**31 - 1, max_eval=2**31 - 1, history_size=50,
                                tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
    else:
        opt = torch.optim.Adam([x], lr=lr)
    zero = x.new_zeros(())
    steps_left = iter(budget)
    best = {"loss": math.inf, "image": x.detach().clone()}

    def closure():
        step = next(steps_left, None)
        if step is None:
            raise _BudgetSpent
        if (step & (step - 1) == 0) if snapshot_every is None else (step % snapshot_every == 0):
            budget.snapshot(x.detach().clamp(-1, 1), step=step)
        opt.zero_grad(set_to_none=True)
        feats = extractor.extract(x, layers)
        content_term = content_weight * content_loss(feats[content_layer], content_features) if use_content else zero
        style_term = style_weight * style_loss(feats, target_grams, layer_weights) if use_style else zero
        tv_term = tv_weight * total_variation_loss(x) if tv_weight > 0 else zero
        total = content_term + style_term + tv_term        # L_total = α L_content + β L_style + γ L_TV
        total.backward()
        budget.log(total=total.detach(), content=content_term.detach(), style=style_term.detach(),
                   tv=tv_term.detach())
        if budget.history["total"][-1] < best["loss"]:
            best["loss"], best["image"] = budget.history["total"][-1], x.detach().clone()
        return total

    try:
        while True:  # L-BFGS may return early (e.g. a zero gradient); the budget alone ends the run
            opt.step(closure)
            if optimizer == "adam":  # projected gradient descent onto the image range
                with torch.no_grad():
                    x.clamp_(-1, 1)
    except _BudgetSpent:
        pass
    except BaseException:  # NaN, Ctrl-C, out of memory: close the bar, then let it through
        budget.close()
        raise
    output = best["image"].clamp(-1, 1).cpu()
    budget.snapshot(output, step=budget.step)
    return budget.finish(output=output)
