"""The VAE's formulas against the math: closed forms, Monte-Carlo estimates (z-scores with fixed
seeds), the reparameterised gradient, and the importance-weighted bound on a model whose log p(x)
is known exactly."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.vae import (
    bernoulli_log_likelihood,
    compare_gradient_estimators,
    gaussian_kl,
    gaussian_kl_between,
    gaussian_log_density,
    gradient_samples,
    kl_monte_carlo,
    log_importance_weights,
    log_mean_exp,
    negative_elbo,
    quadratic,
    quadratic_gradient,
    reparameterise,
)

Z_MAX = 4.5  # |z| above this has probability < 1e-5 under the null: a wrong formula, not bad luck


def test_kl_closed_form_known_values():
    # KL(N(1, 1) ‖ N(0, 1)) = ½ μ² = 0.5;  KL(N(0, 4) ‖ N(0, 1)) = ½ (4 − 1 − log 4)
    mu = torch.tensor([[1.0], [0.0]])
    logvar = torch.tensor([[0.0], [math.log(4.0)]])
    assert torch.allclose(gaussian_kl(mu, logvar), torch.tensor([0.5, 0.5 * (3 - math.log(4))]))
    # independent dimensions add; the prior has KL 0 to itself
    assert torch.allclose(gaussian_kl(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])),
                          torch.tensor([0.5 + 0.5 * (3 - math.log(4))]))
    assert gaussian_kl(torch.zeros(3, 4, 7, 7), torch.zeros(3, 4, 7, 7)).abs().max() == 0


def test_kl_between_reduces_to_kl_against_the_prior_and_vanishes_for_equal_gaussians():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    zeros = torch.zeros_like(mu)
    assert torch.allclose(gaussian_kl_between(mu, logvar, zeros, zeros), gaussian_kl(mu, logvar), atol=1e-6)
    assert gaussian_kl_between(mu, logvar, mu, logvar).abs().max() < 1e-6
    assert (gaussian_kl_between(mu, logvar, mu + 0.1, logvar) > 0).all()


def test_closed_form_kl_equals_the_monte_carlo_estimate():
    """KL(q ‖ p) = E_q[log q(z) − log p(z)]: 200,000 samples per pair, |z-score| < 4.5."""
    g = torch.Generator().manual_seed(1)
    mu_q, mu_p = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    logvar_q = torch.rand(5, 3, generator=g, dtype=torch.float64) * 2 - 1
    logvar_p = torch.rand(5, 3, generator=g, dtype=torch.float64) * 2 - 1
    closed = gaussian_kl_between(mu_q, logvar_q, mu_p, logvar_p)
    estimate, stderr = kl_monte_carlo(mu_q, logvar_q, mu_p, logvar_p, num_samples=200_000, seed=0)
    z = (estimate - closed) / stderr
    assert z.abs().max() < Z_MAX, z
    # the standard error is small enough for the test to see a missing ½ or a mean over dimensions
    assert (stderr < 0.02 * closed).all()


def test_gaussian_log_density_is_the_normal_density_and_integrates_to_one():
    z = torch.linspace(-8, 8, 4001, dtype=torch.float64).reshape(-1, 1)
    mu, logvar = torch.tensor(0.7, dtype=torch.float64), torch.tensor(math.log(0.5), dtype=torch.float64)
    log_p = gaussian_log_density(z, mu, logvar)
    normal = torch.distributions.Normal(0.7, math.sqrt(0.5))
    assert torch.allclose(log_p, normal.log_prob(z[:, 0]), atol=1e-12)
    assert abs(float(torch.trapezoid(log_p.exp(), z[:, 0])) - 1) < 1e-6


def test_reparameterise_is_the_formula_and_draws_from_q():
    mu = torch.tensor([[0.5, -2.0]])
    logvar = torch.tensor([[math.log(4.0), math.log(0.25)]])
    noise = torch.tensor([[1.0, -2.0]])
    assert torch.allclose(reparameterise(mu, logvar, noise), torch.tensor([[2.5, -3.0]]))  # μ + σε, σ = 2, 0.5
    n = 200_000
    eps = torch.randn(n, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    z = reparameterise(mu.double(), logvar.double(), eps)
    std = torch.tensor([2.0, 0.5], dtype=torch.float64)
    z_mean = (z.mean(0) - mu[0]) / (std / math.sqrt(n))
    z_var = (z.var(0) - std**2) / (std**2 * math.sqrt(2 / (n - 1)))
    assert z_mean.abs().max() < Z_MAX and z_var.abs().max() < Z_MAX


@pytest.mark.parametrize("mu, logvar, target", [(0.5, 0.0, 1.0), (-1.0, math.log(2.0), 2.0), (2.0, -1.0, 0.0)])
def test_reparameterised_gradient_is_unbiased(mu, logvar, target):
    """The mean of the per-sample reparameterised gradients of E[(z − c)²] is the exact gradient
    (2(μ − c), σ²) within 4.5 standard errors; so is the score function's, with a larger spread."""
    exact = torch.tensor(quadratic_gradient(mu, logvar, target), dtype=torch.float64)
    n = 100_000
    result = compare_gradient_estimators(quadratic(target), mu, logvar, n, seed=0)
    for estimator in ("reparam", "score"):
        z = (result[estimator]["mean"] - exact) / result[estimator]["stderr"]
        assert z.abs().max() < Z_MAX, (estimator, z)
    # reparameterised: ∂/∂μ = 2(z − c) has std exactly 2σ
    sigma = math.exp(0.5 * logvar)
    assert abs(float(result["reparam"]["std"][0]) / (2 * sigma) - 1) < 0.02
    assert (result["score"]["std"] > 1.5 * result["reparam"]["std"]).all()


def test_reparameterised_gradient_samples_are_f_prime_times_dz():
    samples = gradient_samples(quadratic(1.0), 0.3, math.log(0.49), 5, estimator="reparam", seed=0)
    eps = torch.randn(5, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)[:, 0]
    z = 0.3 + 0.7 * eps
    assert torch.allclose(samples[:, 0], 2 * (z - 1))  # f′(z) · ∂z/∂μ
    assert torch.allclose(samples[:, 1], 2 * (z - 1) * 0.5 * 0.7 * eps)  # f′(z) · ½σε
    score = gradient_samples(quadratic(1.0), 0.3, math.log(0.49), 5, estimator="score", seed=0)
    assert torch.allclose(score[:, 0], (z - 1) ** 2 * (z - 0.3) / 0.49)  # f(z) · (z − μ)/σ²


def test_bernoulli_log_likelihood_is_the_cross_entropy_and_peaks_at_the_intensity():
    images = torch.tensor([[[[-1.0, 1.0], [0.0, 0.5]]]])  # intensities 0, 1, 0.5, 0.75
    u = (images + 1) / 2
    logits = torch.tensor([[[[-2.0, 3.0], [0.0, 1.0]]]])
    p = torch.sigmoid(logits)
    by_hand = (u * p.log() + (1 - u) * (1 - p).log()).sum()
    assert torch.allclose(bernoulli_log_likelihood(images, logits), by_hand.reshape(1), atol=1e-6)
    best = torch.logit(u.clamp(1e-4, 1 - 1e-4)).requires_grad_(True)
    bernoulli_log_likelihood(images, best).sum().backward()
    assert best.grad.abs().max() < 1e-3  # the optimum is σ(l) = u


def test_negative_elbo_weights_the_kl_term():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 1, 4, 4, generator=g) * 2 - 1
    logits = torch.randn(3, 1, 4, 4, generator=g)
    mu, logvar = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    terms = negative_elbo(images, logits, mu, logvar, kl_weight=0.25)
    assert torch.allclose(terms.reconstruction, -bernoulli_log_likelihood(images, logits))
    assert torch.allclose(terms.kl, gaussian_kl(mu, logvar))
    assert torch.allclose(terms.loss, terms.reconstruction + 0.25 * terms.kl)
    assert torch.allclose(negative_elbo(images, logits, mu, logvar, 0.0).loss, terms.reconstruction)


def test_log_mean_exp_is_stable_and_exact():
    w = torch.tensor([[-1000.0, 2.0], [-1001.0, 2.0], [-999.0, 2.0]])
    out = log_mean_exp(w, dim=0)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[1], torch.tensor(2.0))
    assert torch.allclose(out[0], torch.tensor(-1000.0) + torch.log((1 + math.exp(-1) + math.exp(1)) / torch.tensor(3.0)))
    assert torch.equal(log_mean_exp(w[:1], dim=0), w[0])  # k = 1: the ELBO term itself


# ----------------------------------------------------------------------------- a model with a known log p(x)
# p(z) = N(0, 1), p(x | z) = N(W z + b, s² I) in 3-D: log p(x) = log N(x; b, W Wᵀ + s² I), the
# posterior p(z | x) is Gaussian, and ELBO = log p(x) − KL(q ‖ p(z | x)) exactly.

W = torch.tensor([[1.5], [-0.8], [0.3]], dtype=torch.float64)
B = torch.tensor([0.2, -0.1, 0.4], dtype=torch.float64)
S2 = 0.25
X = torch.tensor([[1.0, -1.5, 0.9]], dtype=torch.float64)


def _exact_log_px() -> float:
    cov = W @ W.T + S2 * torch.eye(3, dtype=torch.float64)
    return float(torch.distributions.MultivariateNormal(B, cov).log_prob(X[0]))


def _posterior():
    var = 1 / (1 + float(W.T @ W) / S2)
    mean = var * float(W.T @ (X[0] - B)) / S2
    return mean, var


def _log_weights(k: int, repeats: int, mu_q: float, var_q: float, seed: int) -> torch.Tensor:
    """(k, repeats) log-weights log p(x | z) + log p(z) − log q(z) for z ~ q = N(mu_q, var_q)."""
    mu = torch.full((k * repeats, 1), mu_q, dtype=torch.float64)
    logvar = torch.full_like(mu, math.log(var_q))
    eps = torch.randn(k * repeats, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = reparameterise(mu, logvar, eps)
    log_lik = gaussian_log_density(X.expand(k * repeats, 3), z @ W.T + B, torch.tensor(math.log(S2), dtype=torch.float64))
    return log_importance_weights(log_lik, z, mu, logvar).reshape(k, repeats)


def test_elbo_is_log_px_minus_the_kl_to_the_true_posterior():
    mean, var = _posterior()
    mu_q, var_q = mean + 0.6, 2.5 * var  # a deliberately poor q
    log_w = _log_weights(200_000, 1, mu_q, var_q, seed=0)[:, 0]
    gap = float(gaussian_kl_between(torch.tensor([[mu_q]]), torch.tensor([[math.log(var_q)]]),
                                    torch.tensor([[mean]]), torch.tensor([[math.log(var)]])))
    z = (float(log_w.mean()) - (_exact_log_px() - gap)) / float(log_w.std() / math.sqrt(len(log_w)))
    assert abs(z) < Z_MAX, z
    assert gap > 0.3  # the poor q leaves a gap the IWAE bound can close


def test_iwae_bound_grows_with_k_towards_the_exact_log_px():
    mean, var = _posterior()
    mu_q, var_q = mean + 0.6, 2.5 * var
    log_px = _exact_log_px()
    means, stderrs = [], []
    for k in (1, 4, 32, 256):
        bounds = log_mean_exp(_log_weights(k, 1000, mu_q, var_q, seed=k), dim=0)  # 1000 draws of L_k
        means.append(float(bounds.mean()))
        stderrs.append(float(bounds.std() / math.sqrt(len(bounds))))
    for (a, sa), (b, sb) in zip(zip(means, stderrs), zip(means[1:], stderrs[1:])):
        assert b - a > 3 * math.hypot(sa, sb), (means, stderrs)  # E[L_k] strictly grows
    for m, s in zip(means, stderrs):
        assert m < log_px + Z_MAX * s  # never above log p(x)
    assert log_px - means[-1] < 0.03 < 0.3 < log_px - means[0]  # L_256 is within 0.03 nats of log p(x)


def test_iwae_is_at_least_the_elbo_on_the_same_samples():
    log_w = _log_weights(50, 200, 0.3, 0.8, seed=5)
    assert (log_mean_exp(log_w, dim=0) >= log_w.mean(0) - 1e-12).all()  # Jensen, draw by draw
