"""The notebook-03 self-checks pass the references and fail the typical wrong answers."""

from __future__ import annotations

import pytest
import torch

from course_lib.checks.diffusion import check_q_sample, check_snr_crossing
from course_lib.diffusion import at, q_sample, snr_crossing_step

# ----------------------------------------------------------------------------- q_sample


def right_with_at(x0, t, schedule, noise):
    ab = at(schedule.alpha_bars, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def right_by_hand(x0, t, schedule, noise):
    ab = schedule.alpha_bars[t].reshape(-1, 1, 1, 1).to(x0.dtype)
    return torch.sqrt(ab) * x0 + torch.sqrt(1 - ab) * noise


def sqrt_missing(x0, t, schedule, noise):
    ab = at(schedule.alpha_bars, t, x0)
    return ab * x0 + (1 - ab) * noise


def noise_sqrt_missing(x0, t, schedule, noise):
    ab = at(schedule.alpha_bars, t, x0)
    return ab.sqrt() * x0 + (1 - ab) * noise


def off_by_one_minus(x0, t, schedule, noise):
    ab = schedule.alpha_bars[t - 1].reshape(-1, 1, 1, 1).to(x0.dtype)  # t = 0 wraps to T − 1
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def off_by_one_prev(x0, t, schedule, noise):
    ab = at(schedule.alpha_bars_prev, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def off_by_one_plus(x0, t, schedule, noise):
    t = torch.as_tensor(t).clamp(max=schedule.num_steps - 2) + 1
    ab = at(schedule.alpha_bars, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def swapped(x0, t, schedule, noise):
    ab = at(schedule.alpha_bars, t, x0)
    return ab.sqrt() * noise + (1 - ab).sqrt() * x0


def alphas_not_alpha_bars(x0, t, schedule, noise):
    a = at(schedule.alphas, t, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def the_seeds_broadcasting(x0, t, schedule, noise):
    ab = schedule.alpha_bars[t].float()  # (B,) for a batch of t: the seed's bug
    return torch.sqrt(ab) * x0 + torch.sqrt(1 - ab) * noise


def fresh_noise(x0, t, schedule, noise):
    ab = at(schedule.alpha_bars, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn_like(x0)


def float64_out(x0, t, schedule, noise):
    ab = schedule.alpha_bars[t].reshape(-1, 1, 1, 1)  # float64, never cast back
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def hard_coded_linear(x0, t, schedule, noise):
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0)[t].reshape(-1, 1, 1, 1).float()
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def in_place(x0, t, schedule, noise):
    ab = at(schedule.alpha_bars, t, x0)
    return x0.mul_(ab.sqrt()).add_((1 - ab).sqrt() * noise)


def not_written(x0, t, schedule, noise):
    raise NotImplementedError


def returns_numpy(x0, t, schedule, noise):
    return q_sample(x0, t, schedule, noise).numpy()


def crashes(x0, t, schedule, noise):
    return x0 + schedule.alpha_bars_typo[t]


@pytest.mark.parametrize("fn", [q_sample, right_with_at, right_by_hand])
def test_check_q_sample_passes_right_answers(fn):
    result = check_q_sample(fn)
    assert result, result.message
    assert repr(result).startswith("✅")


@pytest.mark.parametrize(
    "fn, words",
    [
        (sqrt_missing, "square roots are missing"),
        (noise_sqrt_missing, "noise scale is missing its square root"),
        (off_by_one_minus, "one step off"),
        (off_by_one_prev, "one step off"),
        (off_by_one_plus, "one step off"),
        (swapped, "signal and noise are swapped"),
        (alphas_not_alpha_bars, "α_t = 1 − β_t"),
        (the_seeds_broadcasting, "(B, 1, 1, 1)"),
        (fresh_noise, "does not use the noise"),
        (float64_out, "torch.float64"),
        (hard_coded_linear, "linear schedule's"),
        (in_place, "in place"),
        (not_written, "not written yet"),
        (returns_numpy, "should return a tensor"),
        (crashes, "AttributeError"),
    ],
)
def test_check_q_sample_fails_wrong_answers(fn, words):
    result = check_q_sample(fn)
    assert not result
    assert repr(result).startswith("❌")
    assert words in result.message, result.message
    assert "\n" not in result.message


def test_the_seeds_bug_is_named_in_both_of_its_forms():
    # B ≠ W: the (B,) coefficients cannot broadcast → the learner's crash is reported …
    crash = check_q_sample(the_seeds_broadcasting)
    assert "RuntimeError" in crash.message and "(B, 1, 1, 1)" in crash.message, crash.message
    # … and when B = W it runs silently; the check still names the broadcasting mistake.
    def seed_only_when_square(x0, t, schedule, noise):
        if torch.is_tensor(t) and t.ndim == 1 and x0.shape[0] != x0.shape[-1]:
            return right_with_at(x0, t, schedule, noise)
        return the_seeds_broadcasting(x0, t, schedule, noise)

    silent = check_q_sample(seed_only_when_square)
    assert not silent and "line up with the image width W" in silent.message, silent.message


# ----------------------------------------------------------------------------- SNR crossing


def snr_right_loop(schedule):
    for t in range(schedule.num_steps):
        ab = schedule.alpha_bars[t]
        if ab / (1 - ab) < 1:
            return t
    return None


def snr_right_tensor(schedule):
    below = (schedule.snr < 1).nonzero()
    return below[0, 0] if len(below) else None  # a 0-dim long tensor is accepted


def snr_last_above(schedule):
    t = snr_right_loop(schedule)
    return None if t is None else t - 1


def snr_one_indexed(schedule):
    t = snr_right_loop(schedule)
    return None if t is None else t + 1


def snr_argmax(schedule):
    return int((schedule.snr < 1).int().argmax())  # 0 when SNR never falls below 1


def snr_wrong_threshold(schedule):
    return int((schedule.alpha_bars < 0.25).int().argmax())  # √ᾱ < 1/2 instead of ᾱ < 1/2


def snr_from_betas(schedule):
    return int((schedule.alphas / (1 - schedule.alphas) < 1).int().argmax())


def snr_float(schedule):
    t = snr_right_loop(schedule)
    return None if t is None else float(t)


def snr_always_none(schedule):
    return None


def snr_not_written(schedule):
    raise NotImplementedError


@pytest.mark.parametrize("fn", [snr_crossing_step, snr_right_loop, snr_right_tensor])
def test_check_snr_crossing_passes_right_answers(fn):
    result = check_snr_crossing(fn)
    assert result, result.message


@pytest.mark.parametrize(
    "fn, words",
    [
        (snr_last_above, "last step above 1"),
        (snr_one_indexed, "1-indexed"),
        (snr_argmax, "return None"),
        (snr_wrong_threshold, "already was too"),
        (snr_from_betas, "still ≥ 1"),
        (snr_float, "as an int"),
        (snr_always_none, "returned None"),
        (snr_not_written, "not written yet"),
    ],
)
def test_check_snr_crossing_fails_wrong_answers(fn, words):
    result = check_snr_crossing(fn)
    assert not result
    assert words in result.message, result.message
