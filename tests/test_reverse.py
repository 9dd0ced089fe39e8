"""The reverse-process math: posterior, ε- and v-parameterisations, the simplified loss."""

import pytest
import torch

from course_lib.diffusion import make_schedule, q_sample
from course_lib.diffusion.reverse import (
    diffusion_loss,
    posterior_mean_variance,
    predict_noise_from_velocity,
    predict_noise_from_x0,
    predict_x0_from_noise,
    predict_x0_from_velocity,
    predictions,
    reverse_mean_from_noise,
    velocity_target,
)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("t", [0, 1, 17, 500, 999])
def test_posterior_matches_closed_form(kind, t, rand):
    s = make_schedule(kind, 1000)
    x0, xt = rand(1, dtype=torch.float64, kind="image"), rand(2, dtype=torch.float64, kind="image")
    mean, var = posterior_mean_variance(x0, xt, t, s)
    betas = s.betas
    a_bar = torch.cumprod(1 - betas, 0)
    a_prev = a_bar[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
    want_mean = (a_prev.sqrt() * betas[t] / (1 - a_bar[t])) * x0 + ((1 - betas[t]).sqrt() * (1 - a_prev) / (1 - a_bar[t])) * xt
    want_var = (1 - a_prev) / (1 - a_bar[t]) * betas[t]
    torch.testing.assert_close(mean, want_mean)
    torch.testing.assert_close(var, want_var)
    if t == 0:  # the last reverse step: no variance, the mean is x0 itself
        assert float(var) == 0.0
        torch.testing.assert_close(mean, x0)


@pytest.mark.parametrize("t", [3, 300, 900])
def test_posterior_is_the_true_conditional(linear_schedule, t):
    """Monte Carlo: draw x_{t−1} ~ q(·|x_0), x_t ~ q(x_t|x_{t−1}); regress x_{t−1} on x_t.

    The least-squares slope, intercept and residual variance must be the posterior's coef_xt,
    coef_x0·x0 and β̃_t (Gaussian conditioning is exactly linear).
    """
    sched = linear_schedule
    g = torch.Generator().manual_seed(t)
    n, x0 = 400_000, 0.7
    a_prev = sched.alpha_bars_prev[t]
    x_prev = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    xt = (1 - sched.betas[t]).sqrt() * x_prev + sched.betas[t].sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    design = torch.stack([xt, torch.ones_like(xt)], 1)
    coef = torch.linalg.lstsq(design, x_prev.unsqueeze(1)).solution.squeeze(1)
    resid = x_prev - design @ coef
    mean_x0 = torch.full((1, 1, 1, 1), x0, dtype=torch.float64)
    m0, var = posterior_mean_variance(mean_x0, torch.zeros_like(mean_x0), t, sched)
    m1, _ = posterior_mean_variance(mean_x0, torch.ones_like(mean_x0), t, sched)
    assert float(coef[1]) == pytest.approx(float(m0), abs=4e-3)
    assert float(coef[0]) == pytest.approx(float(m1 - m0), abs=4e-3)
    assert float(resid.var()) == pytest.approx(float(var), rel=0.02)


@pytest.mark.parametrize("t", [0, 10, 999])
def test_x0_and_noise_predictions_invert_q_sample(linear_schedule, t, rand):
    x0, eps = rand(3, dtype=torch.float64, kind="image"), rand(4, dtype=torch.float64)
    xt = q_sample(x0, t, linear_schedule, eps)
    torch.testing.assert_close(predict_x0_from_noise(xt, t, eps, linear_schedule), x0)
    torch.testing.assert_close(predict_noise_from_x0(xt, t, x0, linear_schedule), eps)


def test_eps_mean_equals_posterior_mean_of_predicted_x0(linear_schedule, rand):
    """μ_θ = (x_t − β_t/√(1−ᾱ_t) ε̂)/√α_t is μ̃_t(x̂_0(ε̂), x_t) (DDPM eq. 11), for any ε̂."""
    xt, eps = rand(5, (4, 1, 6, 6), torch.float64), rand(6, (4, 1, 6, 6), torch.float64)
    t = torch.tensor([1, 10, 400, 999])
    mean = reverse_mean_from_noise(xt, t, eps, linear_schedule)
    want, _ = posterior_mean_variance(predict_x0_from_noise(xt, t, eps, linear_schedule), xt, t, linear_schedule)
    torch.testing.assert_close(mean, want)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_velocity_gives_noise_and_x0_exactly(kind, rand):
    s = make_schedule(kind, 1000)
    x0, eps = rand(7, (4, 1, 6, 6), torch.float64, "image"), rand(8, (4, 1, 6, 6), torch.float64)
    t = torch.tensor([0, 5, 500, 999])
    xt = q_sample(x0, t, s, eps)
    v = velocity_target(x0, eps, t, s)
    torch.testing.assert_close(predict_noise_from_velocity(xt, t, v, s), eps)
    torch.testing.assert_close(predict_x0_from_velocity(xt, t, v, s), x0)


def test_x0_from_v_directly_is_exact_where_the_detour_through_noise_is_not(cosine_schedule, rand):
    """At the last cosine step √ᾱ_t ≈ 5e-5: v → ε → x̂_0 divides by it and amplifies float32
    round-off ~10⁴×; x̂_0 = √ᾱ_t x_t − √(1−ᾱ_t) v̂ has no division (issue 12)."""
    s, t = cosine_schedule, 999
    xt, v = rand(9, (64, 1, 8, 8)), rand(10, (64, 1, 8, 8))
    exact = predict_x0_from_velocity(xt.double(), t, v.double(), s)
    direct = predict_x0_from_velocity(xt, t, v, s)
    detour = predict_x0_from_noise(xt, t, predict_noise_from_velocity(xt, t, v, s), s)
    direct_err = float((direct.double() - exact).abs().max())
    detour_err = float((detour.double() - exact).abs().max())
    assert direct_err < 1e-6
    assert detour_err > 100 * direct_err


def test_predictions_of_each_parameterisation(linear_schedule, rand):
    x0, eps = rand(11, kind="image"), rand(12)
    t = torch.tensor([2, 200, 900])
    xt = q_sample(x0, t, linear_schedule, eps)
    noise_pred, x0_pred = predictions(eps, xt, t, linear_schedule, "epsilon")
    torch.testing.assert_close(noise_pred, eps)
    torch.testing.assert_close(x0_pred, x0, atol=1e-4, rtol=1e-4)
    v = velocity_target(x0, eps, t, linear_schedule)
    noise_pred, x0_pred = predictions(v, xt, t, linear_schedule, "v")
    torch.testing.assert_close(noise_pred, eps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x0_pred, x0, atol=1e-5, rtol=1e-5)


class _Fixed(torch.nn.Module):
    """Returns a fixed tensor as its output, so the loss is known exactly."""

    def __init__(self, out, prediction="epsilon"):
        super().__init__()
        self.out, self.prediction = out, prediction
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t):
        return self.out + self.w


def test_simplified_loss_is_mse_to_the_noise(linear_schedule, rand):
    x0, eps, pred = rand(11, kind="image"), rand(12), rand(13)
    t = torch.tensor([0, 1, 2])
    loss = diffusion_loss(_Fixed(pred), x0, t, eps, linear_schedule)
    assert loss.item() == pytest.approx(float(((pred - eps) ** 2).mean()), rel=1e-6)
    assert diffusion_loss(_Fixed(eps), x0, t, eps, linear_schedule).item() == 0.0


def test_simplified_loss_v_objective_and_min_snr(linear_schedule, rand):
    x0, eps, pred = rand(14, kind="image"), rand(15), rand(16)
    t = torch.tensor([0, 500, 999])
    v = velocity_target(x0, eps, t, linear_schedule)
    loss = diffusion_loss(_Fixed(pred, "v"), x0, t, eps, linear_schedule)
    assert loss.item() == pytest.approx(float(((pred - v) ** 2).mean()), rel=1e-5)
    per = ((pred - eps) ** 2).flatten(1).mean(1).double()
    snr = linear_schedule.snr[t]
    want = (snr.clamp(max=5.0) / snr * per).mean()
    got = diffusion_loss(_Fixed(pred), x0, t, eps, linear_schedule, min_snr_gamma=5.0)
    assert got.item() == pytest.approx(float(want), rel=1e-5)
    per_v = ((pred - v) ** 2).flatten(1).mean(1).double()
    want_v = (snr.clamp(max=5.0) / (snr + 1) * per_v).mean()
    got_v = diffusion_loss(_Fixed(pred, "v"), x0, t, eps, linear_schedule, min_snr_gamma=5.0)
    assert got_v.item() == pytest.approx(float(want_v), rel=1e-5)
