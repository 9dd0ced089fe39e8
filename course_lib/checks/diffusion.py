"""Self-checks for the forward-diffusion exercises of notebook 03.

* :func:`check_q_sample` — the learner's ``q_sample(x0, t, schedule, noise)``, the closed form
  x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (reference: :func:`course_lib.diffusion.q_sample`).
* :func:`check_snr_crossing` — the learner's ``snr_crossing_step(schedule)``, the first code t with
  SNR(t) = ᾱ_t / (1 − ᾱ_t) < 1, or ``None`` (reference: :func:`course_lib.diffusion.snr_crossing_step`).

Each check runs the learner's function on cases with known answers and, when an answer is wrong,
recognises the typical mistakes (a missing square root, ᾱ one step off, signal and noise swapped,
α_t for ᾱ_t, coefficients that do not broadcast over a batch of t) and names the one made.
"""

from __future__ import annotations

from numbers import Integral

import torch

from ..diffusion.forward import q_sample
from ..diffusion.schedules import Schedule, at, make_schedule, snr_crossing_step
from ._core import CheckResult, LearnerError, call_learner, checker

__all__ = ["check_q_sample", "check_snr_crossing"]

_ATOL = 1e-5  # float32 rounding of x_t is ~1e-7; every typical mistake is off by more


def _wrong_answers(x0, t, s: Schedule, noise) -> dict[str, torch.Tensor]:
    """What the typical wrong closed forms return, in float64, with the message for each."""
    x0, noise = x0.double(), noise.double()
    T = s.num_steps
    alpha_bar_t = at(s.alpha_bars, t, x0)
    alpha_bar_prev_wrong = at(s.alpha_bars, (t - 1) % T, x0)  # Python's alpha_bars[t - 1]: t = 0 wraps
    alpha_bar_prev_true = at(s.alpha_bars_prev, t, x0)
    alpha_bar_next = at(s.alpha_bars, (t + 1).clamp(max=T - 1) if torch.is_tensor(t) else min(t + 1, T - 1), x0)
    alpha_t = at(s.alphas, t, x0)
    out = {
        "the square roots are missing: x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε, not ᾱ_t·x0 + (1−ᾱ_t)·ε":
            alpha_bar_t * x0 + (1 - alpha_bar_t) * noise,
        "the noise scale is missing its square root: ε is multiplied by √(1−ᾱ_t), not (1−ᾱ_t)":
            alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t) * noise,
        "the signal scale is missing its square root: x0 is multiplied by √ᾱ_t, not ᾱ_t":
            alpha_bar_t * x0 + (1 - alpha_bar_t).sqrt() * noise,
        "signal and noise are swapped: √ᾱ_t multiplies x0 and √(1−ᾱ_t) multiplies ε":
            (1 - alpha_bar_t).sqrt() * x0 + alpha_bar_t.sqrt() * noise,
        "ᾱ is one step off: you used ᾱ_{t−1} (alpha_bars[t − 1], which at t = 0 wraps around to "
        "the last step); code t is 0-indexed, so use alpha_bars[t]":
            alpha_bar_prev_wrong.sqrt() * x0 + (1 - alpha_bar_prev_wrong).sqrt() * noise,
        "ᾱ is one step off: you used ᾱ_{t−1} (alpha_bars_prev[t]); code t is 0-indexed and "
        "alpha_bars[t] already includes step t, so use alpha_bars[t]":
            alpha_bar_prev_true.sqrt() * x0 + (1 - alpha_bar_prev_true).sqrt() * noise,
        "ᾱ is one step off: you used ᾱ_{t+1}; code t is 0-indexed, so use alpha_bars[t]":
            alpha_bar_next.sqrt() * x0 + (1 - alpha_bar_next).sqrt() * noise,
        "you used α_t = 1 − β_t, the factor of one step; the closed form needs ᾱ_t = "
        "alpha_bars[t], the product of α over every step up to t":
            alpha_t.sqrt() * x0 + (1 - alpha_t).sqrt() * noise,
    }
    if s.kind != "linear" and T == 1000:
        lin = at(make_schedule("linear", 1000).alpha_bars, t, x0)
        out["your ᾱ_t is the linear schedule's, not that of the schedule passed in: read it from "
            "schedule.alpha_bars"] = lin.sqrt() * x0 + (1 - lin).sqrt() * noise
    if torch.is_tensor(t) and t.ndim == 1 and x0.shape[0] == x0.shape[-1]:
        seed = s.alpha_bars[t]  # (B,): lines up with the last axis W instead of the batch axis
        out["with a batch of t your coefficients have shape (B,) and line up with the image "
            "width W, not the batch: reshape ᾱ_t to (B, 1, 1, 1)"] = (
            seed.sqrt() * x0 + (1 - seed).sqrt() * noise)
    return out


def _compare(fn, x0, t, s: Schedule, noise, label: str) -> None:
    x0_in, noise_in = x0.clone(), noise.clone()
    try:
        out = call_learner(fn, x0_in, t if isinstance(t, int) else t.clone(), s, noise_in)
    except LearnerError as err:
        hint = ("; with a batch of t, ᾱ_t has shape (B,) and must be reshaped to (B, 1, 1, 1) to "
                "broadcast against (B, C, H, W)") if torch.is_tensor(t) else ""
        raise LearnerError(CheckResult.fail(f"{label}: {err.result.message}{hint}")) from None
    if not torch.is_tensor(out):
        raise LearnerError(CheckResult.fail(
            f"{label}: q_sample should return a tensor x_t, got {type(out).__name__}"))
    if not (torch.equal(x0_in, x0) and torch.equal(noise_in, noise)):
        raise LearnerError(CheckResult.fail(
            f"{label}: your q_sample changed x0 or noise in place; build x_t as a new tensor"))
    if tuple(out.shape) != tuple(x0.shape):
        hint = (" (with a batch of t, reshape ᾱ_t to (B, 1, 1, 1) so it broadcasts over C, H, W)"
                if torch.is_tensor(t) else "")
        raise LearnerError(CheckResult.fail(
            f"{label}: x_t should have the shape of x0 {tuple(x0.shape)}, got {tuple(out.shape)}{hint}"))
    if out.dtype != x0.dtype:
        raise LearnerError(CheckResult.fail(
            f"{label}: x_t is {out.dtype} but x0 is {x0.dtype}; cast ᾱ_t to x0's dtype "
            "(course_lib.diffusion.at(schedule.alpha_bars, t, x0) does it)"))
    if not bool(torch.isfinite(out).all()):
        raise LearnerError(CheckResult.fail(f"{label}: x_t contains NaN or infinite values"))
    want = q_sample(x0.double(), t, s, noise.double())
    got = out.detach().double().cpu()
    if float((got - want).abs().max()) <= _ATOL:
        return
    distance = {message: float((got - wrong).abs().max())
                for message, wrong in _wrong_answers(x0, t, s, noise).items()}
    closest = min(distance, key=distance.get)
    if distance[closest] <= _ATOL:
        raise LearnerError(CheckResult.fail(f"{label}: {closest}"))
    again = call_learner(fn, x0.clone(), t if isinstance(t, int) else t.clone(), s, noise.clone())
    if torch.is_tensor(again) and again.shape == out.shape and not torch.equal(again, out):
        raise LearnerError(CheckResult.fail(
            f"{label}: x_t does not use the noise ε passed in as `noise`; use it instead of "
            "drawing new noise, so x_t is exactly √ᾱ_t·x0 + √(1−ᾱ_t)·noise"))
    err = float((got - want).abs().max())
    raise LearnerError(CheckResult.fail(
        f"{label}: x_t differs from √ᾱ_t·x0 + √(1−ᾱ_t)·ε by up to {err:.3g}"))


@checker
def check_q_sample(fn) -> CheckResult:
    """Check ``fn(x0, t, schedule, noise)`` against x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, for one t and a
    batch of t, on a linear and a cosine schedule."""
    g = torch.Generator().manual_seed(0)
    linear, cosine = make_schedule("linear", 1000), make_schedule("cosine", 1000)
    x0 = torch.rand(4, 1, 6, 5, generator=g) * 2 - 1
    noise = torch.randn(4, 1, 6, 5, generator=g)
    for s in (linear, cosine):
        for t in (0, 1, 300, 999):
            _compare(fn, x0, t, s, noise, f"{s.kind} schedule, t = {t}")
    t_batch = torch.tensor([0, 10, 500, 999])
    _compare(fn, x0, t_batch, linear, noise, "a batch of t = [0, 10, 500, 999]")
    x0_sq = torch.rand(5, 3, 4, 5, generator=g) * 2 - 1  # B = W = 5: shape-blind broadcasting runs
    noise_sq = torch.randn(5, 3, 4, 5, generator=g)
    t_sq = torch.tensor([999, 0, 400, 50, 700])
    _compare(fn, x0_sq, t_sq, cosine, noise_sq, "a batch of 5 colour images with t = [999, 0, 400, 50, 700]")
    return CheckResult.ok(
        "q_sample matches x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε for one t and for a batch of t, "
        "on the linear and the cosine schedule.")


def _as_step(answer, label: str):
    if answer is None:
        return None
    if torch.is_tensor(answer) and answer.numel() == 1 and not answer.is_floating_point() \
            and answer.dtype != torch.bool:
        return int(answer.item())
    if isinstance(answer, Integral) and not isinstance(answer, bool):
        return int(answer)
    raise LearnerError(CheckResult.fail(
        f"{label}: return the timestep as an int (or None), got {type(answer).__name__} {answer!r}"))


@checker
def check_snr_crossing(fn) -> CheckResult:
    """Check ``fn(schedule)`` returns the first code t with SNR(t) < 1, or None if there is none."""
    cases = [
        make_schedule("linear", 1000),
        make_schedule("cosine", 1000),
        make_schedule("quadratic", 1000),
        make_schedule("sigmoid", 300, 1e-4, 0.05),
        make_schedule("linear", 5),
    ]
    for s in cases:
        label = f"{s.kind} schedule with T = {s.num_steps}"
        want = snr_crossing_step(s)
        got = _as_step(call_learner(fn, s), label)
        if got == want:
            continue
        if want is None:
            raise LearnerError(CheckResult.fail(
                f"{label}: SNR never falls below 1 here (SNR(T−1) = {float(s.snr[-1]):.3g}), so "
                f"return None, not {got} (argmax of an all-False tensor gives 0)"))
        if got is None:
            raise LearnerError(CheckResult.fail(
                f"{label}: SNR does fall below 1 here (SNR(T−1) = {float(s.snr[-1]):.3g}), but you "
                "returned None"))
        if not 0 <= got < s.num_steps:
            raise LearnerError(CheckResult.fail(
                f"{label}: t = {got} is not a code timestep (0 … {s.num_steps - 1})"))
        if got == want - 1:
            raise LearnerError(CheckResult.fail(
                f"{label}: at t = {got} SNR is still {float(s.snr[got]):.3f} ≥ 1; that is the last "
                "step above 1, and the question asks for the first step below 1"))
        if got == want + 1:
            raise LearnerError(CheckResult.fail(
                f"{label}: {got} is one too late, like the paper's 1-indexed step; code t is "
                f"0-indexed and SNR(t = {want}) = {float(s.snr[want]):.3f} is already below 1"))
        if float(s.snr[got]) >= 1:
            raise LearnerError(CheckResult.fail(
                f"{label}: at t = {got} SNR = ᾱ_t/(1−ᾱ_t) = {float(s.snr[got]):.3g} is still ≥ 1"))
        raise LearnerError(CheckResult.fail(
            f"{label}: SNR(t = {got}) = {float(s.snr[got]):.3g} is below 1, but SNR(t = {got - 1}) = "
            f"{float(s.snr[got - 1]):.3g} already was too, so t = {got} is not the first such step"))
    return CheckResult.ok(
        "snr_crossing_step finds the first t with SNR(t) < 1 on linear, cosine, quadratic and "
        "sigmoid schedules, and returns None when SNR never falls below 1.")
