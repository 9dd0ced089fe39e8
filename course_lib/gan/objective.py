"""The minimax objective of a GAN and its analysis on 1-D densities (taught in notebook 01).

Goodfellow et al. (2014), eq. 1:

    min_G max_D V(D, G) = E_{x~p_data}[log D(x)] + E_{z~p_z}[log(1 − D(G(z)))]

* For a fixed G the best discriminator is  D*(x) = p_data(x) / (p_data(x) + p_g(x))  (Prop. 1).
* Putting D* back gives the virtual training criterion (Thm. 1)
      C(G) = max_D V(D, G) = V(D*, G) = −log 4 + 2 · JSD(p_data ‖ p_g),
  whose minimum −log 4 is reached exactly when p_g = p_data.

Sample estimates take tensors of D's outputs; the density functions work on a 1-D grid ``x`` of
float64 points and integrate with the trapezoid rule. ``0 · log 0`` is taken as 0 (``xlogy``),
so densities with disjoint supports work.

The functions are bare math, the equation beside the line that computes it; their callers check
the arguments (the figures, the self-checks).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG4 = math.log(4.0)


# ----------------------------------------------------------------------------- estimates from samples


def value_function(d_real: torch.Tensor, d_fake: torch.Tensor, logits: bool = False) -> torch.Tensor:
    """Monte Carlo estimate of V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))] (eq. 1).

    ``d_real`` holds D(x_i) on real samples, ``d_fake`` D(G(z_j)) on generated ones, probabilities
    in [0, 1]; with ``logits=True`` D's logits a instead (D = σ(a)), and the logs are exact:
    log D = log σ(a), log(1 − D) = log σ(−a).
    """
    if logits:
        return F.logsigmoid(d_real).mean() + F.logsigmoid(-d_fake).mean()
    return torch.log(d_real).mean() + torch.log1p(-d_fake).mean()  # V̂ = (1/m) Σ log D(x_i) + (1/n) Σ log(1 − D(G(z_j)))


# ----------------------------------------------------------------------------- 1-D densities on a grid


def density_grid(low: float = -6.0, high: float = 6.0, num: int = 2001) -> torch.Tensor:
    """``num`` evenly spaced float64 points from ``low`` to ``high``: the grid x for integrals."""
    return torch.linspace(low, high, num, dtype=torch.float64)


def gaussian_pdf(x: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """N(x; μ, σ²) at every point of ``x``."""
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))  # exp(−(x − μ)²/2σ²) / (σ√(2π))


def mixture_pdf(x: torch.Tensor, means, stds, weights=None) -> torch.Tensor:
    """Σ_k w_k N(x; μ_k, σ_k²): a mixture of Gaussians (equal weights unless ``weights`` given)."""
    weights = [1.0 / len(means)] * len(means) if weights is None else weights
    return sum(w * gaussian_pdf(x, m, s) for w, m, s in zip(weights, means, stds))


DATA_DENSITIES = {
    "gaussian": {"means": (1.0,), "stds": (0.7,)},
    "bimodal": {"means": (-1.5, 1.5), "stds": (0.5, 0.5)},
}


def data_density(x: torch.Tensor, kind: str = "gaussian") -> torch.Tensor:
    """p_data for the 1-D examples: ``"gaussian"`` N(1, 0.7²), or ``"bimodal"``
    ½ N(−1.5, 0.5²) + ½ N(1.5, 0.5²) (which no single Gaussian generator can match)."""
    return mixture_pdf(x, **DATA_DENSITIES[kind])


def uniform_pdf(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """U(x; a, b) = 1/(b − a) on [a, b] and 0 elsewhere."""
    return ((x >= low) & (x <= high)).to(x.dtype) / (high - low)


def integrate(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """∫ f(x) dx by the trapezoid rule on the grid ``x`` (1-D, increasing)."""
    return torch.trapezoid(values, x)


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), the best discriminator for a fixed G (Prop. 1).

    Where both densities are 0 no sample ever lands, so any value is optimal; we return 1/2 there.
    """
    total = p_data + p_g
    d_star = p_data / torch.where(total > 0, total, torch.ones_like(total))  # p_data / (p_data + p_g)
    return torch.where(total > 0, d_star, torch.full_like(total, 0.5))


def optimal_discriminator_logit(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """logit D*(x) = log p_data(x) − log p_g(x), so that D*(x) = σ(logit D*(x)).

    Exact even where D* rounds to 0 or 1 in floating point; ±∞ where one density is 0, and 0
    (D* = 1/2) where both are.
    """
    logit = torch.log(p_data) - torch.log(p_g)                # log(D* / (1 − D*)) = log(p_data / p_g)
    return torch.where((p_data == 0) & (p_g == 0), torch.zeros_like(logit), logit)


def value_function_on_grid(d: torch.Tensor, p_data: torch.Tensor, p_g: torch.Tensor, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
    """V(D, G) = ∫ p_data(x) log D(x) + p_g(x) log(1 − D(x)) dx, for densities on the grid ``x``.

    Eq. 1 with both expectations written as integrals over x (the samples G(z) have density p_g).
    ``d`` holds D(x) in [0, 1] at the grid points, or with ``logits=True`` the logits a(x)
    (log D = log σ(a) and log(1 − D) = log σ(−a), exact even where D rounds to 0 or 1). Terms with
    zero density count as 0 (0 · log 0 = 0).
    """
    if logits:
        log_d = torch.where(p_data > 0, F.logsigmoid(d), torch.zeros_like(d))       # log D(x)
        log_1md = torch.where(p_g > 0, F.logsigmoid(-d), torch.zeros_like(d))      # log(1 − D(x))
        integrand = p_data * log_d + p_g * log_1md
    else:
        integrand = torch.xlogy(p_data, d) + torch.xlogy(p_g, 1 - d)
    return integrate(integrand, x)                            # ∫ p_data log D + p_g log(1 − D) dx


def kl_divergence(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) = ∫ p(x) log(p(x) / q(x)) dx (nats); infinite where p > 0 and q = 0."""
    return integrate(torch.xlogy(p, p) - torch.xlogy(p, q), x)  # ∫ p log p − p log q dx


def jensen_shannon(p_data: torch.Tensor, p_g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """JSD(p_data ‖ p_g) = ½ KL(p_data ‖ m) + ½ KL(p_g ‖ m) with m = (p_data + p_g)/2, in nats.

    Symmetric, 0 exactly when p_data = p_g, at most log 2 (disjoint supports).
    """
    m = 0.5 * (p_data + p_g)
    return 0.5 * kl_divergence(p_data, m, x) + 0.5 * kl_divergence(p_g, m, x)


def training_criterion(p_data: torch.Tensor, p_g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """C(G) = max_D V(D, G) = V(D*, G), the generator's "virtual training criterion" (Thm. 1):
    ∫ p_data log(p_data / (p_data + p_g)) + p_g log(p_g / (p_data + p_g)) dx, computed from
    logit D* (exact where D* rounds to 0 or 1). Theorem 1: it equals −log 4 + 2 · JSD(p_data ‖ p_g).
    """
    return value_function_on_grid(optimal_discriminator_logit(p_data, p_g), p_data, p_g, x, logits=True)


# ----------------------------------------------------------------------------- perturbing D


def random_logit_perturbation(x: torch.Tensor, num_bumps: int = 6, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random smooth function h(x): a sum of ``num_bumps`` Gaussian bumps with random signs,
    centres, widths and heights (max |h| about 1). Used to nudge a discriminator in logit space:
    D_ε(x) = σ(logit D*(x) + ε h(x)).
    """
    lo, hi = float(x.min()), float(x.max())
    centres = lo + (hi - lo) * torch.rand(num_bumps, generator=generator, dtype=x.dtype)
    widths = (hi - lo) * (0.03 + 0.2 * torch.rand(num_bumps, generator=generator, dtype=x.dtype))
    heights = 2 * torch.rand(num_bumps, generator=generator, dtype=x.dtype) - 1
    bumps = torch.exp(-0.5 * ((x[:, None] - centres) / widths) ** 2)
    return (bumps * heights).sum(dim=1)                       # h(x) = Σ_k c_k exp(−(x − μ_k)²/2w_k²)
