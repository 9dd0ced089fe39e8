"""GANs: the minimax objective (notebook 01) and training GANs (notebook 02).

* :mod:`.objective` – V(D, G), D*, JSD and C(G) on 1-D densities;
* :mod:`.losses` – discriminator and generator losses on D's logits;
* :mod:`.models` – the source's MLP pair (and 2-D toy variants) and a DCGAN pair for 28×28 digits;
* :mod:`.training` – one alternating step, ``train_gan`` (→ ``TrainRecord``), ``generate``, latent walks
  and a generator's code (``with_code``, ``code_grid``);
* :mod:`.modes` – mode coverage on 2-D mixtures (ring of 8 Gaussians);
* :mod:`.diagnostics` – how steep a discriminator is (spectral normalisation);
* :mod:`.plots` – the notebooks' figures.
"""

from .diagnostics import input_gradient_norm, layer_spectral_norms, lipschitz_bound
from .losses import (
    EQUILIBRIUM_LOSSES,
    GENERATOR_LOSSES,
    discriminator_loss,
    discriminator_loss_hinge,
    generator_loss,
    generator_loss_gradient,
    generator_loss_hinge,
    generator_loss_non_saturating,
    generator_loss_saturating,
    info_loss,
)
from .models import (
    CodeHead,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    dcgan_init,
)
from .modes import ModeCoverage, mode_coverage
from .objective import (
    DATA_DENSITIES,
    LOG4,
    data_density,
    density_grid,
    gaussian_pdf,
    integrate,
    jensen_shannon,
    kl_divergence,
    mixture_pdf,
    optimal_discriminator,
    optimal_discriminator_logit,
    random_logit_perturbation,
    training_criterion,
    uniform_pdf,
    value_function,
    value_function_on_grid,
)
from .plots import (
    plot_discriminator_perturbations,
    plot_generator_gradients,
    plot_history_comparison,
    plot_latent_walk,
    plot_loss_curves,
    plot_objective,
    plot_snapshots,
    plot_toy_snapshots,
)
from .training import HISTORY_KEYS, code_grid, generate, interpolate_z, latent_walk, train_gan, train_step, with_code

__all__ = [
    "CodeHead",
    "DATA_DENSITIES",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "EQUILIBRIUM_LOSSES",
    "GENERATOR_LOSSES",
    "HISTORY_KEYS",
    "LOG4",
    "MLPDiscriminator",
    "MLPGenerator",
    "ModeCoverage",
    "code_grid",
    "data_density",
    "dcgan_init",
    "density_grid",
    "discriminator_loss",
    "discriminator_loss_hinge",
    "gaussian_pdf",
    "generate",
    "generator_loss",
    "generator_loss_hinge",
    "generator_loss_gradient",
    "generator_loss_non_saturating",
    "generator_loss_saturating",
    "info_loss",
    "input_gradient_norm",
    "integrate",
    "interpolate_z",
    "jensen_shannon",
    "kl_divergence",
    "latent_walk",
    "layer_spectral_norms",
    "lipschitz_bound",
    "mixture_pdf",
    "mode_coverage",
    "optimal_discriminator",
    "optimal_discriminator_logit",
    "plot_discriminator_perturbations",
    "plot_generator_gradients",
    "plot_history_comparison",
    "plot_latent_walk",
    "plot_loss_curves",
    "plot_objective",
    "plot_snapshots",
    "plot_toy_snapshots",
    "random_logit_perturbation",
    "train_gan",
    "train_step",
    "training_criterion",
    "uniform_pdf",
    "value_function",
    "value_function_on_grid",
    "with_code",
]
