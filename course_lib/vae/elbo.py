"""The math of the variational autoencoder, as bare formulas (notebook 07).

A VAE (Kingma & Welling 2014) has a prior p(z) = N(0, I) over a latent z, a decoder p_θ(x | z)
and an encoder q_φ(z | x) = N(μ, diag σ²) that outputs ``(mu, logvar)``, with ``logvar`` = log σ².
For any q, Jensen's inequality (log is concave) gives the **evidence lower bound**

    log p_θ(x) = log E_q[p_θ(x, z) / q_φ(z | x)] ≥ E_q[log p_θ(x | z)] − KL(q_φ(z | x) ‖ p(z)) = ELBO,

and the gap is KL(q_φ(z | x) ‖ p_θ(z | x)) ≥ 0. Training minimises the negative ELBO.

**The likelihood: a Bernoulli on [0, 1] intensities.** Each pixel x_i ∈ [−1, 1] is read as the
intensity u_i = (x_i + 1)/2 ∈ [0, 1], and the decoder outputs one logit l_i per pixel:
log p_θ(x | z) = Σ_i u_i log σ(l_i) + (1 − u_i) log(1 − σ(l_i)). Why this one: it is the
likelihood Kingma & Welling used for MNIST, whose pixels are nearly all 0 or 1; it has no scale
to tune (a Gaussian N(x̂, s² I) turns into ‖x − x̂‖² / 2s², so its variance s² acts as a second
KL weight); and its optimum is the intensity itself, σ(l_i) = u_i. For grey pixels strictly
between 0 and 1 it is not a normalised density (the continuous Bernoulli of Loaiza-Ganem &
Cunningham 2019 adds the missing constant), so its "log-likelihoods" are cross-entropies in nats
per digit: they rank models on the same data but are not comparable with papers' numbers.

These functions are below the boundary (CONVENTIONS, "The API"): no argument checks, the
equation beside each line. Tensors are batched; every per-example sum runs over all axes but
the first, so a latent may be a vector (B, d) or a feature map (B, c, h, w).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def per_example_sum(values: torch.Tensor) -> torch.Tensor:
    """Σ over every axis but the batch axis: (B, ...) → (B,)."""
    return values.flatten(1).sum(1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z = μ + σ ⊙ ε with σ = exp(½ log σ²) and ε ~ N(0, I) given as ``noise``
    (Kingma & Welling 2014, eq. 10): z is a differentiable function of μ and log σ²."""
    std = torch.exp(0.5 * logvar)  # σ = exp(½ · log σ²)
    return mu + std * noise  # z = μ + σ ⊙ ε


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) per example (B,), in nats (Kingma & Welling 2014, Appendix B):

    KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)."""
    return 0.5 * per_example_sum(mu.pow(2) + logvar.exp() - 1 - logvar)  # ½ Σ (μ² + σ² − 1 − log σ²)


def gaussian_kl_between(mu_q: torch.Tensor, logvar_q: torch.Tensor,
                        mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(μ_q, diag σ_q²) ‖ N(μ_p, diag σ_p²)) per example (B,), two diagonal Gaussians:

    KL = ½ Σ_j (log σ_p,j² − log σ_q,j² + (σ_q,j² + (μ_q,j − μ_p,j)²) / σ_p,j² − 1).
    With μ_p = 0 and σ_p = 1 it is :func:`gaussian_kl`."""
    ratio = (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp()  # (σ_q² + (μ_q − μ_p)²) / σ_p²
    return 0.5 * per_example_sum(logvar_p - logvar_q + ratio - 1)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) per example (B,): −½ Σ_j (log 2π + log σ_j² + (z_j − μ_j)² / σ_j²).

    ``mu`` and ``logvar`` broadcast against ``z`` (zeros give the prior N(0, I))."""
    return -0.5 * per_example_sum(LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp())


def bernoulli_log_likelihood(images: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p_θ(x | z) per example (B,) for images x in [−1, 1] and the decoder's ``logits``:

    Σ_i u_i log σ(l_i) + (1 − u_i) log(1 − σ(l_i)) with u = (x + 1)/2 (binary cross-entropy,
    computed from the logits for numerical stability)."""
    intensities = (images + 1) / 2  # u = (x + 1)/2 ∈ [0, 1]
    return -per_example_sum(F.binary_cross_entropy_with_logits(logits, intensities, reduction="none"))


def bernoulli_mean(logits: torch.Tensor) -> torch.Tensor:
    """The decoder's mean image in [−1, 1]: E[u] = σ(l), mapped back with x = 2u − 1."""
    return 2 * torch.sigmoid(logits) - 1


class ElboTerms(NamedTuple):
    """The negative ELBO of each example and its two parts (each (B,), nats per digit)."""

    loss: torch.Tensor  # −ELBO (with the KL term weighted): reconstruction + kl_weight · kl
    reconstruction: torch.Tensor  # −log p_θ(x | z) for the sampled z
    kl: torch.Tensor  # KL(q_φ(z | x) ‖ p(z)), in closed form


def negative_elbo(images: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  kl_weight: float = 1.0) -> ElboTerms:
    """−ELBO = −log p_θ(x | z) + β · KL(q_φ(z | x) ‖ p(z)) with z ~ q_φ(z | x) (one sample, whose
    decoder ``logits`` are given), per example. β = ``kl_weight``: 1 is the ELBO itself, other
    values give the β-VAE objective of Higgins et al. (2017)."""
    reconstruction = -bernoulli_log_likelihood(images, logits)  # −log p_θ(x | z)
    kl = gaussian_kl(mu, logvar)  # KL(q ‖ p), closed form
    return ElboTerms(reconstruction + kl_weight * kl, reconstruction, kl)  # −ELBO_β


def log_importance_weights(log_likelihood: torch.Tensor, z: torch.Tensor, mu: torch.Tensor,
                           logvar: torch.Tensor) -> torch.Tensor:
    """log w = log p_θ(x | z) + log p(z) − log q_φ(z | x), per sample z (B,): the log of the
    importance weight p_θ(x, z) / q_φ(z | x), whose mean over z ~ q is the ELBO."""
    zeros = torch.zeros_like(z)
    return log_likelihood + gaussian_log_density(z, zeros, zeros) - gaussian_log_density(z, mu, logvar)


def log_mean_exp(log_weights: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """The importance-weighted bound (Burda et al. 2016, eq. 8) from k log-weights along ``dim``:

    L_k = log (1/k) Σ_i w_i = logsumexp_i(log w_i) − log k.
    E[L_1] is the ELBO; E[L_k] ≤ E[L_{k+1}] ≤ log p(x), and L_k → log p(x) as k → ∞."""
    k = log_weights.shape[dim]
    return torch.logsumexp(log_weights, dim=dim) - math.log(k)  # log (1/k) Σ_i exp(log w_i)
