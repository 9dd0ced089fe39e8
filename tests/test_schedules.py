"""Beta schedules and their derived quantities, tested against the math (notebook 03)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.diffusion import (
    SCHEDULE_KINDS,
    Schedule,
    at,
    make_betas,
    make_schedule,
    schedule_from_betas,
    snr_crossing_step,
)

# ----------------------------------------------------------------------------- the seed's schedule

def test_linear_is_the_seeds_linspace():
    seed_betas = torch.linspace(0.0001, 0.02, 1000)  # the seed's schedule, float32
    s = make_schedule("linear", 1000, 0.0001, 0.02)
    assert s.betas.dtype == torch.float64 and s.betas.shape == (1000,)
    assert torch.allclose(s.betas.float(), seed_betas, rtol=0, atol=1e-8)
    assert s.betas[0] == pytest.approx(1e-4) and s.betas[-1] == pytest.approx(0.02)


def test_defaults_are_ddpm():
    s = make_schedule()
    assert s.kind == "linear" and s.num_steps == 1000
    assert float(s.betas[0]) == pytest.approx(1e-4) and float(s.betas[-1]) == pytest.approx(0.02)


def test_zero_indexed_t_is_the_papers_next_step():
    s = make_schedule("linear", 1000)
    # code t = 0 is the paper's ᾱ_1 = α_1 = 1 − β_1: one step of noise, not zero steps.
    assert float(s.alpha_bars[0]) == pytest.approx(1 - 1e-4, abs=1e-15)
    assert float(s.alpha_bars_prev[0]) == 1.0


# ----------------------------------------------------------------------------- each kind's formula

def _u(T):
    return [t / (T - 1) if T > 1 else 0.0 for t in range(T)]


@pytest.mark.parametrize("T", [1, 2, 7, 1000])
def test_quadratic_and_sigmoid_formulas(T):
    b0, b1 = 2e-4, 0.03
    quad = [(math.sqrt(b0) + (math.sqrt(b1) - math.sqrt(b0)) * u) ** 2 for u in _u(T)]
    sig = [b0 + (b1 - b0) / (1 + math.exp(-(-6 + 12 * u))) for u in _u(T)]
    lin = [b0 + (b1 - b0) * u for u in _u(T)]
    for kind, want in (("quadratic", quad), ("sigmoid", sig), ("linear", lin)):
        got = make_betas(kind, T, b0, b1)
        assert got.shape == (T,)
        assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-12, atol=1e-15), kind


def _cosine_alpha_bar(tau: float, T: int, s: float = 0.008) -> float:
    """Nichol & Dhariwal (2021) eq. 17: ᾱ(τ) = f(τ)/f(0), f(τ) = cos²(π/2 · (τ/T + s)/(1 + s))."""
    f = lambda x: math.cos((x / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    return f(tau) / f(0)


@pytest.mark.parametrize("T", [10, 1000, 4000])
def test_cosine_matches_the_paper(T):
    s = make_schedule("cosine", T)
    # Code t is the paper's step t + 1; every step before the last follows f(t+1)/f(0) exactly.
    for t in [0, 1, T // 4 - 1, T // 2 - 1, 3 * T // 4 - 1, T - 2]:
        assert float(s.alpha_bars[t]) == pytest.approx(_cosine_alpha_bar(t + 1, T), rel=1e-9), t
    # The last beta would be 1 (f(T) = cos²(π/2) = 0); the paper clips it at 0.999 …
    assert float(s.betas[-1]) == pytest.approx(0.999)
    assert float(s.betas[:-1].max()) < 0.999
    # … so ᾱ_{T−1} is tiny but positive: 0.001 × ᾱ_{T−2}.
    assert 0 < float(s.alpha_bars[-1]) < 1e-4
    assert float(s.alpha_bars[-1]) == pytest.approx(0.001 * _cosine_alpha_bar(T - 1, T), rel=1e-9)


def test_cosine_known_points_with_s_zero():
    # With s = 0, f(0) = 1 and ᾱ(T/2) = cos²(π/4) = 1/2 exactly, ᾱ(T/4) = cos²(π/8) = (2 + √2)/4.
    T = 1000
    s = make_schedule("cosine", T, cosine_s=0.0)
    assert float(s.alpha_bars[T // 2 - 1]) == pytest.approx(0.5, rel=1e-12)
    assert float(s.alpha_bars[T // 4 - 1]) == pytest.approx((2 + math.sqrt(2)) / 4, rel=1e-12)
    assert float(s.snr[T // 2 - 1]) == pytest.approx(1.0, rel=1e-9)


def test_cosine_ignores_beta_bounds_and_uses_max_beta():
    a = make_betas("cosine", 100, 1e-4, 0.02)
    b = make_betas("cosine", 100, 0.3, 0.4)
    assert torch.equal(a, b)
    clipped = make_betas("cosine", 100, max_beta=0.5)
    assert float(clipped.max()) == pytest.approx(0.5)


def test_signal_is_destroyed_at_the_end_of_each_ddpm_schedule():
    for kind in SCHEDULE_KINDS:
        s = make_schedule(kind, 1000)
        assert float(s.alpha_bars[-1]) < 1e-3, kind
        assert float(s.alpha_bars[0]) > 0.999, kind


# ----------------------------------------------------------------------------- derived quantities

SCHEDULES = st.builds(
    lambda kind, T, b0, ratio: make_schedule(kind, T, b0, min(b0 * ratio, 0.5)),
    st.sampled_from(SCHEDULE_KINDS),
    st.integers(1, 1500),
    st.floats(1e-6, 0.2),
    st.floats(1.0, 500.0),
)


@settings(max_examples=60, deadline=None)
@given(SCHEDULES)
def test_alpha_bars_strictly_decrease_inside_zero_one(s):
    ab = s.alpha_bars
    assert bool(((ab > 0) & (ab < 1)).all())
    assert bool((ab[1:] < ab[:-1]).all())
    assert bool(((s.betas > 0) & (s.betas < 1)).all())
    assert torch.allclose(s.alphas, 1 - s.betas, rtol=0, atol=0)
    # ᾱ_t = ∏_{s≤t} α_s, computed again in log space.
    assert torch.allclose(ab, torch.exp(torch.cumsum(torch.log(s.alphas), 0)), rtol=1e-9)
    assert torch.equal(s.alpha_bars_prev[1:], ab[:-1]) and float(s.alpha_bars_prev[0]) == 1.0


@settings(max_examples=40, deadline=None)
@given(SCHEDULES)
def test_snr_and_log_snr(s):
    ab = s.alpha_bars
    assert torch.allclose(s.snr, ab / (1 - ab), rtol=1e-12)
    finite = s.log_snr.isfinite()
    assert bool(finite.all())
    assert torch.allclose(s.log_snr, torch.log(s.snr), rtol=1e-9, atol=1e-9)
    assert bool((s.snr[1:] < s.snr[:-1]).all())


@settings(max_examples=40, deadline=None)
@given(SCHEDULES, st.integers(0, 10_000))
def test_posterior_is_gaussian_conditioning(s, t_raw):
    """q(x_{t−1} | x_t, x_0) from the joint Gaussian of (x_{t−1}, x_t) given x_0, done by hand:
    x_{t−1} ~ N(√ᾱ_{t−1} x_0, v), x_t = √α_t x_{t−1} + √β_t ε, so
    Cov = √α_t v, Var(x_t) = α_t v + β_t, and conditioning gives
    mean = √ᾱ_{t−1} x_0 + Cov/Var(x_t) (x_t − √ᾱ_t x_0),  var = v − Cov²/Var(x_t)."""
    t = t_raw % s.num_steps
    beta, alpha = float(s.betas[t]), 1 - float(s.betas[t])
    ab_prev = 1.0 if t == 0 else float(torch.prod(1 - s.betas[:t]))
    ab = ab_prev * alpha
    v = 1 - ab_prev
    cov, var_xt = math.sqrt(alpha) * v, alpha * v + beta
    gain = cov / var_xt
    # mean = c0 x0 + ct xt with ct = gain, c0 = √ᾱ_{t−1} − gain √ᾱ_t
    c_xt = gain
    c_x0 = math.sqrt(ab_prev) - gain * math.sqrt(ab)
    post_var = v - cov**2 / var_xt
    assert var_xt == pytest.approx(1 - ab, rel=1e-9)
    assert float(s.posterior_mean_coef_xt[t]) == pytest.approx(c_xt, rel=1e-7, abs=1e-12)
    assert float(s.posterior_mean_coef_x0[t]) == pytest.approx(c_x0, rel=1e-7, abs=1e-9)
    assert float(s.posterior_variance[t]) == pytest.approx(post_var, rel=1e-6, abs=1e-12)


def test_posterior_variance_at_the_first_step_is_zero():
    s = make_schedule("linear", 1000)
    assert float(s.posterior_variance[0]) == 0.0
    assert float(s.posterior_mean_coef_x0[0]) == pytest.approx(1.0)
    assert float(s.posterior_mean_coef_xt[0]) == 0.0


# ----------------------------------------------------------------------------- SNR crossing

def _first_below_one(schedule):
    for t in range(schedule.num_steps):
        ab = float(torch.prod(1 - schedule.betas[: t + 1]))
        if ab / (1 - ab) < 1:
            return t
    return None


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_snr_crossing_step(kind):
    s = make_schedule(kind, 1000)
    t = snr_crossing_step(s)
    assert t == _first_below_one(s)
    assert float(s.alpha_bars[t]) < 0.5 <= float(s.alpha_bars[t - 1])


def test_snr_crossing_known_values():
    # cosine with s = 0: ᾱ(τ) = cos²(πτ/2T) < 1/2 first at τ = T/2 + 1, i.e. code t = T/2.
    assert snr_crossing_step(make_schedule("cosine", 1000, cosine_s=0.0)) == 500
    # a constant β: ᾱ_t = (1 − β)^(t+1) < 1/2 first when t + 1 > ln 2 / −ln(1 − β).
    beta = 0.01
    want = math.floor(math.log(0.5) / math.log(1 - beta))  # t + 1 = ceil(...) → t = floor(...)
    assert snr_crossing_step(schedule_from_betas(torch.full((500,), beta))) == want


def test_snr_crossing_none_and_level():
    short = make_schedule("linear", 5)
    assert snr_crossing_step(short) is None
    s = make_schedule("linear", 1000)
    assert snr_crossing_step(s, level=0.01) == _first_level(s, 0.01)
    with pytest.raises(ValueError, match="level"):
        snr_crossing_step(s, level=0)
    with pytest.raises(TypeError, match="schedule"):
        snr_crossing_step(s.alpha_bars)


def _first_level(s, level):
    below = [t for t in range(s.num_steps) if float(s.snr[t]) < level]
    return below[0]


# ----------------------------------------------------------------------------- clear errors

@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="exponential"), "kind must be one of"),
        (dict(num_steps=0), r"num_steps must be an integer in \[1"),
        (dict(num_steps=2.5), "num_steps must be an integer"),
        (dict(beta_start=0.0), r"beta_start must be a finite number in \(0, 1\)"),
        (dict(beta_start=-0.1), "beta_start"),
        (dict(beta_end=1.0), r"beta_end must be a finite number in \(0, 1\)"),
        (dict(beta_end=float("nan")), "beta_end"),
        (dict(beta_start=0.02, beta_end=0.01), "beta_end must be >= beta_start"),
        (dict(kind="cosine", cosine_s=-0.1), "cosine_s"),
        (dict(kind="cosine", max_beta=1.0), "max_beta"),
    ],
)
def test_bad_schedules_raise_clear_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_schedule(**kwargs)


@pytest.mark.parametrize(
    "betas, match",
    [
        ([0.1, 1.0], r"every beta must be in \(0, 1\)"),
        ([0.0, 0.1], r"every beta must be in \(0, 1\)"),
        ([0.1, -0.2], r"every beta must be in \(0, 1\)"),
        ([], "at least one value"),
        ([[0.1, 0.2]], "betas must have 1 dimensions"),
        ([0.1, float("nan")], "NaN"),
        ([1e-18, 0.1], "1e-15"),
        ([0.999] * 200, "underflows"),
    ],
)
def test_bad_betas_raise_clear_errors(betas, match):
    with pytest.raises(ValueError, match=match):
        schedule_from_betas(betas)


def test_a_schedule_whose_signal_underflows_is_refused():
    with pytest.raises(ValueError, match="underflows"):
        make_schedule("linear", 5000, 0.5, 0.9)


# ----------------------------------------------------------------------------- at() and check_t()

def test_at_int_and_batch():
    s = make_schedule("linear", 100)
    x = torch.zeros(3, 2, 5, 4)
    one = at(s.alpha_bars, 7, x)
    assert one.ndim == 0 and one.dtype == torch.float32
    assert float(one) == pytest.approx(float(s.alpha_bars[7]), rel=1e-6)
    t = torch.tensor([0, 50, 99])
    many = at(s.alpha_bars, t, x)
    assert many.shape == (3, 1, 1, 1)
    assert torch.allclose(many.flatten(), s.alpha_bars[t].float())
    assert (many * x).shape == x.shape
    assert at(s.alpha_bars, t, x.double()).dtype == torch.float64


@pytest.mark.parametrize(
    "t, err, match",
    [
        (100, ValueError, r"t must be an integer in \[0, 99\]"),
        (-1, ValueError, r"t must be an integer in \[0, 99\]"),
        (torch.tensor([0, 100, 3]), ValueError, r"t must be in \[0, 99\]"),
        (2.0, TypeError, "t must be an integer"),
        (torch.tensor([1.0, 2.0, 3.0]), TypeError, "integer timesteps"),
        (torch.tensor([1, 2]), ValueError, "shape"),
    ],
)
def test_check_t_rejects_bad_t_where_it_enters(t, err, match):
    """``at`` is bare indexing; a timestep is checked once where it enters (Schedule.check_t)."""
    s = make_schedule("linear", 100)
    with pytest.raises(err, match=match):
        s.check_t(t, batch=3)


def test_check_t():
    s = make_schedule("linear", 10)
    assert int(s.check_t(9)) == 9
    assert s.check_t(torch.tensor([0, 9])).dtype == torch.long
    with pytest.raises(ValueError, match=r"\[0, 9\].*0-indexed"):
        s.check_t(10)
    with pytest.raises(TypeError, match="integer"):
        s.check_t(torch.tensor([0.5]))


def test_schedule_to_and_repr():
    s = make_schedule("cosine", 50)
    moved = s.to("cpu")
    assert isinstance(moved, Schedule) and moved.kind == "cosine"
    assert torch.equal(moved.alpha_bars, s.alpha_bars)
    assert "cosine" in repr(s) and "num_steps=50" in repr(s)
