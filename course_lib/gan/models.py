"""Generators and discriminators (notebook 02).

* :class:`MLPGenerator` / :class:`MLPDiscriminator` – by default exactly the fully connected pair
  of the course's source document (MNIST, 28×28 = 784 pixels):

  - G: Linear(100, 128) – LeakyReLU(0.2) – Linear(128, 256) – BatchNorm1d(256) – LeakyReLU(0.2)
    – Linear(256, 512) – BatchNorm1d(512) – LeakyReLU(0.2) – Linear(512, 784) – Tanh;
  - D: Linear(784, 512) – LeakyReLU(0.2) – Linear(512, 256) – LeakyReLU(0.2) – Linear(256, 1)
    – Sigmoid.

  The source's G returns flat 784-vectors; ours shows the same 784 numbers as (B, 1, 28, 28)
  images (CONVENTIONS), and D flattens its input. The course's D returns the **logit** a, with
  D(x) = σ(a), and the losses use ``BCEWithLogitsLoss``; ``sigmoid_output=True`` gives the
  source's probabilities instead, for ``BCELoss`` (the same loss, computed less stably).
  Other sizes, ReLU instead of LeakyReLU and no batch norm give the 2-D toy GANs.
* :class:`DCGANGenerator` / :class:`DCGANDiscriminator` – convolutional pair in the style of the
  PyTorch DCGAN tutorial (Radford et al. 2016), sized for 28×28 digits; the generator may read a
  categorical code off z, recognised by a :class:`CodeHead` (InfoGAN).

The constructors check their arguments; ``forward`` is bare (it runs at every training step):
inputs are checked where a notebook calls in (``train_gan``, ``generate``, the diagnostics).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ..validation import check_choice, check_int

ACTIVATIONS = {"leaky_relu": lambda: nn.LeakyReLU(0.2), "relu": nn.ReLU}


def _sn(layer: nn.Module, use: bool, init=None) -> nn.Module:
    """Initialise ``layer`` with ``init`` (if given), then wrap it in spectral normalisation
    W / σ(W) (Miyato et al. 2018) when ``use``; σ(W) is W's largest singular value."""
    if init is not None:
        init(layer)
    return _spectral_norm(layer) if use else layer


def _sizes(name: str, values) -> tuple[int, ...]:
    return tuple(check_int(f"{name}[{i}]", v, 1) for i, v in enumerate(values))


class MLPGenerator(nn.Module):
    """G: z (B, latent_dim) → samples (B, *out_shape). The source's MNIST generator by default
    (see the module docstring): hidden widths 128, 256, 512, LeakyReLU(0.2), BatchNorm1d after
    every hidden linear layer but the first, Tanh output, shown as (B, 1, 28, 28).

    ``activation`` ``"leaky_relu"`` (slope 0.2) or ``"relu"``; ``batch_norm=False`` drops the
    batch norms; ``out_activation=None`` leaves the output unbounded (2-D toy data).
    """

    def __init__(self, latent_dim: int = 100, hidden=(128, 256, 512), out_shape=(1, 28, 28),
                 out_activation: str | None = "tanh", activation: str = "leaky_relu", batch_norm: bool = True):
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        hidden = _sizes("hidden", hidden)
        self.out_shape = _sizes("out_shape", out_shape)
        check_choice("out_activation", out_activation, ("tanh", None))
        check_choice("activation", activation, ACTIVATIONS)
        layers, width = [], self.latent_dim
        for i, h in enumerate(hidden):
            layers.append(nn.Linear(width, h))
            if batch_norm and i > 0:  # the source normalises the 2nd and 3rd hidden layers only
                layers.append(nn.BatchNorm1d(h))
            layers.append(ACTIVATIONS[activation]())
            width = h
        layers.append(nn.Linear(width, math.prod(self.out_shape)))
        if out_activation == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """D: samples (B, *in_shape) → logits (B / pack, 1). The source's MNIST discriminator by
    default: Linear(784, 512)–LeakyReLU(0.2)–Linear(512, 256)–LeakyReLU(0.2)–Linear(256, 1).

    ``sigmoid_output=True`` ends it with the source's ``Sigmoid``: it then returns D(x) = σ(a),
    probabilities for ``BCELoss``, and :func:`~course_lib.gan.train_gan` refuses it (the course
    trains on logits with ``BCEWithLogitsLoss``: the same loss, stable where σ(a) rounds to 0 or 1).

    ``pack`` > 1 is PacGAN (Lin et al. 2018): D judges ``pack`` samples at once, concatenated, so
    a generator that puts all its samples on one mode is easy to spot. The batch size must be a
    multiple of ``pack``. ``spectral_norm=True`` normalises every linear layer.
    """

    def __init__(self, in_shape=(1, 28, 28), hidden=(512, 256), pack: int = 1, spectral_norm: bool = False,
                 sigmoid_output: bool = False):
        super().__init__()
        self.in_shape = _sizes("in_shape", in_shape)
        hidden = _sizes("hidden", hidden)
        self.pack = check_int("pack", pack, 1)
        self.sigmoid_output = bool(sigmoid_output)
        layers, width = [], math.prod(self.in_shape) * self.pack
        for h in hidden:
            layers += [_sn(nn.Linear(width, h), spectral_norm), nn.LeakyReLU(0.2)]
            width = h
        layers.append(_sn(nn.Linear(width, 1), spectral_norm))
        if self.sigmoid_output:
            layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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

    ``deep=True`` adds a 3×3 convolution (+ BatchNorm + ReLU) at 7×7 and at 14×14, and lets the
    last transposed convolution make w channels at 28×28, turned into the picture by a 3×3
    convolution: in the plain net every output pixel is a linear mix of a 2×2 patch of the 14×14
    features, so no layer can shape strokes at full resolution (the shipped ``dcgan_mnist``).

    ``codes=K`` (InfoGAN, Chen et al. 2016) reads a categorical code off z: c = argmax of z's
    first K coordinates (uniform over the K categories, as z ~ N(0, I)), fed to the first layer
    as a one-hot vector beside z. G stays a function of z alone, but it can now change its output
    abruptly when c changes: a continuous map of one Gaussian cannot jump between separate digits
    without drawing the in-between shapes on the way. :class:`CodeHead` and
    :func:`~course_lib.gan.losses.info_loss` make the code mean something (``train_gan(code_head=...)``).
    """

    def __init__(self, latent_dim: int = 64, width: int = 32, deep: bool = False, codes: int = 0):
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        self.width = w = check_int("width", width, 1)
        self.deep = bool(deep)
        self.codes = check_int("codes", codes, 0, self.latent_dim,
                               hint="0 (no code) or a number of categories read off z's first coordinates")
        if self.codes == 1:
            raise ValueError("codes must be 0 (no code) or at least 2 categories, got 1")

        def up(cin, cout, kernel, stride, padding):   # ConvT – BatchNorm – ReLU
            return [nn.ConvTranspose2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]

        def refine(c):                                # 3×3 conv at the same size – BatchNorm – ReLU
            return [nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)] if self.deep else []

        last = ([*up(2 * w, w, 4, 2, 1), nn.Conv2d(w, 1, 3, 1, 1)] if self.deep
                else [nn.ConvTranspose2d(2 * w, 1, 4, 2, 1, bias=False)])
        self.net = nn.Sequential(*up(self.latent_dim + self.codes, 4 * w, 7, 1, 0), *refine(4 * w),
                                 *up(4 * w, 2 * w, 4, 2, 1), *refine(2 * w), *last, nn.Tanh())
        self.apply(dcgan_init)

    def code(self, z: torch.Tensor) -> torch.Tensor:
        """c = argmax(z_1 … z_K), the category (B,) that z picks (``codes=K``)."""
        return z[:, : self.codes].argmax(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.codes:                                        # [z, one_hot(c)]
            z = torch.cat([z, F.one_hot(self.code(z), self.codes).to(z.dtype)], 1)
        return self.net(z.view(z.shape[0], -1, 1, 1))


class CodeHead(nn.Module):
    """Q: images (B, 1, 28, 28) → logits (B, K) over the K categories of a generator's code — InfoGAN's
    auxiliary network, here a small network of its own rather than a second head on D:

    (1, 28, 28) –Conv 4/2→ (w, 14, 14) –Conv 4/2→ (2w, 7, 7) –Linear→ K, LeakyReLU(0.2) between.

    Trained with G to recognise c in G(z) (:func:`~course_lib.gan.losses.info_loss`), it makes G draw
    the K categories so that they can be told apart.
    """

    def __init__(self, codes: int = 10, width: int = 32):
        super().__init__()
        self.codes = check_int("codes", codes, 2)
        self.width = w = check_int("width", width, 1)
        self.net = nn.Sequential(nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(w, 2 * w, 4, 2, 1),
                                 nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * w * 7 * 7, self.codes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DCGANDiscriminator(nn.Module):
    """D: images (B, 1, 28, 28) → logits (B, 1), strided convolutions, no pooling:

    (1, 28, 28) –Conv 4/2→ (w, 14, 14) –Conv 4/2→ (2w, 7, 7) –Conv 7×7→ (1, 1, 1)
    with LeakyReLU(0.2) between (BatchNorm after the second conv, as in the tutorial) and no
    Sigmoid. ``spectral_norm=True`` normalises every conv and drops BatchNorm (Miyato et al. 2018);
    its convs then have biases (no BatchNorm absorbs them). ``deep=True`` adds a 3×3 conv
    (+ LeakyReLU) after each strided one, at 14×14 and at 7×7 (the shipped recipe's D).
    """

    def __init__(self, width: int = 32, spectral_norm: bool = False, deep: bool = False):
        super().__init__()
        self.width = w = check_int("width", width, 1)
        self.in_shape = (1, 28, 28)
        self.deep = bool(deep)
        sn = bool(spectral_norm)

        def conv(cin, cout, kernel, stride, padding):
            return _sn(nn.Conv2d(cin, cout, kernel, stride, padding, bias=sn), sn, dcgan_init)

        def norm(c):
            layer = nn.Identity() if sn else nn.BatchNorm2d(c)
            dcgan_init(layer)
            return layer

        def refine(c):
            return [conv(c, c, 3, 1, 1), nn.LeakyReLU(0.2)] if self.deep else []

        self.net = nn.Sequential(
            conv(1, w, 4, 2, 1), nn.LeakyReLU(0.2), *refine(w),
            conv(w, 2 * w, 4, 2, 1), norm(2 * w), nn.LeakyReLU(0.2), *refine(2 * w),
            conv(2 * w, 1, 7, 1, 0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0], 1)
