"""Cross-attention: how the picture reads the prompt (notebook 08).

Stable Diffusion's U-Net hears the prompt through **cross-attention** (Rombach et al. 2022, §3.3;
the attention of Vaswani et al. 2017): every position of the latent asks a question (a *query*),
every token of the prompt offers a *key* and a *value*, and each position takes the average of the
values weighted by how well its query matches each key:

    Attention(Q, K, V) = softmax(Q Kᵀ / √d) V,   Q = φ(z) W_Q,  K = τ(y) W_K,  V = τ(y) W_V,

with φ(z) the latent's features (B, N = h·w, C), τ(y) the text encoder's per-token output
``text_emb`` (B, L, D) and d the width of one head. Padding tokens carry no meaning, so their
scores are set to −∞ before the softmax (weight exactly 0). The weights, one distribution over
the prompt's tokens per position, are what notebook 08 draws as attention maps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion.unet import SelfAttention, _norm


def cross_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None):
    """Scaled dot-product attention of queries over keys; returns ``(out, weights)``.

    ``q`` (B, heads, N, d), ``k`` and ``v`` (B, heads, L, d), ``mask`` (B, L) bool, True on the
    tokens to attend to (None: all). ``out`` (B, heads, N, d); ``weights`` (B, heads, N, L), each
    row a distribution over the L tokens, 0 on masked ones.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])          # Q Kᵀ / √d
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))  # padding: −∞ → weight 0
    weights = scores.softmax(dim=-1)                                   # softmax over the tokens
    return weights @ v, weights                                        # Σ_l weight_l v_l


class CrossAttention(nn.Module):
    """Multi-head cross-attention from a sequence of positions (B, N, C) to text tokens (B, L, D).

    With ``store_weights`` set, the last call's attention weights (B, heads, N, L) are kept in
    ``last_weights`` (detached), for attention maps.
    """

    def __init__(self, channels: int, context_dim: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_k = nn.Linear(context_dim, channels, bias=False)
        self.to_v = nn.Linear(context_dim, channels, bias=False)
        self.to_out = nn.Linear(channels, channels)
        self.store_weights = False
        self.last_weights: torch.Tensor | None = None

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, C) → (B, heads, S, C/heads)
        b, s, c = x.shape
        return x.reshape(b, s, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, text_emb: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self._split(self.to_q(x)), self._split(self.to_k(text_emb)), self._split(self.to_v(text_emb))
        out, weights = cross_attention(q, k, v, mask)
        if self.store_weights:
            self.last_weights = weights.detach()
        b, h, n, d = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, n, h * d))


class TransformerBlock(nn.Module):
    """What Stable Diffusion puts after each residual block of its U-Net, for feature maps (B, C, H, W):
    self-attention over the positions, cross-attention to the prompt, a feed-forward layer; each
    with a normalisation before and a residual connection around it."""

    def __init__(self, channels: int, context_dim: int, heads: int = 4):
        super().__init__()
        self.self_attn = SelfAttention(channels, heads)   # the U-Net's own (GroupNorm + residual inside)
        self.norm_cross = nn.LayerNorm(channels)
        self.cross_attn = CrossAttention(channels, context_dim, heads)
        self.norm_ff = nn.LayerNorm(channels)
        self.ff = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))

    def forward(self, x: torch.Tensor, text_emb: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        x = self.self_attn(x)
        seq = x.flatten(2).transpose(1, 2)                                 # (B, H·W, C)
        seq = seq + self.cross_attn(self.norm_cross(seq), text_emb, mask)  # the prompt comes in here
        seq = seq + self.ff(self.norm_ff(seq))
        return seq.transpose(1, 2).reshape(b, c, h, w)


def attention_maps(blocks, size: int) -> torch.Tensor:
    """The stored cross-attention weights of ``blocks`` as maps (B, L, size, size): averaged over
    heads and over the blocks, each block's (h·w) positions reshaped to its grid and resized."""
    maps = []
    for block in blocks:
        weights = block.cross_attn.last_weights                  # (B, heads, N, L)
        side = int(round(math.sqrt(weights.shape[2])))
        grid = weights.mean(1).transpose(1, 2).reshape(weights.shape[0], -1, side, side)
        maps.append(F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)
                    if side != size else grid)
    return torch.stack(maps).mean(0)


__all__ = ["CrossAttention", "TransformerBlock", "attention_maps", "cross_attention", "_norm"]
