"""Self-checks for notebook 04 (reverse sampling): the DDPM step.

The exercise: write ``ddpm_step(noise_pred, t, xt, schedule, z)`` returning x_{t−1} with the
posterior variance σ_t² = β̃_t — the variance for which the seed computed ᾱ_{t−1} and never
used it:

    x_{t−1} = (x_t − β_t / √(1−ᾱ_t) · ε̂) / √α_t + σ_t z,  σ_t² = β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t) · β_t,

and no noise at the last step (code t = 0). The reference is
:func:`course_lib.diffusion.samplers.ddpm_step` with ``variance="posterior"``.
"""

from __future__ import annotations

import torch

from ..diffusion.samplers import ddpm_step
from ..diffusion.schedules import make_schedule
from ._core import CheckResult, call_learner, checker


def reference_ddpm_step(noise_pred, t, xt, schedule, z):
    """The solution: one DDPM step with σ_t² = β̃_t (``schedule.posterior_variance``)."""
    return ddpm_step(noise_pred, t, xt, schedule, variance="posterior", z=z)


def _case(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    shape = (3, 1, 8, 8)
    xt = torch.randn(shape, generator=gen)
    noise_pred = torch.randn(shape, generator=gen)
    z = torch.randn(shape, generator=gen)
    return xt, noise_pred, z


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-5)


def _mean_diagnosis(out, xt, eps, t, s) -> str:
    """Name the usual slip in the mean when the learner's mean is wrong."""
    b, ab, a = s.betas[t], s.alpha_bars[t], s.alphas[t]
    xt, eps = xt.double(), eps.double()
    wrong = {
        "divide by √α_t (schedule.alphas), not √ᾱ_t (schedule.alpha_bars)":
            (xt - b / (1 - ab).sqrt() * eps) / ab.sqrt(),
        "the noise coefficient is β_t / √(1−ᾱ_t), not β_t / (1−ᾱ_t)":
            (xt - b / (1 - ab) * eps) / a.sqrt(),
        "the noise coefficient is β_t / √(1−ᾱ_t), not √(1−ᾱ_t)":
            (xt - (1 - ab).sqrt() * eps) / a.sqrt(),
        "subtract the predicted noise (x_t − …), don't add it":
            (xt + b / (1 - ab).sqrt() * eps) / a.sqrt(),
    }
    for hint, value in wrong.items():
        if _close(out, value):
            return hint
    return "check it against μ_θ = (x_t − β_t/√(1−ᾱ_t) · ε̂) / √α_t"


@checker
def check_ddpm_step(fn) -> CheckResult:
    """Check a learner's ``ddpm_step(noise_pred, t, xt, schedule, z) -> x_{t−1}`` (σ_t² = β̃_t)."""
    s = make_schedule("linear", 1000)
    xt, eps, z = _case()
    zero = torch.zeros_like(xt)
    # 1. Shape and finiteness.
    out = call_learner(fn, eps, 500, xt, s, zero)
    if not isinstance(out, torch.Tensor):
        return CheckResult.fail(f"ddpm_step must return a tensor, got {type(out).__name__}")
    if out.shape != xt.shape:
        return CheckResult.fail(f"x_(t-1) must have the shape of x_t {tuple(xt.shape)}, got {tuple(out.shape)}")
    if not bool(torch.isfinite(out).all()):
        return CheckResult.fail("x_(t-1) contains NaN or inf values")
    # 2. The mean (noise z = 0 leaves only the mean), at an early, a middle and the first step.
    for t in (999, 500, 1):
        out = call_learner(fn, eps, t, xt, s, zero)
        want = reference_ddpm_step(eps, t, xt, s, zero)
        if not _close(out, want):
            return CheckResult.fail(f"with z = 0 the step should return the mean μ_θ, but at t = {t} it "
                                    f"does not: {_mean_diagnosis(out, xt, eps, t, s)}.")
    # 3. The last step adds no noise.
    out = call_learner(fn, eps, 0, xt, s, z)
    if not _close(out, reference_ddpm_step(eps, 0, xt, s, zero)):
        if _close(out - reference_ddpm_step(eps, 0, xt, s, zero), s.betas[0].sqrt().float() * z):
            return CheckResult.fail("the last step (t = 0) must return the mean without noise, "
                                    "but yours adds σ z.")
        return CheckResult.fail("at t = 0 (the last step) the result should be the mean μ_θ with no noise added.")
    # 4. The noise scale σ_t = √β̃_t.
    for t in (999, 500, 5, 1):
        out = call_learner(fn, eps, t, xt, s, z)
        mean = reference_ddpm_step(eps, t, xt, s, zero)
        if _close(out, reference_ddpm_step(eps, t, xt, s, z)):
            continue
        added = (out.double() - mean.double())
        ratio = float((added * z).sum() / (z.double() * z).sum())  # the σ the learner used
        candidates = {
            "that is σ_t = √β_t (the seed's choice): this exercise asks for σ_t² = β̃_t = "
            "(1−ᾱ_(t−1))/(1−ᾱ_t) · β_t, schedule.posterior_variance": float(s.betas[t].sqrt()),
            "σ_t is the square root of the variance β̃_t: use posterior_variance.sqrt()":
                float(s.posterior_variance[t]),
            "that is σ_t = β_t: the noise scale is the square root of a variance, here √β̃_t":
                float(s.betas[t]),
        }
        for hint, value in candidates.items():
            if abs(ratio - value) <= 1e-4 * max(1.0, abs(value)) + 1e-7:
                return CheckResult.fail(f"the noise you add at t = {t} has the wrong scale: {hint}.")
        return CheckResult.fail(
            f"at t = {t} the noise added should be σ_t z with σ_t = √β̃_t = "
            f"{float(s.posterior_variance[t].sqrt()):.4g}; yours scales z by {ratio:.4g}."
        )
    return CheckResult.ok("your DDPM step matches μ_θ + √β̃_t z at every t tried, with no noise at t = 0.")
