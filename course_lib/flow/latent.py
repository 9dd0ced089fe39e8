"""A flow model in a VAE's latent space, asked for a class: Stable Diffusion 3 in miniature (notebook 10).

Stable Diffusion 3 (Esser et al. 2024) is a rectified flow trained in the latent space of an
autoencoder and told what to draw. :class:`LatentFlow` is the same design at the course's scale:
the velocity network is a :class:`~course_lib.flow.matching.FlowUNet` on ``vae_latent``'s 4×7×7
latents (notebook 07), here told the digit's class (``num_classes=10``; notebook 08 tells a
denoiser a prompt instead). Training and sampling are flow matching as before, on latents
z_0 = s · μ_φ(x) (the VAE's posterior mean times its ``scaling_factor`` s, which gives them unit
variance); a sample's latent is decoded by the frozen VAE, x = decoder(z / s).

Working on 196 numbers instead of 784 pixels makes each training step cheaper, and telling the
model the class removes the hardest part of the unconditional problem (which digit to become):
together they are what lets a laptop CPU train recognisable digits in minutes (notebook 10, §7).
"""

from __future__ import annotations

import torch
from torch import nn

from ..vae.models import ConvVAE, build_vae
from ..validation import check_instance
from .matching import FlowUNet, build_flow_unet

#: The velocity network of a :class:`LatentFlow` (arguments of :class:`FlowUNet` besides the
#: latent's channels and size): one resolution (7×7 is too small to halve twice), no patches.
LATENT_VELOCITY = dict(patch=1, channel_mults=(1,), base_channels=64, num_res_blocks=2)


class LatentFlow(nn.Module):
    """velocity_θ(z_time, time, c) on a frozen VAE's latents; :meth:`encode` and :meth:`decode` cross over.

    ``LatentFlow(vae, num_classes=10, **velocity_kwargs)`` builds the velocity :class:`FlowUNet`
    (:data:`LATENT_VELOCITY` updated with ``velocity_kwargs``) for ``vae.latent_shape``;
    ``LatentFlow(vae, velocity=a_flow_unet)`` wraps an existing one. The VAE's weights are part of
    the model (its state dict) but never trained: they have no gradients and stay in eval mode.
    """

    def __init__(self, vae: ConvVAE, velocity: FlowUNet | None = None, *, num_classes: int | None = 10,
                 **velocity_kwargs):
        super().__init__()
        check_instance("vae", vae, ConvVAE)
        shape = tuple(vae.latent_shape)
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"vae must have square image-like latents (C, S, S), got latent_shape {shape}")
        if velocity is None:
            velocity = FlowUNet(in_channels=shape[0], image_size=shape[1], num_classes=num_classes,
                                **{**LATENT_VELOCITY, **velocity_kwargs})
        check_instance("velocity", velocity, FlowUNet)
        if velocity.sample_shape != shape:
            raise ValueError(f"velocity works on {velocity.sample_shape} but the VAE's latents are {shape}")
        self.vae, self.velocity = vae, velocity
        self.vae.requires_grad_(False)
        self.vae.eval()
        self.num_classes = velocity.num_classes

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one latent, (C, S, S): what the flow samples before decoding."""
        return self.velocity.sample_shape

    @property
    def scaling_factor(self) -> float:
        return self.vae.scaling_factor

    def train(self, mode: bool = True) -> LatentFlow:
        super().train(mode)
        self.vae.eval()  # frozen: the VAE never trains
        return self

    def full_config(self) -> dict:
        """``{"vae": …, "velocity": …}``: enough to rebuild the model (:func:`build_latent_flow`)."""
        return {"vae": dict(self.vae.config), "velocity": self.velocity.full_config()}

    def forward(self, zt: torch.Tensor, time, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.velocity(zt, time, labels)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, chunk: int = 500) -> torch.Tensor:
        """Latents z_0 = s · μ_φ(x) of digits (B, 1, 28, 28) in [−1, 1], in chunks, no gradients."""
        return torch.cat([self.vae.encode(part)[0] for part in images.split(chunk)]) * self.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Digits (B, 1, 28, 28) in [−1, 1] from latents: the VAE's decoder at z / s."""
        return self.vae.decode(latents / self.scaling_factor)


def build_latent_flow(config: dict) -> LatentFlow:
    """Rebuild a :class:`LatentFlow` from ``{"vae": …, "velocity": …}`` (a manifest record's config)."""
    return LatentFlow(build_vae(config["vae"]), build_flow_unet(config["velocity"]))
