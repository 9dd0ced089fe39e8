"""DiffAugment for the DCGAN (issue 18): the transformations do what they say, pass gradients,
and the wrapped discriminator augments in training mode only; train_gan keeps an EMA of G."""

import pytest
import torch

from course_lib.ema import EMA
from course_lib.gan import DCGANDiscriminator, DCGANGenerator, train_gan
from course_lib.gan.augment import AugmentedDiscriminator, cutout, translate


def _digit():
    x = torch.full((1, 1, 28, 28), -1.0)
    x[..., 10:18, 12:16] = 1.0                                    # a bar of ink
    return x


def test_translation_moves_the_picture_and_fills_with_background():
    torch.manual_seed(0)
    x = _digit().repeat(64, 1, 1, 1)
    moved = translate(x, ratio=0.125)                             # shifts of at most round(3.5) = 4 pixels
    assert moved.shape == x.shape
    assert bool(((moved == 1.0) | (moved == -1.0)).all())         # pixels are moved, not blended
    ink = (moved == 1.0).flatten(1).sum(1)
    assert bool((ink == 32).all())                                 # the bar stays inside the picture
    rows = torch.nonzero(moved[:, 0] == 1.0)[:, 1]
    assert 10 - 4 <= int(rows.min()) and int(rows.max()) <= 17 + 4
    assert torch.equal(translate(x, ratio=0.0), x)                 # no shift at all


def test_cutout_blanks_one_square_and_passes_gradients():
    torch.manual_seed(0)
    x = torch.ones(32, 1, 28, 28, requires_grad=True)
    out = cutout(x, ratio=0.5)                                    # a 14 → 15 × 15 square (|d| ≤ 7), maybe clipped
    blank = (out == -1.0).flatten(1).sum(1)
    assert bool((blank > 0).all()) and bool((blank <= 15 * 15).all())
    out.sum().backward()
    assert torch.equal(x.grad, (out != -1.0).float())             # gradient 1 where the pixel survived


def test_augmented_discriminator_augments_only_while_training():
    torch.manual_seed(0)
    d = DCGANDiscriminator()
    wrapped = AugmentedDiscriminator(d, "translation,cutout")
    assert wrapped.policy == ("translation", "cutout") and wrapped.in_shape == (1, 28, 28)
    x = _digit().repeat(4, 1, 1, 1)
    wrapped.eval(), d.eval()
    assert torch.equal(wrapped(x), d(x))
    wrapped.train()
    assert not torch.equal(wrapped(x), d.train()(x))
    with pytest.raises(ValueError, match="policy must be one of"):
        AugmentedDiscriminator(d, "rotation")


def test_train_gan_updates_an_ema_of_the_generator():
    g = DCGANGenerator(latent_dim=8, width=4)
    ema = EMA(g, 0.9)
    before = [p.clone() for p in ema.model.parameters()]
    data = torch.rand(64, 1, 28, 28) * 2 - 1
    train_gan(g, AugmentedDiscriminator(DCGANDiscriminator(width=4)), data, steps=3, batch_size=16,
              progress=False, device="cpu", ema=ema)
    assert ema.num_updates == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, ema.model.parameters()))
    with pytest.raises(TypeError, match="ema must be"):
        train_gan(g, DCGANDiscriminator(width=4), data, steps=1, batch_size=16, progress=False, ema=g)
