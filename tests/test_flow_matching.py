"""Flow matching (course_lib.flow.matching): the path and its target against the formula, the
FlowUNet's change of variables, training on 2-D points and sampling with Euler and Heun."""

import pytest
import torch

from course_lib.data import two_moons
from course_lib.flow.matching import (
    FlowUNet,
    build_flow_unet,
    expand_time,
    flow_matching_loss,
    flow_velocity,
    interpolate,
    sample_time,
)
from course_lib.flow.ode import flow_times, integrate_flow, path_straightness, sample_flow
from course_lib.flow.toy import ToyFlow
from course_lib.flow.training import Coupling, couple, train_flow


def test_interpolation_and_velocity_against_the_formula():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 3, 3, generator=gen) * 2 - 1
    noise = torch.randn(4, 1, 3, 3, generator=gen)
    time = torch.tensor([0.0, 0.3, 0.5, 1.0])
    xt = interpolate(x0, noise, time)
    for i, tau in enumerate(time.tolist()):
        assert torch.allclose(xt[i], (1 - tau) * x0[i] + tau * noise[i], atol=1e-7)
    assert torch.equal(xt[0], x0[0]) and torch.allclose(xt[3], noise[3])   # 0 = data, 1 = noise
    assert torch.equal(flow_velocity(x0, noise), noise - x0)
    # the velocity is the time derivative of the path (central difference, exact for a line)
    h = 1e-3
    mid = torch.full((4,), 0.4, dtype=torch.float64)
    x0d, nd = x0.double(), noise.double()
    derivative = (interpolate(x0d, nd, mid + h) - interpolate(x0d, nd, mid - h)) / (2 * h)
    assert torch.allclose(derivative, flow_velocity(x0d, nd), atol=1e-9)


def test_expand_time_lines_up_with_the_batch_axis_for_images_and_points():
    time = torch.tensor([0.1, 0.9])
    assert expand_time(time, torch.zeros(2, 1, 4, 4)).shape == (2, 1, 1, 1)
    assert expand_time(time, torch.zeros(2, 2)).shape == (2, 1)
    assert expand_time(torch.tensor(0.5), torch.zeros(2, 2)).ndim == 0


def test_the_loss_is_zero_for_the_exact_velocity_of_one_pair():
    x0, noise = torch.randn(1, 2), torch.randn(1, 2)

    class Exact(torch.nn.Module):
        def forward(self, xt, time):
            return noise - x0

    assert float(flow_matching_loss(Exact(), x0, noise, torch.rand(1))) == 0.0
    assert float(flow_matching_loss(lambda xt, time: torch.zeros_like(xt), x0, noise, torch.rand(1))) == pytest.approx(
        float((noise - x0).pow(2).mean()))


def test_logit_normal_time_has_median_one_half_and_more_weight_in_the_middle():
    gen = torch.Generator().manual_seed(0)
    time = sample_time(100_000, gen, "logit_normal")
    assert 0 < float(time.min()) and float(time.max()) < 1
    assert float(time.median()) == pytest.approx(0.5, abs=0.01)
    middle = float(((time > 0.25) & (time < 0.75)).float().mean())
    assert middle > 0.6   # uniform would give 0.5; σ(N(0,1)) gives 0.73
    assert float(sample_time(100_000, gen, "uniform").mean()) == pytest.approx(0.5, abs=0.01)


def test_flow_unet_output_is_exactly_the_velocity_when_the_unet_predicts_v():
    """FlowUNet turns v̂ into ε̂ − x̂_0; if the U-Net output is the true v, that is ε − x0."""
    flow = FlowUNet(base_channels=16)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 1, 28, 28, generator=gen) * 2 - 1
    noise = torch.randn(3, 1, 28, 28, generator=gen)
    time = torch.tensor([0.05, 0.5, 0.95])
    from course_lib.flow.matching import flow_to_diffusion

    alpha, sigma, _ = (c.reshape(-1, 1, 1, 1) for c in flow_to_diffusion(time))
    v_true = alpha * noise - sigma * x0                     # diffusion's v at the same SNR
    flow.net.forward = lambda x, t, labels=None: v_true     # a perfect U-Net
    got = flow(interpolate(x0, noise, time), time)
    assert torch.allclose(got, noise - x0, atol=1e-5)


def test_flow_unet_config_round_trip_and_default_size():
    flow = FlowUNet()
    assert sum(p.numel() for p in flow.parameters()) == 636004   # the course's UNet()
    again = build_flow_unet(flow.full_config())
    again.load_state_dict(flow.state_dict())
    assert again.sample_shape == (1, 28, 28)
    with pytest.raises(ValueError, match="cosine"):
        FlowUNet(schedule={"kind": "linear", "num_steps": 1000})
    with pytest.raises(ValueError, match="prediction"):
        FlowUNet(prediction="epsilon")


def test_flow_times_and_nfe_accounting():
    assert flow_times(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert flow_times(7, "heun") == [1.0, 0.75, 0.5, 0.25, 0.0]   # 4 steps, 2·4 − 1 evaluations
    model = ToyFlow(hidden=16, layers=1)
    for solver, nfe in (("euler", 4), ("heun", 7)):
        _, trajectory = sample_flow(model, 5, nfe=nfe, solver=solver, progress=False, return_trajectory=True)
        assert trajectory.nfe == nfe
    with pytest.raises(ValueError, match="odd"):
        sample_flow(model, 5, nfe=8, solver="heun", progress=False)


def test_euler_and_heun_follow_an_exact_straight_flow_in_one_step():
    """For one pair the exact velocity field is constant: Euler and Heun land on x0 with any nfe."""
    x0, noise = torch.tensor([[1.5, -0.5]]), torch.tensor([[-1.0, 2.0]])

    class Constant(torch.nn.Module):
        sample_shape = (2,)

        def forward(self, xt, time):
            return (noise - x0).expand_as(xt)

    for solver, nfe in (("euler", 1), ("euler", 5), ("heun", 3)):
        out = sample_flow(Constant(), 1, nfe=nfe, solver=solver, x_start=noise, progress=False)
        assert torch.allclose(out, x0, atol=1e-6)
    _, trajectory = integrate_flow(Constant(), noise, flow_times(8), keep=True)
    assert path_straightness(trajectory)["straightness"] == pytest.approx(0.0, abs=1e-10)


@pytest.mark.slow
def test_train_flow_learns_two_moons_and_reflow_straightens_its_paths():
    torch.set_num_threads(1)
    points = two_moons(2000, generator=torch.Generator().manual_seed(0))
    model = ToyFlow(hidden=64, layers=2)
    record = train_flow(model, points, steps=600, batch_size=256, lr=3e-3, ema_decay=None, progress=False)
    assert record.steps == 600 and record.mean("loss", last=50) < record.mean("loss")
    samples, trajectory = sample_flow(model, 1000, nfe=40, seed=1, progress=False, return_trajectory=True)
    assert torch.allclose(samples.mean(0), points.mean(0), atol=0.15)
    assert torch.allclose(samples.std(0), points.std(0), atol=0.15)
    before = path_straightness(trajectory)
    # reflow: couple noise to the model's own samples and train on the fixed pairs
    pairs = couple(model, 2000, nfe=40, seed=2, progress=False)
    assert torch.allclose(pairs.x0[:5], sample_flow(model, 5, nfe=40, x_start=pairs.noise[:5], progress=False))
    straight = ToyFlow(hidden=64, layers=2)
    train_flow(straight, pairs, steps=600, batch_size=256, lr=3e-3, ema_decay=None, progress=False)
    _, trajectory = sample_flow(straight, 1000, nfe=40, seed=1, progress=False, return_trajectory=True)
    after = path_straightness(trajectory)
    assert after["straightness"] < 0.5 * before["straightness"], (before, after)


def test_train_flow_refuses_bad_data():
    model = ToyFlow(hidden=16, layers=1)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        train_flow(model, torch.randn(10, 3), steps=1, progress=False)
    with pytest.raises(TypeError, match="Coupling"):
        train_flow(model, [1, 2], steps=1, progress=False)
    with pytest.raises(ValueError, match="same shape|shape"):
        train_flow(model, Coupling(torch.randn(10, 2), torch.randn(9, 2)), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        train_flow(FlowUNet(base_channels=8), torch.rand(4, 1, 28, 28) * 255, steps=1, progress=False)
    with pytest.raises(ValueError, match="time_sampling"):
        train_flow(model, torch.randn(10, 2), steps=1, time_sampling="beta", progress=False)
    with pytest.raises(TypeError, match="flow model"):
        train_flow(torch.nn.Linear(2, 2), torch.randn(10, 2), steps=1, progress=False)


@pytest.mark.parametrize("kwargs, words", [
    ({"batch_size": 0}, ["batch_size", "0"]),
    ({"lr": 0.0}, ["lr", "0"]),
    ({"ema_decay": 1.0}, ["ema_decay", "1"]),
    ({"grad_clip": -1.0}, ["grad_clip", "-1", "None turns clipping off"]),
    ({"clock": "gpu"}, ["clock", "'gpu'"]),
    ({"seed": -3}, ["seed", "-3"]),
])
def test_train_flow_bad_settings_name_the_argument(kwargs, words):
    with pytest.raises(ValueError) as err:
        train_flow(ToyFlow(hidden=16, layers=1), torch.randn(10, 2), steps=1, progress=False, **kwargs)
    for word in words:
        assert word in str(err.value)


def test_flow_unet_bad_num_classes_names_it():
    with pytest.raises(ValueError, match="num_classes"):
        FlowUNet(base_channels=8, num_classes=0)
