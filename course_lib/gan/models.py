"""Generators and discriminators (notebook 02). Every discriminator returns a **logit** a of shape
(B, 1), with D(x) = σ(a) (CONVENTIONS); the losses use ``BCEWithLogitsLoss``.

* :class:`MLPGenerator` / :class:`MLPDiscriminator` – the seed's fully connected pair for MNIST
  (100 → 256 → 512 → 784, Tanh; 784 → 512 → 256 → 1 with LeakyReLU(0.2)), also used with other
  sizes for the 2-D toy data.
* :class:`DCGANGenerator` / :class:`DCGANDiscriminator` – convolutional pair in the style of the
  PyTorch DCGAN tutorial (Radford et al. 2016), sized for 28×28 digits.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ..validation import check_choice, check_int, check_tensor


def _sn(layer: nn.Module, use: bool, init=None) -> nn.Module:
    """Initialise ``layer`` with ``init`` (if given), then wrap it in spectral normalisation
    W / σ(W) (Miyato et al. 2018) when ``use``; σ(W) is W's largest singular value."""
    if init is not None:
        init(layer)
    return _spectral_norm(layer) if use else layer


def sample_z(n: int, latent_dim: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """z ~ N(0, I): ``n`` latent vectors, shape (n, latent_dim)."""
    n = check_int("n", n, 1)
    latent_dim = check_int("latent_dim", latent_dim, 1)
    return torch.randn(n, latent_dim, generator=generator, device=device)


def _check_z(z: torch.Tensor, latent_dim: int) -> None:
    check_tensor("z", z, shape=(None, latent_dim), floating=True)


class MLPGenerator(nn.Module):
    """G: z (B, latent_dim) → samples (B, *out_shape). The seed's MNIST generator by default:
    Linear(100, 256)–ReLU–Linear(256, 512)–ReLU–Linear(512, 784)–Tanh, reshaped to (B, 1, 28, 28).

    ``out_activation="tanh"`` keeps outputs in [−1, 1] (images); ``None`` leaves them unbounded
    (2-D toy data).
    """

    def __init__(self, latent_dim: int = 100, hidden=(256, 512), out_shape=(1, 28, 28), out_activation: str | None = "tanh"):
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        hidden = [check_int("hidden[i]", h, 1) for h in hidden]
        self.out_shape = tuple(check_int("out_shape[i]", s, 1) for s in out_shape)
        check_choice("out_activation", out_activation, ("tanh", None))
        layers, width = [], self.latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, math.prod(self.out_shape)))
        if out_activation == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_z(z, self.latent_dim)
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """D: samples (B, *in_shape) → logits (B / pack, 1). The seed's MNIST discriminator by default:
    Linear(784, 512)–LeakyReLU(0.2)–Linear(512, 256)–LeakyReLU(0.2)–Linear(256, 1), **without**
    the seed's final Sigmoid (D(x) = σ(logit) is applied inside the loss).

    ``pack`` > 1 is PacGAN (Lin et al. 2018): D judges ``pack`` samples at once, concatenated, so
    a generator that puts all its samples on one mode is easy to spot. The batch size must be a
    multiple of ``pack``. ``spectral_norm=True`` normalises every linear layer.
    """

    def __init__(self, in_shape=(1, 28, 28), hidden=(512, 256), pack: int = 1, spectral_norm: bool = False):
        super().__init__()
        self.in_shape = tuple(check_int("in_shape[i]", s, 1) for s in in_shape)
        hidden = [check_int("hidden[i]", h, 1) for h in hidden]
        self.pack = check_int("pack", pack, 1)
        layers, width = [], math.prod(self.in_shape) * self.pack
        for h in hidden:
            layers += [_sn(nn.Linear(width, h), spectral_norm), nn.LeakyReLU(0.2)]
            width = h
        layers.append(_sn(nn.Linear(width, 1), spectral_norm))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, shape=(None, *self.in_shape), floating=True)
        if x.shape[0] % self.pack:
            raise ValueError(f"the batch size must be a multiple of pack={self.pack}, got {x.shape[0]}")
        return self.net(x.reshape(x.shape[0] // self.pack, -1))


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights ~ N(0, 0.02²), batch-norm γ ~ N(1, 0.02²), β = 0."""
    name = module.__class__.__name__
    if "Conv" in name:
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """G: z (B, latent_dim) → images (B, 1, 28, 28) in [−1, 1], all transposed convolutions:

    z as (B, latent_dim, 1, 1) –ConvT 7×7→ (4w, 7, 7) –ConvT 4/2→ (2w, 14, 14) –ConvT 4/2→ (1, 28, 28)
    with BatchNorm + ReLU between and Tanh at the end (w = ``width``), like the PyTorch DCGAN
    tutorial with one 2× upsampling fewer (28 instead of 64 pixels).
    """

    def __init__(self, latent_dim: int = 64, width: int = 32):
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        self.width = w = check_int("width", width, 1)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(self.latent_dim, 4 * w, 7, 1, 0, bias=False),
            nn.BatchNorm2d(4 * w),
            nn.ReLU(True),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_z(z, self.latent_dim)
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """D: images (B, 1, 28, 28) → logits (B, 1), strided convolutions, no pooling:

    (1, 28, 28) –Conv 4/2→ (w, 14, 14) –Conv 4/2→ (2w, 7, 7) –Conv 7×7→ (1, 1, 1)
    with LeakyReLU(0.2) between (BatchNorm after the second conv, as in the tutorial) and no
    Sigmoid. ``spectral_norm=True`` normalises every conv and drops BatchNorm (Miyato et al. 2018).
    """

    def __init__(self, width: int = 32, spectral_norm: bool = False):
        super().__init__()
        self.width = w = check_int("width", width, 1)
        sn = bool(spectral_norm)
        norm = nn.Identity() if sn else nn.BatchNorm2d(2 * w)
        dcgan_init(norm)
        self.net = nn.Sequential(
            _sn(nn.Conv2d(1, w, 4, 2, 1, bias=False), sn, dcgan_init),
            nn.LeakyReLU(0.2),
            _sn(nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), sn, dcgan_init),
            norm,
            nn.LeakyReLU(0.2),
            _sn(nn.Conv2d(2 * w, 1, 7, 1, 0, bias=False), sn, dcgan_init),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, shape=(None, 1, 28, 28), floating=True)
        return self.net(x).view(x.shape[0], 1)
