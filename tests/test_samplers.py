"""Samplers: DDPM and DDIM steps against their equations, loops, guidance, and the exercise check."""

import pytest
import torch
from conftest import Oracle as _Oracle
from conftest import seeded

from course_lib.checks.diffusion_reverse import check_ddpm_step, reference_ddpm_step
from course_lib.diffusion import make_schedule
from course_lib.diffusion.reverse import (
    posterior_mean_variance,
    predict_x0_from_noise,
    reverse_mean_from_noise,
)
from course_lib.diffusion.samplers import (
    SAMPLER_SETTINGS,
    Trajectory,
    ddim_sigma,
    ddim_step,
    ddim_timesteps,
    ddpm_sigma2,
    ddpm_step,
    guided_noise,
    sample,
)
from course_lib.diffusion.unet import UNet


@pytest.fixture(scope="module")
def sched():
    return make_schedule("linear", 1000)


def _rand(seed, shape=(3, 1, 8, 8)):
    return seeded(seed, shape)


def _step_x0(xt, t, eps, sched):
    return predict_x0_from_noise(xt, t, eps, sched)


# ----------------------------------------------------------------------------- DDPM step


@pytest.mark.parametrize("variance", ["posterior", "beta"])
@pytest.mark.parametrize("t", [1, 250, 999])
def test_ddpm_step_is_mean_plus_sigma_z(sched, variance, t):
    xt, eps, z = _rand(0), _rand(1), _rand(2)
    out = ddpm_step(eps, t, xt, sched, variance=variance, z=z)
    mean = (xt - sched.betas[t] / (1 - sched.alpha_bars[t]).sqrt() * eps) / sched.alphas[t].sqrt()
    sigma2 = sched.posterior_variance[t] if variance == "posterior" else sched.betas[t]
    torch.testing.assert_close(out, (mean + sigma2.sqrt() * z).float())


def test_ddpm_last_step_adds_no_noise(sched):
    xt, eps, z = _rand(0), _rand(1), _rand(2)
    for variance in ("posterior", "beta"):
        torch.testing.assert_close(ddpm_step(eps, 0, xt, sched, variance=variance, z=z),
                                   reverse_mean_from_noise(xt, 0, eps, sched))


def test_ddpm_step_noise_statistics(sched):
    """With z ~ N(0, I) the step's spread around the mean is σ_t."""
    xt, eps = torch.zeros(4000, 1, 4, 4), torch.zeros(4000, 1, 4, 4)
    z = seeded(0, (4000, 1, 4, 4))
    for variance in ("posterior", "beta"):
        out = ddpm_step(eps, 10, xt, sched, variance=variance, z=z)
        assert float(out.std()) == pytest.approx(float(ddpm_sigma2(10, sched, variance).sqrt()), rel=0.02)


# ----------------------------------------------------------------------------- DDIM step


def test_ddim_eta1_all_steps_matches_ddpm_posterior_variance(sched):
    """σ² of DDIM with η = 1 and s = t − 1 equals β̃_t for every t, and the steps coincide."""
    for t in range(1, 1000):
        assert float(ddim_sigma(t, t - 1, sched, eta=1.0) ** 2) == pytest.approx(
            float(sched.posterior_variance[t]), rel=1e-9, abs=1e-15)
    xt, eps, z = _rand(0), _rand(1), _rand(2)
    for t in (1, 37, 999):
        torch.testing.assert_close(ddim_step(_step_x0(xt, t, eps, sched), eps, t, t - 1, xt, sched, eta=1.0, z=z),
                                   ddpm_step(eps, t, xt, sched, variance="posterior", z=z),
                                   atol=1e-5, rtol=1e-5)
    # and the last step (to t_prev = −1) returns x̂_0, which is DDPM's noise-free t = 0 mean
    torch.testing.assert_close(ddim_step(_step_x0(xt, 0, eps, sched), eps, 0, -1, xt, sched, eta=1.0, z=z),
                               ddpm_step(eps, 0, xt, sched, z=z), atol=1e-5, rtol=1e-5)


def test_ddim_eta0_is_deterministic_and_follows_eq12(sched):
    xt, eps = _rand(0), _rand(1)
    t, s = 700, 650
    out = ddim_step(_step_x0(xt, t, eps, sched), eps, t, s, xt, sched, eta=0.0)
    a_t, a_s = sched.alpha_bars[t], sched.alpha_bars[s]
    x0 = (xt - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    torch.testing.assert_close(out, (a_s.sqrt() * x0 + (1 - a_s).sqrt() * eps).float())
    assert float(ddim_sigma(t, s, sched, eta=0.0)) == 0.0


@pytest.mark.parametrize("sampler,nfe,eta,variance", [("ddim", 10, 0.0, "posterior"), ("ddim", 50, 0.5, "posterior"),
                                                       ("ddpm", None, 0.0, "posterior"), ("ddpm", None, 0.0, "beta")])
@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_samplers_with_a_perfect_predictor_land_on_x0(sched, sampler, nfe, eta, variance, prediction):
    x0 = seeded(3, (2, 1, 8, 8), kind="image") * 0.9
    out = sample(_Oracle(x0, sched, prediction), 2, sampler=sampler, nfe=nfe, eta=eta, seed=0, progress=False,
                 variance=variance, device="cpu")
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", list(SAMPLER_SETTINGS))
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_every_compared_sampler_setting_lands_on_x0_with_a_perfect_predictor(name, kind):
    """The settings notebook 04 and the benchmark compare are valid sample() arguments, and exact."""
    schedule = make_schedule(kind, 1000)
    x0 = seeded(4, (2, 1, 8, 8), kind="image") * 0.9
    out = sample(_Oracle(x0, schedule, "v"), 2, seed=0, progress=False, device="cpu", **SAMPLER_SETTINGS[name])
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)


def test_ddim_timesteps_trailing():
    assert ddim_timesteps(1000, 1) == [999]
    assert ddim_timesteps(1000, 1000) == list(range(999, -1, -1))
    ts = ddim_timesteps(1000, 50)
    assert ts[0] == 999 and ts[-1] == 19 and len(ts) == 50 and len(set(ts)) == 50
    assert all(a > b for a, b in zip(ts, ts[1:]))


# ----------------------------------------------------------------------------- loops and guidance


@pytest.fixture(scope="module")
def tiny_cond():
    torch.manual_seed(0)
    m = UNet(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_classes=10, patch=2,
             schedule={"kind": "linear", "num_steps": 1000}, prediction="epsilon")
    with torch.no_grad():  # the zero-initialised output would make every prediction 0
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m.eval()


def test_sampling_1000_ddpm_steps_stays_finite(sched, tiny_cond):
    """All 1000 steps through a (random-weight) U-Net: no NaN/inf (sample() raises if there are)."""
    out = sample(tiny_cond, 2, sampler="ddpm", labels=torch.tensor([1, 9]), seed=0, progress=False, device="cpu")
    assert out.shape == (2, 1, 28, 28)
    assert torch.isfinite(out).all() and out.abs().max() <= 1


def test_sampling_is_reproducible_with_a_seed(sched, tiny_cond):
    a = sample(tiny_cond, 3, sampler="ddim", nfe=5, eta=1.0, seed=7, progress=False, device="cpu")
    b = sample(tiny_cond, 3, sampler="ddim", nfe=5, eta=1.0, seed=7, progress=False, device="cpu")
    c = sample(tiny_cond, 3, sampler="ddim", nfe=5, eta=1.0, seed=8, progress=False, device="cpu")
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_cfg_w0_is_the_conditional_model(sched, tiny_cond):
    """Convention (Ho & Salimans 2022): ε̃ = (1 + w) ε(x, c) − w ε(x, ∅), so w = 0 is ε(x, c)."""
    x, labels = _rand(0, (4, 1, 28, 28)), torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        cond = tiny_cond(x, 500, labels)
        uncond = tiny_cond(x, 500, torch.full((4,), 10))
        torch.testing.assert_close(guided_noise(tiny_cond, x, 500, sched, labels, 0.0), cond)
        torch.testing.assert_close(guided_noise(tiny_cond, x, 500, sched, labels, 2.5),
                                   3.5 * cond - 2.5 * uncond, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(guided_noise(tiny_cond, x, 500, sched, None, 0.0), uncond)
    a = sample(tiny_cond, 4, nfe=4, labels=labels, guidance_scale=0.0, seed=1, progress=False, device="cpu")
    b = sample(tiny_cond, 4, nfe=4, labels=labels, guidance_scale=2.0, seed=1, progress=False, device="cpu")
    assert not torch.allclose(a, b)


def test_trajectory_capture(sched, tiny_cond):
    images, traj = sample(tiny_cond, 2, nfe=20, seed=0, return_trajectory=True, progress=False, labels=3,
                          device="cpu")
    assert isinstance(traj, Trajectory) and len(traj) == 20
    assert traj.timesteps[0] == 999 and traj.timesteps[-1] == 49
    assert traj.xt.shape == traj.x0_pred.shape == (20, 2, 1, 28, 28)
    _, traj = sample(tiny_cond, 1, sampler="ddpm", seed=0, return_trajectory=True, progress=False,
                     trajectory_points=50, device="cpu")
    assert len(traj) == 51 and traj.timesteps[0] == 999 and traj.timesteps[-1] == 0


def test_sample_arguments_are_checked(tiny_cond):
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample(tiny_cond, 2, sampler="euler")
    with pytest.raises(ValueError, match="nfe must be None or 1000"):
        sample(tiny_cond, 2, sampler="ddpm", nfe=50)
    with pytest.raises(ValueError, match=r"nfe must be an integer in \[1, 1000\]"):
        sample(tiny_cond, 2, nfe=5000)
    with pytest.raises(ValueError, match="n must be an integer"):
        sample(tiny_cond, 0)
    with pytest.raises(ValueError, match="guidance_scale"):
        sample(tiny_cond, 2, labels=1, guidance_scale=-1.0)
    with pytest.raises(ValueError, match="guidance_scale must be a finite number"):
        sample(tiny_cond, 2, labels=1, guidance_scale=float("nan"))
    with pytest.raises(ValueError, match="eta must be a finite number"):
        sample(tiny_cond, 2, eta=float("nan"))
    with pytest.raises(ValueError, match="needs labels"):
        sample(tiny_cond, 2, nfe=2, guidance_scale=1.0, progress=False)
    with pytest.raises(ValueError, match=r"labels must be classes in \[0, 9\]"):
        sample(tiny_cond, 2, nfe=2, labels=torch.tensor([3, 11]), progress=False)
    with pytest.raises(ValueError, match="variance must be one of"):
        sample(tiny_cond, 2, sampler="ddpm", variance="fixed")
    with pytest.raises(ValueError, match="seed must be an integer"):
        sample(tiny_cond, 2, seed=-1)
    with pytest.raises(TypeError, match="carries its noise schedule"):
        sample(torch.nn.Linear(2, 2), 2)


def test_the_null_label_is_refused_not_sampled_unconditionally(tiny_cond):
    """labels=10 used to sample unconditionally in silence (issue 12): now a clear error."""
    with pytest.raises(ValueError, match="pass labels=None, not the null label 10"):
        sample(tiny_cond, 2, nfe=2, labels=10, progress=False)
    with pytest.raises(ValueError, match="pass labels=None, not the null label 10"):
        sample(tiny_cond, 2, nfe=2, labels=torch.tensor([10, 10]), progress=False)


# ----------------------------------------------------------------------------- the exercise check


def test_check_passes_the_reference():
    assert check_ddpm_step(reference_ddpm_step)


def _eps_mean(noise_pred, t, xt, s, root_alpha):
    return (xt - s.betas[t] / (1 - s.alpha_bars[t]).sqrt() * noise_pred) / root_alpha


WRONG_ANSWERS = {
    # the seed's variance σ_t² = β_t: the exercise asks for β̃_t
    "beta variance": (lambda e, t, x, s, z: (_eps_mean(e, t, x, s, s.alphas[t].sqrt())
                                             + (s.betas[t].sqrt() * z if t > 0 else 0)).float(), "√β_t"),
    # variance used as the standard deviation
    "no square root": (lambda e, t, x, s, z: (_eps_mean(e, t, x, s, s.alphas[t].sqrt())
                                              + (s.posterior_variance[t] * z if t > 0 else 0)).float(),
                       "square root"),
    # ᾱ instead of α in the mean
    "alpha_bar in mean": (lambda e, t, x, s, z: (_eps_mean(e, t, x, s, s.alpha_bars[t].sqrt())
                                                 + s.posterior_variance[t].sqrt() * z).float(), "√α_t"),
    # noise added at the last step too (with β_t, since β̃_0 = 0 would hide it)
    "noise at t=0": (lambda e, t, x, s, z: (_eps_mean(e, t, x, s, s.alphas[t].sqrt())
                                            + (s.posterior_variance[t].sqrt() if t > 0 else s.betas[t].sqrt()) * z
                                            ).float(), "t = 0"),
    # the noise added instead of subtracted
    "plus sign": (lambda e, t, x, s, z: ((x + s.betas[t] / (1 - s.alpha_bars[t]).sqrt() * e) / s.alphas[t].sqrt()
                                         + s.posterior_variance[t].sqrt() * z).float(), "subtract"),
    "wrong shape": (lambda e, t, x, s, z: x[0], "shape"),
}


@pytest.mark.parametrize("name", list(WRONG_ANSWERS))
def test_check_fails_typical_wrong_answers(name):
    fn, words = WRONG_ANSWERS[name]
    result = check_ddpm_step(fn)
    assert not result, name
    assert words in result.message, result.message


def test_check_reports_unwritten_function():
    def ddpm_step_exercise(noise_pred, t, xt, schedule, z):
        raise NotImplementedError

    result = check_ddpm_step(ddpm_step_exercise)
    assert not result and "not written yet" in result.message


def test_posterior_mean_helper_agrees_with_reference_at_zero_noise(sched):
    """The exercise's z = 0 output is the posterior mean at x̂_0(ε̂)."""
    xt, eps = _rand(0), _rand(1)
    from course_lib.diffusion.reverse import predict_x0_from_noise

    mean, _ = posterior_mean_variance(predict_x0_from_noise(xt, 77, eps, sched), xt, 77, sched)
    torch.testing.assert_close(reference_ddpm_step(eps, 77, xt, sched, torch.zeros_like(xt)), mean,
                               atol=1e-5, rtol=1e-5)
