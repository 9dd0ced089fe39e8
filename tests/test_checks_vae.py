"""The notebook-07 self-checks pass the references and fail the typical wrong answers, naming them."""

from __future__ import annotations

import pytest
import torch

from course_lib.checks.vae import check_gaussian_kl, check_reparameterise
from course_lib.vae import gaussian_kl, reparameterise

# ----------------------------------------------------------------------------- reparameterise


def z_by_hand(mu, logvar, noise):
    return mu + torch.sqrt(torch.exp(logvar)) * noise


def z_std_for_logvar(mu, logvar, noise):
    return mu + logvar * noise


def z_missing_half(mu, logvar, noise):
    return mu + torch.exp(logvar) * noise


def z_inverse_sigma(mu, logvar, noise):
    return mu + torch.exp(-0.5 * logvar) * noise


def z_wrong_sign(mu, logvar, noise):
    return mu - torch.exp(0.5 * logvar) * noise


def z_sqrt_of_logvar(mu, logvar, noise):
    return mu + torch.sqrt(logvar) * noise


def z_fresh_noise(mu, logvar, noise):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def z_detached(mu, logvar, noise):
    return (mu + torch.exp(0.5 * logvar) * noise).detach()


def z_detached_std(mu, logvar, noise):
    return mu + torch.exp(0.5 * logvar.detach()) * noise


def z_numpy(mu, logvar, noise):
    import numpy as np

    return torch.from_numpy(mu.detach().numpy() + np.exp(0.5 * logvar.detach().numpy()) * noise.numpy())


def z_in_place(mu, logvar, noise):
    return mu.add_(torch.exp(0.5 * logvar) * noise)


def z_no_mu(mu, logvar, noise):
    return torch.exp(0.5 * logvar) * noise


def z_not_written(mu, logvar, noise):
    raise NotImplementedError


@pytest.mark.parametrize("fn", [reparameterise, z_by_hand])
def test_check_reparameterise_passes_right_answers(fn):
    result = check_reparameterise(fn)
    assert result, result.message
    assert repr(result).startswith("✅")


@pytest.mark.parametrize(
    "fn, words",
    [
        (z_std_for_logvar, "log σ² as the standard deviation"),
        (z_missing_half, "the ½ is missing"),
        (z_inverse_sigma, "1/σ"),
        (z_wrong_sign, "wrong sign"),
        (z_sqrt_of_logvar, "NaN or inf"),
        (z_fresh_noise, "does not use the noise"),
        (z_detached, "carries no gradient"),
        (z_detached_std, "∂z/∂log σ²"),
        (z_numpy, "carries no gradient"),
        (z_in_place, "in place"),
        (z_no_mu, "centred on μ"),
        (z_not_written, "not written yet"),
    ],
)
def test_check_reparameterise_fails_wrong_answers(fn, words):
    result = check_reparameterise(fn)
    assert not result
    assert repr(result).startswith("❌")
    assert words in result.message, result.message
    assert "\n" not in result.message


# ----------------------------------------------------------------------------- gaussian_kl


def kl_textbook(mu, logvar):
    # the form of Kingma & Welling's Appendix B, summed over every latent axis
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=tuple(range(1, mu.ndim)))


def kl_std_for_logvar(mu, logvar):
    std = logvar
    return 0.5 * (mu**2 + std**2 - 1 - torch.log(std**2)).flatten(1).sum(1)


def kl_var_for_logvar(mu, logvar):
    var = logvar
    return 0.5 * (mu**2 + var - 1 - torch.log(var)).flatten(1).sum(1)


def kl_missing_half(mu, logvar):
    return (mu**2 + logvar.exp() - 1 - logvar).flatten(1).sum(1)


def kl_wrong_sign(mu, logvar):
    return 0.5 * (1 + logvar - mu**2 - logvar.exp()).flatten(1).sum(1)


def kl_mean_over_dims(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).flatten(1).mean(1)


def kl_batch_mean(mu, logvar):
    return gaussian_kl(mu, logvar).mean()


def kl_sum_dim1(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)  # (B, h, w) for feature maps


def kl_sigma_not_var(mu, logvar):
    return 0.5 * (mu**2 + torch.exp(0.5 * logvar) - 1 - logvar).flatten(1).sum(1)


def kl_no_minus_one(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - logvar).flatten(1).sum(1)


def kl_not_written(mu, logvar):
    raise NotImplementedError


@pytest.mark.parametrize("fn", [gaussian_kl, kl_textbook])
def test_check_gaussian_kl_passes_right_answers(fn):
    result = check_gaussian_kl(fn)
    assert result, result.message


@pytest.mark.parametrize(
    "fn, words",
    [
        (kl_std_for_logvar, "log σ² as the standard deviation"),
        (kl_var_for_logvar, "NaN or inf"),
        (kl_missing_half, "the ½ is missing"),
        (kl_wrong_sign, "the sign is wrong"),
        (kl_mean_over_dims, "mean over the latent dimensions where the sum belongs"),
        (kl_batch_mean, "mean over the batch"),
        (kl_sum_dim1, "every latent axis"),
        (kl_sigma_not_var, "not exp(½·logvar)"),
        (kl_no_minus_one, "the −1 inside the sum is missing"),
        (kl_not_written, "not written yet"),
    ],
)
def test_check_gaussian_kl_fails_wrong_answers(fn, words):
    result = check_gaussian_kl(fn)
    assert not result
    assert words in result.message, result.message
    assert "\n" not in result.message
