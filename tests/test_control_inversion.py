"""DDIM inversion from its math: the inverted step, the walk up, the round trip on the shipped model
within a stated error, and spherical interpolation."""

from __future__ import annotations

import pytest
import torch
from conftest import seeded
from test_control_denoise import Oracle, digits, tiny_unet

from course_lib.control import ddim_invert, round_trip, slerp
from course_lib.control.inversion import ddim_invert_step, interpolate_noises
from course_lib.control.measure import rms_distance
from course_lib.diffusion.samplers import ddim_step
from course_lib.registry import has_shipped, load_pretrained

#: The bound the course states for a 100-step round trip on the shipped ddpm_mnist (RMS error per
#: image, [−1, 1] units). Measured on 16 held-out digits: mean 0.0185, largest 0.0283.
ROUND_TRIP_100 = {"mean": 0.03, "max": 0.05}


def test_the_inverted_step_is_the_ddim_formula_pointed_up(cosine_schedule):
    x0, eps, xt = seeded(0), seeded(1), seeded(2)
    up = ddim_invert_step(x0, eps, 700, cosine_schedule)
    a = cosine_schedule.alpha_bars[700]
    torch.testing.assert_close(up, (a.sqrt() * x0 + (1 - a).sqrt() * eps).float())
    # going down to the same timestep with η = 0 gives the same point: one formula, both directions
    torch.testing.assert_close(up, ddim_step(x0, eps, 900, 700, xt, cosine_schedule, eta=0.0))


def test_inversion_walks_up_one_network_evaluation_per_step(cosine_schedule):
    x = digits(2) * 0.9
    oracle = Oracle(x, cosine_schedule, "v")
    noise = ddim_invert(oracle, x, nfe=10, device="cpu", progress=False)
    assert oracle.calls == 10 and noise.shape == x.shape
    # the perfect denoiser's ε̂ at the end is the noise of the point reached: x_T−1 = √ᾱ x + √(1−ᾱ) ε̂
    a = cosine_schedule.alpha_bars[-1].float()
    eps = (noise - a.sqrt() * x) / (1 - a).sqrt()
    assert torch.isfinite(eps).all()


def test_the_round_trip_is_exact_with_a_perfect_denoiser(cosine_schedule):
    x = digits(3, seed=1) * 0.9
    _, back = round_trip(Oracle(x, cosine_schedule), x, nfe=10, device="cpu", progress=False)
    torch.testing.assert_close(back, x, atol=1e-4, rtol=1e-4)


def test_inversion_is_deterministic_and_takes_labels():
    cond = tiny_unet(num_classes=10, kind="linear", prediction="epsilon")
    x = digits(2)
    a = ddim_invert(cond, x, nfe=5, labels=torch.tensor([1, 2]), device="cpu", progress=False)
    b = ddim_invert(cond, x, nfe=5, labels=torch.tensor([1, 2]), device="cpu", progress=False)
    c = ddim_invert(cond, x, nfe=5, device="cpu", progress=False)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.slow
@pytest.mark.skipif(not has_shipped("ddpm_mnist"), reason="needs the shipped ddpm_mnist checkpoint")
def test_the_round_trip_with_100_steps_on_the_shipped_model_is_within_the_stated_error(digit_batch):
    images, _ = digit_batch                                 # 16 held-out digits
    model = load_pretrained("ddpm_mnist", device="cpu")
    noise, back = round_trip(model, images, nfe=100, device="cpu", progress=False)
    rmse = rms_distance(back, images)
    assert float(rmse.mean()) < ROUND_TRIP_100["mean"] and float(rmse.max()) < ROUND_TRIP_100["max"], rmse
    assert abs(float(noise.mean())) < 0.1 and 0.8 < float(noise.std()) < 1.3   # about standard normal


def test_slerp_ends_keeps_the_norm_and_falls_back_to_a_line():
    a, b = seeded(0, (2, 1, 28, 28)), seeded(1, (2, 1, 28, 28))
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b, atol=1e-5, rtol=1e-5)
    b_same_norm = b / b.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * a.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    mid = slerp(a, b_same_norm, 0.5)
    torch.testing.assert_close(mid.flatten(1).norm(dim=1), a.flatten(1).norm(dim=1))
    line_mid = ((a + b_same_norm) / 2).flatten(1).norm(dim=1)
    assert (line_mid < 0.8 * a.flatten(1).norm(dim=1)).all()   # the straight line's midpoint is too short
    torch.testing.assert_close(slerp(a, 2 * a, 0.25), 0.75 * a + 0.25 * (2 * a))


def test_interpolate_noises_checks_its_arguments():
    z = seeded(0, (1, 1, 28, 28))
    assert interpolate_noises(z, -z * 0.5, [0, 0.5, 1]).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match=r"fractions must be a finite number in \[0, 1\]"):
        interpolate_noises(z, z, [1.5])
    with pytest.raises(ValueError, match=r"z_b must have shape \(1, 1, 28, 28\)"):
        interpolate_noises(z, seeded(0, (2, 1, 28, 28)), [0.5])


def test_bad_input_is_named():
    tiny = tiny_unet()
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, 28, 28\)"):
        ddim_invert(tiny, torch.zeros(2, 1, 14, 14), progress=False)
    with pytest.raises(ValueError, match=r"nfe must be an integer in \[1, 1000\]"):
        ddim_invert(tiny, digits(1), nfe=1001, progress=False)
