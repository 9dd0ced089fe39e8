"""Precision and recall for generative models: fidelity and coverage, measured apart (notebook 11).

One number such as the Fréchet distance mixes two failures: samples that do not look like the
data (poor **fidelity**) and data that the samples never reach (poor **coverage**, mode
collapse). Kynkäänniemi et al. (2019, "Improved precision and recall metric for assessing
generative models") estimate each set's support as a union of k-nearest-neighbour balls in a
feature space:

* r_k(φ) — the distance from a feature vector φ to its k-th nearest neighbour in its own set
  (itself excluded); the manifold of a set Φ is ⋃_{φ ∈ Φ} B(φ, r_k(φ));
* **precision** = (1/|Φ_g|) Σ_{φ_g} 1[φ_g ∈ manifold(Φ_r)] — the share of generated samples that
  land on the real data's manifold;
* **recall** = (1/|Φ_r|) Σ_{φ_r} 1[φ_r ∈ manifold(Φ_g)] — the share of real samples that land on
  the generated samples' manifold.

A generator that draws perfect samples of half the modes has precision ≈ 1 and recall ≈ ½; one
that smears every mode has high recall and low precision. Naeem et al. (2020, "Reliable fidelity
and diversity metrics for generative models") fixed one weakness of each:

* an *outlier among the real samples* has a huge ball, and every generated sample that lands in it
  counts as faithful (a generator of pure noise, whose features all sit at one point, can score
  precision 1 that way). **Density** counts how many real balls contain each generated sample,
  divided by k: (1/(k M)) Σ_j Σ_i 1[φ_g,j ∈ B(φ_r,i, r_k(φ_r,i))]. About 1 when both sets come
  from one distribution (each point lies in about k balls), near 1/k when a sample is caught by a
  single outlier ball, unbounded above for samples packed where real data are dense;
* an *outlier among the generated samples* inflates recall the same way. **Coverage** is the share
  of real samples whose *own* ball contains a generated sample.

Both sets should have the same size.

The formula functions are bare; :func:`precision_recall` checks its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..validation import check_int, check_tensor


def knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """r_k(φ_i): the distance from each row of ``feats`` (N, D) to its k-th nearest other row, (N,)."""
    dist = torch.cdist(feats, feats)                              # ‖φ_i − φ_j‖
    return dist.kthvalue(k + 1, dim=1).values                     # k + 1: the 0 to itself comes first


def in_manifold(queries: torch.Tensor, feats: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """1[q ∈ ⋃_j B(φ_j, r_j)] for each query (M, D): is any ‖q − φ_j‖ ≤ r_j? Bool (M,)."""
    return (torch.cdist(queries, feats) <= radii[None, :]).any(dim=1)


def coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> float:
    """Coverage (Naeem et al. 2020): (1/|Φ_r|) Σ_{φ_r} 1[∃ φ_g: ‖φ_g − φ_r‖ ≤ r_k(φ_r)]. Bare."""
    radii = knn_radii(real, k)                                    # each real sample's own ball
    nearest_fake = torch.cdist(real, fake).min(dim=1).values      # min_g ‖φ_r − φ_g‖
    return float((nearest_fake <= radii).double().mean())


def density(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> float:
    """Density (Naeem et al. 2020): (1/(k M)) Σ_j Σ_i 1[‖φ_g,j − φ_r,i‖ ≤ r_k(φ_r,i)]. Bare."""
    radii = knn_radii(real, k)                                    # each real sample's own ball
    inside = torch.cdist(fake, real) <= radii[None, :]            # (M, N): fake j in ball i
    return float(inside.double().sum() / (k * fake.shape[0]))


@dataclass
class PrecisionRecall:
    """``precision`` (fidelity), ``recall`` (coverage of the real data), Naeem's ``density`` and
    ``coverage``, from ``num_real`` real and ``num_fake`` generated feature vectors with k = ``k``."""

    precision: float
    recall: float
    coverage: float
    k: int
    num_real: int
    num_fake: int
    density: float = float("nan")

    def __str__(self) -> str:
        return (f"precision {self.precision:.2f}, recall {self.recall:.2f}, density {self.density:.2f}, "
                f"coverage {self.coverage:.2f} (k = {self.k})")


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> PrecisionRecall:
    """Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020) of the
    generated features ``fake`` (N_g, D) against the real features ``real`` (N_r, D), with
    k-nearest-neighbour balls (k = 3 as in both papers). Features are points in the plane for toy
    data, or :func:`course_lib.classifier.classify`'s 64-d features for digits. Float64 on the CPU.
    """
    check_tensor("real", real, ndim=2, floating=True)
    check_tensor("fake", fake, shape=(None, real.shape[1]), floating=True)
    k = check_int("k", k, 1, min(real.shape[0], fake.shape[0]) - 1,
                  hint="the k-th nearest neighbour must exist in both sets")
    real, fake = real.detach().double().cpu(), fake.detach().double().cpu()
    precision = float(in_manifold(fake, real, knn_radii(real, k)).double().mean())  # fakes on the real manifold
    recall = float(in_manifold(real, fake, knn_radii(fake, k)).double().mean())     # reals on the fake manifold
    return PrecisionRecall(precision, recall, coverage(real, fake, k), k, real.shape[0], fake.shape[0],
                           density(real, fake, k))
