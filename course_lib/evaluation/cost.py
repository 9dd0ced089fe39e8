"""Compute cost: time, operators and FLOPs of sampling, and the sources' two tools (notebook 11).

The sources list compute cost (计算资源需求) among the challenges of AI painting, and name two
tools: the **PyTorch Profiler** (run time and memory of a model) and **TensorBoard** (training
curves). Here:

* :func:`profile_call` runs a function under ``torch.profiler`` and returns the operator
  breakdown — which kernels the time went to (convolutions, matrix products, normalisation…);
* :func:`count_flops` counts the floating-point operations of one call with
  ``torch.utils.flop_counter`` (a multiply-add is 2 FLOPs), exactly, from the shapes;
* :func:`time_call` measures seconds per call (the median of a few repeats, after a warm-up);
* :func:`scale_to` turns a measured step time into an estimate for a larger network, on paper:
  time ∝ FLOPs, at the FLOP rate this machine reached on the small one;
* :func:`log_to_tensorboard` writes a :class:`~course_lib.train_loop.TrainRecord`'s curves for
  TensorBoard when it is installed (an optional extra); the course's matplotlib plots show the
  same curves without it.

A sampler's cost is its number of network evaluations (``nfe``) times the cost of one: DDPM runs
the denoiser T = 1000 times per picture, DDIM-50 fifty times, a GAN or a VAE decoder once.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable

import torch

from ..validation import check_instance, check_int


def time_call(fn: Callable, repeats: int = 3, warmup: int = 1) -> float:
    """Seconds per call of ``fn()``: the median of ``repeats`` timed calls after ``warmup`` untimed ones."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    repeats = check_int("repeats", repeats, 1)
    warmup = check_int("warmup", warmup, 0)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_flops(fn: Callable) -> int:
    """The floating-point operations of one call of ``fn()``, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` from the operators' shapes (convolutions, matrix
    products, attention; 2 FLOPs per multiply-add; element-wise operations are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def profile_call(fn: Callable, repeats: int = 1, row_limit: int = 8) -> dict:
    """Run ``fn()`` ``repeats`` times under ``torch.profiler`` (CPU activity; CUDA too when
    available) and return ``{"seconds": wall time per call, "operators": rows, "table": text}``.
    ``rows`` are the ``row_limit`` operators with the most self time: ``name``, ``calls``,
    ``self_ms`` per call of ``fn`` and ``share`` of the total self time. ``table`` is the
    profiler's own summary (``key_averages().table``), as a learner would print it."""
    from torch.profiler import ProfilerActivity, profile

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    repeats = check_int("repeats", repeats, 1)
    row_limit = check_int("row_limit", row_limit, 1)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    fn()  # warm-up: the first call pays for lazy initialisation
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(repeats):
            fn()
    seconds = (time.perf_counter() - start) / repeats
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [{"name": e.key, "calls": e.count // repeats, "self_ms": e.self_cpu_time_total / 1000 / repeats,
             "share": e.self_cpu_time_total / total} for e in events[:row_limit]]
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)
    return {"seconds": seconds, "operators": rows, "table": table}


def scale_to(seconds: float, flops: float, target_flops: float) -> float:
    """time_target ≈ seconds · target_flops / flops: the same FLOP rate on a bigger network. Bare.
    (A big network usually runs at a *higher* rate than a small one — larger matrices use the
    hardware better — so on the same machine this is an upper estimate.)"""
    return seconds * target_flops / flops


# ----------------------------------------------------------------------------- TensorBoard (optional)


def tensorboard_available() -> bool:
    """True when the ``tensorboard`` package is installed (``torch.utils.tensorboard`` needs it)."""
    return importlib.util.find_spec("tensorboard") is not None


def log_to_tensorboard(record, log_dir, prefix: str = "train") -> str:
    """Write every per-step series of a :class:`~course_lib.train_loop.TrainRecord` as TensorBoard
    scalars ``prefix/<name>`` under ``log_dir``; returns the run directory. View with
    ``tensorboard --logdir <log_dir>`` (or ``%load_ext tensorboard`` + ``%tensorboard --logdir …``
    in Jupyter). Raises ``ImportError`` with the install command when TensorBoard is missing."""
    from ..train_loop import TrainRecord

    check_instance("record", record, TrainRecord)
    if not tensorboard_available():
        raise ImportError("TensorBoard is not installed: pip install tensorboard "
                          "(or the course's optional extra: pip install -e '.[tensorboard]'); "
                          "the course's matplotlib plots show the same curves without it")
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for name, values in record.history.items():
            for step, value in enumerate(values):
                writer.add_scalar(f"{prefix}/{name}", value, step)
    finally:
        writer.close()
    return writer.log_dir


# ----------------------------------------------------------------------------- Stable Diffusion, on paper
# The layer plan of Stable Diffusion v1's U-Net (Rombach et al. 2022; the configuration published
# with its weights): latents 4×64×64 for a 512×512 picture, widths 320-640-1280-1280, two residual
# blocks per level, a transformer (self-attention, cross-attention to 77 text tokens of width 768,
# a GEGLU feed-forward) after every residual block of the first three levels and in the middle.
# Built on the "meta" device it has shapes and no numbers: nothing is downloaded or allocated,
# and its parameter count (859,520,964) checks the plan against the published "860 M".

SD_WIDTHS = (320, 640, 1280, 1280)
SD_LATENT = (4, 64, 64)
SD_TEXT = (77, 768)
SD_PARAMETERS = 859_520_964


def _gn(c: int) -> torch.nn.GroupNorm:
    return torch.nn.GroupNorm(32, c, eps=1e-5)


class _Res(torch.nn.Module):
    def __init__(self, c_in: int, c_out: int, emb: int = 1280):
        super().__init__()
        nn = torch.nn
        self.norm1, self.conv1 = _gn(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2, self.conv2 = _gn(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        f = torch.nn.functional
        h = self.conv1(f.silu(self.norm1(x))) + self.emb(f.silu(emb))[:, :, None, None]
        return self.skip(x) + self.conv2(f.silu(self.norm2(h)))


class _Attention(torch.nn.Module):
    def __init__(self, dim: int, context: int | None = None, heads: int = 8):
        super().__init__()
        nn = torch.nn
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k, self.v = nn.Linear(context or dim, dim, bias=False), nn.Linear(context or dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, x, context=None):
        context = x if context is None else context
        b, n, d = x.shape
        q, k, v = (t.view(b, -1, self.heads, d // self.heads).transpose(1, 2)
                   for t in (self.q(x), self.k(context), self.v(context)))
        weights = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(b, n, d))


class _Transformer(torch.nn.Module):
    def __init__(self, c: int, context: int = 768):
        super().__init__()
        nn = torch.nn
        self.norm, self.proj_in, self.proj_out = nn.GroupNorm(32, c, eps=1e-6), nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)
        self.norm1, self.attn1 = nn.LayerNorm(c), _Attention(c)
        self.norm2, self.attn2 = nn.LayerNorm(c), _Attention(c, context)
        self.norm3, self.ff_in, self.ff_out = nn.LayerNorm(c), nn.Linear(c, 8 * c), nn.Linear(4 * c, c)

    def forward(self, x, text):
        b, c, h, w = x.shape
        s = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        s = s + self.attn1(self.norm1(s))
        s = s + self.attn2(self.norm2(s), text)
        a, gate = self.ff_in(self.norm3(s)).chunk(2, dim=-1)
        s = s + self.ff_out(a * torch.nn.functional.gelu(gate))
        return x + self.proj_out(s.transpose(1, 2).reshape(b, c, h, w))


class StableDiffusionUNetPlan(torch.nn.Module):
    """Stable Diffusion v1's U-Net as a layer plan (see the comment above): ``forward(latents,
    time_emb, text)`` with latents (B, 4, 64, 64), the sinusoidal time embedding (B, 320) and text
    (B, 77, 768). Build it under ``torch.device("meta")`` (:func:`stable_diffusion_unet`)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        w = SD_WIDTHS
        self.time = nn.Sequential(nn.Linear(w[0], 1280), nn.SiLU(), nn.Linear(1280, 1280))
        self.conv_in = nn.Conv2d(SD_LATENT[0], w[0], 3, padding=1)
        self.down, skips, c = nn.ModuleList(), [w[0]], w[0]
        for level, width in enumerate(w):
            for _ in range(2):
                self.down.append(nn.ModuleList([_Res(c, width)] + ([_Transformer(width)] if level < 3 else [])))
                c = width
                skips.append(c)
            if level < 3:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                skips.append(c)
        self.mid = nn.ModuleList([_Res(c, c), _Transformer(c), _Res(c, c)])
        self.up = nn.ModuleList()
        for level, width in enumerate(reversed(w)):
            for _ in range(3):
                self.up.append(nn.ModuleList([_Res(c + skips.pop(), width)] + ([_Transformer(width)] if level > 0 else [])))
                c = width
            if level < 3:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2.0), nn.Conv2d(c, c, 3, padding=1)]))
        self.out = nn.Sequential(_gn(c), nn.SiLU(), nn.Conv2d(c, SD_LATENT[0], 3, padding=1))

    def _run(self, layers, x, emb, text):
        for layer in layers:
            x = layer(x, emb) if isinstance(layer, _Res) else layer(x, text) if isinstance(layer, _Transformer) else layer(x)
        return x

    def forward(self, latents, time_emb, text):
        emb = self.time(time_emb)
        x = self.conv_in(latents)
        skips = [x]
        for layers in self.down:
            x = self._run(layers, x, emb, text)
            skips.append(x)
        x = self._run(self.mid, x, emb, text)
        for layers in self.up:
            if isinstance(layers[0], _Res):
                x = torch.cat([x, skips.pop()], dim=1)
            x = self._run(layers, x, emb, text)
        return self.out(x)


def stable_diffusion_unet() -> tuple[torch.nn.Module, Callable]:
    """Stable Diffusion v1's U-Net plan on the meta device, and ``step()``: one denoiser call on
    one latent (batch 1, no guidance), for :func:`count_flops`. Nothing is allocated."""
    with torch.device("meta"):
        unet = StableDiffusionUNetPlan()
        latents = torch.empty(1, *SD_LATENT)
        time_emb, text = torch.empty(1, SD_WIDTHS[0]), torch.empty(1, *SD_TEXT)
    return unet, lambda: unet(latents, time_emb, text)
