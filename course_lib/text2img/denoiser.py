"""The denoiser of latent diffusion: a small U-Net that reads the prompt by cross-attention (notebook 08).

Stable Diffusion's U-Net (Rombach et al. 2022) predicts the noise in a 4×64×64 latent, and after
each residual block a transformer block lets every latent position attend to the 77 token
embeddings of the prompt. This is the same design for ``vae_latent``'s 4×7×7 latents:

    latents (B, 4, 7, 7) ─ conv ─ [Res + Transformer] ─ down (4×4) ─ [Res + Transformer]
                                                                          │
                                   mid: Res + Transformer + Res ──────────┘
    output (B, 4, 7, 7) ─ conv ─ [Res + Transformer] ─ up (7×7) ─ [Res + Transformer]   (+ skips)

The residual blocks and the self-attention are notebook 04's (:mod:`course_lib.diffusion.unet`):
the timestep enters through the sinusoidal embedding added in every residual block; the prompt
enters *only* through the cross-attention of each :class:`~.attention.TransformerBlock`. The
denoiser carries its noise schedule and objective (``schedule``, ``prediction``) like every
denoiser of the course, so the course's samplers and loss work on it unchanged.

The same class runs in pixel space with ``in_channels=1, image_size=28`` (28×28, then 14×14):
that is the comparison of latent against pixel diffusion in notebook 08 and
``benchmarks/bench_text2img.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion.schedules import make_schedule
from ..diffusion.unet import DEFAULT_SCHEDULE, PREDICTIONS, ResBlock, _norm, timestep_embedding
from ..validation import check_choice, check_int
from .attention import TransformerBlock


class TextCondition(NamedTuple):
    """What the denoiser is told about the prompt: ``text_emb`` (B, L, D) per token and ``mask``
    (B, L) bool (True on real tokens, False on padding)."""

    text_emb: torch.Tensor
    mask: torch.Tensor

    def repeat(self, n: int) -> TextCondition:
        """The same prompts n times over (for a batch of images per prompt)."""
        return TextCondition(self.text_emb.repeat(n, 1, 1), self.mask.repeat(n, 1))

    @staticmethod
    def cat(conditions) -> TextCondition:
        """Several conditions stacked along the batch."""
        return TextCondition(torch.cat([c.text_emb for c in conditions]), torch.cat([c.mask for c in conditions]))


#: The architecture of the course's latent denoiser (the shipped ``text2img`` records its own).
DENOISER_CONFIG = dict(in_channels=4, image_size=7, base_channels=64, channel_mults=(1, 2), context_dim=64,
                       heads=4, prediction="v")


class TextUNet(nn.Module):
    """f_θ(latents_t, t, prompt) for latents (B, ``in_channels``, S, S), S = ``image_size``.

    ``base_channels`` × ``channel_mults[i]`` channels at the two resolutions (S and ⌈S/2⌉), one
    residual block and one transformer block (self-attention, cross-attention to the prompt,
    feed-forward) per stage. ``context_dim`` is the text encoder's width D. ``prediction``:
    ``"v"`` or ``"epsilon"``; ``schedule``: the noise schedule's arguments (default: cosine, 1000 steps).

    ``forward(latents, t, text)``: ``t`` an int or (B,) tensor, ``text`` a :class:`TextCondition`.
    """

    def __init__(self, in_channels: int = 4, image_size: int = 7, base_channels: int = 64,
                 channel_mults=(1, 2), context_dim: int = 64, heads: int = 4, prediction: str = "v",
                 schedule: dict | None = None):
        super().__init__()
        in_channels = check_int("in_channels", in_channels, 1)
        image_size = check_int("image_size", image_size, 2)
        base_channels = check_int("base_channels", base_channels, 8)
        channel_mults = tuple(check_int("channel_mults[i]", m, 1) for m in channel_mults)
        if len(channel_mults) != 2:
            raise ValueError(f"channel_mults must give the widths of the two resolutions, got {channel_mults}")
        check_choice("prediction", prediction, PREDICTIONS)
        schedule = dict(DEFAULT_SCHEDULE if schedule is None else schedule)
        self.config = dict(in_channels=in_channels, image_size=image_size, base_channels=base_channels,
                           channel_mults=list(channel_mults), context_dim=context_dim, heads=heads,
                           prediction=prediction, schedule=schedule)
        self.in_channels, self.image_size, self.prediction = in_channels, image_size, prediction
        self.schedule = make_schedule(**schedule)
        c0, c1 = (base_channels * m for m in channel_mults)
        emb = 4 * base_channels
        self.time_dim = base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = nn.Conv2d(in_channels, c0, 3, padding=1)
        self.down0 = nn.ModuleList([ResBlock(c0, c0, emb), TransformerBlock(c0, context_dim, heads)])
        self.downsample = nn.Conv2d(c0, c0, 3, stride=2, padding=1)          # S → ⌈S/2⌉
        self.down1 = nn.ModuleList([ResBlock(c0, c1, emb), TransformerBlock(c1, context_dim, heads)])
        self.mid = nn.ModuleList([ResBlock(c1, c1, emb), TransformerBlock(c1, context_dim, heads),
                                  ResBlock(c1, c1, emb)])
        self.up1 = nn.ModuleList([ResBlock(2 * c1, c1, emb), TransformerBlock(c1, context_dim, heads)])
        self.upsample = nn.Conv2d(c1, c1, 3, padding=1)                      # after resizing back to S
        self.up0 = nn.ModuleList([ResBlock(c1 + c0, c0, emb), TransformerBlock(c0, context_dim, heads)])
        self.out_norm = _norm(c0)
        self.out = nn.Conv2d(c0, in_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def transformer_blocks(self) -> list[TransformerBlock]:
        """Every transformer block (each has one cross-attention), from input to output."""
        return [m for m in self.modules() if isinstance(m, TransformerBlock)]

    @staticmethod
    def _stage(stage, x, emb, text: TextCondition):
        for layer in stage:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x, text.text_emb, text.mask)
        return x

    def forward(self, latents: torch.Tensor, t, text: TextCondition) -> torch.Tensor:
        t = torch.as_tensor(t, device=latents.device)
        t = t.expand(latents.shape[0]) if t.ndim == 0 else t
        emb = self.time_mlp(timestep_embedding(t, self.time_dim))
        h0 = self._stage(self.down0, self.stem(latents), emb, text)                   # S×S
        h1 = self._stage(self.down1, self.downsample(h0), emb, text)                  # ⌈S/2⌉
        x = self._stage(self.mid, h1, emb, text)
        x = self._stage(self.up1, torch.cat([x, h1], 1), emb, text)
        x = self.upsample(F.interpolate(x, size=h0.shape[-2:], mode="nearest"))      # back to S×S
        x = self._stage(self.up0, torch.cat([x, h0], 1), emb, text)
        return self.out(F.silu(self.out_norm(x)))


def build_denoiser(config: dict | None = None) -> TextUNet:
    """A :class:`TextUNet` from a config (:data:`DENOISER_CONFIG` updated with ``config``)."""
    config = {**DENOISER_CONFIG, **(config or {})}
    config["channel_mults"] = tuple(config["channel_mults"])
    return TextUNet(**config)
