"""The variational autoencoder, from the ELBO up (taught in notebook 07; its latent space is where
notebook 08 diffuses).

The course's sources count the VAE among the core ideas of AI painting: an encoder maps an image
to a *distribution* in a latent space, and a decoder turns points sampled there into new images.
Stable Diffusion runs its diffusion inside the latent space of such an autoencoder.

* :mod:`.elbo` — the math as bare formulas: ``reparameterise``, ``gaussian_kl``,
  ``gaussian_kl_between``, ``gaussian_log_density``, the Bernoulli likelihood, ``negative_elbo``
  (with ``kl_weight``, the β of a β-VAE) and the importance-weighted bound ``log_mean_exp``;
* :mod:`.models` — :class:`ConvVAE` (``encode(images) -> (mu, logvar)``, ``decode(z) -> images``)
  and :func:`sample_prior`; the shipped ``vae_2d`` and ``vae_latent`` load through
  :func:`course_lib.registry.load_pretrained`;
* :mod:`.training` — :func:`train_vae` and :func:`load_or_train_vae`;
* :mod:`.estimate` — Monte-Carlo estimates: the KL by sampling, the reparameterised and the
  score-function gradient, the IWAE bound;
* :mod:`.scores` — PSNR, active units, reconstruction scores, compression factors;
* :mod:`.figures` — the notebook's figures.
"""

from .elbo import (
    ElboTerms,
    bernoulli_log_likelihood,
    bernoulli_mean,
    gaussian_kl,
    gaussian_kl_between,
    gaussian_log_density,
    log_importance_weights,
    log_mean_exp,
    negative_elbo,
    reparameterise,
)
from .estimate import (
    compare_gradient_estimators,
    elbo_terms,
    gradient_samples,
    iwae_bound,
    kl_monte_carlo,
    quadratic,
    quadratic_gradient,
)
from .models import (
    SMALL_VAE,
    VAE_2D,
    VAE_LATENT,
    ConvVAE,
    build_vae,
    count_parameters,
    sample_prior,
)
from .scores import (
    STABLE_DIFFUSION,
    active_units,
    compression_factor,
    mid_grey_share,
    psnr,
    reconstruction_scores,
)
from .training import (
    PRESETS,
    load_or_train_vae,
    preset,
    set_scaling_factor,
    sweep_kl_weight,
    train_vae,
)

__all__ = [
    "SMALL_VAE", "PRESETS", "STABLE_DIFFUSION", "VAE_2D", "VAE_LATENT", "ConvVAE", "ElboTerms", "active_units",
    "bernoulli_log_likelihood", "bernoulli_mean", "build_vae", "compare_gradient_estimators",
    "compression_factor", "count_parameters", "elbo_terms", "mid_grey_share", "sweep_kl_weight", "gaussian_kl", "gaussian_kl_between",
    "gaussian_log_density", "gradient_samples", "iwae_bound", "kl_monte_carlo", "load_or_train_vae",
    "log_importance_weights", "log_mean_exp", "negative_elbo", "preset", "psnr", "quadratic",
    "quadratic_gradient", "reconstruction_scores", "reparameterise", "sample_prior", "set_scaling_factor", "train_vae",
]
