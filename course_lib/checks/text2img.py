"""Self-checks for notebook 08 (text to image).

* :func:`check_cross_attention` — the learner's ``cross_attention(q, k, v, mask)`` returning the
  attended values softmax(QKᵀ/√d)V with the padding tokens masked (reference:
  :func:`course_lib.text2img.cross_attention`, whose first output this is). Recognises: no √d,
  a division by d, the softmax over the wrong axis, the mask ignored, the mask inverted (padding
  attended, words ignored), and the weights returned instead of the values.
* :func:`check_negative_guidance` — the learner's ``guided(denoiser, latents, t, text, negative, w)``
  returning ε̃ = (1 + w) ε_θ(z_t, t, c) − w ε_θ(z_t, t, c₋) for a :class:`~course_lib.text2img.TextCondition`
  prompt ``text`` and negative prompt ``negative`` (reference:
  :func:`course_lib.text2img.text_guided_predictions`). Recognises: the diffusers convention, the
  prompts swapped, a missing 1 +, a wrong sign, and the negative prompt ignored.
"""

from __future__ import annotations

import math

import torch

from ..text2img.attention import cross_attention
from ..text2img.denoiser import TextCondition, build_denoiser
from ..text2img.pipeline import text_guided_predictions
from ._core import CheckResult, call_learner, checker

__all__ = ["check_cross_attention", "check_negative_guidance", "reference_negative_guidance"]


# ----------------------------------------------------------------------------- cross-attention


def _attention_case(seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    b, h, n, length, d = 2, 2, 5, 6, 8
    q = torch.randn(b, h, n, d, generator=g)
    k = torch.randn(b, h, length, d, generator=g)
    v = torch.randn(b, h, length, d, generator=g)
    mask = torch.tensor([[True, True, True, True, False, False], [True, True, False, False, False, False]])
    return q, k, v, mask


def _softmax_masked(scores, mask):
    return scores.masked_fill(~mask[:, None, None, :], float("-inf")).softmax(-1)


def _wrong_attention(q, k, v, mask) -> dict:
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1)
    return {
        "the scores must be divided by √d (the width of one head) before the softmax: softmax(QKᵀ/√d)":
            _softmax_masked(scores, mask) @ v,
        "divide the scores by √d, not by d": _softmax_masked(scores / d, mask) @ v,
        "the padding tokens must get weight 0: set their scores to −∞ (masked_fill with ~mask) before the softmax":
            (scores / math.sqrt(d)).softmax(-1) @ v,
        "the mask is inverted: True marks the real tokens to attend to, so fill the scores where mask is False":
            (scores / math.sqrt(d)).masked_fill(mask[:, None, None, :], float("-inf")).softmax(-1).nan_to_num() @ v,
        "the softmax must run over the tokens (the last axis, one distribution per query position), "
        "not over the positions": (scores / math.sqrt(d)).masked_fill(~mask[:, None, None, :], -1e9).softmax(-2) @ v,
    }


@checker
def check_cross_attention(fn) -> CheckResult:
    """Check ``fn(q, k, v, mask)`` = softmax(QKᵀ/√d) V with masked padding, shapes (B, heads, N, d)."""
    q, k, v, mask = _attention_case()
    out = call_learner(fn, q.clone(), k.clone(), v.clone(), mask.clone())
    if isinstance(out, tuple):
        out = out[0]
    if not torch.is_tensor(out):
        return CheckResult.fail(f"return the attended values as a tensor, got {type(out).__name__}")
    want, weights = cross_attention(q, k, v, mask)
    if out.shape == weights.shape and torch.allclose(out, weights, atol=1e-5):
        return CheckResult.fail("you returned the attention weights (B, heads, N, L); multiply them by V to get "
                                "the attended values (B, heads, N, d)")
    if out.shape != want.shape:
        return CheckResult.fail(f"the output must have shape (B, heads, N, d) = {tuple(want.shape)}, got "
                                f"{tuple(out.shape)}")
    if not torch.isfinite(out).all():
        return CheckResult.fail("the output has NaN or inf values: fill masked scores with −inf only where "
                                "mask is False, so every row keeps at least one real token")
    if not torch.allclose(out, want, atol=1e-5):
        for hint, wrong in _wrong_attention(q, k, v, mask).items():
            if wrong.shape == out.shape and torch.allclose(out, wrong, atol=1e-5):
                return CheckResult.fail(hint + ".")
        return CheckResult.fail(f"the values differ from softmax(QKᵀ/√d)V by up to {float((out - want).abs().max()):.3g}")
    k2, v2 = k.clone(), v.clone()
    k2[~mask[:, None, :, None].expand_as(k2)] = 50.0  # change only the padding tokens
    v2[~mask[:, None, :, None].expand_as(v2)] = -50.0
    again = call_learner(fn, q.clone(), k2, v2, mask.clone())
    again = again[0] if isinstance(again, tuple) else again
    if not torch.allclose(again, want, atol=1e-5):
        return CheckResult.fail("changing the keys and values of padding tokens changed your output: the mask "
                                "must remove them completely")
    return CheckResult.ok("softmax(QKᵀ/√d)V over the real tokens only, shape (B, heads, N, d); padding has weight 0.")


# ----------------------------------------------------------------------------- negative-prompt guidance


def reference_negative_guidance(denoiser, latents, t, text: TextCondition, negative: TextCondition, w: float):
    """The solution: ε̃ = (1 + w) ε_θ(z_t, t, c) − w ε_θ(z_t, t, c₋) (an ε-predicting denoiser)."""
    return (1 + w) * denoiser(latents, t, text) - w * denoiser(latents, t, negative)


def _guidance_case():
    torch.manual_seed(11)
    denoiser = build_denoiser(dict(base_channels=16, context_dim=8, heads=2, prediction="epsilon")).eval()
    with torch.no_grad():
        for p in denoiser.out.parameters():  # the output layer starts at zero: give it weights
            p.normal_(0, 0.2)
    g = torch.Generator().manual_seed(12)
    latents = torch.randn(3, 4, 7, 7, generator=g)
    mask = torch.tensor([[True] * 4 + [False] * 2] * 3)
    text = TextCondition(torch.randn(3, 6, 8, generator=g), mask)
    negative = TextCondition(torch.randn(3, 6, 8, generator=g), mask)
    return denoiser, latents, text, negative


@checker
def check_negative_guidance(fn) -> CheckResult:
    """Check ``fn(denoiser, latents, t, text, negative, w)`` against ε̃ = (1 + w) ε(c) − w ε(c₋)."""
    denoiser, latents, text, negative = _guidance_case()
    with torch.no_grad():
        cond, neg = denoiser(latents, 400, text), denoiser(latents, 400, negative)
        for w in (3.0, 0.0, 6.5):
            out = call_learner(fn, denoiser, latents.clone(), 400, text, negative, w)
            if not torch.is_tensor(out):
                return CheckResult.fail(f"return the guided noise as a tensor, got {type(out).__name__}")
            if out.shape != latents.shape:
                return CheckResult.fail(f"ε̃ must have the shape of the latents {tuple(latents.shape)}, got "
                                        f"{tuple(out.shape)}")
            want = text_guided_predictions(denoiser, latents, 400, denoiser.schedule, text, negative, w).noise_pred
            if torch.allclose(out, want, atol=1e-4):
                continue
            wrong = {
                "you used the diffusers convention s·ε(c) − (s − 1)·ε(c₋) with s = w; the course's w is s − 1, "
                "so the prompt's prediction is weighted 1 + w": w * cond - (w - 1) * neg,
                "the prompt and the negative prompt are swapped: the prompt gets 1 + w, the negative prompt −w":
                    (1 + w) * neg - w * cond,
                "the prompt's prediction needs weight 1 + w, not w (at w = 0 the result must be ε(c) itself)":
                    w * cond - w * neg,
                "the negative prompt's prediction is subtracted: (1 + w)·ε(c) − w·ε(c₋)": (1 + w) * cond + w * neg,
                "the negative prompt was not used: call the denoiser on it, in place of the empty prompt": cond,
            }
            for hint, value in wrong.items():
                if torch.allclose(out, value, atol=1e-4):
                    return CheckResult.fail(f"at w = {w:g}: {hint}.")
            return CheckResult.fail(f"at w = {w:g} ε̃ should be (1 + w)·ε(c) − w·ε(c₋); yours differs by up to "
                                    f"{float((out - want).abs().max()):.3g}.")
    return CheckResult.ok("ε̃ = (1 + w)·ε(z_t, t, prompt) − w·ε(z_t, t, negative prompt) at w = 0, 3 and 6.5.")

