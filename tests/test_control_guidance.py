"""Guidance by a differentiable loss: the update, scale 0 is plain sampling, a loss that is NaN or has
no gradient is named, and classifier guidance raises the target's probability with its scale."""

from __future__ import annotations

import pytest
import torch
from conftest import seeded
from test_control_denoise import digits, tiny_unet

from course_lib.classifier import classify
from course_lib.control import classifier_loss, guided_sample, texture_loss
from course_lib.control.guidance import check_loss_fn, guide_x0
from course_lib.control.measure import guidance_sweep
from course_lib.diffusion.samplers import sample
from course_lib.registry import has_shipped, load_pretrained


@pytest.fixture(scope="module")
def tiny():
    return tiny_unet()


def test_the_update_is_one_gradient_step_on_x0():
    x0, grad = seeded(0), seeded(1)
    torch.testing.assert_close(guide_x0(x0, grad, 0.3), x0 - 0.3 * grad)


def test_scale_0_is_plain_sampling_from_the_same_noise(tiny):
    out = guided_sample(tiny, 3, classifier_loss(4), scale=0.0, nfe=6, seed=5, device="cpu", progress=False)
    torch.testing.assert_close(out, sample(tiny, 3, nfe=6, seed=5, device="cpu", progress=False), rtol=0, atol=0)


def test_a_loss_pulls_the_samples_toward_its_minimum(tiny):
    """ℓ = ½‖x̂_0 − c‖² has ∇ℓ = x̂_0 − c, so scale s moves x̂_0 the fraction s of the way to c: closer
    and closer as s grows, and at s = 1 every guess is c, so the sample is c itself."""
    target = torch.full((1, 1, 28, 28), 0.3)

    def loss(x0_pred):
        return 0.5 * (x0_pred - target).pow(2).flatten(1).sum(1)

    gaps = [(guided_sample(tiny, 2, loss, scale=s, nfe=8, seed=1, device="cpu", progress=False) - target).abs()
            for s in (0.0, 0.1, 0.5, 1.0)]
    means = [float(g.mean()) for g in gaps]
    assert means[0] > means[1] > means[2] > means[3]
    assert float(gaps[3].max()) < 1e-5


def test_the_classifier_loss_is_minus_log_p():
    x = digits(3)
    probs, _ = classify(x)
    torch.testing.assert_close(classifier_loss(7)(x), -probs[:, 7].log(), atol=1e-4, rtol=1e-4)


def test_the_texture_loss_is_zero_on_the_texture_and_relative_elsewhere():
    texture = digits(1, seed=9)
    loss = texture_loss(texture)
    assert float(loss(texture)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(torch.zeros(1, 1, 28, 28))) > 0
    assert float(loss(torch.cat([texture, texture]))) == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- bad losses


def _probe():
    return digits(2)


@pytest.mark.parametrize("loss_fn,error,message", [
    (lambda x: x.sum() * float("nan"), ValueError, r"loss_fn \(<lambda>\) must return a finite loss, got \[nan\]"),
    (lambda x: x.detach().pow(2).flatten(1).sum(1), ValueError, r"loss_fn .* returned a loss without a gradient"),
    (lambda x: torch.zeros(2, requires_grad=True), ValueError, r"loss_fn .* does not depend on its input"),
    (lambda x: x.pow(2).mean(1), ValueError, r"loss_fn .* must return one loss per image, shape \(2,\), or a scalar; got shape \(2, 28, 28\)"),
    (lambda x: 3.0, TypeError, r"loss_fn .* must return a tensor of shape \(B,\) = \(2,\) or a scalar, got float"),
    (lambda x: x.abs().sqrt().sum() * 0 + (x - x).sqrt().sum(), ValueError, r"NaN or infinite gradient"),
    ("not a function", TypeError, r"loss_fn must be a function x0_pred"),
])
def test_a_bad_loss_is_refused_naming_loss_fn(loss_fn, error, message):
    with pytest.raises(error, match=message):
        check_loss_fn(loss_fn, _probe())


def test_guided_sample_checks_its_loss_and_scale_before_sampling(tiny):
    with pytest.raises(ValueError, match=r"loss_fn .* must return a finite loss"):
        guided_sample(tiny, 2, lambda x: x.sum() * float("nan"), progress=False)
    with pytest.raises(ValueError, match=r"scale must be a finite number in \[0, inf\]"):
        guided_sample(tiny, 2, classifier_loss(1), scale=-1.0, progress=False)
    with pytest.raises(ValueError, match=r"digit must be an integer in \[0, 9\]"):
        classifier_loss(10)


def test_a_run_that_blows_up_names_the_loss_and_the_scale(tiny):
    def squared(x0_pred):
        return x0_pred.pow(2).flatten(1).sum(1)

    with pytest.raises(FloatingPointError, match=r"loss_fn \(squared\) at scale=1e\+30 produced NaN"):
        guided_sample(tiny, 1, squared, scale=1e30, nfe=5, seed=0, device="cpu", progress=False)


# ----------------------------------------------------------------------------- on the shipped model


@pytest.mark.slow
@pytest.mark.skipif(not has_shipped("ddpm_mnist"), reason="needs the shipped ddpm_mnist checkpoint")
@pytest.mark.parametrize("digit", [3, 7])
def test_classifier_guidance_raises_the_target_probability_with_its_scale(digit):
    """12 samples from the same noises (seed 0, DDIM-10) at scales 0, 0.5, 1.5, 4: the mean
    p(digit | x) rises at every step of the scale (measured: digit 3 0.006 → 0.28 → 0.83 → 0.997,
    digit 7 0.13 → 0.36 → 0.83 → 0.98), and at scale 4 nearly every sample is read as the digit,
    also when shifted by a pixel (so it is not an adversarial pattern only this classifier reads)."""
    model = load_pretrained("ddpm_mnist", device="cpu")
    rows, _ = guidance_sweep(model, digit, [0, 0.5, 1.5, 4], 12, nfe=10, seed=0, device="cpu")
    p = [r["p_digit"] for r in rows]
    assert all(a < b for a, b in zip(p, p[1:])), p
    assert p[-1] - p[0] > 0.5
    assert rows[-1]["accuracy"] >= 0.9 and rows[-1]["accuracy_shifted"] >= 0.8, rows[-1]
