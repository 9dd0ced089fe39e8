"""Guidance by any differentiable loss of x̂_0: steer an unconditional model without retraining it.

At every step the denoiser predicts the clean image x̂_0. Any loss ℓ(x̂_0) that says how far that
guess is from what we want — the digit classifier's −log p(digit | x̂_0), a Gram-matrix style
loss — can push the guess downhill before the step is taken (training-free guidance; the update
of He et al. 2024, "Manifold preserving guided diffusion"):

    x̂_0' = x̂_0 − s ∇_{x̂_0} ℓ(x̂_0),      ε̂' = (x_t − √ᾱ_t x̂_0') / √(1−ᾱ_t),

and the usual DDIM step goes on with (ε̂', x̂_0'). The gradient runs through the loss only, not
through the denoiser, so a guided step costs one network evaluation plus one backward pass of the
loss. (Differentiating through the denoiser and shifting ε̂ instead — "universal guidance", Bansal
et al. 2023 — moves x̂_0 by √((1−ᾱ_t)/ᾱ_t) times the shift of ε̂: about 2·10⁴ at the first step of
the cosine schedule, where √ᾱ_{T−1} ≈ 5·10⁻⁵. On the course's model that wrecked every sample.)

With ℓ = −log p(c | x̂_0) this is **classifier guidance** (Dhariwal & Nichol 2021 push along
∇ log p(c | x_t) of a classifier trained on noisy images; here the course's ordinary digit
classifier reads the clean guess). It needs a classifier and a gradient at every step; notebook
05's **classifier-free** guidance needs neither, only a model trained with labels. This works for
*any* differentiable loss, on a model that never saw a label.

:func:`guided_sample` checks the loss once, on the start noise (finite, shape (B,) or a scalar,
with a gradient); :func:`classifier_loss` and :func:`texture_loss` build the two losses of notebook 09.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..classifier import load_classifier
from ..diffusion.reverse import predict_noise_from_x0
from ..diffusion.samplers import ddim_timesteps, denoise, guided_predictions
from ..style.losses import gram_matrix, style_loss
from ..validation import check_choice, check_float, check_images, check_int
from .common import prepare_call

#: The digit classifier's layers whose Gram matrices describe a texture (its ReLU outputs:
#: 32 channels at 28×28, 32 at 28×28, 64 at 14×14) — early layers, where texture lives.
STYLE_LAYERS = (2, 5, 9)


# ----------------------------------------------------------------------------- the updates, bare


def guide_x0(x0_pred: torch.Tensor, grad_x0: torch.Tensor, scale: float) -> torch.Tensor:
    """x̂_0' = x̂_0 − s ∇_{x̂_0} ℓ: one gradient step on the clean-image guess (the noise
    prediction that goes with it is ``predict_noise_from_x0``: ε̂' = (x_t − √ᾱ_t x̂_0')/√(1−ᾱ_t))."""
    return x0_pred - scale * grad_x0                     # x̂_0' = x̂_0 − s ∇ℓ(x̂_0)


# ----------------------------------------------------------------------------- two losses

TEXTURES = ("dots", "stripes")


def make_texture(kind: str = "dots", period: float = 5.0) -> torch.Tensor:
    """A 28×28 texture (1, 1, 28, 28) in [−1, 1]: a halftone of ``"dots"`` (light where
    cos(2πx/p)·cos(2πy/p) > ½) or diagonal ``"stripes"`` (cos(2π(x + y)/(√2 p))), period p pixels."""
    check_choice("kind", kind, TEXTURES)
    period = check_float("period", period, 2.0, 28.0)
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    if kind == "dots":
        light = torch.cos(2 * math.pi * xs / period) * torch.cos(2 * math.pi * ys / period) > 0.5
        return (light.float() * 2 - 1)[None, None]
    return torch.cos(2 * math.pi * (xs + ys) / (math.sqrt(2) * period))[None, None]



def classifier_loss(digit: int, classifier: nn.Module | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """ℓ(x̂_0) = −log p(digit | x̂_0) per image, (B,), from the course's digit classifier."""
    digit = check_int("digit", digit, 0, 9)
    classifier = load_classifier() if classifier is None else classifier

    def loss(x0_pred: torch.Tensor) -> torch.Tensor:
        logits = classifier(x0_pred.to(next(classifier.parameters()).device))
        return -F.log_softmax(logits, dim=1)[:, digit]   # −log p(digit | x̂_0)

    loss.__name__ = f"classifier_loss(digit={digit})"
    return loss


def classifier_features(images: torch.Tensor, layers=STYLE_LAYERS, classifier: nn.Module | None = None) -> dict:
    """The digit classifier's feature maps F^l (B, C_l, H_l, W_l) at ``layers`` (indices into its ``body``)."""
    classifier = load_classifier() if classifier is None else classifier
    features, x = {}, images.to(next(classifier.parameters()).device)
    for index, layer in enumerate(classifier.body[: max(layers) + 1]):
        x = layer(x)
        if index in layers:
            features[index] = x
    return features


def texture_loss(texture: torch.Tensor, layers=STYLE_LAYERS, classifier: nn.Module | None = None):
    """ℓ(x̂_0): notebook 06's Gram-matrix style loss (Gatys eq. 4–5) between each image and
    ``texture`` (1, 1, 28, 28) in [−1, 1], on the digit classifier's feature maps (VGG19 has never
    seen a 28-pixel digit; this small network has).

    Layer l's weight is w_l = 1 / (L · ¼‖A^l‖²), so every layer counts alike and ℓ = 1 for an
    image whose Gram matrices are 0: ℓ = (1/L) Σ_l ‖G^l − A^l‖² / ‖A^l‖², a relative error.
    Returns the sum over the batch (a scalar: :func:`guided_sample` guides each image by its own
    term).
    """
    check_images("texture", texture, channels=1, pixel_range=True)
    if tuple(texture.shape) != (1, 1, 28, 28):
        raise ValueError(f"texture must have shape (1, 1, 28, 28), got {tuple(texture.shape)}")
    layers = tuple(check_int("layers", layer, 0, 16) for layer in layers)
    classifier = load_classifier() if classifier is None else classifier
    with torch.no_grad():
        targets = {l: gram_matrix(f) for l, f in classifier_features(texture, layers, classifier).items()}  # A^l
    weights = {l: 1 / (len(layers) * 0.25 * float(a.pow(2).sum())) for l, a in targets.items()}        # w_l

    def loss(x0_pred: torch.Tensor) -> torch.Tensor:
        features = classifier_features(x0_pred, layers, classifier)
        return len(x0_pred) * style_loss(features, targets, weights)   # Σ_images Σ_l w_l E_l

    loss.__name__ = "texture_loss"
    return loss


# ----------------------------------------------------------------------------- the sampler


def _loss_name(loss_fn) -> str:
    return getattr(loss_fn, "__name__", type(loss_fn).__name__)


def check_loss_fn(loss_fn, probe: torch.Tensor) -> None:
    """Call ``loss_fn`` once on ``probe`` (B, C, H, W) and raise naming ``loss_fn`` unless it returns
    a finite loss of shape (B,) or () that has a gradient with respect to its input, itself finite."""
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function x0_pred (B, C, H, W) -> loss (B,), got {type(loss_fn).__name__}")
    name = _loss_name(loss_fn)
    with torch.enable_grad():
        x = probe.detach().clone().requires_grad_(True)
        loss = loss_fn(x)
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"loss_fn ({name}) must return a tensor of shape (B,) = ({len(x)},) or a scalar, "
                            f"got {type(loss).__name__}")
        if loss.shape not in ((), (len(x),)):
            raise ValueError(f"loss_fn ({name}) must return one loss per image, shape ({len(x)},), or a scalar; "
                             f"got shape {tuple(loss.shape)}")
        if not bool(torch.isfinite(loss).all()):
            raise ValueError(f"loss_fn ({name}) must return a finite loss, got {loss.detach().flatten()[:4].tolist()} "
                             "on images in [-1, 1] (guard logs and divisions: log(p + 1e-8))")
        if not loss.requires_grad:
            raise ValueError(f"loss_fn ({name}) returned a loss without a gradient with respect to its input: "
                             "compute it from x0_pred with torch operations (no .item(), .detach(), numpy or "
                             "torch.no_grad())")
        (grad,) = torch.autograd.grad(loss.sum(), x, allow_unused=True)
    if grad is None:
        raise ValueError(f"loss_fn ({name}) returned a loss that does not depend on its input x0_pred, so it has "
                         "no gradient to guide with")
    if not bool(torch.isfinite(grad).all()):
        raise ValueError(f"loss_fn ({name}) has a NaN or infinite gradient on images in [-1, 1]")


def guided_sample(
    model: nn.Module,
    n: int,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    scale: float = 1.0,
    nfe: int | None = None,
    eta: float = 0.0,
    seed: int | None = None,
    device=None,
    progress: bool = True,
) -> torch.Tensor:
    """Draw ``n`` images (n, C, H, W) in [−1, 1], each step pushed down the gradient of ``loss_fn``.

    ``loss_fn(x0_pred)`` takes the model's clean-image guess (B, C, H, W) and returns one loss per
    image (B,) (a scalar is taken as their sum); it is checked once, on the start noise clamped to
    [−1, 1] (:func:`check_loss_fn`). ``scale`` s ≥ 0 (0 = plain sampling from the same noise).
    DDIM with ``nfe`` steps (default 50) and stochasticity ``eta``; ``seed`` as in
    :func:`~course_lib.diffusion.sample` (same seed, same start noise, whatever the scale).
    """
    n = check_int("n", n, 1)
    call = prepare_call(model, n, nfe=nfe, eta=eta, seed=seed, device=device)
    scale = check_float("scale", scale, 0.0, hint="0 = no guidance")
    sched = call.schedule
    shape = (n, model.in_channels, model.image_size, model.image_size)
    x = torch.randn(shape, generator=call.generator, device=call.device)   # x_{T−1} ~ N(0, I), as sample() draws it
    check_loss_fn(loss_fn, x.clamp(-1, 1))

    def predict(x, t):
        noise_pred, x0_pred = guided_predictions(model, x, t, sched)
        with torch.enable_grad():
            x0 = x0_pred.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(loss_fn(x0).sum(), x0)   # ∇_{x̂_0} ℓ, one per image
        x0_pred = guide_x0(x0_pred, grad, scale)
        return predict_noise_from_x0(x, t, x0_pred, sched), x0_pred

    try:
        x, _ = denoise(model, x, ddim_timesteps(sched.num_steps, call.nfe) + [-1], eta=call.eta,
                       generator=call.generator, predict=predict if scale > 0 else None, progress=progress,
                       desc=f"guided sampling, scale {scale:g}")
    except FloatingPointError:
        raise FloatingPointError(f"guided sampling with loss_fn ({_loss_name(loss_fn)}) at scale={scale:g} produced "
                                 "NaN or infinite values: lower the scale, or check the loss for images outside "
                                 "[-1, 1]") from None
    return x.clamp(-1, 1)
