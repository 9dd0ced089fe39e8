"""Self-checks for notebook 09 (control and editing): the SDEdit start point and the inpainting merge.

Exercise 1: ``sdedit_start(images, strength, nfe, schedule, noise) -> (t0, x_t0)``. SDEdit runs the
last k = ⌊strength·nfe + ½⌋ of the sampler's ``ddim_timesteps(T, nfe)``; t_0 is the first of them,
and x_{t_0} = √ᾱ_{t_0} x + √(1−ᾱ_{t_0}) ε. Strength 0 runs no step: (−1, the images unchanged).
The reference combines :func:`course_lib.control.sdedit.sdedit_timesteps` and
:func:`~course_lib.control.sdedit.sdedit_start`.

Exercise 2: ``merge(x, x_known, mask, t, schedule, noise)`` returns m ⊙ x^known_t + (1 − m) ⊙ x
with x^known_t = √ᾱ_t x^known + √(1−ᾱ_t) ε, and x^known itself at t = −1 (mask 1 = known). The
reference is :func:`course_lib.control.inpaint.inpaint_merge`.
"""

from __future__ import annotations

import torch

from ..control.inpaint import half_mask, inpaint_merge
from ..control.sdedit import sdedit_start, sdedit_timesteps
from ..diffusion.schedules import make_schedule
from ._core import CheckResult, call_learner, checker

__all__ = ["check_inpaint_merge", "check_sdedit_start", "reference_inpaint_merge", "reference_sdedit_start"]


def reference_sdedit_start(images, strength, nfe, schedule, noise):
    """The solution: the first of the last k = ⌊strength·nfe + ½⌋ sampler timesteps, and q(x_{t0} | x) there."""
    timesteps = sdedit_timesteps(strength, nfe, schedule.num_steps)  # [] for strength 0
    t0 = timesteps[0] if timesteps else -1
    return t0, sdedit_start(images, t0, schedule, noise)


def reference_inpaint_merge(x, x_known, mask, t, schedule, noise):
    """The solution: m ⊙ x^known_t + (1 − m) ⊙ x_t, with x^known_{−1} = x^known."""
    return inpaint_merge(x, x_known, mask, t, schedule, noise)


def _case(seed: int, shape=(3, 1, 8, 8)):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(shape, generator=gen) * 2 - 1
    return images, torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)


def _close(a, b) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=1e-5)


def _noise_diagnosis(out, images, noise, t0, s) -> str:
    """Name the usual slip in x_{t0} = √ᾱ x + √(1−ᾱ) ε."""
    ab, a = s.alpha_bars[t0].float(), s.alphas[t0].float()
    wrong = {
        "take the square roots: √ᾱ_t0 · x + √(1−ᾱ_t0) · ε, not ᾱ_t0 · x + (1−ᾱ_t0) · ε": ab * images + (1 - ab) * noise,
        "the image gets √ᾱ_t0 and the noise √(1−ᾱ_t0), not the other way round": ab.sqrt() * noise + (1 - ab).sqrt() * images,
        "use ᾱ_t0 (schedule.alpha_bars), not α_t0 (schedule.alphas): the forward process from x in one shot":
            a.sqrt() * images + (1 - a).sqrt() * noise,
    }
    for hint, value in wrong.items():
        if _close(out, value):
            return hint
    return "x_t0 should be √ᾱ_t0 · images + √(1−ᾱ_t0) · noise (q_sample(images, t0, schedule, noise))"


@checker
def check_sdedit_start(fn) -> CheckResult:
    """Check ``fn(images, strength, nfe, schedule, noise) -> (t0, x_t0)`` on several strengths."""
    s = make_schedule("cosine", 1000)
    images, noise, _ = _case(0)
    # (strength, nfe): an even split, one where strength·nfe is not whole, the two ends.
    for strength, nfe in ((0.5, 50), (0.25, 10), (0.33, 10), (1.0, 20), (0.0, 50)):
        out = call_learner(fn, images.clone(), strength, nfe, s, noise.clone())
        if not (isinstance(out, tuple) and len(out) == 2):
            return CheckResult.fail(f"sdedit_start must return a pair (t0, x_t0), got {type(out).__name__}")
        t0, x = out
        want_t0, want_x = reference_sdedit_start(images, strength, nfe, s, noise)
        if isinstance(t0, torch.Tensor) and t0.numel() == 1:
            t0 = int(t0)
        timesteps = sdedit_timesteps(1.0, nfe, s.num_steps)  # all of the sampler's timesteps, T−1 first
        k = int(strength * nfe + 0.5)
        if t0 != want_t0:
            if strength == 0:
                return CheckResult.fail(f"at strength 0 no step runs: return t0 = -1 and the images unchanged, got t0 = {t0}.")
            if t0 in (round(strength * s.num_steps) - 1, int(strength * (s.num_steps - 1)), round(strength * s.num_steps)):
                return CheckResult.fail(f"at strength {strength:g}, nfe {nfe}: t0 = {t0} comes from strength·T; SDEdit "
                                        f"starts at one of the sampler's own timesteps, the k-th from the end of "
                                        f"ddim_timesteps(T, nfe) with k = ⌊strength·nfe + ½⌋ = {k}: t0 = {want_t0}.")
            if t0 in (timesteps[nfe - k - 1] if nfe - k - 1 >= 0 else None, timesteps[nfe - k + 1] if k > 1 else None):
                return CheckResult.fail(f"at strength {strength:g}, nfe {nfe}: t0 = {t0} is one sampler step off; with "
                                        f"k = ⌊strength·nfe + ½⌋ = {k} steps to run, t0 = ddim_timesteps(T, nfe)[nfe - k] "
                                        f"= {want_t0}.")
            return CheckResult.fail(f"at strength {strength:g}, nfe {nfe} t0 should be {want_t0} (the first of the last "
                                    f"k = {k} of ddim_timesteps(T, nfe)), got {t0}.")
        if not isinstance(x, torch.Tensor) or x.shape != images.shape:
            return CheckResult.fail(f"x_t0 must be a tensor of the images' shape {tuple(images.shape)}, got "
                                    f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        if strength == 0 and not torch.equal(x, images):
            return CheckResult.fail("at strength 0 (t0 = -1) x_t0 must be the images themselves, unchanged: "
                                    "ᾱ_(−1) = 1, and alpha_bars[-1] in Python is the *last* timestep, not that.")
        if not _close(x, want_x):
            return CheckResult.fail(f"at strength {strength:g} (t0 = {t0}): {_noise_diagnosis(x, images, noise, t0, s)}.")
    return CheckResult.ok("t0 is the k-th sampler timestep from the end (k = ⌊strength·nfe + ½⌋) and x_t0 the "
                          "forward process there, at strengths 0, 0.25, 0.33, 0.5 and 1.")


@checker
def check_inpaint_merge(fn) -> CheckResult:
    """Check ``fn(x, x_known, mask, t, schedule, noise)`` = m ⊙ x^known_t + (1 − m) ⊙ x at several t."""
    s = make_schedule("cosine", 1000)
    x_known, noise, x = _case(1)
    mask = half_mask("bottom", 8)
    for t in (500, 999, 0, -1):
        out = call_learner(fn, x.clone(), x_known.clone(), mask.clone(), t, s, noise.clone())
        if not isinstance(out, torch.Tensor):
            return CheckResult.fail(f"merge must return a tensor, got {type(out).__name__}")
        if out.shape != x.shape:
            return CheckResult.fail(f"the merged x must have the shape of x {tuple(x.shape)}, got {tuple(out.shape)}")
        want = reference_inpaint_merge(x, x_known, mask, t, s, noise)
        if _close(out, want):
            continue
        known_t = reference_inpaint_merge(x_known, x_known, torch.ones_like(mask), t, s, noise)  # x^known_t
        if _close(out, (1 - mask) * known_t + mask * x):
            return CheckResult.fail("the mask is the wrong way round: 1 marks the known pixels (take them from "
                                    "x_known), 0 the ones to regenerate (keep them from x).")
        if t >= 0 and _close(out, mask * x_known + (1 - mask) * x):
            return CheckResult.fail(f"at t = {t} the known pixels must be noised to the same timestep as x "
                                    "(√ᾱ_t x_known + √(1−ᾱ_t) ε), not pasted clean: the model expects x_t, not x_0.")
        if t < 0:
            last = reference_inpaint_merge(x, x_known, mask, s.num_steps - 1, s, noise)
            if _close(out, last):
                return CheckResult.fail("at t = -1 (the end) paste x_known itself: alpha_bars[-1] in Python is the "
                                        "last timestep T−1, not ᾱ_(−1) = 1.")
            return CheckResult.fail("at t = -1 (the end) the known pixels must be x_known exactly, the rest x.")
        if torch.allclose(((out - want) * (1 - mask)).double(), torch.zeros(1, dtype=torch.float64), atol=1e-5):
            return CheckResult.fail(f"at t = {t} the regenerated pixels are right but the known ones are not: they "
                                    "should be √ᾱ_t · x_known + √(1−ᾱ_t) · noise.")
        return CheckResult.fail(f"at t = {t} the result should be mask · (√ᾱ_t x_known + √(1−ᾱ_t) noise) + "
                                f"(1 − mask) · x; yours differs by up to {float((out - want).abs().max()):.3g}.")
    return CheckResult.ok("known pixels noised to t (and pasted exactly at t = -1), the rest kept, at t = 999, "
                          "500, 0 and -1.")
