"""The ODE view of diffusion (course_lib.flow.ode): DDIM is an Euler step of the probability-flow
ODE in the right variables, Heun is second order, and the solvers reproduce known solutions."""

import math

import pytest
import torch

from course_lib.diffusion.reverse import predictions
from course_lib.diffusion.samplers import ddim_step, ddim_timesteps, sample
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.unet import UNet
from course_lib.flow.matching import FlowUNet, cosine_timestep, diffusion_to_flow, flow_to_diffusion
from course_lib.flow.ode import (
    ODETrajectory,
    euler_step,
    euler_step_x,
    euler_step_xbar,
    heun_step,
    path_straightness,
    pf_ode_timesteps,
    sigma_bar,
    solve_pf_ode,
)

SCHEDULE = make_schedule("cosine", 1000)


def random_unet(seed=0):
    """A small v-prediction U-Net with random (non-zero) weights, so its outputs depend on x and t."""
    torch.manual_seed(seed)
    unet = UNet(base_channels=16)
    with torch.no_grad():
        for p in unet.parameters():
            p.normal_(0, 0.05)
    return unet.eval()


@pytest.mark.parametrize("t, s", [(999, 949), (700, 400), (300, 299), (50, 0)])
def test_ddim_step_is_the_euler_step_of_the_pf_ode_in_xbar_sigmabar(t, s):
    """x̄ = x/√ᾱ, σ̄ = √((1−ᾱ)/ᾱ): one Euler step of dx̄/dσ̄ = ε̂ is DDIM's η = 0 step, for any ε̂."""
    gen = torch.Generator().manual_seed(t)
    xt = torch.randn(3, 1, 6, 6, generator=gen, dtype=torch.float64)
    noise_pred = torch.randn(3, 1, 6, 6, generator=gen, dtype=torch.float64)
    ab_t, ab_s = SCHEDULE.alpha_bars[t], SCHEDULE.alpha_bars[s]
    x0_pred = (xt - (1 - ab_t).sqrt() * noise_pred) / ab_t.sqrt()
    ddim = ddim_step(x0_pred, noise_pred, t, s, xt, SCHEDULE, eta=0.0)
    by_hand = ab_s.sqrt() * (xt / ab_t.sqrt() + (sigma_bar(ab_s) - sigma_bar(ab_t)) * noise_pred)
    assert torch.allclose(euler_step_xbar(xt, noise_pred, ab_t, ab_s), ddim, rtol=1e-10, atol=1e-10)
    assert torch.allclose(by_hand, ddim, rtol=1e-10, atol=1e-10)


def test_euler_in_x_is_the_same_ode_but_not_ddim():
    """Euler in x (time λ = −log ᾱ) agrees with DDIM to first order in the step, and differs at a big one."""
    gen = torch.Generator().manual_seed(0)
    xt = torch.randn(4, 8, generator=gen, dtype=torch.float64)
    noise_pred = torch.randn(4, 8, generator=gen, dtype=torch.float64)
    t = 500
    ab_t = SCHEDULE.alpha_bars[t]
    gaps = []
    for s in (499, 498, 496):
        ab_s = SCHEDULE.alpha_bars[s]
        gaps.append(float((euler_step_x(xt, noise_pred, ab_t, ab_s) - euler_step_xbar(xt, noise_pred, ab_t, ab_s))
                          .abs().max()))
    # two Euler discretisations of one ODE differ by O(h²): halving the step quarters the gap
    assert 3.5 < gaps[1] / gaps[0] < 4.5 and 3.5 < gaps[2] / gaps[1] < 4.5
    big = SCHEDULE.alpha_bars[100]
    assert float((euler_step_x(xt, noise_pred, ab_t, big) - euler_step_xbar(xt, noise_pred, ab_t, big)).abs().max()) > 0.1


def test_ddim_is_euler_along_the_flow_velocity_of_the_same_network():
    """The U-Net read as a flow model (FlowUNet.from_denoiser): an Euler step in flow variables
    from the flow time of t to that of s, mapped back by x_t = x_flow / r, is the DDIM step."""
    unet = random_unet()
    flow = FlowUNet.from_denoiser(unet).eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 1, 28, 28, generator=gen)
    for t, s in ((999, 899), (700, 400), (120, 20)):
        with torch.no_grad():
            noise_pred, x0_pred = predictions(unet(x, t), x, t, SCHEDULE, "v")
            want = ddim_step(x0_pred, noise_pred, t, s, x, SCHEDULE, eta=0.0)
            time_t, r_t = diffusion_to_flow(SCHEDULE.alpha_bars[t])
            time_s, r_s = diffusion_to_flow(SCHEDULE.alpha_bars[s])
            x_flow = (x * r_t).float()
            velocity = flow(x_flow, torch.full((3,), float(time_t)))
            got = euler_step(x_flow, velocity, float(time_s - time_t)) / r_s
        assert torch.allclose(got, want, atol=2e-5 * float(want.abs().max())), (t, s, float((got - want).abs().max()))


def test_solve_pf_ode_with_euler_is_the_ddim_sampler():
    unet = random_unet(1)
    noise = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    want = sample(unet, 2, nfe=10, eta=0.0, x_start=noise, progress=False, device="cpu")
    got, trajectory = solve_pf_ode(unet, noise.clone(), pf_ode_timesteps(1000, 10), "euler", keep=True)
    # the same steps written two ways: x̄ = x/√ᾱ reaches 2·10⁴ x at t = 999, so float32 round-off differs
    assert torch.allclose(got.clamp(-1, 1), want, atol=1e-3)
    assert trajectory.nfe == 10 and len(trajectory) == 11 and trajectory.times[-1] == -1


def test_heun_spends_two_evaluations_per_step_and_one_on_the_last():
    unet = random_unet(2)
    noise = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    timesteps = pf_ode_timesteps(1000, 9, "heun")
    assert len(timesteps) == 6  # five steps, then the clean end
    _, trajectory = solve_pf_ode(unet, noise, timesteps, "heun", keep=True)
    assert trajectory.nfe == 9


def linear_ode_errors(step_fn, lam=-1.3, x0=0.7, end=1.0, steps=(16, 32, 64, 128)):
    """Global error at `end` of a solver on dx/ds = λ x (exact: x0 e^{λ end}) for several step counts."""
    exact = x0 * math.exp(lam * end)
    errors = []
    for n in steps:
        h, x = end / n, torch.tensor(x0, dtype=torch.float64)
        for k in range(n):
            x = step_fn(x, k * h, (k + 1) * h)
        errors.append(abs(float(x) - exact))
    return errors


def f_linear(x, s, lam=-1.3):
    return lam * x


def test_euler_is_first_order_on_a_linear_ode():
    errors = linear_ode_errors(lambda x, s, s1: euler_step(x, f_linear(x, s), s1 - s))
    ratios = [a / b for a, b in zip(errors[:-1], errors[1:])]
    assert all(1.9 < r < 2.1 for r in ratios), ratios  # halving h halves the error (→ 2 as h → 0)


def test_heun_is_second_order_on_a_linear_ode():
    errors = linear_ode_errors(lambda x, s, s1: heun_step(f_linear, x, s, s1))
    ratios = [a / b for a, b in zip(errors[:-1], errors[1:])]
    assert all(3.9 < r < 4.2 for r in ratios), ratios  # halving h quarters the error (→ 4 as h → 0)
    # and on a linear ODE one Heun step is the second-order Taylor polynomial exactly
    h, lam = 0.1, -1.3
    assert float(heun_step(f_linear, torch.tensor(1.0, dtype=torch.float64), 0.0, h)) == pytest.approx(
        1 + lam * h + (lam * h) ** 2 / 2, rel=1e-14)


def test_flow_and_diffusion_variables_are_inverse():
    ab = SCHEDULE.alpha_bars[[0, 10, 500, 990]]
    time, r = diffusion_to_flow(ab)
    alpha, sigma, r2 = flow_to_diffusion(time)
    assert torch.allclose(alpha**2, ab, rtol=1e-9) and torch.allclose(sigma**2, 1 - ab, rtol=1e-9)
    assert torch.allclose(r, r2, rtol=1e-12)
    # the same SNR: ((1 − time)/time)² = ᾱ/(1 − ᾱ)
    assert torch.allclose(((1 - time) / time) ** 2, ab / (1 - ab), rtol=1e-9)


def test_cosine_timestep_inverts_the_cosine_schedule():
    t = torch.arange(999)
    assert torch.allclose(cosine_timestep(SCHEDULE.alpha_bars[:-1]), t.double(), atol=1e-6)
    assert float(cosine_timestep(torch.tensor(1.0, dtype=torch.float64))) == pytest.approx(-1.0, abs=1e-9)
    assert float(cosine_timestep(torch.tensor(0.0, dtype=torch.float64))) == pytest.approx(999.0, abs=1e-9)


def test_path_straightness_is_zero_for_lines_and_positive_for_bends():
    times = [1.0, 0.75, 0.5, 0.25, 0.0]
    start, end = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    line = torch.stack([end + tau * (start - end) for tau in times])
    s = path_straightness(ODETrajectory(times, line, 4))
    assert s["straightness"] == pytest.approx(0.0, abs=1e-12) and s["length_ratio"] == pytest.approx(1.0)
    bent = line.clone()
    bent[2] += torch.tensor([[0.0, 1.0]])
    s = path_straightness(ODETrajectory(times, bent, 4))
    assert s["straightness"] > 0.5 and s["length_ratio"] < 0.9


def test_ddim_timesteps_and_pf_ode_timesteps_agree():
    assert pf_ode_timesteps(1000, 20) == ddim_timesteps(1000, 20) + [-1]
