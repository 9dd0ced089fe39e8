"""The self-checks of notebook 08 pass the references and name the typical mistakes (issue 15)."""

from __future__ import annotations

import math

from course_lib.checks.text2img import (
    check_cross_attention,
    check_negative_guidance,
    reference_negative_guidance,
)
from course_lib.text2img import cross_attention


def _attend(q, k, v, mask, scale=None, fill=True, invert=False, axis=-1):
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale is None else scale)
    if fill:
        where = mask[:, None, None, :] if invert else ~mask[:, None, None, :]
        scores = scores.masked_fill(where, float("-inf") if axis == -1 else -1e9)
    return scores.softmax(axis) @ v


def test_cross_attention_check_passes_the_reference_and_names_each_mistake():
    assert check_cross_attention(cross_attention)
    assert check_cross_attention(lambda q, k, v, m: _attend(q, k, v, m))
    mistakes = {
        "divided by √d": lambda q, k, v, m: _attend(q, k, v, m, scale=1.0),
        "not by d": lambda q, k, v, m: _attend(q, k, v, m, scale=q.shape[-1]),
        "padding tokens must get weight 0": lambda q, k, v, m: _attend(q, k, v, m, fill=False),
        "the mask is inverted": lambda q, k, v, m: _attend(q, k, v, m, invert=True),
        "over the tokens (the last axis": lambda q, k, v, m: _attend(q, k, v, m, axis=-2),
        "you returned the attention weights": lambda q, k, v, m: cross_attention(q, k, v, m)[1],
        "must have shape (B, heads, N, d)": lambda q, k, v, m: _attend(q, k, v, m).mean(1),
        "is not written yet": lambda q, k, v, m: (_ for _ in ()).throw(NotImplementedError),
    }
    for phrase, fn in mistakes.items():
        result = check_cross_attention(fn)
        assert not result and phrase in result.message, (phrase, result.message)


def test_negative_guidance_check_passes_the_reference_and_names_each_mistake():
    assert check_negative_guidance(reference_negative_guidance)
    mistakes = {
        "diffusers convention": lambda d, z, t, c, n, w: w * d(z, t, c) - (w - 1) * d(z, t, n),
        "are swapped": lambda d, z, t, c, n, w: (1 + w) * d(z, t, n) - w * d(z, t, c),
        "needs weight 1 + w": lambda d, z, t, c, n, w: w * d(z, t, c) - w * d(z, t, n),
        "is subtracted": lambda d, z, t, c, n, w: (1 + w) * d(z, t, c) + w * d(z, t, n),
        "negative prompt was not used": lambda d, z, t, c, n, w: d(z, t, c),
        "shape of the latents": lambda d, z, t, c, n, w: d(z, t, c)[0],
        "differs by up to": lambda d, z, t, c, n, w: (1 + w) * d(z, t, c) - w * d(z, t, n) + 0.1,
    }
    for phrase, fn in mistakes.items():
        result = check_negative_guidance(fn)
        assert not result and phrase in result.message, (phrase, result.message)
