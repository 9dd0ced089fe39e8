"""A small U-Net that predicts the noise ε_θ(x_t, t [, c]) (taught in notebooks 04–05).

What the seed's ``class UNet(nn.Module): pass`` should have been: an encoder–decoder with skip
connections, told *which* timestep it is denoising through a sinusoidal time embedding
(Vaswani et al. 2017, as used by DDPM, Ho et al. 2020, appendix B) — the d/2 sines, then the
d/2 cosines, concatenated:

    emb(t) = [sin(t ω_0), …, sin(t ω_{d/2−1}), cos(t ω_0), …, cos(t ω_{d/2−1})],  ω_i = 10000^{−i/(d/2)},

followed by a small MLP; every residual block adds a projection of it to its feature maps. With
``num_classes`` set, a learned label embedding is added to the time embedding; label index
``num_classes`` is the "null" label ∅ used for classifier-free guidance (Ho & Salimans 2022).

``patch`` > 1 folds each patch × patch block of pixels into channels before the first
convolution (``pixel_unshuffle``) and unfolds it at the end: a 28×28 digit becomes 14×14×4, so
every layer is 4× cheaper — on a laptop CPU this buys about four times more training steps in
the same minutes (see ``benchmarks/bench_diffusion.py``).

A denoiser carries the noise schedule it is trained and sampled with (``model.schedule``, built
from the ``schedule`` config), so a loaded model samples correctly without being told which.
``UNet()`` with no arguments is the model the course trains in notebook 04 (0.64 M parameters,
v objective, cosine schedule); the shipped checkpoints are wider (their manifest records it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..device import count_parameters  # noqa: F401  (re-exported: notebooks import it from here)
from ..validation import check_choice, check_float, check_int
from .schedules import make_schedule

PREDICTIONS = ("epsilon", "v")
#: The schedule the course trains its denoisers with (notebook 04 explains why cosine).
DEFAULT_SCHEDULE = {"kind": "cosine", "num_steps": 1000}


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps: (B,) → (B, dim).

    The sines of all frequencies, then the cosines (concatenated, not interleaved); ``dim`` even.
    Fast-turning sines tell nearby steps apart, slow ones tell early from late.
    """
    half = dim // 2
    omega = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)  # ω_i = P^{−i/(d/2)}
    angles = t.float()[:, None] * omega[None, :]                                           # t ω_i
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)                        # [sin, cos]


def _norm(channels: int) -> nn.GroupNorm:
    groups = 8 if channels % 8 == 0 else 1
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, + time/label embedding, GroupNorm → SiLU → (dropout) → conv, + skip."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = _norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = _norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a (B, C, H, W) map, with a residual."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.norm = _norm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        seq = self.norm(x).flatten(2).transpose(1, 2)  # (B, H·W, C)
        out, _ = self.attn(seq, seq, seq, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    """ε_θ(x_t, t) — or ε_θ(x_t, t, c) with ``num_classes`` — for (B, C, H, W) images in [−1, 1].

    ``base_channels`` × ``channel_mults[i]`` channels at resolution level i (each level halves H
    and W), ``num_res_blocks`` residual blocks per level, self-attention at the levels listed in
    ``attention_levels``. ``patch`` folds patch×patch pixels into channels first (see the module
    docstring). ``prediction`` records what the output means: ``"epsilon"`` (the noise ε, DDPM's
    parameterisation) or ``"v"`` (v = √ᾱ_t ε − √(1−ᾱ_t) x_0, Salimans & Ho 2022); samplers
    convert with :func:`course_lib.diffusion.reverse.predictions`. ``schedule``: the
    :func:`~course_lib.diffusion.schedules.make_schedule` arguments of the noise schedule the
    model is trained and sampled with (default :data:`DEFAULT_SCHEDULE`), kept as ``model.schedule``.

    ``forward(xt, t, labels=None)``: ``t`` an int or a (B,) integer tensor; ``labels`` a (B,)
    tensor of class indices in [0, num_classes], where ``num_classes`` (= :attr:`null_label`)
    means "no label"; ``labels=None`` uses the null label for every image.
    """

    def __init__(
        self,
        in_channels: int = 1,
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2),
        num_res_blocks: int = 1,
        attention_levels: tuple[int, ...] = (),
        num_classes: int | None = None,
        patch: int = 2,
        dropout: float = 0.0,
        prediction: str = "v",
        image_size: int = 28,
        schedule: dict | None = None,
    ):
        super().__init__()
        in_channels = check_int("in_channels", in_channels, 1)
        base_channels = check_int("base_channels", base_channels, 8)
        if base_channels % 8:
            raise ValueError(f"base_channels must be a multiple of 8 (GroupNorm), got {base_channels}")
        channel_mults = tuple(check_int("channel_mults[i]", m, 1) for m in channel_mults)
        if not channel_mults:
            raise ValueError("channel_mults must list at least one level")
        num_res_blocks = check_int("num_res_blocks", num_res_blocks, 1, 8)
        attention_levels = tuple(
            check_int("attention_levels[i]", lv, 0, len(channel_mults) - 1) for lv in attention_levels
        )
        if num_classes is not None:
            num_classes = check_int("num_classes", num_classes, 1)
        patch = check_int("patch", patch, 1, 8)
        dropout = check_float("dropout", dropout, 0.0, 1.0, high_open=True)
        check_choice("prediction", prediction, PREDICTIONS)
        image_size = check_int("image_size", image_size, 4)
        schedule = dict(DEFAULT_SCHEDULE if schedule is None else schedule)
        inner = image_size // patch
        if image_size % patch or inner % (2 ** (len(channel_mults) - 1)):
            raise ValueError(
                f"image_size {image_size} / patch {patch} must be divisible by 2^{len(channel_mults) - 1} "
                f"(one halving per extra level of channel_mults={channel_mults})"
            )
        self.config = dict(
            in_channels=in_channels,
            base_channels=base_channels,
            channel_mults=list(channel_mults),
            num_res_blocks=num_res_blocks,
            attention_levels=list(attention_levels),
            num_classes=num_classes,
            patch=patch,
            dropout=dropout,
            prediction=prediction,
            image_size=image_size,
        )
        self.schedule_config = schedule
        self.schedule = make_schedule(**schedule)
        self.in_channels, self.patch, self.prediction = in_channels, patch, prediction
        self.num_classes, self.image_size = num_classes, image_size
        emb_dim = 4 * base_channels
        self.time_dim = base_channels
        self.time_mlp = nn.Sequential(
            nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes is not None else None
        if self.label_emb is not None:
            nn.init.normal_(self.label_emb.weight, std=0.02)

        chans = [base_channels * m for m in channel_mults]
        self.stem = nn.Conv2d(in_channels * patch * patch, chans[0], 3, padding=1)
        self.down = nn.ModuleList()
        skips = [chans[0]]
        ch = chans[0]
        for level, out_ch in enumerate(chans):
            for _ in range(num_res_blocks):
                blocks = nn.ModuleList([ResBlock(ch, out_ch, emb_dim, dropout)])
                if level in attention_levels:
                    blocks.append(SelfAttention(out_ch))
                self.down.append(blocks)
                ch = out_ch
                skips.append(ch)
            if level < len(chans) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(ch, ch, 3, stride=2, padding=1)]))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim, dropout), ResBlock(ch, ch, emb_dim, dropout)])
        self.mid_attn = SelfAttention(ch) if attention_levels else nn.Identity()
        self.up = nn.ModuleList()
        for level in reversed(range(len(chans))):
            out_ch = chans[level]
            for _ in range(num_res_blocks + 1):
                blocks = nn.ModuleList([ResBlock(ch + skips.pop(), out_ch, emb_dim, dropout)])
                if level in attention_levels:
                    blocks.append(SelfAttention(out_ch))
                self.up.append(blocks)
                ch = out_ch
            if level > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(ch, ch, 3, padding=1)]))
        self.out_norm = _norm(ch)
        self.out = nn.Conv2d(ch, in_channels * patch * patch, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def full_config(self) -> dict:
        """``{"model": …, "schedule": …}``: what :func:`build_unet` needs to rebuild this model."""
        return {"model": dict(self.config), "schedule": dict(self.schedule_config)}

    @property
    def null_label(self) -> int:
        """The label index that means "no label" (∅), used for classifier-free guidance."""
        if self.num_classes is None:
            raise AttributeError("this UNet is unconditional (num_classes=None): it has no null label")
        return self.num_classes

    def embed(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The (B, 4·base_channels) vector every block sees: MLP(emb(t)) [+ label embedding]."""
        emb = self.time_mlp(timestep_embedding(t, self.time_dim))
        if self.label_emb is not None:
            if labels is None:
                labels = torch.full_like(t, self.num_classes)
            emb = emb + self.label_emb(labels)
        return emb

    def forward(self, xt: torch.Tensor, t, labels: torch.Tensor | None = None) -> torch.Tensor:
        """f_θ(x_t, t [, c]) for x_t (B, C, H, W); ``t`` an int or (B,); ``labels`` (B,) or None."""
        t = torch.as_tensor(t, device=xt.device)
        t = t.expand(xt.shape[0]) if t.ndim == 0 else t
        emb = self.embed(t, labels)
        x = F.pixel_unshuffle(xt, self.patch) if self.patch > 1 else xt
        x = self.stem(x)
        hs = [x]
        for blocks in self.down:
            for layer in blocks:
                x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
            hs.append(x)
        x = self.mid[0](x, emb)
        x = self.mid_attn(x)
        x = self.mid[1](x, emb)
        for blocks in self.up:
            if isinstance(blocks[0], ResBlock):
                x = torch.cat([x, hs.pop()], dim=1)
            for layer in blocks:
                x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        x = self.out(F.silu(self.out_norm(x)))
        return F.pixel_shuffle(x, self.patch) if self.patch > 1 else x


def build_unet(config: dict) -> UNet:
    """Rebuild a :class:`UNet` from a config: ``{"model": {...}, "schedule": {...}}`` as stored in a
    checkpoint's manifest record (see :meth:`UNet.full_config`), or the flat UNet arguments."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict of UNet arguments, got {type(config).__name__}")
    args = dict(config.get("model", config))
    if "schedule" in config:
        args["schedule"] = config["schedule"]
    for key in ("channel_mults", "attention_levels"):
        if key in args:
            args[key] = tuple(args[key])
    return UNet(**args)

