"""Differentiable augmentation for a GAN trained on few images (used by ``scripts/train_dcgan.py``).

With 4,000 digits a discriminator sees every training digit hundreds of times and starts to
recognise them one by one; its verdict then stops being useful to the generator. Zhao et al.
(2020, "Differentiable augmentation for data-efficient GAN training") augment **every** image the
discriminator sees — real ones and generated ones, in D's update and in G's — with the same random
transformations, which are differentiable so that G's gradient passes through them. D then
judges augmented pictures on both sides and cannot memorise the exact training digits, while the
generator still learns the un-augmented distribution (the augmentation is applied to its samples
too, so it cannot "leak" into them).

Two transformations, each drawn independently per image:

* **translation**: shift by up to ``ratio`` · size pixels in each direction (background −1 fills in);
* **cutout**: blank one square of side ``ratio`` · size at a random position (to the background −1).

:class:`AugmentedDiscriminator` wraps any discriminator and augments in training mode only.
"""

from __future__ import annotations

import torch
from torch import nn

from ..validation import check_choice, check_float, check_module

POLICIES = ("translation", "cutout")
BACKGROUND = -1.0


def translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image (B, C, H, W) by its own random (dy, dx) with |dy|, |dx| ≤ round(ratio · size),
    filling with the background. A gather of pixels: differentiable in x. Bare."""
    b, c, h, w = x.shape
    max_y, max_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_y, max_y + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-max_x, max_x + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None] - dy          # source row of each output row
    cols = torch.arange(w, device=x.device)[None, None, :] - dx          # source column
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)        # (B, H, W)
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(b, 1, h * w).expand(b, c, h * w)
    moved = x.flatten(2).gather(2, index).view(b, c, h, w)
    return torch.where(inside[:, None], moved, torch.full_like(moved, BACKGROUND))


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Blank one random square of side round(ratio · size) per image (it may hang over the edge)
    to the background. Differentiable in x (the other pixels pass through). Bare."""
    b, _, h, w = x.shape
    side_y, side_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)                # centre of the square
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    hole = ((rows - cy).abs() <= side_y // 2) & ((cols - cx).abs() <= side_x // 2)  # (B, H, W)
    return torch.where(hole[:, None], torch.full_like(x, BACKGROUND), x)


TRANSFORMS = {"translation": translate, "cutout": cutout}


class AugmentedDiscriminator(nn.Module):
    """``discriminator`` that sees every image through ``policy`` (a tuple of :data:`POLICIES`) while
    in training mode, and the plain image in evaluation mode. Passes through ``in_shape``, ``pack``
    and ``sigmoid_output`` so :func:`~course_lib.gan.train_gan` checks it like the wrapped one."""

    def __init__(self, discriminator: nn.Module, policy=("translation", "cutout"),
                 translation_ratio: float = 0.125, cutout_ratio: float = 0.5):
        super().__init__()
        check_module("discriminator", discriminator)
        if isinstance(policy, str):
            policy = tuple(p.strip() for p in policy.split(",") if p.strip())
        self.policy = tuple(check_choice("policy", p, POLICIES) for p in policy)
        self.translation_ratio = check_float("translation_ratio", translation_ratio, 0.0, 0.5)
        self.cutout_ratio = check_float("cutout_ratio", cutout_ratio, 0.0, 1.0)
        self.discriminator = discriminator
        for name in ("in_shape", "pack", "sigmoid_output"):
            if hasattr(discriminator, name):
                setattr(self, name, getattr(discriminator, name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            for name in self.policy:
                x = translate(x, self.translation_ratio) if name == "translation" else cutout(x, self.cutout_ratio)
        return self.discriminator(x)
