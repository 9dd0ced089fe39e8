"""Self-checks for the exercises of notebook 11 (evaluation).

* :func:`check_frechet_distance` — the learner's ``frechet(mu_a, cov_a, mu_b, cov_b)``, the
  Fréchet distance between two Gaussians, ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2}), with a
  matrix square root (reference: :func:`course_lib.metrics.gaussian_frechet_distance`);
* :func:`check_precision_recall` — the learner's ``precision_recall(real, fake, k)`` returning
  ``(precision, recall)`` from k-nearest-neighbour balls (reference:
  :func:`course_lib.evaluation.precision_recall`).

Each check runs cases with known answers (equal Gaussians → 0, commuting and non-commuting
covariances; a generator covering half the modes of the ring → recall ½) and, when an answer is
wrong, names the typical mistake it matches.
"""

from __future__ import annotations

import torch

from ..data import ring_centers, ring_of_gaussians
from ..evaluation.precision_recall import in_manifold, knn_radii, precision_recall
from ..metrics import gaussian_frechet_distance, psd_sqrt
from ._core import CheckResult, LearnerError, call_learner, checker

__all__ = ["check_frechet_distance", "check_precision_recall"]


# ----------------------------------------------------------------------------- the Fréchet distance


def _spd(d: int, gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return scale * (a @ a.T / d + 0.2 * torch.eye(d, dtype=torch.float64))


def _gaussian_cases():
    """(label, mu_a, cov_a, mu_b, cov_b), float64, answers known or from the reference."""
    gen = torch.Generator().manual_seed(11)
    mu, cov = torch.randn(4, generator=gen, dtype=torch.float64), _spd(4, gen)
    d = torch.float64
    return [
        ("two equal Gaussians (the answer is 0)", mu, cov, mu.clone(), cov.clone()),
        ("N(3, 0.25) against N(1, 4) in 1-D (the answer is (3−1)² + (0.5−2)² = 6.25)",
         torch.tensor([3.0], dtype=d), torch.tensor([[0.25]], dtype=d),
         torch.tensor([1.0], dtype=d), torch.tensor([[4.0]], dtype=d)),
        ("diagonal covariances (they commute)", torch.tensor([0.0, 1.0, -2.0], dtype=d),
         torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=d)), torch.tensor([1.0, 1.0, 0.0], dtype=d),
         torch.diag(torch.tensor([4.0, 1.0, 9.0], dtype=d))),
        ("two 5-D Gaussians whose covariances do not commute", torch.randn(5, generator=gen, dtype=d),
         _spd(5, gen), torch.randn(5, generator=gen, dtype=d), _spd(5, gen, 3.0)),
    ]


def _wrong_frechet(mu_a, cov_a, mu_b, cov_b) -> dict:
    mean_term = (mu_a - mu_b).pow(2).sum()
    sqrt_a, sqrt_b = psd_sqrt(cov_a), psd_sqrt(cov_b)
    a_half = sqrt_a
    tr_sqrt = torch.linalg.eigvalsh(a_half @ cov_b @ a_half).clamp(min=0).sqrt().sum()
    traces = torch.trace(cov_a) + torch.trace(cov_b)
    return {
        "the factor 2 in front of the square root is missing: Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2})":
            mean_term + traces - tr_sqrt,
        "you took the square root of every entry of Σ_a Σ_b; the matrix square root is a different thing "
        "(a matrix S with S·S = Σ_a Σ_b): use eigenvalues, or scipy.linalg.sqrtm":
            mean_term + traces - 2 * torch.trace((cov_a @ cov_b).abs().sqrt()),
        "you used Σ_a^{1/2} Σ_b^{1/2} in place of (Σ_a Σ_b)^{1/2}; they agree only when the covariances "
        "commute (here they do not)":
            mean_term + traces - 2 * torch.trace(sqrt_a @ sqrt_b),
        "the mean term ‖μ_a − μ_b‖² is missing":
            traces - 2 * tr_sqrt,
        "the mean term must be the *squared* distance ‖μ_a − μ_b‖²":
            mean_term.sqrt() + traces - 2 * tr_sqrt,
        "the traces must be of the covariances Σ, not of their square roots: Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2})":
            mean_term + torch.trace(sqrt_a) + torch.trace(sqrt_b) - 2 * tr_sqrt,
    }


def _as_number(out, label: str) -> float:
    if isinstance(out, torch.Tensor):
        if out.numel() != 1:
            raise LearnerError(CheckResult.fail(f"{label}: return one number, got a tensor of shape {tuple(out.shape)}"))
        out = out.reshape(()).item()
    if isinstance(out, complex):
        if abs(out.imag) > 1e-6 * max(1.0, abs(out.real)):
            raise LearnerError(CheckResult.fail(
                f"{label}: your distance is complex ({out:.4g}); scipy.linalg.sqrtm can return tiny imaginary "
                "parts from round-off: keep the real part"))
        out = out.real
    try:
        return float(out)
    except (TypeError, ValueError):
        raise LearnerError(CheckResult.fail(f"{label}: return a number (float), got {type(out).__name__}")) from None


@checker
def check_frechet_distance(fn) -> CheckResult:
    """Check ``fn(mu_a, cov_a, mu_b, cov_b) -> float`` against the Fréchet distance between
    N(μ_a, Σ_a) and N(μ_b, Σ_b) on equal, 1-D, diagonal and non-commuting Gaussians."""
    for label, mu_a, cov_a, mu_b, cov_b in _gaussian_cases():
        args = [t.clone() for t in (mu_a, cov_a, mu_b, cov_b)]
        got = _as_number(call_learner(fn, *args), label)
        if not all(torch.equal(a, b) for a, b in zip(args, (mu_a, cov_a, mu_b, cov_b))):
            raise LearnerError(CheckResult.fail(f"{label}: your function changed its inputs in place"))
        want = gaussian_frechet_distance(mu_a, cov_a, mu_b, cov_b)
        if got != got:
            raise LearnerError(CheckResult.fail(
                f"{label}: you returned NaN (a square root of a negative number? the eigenvalues of a product "
                "of covariances are ≥ 0 only up to round-off: clip them at 0)"))
        if abs(got - want) > 1e-6 * max(1.0, abs(want)):
            for message, value in _wrong_frechet(mu_a, cov_a, mu_b, cov_b).items():
                if abs(got - float(value)) <= 1e-6 * max(1.0, abs(float(value))):
                    raise LearnerError(CheckResult.fail(f"{label}: {message}"))
            raise LearnerError(CheckResult.fail(f"{label}: got {got:.6g}, expected {want:.6g}"))
    return CheckResult.ok("frechet gives ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2}) on equal, 1-D, diagonal "
                          "and non-commuting Gaussians: the same as course_lib.metrics.gaussian_frechet_distance.")


# ----------------------------------------------------------------------------- precision and recall


def _ring_points(n: int, modes, spread: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    centres = ring_centers(8, 2.0)[list(modes)]
    return centres[torch.randint(0, centres.shape[0], (n,), generator=gen)] + spread * torch.randn(n, 2, generator=gen)


def _pr_cases():
    """(label, real, fake, k, known): ``known`` is (precision, recall, tolerance) when the answer
    is known from the construction, else None (the reference decides)."""
    real = ring_of_gaussians(600, std=0.05, generator=torch.Generator().manual_seed(5)).double()
    far = real + torch.tensor([10.0, 0.0], dtype=torch.float64)
    return [
        ("the real points against themselves (precision = recall = 1)", real, real.clone(), 3, (1.0, 1.0, 0.0)),
        ("a generator 10 units away from the ring (precision = recall = 0)", real, far, 3, (0.0, 0.0, 0.0)),
        ("a generator drawing only half the modes of the ring (precision ≈ 1, recall ≈ ½)", real,
         _ring_points(600, range(4), 0.05, 6).double(), 3, (0.97, 0.5, 0.06)),
        ("a generator smearing every mode (spread 0.3)", real, _ring_points(600, range(8), 0.3, 7).double(), 5, None),
    ]


def _wrong_pr(real, fake, k) -> dict:
    def share(q, f, r):
        return float(in_manifold(q, f, r).double().mean())

    right_p, right_r = share(fake, real, knn_radii(real, k)), share(real, fake, knn_radii(fake, k))
    self_r, self_f = torch.cdist(real, real).kthvalue(k, dim=1).values, torch.cdist(fake, fake).kthvalue(k, dim=1).values
    return {
        "precision and recall are swapped: precision asks how many *generated* samples fall on the real "
        "manifold, recall how many *real* samples fall on the generated one": (right_r, right_p),
        "the k-th nearest neighbour of a point must not be the point itself (its distance 0 comes first): "
        "take the (k+1)-th smallest distance": (share(fake, real, self_r), share(real, fake, self_f)),
        "each ball must use the radius of its *own* centre: precision tests the generated points against the "
        "balls of the real points with the real points' radii r_k": (share(fake, real, knn_radii(fake, k)),
                                                                        share(real, fake, knn_radii(real, k))),
    }


def _as_pair(out, label: str) -> tuple[float, float]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise LearnerError(CheckResult.fail(f"{label}: return a pair (precision, recall), got {type(out).__name__}"))
    try:
        return float(out[0]), float(out[1])
    except (TypeError, ValueError):
        raise LearnerError(CheckResult.fail(f"{label}: precision and recall must be numbers")) from None


@checker
def check_precision_recall(fn) -> CheckResult:
    """Check ``fn(real, fake, k) -> (precision, recall)`` (k-NN manifolds of Kynkäänniemi et al.
    2019) on constructed cases on the ring of 8 Gaussians, against the course's reference."""
    for label, real, fake, k, _known in _pr_cases():
        args = (real.clone(), fake.clone())
        got = _as_pair(call_learner(fn, *args, k), label)
        if not (torch.equal(args[0], real) and torch.equal(args[1], fake)):
            raise LearnerError(CheckResult.fail(f"{label}: your function changed real or fake in place"))
        ref = precision_recall(real, fake, k=k)
        want = (ref.precision, ref.recall)
        if max(abs(g - w) for g, w in zip(got, want)) > 1e-9:
            for message, value in _wrong_pr(real, fake, k).items():
                if max(abs(g - v) for g, v in zip(got, value)) <= 1e-9 and value != want:
                    raise LearnerError(CheckResult.fail(f"{label}: {message}"))
            raise LearnerError(CheckResult.fail(
                f"{label}: got precision {got[0]:.3f}, recall {got[1]:.3f}; expected {want[0]:.3f}, {want[1]:.3f}"))
    return CheckResult.ok("precision_recall matches the k-NN manifolds on every case: 1 and 1 against itself, 0 and 0 "
                          "far away, and recall ≈ ½ for a generator that draws half the modes.")
