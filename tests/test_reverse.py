"""The reverse-process math: posterior, ε-parameterisation, v-parameterisation, simplified loss."""

import pytest
import torch

from course_lib.diffusion import make_schedule, q_sample
from course_lib.diffusion.reverse import (
    diffusion_loss,
    model_noise,
    noise_from_velocity,
    posterior_mean_variance,
    predict_noise_from_x0,
    predict_x0_from_noise,
    reverse_mean_from_noise,
    velocity_target,
)


@pytest.fixture(scope="module")
def sched():
    return make_schedule("linear", 1000)


def _images(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, 6, 6, generator=g, dtype=torch.float64) * 2 - 1


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("t", [0, 1, 17, 500, 999])
def test_posterior_matches_closed_form(kind, t):
    s = make_schedule(kind, 1000)
    x0, xt = _images(seed=1), _images(seed=2)
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
def test_posterior_is_the_true_conditional(sched, t):
    """Monte Carlo: draw x_{t−1} ~ q(·|x_0), x_t ~ q(x_t|x_{t−1}); regress x_{t−1} on x_t.

    The least-squares slope, intercept and residual variance must be the posterior's coef_xt,
    coef_x0·x0 and β̃_t (Gaussian conditioning is exactly linear).
    """
    g = torch.Generator().manual_seed(t)
    n, x0 = 400_000, 0.7
    a_prev = sched.alpha_bars_prev[t]
    x_prev = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    xt = (1 - sched.betas[t]).sqrt() * x_prev + sched.betas[t].sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    design = torch.stack([xt, torch.ones_like(xt)], 1)
    coef = torch.linalg.lstsq(design, x_prev.unsqueeze(1)).solution.squeeze(1)
    resid = x_prev - design @ coef
    mean_x0 = torch.full((1, 1, 1, 1), x0, dtype=torch.float64)
    # posterior mean at x_t = 0 is the intercept, at x_t = 1 intercept + slope
    m0, var = posterior_mean_variance(mean_x0, torch.zeros_like(mean_x0), t, sched)
    m1, _ = posterior_mean_variance(mean_x0, torch.ones_like(mean_x0), t, sched)
    assert float(coef[1]) == pytest.approx(float(m0), abs=4e-3)
    assert float(coef[0]) == pytest.approx(float(m1 - m0), abs=4e-3)
    assert float(resid.var()) == pytest.approx(float(var), rel=0.02)


@pytest.mark.parametrize("t", [0, 10, 999])
def test_x0_and_noise_predictions_invert_q_sample(sched, t):
    x0, eps = _images(seed=3), _images(seed=4)
    xt = q_sample(x0, t, sched, eps)
    torch.testing.assert_close(predict_x0_from_noise(xt, t, eps, sched), x0)
    torch.testing.assert_close(predict_noise_from_x0(xt, t, x0, sched), eps)


def test_eps_mean_equals_posterior_mean_of_predicted_x0(sched):
    """μ_θ = (x_t − β_t/√(1−ᾱ_t) ε̂)/√α_t is μ̃_t(x̂_0(ε̂), x_t) (DDPM eq. 11), for any ε̂."""
    xt, eps = _images(seed=5), _images(seed=6)
    t = torch.tensor([1, 10, 400, 999])
    mean = reverse_mean_from_noise(xt, t, eps, sched)
    want, _ = posterior_mean_variance(predict_x0_from_noise(xt, t, eps, sched), xt, t, sched)
    torch.testing.assert_close(mean, want)


def test_velocity_round_trip(sched):
    x0, eps = _images(seed=7), _images(seed=8)
    t = torch.tensor([0, 5, 500, 999])
    xt = q_sample(x0, t, sched, eps)
    v = velocity_target(x0, eps, t, sched)
    torch.testing.assert_close(noise_from_velocity(xt, t, v, sched), eps)


def test_model_noise_converts_v_predictions(sched):
    x0, eps = _images(seed=9).float(), _images(seed=10).float()
    t = torch.tensor([2, 20, 200, 900])
    xt = q_sample(x0, t, sched, eps)

    class Oracle(torch.nn.Module):
        prediction = "v"

        def forward(self, x, tt):
            return velocity_target(x0, eps, tt, sched)

    torch.testing.assert_close(model_noise(Oracle(), xt, t, sched), eps, atol=1e-5, rtol=1e-5)


class _EpsOracle(torch.nn.Module):
    """Returns a fixed tensor as the prediction, so the loss is known exactly."""

    def __init__(self, out):
        super().__init__()
        self.out = out
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t):
        return self.out + self.w


def test_simplified_loss_is_mse_to_the_noise(sched):
    x0, eps, pred = _images(seed=11).float(), _images(seed=12).float(), _images(seed=13).float()
    t = torch.tensor([0, 1, 2, 3])
    loss = diffusion_loss(_EpsOracle(pred), x0, sched, t=t, noise=eps)
    assert loss.item() == pytest.approx(float(((pred - eps) ** 2).mean()), rel=1e-6)
    assert diffusion_loss(_EpsOracle(eps), x0, sched, t=t, noise=eps).item() == 0.0


def test_simplified_loss_v_objective_and_min_snr(sched):
    x0, eps, pred = _images(seed=14).float(), _images(seed=15).float(), _images(seed=16).float()
    t = torch.tensor([0, 100, 500, 999])
    v = velocity_target(x0, eps, t, sched)
    loss = diffusion_loss(_EpsOracle(pred), x0, sched, t=t, noise=eps, objective="v")
    assert loss.item() == pytest.approx(float(((pred - v) ** 2).mean()), rel=1e-5)
    per = ((pred - eps) ** 2).flatten(1).mean(1).double()
    snr = sched.snr[t]
    want = (snr.clamp(max=5.0) / snr * per).mean()
    got = diffusion_loss(_EpsOracle(pred), x0, sched, t=t, noise=eps, min_snr_gamma=5.0)
    assert got.item() == pytest.approx(float(want), rel=1e-5)


def test_arguments_are_checked(sched):
    x = _images()
    with pytest.raises(ValueError, match=r"t must be an integer in \[0, 999\]"):
        posterior_mean_variance(x, x, 1000, sched)
    with pytest.raises(ValueError, match="x0 must have the shape of xt"):
        posterior_mean_variance(x[:2], x, 3, sched)
    with pytest.raises(ValueError, match="noise must have the shape"):
        predict_x0_from_noise(x, 3, x[:, :, :3], sched)
    with pytest.raises(ValueError, match="objective must be one of"):
        diffusion_loss(_EpsOracle(x.float()), x.float(), sched, objective="x0")
    with pytest.raises(ValueError, match="min_snr_gamma"):
        diffusion_loss(_EpsOracle(x.float()), x.float(), sched, min_snr_gamma=0.0)
    with pytest.raises(ValueError, match="NaN"):
        predict_x0_from_noise(x * float("nan"), 3, x, sched)
