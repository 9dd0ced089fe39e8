"""The GAN self-checks pass the references and fail the typical wrong answers with a useful sentence."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.checks.gan import (
    check_discriminator_loss,
    check_optimal_discriminator,
    solution_discriminator_loss,
)
from course_lib.gan import optimal_discriminator

# ----------------------------------------------------------------------------- discriminator loss


def test_reference_discriminator_loss_passes():
    result = check_discriminator_loss(solution_discriminator_loss)
    assert result and "✅" in repr(result)


def test_bce_with_logits_written_by_hand_passes():
    def with_bce(discriminator, real, fake):
        real_logits = discriminator(real)
        fake_logits = discriminator(fake.detach())
        return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))

    assert check_discriminator_loss(with_bce)


def test_sigmoid_then_log_passes_too():
    def with_probabilities(discriminator, real, fake):
        d_real = torch.sigmoid(discriminator(real))
        d_fake = torch.sigmoid(discriminator(fake.detach()))
        return -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())

    assert check_discriminator_loss(with_probabilities)


def test_sign_flipped_fails():
    def flipped(discriminator, real, fake):
        return -solution_discriminator_loss(discriminator, real, fake)

    result = check_discriminator_loss(flipped)
    assert not result and "sign" in result.message


def test_log_missing_fails():
    def no_log(discriminator, real, fake):
        d_real = torch.sigmoid(discriminator(real))
        d_fake = torch.sigmoid(discriminator(fake.detach()))
        return -(d_real.mean() + (1 - d_fake).mean())

    result = check_discriminator_loss(no_log)
    assert not result and "log is missing" in result.message


def test_detach_missing_fails():
    def no_detach(discriminator, real, fake):
        real_logits, fake_logits = discriminator(real), discriminator(fake)
        return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))

    result = check_discriminator_loss(no_detach)
    assert not result and "detach" in result.message


def test_other_typical_mistakes_fail():
    def averaged(discriminator, real, fake):
        return solution_discriminator_loss(discriminator, real, fake) / 2

    def logits_as_probabilities(discriminator, real, fake):  # forgot D = sigmoid(logit)
        a_real, a_fake = discriminator(real), discriminator(fake.detach())
        return -(torch.log(a_real.clamp_min(1e-6)).mean() + torch.log((1 - a_fake).clamp_min(1e-6)).mean())

    def swapped_labels(discriminator, real, fake):
        return solution_discriminator_loss(discriminator, fake.detach(), real)

    def item(discriminator, real, fake):
        return torch.tensor(solution_discriminator_loss(discriminator, real, fake).item())

    def per_sample(discriminator, real, fake):
        return -F.logsigmoid(discriminator(real))

    def not_written(discriminator, real, fake):
        raise NotImplementedError

    for wrong, words in (
        (averaged, "half"),
        (logits_as_probabilities, "sigmoid"),
        (swapped_labels, "L_D"),
        (item, "gradient"),
        (per_sample, "one number"),
        (not_written, "not written yet"),
    ):
        result = check_discriminator_loss(wrong)
        assert not result, wrong.__name__
        assert words in result.message, (wrong.__name__, result.message)


# ----------------------------------------------------------------------------- optimal discriminator


def test_reference_optimal_discriminator_passes():
    assert check_optimal_discriminator(optimal_discriminator)


def test_plain_formula_passes_where_it_matters():
    # 0/0 outside both supports gives NaN, which is allowed: no sample ever lands there
    assert check_optimal_discriminator(lambda p_data, p_g: p_data / (p_data + p_g))


def test_flipped_optimal_discriminator_fails():
    result = check_optimal_discriminator(lambda p_data, p_g: p_g / (p_data + p_g))
    assert not result and "1 − D*" in result.message


def test_ratio_instead_of_probability_fails():
    result = check_optimal_discriminator(lambda p_data, p_g: p_data / p_g)
    assert not result and ("denominator" in result.message or "p_data + p_g" in result.message)


def test_other_wrong_optimal_discriminators_fail():
    for wrong, words in (
        (lambda p_data, p_g: torch.full_like(p_data, 0.5), "D*("),
        (lambda p_data, p_g: p_data / (p_data + p_g + 1e-3), "D*("),
        (lambda p_data, p_g: p_data / (p_data + p_g + 1e-12) * 2, "outside [0, 1]"),
        (lambda p_data, p_g: (p_data / (p_data + p_g))[:10], "shape"),
        (lambda p_data, p_g: [0.5], "tensor"),
        (lambda p_data, p_g: torch.log(p_data) - torch.log(p_data + p_g), "outside [0, 1]"),
    ):
        result = check_optimal_discriminator(wrong)
        assert not result
        assert words in result.message, result.message
