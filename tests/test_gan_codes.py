"""InfoGAN's categorical code: G reads c = argmax(z_1 … z_K) off z, a CodeHead Q learns to recognise it,
and L_I = −E log Q(c | G(z)) bounds the mutual information I(c; G(z)) from below."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.gan import CodeHead, DCGANDiscriminator, DCGANGenerator, code_grid, info_loss, train_gan, with_code
from course_lib.gan.training import train_step


def test_the_code_read_off_a_gaussian_z_is_uniform_over_the_categories():
    g = DCGANGenerator(codes=10)
    z = torch.randn(50_000, g.latent_dim, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(g.code(z), minlength=10).double()
    expected = len(z) / 10
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 27.9        # the 0.999 quantile of χ² with 9 degrees of freedom


def test_the_code_adds_one_input_channel_per_category_and_nothing_else():
    plain, coded = DCGANGenerator(width=8, deep=True), DCGANGenerator(width=8, deep=True, codes=10)
    n_plain = sum(p.numel() for p in plain.parameters())
    n_coded = sum(p.numel() for p in coded.parameters())
    assert n_coded - n_plain == 10 * (4 * 8) * 7 * 7           # the first ConvT's 10 extra input rows
    assert coded(torch.randn(3, 64)).shape == (3, 1, 28, 28)


def test_g_jumps_where_the_code_changes_and_moves_smoothly_elsewhere():
    torch.manual_seed(0)
    g = DCGANGenerator(width=8, codes=4).eval()
    z = torch.randn(1, 64).repeat(4, 1)
    z[:, :4] = torch.tensor([[0.5, 0.5 + 1e-3, 0.0, 0.0],    # the same small swap of two coordinates:
                             [0.5 + 1e-3, 0.5, 0.0, 0.0],    # across the tie for first place (c: 1 → 0)
                             [0.5, 0.5 + 1e-3, 2.0, 0.0],    # and where coordinate 2 stays first (c = 2)
                             [0.5 + 1e-3, 0.5, 2.0, 0.0]])
    with torch.no_grad():
        x = g(z)
    assert g.code(z).tolist() == [1, 0, 2, 2]
    jump, step = (x[0] - x[1]).abs().max(), (x[2] - x[3]).abs().max()
    assert jump > 50 * step


@pytest.mark.parametrize("codes, words", [(1, r"at least 2 categories, got 1"), (65, r"in \[0, 64\] .*got 65"),
                                          (-1, r"in \[0, 64\] .*got -1")])
def test_a_generator_refuses_a_code_it_cannot_read(codes, words):
    with pytest.raises(ValueError, match="codes must be .*" + words):
        DCGANGenerator(codes=codes)


def test_the_info_loss_is_log_k_for_a_guess_and_zero_for_a_certain_right_answer():
    c = torch.tensor([0, 3, 7, 9])
    assert info_loss(torch.zeros(4, 10), c).item() == pytest.approx(math.log(10))
    sure = torch.full((4, 10), -1e4).scatter(1, c[:, None], 1e4)
    assert info_loss(sure, c).item() == pytest.approx(0.0, abs=1e-6)


def test_log_k_minus_the_info_loss_of_the_true_posterior_is_the_mutual_information():
    # a binary symmetric channel: c uniform on {0, 1}, the "picture" shows c flipped with probability ε.
    # The true posterior Q(c | x) = 1 − ε for the shown value; I(c; x) = log 2 − H_b(ε) in closed form.
    eps, n = 0.2, 200_000
    gen = torch.Generator().manual_seed(1)
    c = torch.randint(0, 2, (n,), generator=gen)
    x = torch.where(torch.rand(n, generator=gen) < eps, 1 - c, c)
    logits = torch.log(torch.stack([torch.where(x == 0, 1 - eps, eps), torch.where(x == 1, 1 - eps, eps)], 1))
    h_b = -(eps * math.log(eps) + (1 - eps) * math.log(1 - eps))
    assert math.log(2) - info_loss(logits, c).item() == pytest.approx(math.log(2) - h_b, abs=5e-3)
    # any other Q gives a smaller bound
    worse = torch.log(torch.stack([torch.where(x == 0, 0.6, 0.4), torch.where(x == 1, 0.6, 0.4)], 1))
    assert info_loss(worse, c).item() > info_loss(logits, c).item()


def _digits(n=64, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_training_with_a_code_head_makes_the_code_readable_in_the_pictures():
    torch.manual_seed(0)
    g, d, q = DCGANGenerator(width=8, codes=10), DCGANDiscriminator(8), CodeHead(10, width=8)
    record = train_gan(g, d, _digits(), steps=100, batch_size=32, lr=1e-3, progress=False, code_head=q, device="cpu")
    losses = record.history["info_loss"]
    assert len(losses) == 100 and losses[0] > 0.9 * math.log(10)   # at first Q guesses: L_I ≈ log K
    assert sum(losses[-10:]) / 10 < 0.3 * math.log(10)        # Q reads c off G(z): I(c; G(z)) ≥ 0.7 log 10


def test_a_step_with_a_code_head_updates_q_through_g_s_optimizer():
    torch.manual_seed(0)
    g, d, q = DCGANGenerator(width=4, codes=3), DCGANDiscriminator(4), CodeHead(3, width=4)
    opt_g = torch.optim.Adam([*g.parameters(), *q.parameters()], lr=1e-3)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in q.parameters()]
    out = train_step(g, d, _digits(8), torch.randn(8, 64), opt_g, opt_d, code_head=q)
    assert len(out) == 5 and out[4].item() > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, q.parameters()))


def test_train_gan_refuses_a_code_head_that_does_not_fit():
    g, d = DCGANGenerator(width=4, codes=3), DCGANDiscriminator(4)
    with pytest.raises(ValueError, match=r"code_head recognises 5 categories but the generator reads 3 .*codes=3"):
        train_gan(g, d, _digits(8), steps=1, batch_size=8, progress=False, code_head=CodeHead(5, width=4))
    with pytest.raises(TypeError, match="code_head must be a course_lib.gan.CodeHead, got Linear"):
        train_gan(g, d, _digits(8), steps=1, batch_size=8, progress=False, code_head=torch.nn.Linear(2, 2))
    q = CodeHead(3, width=4)
    without_q = (torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters()))
    with pytest.raises(ValueError, match="optimizers\\[0\\] must optimise exactly the generator's and the code head's"):
        train_gan(g, d, _digits(8), steps=1, batch_size=8, progress=False, code_head=q, optimizers=without_q)
    with pytest.raises(ValueError, match="info_weight must be"):
        train_gan(g, d, _digits(8), steps=1, batch_size=8, progress=False, code_head=q, info_weight=0)


def test_with_code_sets_the_code_and_draws_exactly_from_z_given_the_code():
    g = DCGANGenerator(width=4, codes=10)
    z = torch.randn(200_000, 64, generator=torch.Generator().manual_seed(2))
    forced = with_code(z, 3, 10)
    assert (g.code(forced) == 3).all()
    assert torch.equal(forced[:, 10:], z[:, 10:])                 # only the code's coordinates move
    # the same law as rejection sampling (keep the z whose code is already 3): compare moments
    kept = z[g.code(z) == 3][:, :10]
    for stat in (lambda a: a.mean(0), lambda a: a.std(0)):
        assert torch.allclose(stat(forced[:, :10]), stat(kept), atol=0.02)
    assert forced[:, 3].mean().item() == pytest.approx(1.5388, abs=0.01)   # E max of 10 N(0, 1) = 1.5388


def test_code_grid_shows_every_category_row_by_row_and_refuses_a_generator_without_code():
    torch.manual_seed(0)
    g = DCGANGenerator(width=4, codes=3)
    grid = code_grid(g, per_code=5, seed=1, device="cpu")
    assert grid.shape == (15, 1, 28, 28)
    with pytest.raises(ValueError, match=r"generator has no code \(codes=0\)"):
        code_grid(DCGANGenerator(width=4), device="cpu")
    with pytest.raises(ValueError, match="code must be an integer in \\[0, 2\\], got 3"):
        with_code(torch.randn(2, 64), 3, 3)


@pytest.mark.parametrize("make, words", [
    (lambda: CodeHead(codes=1), r"codes must be an integer ≥ 2|codes must be an integer .*2.*got 1"),
    (lambda: CodeHead(10, width=0), r"width must be an integer .*got 0"),
    (lambda: code_grid(DCGANGenerator(width=4, codes=3), per_code=0), r"per_code must be an integer .*got 0"),
])
def test_the_code_head_and_the_grid_refuse_bad_sizes_naming_them(make, words):
    with pytest.raises(ValueError, match=words):
        make()
