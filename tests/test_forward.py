"""The forward process q: closed form, one step, the chain, and their agreement (notebook 03)."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.diffusion import (
    chain_and_closed_form,
    compare_moments,
    make_schedule,
    q_mean_variance,
    q_sample,
    q_sample_chain,
    q_step,
)

LINEAR = make_schedule("linear", 1000)


def _alpha_bar(schedule, t):
    """ᾱ_t = ∏_{s=0..t} (1 − β_s), multiplied out in plain Python (independent of the library)."""
    out = 1.0
    for b in schedule.betas[: t + 1].tolist():
        out *= 1 - b
    return out


# ----------------------------------------------------------------------------- closed form values

@pytest.mark.parametrize("t", [0, 1, 10, 499, 999])
def test_q_sample_is_the_closed_form(t):
    g = torch.Generator().manual_seed(t)
    x0 = torch.rand(2, 3, 4, 5, generator=g) * 2 - 1
    noise = torch.randn(2, 3, 4, 5, generator=g)
    ab = _alpha_bar(LINEAR, t)
    want = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * noise
    got = q_sample(x0, t, LINEAR, noise)
    assert got.shape == x0.shape and got.dtype == torch.float32
    assert torch.allclose(got, want, atol=1e-6)


def test_the_seeds_one_step_example():
    # x_1 = √(1−β_1) x_0 + √β_1 ε with β_1 = 1e-4 (code t = 0): one step and the closed form agree.
    x0 = torch.tensor([-1.0, 0.0, 0.5, 1.0]).reshape(1, 1, 2, 2)
    noise = torch.tensor([0.5, -1.0, 2.0, 0.0]).reshape(1, 1, 2, 2)
    want = math.sqrt(1 - 1e-4) * x0 + math.sqrt(1e-4) * noise
    assert torch.allclose(q_step(x0, 0, LINEAR, noise), want, atol=1e-7)
    assert torch.allclose(q_sample(x0, 0, LINEAR, noise), want, atol=1e-7)
    assert float(q_step(x0, 0, LINEAR, noise)[0, 0, 0, 0]) == pytest.approx(-0.99995 + 0.005, abs=1e-6)


def test_two_steps_merge_into_one_gaussian():
    # x_2 = √α_2 (√α_1 x0 + √β_1 ε1) + √β_2 ε2 = √(α_1α_2) x0 + √(1 − α_1α_2) ε with the merged
    # ε = (√(α_2 β_1) ε1 + √β_2 ε2) / √(1 − α_1α_2) — exactly, not only in distribution.
    g = torch.Generator().manual_seed(1)
    x0, e1, e2 = (torch.randn(1, 1, 8, 8, generator=g, dtype=torch.float64) for _ in range(3))
    b1, b2 = float(LINEAR.betas[0]), float(LINEAR.betas[1])
    a1, a2 = 1 - b1, 1 - b2
    x2 = q_step(q_step(x0, 0, LINEAR, e1), 1, LINEAR, e2)
    merged = (math.sqrt(a2 * b1) * e1 + math.sqrt(b2) * e2) / math.sqrt(1 - a1 * a2)
    assert torch.allclose(x2, q_sample(x0, 1, LINEAR, merged), atol=1e-12)


def test_q_mean_variance():
    x0 = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(1, 3, 2, 2)
    mean, var = q_mean_variance(x0, 300, LINEAR)
    ab = _alpha_bar(LINEAR, 300)
    assert torch.allclose(mean, math.sqrt(ab) * x0) and float(var) == pytest.approx(1 - ab)
    mean, var = q_mean_variance(x0.expand(2, 3, 2, 2), torch.tensor([3, 900]), LINEAR)
    assert var.shape == (2, 1, 1, 1)
    assert float(var[1]) == pytest.approx(1 - _alpha_bar(LINEAR, 900))


# ----------------------------------------------------------------------------- batched t

@pytest.mark.parametrize("shape", [(4, 1, 28, 28), (4, 3, 8, 8), (4, 2, 5, 4)])
def test_batched_t_broadcasts_per_image(shape):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(shape, generator=g) * 2 - 1
    noise = torch.randn(shape, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    got = q_sample(x0, t, LINEAR, noise)
    assert got.shape == shape
    for i, ti in enumerate(t.tolist()):
        ab = _alpha_bar(LINEAR, ti)
        want = math.sqrt(ab) * x0[i] + math.sqrt(1 - ab) * noise[i]
        assert torch.allclose(got[i], want, atol=1e-6)
        assert torch.allclose(got[i : i + 1], q_sample(x0[i : i + 1], ti, LINEAR, noise[i : i + 1]))


def test_batch_equal_to_width_is_not_mixed_up():
    # With B = W the seed's (B,) coefficients broadcast silently along W; ours stay per image.
    x0, noise = torch.ones(5, 1, 3, 5), torch.zeros(5, 1, 3, 5)
    t = torch.tensor([0, 100, 200, 300, 400])
    got = q_sample(x0, t, LINEAR, noise)
    for i, ti in enumerate(t.tolist()):
        assert torch.allclose(got[i], torch.full((1, 3, 5), math.sqrt(_alpha_bar(LINEAR, ti))))


def test_q_step_batched_t():
    x = torch.ones(3, 1, 2, 2)
    out = q_step(x, torch.tensor([0, 1, 999]), LINEAR, torch.zeros_like(x))
    want = torch.sqrt(1 - LINEAR.betas[[0, 1, 999]]).float()
    assert torch.allclose(out[:, 0, 0, 0], want)


def test_dtype_and_default_noise():
    x0 = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    xt = q_sample(x0, 999, LINEAR)
    assert xt.dtype == torch.float64 and xt.shape == x0.shape
    assert float(xt.std()) > 0.5  # x0 = 0: all of x_t is fresh noise with variance ≈ 1


# ----------------------------------------------------------------------------- clear errors at the boundary
# q_sample is bare math (issue 12): its arguments are checked where they enter — the figures,
# the self-checks, the chain comparisons — with the schedule's check_t and check_images.


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(t=-1), ValueError, r"t must be an integer >= 0"),
        (dict(num_steps=0), ValueError, r"num_steps must be an integer in \[1, 100000\]"),
        (dict(t=2.5), TypeError, "t must be an integer"),
        (dict(kind="exponential"), ValueError, "kind must be one of"),
    ],
)
def test_forward_explorer_checks_its_arguments(kwargs, err, match):
    from course_lib.diffusion.figures import plot_forward_explorer

    with pytest.raises(err, match=match):
        plot_forward_explorer(**kwargs)


def test_chain_comparison_checks_its_arguments():
    with pytest.raises(ValueError, match=r"ts must be an integer in \[0, 999\]"):
        chain_and_closed_form(0.5, [3, 1000], LINEAR)
    with pytest.raises(TypeError, match="schedule must be a Schedule"):
        chain_and_closed_form(0.5, [3], LINEAR.alpha_bars)
    with pytest.raises(ValueError, match="x0 must have 4 dimensions"):
        q_sample_chain(torch.zeros(1, 28, 28), 3, LINEAR)


# ----------------------------------------------------------------------------- chain vs closed form

TS = [0, 1, 10, 100, 500, 999]
N = 20_000


def _z_scores(samples: torch.Tensor, mean: float, var: float) -> tuple[float, float]:
    """How many standard errors the sample mean and variance are from N(mean, var)'s."""
    n = samples.numel()
    m, v = float(samples.mean()), float(samples.var())
    return (m - mean) / math.sqrt(var / n), (v - var) / (var * math.sqrt(2 / (n - 1)))


def _chain_samples(x0_value, steps_fn, ts, n, seed):
    """Run a chain of one-step updates on n copies of one pixel, recording x after each t in ts."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((n, 1, 1, 1), x0_value, dtype=torch.float64)
    out = {}
    for s in range(max(ts) + 1):
        x = steps_fn(x, s, torch.randn(x.shape, generator=g, dtype=torch.float64))
        if s in ts:
            out[s] = x.flatten().clone()
    return out


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("x0_value", [-1.0, 0.7])
def test_closed_form_matches_the_chain_statistically(kind, x0_value):
    """20k samples of the chain and of q_sample at each t: both have the mean √ᾱ_t x0 and the
    variance 1 − ᾱ_t of the closed form to within 4.5 standard errors, and the two agree with
    each other (two-sample test)."""
    s = make_schedule(kind, 1000)
    chain = _chain_samples(x0_value, lambda x, t, e: q_step(x, t, s, e), TS, N, seed=1)
    g = torch.Generator().manual_seed(2)
    for t in TS:
        ab = _alpha_bar(s, t)
        mean, var = math.sqrt(ab) * x0_value, 1 - ab
        x0 = torch.full((N, 1, 1, 1), x0_value, dtype=torch.float64)
        closed = q_sample(x0, t, s, torch.randn(x0.shape, generator=g, dtype=torch.float64)).flatten()
        for name, samples in (("chain", chain[t]), ("closed", closed)):
            zm, zv = _z_scores(samples, mean, var)
            assert abs(zm) < 4.5 and abs(zv) < 4.5, (name, t, zm, zv)
        z_two = (float(chain[t].mean()) - float(closed.mean())) / math.sqrt(2 * var / N)
        assert abs(z_two) < 4.5, (t, z_two)


def test_the_library_chain_matches_the_closed_form():
    s = make_schedule("quadratic", 200)
    x0 = torch.full((N, 1, 1, 1), 0.5, dtype=torch.float64)
    xt = q_sample_chain(x0, 150, s, generator=torch.Generator().manual_seed(0)).flatten()
    ab = _alpha_bar(s, 150)
    zm, zv = _z_scores(xt, math.sqrt(ab) * 0.5, 1 - ab)
    assert abs(zm) < 4.5 and abs(zv) < 4.5


def test_chain_samples_are_gaussian_ks():
    stats = pytest.importorskip("scipy.stats")
    s = make_schedule("linear", 1000)
    chain = _chain_samples(1.0, lambda x, t, e: q_step(x, t, s, e), [300], N, seed=3)[300]
    ab = _alpha_bar(s, 300)
    standardised = (chain - math.sqrt(ab)) / math.sqrt(1 - ab)
    assert stats.kstest(standardised.numpy(), "norm").pvalue > 1e-3


@pytest.mark.parametrize(
    "wrong",
    [
        "sqrt missing",  # x_t = ᾱ x0 + (1 − ᾱ) ε
        "one step short",  # ᾱ_{t−1} instead of ᾱ_t
        "signal and noise swapped",
        "alpha instead of alpha_bar",
    ],
)
def test_the_statistical_test_rejects_wrong_closed_forms(wrong):
    """The comparison above has power: each typical wrong closed form lands > 4.5 SE away."""
    s = LINEAR
    chain = _chain_samples(0.7, lambda x, t, e: q_step(x, t, s, e), TS, N, seed=1)
    g = torch.Generator().manual_seed(2)
    worst = 0.0
    for t in TS:
        ab = _alpha_bar(s, t)
        if wrong == "sqrt missing":
            sig, noi = ab, 1 - ab
        elif wrong == "one step short":
            ab_prev = _alpha_bar(s, t - 1) if t > 0 else 1.0
            sig, noi = math.sqrt(ab_prev), math.sqrt(1 - ab_prev)
        elif wrong == "signal and noise swapped":
            sig, noi = math.sqrt(1 - ab), math.sqrt(ab)
        else:
            a = 1 - float(s.betas[t])
            sig, noi = math.sqrt(a), math.sqrt(1 - a)
        wrong_samples = sig * 0.7 + noi * torch.randn(N, generator=g, dtype=torch.float64)
        # compare the wrong closed form with the chain (the chain is the truth)
        m_c, v_c = float(chain[t].mean()), float(chain[t].var())
        m_w, v_w = float(wrong_samples.mean()), float(wrong_samples.var())
        se_m = math.sqrt((v_c + v_w) / N)
        se_v = math.sqrt(2 / (N - 1) * (v_c**2 + v_w**2)) or 1.0
        worst = max(worst, abs(m_c - m_w) / se_m, abs(v_c - v_w) / se_v)
    assert worst > 4.5


def test_chain_and_closed_form_and_compare_moments():
    g = torch.Generator().manual_seed(0)
    chain, closed = chain_and_closed_form(0.8, [0, 50, 999], LINEAR, 5000, generator=g)
    assert chain.shape == closed.shape == (3, 5000)
    rows = compare_moments(0.8, [0, 50, 999], LINEAR, 20_000, generator=g)
    assert [r["t"] for r in rows] == [0, 50, 999]
    for r in rows:
        ab = _alpha_bar(LINEAR, r["t"])
        assert r["mean"] == pytest.approx(math.sqrt(ab) * 0.8) and r["var"] == pytest.approx(1 - ab)
        for key in ("z_chain_mean", "z_chain_var", "z_closed_mean", "z_closed_var"):
            assert abs(r[key]) < 4.5, (r["t"], key, r[key])
    with pytest.raises(ValueError, match="ts"):
        chain_and_closed_form(0.8, [1000], LINEAR)
    with pytest.raises(ValueError, match="at least one"):
        chain_and_closed_form(0.8, [], LINEAR)
    with pytest.raises(ValueError, match="num_samples"):
        chain_and_closed_form(0.8, [1], LINEAR, num_samples=1)
