"""Tests of course_lib.gan against the math of Goodfellow et al. (2014) and its practice."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib.data import ring_centers, ring_of_gaussians
from course_lib.gan import (
    EQUILIBRIUM_LOSSES,
    LOG4,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    data_density,
    density_grid,
    discriminator_loss,
    gaussian_pdf,
    generate,
    generator_loss,
    generator_loss_gradient,
    generator_loss_non_saturating,
    generator_loss_saturating,
    jensen_shannon,
    kl_divergence,
    make_optimizers,
    mixture_pdf,
    mode_coverage,
    optimal_discriminator,
    optimal_discriminator_logit,
    random_logit_perturbation,
    train_gan,
    train_step,
    training_criterion,
    uniform_pdf,
    value_function,
    value_function_on_grid,
)

X = density_grid(-10.0, 10.0, 4001)


def gaussians(m1, s1, m2, s2):
    return gaussian_pdf(X, m1, s1), gaussian_pdf(X, m2, s2)


# ----------------------------------------------------------------------------- V(D, G) from samples


def test_value_function_worked_example_of_the_seed():
    # D(x) = 0.9 and D(G(z)) = 0.1: V = log 0.9 + log(1 − 0.1) = 2 log 0.9 ≈ −0.21
    v = value_function(torch.tensor([0.9]), torch.tensor([0.1]))
    assert float(v) == pytest.approx(2 * math.log(0.9), abs=1e-6)
    assert round(float(v), 2) == -0.21


def test_value_function_extremes():
    # a perfect discriminator scores the maximum 0; a coin toss scores −log 4
    assert float(value_function(torch.ones(5), torch.zeros(7))) == 0.0
    assert float(value_function(torch.full((5,), 0.5), torch.full((3,), 0.5))) == pytest.approx(-LOG4)


def test_value_function_is_a_mean_of_logs():
    d_real = torch.tensor([0.9, 0.6, 0.99])
    d_fake = torch.tensor([0.2, 0.4])
    want = (math.log(0.9) + math.log(0.6) + math.log(0.99)) / 3 + (math.log(0.8) + math.log(0.6)) / 2
    assert float(value_function(d_real, d_fake)) == pytest.approx(want, rel=1e-6)


def test_value_function_from_logits_matches_probabilities_and_is_stable():
    a_real, a_fake = torch.randn(50), torch.randn(40)
    v_prob = value_function(torch.sigmoid(a_real), torch.sigmoid(a_fake))
    v_logit = value_function(a_real, a_fake, logits=True)
    assert float(v_logit) == pytest.approx(float(v_prob), rel=1e-5)
    # logits far beyond float32's sigmoid range stay finite and exact: log σ(−200) = −200
    v = value_function(torch.tensor([-200.0]), torch.tensor([-200.0]), logits=True)
    assert float(v) == pytest.approx(-200.0, rel=1e-6)


def test_value_function_rejects_probabilities_outside_unit_interval():
    with pytest.raises(ValueError, match="d_real"):
        value_function(torch.tensor([1.5]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="d_fake"):
        value_function(torch.tensor([0.5]), torch.tensor([-0.1]))
    with pytest.raises(TypeError, match="d_real"):
        value_function([0.5], torch.tensor([0.5]))


def test_monte_carlo_estimate_converges_to_the_integral():
    # V̂ from samples with D = D* estimates C(G); the error shrinks like 1/√n
    gen = torch.Generator().manual_seed(0)
    n = 200_000
    x_real = 1.0 + 0.7 * torch.randn(n, generator=gen, dtype=torch.float64)
    x_fake = -0.5 + 1.2 * torch.randn(n, generator=gen, dtype=torch.float64)

    def d_star(x):
        return optimal_discriminator(gaussian_pdf(x, 1.0, 0.7), gaussian_pdf(x, -0.5, 1.2))

    estimate = float(value_function(d_star(x_real), d_star(x_fake)))
    exact = float(training_criterion(*gaussians(1.0, 0.7, -0.5, 1.2), X))
    assert estimate == pytest.approx(exact, abs=0.01)


# ----------------------------------------------------------------------------- D* and C(G) on densities


def test_optimal_discriminator_formula_and_its_conventions():
    p = torch.tensor([0.0, 1.0, 0.3, 0.0], dtype=torch.float64)
    q = torch.tensor([2.0, 0.0, 0.1, 0.0], dtype=torch.float64)
    assert optimal_discriminator(p, q).tolist() == pytest.approx([0.0, 1.0, 0.75, 0.5])
    logit = optimal_discriminator_logit(p, q)
    assert torch.sigmoid(logit).tolist() == pytest.approx([0.0, 1.0, 0.75, 0.5])
    with pytest.raises(ValueError, match="p_g"):
        optimal_discriminator(p, -q)
    with pytest.raises(ValueError, match="p_g"):
        optimal_discriminator(p, q[:3])


DENSITY_PAIRS = [
    gaussians(1.0, 0.7, -1.0, 0.6),
    gaussians(0.0, 1.0, 0.0, 2.0),
    (mixture_pdf(X, (-1.5, 1.5), (0.5, 0.5)), gaussian_pdf(X, 0.0, 1.0)),
    (uniform_pdf(X, 0.0, 2.0), uniform_pdf(X, 1.0, 3.0)),
]


@pytest.mark.parametrize("p_data, p_g", DENSITY_PAIRS)
def test_optimal_discriminator_maximises_v(p_data, p_g):
    a_star = optimal_discriminator_logit(p_data, p_g)
    v_star = float(value_function_on_grid(a_star, p_data, p_g, X, logits=True))
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        h = random_logit_perturbation(X, generator=gen)
        for eps in (-1.0, -0.1, 0.01, 0.3, 2.0):
            v = float(value_function_on_grid(a_star + eps * h, p_data, p_g, X, logits=True))
            assert v < v_star
    # and other natural discriminators score lower too: a coin toss, a threshold
    assert float(value_function_on_grid(torch.full_like(X, 0.5), p_data, p_g, X)) < v_star
    step = torch.where(X > 0.5, 0.8, 0.2).to(X.dtype)
    assert float(value_function_on_grid(step, p_data, p_g, X)) < v_star


def test_v_is_flat_at_d_star_to_first_order():
    # stationarity: d/dε V(σ(logit D* + ε h)) = 0 at ε = 0
    p_data, p_g = gaussians(1.0, 0.7, -1.0, 0.6)
    a_star = optimal_discriminator_logit(p_data, p_g)
    h = random_logit_perturbation(X, generator=torch.Generator().manual_seed(3))
    eps = 1e-4
    v_plus = float(value_function_on_grid(a_star + eps * h, p_data, p_g, X, logits=True))
    v_minus = float(value_function_on_grid(a_star - eps * h, p_data, p_g, X, logits=True))
    v_0 = float(value_function_on_grid(a_star, p_data, p_g, X, logits=True))
    assert abs(v_plus - v_minus) / (2 * eps) < 1e-6
    assert v_plus < v_0 and v_minus < v_0


@settings(max_examples=25, deadline=None)
@given(
    m1=st.floats(-3, 3), s1=st.floats(0.3, 2.0), m2=st.floats(-3, 3), s2=st.floats(0.3, 2.0),
    eps=st.floats(0.05, 3.0), seed=st.integers(0, 1000),
)
def test_perturbing_d_star_never_raises_v(m1, s1, m2, s2, eps, seed):
    p_data, p_g = gaussians(m1, s1, m2, s2)
    a_star = optimal_discriminator_logit(p_data, p_g)
    h = random_logit_perturbation(X, generator=torch.Generator().manual_seed(seed))
    v_star = float(value_function_on_grid(a_star, p_data, p_g, X, logits=True))
    v = float(value_function_on_grid(a_star + eps * h, p_data, p_g, X, logits=True))
    assert v <= v_star + 1e-12


@pytest.mark.parametrize("p_data, p_g", DENSITY_PAIRS)
def test_criterion_is_minus_log4_plus_twice_jsd(p_data, p_g):
    c = float(training_criterion(p_data, p_g, X))
    jsd = float(jensen_shannon(p_data, p_g, X))
    # the identity holds pointwise up to ∫ p_data + p_g = 2; the trapezoid rule gives that to ~1e-3
    # for the uniforms (jumps) and far better for the Gaussians
    mass = float(torch.trapezoid(p_data + p_g, X))
    assert c == pytest.approx(-math.log(2) * mass + 2 * jsd, abs=1e-12)
    assert c == pytest.approx(-LOG4 + 2 * jsd, abs=2e-3)
    assert c > -LOG4


@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (1.0, 0.7), (-2.0, 0.3)])
def test_criterion_is_minus_log4_exactly_when_p_g_equals_p_data(mean, std):
    p = gaussian_pdf(X, mean, std)
    assert float(training_criterion(p, p.clone(), X)) == pytest.approx(-LOG4, abs=1e-9)
    assert float(jensen_shannon(p, p.clone(), X)) == pytest.approx(0.0, abs=1e-12)
    # and any other generator is strictly above
    for dm, ds in ((0.05, 0.0), (0.0, 0.05), (1.0, 0.5)):
        q = gaussian_pdf(X, mean + dm, std + ds)
        assert float(training_criterion(p, q, X)) > -LOG4 + 1e-5


def test_criterion_minimum_over_generator_means_is_at_the_data_mean():
    p_data = data_density(X, "gaussian")  # N(1, 0.7²)
    means = torch.linspace(-2, 4, 61)
    values = [float(training_criterion(p_data, gaussian_pdf(X, float(m), 0.7), X)) for m in means]
    assert float(means[int(torch.tensor(values).argmin())]) == pytest.approx(1.0, abs=1e-6)


def test_jsd_bounds_symmetry_and_disjoint_supports():
    p, q = gaussians(0.0, 1.0, 2.0, 0.5)
    assert float(jensen_shannon(p, q, X)) == pytest.approx(float(jensen_shannon(q, p, X)), abs=1e-12)
    assert 0 < float(jensen_shannon(p, q, X)) < math.log(2)
    disjoint = jensen_shannon(uniform_pdf(X, -3.0, -1.0), uniform_pdf(X, 1.0, 3.0), X)
    assert float(disjoint) == pytest.approx(math.log(2), abs=2e-3)
    # disjoint supports: C(G) = 0, the largest V any generator can suffer
    c = training_criterion(uniform_pdf(X, -3.0, -1.0), uniform_pdf(X, 1.0, 3.0), X)
    assert float(c) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("m1, s1, m2, s2", [(0, 1, 1, 1), (0.5, 0.7, -1, 1.3), (2, 0.4, 2, 0.8)])
def test_kl_of_gaussians_matches_closed_form(m1, s1, m2, s2):
    p, q = gaussians(m1, s1, m2, s2)
    exact = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    assert float(kl_divergence(p, q, X)) == pytest.approx(exact, abs=1e-6)


def test_densities_integrate_to_one_and_validate_arguments():
    for p in (gaussian_pdf(X, 0.3, 0.5), mixture_pdf(X, (-1, 2), (0.5, 1.0), (0.3, 0.7)), uniform_pdf(X, 0, 2)):
        assert float(torch.trapezoid(p, X)) == pytest.approx(1.0, abs=3e-3)
    with pytest.raises(ValueError, match="std"):
        gaussian_pdf(X, 0.0, 0.0)
    with pytest.raises(ValueError, match="weights"):
        mixture_pdf(X, (0, 1), (1, 1), (0.5, 0.6))
    with pytest.raises(ValueError, match="high"):
        density_grid(1.0, 0.0)


# ----------------------------------------------------------------------------- losses


def test_discriminator_loss_is_minus_v_and_bce_with_logits():
    a_real, a_fake = torch.randn(32), torch.randn(48)
    loss = discriminator_loss(a_real, a_fake)
    assert float(loss) == pytest.approx(-float(value_function(a_real, a_fake, logits=True)), rel=1e-6)
    bce = nn.BCEWithLogitsLoss()
    assert float(loss) == pytest.approx(float(bce(a_real, torch.ones(32)) + bce(a_fake, torch.zeros(48))), rel=1e-6)


def test_one_sided_label_smoothing():
    a_real, a_fake = torch.randn(20), torch.randn(20)
    s = 0.1
    d = torch.sigmoid(a_real)
    want = -((1 - s) * torch.log(d) + s * torch.log(1 - d)).mean() - torch.log(1 - torch.sigmoid(a_fake)).mean()
    assert float(discriminator_loss(a_real, a_fake, label_smoothing=s)) == pytest.approx(float(want), rel=1e-5)
    # with smoothing the real term is smallest at D(x) = 0.9, not at D(x) → 1
    grid = torch.linspace(-5, 8, 2001)
    real_terms = [float(discriminator_loss(a.view(1), torch.tensor([-50.0]), label_smoothing=s)) for a in grid]
    best = torch.sigmoid(grid[int(torch.tensor(real_terms).argmin())])
    assert float(best) == pytest.approx(0.9, abs=2e-3)
    with pytest.raises(ValueError, match="label_smoothing"):
        discriminator_loss(a_real, a_fake, label_smoothing=0.7)


def test_generator_losses_are_the_written_formulas():
    a = torch.randn(64)
    d = torch.sigmoid(a)
    assert float(generator_loss_saturating(a)) == pytest.approx(float(torch.log(1 - d).mean()), rel=1e-5)
    assert float(generator_loss_non_saturating(a)) == pytest.approx(float(-torch.log(d).mean()), rel=1e-5)
    # "train G with real labels" is the non-saturating loss
    bce = nn.BCEWithLogitsLoss()(a, torch.ones(64))
    assert float(generator_loss(a)) == pytest.approx(float(bce), rel=1e-6)
    assert float(generator_loss(a, "saturating")) == float(generator_loss_saturating(a))
    with pytest.raises(ValueError, match="kind"):
        generator_loss(a, "wasserstein")


def test_generator_gradients_match_closed_forms():
    d = torch.tensor([1e-6, 1e-3, 0.1, 0.5, 0.9, 0.999], dtype=torch.float64)
    assert torch.allclose(generator_loss_gradient(d, "saturating"), -d, rtol=1e-6)
    assert torch.allclose(generator_loss_gradient(d, "non_saturating"), -(1 - d), rtol=1e-6)


def test_saturating_gradient_vanishes_as_d_of_g_goes_to_zero():
    d = torch.tensor([1e-1, 1e-2, 1e-3, 1e-4, 1e-6], dtype=torch.float64)
    sat = generator_loss_gradient(d, "saturating").abs()
    ns = generator_loss_gradient(d, "non_saturating").abs()
    assert (sat[1:] < sat[:-1]).all() and float(sat[-1]) < 2e-6  # → 0
    assert (ns > 0.89).all() and float(ns[-1]) == pytest.approx(1.0, abs=1e-5)  # → 1
    ratio = sat / ns
    assert (ratio[1:] < ratio[:-1]).all() and float(ratio[-1]) < 1e-5
    # both push in the same direction: raise D's logit on the fakes
    assert (generator_loss_gradient(d, "saturating") < 0).all()
    assert (generator_loss_gradient(d, "non_saturating") < 0).all()
    # and agree at D(G(z)) = 1/2
    half = torch.tensor([0.5], dtype=torch.float64)
    assert float(generator_loss_gradient(half, "saturating")) == float(generator_loss_gradient(half))


def test_generator_gradient_through_a_network_vanishes_with_the_saturating_loss():
    # the vanishing factor D(G(z)) multiplies every parameter's gradient, not only the logit's
    torch.manual_seed(0)
    g = nn.Linear(4, 2)
    d = nn.Linear(2, 1)
    with torch.no_grad():
        d.bias.fill_(-9.0)  # D(G(z)) ≈ 1e-4: D confidently rejects the fakes
    z = torch.randn(256, 4)
    norms = {}
    for kind in ("saturating", "non_saturating"):
        g.zero_grad()
        generator_loss(d(g(z)), kind).backward()
        norms[kind] = float(g.weight.grad.norm())
    assert norms["saturating"] < 1e-3 * norms["non_saturating"]


def test_equilibrium_losses():
    half = torch.zeros(10)  # logit 0: D = 1/2
    assert float(discriminator_loss(half, half)) == pytest.approx(EQUILIBRIUM_LOSSES["d_loss"], rel=1e-6)
    assert float(generator_loss(half)) == pytest.approx(EQUILIBRIUM_LOSSES["g_loss"], rel=1e-6)


# ----------------------------------------------------------------------------- models


def test_seed_mlp_pair_architecture():
    g, d = MLPGenerator(), MLPDiscriminator()
    linear_g = [(m.in_features, m.out_features) for m in g.modules() if isinstance(m, nn.Linear)]
    linear_d = [(m.in_features, m.out_features) for m in d.modules() if isinstance(m, nn.Linear)]
    assert linear_g == [(100, 256), (256, 512), (512, 784)]
    assert linear_d == [(784, 512), (512, 256), (256, 1)]
    assert isinstance(g.net[-1], nn.Tanh)
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())  # D returns logits
    assert [m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)] == [0.2, 0.2]
    x = g(torch.randn(5, 100))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert d(x).shape == (5, 1)


def test_dcgan_pair_shapes_and_defaults():
    g = DCGANGenerator()
    assert isinstance(g.latent_dim, int)
    x = g(torch.randn(6, g.latent_dim))
    assert x.shape == (6, 1, 28, 28) and x.abs().max() <= 1
    d = DCGANDiscriminator()
    assert d(x).shape == (6, 1)
    assert DCGANDiscriminator(spectral_norm=True)(x).shape == (6, 1)
    # the DCGAN initialisation: conv weights ~ N(0, 0.02²)
    std = torch.cat([m.weight.detach().flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]).std()
    assert float(std) == pytest.approx(0.02, rel=0.1)
    n_bytes = sum(p.numel() for p in g.state_dict().values()) * 4
    assert n_bytes < 5e6  # a shipped checkpoint stays small


def test_models_reject_bad_inputs():
    with pytest.raises(ValueError, match="z"):
        DCGANGenerator(latent_dim=8)(torch.randn(3, 9))
    with pytest.raises(ValueError, match="x"):
        DCGANDiscriminator()(torch.randn(3, 1, 32, 32))
    with pytest.raises(ValueError, match="pack"):
        MLPDiscriminator(in_shape=(2,), hidden=(8,), pack=4)(torch.randn(6, 2))
    with pytest.raises(ValueError, match="latent_dim"):
        MLPGenerator(latent_dim=0)


def test_packed_discriminator_judges_groups_of_samples():
    d = MLPDiscriminator(in_shape=(2,), hidden=(8,), pack=4)
    x = torch.randn(12, 2)
    assert d(x).shape == (3, 1)
    # the first group's logit depends on its 4 samples only
    y = x.clone()
    y[5] += 1.0
    assert torch.equal(d(x)[0], d(y)[0]) and not torch.equal(d(x)[1], d(y)[1])


def test_spectral_norm_makes_each_layer_1_lipschitz():
    torch.manual_seed(0)
    d = MLPDiscriminator(in_shape=(2,), hidden=(64, 64), spectral_norm=True)
    with torch.no_grad():
        for _ in range(30):  # the power iteration refines σ(W) on every training-mode call
            d(torch.randn(16, 2))
    linears = [m for m in d.modules() if isinstance(m, nn.Linear)]
    for layer in linears:
        assert float(torch.linalg.matrix_norm(layer.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.02)
    plain = MLPDiscriminator(in_shape=(2,), hidden=(64, 64))
    sigmas = [float(torch.linalg.matrix_norm(m.weight.detach(), ord=2)) for m in plain.modules() if isinstance(m, nn.Linear)]
    assert max(abs(s - 1) for s in sigmas) > 0.1


# ----------------------------------------------------------------------------- training


def _toy_pair(seed=0):
    torch.manual_seed(seed)
    g = MLPGenerator(latent_dim=4, hidden=(32, 32), out_shape=(2,), out_activation=None)
    d = MLPDiscriminator(in_shape=(2,), hidden=(32, 32))
    return g, d


def test_train_step_updates_d_on_detached_fakes_then_g():
    g, d = _toy_pair()
    opt_g, opt_d = make_optimizers(g, d, lr=1e-3)
    g_before = [p.detach().clone() for p in g.parameters()]
    d_before = [p.detach().clone() for p in d.parameters()]
    stats = train_step(g, d, torch.randn(16, 2), opt_g, opt_d)
    assert set(stats) == {"d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in stats.values())
    assert all(not torch.equal(a, b) for a, b in zip(g_before, g.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, d.parameters()))
    # the fakes are detached for D's loss: exactly one backward pass (G's own loss) reaches G
    g, d = _toy_pair()
    passes = []

    def count_backward_passes(module, inputs, out):
        out.register_hook(lambda grad: passes.append(1))

    g.register_forward_hook(count_backward_passes)
    opt_g, opt_d = make_optimizers(g, d)
    train_step(g, d, torch.randn(16, 2), opt_g, opt_d)
    assert len(passes) == 1
    # with G's learning rate 0, G must stay put: D's step does not move it
    g, d = _toy_pair()
    opt_g = torch.optim.SGD(g.parameters(), lr=0.0)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in g.parameters()]
    train_step(g, d, torch.randn(16, 2), opt_g, opt_d)
    assert all(torch.equal(a, b) for a, b in zip(before, g.parameters()))


def test_train_gan_learns_a_gaussian_blob():
    # a real (small) run: G must move its samples onto the data at (2, −1)
    g, d = _toy_pair(1)
    target = torch.tensor([2.0, -1.0])
    fixed_z = torch.randn(500, 4)
    history = train_gan(
        g, d, lambda n: target + 0.1 * torch.randn(n, 2), steps=400, batch_size=64, lr=2e-3,
        fixed_z=fixed_z, snapshot_steps=(0, 400), progress=False,
    )
    start, end = history.snapshots[0].mean(0), history.snapshots[400].mean(0)
    assert float((start - target).norm()) > 1.5
    assert float((end - target).norm()) < 0.25
    assert len(history) == 400 and history.seconds > 0
    assert 0.2 < history.mean("d_real", last=100) < 0.8  # D can no longer tell them apart


def test_train_gan_with_a_tensor_dataset_and_snapshots():
    g, d = _toy_pair()
    data = torch.randn(100, 2)
    z = torch.randn(10, 4)
    h = train_gan(g, d, data, steps=5, batch_size=32, fixed_z=z, snapshot_steps=(0, 2, 5), progress=False)
    assert sorted(h.snapshots) == [0, 2, 5] and h.snapshots[5].shape == (10, 2)
    assert h.step == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="fixed_z"):
        train_gan(g, d, data, steps=2, snapshot_steps=(1,), progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        train_gan(g, d, data, steps=2, batch_size=500, progress=False)
    with pytest.raises(ValueError, match="snapshot_steps"):
        train_gan(g, d, data, steps=2, fixed_z=z, snapshot_steps=(3,), progress=False)


def test_generate_restores_training_mode():
    g = DCGANGenerator()
    g.train()
    out = generate(g, torch.randn(4, g.latent_dim))
    assert out.shape == (4, 1, 28, 28) and g.training
    g.eval()
    generate(g, torch.randn(2, g.latent_dim))
    assert not g.training


def test_dcgan_train_step_runs_with_spectral_norm_and_smoothing():
    torch.manual_seed(0)
    g, d = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4, spectral_norm=True)
    opt_g, opt_d = make_optimizers(g, d)
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    stats = train_step(g, d, real, opt_g, opt_d, loss="saturating", label_smoothing=0.1)
    assert all(math.isfinite(v) for v in stats.values())


# ----------------------------------------------------------------------------- mode coverage


def test_mode_coverage_of_the_data_itself():
    gen = torch.Generator().manual_seed(0)
    std = 0.05
    samples = ring_of_gaussians(20_000, std=std, generator=gen)
    cov = mode_coverage(samples, ring_centers(), std)
    assert cov.covered == 8
    # in 2-D, P(‖x − μ‖ ≤ 3σ) = 1 − exp(−9/2) ≈ 0.9889 (a χ with 2 degrees of freedom)
    assert cov.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.003)
    assert int(cov.counts.sum()) == round(cov.high_quality * 20_000)


def test_mode_coverage_of_collapsed_and_bad_generators():
    centers = ring_centers()
    collapsed = centers[3] + 0.01 * torch.randn(1000, 2)
    cov = mode_coverage(collapsed, centers, 0.02)
    assert cov.covered == 1 and cov.high_quality == pytest.approx(1.0, abs=0.01)
    assert int(cov.counts.argmax()) == 3
    far = torch.randn(1000, 2) * 0.1  # near the origin, far from every mode
    assert mode_coverage(far, centers, 0.02).covered == 0
    assert mode_coverage(far, centers, 0.02).high_quality == 0.0
    # a mode with fewer than min_share of the samples does not count
    mostly = torch.cat([centers[:7].repeat_interleave(142, 0), centers[7:].repeat(5, 1)])
    assert mode_coverage(mostly, centers, 0.02).covered == 7
    assert mode_coverage(mostly, centers, 0.02, min_share=0.004).covered == 8
    # diverged samples are not high quality and do not crash the metric
    broken = torch.cat([collapsed, torch.full((1000, 2), float("nan"))])
    assert mode_coverage(broken, centers, 0.02).high_quality == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="std"):
        mode_coverage(collapsed, centers, 0.0)
    with pytest.raises(ValueError, match="centers"):
        mode_coverage(collapsed, torch.zeros(8, 3), 0.02)


# ----------------------------------------------------------------------------- diagnostics


def test_input_gradient_norm_of_a_linear_discriminator_is_its_weight_norm():
    from course_lib.gan.diagnostics import (
        input_gradient_norm,
        layer_spectral_norms,
        lipschitz_bound,
    )

    d = nn.Linear(2, 1)
    norms = input_gradient_norm(d, torch.randn(7, 2))
    assert norms.shape == (7,)
    assert torch.allclose(norms, d.weight.detach().norm().expand(7), rtol=1e-6)
    assert layer_spectral_norms(d) == pytest.approx([float(d.weight.detach().norm())], rel=1e-6)
    assert lipschitz_bound(d) == pytest.approx(float(d.weight.detach().norm()), rel=1e-6)


def test_lipschitz_bound_bounds_the_steepness_and_spectral_norm_keeps_it_at_one():
    from course_lib.gan.diagnostics import input_gradient_norm, lipschitz_bound

    torch.manual_seed(0)
    plain = MLPDiscriminator(in_shape=(2,), hidden=(64, 64))
    x = 3 * torch.randn(2000, 2)
    assert float(input_gradient_norm(plain, x).max()) <= lipschitz_bound(plain) * (1 + 1e-6)
    sn = MLPDiscriminator(in_shape=(2,), hidden=(64, 64), spectral_norm=True)
    with torch.no_grad():
        for _ in range(30):
            sn(torch.randn(16, 2))
    assert lipschitz_bound(sn) == pytest.approx(1.0, abs=0.05)
    assert float(input_gradient_norm(sn, x).max()) <= 1.05
    assert sn.training  # the mode is restored


# ----------------------------------------------------------------------------- figures


def test_plot_objective_reports_the_criterion_and_marks_the_minimum():
    from course_lib.gan import plot_objective

    fig = plot_objective(gen_mean=1.0, gen_std=0.7, data="gaussian")  # p_g = p_data
    left, right = fig.axes[0], fig.axes[1]
    assert "V(D*, G) = -1.386" in left.get_title() and "JSD = 0.000" in left.get_title()
    curve = right.lines[0]
    means, values = curve.get_xdata(), curve.get_ydata()
    assert float(means[values.argmin()]) == pytest.approx(1.0, abs=1e-6)
    assert float(values.min()) == pytest.approx(-LOG4, abs=1e-6)
    fig = plot_objective(gen_mean=-1.0, gen_std=0.6)
    assert "V(D*, G) = -0.311" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="gen_std"):
        plot_objective(gen_std=0.0)
    with pytest.raises(ValueError, match="data"):
        plot_objective(data="trimodal")


def test_plot_generator_gradients_draws_the_closed_forms():
    from course_lib.gan import plot_generator_gradients

    ax = plot_generator_gradients().axes[1]
    sat, ns = ax.lines[0], ax.lines[1]
    d = torch.tensor(sat.get_xdata())
    assert torch.allclose(torch.tensor(sat.get_ydata()), d, rtol=1e-6)
    assert torch.allclose(torch.tensor(ns.get_ydata()), 1 - d, rtol=1e-6)


def test_history_plots_and_toy_snapshots():
    from course_lib.gan import (
        History,
        plot_history_comparison,
        plot_loss_curves,
        plot_snapshots,
        plot_toy_snapshots,
    )

    g, d = _toy_pair()
    h = train_gan(g, d, torch.randn(64, 2), steps=6, batch_size=16, fixed_z=torch.randn(50, 4),
                  snapshot_steps=(0, 6), progress=False)
    assert len(plot_loss_curves(h, smooth=3).axes) == 2
    assert len(plot_history_comparison({"a": h, "b": h}, keys=("d_real", "d_fake", "g_grad_norm")).axes) == 3
    collapsed = ring_centers()[2] + 0.01 * torch.randn(400, 2)
    fig = plot_toy_snapshots({"run": {10: collapsed}}, ring_centers(), 0.02)
    assert "1/8 modes" in fig.axes[0].get_title()
    images = {0: torch.zeros(4, 1, 28, 28), 5: torch.ones(4, 1, 28, 28)}
    assert [a.get_title() for a in plot_snapshots(images, nrow=2).axes] == ["step 0", "step 5"]
    with pytest.raises(ValueError, match="history"):
        plot_loss_curves(History())
    with pytest.raises(ValueError, match="keys"):
        plot_history_comparison({"a": h}, keys=("accuracy",))
