"""How good a VAE is as a compressor, and how much of its latent it uses (notebook 07).

* :func:`psnr` — peak signal-to-noise ratio of a reconstruction, 10 log₁₀(1 / MSE) in dB on
  [0, 1] intensities (higher is better; +6 dB halves the error's amplitude);
* :func:`active_units` — Burda et al. (2016): latent unit j is *active* when its posterior mean
  moves with the input, Cov_x(E_q[z_j | x]) > 0.01; the others have collapsed onto the prior;
* :func:`reconstruction_scores` — PSNR and how often the course's classifier reads a
  reconstruction as the original's true label, next to its rate on the originals themselves;
* :func:`mid_grey_share` — the share of pixels that are neither ink nor paper: a direct measure
  of blur (MNIST's own digits have few; a decoder that averages has many);
* :func:`compression_factor` — how many times fewer values the latent holds than the image.
"""

from __future__ import annotations

import math

import torch

from ..classifier import check_digits, classify
from ..metrics import mid_grey_share, psnr  # noqa: F401  (re-exported: the scores live in course_lib.metrics)
from ..validation import check_float, check_int, check_tensor

#: Stable Diffusion's autoencoder (Rombach et al. 2022, f = 8): a 512×512×3 image to a 64×64×4 latent.
STABLE_DIFFUSION = dict(image_shape=(3, 512, 512), latent_shape=(4, 64, 64))


def compression_factor(image_shape, latent_shape) -> float:
    """∏ image_shape / ∏ latent_shape: 784 / 196 = 4 for (1, 28, 28) → (4, 7, 7)."""
    return math.prod(image_shape) / math.prod(latent_shape)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """``(count, variances)``: the variance over the inputs of each unit's posterior mean, μ of
    shape (N, *latent_shape) for N ≥ 2 inputs, and how many exceed ``threshold``."""
    check_tensor("mu", mu, floating=True)
    if mu.ndim < 2 or mu.shape[0] < 2:
        raise ValueError(f"mu must have shape (N, ...) with N >= 2 encoded inputs, got {tuple(mu.shape)}")
    threshold = check_float("threshold", threshold, 0.0, low_open=True)
    variances = mu.detach().double().flatten(1).var(0)  # Cov_x(E_q[z_j | x]) per unit j
    return int((variances > threshold).sum()), variances.float().reshape(mu.shape[1:])


@torch.no_grad()
def reconstruction_scores(model, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> dict:
    """Encode and decode digits (through μ) and score the reconstructions.

    Returns ``psnr`` (mean dB), ``agreement`` (share of reconstructions the classifier reads as
    the true label), ``original_accuracy`` (the same for the originals: the ceiling),
    ``reconstructions`` (on the CPU) and ``n``.
    """
    check_digits("images", images)
    check_tensor("labels", labels, shape=(images.shape[0],))
    batch_size = check_int("batch_size", batch_size, 1)
    recon = torch.cat([model.reconstruct(chunk).cpu() for chunk in images.split(batch_size)])
    probs, _ = classify(recon)
    probs_orig, _ = classify(images)
    labels = labels.cpu()
    return dict(
        n=images.shape[0],
        psnr=float(psnr(recon, images.cpu()).mean()),
        agreement=float((probs.argmax(1) == labels).double().mean()),
        original_accuracy=float((probs_orig.argmax(1) == labels).double().mean()),
        reconstructions=recon,
    )
