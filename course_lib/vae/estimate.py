"""Monte-Carlo estimates around the ELBO (notebook 07): a KL checked by sampling, the two gradient
estimators of E_q[f(z)], and the importance-weighted bound on log p(x).

* :func:`kl_monte_carlo` — KL(q ‖ p) = E_{z~q}[log q(z) − log p(z)] by sampling, with its standard
  error, to check the closed form :func:`~course_lib.vae.elbo.gaussian_kl_between`.
* :func:`gradient_samples` — per-sample estimates of ∇_{μ, log σ²} E_{z~N(μ,σ²)}[f(z)]: the
  **reparameterised** one f′(z) ∂z/∂(μ, log σ²) with z = μ + σε (Kingma & Welling 2014), and the
  **score-function** (REINFORCE, Williams 1992) one f(z) ∇ log q(z). Both are unbiased; their
  variances differ by orders of magnitude.
* :func:`elbo_terms` — the negative ELBO of each digit and its two terms, for a trained model;
* :func:`iwae_bound` — L_k = E[log (1/k) Σ_i p(x, z_i)/q(z_i | x)] (Burda et al. 2016) for a
  trained VAE, next to the ELBO from the same samples.

These are boundary functions (they check their arguments once); the formulas they use live in
:mod:`course_lib.vae.elbo`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..classifier import check_digits
from ..device import model_device
from ..validation import check_choice, check_int, check_same_shape, check_tensor
from .elbo import (
    ElboTerms,
    bernoulli_log_likelihood,
    gaussian_log_density,
    log_importance_weights,
    log_mean_exp,
    reparameterise,
)

ESTIMATORS = ("reparam", "score")


def kl_monte_carlo(mu_q, logvar_q, mu_p, logvar_p, num_samples: int = 10_000, *, seed: int = 0):
    """Estimate KL(N(μ_q, diag σ_q²) ‖ N(μ_p, diag σ_p²)) per example by sampling.

    KL ≈ (1/n) Σ_s [log q(z_s) − log p(z_s)], z_s ~ q. Returns ``(estimate, standard_error)``,
    each (B,), the standard error being std/√n of the n terms.
    """
    check_tensor("mu_q", mu_q, ndim=(2, 3, 4), floating=True)
    for name, value in (("logvar_q", logvar_q), ("mu_p", mu_p), ("logvar_p", logvar_p)):
        check_same_shape(name, value, mu_q, "mu_q")
    num_samples = check_int("num_samples", num_samples, 2)
    noise = torch.randn(num_samples, *mu_q.shape, generator=torch.Generator().manual_seed(check_int("seed", seed, 0)),
                        dtype=mu_q.dtype)
    z = reparameterise(mu_q, logvar_q, noise)  # (n, B, ...): z_s ~ q
    flat = z.reshape(-1, *mu_q.shape[1:])  # (n·B, ...)
    rep = (num_samples, *([1] * (mu_q.ndim - 1)))
    terms = (gaussian_log_density(flat, mu_q.repeat(rep), logvar_q.repeat(rep))
             - gaussian_log_density(flat, mu_p.repeat(rep), logvar_p.repeat(rep))).reshape(num_samples, -1)
    return terms.mean(0), terms.std(0) / math.sqrt(num_samples)


def quadratic(target: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """f(z) = (z − target)²: E_{N(μ,σ²)}[f] = (μ − target)² + σ², so the exact gradient is known
    (:func:`quadratic_gradient`)."""
    def f(z: torch.Tensor) -> torch.Tensor:
        return (z - target).pow(2)

    f.__name__ = f"(z - {target:g})²"
    return f


def quadratic_gradient(mu: float, logvar: float, target: float = 1.0) -> tuple[float, float]:
    """The exact (∂/∂μ, ∂/∂log σ²) of E[(z − target)²] = (μ − target)² + exp(log σ²)."""
    return 2 * (mu - target), math.exp(logvar)


def gradient_samples(f: Callable[[torch.Tensor], torch.Tensor], mu: float, logvar: float,
                     num_samples: int = 10_000, *, estimator: str = "reparam", seed: int = 0) -> torch.Tensor:
    """Per-sample estimates (num_samples, 2) of (∂/∂μ, ∂/∂log σ²) E_{z~N(μ, σ²)}[f(z)], 1-D z.

    ``estimator="reparam"``: z = μ + σε and each row is the gradient of f(z) itself;
    ``"score"`` (REINFORCE): each row is f(z) ∇ log N(z; μ, σ²), z held fixed. Their column means
    estimate the same gradient; their variances are what :func:`compare_gradient_estimators` shows.
    """
    check_choice("estimator", estimator, ESTIMATORS)
    num_samples = check_int("num_samples", num_samples, 2)
    noise = torch.randn(num_samples, 1, generator=torch.Generator().manual_seed(check_int("seed", seed, 0)),
                        dtype=torch.float64)
    mus = torch.full((num_samples, 1), float(mu), dtype=torch.float64, requires_grad=True)  # one copy per sample
    logvars = torch.full((num_samples, 1), float(logvar), dtype=torch.float64, requires_grad=True)
    if estimator == "reparam":
        z = reparameterise(mus, logvars, noise)  # z = μ + σε: differentiable in μ and log σ²
        objective = f(z).sum()  # Σ_s f(z_s): row s's gradient is f′(z_s) ∂z_s/∂(μ, log σ²)
    else:
        z = reparameterise(mus, logvars, noise).detach()  # a sample from q, no path to μ, σ
        log_q = gaussian_log_density(z, mus, logvars)  # log N(z_s; μ, σ²)
        objective = (f(z).detach().reshape(-1) * log_q).sum()  # Σ_s f(z_s) log q(z_s)
    grad_mu, grad_logvar = torch.autograd.grad(objective, (mus, logvars))
    return torch.cat([grad_mu, grad_logvar], dim=1)


def compare_gradient_estimators(f: Callable[[torch.Tensor], torch.Tensor], mu: float, logvar: float, num_samples: int = 10_000,
            *, seed: int = 0) -> dict:
    """Both estimators on the same ε: {estimator: {"mean": (2,), "std": (2,), "stderr": (2,),
    "samples": (n, 2)}} for (∂/∂μ, ∂/∂log σ²)."""
    out = {}
    for estimator in ESTIMATORS:
        samples = gradient_samples(f, mu, logvar, num_samples, estimator=estimator, seed=seed)
        out[estimator] = dict(mean=samples.mean(0), std=samples.std(0),
                              stderr=samples.std(0) / math.sqrt(num_samples), samples=samples)
    return out


def _check_vae(model) -> None:
    if not getattr(model, "variational", False):
        raise ValueError("model must be a VAE (variational=True): a plain autoencoder has no q(z | x)")


@torch.no_grad()
def elbo_terms(model, images: torch.Tensor, *, seed: int = 0) -> ElboTerms:
    """The :class:`~course_lib.vae.elbo.ElboTerms` (−ELBO, −log p_θ(x | z), KL) of each digit,
    (B,) each, in nats, with one z ~ q_φ(z | x) per digit drawn from ``seed``; eval mode."""
    from .training import vae_step_terms

    check_digits("images", images)
    _check_vae(model)
    was_training = model.training
    model.eval()
    terms = vae_step_terms(model, images.to(model_device(model), torch.float32),
                           torch.Generator().manual_seed(check_int("seed", seed, 0)))
    model.train(was_training)
    return ElboTerms(*(t.cpu() for t in terms))


@torch.no_grad()
def iwae_bound(model, images: torch.Tensor, k: int = 100, *, seed: int = 0, chunk: int = 256):
    """The importance-weighted bound L_k and the ELBO of each digit, in nats: ``(iwae, elbo)``, (B,).

    For each digit x, k samples z_i ~ q_φ(z | x) give log-weights log w_i = log p_θ(x | z_i) +
    log p(z_i) − log q_φ(z_i | x); then L_k = log (1/k) Σ_i w_i and the ELBO estimate is
    (1/k) Σ_i log w_i. By Jensen's inequality L_k ≥ ELBO for every draw; E[L_k] grows with k
    towards log p_θ(x) (Burda et al. 2016, Theorem 1). ``chunk`` samples are decoded at a time.
    """
    check_digits("images", images)
    k = check_int("k", k, 1, hint="the number of importance samples per digit")
    chunk = check_int("chunk", chunk, 1)
    _check_vae(model)
    was_training = model.training
    model.eval()
    x = images.to(model_device(model), torch.float32)
    mu, logvar = model.posterior(x)
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0))
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        noise = torch.randn(n, *mu.shape, generator=gen).to(mu.device)
        z = reparameterise(mu, logvar, noise).reshape(-1, *mu.shape[1:])  # (n·B, ...)
        rep = (n, *([1] * (mu.ndim - 1)))
        log_lik = bernoulli_log_likelihood(x.repeat(n, 1, 1, 1), model.decode_logits(z))
        log_w.append(log_importance_weights(log_lik, z, mu.repeat(rep), logvar.repeat(rep)).reshape(n, -1))
    model.train(was_training)
    log_w = torch.cat(log_w).cpu()  # (k, B)
    return log_mean_exp(log_w, dim=0), log_w.mean(0)
