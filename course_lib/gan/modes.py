"""Measuring mode collapse on 2-D mixtures such as the ring of 8 Gaussians (notebook 02).

The metric of the unrolled-GAN and VEEGAN papers (Metz et al. 2017; Srivastava et al. 2017):

* a generated sample is **high quality** when it lies within ``num_std`` (3) standard deviations
  of its nearest mode centre: ‖x − μ_k‖ ≤ 3σ;
* a mode is **covered** when at least ``min_share`` of all samples (1 %) are high-quality samples
  of that mode (a perfect generator puts 1/K of its samples on each of K modes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..validation import check_float, check_tensor


@dataclass
class ModeCoverage:
    """``covered`` modes out of ``num_modes``; ``high_quality`` share of samples within 3σ of a
    mode; ``counts[k]`` high-quality samples at mode k; ``num_samples`` judged."""

    covered: int
    num_modes: int
    high_quality: float
    counts: torch.Tensor
    num_samples: int

    def __str__(self) -> str:
        return (f"{self.covered}/{self.num_modes} modes covered, "
                f"{100 * self.high_quality:.1f}% high-quality samples")


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float, num_std: float = 3.0, min_share: float = 0.01) -> ModeCoverage:
    """Count modes covered and the share of high-quality samples (see the module docstring).

    ``samples``: (N, 2) generated points; ``centers``: (K, 2) mode centres μ_k; ``std``: σ of each
    mode. Sample i is high quality when min_k ‖x_i − μ_k‖ ≤ ``num_std`` · σ; mode k is covered
    when its high-quality count is at least ``min_share`` · N.
    """
    check_tensor("samples", samples, ndim=2, floating=True, finite=False)
    check_tensor("centers", centers, shape=(None, samples.shape[1]), floating=True)
    std = check_float("std", std, 0.0, low_open=True)
    num_std = check_float("num_std", num_std, 0.0, low_open=True)
    min_share = check_float("min_share", min_share, 0.0, 1.0, low_open=True)
    if samples.shape[0] == 0:
        raise ValueError("samples must hold at least one point")
    samples = samples.detach().float().cpu()
    centers = centers.detach().float().cpu()
    finite = torch.isfinite(samples).all(dim=1)  # a diverged sample is simply not high quality
    dist = torch.cdist(torch.where(finite[:, None], samples, torch.zeros_like(samples)), centers)
    nearest_dist, nearest = dist.min(dim=1)
    good = finite & (nearest_dist <= num_std * std)
    counts = torch.bincount(nearest[good], minlength=centers.shape[0])
    n = samples.shape[0]
    covered = int((counts >= min_share * n).sum())
    return ModeCoverage(covered, centers.shape[0], float(good.float().mean()), counts, n)
