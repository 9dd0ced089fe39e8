"""SDEdit from its math: strength 0 is the input, strength 1 is unconditional sampling from the same
noise up to √ᾱ_{T−1}, the start point is the forward process, and bad input is named."""

from __future__ import annotations

import pytest
import torch
from conftest import seeded
from test_control_denoise import Oracle, digits, tiny_unet

from course_lib.control import sdedit, sdedit_start, sdedit_timesteps
from course_lib.diffusion import make_schedule, q_sample
from course_lib.diffusion.samplers import ddim_timesteps, sample
from course_lib.registry import has_shipped, load_pretrained


@pytest.fixture(scope="module")
def tiny():
    return tiny_unet()


class Refuses(torch.nn.Module):
    """A denoiser that must not be called."""

    def __init__(self):
        super().__init__()
        self.schedule, self.prediction = make_schedule("cosine", 1000), "v"
        self.in_channels, self.image_size = 1, 28
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, *args):
        raise AssertionError("strength 0 must not evaluate the network")


def test_strength_0_returns_the_input_exactly_without_a_network_call():
    x = digits(3)
    out = sdedit(Refuses(), x, 0.0, seed=0, device="cpu", progress=False)
    assert torch.equal(out, x)
    assert out is not x  # a copy: editing the result leaves the input alone


@pytest.mark.parametrize("strength,nfe,t0,k", [(0.5, 50, 499, 25), (1.0, 50, 999, 50), (0.25, 10, 299, 3),
                                               (0.01, 50, 19, 1), (0.009, 50, None, 0)])
def test_the_strength_picks_the_last_k_sampler_timesteps(strength, nfe, t0, k):
    steps = sdedit_timesteps(strength, nfe, 1000)
    assert len(steps) == k and steps == ddim_timesteps(1000, nfe)[nfe - k:]
    assert (steps[0] if steps else None) == t0


def test_the_start_point_is_the_forward_process(cosine_schedule):
    x, noise = digits(2), seeded(1, (2, 1, 28, 28))
    for t0 in (0, 499, 999):
        assert torch.equal(sdedit_start(x, t0, cosine_schedule, noise), q_sample(x, t0, cosine_schedule, noise))
    assert sdedit_start(x, -1, cosine_schedule, noise) is x


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_strength_1_is_sampling_from_the_same_noise_plus_the_last_steps_signal(kind):
    """At strength 1 the start is √ᾱ_{T−1} x + √(1−ᾱ_{T−1}) ε where sample() starts at ε (same seed):
    the starts differ by exactly that, and the rest of the run is sample() itself."""
    model = tiny_unet(kind=kind)
    schedule = model.schedule
    x = digits(2, seed=2)
    out = sdedit(model, x, 1.0, nfe=10, seed=7, device="cpu", progress=False)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))  # sample()'s first draw
    start = q_sample(x, 999, schedule, noise)
    bound = float(schedule.alpha_bars[-1].sqrt()) + float(1 - (1 - schedule.alpha_bars[-1]).sqrt()) * float(noise.abs().max())
    assert float((start - noise).abs().max()) <= bound + 1e-7
    torch.testing.assert_close(out, sample(model, 2, nfe=10, x_start=start, device="cpu", progress=False),
                               rtol=0, atol=0)


@pytest.mark.slow
@pytest.mark.skipif(not has_shipped("ddpm_mnist"), reason="needs the shipped ddpm_mnist checkpoint")
def test_strength_1_on_the_shipped_model_matches_unconditional_sampling():
    """√ᾱ_{T−1} ≈ 4.9e-5 for the cosine schedule: the digits drawn match pure sampling to 1e-3."""
    model = load_pretrained("ddpm_mnist", device="cpu")
    x = digits(4, seed=3)
    out = sdedit(model, x, 1.0, nfe=20, seed=11, device="cpu", progress=False)
    plain = sample(model, 4, nfe=20, seed=11, device="cpu", progress=False)
    assert float((out - plain).abs().max()) < 1e-3


@pytest.mark.parametrize("strength", [0.2, 0.6, 1.0])
@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_a_perfect_denoiser_of_the_input_gives_the_input_back(cosine_schedule, strength, prediction):
    """With a denoiser that knows x, every SDEdit run lands on x: the path and the start agree."""
    x = digits(2, seed=4) * 0.9
    out = sdedit(Oracle(x, cosine_schedule, prediction), x, strength, nfe=20, eta=0.5, seed=0, device="cpu",
                 progress=False)
    torch.testing.assert_close(out, x, atol=1e-4, rtol=1e-4)


def test_runs_take_only_the_steps_of_their_strength(cosine_schedule):
    x = digits(1)
    oracle = Oracle(x, cosine_schedule)
    sdedit(oracle, x, 0.3, nfe=50, seed=0, device="cpu", progress=False)
    assert oracle.calls == 15


def test_same_seed_same_edit_and_labels_with_guidance(tiny):
    x = digits(2)
    a = sdedit(tiny, x, 0.5, nfe=6, eta=1.0, seed=3, device="cpu", progress=False)
    b = sdedit(tiny, x, 0.5, nfe=6, eta=1.0, seed=3, device="cpu", progress=False)
    assert torch.equal(a, b)
    cond = tiny_unet(num_classes=10, kind="linear", prediction="epsilon")
    c = sdedit(cond, x, 0.5, nfe=6, labels=3, guidance_scale=2.0, seed=3, device="cpu", progress=False)
    assert c.shape == x.shape and c.abs().max() <= 1


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan")])
def test_a_strength_outside_0_1_is_refused(tiny, strength):
    with pytest.raises(ValueError, match=r"strength must be a finite number in \[0, 1\].*got"):
        sdedit(tiny, digits(1), strength, progress=False)


@pytest.mark.parametrize("images,message", [
    (torch.zeros(1, 1, 32, 32), r"images must have shape \(B, 1, 28, 28\).*got \(1, 1, 32, 32\).*prepare_sketch"),
    (torch.zeros(28, 28), r"images must be a batch \(B, C, H, W\), got shape \(28, 28\)"),
    (torch.full((1, 1, 28, 28), 255.0), r"images must be in \[-1, 1\].*divide by 127.5"),
    (torch.zeros(1, 1, 28, 28, dtype=torch.uint8), r"images must be float images in \[-1, 1\], got dtype torch.uint8"),
    (torch.full((1, 1, 28, 28), float("nan")), r"images contains NaN"),
])
def test_images_of_the_wrong_size_or_range_are_refused_naming_them(tiny, images, message):
    with pytest.raises((ValueError, TypeError), match=message):
        sdedit(tiny, images, 0.5, progress=False)


def test_a_model_without_a_schedule_is_refused():
    with pytest.raises(TypeError, match=r"model must be a denoiser that carries its noise schedule"):
        sdedit(torch.nn.Linear(2, 2), digits(1), 0.5, progress=False)


def test_nfe_and_eta_are_checked(tiny):
    with pytest.raises(ValueError, match=r"nfe must be an integer in \[1, 1000\]"):
        sdedit(tiny, digits(1), 0.5, nfe=0, progress=False)
    with pytest.raises(ValueError, match=r"eta must be a finite number in \[0, inf\]"):
        sdedit(tiny, digits(1), 0.5, eta=-1, progress=False)
