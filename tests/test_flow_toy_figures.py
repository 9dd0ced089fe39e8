"""The 2-D models, their fields and trajectories, the figures of notebook 10, and coupling pairs for reflow."""

import pytest
import torch
from matplotlib.figure import Figure

from course_lib.data import two_moons
from course_lib.diffusion.reverse import predictions
from course_lib.flow.figures import (
    plot_nfe_quality,
    plot_sampling_paths,
    plot_score_field,
    plot_score_fields,
    plot_solver_errors,
    plot_toy_datasets,
    plot_velocity_field,
)
from course_lib.flow.matching import FlowUNet
from course_lib.flow.ode import (
    ODETrajectory,
    pf_ode_timesteps,
    sample_flow,
    score_from_noise,
    solve_pf_ode,
    to_flow_variables,
)
from course_lib.flow.toy import (
    ToyDenoiser,
    ToyFlow,
    field_grid,
    score_field,
    toy_trajectories,
    train_toy_diffusion,
)
from course_lib.flow.training import couple

POINTS = two_moons(400, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def denoiser():
    torch.manual_seed(0)
    model = ToyDenoiser(hidden=32, layers=2)
    train_toy_diffusion(model, POINTS, steps=30, batch_size=64, progress=False)
    return model


def test_score_field_is_minus_noise_over_sigma(denoiser):
    grid = field_grid(2.0, 5)
    assert grid.shape == (25, 2)
    t = 300
    with torch.no_grad():
        noise_pred, _ = predictions(denoiser(grid, t), grid, t, denoiser.schedule, "v")
    sigma = float((1 - denoiser.schedule.alpha_bars[t]).sqrt())
    assert torch.allclose(score_field(denoiser, t, grid), -noise_pred / sigma, atol=1e-5)
    assert torch.allclose(score_from_noise(noise_pred, denoiser.schedule.alpha_bars[t].float()), -noise_pred / sigma,
                          atol=1e-5)
    with pytest.raises(ValueError, match="t must be"):
        score_field(denoiser, 1000, grid)


def test_toy_trajectories_ddpm_is_noisy_and_the_ode_is_deterministic(denoiser):
    ddpm = toy_trajectories(denoiser, 50, sampler="ddpm", seed=0)
    assert ddpm.xt.shape[1:] == (50, 2) and ddpm.timesteps[0] == 999 and ddpm.timesteps[-1] == -1
    a = toy_trajectories(denoiser, 50, sampler="ode", nfe=10, seed=0)
    b = toy_trajectories(denoiser, 50, sampler="ode", nfe=10, seed=0)
    assert torch.equal(a.xt, b.xt)
    assert torch.equal(a.xt[0], ddpm.xt[0])      # the same starting noise for the same seed
    # the ODE end point equals solve_pf_ode's Euler (the DDIM step)
    end, _ = solve_pf_ode(denoiser, a.xt[0].clone(), pf_ode_timesteps(1000, 10), "euler")
    assert torch.allclose(end, a.xt[-1], atol=1e-3)   # the same steps, written as DDIM and as Euler in x̄
    flow_view = to_flow_variables(a, denoiser.schedule)
    assert flow_view.times[0] == pytest.approx(1.0, abs=1e-3) and flow_view.times[-1] == 0.0
    assert torch.allclose(flow_view.x[-1], a.xt[-1])   # at time 0, r = 1


def test_figures_return_figures(denoiser):
    flow = ToyFlow(hidden=16, layers=1)
    _, run = sample_flow(flow, 20, nfe=4, return_trajectory=True, progress=False)
    figures = [
        plot_toy_datasets({"moons": POINTS}),
        plot_score_field(denoiser, POINTS, t=100, size=5),
        plot_score_fields(denoiser, POINTS, ts=[5, 500], size=5),
        plot_sampling_paths({"ode": toy_trajectories(denoiser, 10, sampler="ode", nfe=5), "flow": run}, POINTS),
        plot_solver_errors({"euler": ([5, 10], [0.2, 0.1]), "heun": ([5, 9], [0.1, 0.03])}),
        plot_velocity_field(flow, POINTS, time=0.3, size=5),
        plot_nfe_quality([{"method": "a", "nfe": 4, "confident_share": 0.9, "frechet_ratio": 2.0},
                          {"method": "a", "nfe": 8, "confident_share": 0.95, "frechet_ratio": 1.5}]),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    with pytest.raises(TypeError, match="ToyDenoiser"):
        plot_score_field(flow, POINTS)
    with pytest.raises(ValueError, match="non-empty"):
        plot_sampling_paths({})
    with pytest.raises(TypeError, match="paths"):
        plot_sampling_paths({"bad": torch.zeros(3, 2)})
    with pytest.raises(ValueError, match="time must be"):
        plot_velocity_field(flow, POINTS, time=1.5)


def test_sample_flow_checks_its_arguments():
    flow = ToyFlow(hidden=16, layers=1)
    with pytest.raises(ValueError, match="nfe"):
        sample_flow(flow, 4, nfe=0, progress=False)
    with pytest.raises(ValueError, match="solver"):
        sample_flow(flow, 4, solver="rk4", progress=False)
    with pytest.raises(ValueError, match="x_start"):
        sample_flow(flow, 4, x_start=torch.zeros(3, 2), progress=False)
    with pytest.raises(TypeError, match="flow model"):
        sample_flow(torch.nn.Linear(2, 2), 4, progress=False)
    out = sample_flow(flow, 4, nfe=2, seed=3, progress=False)
    assert torch.equal(out, sample_flow(flow, 4, nfe=2, seed=3, progress=False))


def test_image_flow_samples_are_clamped_images_and_trajectories_keep_every_state():
    flow = FlowUNet(base_channels=8)
    images, run = sample_flow(flow, 2, nfe=3, progress=False, return_trajectory=True)
    assert images.shape == (2, 1, 28, 28) and float(images.abs().max()) <= 1
    assert isinstance(run, ODETrajectory) and run.x.shape == (4, 2, 1, 28, 28) and run.times == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])


def test_couple_pairs_noise_with_the_teachers_ode_solution():
    teacher = FlowUNet(base_channels=8)
    pairs = couple(teacher, 6, nfe=2, seed=0, batch_size=4, progress=False)
    assert pairs.x0.shape == pairs.noise.shape == (6, 1, 28, 28) and len(pairs) == 6
    again = sample_flow(teacher, 6, nfe=2, x_start=pairs.noise, progress=False)
    assert torch.allclose(pairs.x0, again, atol=1e-5)
