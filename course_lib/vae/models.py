"""The VAE's networks: a convolutional encoder q_φ(z | x) and decoder p_θ(x | z) (notebook 07).

:class:`ConvVAE` works on 28×28 digits in [−1, 1]. Its latent is either a vector (``latent_shape
= (d,)``: a dense bottleneck, as in the 2-D model ``vae_2d`` that the notebook draws as a map) or a
small feature map (``latent_shape = (c, 7, 7)``: the compressor ``vae_latent`` that notebook 08
diffuses in, built like Stable Diffusion's autoencoder, only smaller). ``variational=False`` makes
a plain autoencoder: the encoder returns a point (``logvar`` is ``None``), no noise, no KL.

The documented entry points check what they are given and name the argument: ``encode(images)
-> (mu, logvar)``, ``decode(z) -> images`` in [−1, 1], ``reconstruct(images)`` and
:func:`sample_prior`. ``posterior`` and ``decode_logits`` are the unchecked parts the training loop
calls once per step.
"""

from __future__ import annotations

import torch
from torch import nn

from ..classifier import check_digits
from ..device import count_parameters, model_device  # noqa: F401  (count_parameters re-exported)
from ..validation import check_int, check_tensor
from .elbo import bernoulli_mean

IMAGE_SHAPE = (1, 28, 28)
SPATIAL_SIZE = 7  # 28 → 14 → 7: two stride-2 convolutions, a factor 4 per side

#: The architectures of the two shipped models (their manifest records hold the same configs).
VAE_2D = dict(latent_shape=[2], width=32, hidden=256)
VAE_LATENT = dict(latent_shape=[4, SPATIAL_SIZE, SPATIAL_SIZE], width=32)

#: A small VAE that trains in about a minute on a CPU: notebook 07's autoencoder and β sweep.
SMALL_VAE = dict(latent_shape=[16], width=16, hidden=128)

#: How each shipped model is trained: the architecture and the KL weight. ``vae_2d`` optimises the
#: ELBO itself (β = 1), so its prior samples are digits. ``vae_latent`` is a compressor first, like
#: Stable Diffusion's autoencoder (whose KL weight is tiny): with β = 0.25 its reconstructions keep
#: the digit (98.4 % read as the true label against 96.3 % with β = 1, after 1,500 steps in a trial
#: on the course's CPU), at the price of prior samples that are not digits — generating its
#: latents is the diffusion model's job in notebook 08.
SHIPPED = {
    "vae_2d": dict(config=VAE_2D, kl_weight=1.0),
    "vae_latent": dict(config=VAE_LATENT, kl_weight=0.25),
}


class ResBlock(nn.Module):
    """x + conv(act(conv(act(x)))): two 3×3 convolutions that keep the shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvVAE(nn.Module):
    """A convolutional VAE (or, with ``variational=False``, a plain autoencoder) for 28×28 digits.

    Encoder: two 4×4 stride-2 convolutions (``width`` channels at 14×14, 2·``width`` at 7×7) and
    ``blocks`` residual blocks, then a head that outputs μ and log σ² of the latent: for
    ``latent_shape = (d,)`` a dense layer of ``hidden`` units, for ``(c, 7, 7)`` a 3×3 convolution.
    The decoder mirrors it with 4×4 stride-2 transposed convolutions and ends in one Bernoulli
    logit per pixel. ``scaling_factor`` is the number latents are multiplied by before diffusion
    (1/std of the training digits' μ, like Stable Diffusion's 0.18215); it lives in the config,
    not in the weights.
    """

    def __init__(self, latent_shape=(2,), width: int = 32, hidden: int = 256, blocks: int = 0,
                 variational: bool = True, scaling_factor: float = 1.0):
        super().__init__()
        latent_shape = tuple(check_int(f"latent_shape[{i}]", s, 1) for i, s in enumerate(latent_shape))
        if len(latent_shape) not in (1, 3) or (len(latent_shape) == 3 and latent_shape[1:] != (SPATIAL_SIZE,) * 2):
            raise ValueError(f"latent_shape must be (d,) or (c, {SPATIAL_SIZE}, {SPATIAL_SIZE}), got {latent_shape}")
        width = check_int("width", width, 4, 512)
        hidden = check_int("hidden", hidden, 2, 4096)
        blocks = check_int("blocks", blocks, 0, 8)
        self.latent_shape = latent_shape
        self.variational = bool(variational)
        self.scaling_factor = float(scaling_factor)
        self.config = dict(latent_shape=list(latent_shape), width=width, hidden=hidden, blocks=blocks,
                           variational=self.variational, scaling_factor=self.scaling_factor)
        heads = 2 if self.variational else 1  # (μ, log σ²) or a point
        wide = 2 * width
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.SiLU(),  # 14×14
            nn.Conv2d(width, wide, 4, stride=2, padding=1),  # 7×7
            *[ResBlock(wide) for _ in range(blocks)], nn.SiLU(),
        )
        flat = wide * SPATIAL_SIZE * SPATIAL_SIZE
        if len(latent_shape) == 1:
            d = latent_shape[0]
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.SiLU(), nn.Linear(hidden, heads * d))
            self.stem = nn.Sequential(nn.Linear(d, hidden), nn.SiLU(), nn.Linear(hidden, flat),
                                      nn.Unflatten(1, (wide, SPATIAL_SIZE, SPATIAL_SIZE)))
        else:
            self.head = nn.Conv2d(wide, heads * latent_shape[0], 3, padding=1)
            self.stem = nn.Conv2d(latent_shape[0], wide, 3, padding=1)
        self.decoder = nn.Sequential(
            *[ResBlock(wide) for _ in range(blocks)], nn.SiLU(),
            nn.ConvTranspose2d(wide, width, 4, stride=2, padding=1), nn.SiLU(),  # 14×14
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # 28×28: one Bernoulli logit per pixel
        )

    # ------------------------------------------------------------------ unchecked parts (per step)
    def posterior(self, images: torch.Tensor):
        """(μ, log σ²) of q_φ(z | x), each (B, *latent_shape); (μ, None) for a plain autoencoder."""
        out = self.head(self.encoder(images)).reshape(images.shape[0], -1, *self.latent_shape)
        if not self.variational:
            return out[:, 0], None
        return out[:, 0], out[:, 1]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's Bernoulli logits (B, 1, 28, 28) for latents z (B, *latent_shape)."""
        return self.decoder(self.stem(z))

    # ------------------------------------------------------------------ the documented entry points
    def check_latents(self, name: str, z) -> torch.Tensor:
        """Raise a clear error unless ``z`` has the shape (B, *latent_shape) this decoder takes."""
        check_tensor(name, z, floating=True)
        if z.ndim != 1 + len(self.latent_shape) or tuple(z.shape[1:]) != self.latent_shape:
            want = ", ".join(["B", *map(str, self.latent_shape)])
            raise ValueError(f"{name} must have shape ({want}) for this decoder (latent_shape "
                             f"{self.latent_shape}), got {tuple(z.shape)}")
        return z

    def encode(self, images: torch.Tensor):
        """``(mu, logvar)`` of q_φ(z | x) for digits (B, 1, 28, 28) in [−1, 1], on the model's
        device (``logvar`` is ``None`` for a plain autoencoder)."""
        check_digits("images", images)
        return self.posterior(images.to(model_device(self), torch.float32))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image (B, 1, 28, 28) in [−1, 1] for latents z (B, *latent_shape)."""
        self.check_latents("z", z)
        return bernoulli_mean(self.decode_logits(z.to(model_device(self), torch.float32)))

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """decode(μ(x)): the reconstruction of digits through the posterior mean (no gradients)."""
        mu, _ = self.encode(images)
        return bernoulli_mean(self.decode_logits(mu))


def build_vae(config: dict | None = None) -> ConvVAE:
    """An untrained :class:`ConvVAE` from a config dict (the registry's builder)."""
    return ConvVAE(**(config or {}))



@torch.no_grad()
def sample_prior(model: ConvVAE, n: int, *, seed: int = 0, device=None, progress: bool = False) -> torch.Tensor:
    """Draw n digits (n, 1, 28, 28) in [−1, 1]: z ~ N(0, I) from a seeded generator, decoded to
    the decoder's mean image, returned on the CPU. ``device`` moves the model first; ``progress``
    is accepted for the registry's common signature (one decoder call needs no bar)."""
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    if device is not None:
        model.to(device)
    z = torch.randn(n, *model.latent_shape, generator=torch.Generator().manual_seed(seed))
    return model.decode(z).cpu()
