"""The optimisation of Gatys et al. (2016): change the pixels of x until its features match (notebook 06).

    L_total(x) = α L_content(x, p) + β L_style(x, a) + γ L_TV(x)          (Gatys eq. 7, plus TV)

One loop serves the three experiments of the notebook:

* content reconstruction: β = 0 (only a content image p, start from noise);
* texture synthesis:      α = 0 (only a style image a, start from noise);
* style transfer:         both (start from the content image, or from noise as in the paper).

The pixels are the only parameters: the network is frozen. Optimisers: L-BFGS (as in the paper,
with a strong-Wolfe line search so that no step makes the loss worse) or Adam (projected onto the
image range [-1, 1] after each update). L-BFGS keeps a memory of past steps to estimate the
curvature; clamping in between would corrupt it, so for L-BFGS x is clamped only when shown.

One *step* is one evaluation of the loss and its gradient, a forward and a backward pass through
VGG19: the costly part, so steps of both optimisers cost the same time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ..validation import check_choice, check_float, check_images, check_int
from .features import FeatureExtractor, check_layer, check_layers
from .losses import content_loss, gram_matrix, style_loss, total_variation_loss

GATYS_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
GATYS_CONTENT_LAYER = "conv4_2"


@dataclass
class StyleResult:
    """What :func:`synthesize` returns.

    ``image`` (1, 3, H, W) in [-1, 1]; ``snapshots`` a list of ``(step, image)`` along the way
    (step 0 is the start); ``history`` per-step values of ``total``, ``content``, ``style``,
    ``tv`` (the weighted terms of L_total); ``seconds`` the wall time; ``evaluations`` how many
    times the loss and its gradient were computed (L-BFGS may need more than one per step).
    """

    image: torch.Tensor
    snapshots: list = field(default_factory=list)
    history: dict = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0
    evaluations: int = 0
    optimizer: str = "lbfgs"

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


def style_targets(extractor: FeatureExtractor, style: torch.Tensor, layers=GATYS_STYLE_LAYERS) -> dict:
    """A^l = gram_matrix(F^l(a)) for each style layer: {name: (1, C_l, C_l)}, no gradient."""
    check_images("style", style, channels=3)
    layers = check_layers("style_layers", layers)
    with torch.no_grad():
        feats = extractor(style, layers)
    return {name: gram_matrix(f) for name, f in feats.items()}


def content_target(extractor: FeatureExtractor, content: torch.Tensor, layer=GATYS_CONTENT_LAYER) -> torch.Tensor:
    """P^l = F^l(p), the content image's features at one layer, no gradient."""
    check_images("content", content, channels=3)
    layer = check_layer("content_layer", layer)
    with torch.no_grad():
        return extractor(content, [layer])[layer]


def synthesize(
    extractor: FeatureExtractor,
    *,
    content: torch.Tensor | None = None,
    style: torch.Tensor | None = None,
    content_layer: str = GATYS_CONTENT_LAYER,
    style_layers=GATYS_STYLE_LAYERS,
    layer_weights: dict | None = None,
    content_weight: float = 1.0,
    style_weight: float = 1e3,
    tv_weight: float = 0.0,
    init: str | torch.Tensor = "noise",
    size: int | None = None,
    optimizer: str = "lbfgs",
    steps: int = 100,
    lr: float | None = None,
    snapshot_every: int | None = None,
    clamp: bool | None = None,
    line_search: bool = True,
    seed: int = 0,
    progress: bool = True,
) -> StyleResult:
    """Optimise the pixels of x to minimise α L_content + β L_style + γ L_TV; return a StyleResult.

    ``content`` p and ``style`` a: (1, 3, H, W) images in [-1, 1] (either may be None, not both).
    ``content_weight`` α, ``style_weight`` β, ``tv_weight`` γ (≥ 0). ``init``: ``"noise"``
    (white noise, uniform in [-1, 1], as in the paper), ``"content"`` (start from p, fewer steps),
    or a (1, 3, H, W) tensor.
    ``size``: the output's side when there is no content image (default: the style image's).
    ``optimizer``: ``"lbfgs"`` (lr 1) or ``"adam"`` (lr 0.02 by default). ``steps``: loss
    evaluations (one per Adam update; about one per L-BFGS iteration). ``line_search``: L-BFGS
    with strong-Wolfe line search (default) or fixed steps. ``clamp``: clamp x to [-1, 1] after
    each update (default: for Adam only). ``snapshot_every``: keep x every so many steps (default:
    about 8 snapshots). The returned image and snapshots are clamped to [-1, 1].
    """
    if content is None and style is None:
        raise ValueError("give a content image, a style image, or both")
    if content is not None:
        check_images("content", content, channels=3)
        if content.shape[0] != 1:
            raise ValueError(f"content must be one image (1, 3, H, W), got {tuple(content.shape)}")
    if style is not None:
        check_images("style", style, channels=3)
        if style.shape[0] != 1:
            raise ValueError(f"style must be one image (1, 3, H, W), got {tuple(style.shape)}")
    content_weight = check_float("content_weight", content_weight, 0.0)
    style_weight = check_float("style_weight", style_weight, 0.0)
    tv_weight = check_float("tv_weight", tv_weight, 0.0)
    optimizer = check_choice("optimizer", optimizer, ("lbfgs", "adam"))
    steps = check_int("steps", steps, 1)
    seed = check_int("seed", seed, 0)
    if clamp is None:
        clamp = optimizer == "adam"
    if lr is None:
        lr = 1.0 if optimizer == "lbfgs" else 0.02
    lr = check_float("lr", lr, 0.0, low_open=True)
    snapshot_every = max(1, steps // 8) if snapshot_every is None else check_int("snapshot_every", snapshot_every, 1)
    use_content = content is not None and content_weight > 0
    use_style = style is not None and style_weight > 0
    if not (use_content or use_style):
        raise ValueError("nothing to optimise: content_weight and style_weight are both 0 "
                         "(or their images are missing)")
    device = extractor.device

    # The targets P^l and A^l are computed once, without gradients.
    targets_c = content_target(extractor, content.to(device), content_layer) if use_content else None
    style_layers = check_layers("style_layers", style_layers)
    targets_s = style_targets(extractor, style.to(device), style_layers) if use_style else None

    if content is not None:
        shape = tuple(content.shape)
    elif size is not None:
        size = check_int("size", size, 8, 4096)
        shape = (1, 3, size, size)
    else:
        shape = tuple(style.shape)
    gen = torch.Generator().manual_seed(seed)
    if isinstance(init, torch.Tensor):
        check_images("init", init, channels=3)
        if tuple(init.shape) != shape:
            raise ValueError(f"init must have shape {shape}, got {tuple(init.shape)}")
        x = init.detach().clone()
    else:
        check_choice("init", init, ("noise", "content"))
        if init == "content":
            if content is None:
                raise ValueError("init='content' needs a content image")
            x = content.detach().clone()
        else:
            x = torch.rand(shape, generator=gen) * 2 - 1
    x = x.to(device).requires_grad_(True)

    layers = []
    if use_content:
        layers.append(content_layer)
    if use_style:
        layers += [name for name in style_layers if name not in layers]

    from tqdm.auto import tqdm

    history = {"total": [], "content": [], "style": [], "tv": []}
    snapshots = [(0, x.detach().clamp(-1, 1).cpu())]
    bar = tqdm(total=steps, desc=f"{optimizer} steps", disable=not progress, leave=False)
    done = 0          # steps recorded (loss evaluations up to ``steps``)
    evaluations = 0   # all loss evaluations (a line search may ask for a few more)

    def closure():
        nonlocal done, evaluations
        evaluations += 1
        opt.zero_grad(set_to_none=True)
        feats = extractor(x, layers)
        zero = x.new_zeros(())
        lc = content_weight * content_loss(feats[content_layer], targets_c) if use_content else zero
        ls = style_weight * style_loss(feats, targets_s, layer_weights) if use_style else zero
        lt = tv_weight * total_variation_loss(x) if tv_weight > 0 else zero
        total = lc + ls + lt
        if not torch.isfinite(total):
            raise FloatingPointError("the loss became NaN or infinite; lower lr or the loss weights")
        total.backward()
        if done < steps:
            done += 1
            for key, value in (("total", total), ("content", lc), ("style", ls), ("tv", lt)):
                history[key].append(float(value.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{history['total'][-1]:.3g}", refresh=False)
            if done % snapshot_every == 0 or done == steps:
                snapshots.append((done, x.detach().clamp(-1, 1).cpu()))
        return total

    start = time.perf_counter()
    if optimizer == "lbfgs":
        # One call runs L-BFGS for the remaining evaluations; the closure records each step.
        # Tolerances 0: never stop early because the loss happens to be small in absolute terms.
        opt = torch.optim.LBFGS([x], lr=lr, history_size=50, tolerance_grad=0.0, tolerance_change=0.0,
                                line_search_fn="strong_wolfe" if line_search else None)
        while done < steps:
            opt.param_groups[0]["max_iter"] = opt.param_groups[0]["max_eval"] = steps - done
            opt.step(closure)
            if clamp:
                with torch.no_grad():
                    x.clamp_(-1, 1)
    else:
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            opt.step(closure)
            if clamp:  # projected gradient descent onto the image range
                with torch.no_grad():
                    x.clamp_(-1, 1)
    seconds = time.perf_counter() - start
    bar.close()
    return StyleResult(
        image=x.detach().clamp(-1, 1).cpu(), snapshots=snapshots, history=history, seconds=seconds,
        steps=steps, evaluations=evaluations, optimizer=optimizer,
    )
