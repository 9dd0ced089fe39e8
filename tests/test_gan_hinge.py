"""The hinge loss and the deeper DCGAN pair of the shipped recipe (issue 18)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    discriminator_loss_hinge,
    generator_loss,
    generator_loss_gradient,
    generator_loss_hinge,
    train_gan,
    train_step,
)


def test_hinge_discriminator_loss_is_zero_beyond_the_margin_and_two_at_a_coin_toss():
    real, fake = torch.tensor([1.0, 3.0, 7.5]), torch.tensor([-1.0, -2.0])
    assert float(discriminator_loss_hinge(real, fake)) == 0.0           # every sample beyond its margin
    assert float(discriminator_loss_hinge(torch.zeros(4), torch.zeros(4))) == 2.0
    # by hand: real a = 0.5 → 0.5, a = 2 → 0; fake a = 0 → 1, a = −3 → 0
    assert float(discriminator_loss_hinge(torch.tensor([0.5, 2.0]), torch.tensor([0.0, -3.0]))) == pytest.approx(0.25 + 0.5)


def test_hinge_generator_loss_is_minus_the_mean_logit_with_gradient_minus_one():
    a = torch.tensor([-4.0, 0.0, 2.5])
    assert float(generator_loss_hinge(a)) == pytest.approx(0.5)
    assert torch.equal(generator_loss(a, "hinge"), generator_loss_hinge(a))
    d = torch.tensor([1e-6, 0.3, 0.999])       # whatever D says, the gradient per sample is −1
    assert torch.allclose(generator_loss_gradient(d, "hinge"), -torch.ones(3))


def test_train_step_with_the_hinge_loss_reports_the_hinge_losses():
    torch.manual_seed(0)
    g, d = DCGANGenerator(latent_dim=8, width=4, deep=True), DCGANDiscriminator(4, spectral_norm=True, deep=True)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    real, z = torch.rand(6, 1, 28, 28) * 2 - 1, torch.randn(6, 8)
    d_loss, g_loss, real_logits, fake_logits = train_step(g, d, real, z, opt_g, opt_d, loss="hinge")
    assert float(d_loss) == pytest.approx(float(discriminator_loss_hinge(real_logits, fake_logits)), rel=1e-6)
    assert math.isfinite(float(g_loss)) and real_logits.shape == fake_logits.shape == (6, 1)


def test_train_gan_refuses_label_smoothing_with_the_hinge_loss():
    g, d = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(4, spectral_norm=True)
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    with pytest.raises(ValueError, match="label_smoothing=0 with loss='hinge', got 0.1"):
        train_gan(g, d, real, steps=1, batch_size=4, loss="hinge", label_smoothing=0.1, progress=False, device="cpu")
    record = train_gan(g, d, real, steps=2, batch_size=4, loss="hinge", progress=False, device="cpu")
    assert record.steps == 2 and all(math.isfinite(v) for v in record.history["d_loss"])


def _convs(module):
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def test_the_deep_generator_shapes_strokes_at_full_resolution():
    plain, deep = DCGANGenerator(latent_dim=8, width=4), DCGANGenerator(latent_dim=8, width=4, deep=True)
    z = torch.randn(3, 8)
    for g in (plain, deep):
        x = g.eval()(z)
        assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1
    # the plain net's last layer makes the picture from 14×14 features; the deep one has a 3×3
    # conv on 28×28 features (w channels) before the picture, and a 3×3 conv at 7×7 and 14×14
    assert len(_convs(plain)) == 3 and len(_convs(deep)) == 6
    last = _convs(deep)[-1]
    assert isinstance(last, nn.Conv2d) and last.kernel_size == (3, 3) and last.in_channels == 4
    # a latent change moves every pixel in both; the deep net's output pixel sees a 3×3 patch of
    # 28×28 features: perturbing one feature at 28×28 changes exactly a 3×3 block of pixels
    feats = deep.net[:-2](z.view(3, 8, 1, 1))              # (3, w, 28, 28) before the last conv and Tanh
    bumped = feats.clone()
    bumped[:, :, 10, 10] += 1.0
    changed = (deep.net[-2:](bumped) != deep.net[-2:](feats))[0, 0]
    assert changed.nonzero().tolist() == [[r, c] for r in (9, 10, 11) for c in (9, 10, 11)]


def test_the_deep_discriminator_is_spectrally_normalised_and_has_biases():
    d = DCGANDiscriminator(width=4, spectral_norm=True, deep=True).train()
    for _ in range(30):                                   # power iterations converge while training
        d(torch.randn(2, 1, 28, 28))
    d.eval()
    convs = _convs(d)
    assert len(convs) == 5 and all(c.bias is not None for c in convs)
    for c in convs:
        sigma = torch.linalg.matrix_norm(c.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.05)
    assert d(torch.randn(5, 1, 28, 28)).shape == (5, 1)
    # without spectral norm the plain pair is unchanged: bias-free convs and a BatchNorm
    plain = DCGANDiscriminator(width=4)
    assert all(c.bias is None for c in _convs(plain)) and any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())


def test_train_gan_snapshots_show_the_ema_that_would_ship():
    from course_lib.ema import EMA

    torch.manual_seed(0)
    g, d = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(4)
    ema = EMA(g, 0.9)
    z = torch.randn(3, 8)
    record = train_gan(g, d, torch.rand(16, 1, 28, 28) * 2 - 1, steps=3, batch_size=8, fixed_z=z,
                       progress=False, device="cpu", ema=ema)
    with torch.no_grad():
        assert torch.allclose(record.snapshots[3], ema.model.eval()(z))
        assert not torch.allclose(record.snapshots[3], g.eval()(z))


def test_train_gan_continues_with_given_optimizers_and_refuses_wrong_ones():
    g, d = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(4)
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    train_gan(g, d, real, steps=2, batch_size=4, progress=False, device="cpu", optimizers=(opt_g, opt_d))
    assert all(int(s["step"]) == 2 for s in opt_g.state.values())      # the moments carried the 2 steps
    with pytest.raises(TypeError, match="optimizers must be a pair"):
        train_gan(g, d, real, steps=1, batch_size=4, progress=False, device="cpu", optimizers=(opt_g,))
    with pytest.raises(ValueError, match=r"optimizers\[0\] must optimise exactly the generator's parameters"):
        train_gan(g, d, real, steps=1, batch_size=4, progress=False, device="cpu", optimizers=(opt_d, opt_g))
