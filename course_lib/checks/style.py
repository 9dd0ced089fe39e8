"""Self-checks for the exercises of notebook 06 (neural style transfer).

* :func:`check_gram_matrix` — the learner's ``gram_matrix(features)``: G = F Fᵀ / (C H W).
* :func:`check_style_loss` — the learner's ``style_loss(features, target_grams, layer_weights)``:
  L_style = Σ_l w_l · ¼ Σ_ij (G^l_ij − A^l_ij)²  (Gatys et al. 2016, eqs. 4–5).

The references are :func:`course_lib.style.gram_matrix` and :func:`course_lib.style.style_loss`.
"""

from __future__ import annotations

import torch

from ..style.losses import gram_matrix as reference_gram
from ..style.losses import style_loss as reference_style_loss
from ._core import CheckResult, LearnerError, call_learner, checker


def _case(seed: int, shape) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen, dtype=torch.float64).float() * 2


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4) -> bool:
    return bool(torch.allclose(a.double(), b.double(), rtol=rtol, atol=1e-7))


def _ratio(mine: torch.Tensor, ref: torch.Tensor) -> float | None:
    """mine / ref if mine is a constant multiple of ref, else None."""
    ref, mine = ref.double().flatten(), mine.double().flatten()
    k = int(ref.abs().argmax())
    if ref[k] == 0:
        return None
    r = float(mine[k] / ref[k])
    return r if torch.allclose(mine, r * ref, rtol=1e-4, atol=1e-9) else None


def _as_tensor(name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise LearnerError(CheckResult.fail(f"{name} should return a torch.Tensor, got {type(value).__name__}"))
    return value


@checker
def check_gram_matrix(gram_matrix) -> CheckResult:
    """Check ``gram_matrix(features)``: (B, C, H, W) → (B, C, C), G = F Fᵀ / (C H W)."""
    b, c, h, w = 2, 4, 3, 5
    feats = _case(0, (b, c, h, w)).requires_grad_(True)
    ref = reference_gram(feats.detach())
    try:
        mine = _as_tensor("gram_matrix", call_learner(gram_matrix, feats))
    except LearnerError as err:
        text = err.result.message
        if "cannot be multiplied" in text or "size mismatch" in text or "must match" in text:
            return CheckResult.fail(
                "multiplying F by itself fails on a (B, C, H·W) matrix: the Gram matrix is F Fᵀ, "
                f"transpose the second factor ({text})"
            )
        raise
    if tuple(mine.shape) == (b, h * w, h * w):
        return CheckResult.fail(
            f"the result has shape {tuple(mine.shape)} = (B, HW, HW): you computed Fᵀ F; "
            "the Gram matrix is F Fᵀ, one entry per pair of channels, shape (B, C, C)"
        )
    if tuple(mine.shape) != (b, c, c):
        return CheckResult.fail(
            f"for features of shape {(b, c, h, w)} the Gram matrix must have shape (B, C, C) = "
            f"{(b, c, c)}, got {tuple(mine.shape)} (reshape F to (B, C, H·W) first)"
        )
    if not _close(mine, ref):
        r = _ratio(mine.detach(), ref)
        hints = {
            c * h * w: "it is C·H·W times too large: divide F Fᵀ by N·M = C·H·W",
            h * w: "it is H·W times too large: divide by C·H·W, not only by C",
            c: "it is C times too large: divide by C·H·W, not only by H·W",
            1.0 / b: "it is divided by the batch size too: normalise by C·H·W per image",
        }
        for factor, hint in hints.items():
            if r is not None and abs(r - factor) < 1e-6 * max(1.0, factor):
                return CheckResult.fail(f"the values are off by a constant factor {r:g}: {hint}")
        if _close(mine[0], ref[0]) and not _close(mine[1], ref[1]):
            return CheckResult.fail("image 0 is right but image 1 is not: compute one Gram matrix per image in the batch")
        if not _close(mine, mine.transpose(1, 2)):
            return CheckResult.fail("the Gram matrix must be symmetric (G_ij = G_ji): multiply F by its own transpose")
        return CheckResult.fail(
            "the values differ from G_ij = Σ_k F_ik F_jk / (C·H·W) on a random (2, 4, 3, 5) feature map"
        )
    if not mine.requires_grad:
        return CheckResult.fail("the result carries no gradient: use torch operations only (no .numpy(), no .detach())")
    one = torch.ones(1, 3, 2, 2)
    if not _close(call_learner(gram_matrix, one), torch.full((1, 3, 3), 1.0 / 3)):
        return CheckResult.fail("for features of all ones (1, 3, 2, 2) every entry should be 4 / 12 = 1/3")
    return CheckResult.ok("gram_matrix is right: shape (B, C, C), symmetric, normalised by C·H·W, differentiable")


def _style_case():
    shapes = {"conv1_1": (1, 3, 6, 6), "conv2_1": (1, 5, 3, 3)}
    feats = {k: _case(i + 1, s).requires_grad_(True) for i, (k, s) in enumerate(shapes.items())}
    targets = {k: reference_gram(_case(i + 10, s)) for i, (k, s) in enumerate(shapes.items())}
    weights = {"conv1_1": 0.7, "conv2_1": 0.3}
    return feats, targets, weights


@checker
def check_style_loss(style_loss) -> CheckResult:
    """Check ``style_loss(features, target_grams, layer_weights)`` = Σ_l w_l · ¼ Σ_ij (G^l − A^l)²."""
    feats, targets, weights = _style_case()
    ref = reference_style_loss({k: v.detach() for k, v in feats.items()}, targets, weights)
    mine = _as_tensor("style_loss", call_learner(style_loss, feats, targets, weights))
    if mine.numel() != 1:
        return CheckResult.fail(f"style_loss must return one number (a scalar tensor), got shape {tuple(mine.shape)}")
    mine = mine.reshape(())
    if not _close(mine, ref):
        r = float(mine.detach() / ref)
        per_layer = {
            k: 0.25 * (reference_gram(feats[k].detach()) - targets[k]).pow(2).sum() for k in feats
        }
        unweighted = sum(per_layer.values())
        mean_version = sum(weights[k] * per_layer[k] / targets[k].shape[-1] ** 2 for k in feats)
        if abs(r - 4) < 1e-4:
            return CheckResult.fail("the loss is 4 times too large: E_l has a factor ¼ in front of Σ (G − A)²")
        if abs(r - 0.25) < 1e-4:
            return CheckResult.fail("the loss is 4 times too small: the factor ¼ is applied twice")
        if _close(mine, unweighted):
            return CheckResult.fail("the layers are summed without their weights: multiply each E_l by w_l")
        if _close(mine, mean_version) or _close(mine, 4 * mean_version):
            return CheckResult.fail("you averaged (G − A)² over the C² entries; E_l sums them (Σ_ij)")
        sq_free = sum(weights[k] * 0.25 * (reference_gram(feats[k].detach()) - targets[k]).abs().sum() for k in feats)
        if _close(mine, sq_free):
            return CheckResult.fail("the differences are not squared: E_l = ¼ Σ_ij (G_ij − A_ij)²")
        return CheckResult.fail(
            f"on a two-layer example the loss is {float(mine.detach()):.6g}, expected {float(ref):.6g} "
            "= Σ_l w_l · ¼ Σ_ij (G^l_ij − A^l_ij)², with G^l the Gram matrix of your image's features"
        )
    if not mine.requires_grad:
        return CheckResult.fail("the loss carries no gradient: the image's features must stay in the graph")
    mine.backward()
    missing = [k for k, f in feats.items() if f.grad is None or float(f.grad.abs().sum()) == 0]
    if missing:
        return CheckResult.fail(f"no gradient reaches the features of {missing}: every style layer must count")
    same = {k: reference_gram(v.detach()) for k, v in feats.items()}
    zero = _as_tensor("style_loss", call_learner(style_loss, {k: v.detach() for k, v in feats.items()}, same, weights))
    if abs(float(zero)) > 1e-8:
        return CheckResult.fail(f"when the image's Gram matrices equal the targets the loss must be 0, got {float(zero):.3g}")
    return CheckResult.ok("style_loss is right: Σ_l w_l · ¼ Σ_ij (G^l − A^l)², zero for matching Grams, gradients reach every layer")
