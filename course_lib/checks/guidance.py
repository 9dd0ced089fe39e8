"""Self-check for notebook 05: the classifier-free guidance formula and its convention.

The exercise: write ``guided(cond, uncond, w)`` returning ε̃ = (1 + w) ε_c − w ε_∅ (Ho & Salimans
2022, eq. 6, the course's convention: w = 0 is the conditional model). The reference is
:func:`course_lib.diffusion.samplers.guided_output`. The check recognises the usual slips: the
diffusers/Stable Diffusion convention s = 1 + w used in place of w, an interpolation between the
the 1 left out, the predictions swapped, and a wrong sign.
"""

from __future__ import annotations

import torch

from ..diffusion.samplers import guided_output
from ._core import CheckResult, call_learner, checker

__all__ = ["check_guided_noise", "reference_guided_noise"]


def reference_guided_noise(cond, uncond, w):
    """The solution: ε̃ = (1 + w) ε_θ(x_t, t, c) − w ε_θ(x_t, t, ∅)."""
    return guided_output(cond, uncond, w)


def _wrong_answers(cond, uncond, w) -> dict[str, torch.Tensor]:
    return {
        "you used the diffusers / Stable Diffusion convention ε̃ = s·ε_c − (s − 1)·ε_∅ "
        "(= ε_∅ + s·(ε_c − ε_∅)) with s = w; the course's w is s − 1, so the conditional weight is 1 + w":
            w * cond - (w - 1) * uncond,
        "the conditional prediction needs weight 1 + w, not w (at w = 0 the result must be ε_c itself)":
            w * cond - w * uncond,
        "the predictions are swapped: the conditional one gets 1 + w, the unconditional one −w":
            (1 + w) * uncond - w * cond,
        "the unconditional prediction is subtracted, not added: (1 + w)·ε_c − w·ε_∅": (1 + w) * cond + w * uncond,
    }


@checker
def check_guided_noise(fn) -> CheckResult:
    """Check ``fn(cond, uncond, w)`` against ε̃ = (1 + w) ε_c − w ε_∅ at several w."""
    gen = torch.Generator().manual_seed(5)
    cond, uncond = torch.randn(2, 3, 1, 8, 8, generator=gen)
    for w in (3.0, 0.0, 1.0, 6.5):  # w = 3 first: there every typical slip gives a different tensor
        out = call_learner(fn, cond.clone(), uncond.clone(), w)
        if not isinstance(out, torch.Tensor):
            return CheckResult.fail(f"guided must return a tensor, got {type(out).__name__}")
        if out.shape != cond.shape:
            return CheckResult.fail(f"ε̃ must have the shape of the predictions {tuple(cond.shape)}, "
                                    f"got {tuple(out.shape)}")
        want = reference_guided_noise(cond, uncond, w)
        if torch.allclose(out, want, atol=1e-5):
            continue
        for hint, wrong in _wrong_answers(cond, uncond, w).items():
            if torch.allclose(out, wrong, atol=1e-5):
                return CheckResult.fail(f"at w = {w:g}: {hint}.")
        return CheckResult.fail(f"at w = {w:g} ε̃ should be (1 + w)·ε_c − w·ε_∅; yours differs by up to "
                                f"{float((out - want).abs().max()):.3g}.")
    return CheckResult.ok("ε̃ = (1 + w)·ε_c − w·ε_∅ at w = 0, 1, 3 and 6.5 (diffusers' scale 7.5 is w = 6.5).")
