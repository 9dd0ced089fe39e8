"""The Fréchet distance of notebook 11, from the math: the matrix square root against closed
cases, the distance against closed forms (equal Gaussians, commuting covariances, 2×2 pairs
that do not commute, orthogonal degenerate pairs), the 1/n bias fit, and how often small samples
rank two models wrongly."""

import math

import pytest
import torch

from course_lib import metrics as M


def _spd(d, gen, scale=1.0):
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return scale * (a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64))


def _rotation(angle):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


# ----------------------------------------------------------------------------- the matrix square root


def test_psd_sqrt_squares_back_and_is_symmetric():
    gen = torch.Generator().manual_seed(0)
    for d in (1, 3, 16):
        s = _spd(d, gen)
        root = M.psd_sqrt(s)
        assert torch.allclose(root, root.T, atol=1e-12)
        assert torch.allclose(root @ root, s, atol=1e-10)
        assert bool((torch.linalg.eigvalsh(root) >= -1e-12).all())  # the PSD root, not another one


def test_psd_sqrt_closed_cases():
    diag = torch.diag(torch.tensor([4.0, 9.0, 0.25], dtype=torch.float64))
    assert torch.allclose(M.psd_sqrt(diag), torch.diag(torch.tensor([2.0, 3.0, 0.5], dtype=torch.float64)))
    # a rotated diagonal matrix: (R D Rᵀ)^{1/2} = R D^{1/2} Rᵀ
    r = _rotation(0.7)
    s = r @ torch.diag(torch.tensor([9.0, 1.0], dtype=torch.float64)) @ r.T
    want = r @ torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64)) @ r.T
    assert torch.allclose(M.psd_sqrt(s), want, atol=1e-12)
    # the 2×2 formula: √S = (S + √det S · I) / √(tr S + 2 √det S)
    det = torch.linalg.det(s)
    formula = (s + det.sqrt() * torch.eye(2, dtype=torch.float64)) / (torch.trace(s) + 2 * det.sqrt()).sqrt()
    assert torch.allclose(M.psd_sqrt(s), formula, atol=1e-12)
    # rank-deficient: round-off negatives are clipped, nothing is NaN
    v = torch.randn(5, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    root = M.psd_sqrt(v @ v.T)
    assert torch.isfinite(root).all() and torch.allclose(root @ root, v @ v.T, atol=1e-7)


# ----------------------------------------------------------------------------- the distance, closed forms


def test_fd_equal_gaussians_is_zero_and_isotropic_pair_is_known():
    gen = torch.Generator().manual_seed(2)
    mu, cov = torch.randn(6, generator=gen, dtype=torch.float64), _spd(6, gen)
    assert M.gaussian_frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)
    # N(0, I_d) vs N(m, 4 I_d): ‖m‖² + d (1 − 2)²
    d, m = 5, torch.full((5,), 0.5, dtype=torch.float64)
    eye = torch.eye(d, dtype=torch.float64)
    assert M.gaussian_frechet_distance(torch.zeros(d, dtype=torch.float64), eye, m, 4 * eye) == \
        pytest.approx(d * 0.25 + d * 1.0, rel=1e-12)


def test_fd_of_non_commuting_2x2_covariances_matches_the_closed_form():
    # For 2×2 M with eigenvalues ≥ 0: Tr √M = √(Tr M + 2 √det M). With M = Σ_a Σ_b:
    # FD = ‖Δμ‖² + Tr Σ_a + Tr Σ_b − 2 √(Tr(Σ_a Σ_b) + 2 √(det Σ_a det Σ_b)).
    r = _rotation(math.pi / 5)
    cov_a = torch.diag(torch.tensor([4.0, 0.5], dtype=torch.float64))
    cov_b = r @ torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64)) @ r.T
    assert not torch.allclose(cov_a @ cov_b, cov_b @ cov_a)  # they do not commute
    mu_a, mu_b = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.tensor([0.0, 2.0], dtype=torch.float64)
    tr_sqrt = math.sqrt(float(torch.trace(cov_a @ cov_b)) + 2 * math.sqrt(float(torch.det(cov_a) * torch.det(cov_b))))
    want = 1 + 9 + 4.5 + 3.0 - 2 * tr_sqrt
    assert M.gaussian_frechet_distance(mu_a, cov_a, mu_b, cov_b) == pytest.approx(want, rel=1e-12)


def test_fd_of_orthogonal_degenerate_gaussians():
    # All of a's variance along x, all of b's along y: Σ_a Σ_b = 0, so FD = Tr Σ_a + Tr Σ_b.
    cov_a = torch.tensor([[3.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    cov_b = torch.tensor([[0.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    zero = torch.zeros(2, dtype=torch.float64)
    assert M.gaussian_frechet_distance(zero, cov_a, zero, cov_b) == pytest.approx(5.0, abs=1e-9)


# ----------------------------------------------------------------------------- sample size


def test_frechet_extrapolation_recovers_the_line():
    sizes = [100, 250, 500, 1000, 4000]
    values = [0.7 + 180.0 / n for n in sizes]
    fd_inf, k = M.frechet_extrapolation(sizes, values)
    assert fd_inf == pytest.approx(0.7, abs=1e-9) and k == pytest.approx(180.0, rel=1e-9)


def test_the_fd_of_samples_of_one_gaussian_is_biased_like_k_over_n():
    # Two independent samples of N(0, I_d): the true FD is 0, the estimate is biased upwards and
    # shrinks about like 1/n (so n · FD stays roughly constant).
    gen = torch.Generator().manual_seed(3)
    d = 8
    means = {}
    for n in (100, 400, 1600):
        fds = [M.frechet_distance(torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)) for _ in range(10)]
        means[n] = sum(fds) / len(fds)
    assert means[100] > means[400] > means[1600] > 0
    assert 2.5 < means[100] / means[400] < 6 and 2.5 < means[400] / means[1600] < 6  # ≈ 4 for 1/n


def test_small_samples_rank_two_close_models_wrongly_more_often():
    gen = torch.Generator().manual_seed(4)
    d = 8
    reference = torch.randn(4000, d, generator=gen)
    good = torch.randn(4000, d, generator=gen)               # the data's distribution
    worse = torch.randn(4000, d, generator=gen) + 0.08       # slightly shifted: true FD = 8 · 0.08² = 0.05
    small = M.ranking_flip_rate(good, worse, reference, num_samples=50, repeats=60, seed=0)
    large = M.ranking_flip_rate(good, worse, reference, num_samples=2000, repeats=60, seed=0)
    assert small["fd_a"] < small["fd_b"]                      # the truth: good ranks first
    assert small["flip_rate"] > 0.2                           # at n = 50 the ranking is close to a coin toss
    assert large["flip_rate"] < small["flip_rate"] and large["flip_rate"] < 0.1
    assert small["fds_a"].shape == (60,)


def test_sample_size_helpers_check_their_arguments():
    with pytest.raises(ValueError, match="num_samples"):
        M.ranking_flip_rate(torch.zeros(10, 2), torch.zeros(10, 2), torch.zeros(10, 2), num_samples=11)
    with pytest.raises(ValueError, match="sizes"):
        M.frechet_by_sample_size(sizes=())


@pytest.mark.slow
def test_real_digits_fd_falls_with_the_sample_size():
    fds = M.frechet_by_sample_size((100, 500, 4000), repeats=5)
    means = {n: float(v.mean()) for n, v in fds.items()}
    assert means[100] > 2 * means[500] > 2 * means[4000] > 0
    assert float(fds[4000].std()) == pytest.approx(0.0, abs=1e-9)  # the whole pool every time
