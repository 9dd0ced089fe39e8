"""Training a denoiser, and the checkpoints the course ships (notebooks 04–05).

The loop is the seed's, made real: draw a batch of digits, t ~ U{0, …, T−1}, ε ~ N(0, I),
x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, minimise ‖ε − ε_θ(x_t, t)‖² (DDPM Algorithm 1) with Adam — plus
what makes it learn in minutes on a CPU: a time budget (it stops at ``minutes`` or ``steps``,
whichever comes first, and anneals the learning rate over that budget), an exponential moving
average of the weights, and, for a class-conditional model, dropping the label to the null label
∅ with probability ``cond_drop_prob`` so the same network also learns ε_θ(x_t, t, ∅) for
classifier-free guidance.

:func:`load_pretrained` rebuilds a shipped model from the architecture and schedule stored in
:data:`SHIPPED_CONFIGS` (and in the checkpoint's manifest record) and loads its weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from ..budget import get_budget
from ..validation import check_choice, check_float, check_images, check_int, check_tensor
from .reverse import diffusion_loss
from .schedules import Schedule, make_schedule
from .unet import EMA, UNet, build_unet

#: The architecture and schedule of the course's denoisers, chosen by measurement on a 2-core CPU
#: (500 samples scored by a classifier; see the report of issue 7 and benchmarks/bench_diffusion.py):
#: a 2×2 pixel fold (patch=2, 14×14 then 7×7) beat both the plain 28×28 U-Net (4× slower per
#: step) and a 4×4 fold (blobs); batch 32 beat 64 in 4-minute runs (revisited below); the v objective
#: beat ε and ε with min-SNR weighting; and the cosine schedule (Nichol & Dhariwal 2021) beat the
#: linear one after 8 minutes of training (DDIM-100, η = 1: Fréchet ratio 3.8 against 5.3–6.6, 77 %
#: against 74–75 % confident), because on 28×28 digits the linear schedule spends about a third of
#: its steps on nearly pure noise. A twice larger learning rate (4e-3), batch 16, attention at 7×7
#: and longer EMAs did not help. With 9.5 minutes at batch 32 and lr 2e-3 (the first ``cpu`` preset)
#: it reached 78–80 % confident, entropy 1.00, Fréchet ratio 2.9–3.0 (DDIM-100, η = 1). Also tried
#: for 9.5 minutes each (mean of two 500-sample seeds): lr 1e-3 79.6 %, batch 64 79.1 % (Fréchet
#: ratio 2.3–2.4), bf16 autocast 78.0 % (22 % more steps), min-SNR-5 weighting 74.8 %, width 48
#: 72.4 % (one seed), x̂_0 clipping +0.2 points: a plateau near 79 %, not a recipe short of steps.
#: Batch 64 with lr 3e-3 (√2 × the lr for twice the batch) gave 80.8 % (80.6 / 81.0) and Fréchet
#: ratios 2.1–2.6 in 4253 steps: the ``cpu`` preset since then.
DEFAULT_MODEL = dict(
    in_channels=1,
    base_channels=32,
    channel_mults=[1, 2],
    num_res_blocks=1,
    attention_levels=[],
    num_classes=None,
    patch=2,
    dropout=0.0,
    prediction="v",
    image_size=28,
)
DEFAULT_SCHEDULE = dict(kind="cosine", num_steps=1000)

#: What each shipped checkpoint is: the model config, the schedule, and the training recipe.
SHIPPED_CONFIGS = {
    "ddpm_mnist": dict(model=dict(DEFAULT_MODEL), schedule=dict(DEFAULT_SCHEDULE)),
    "ddpm_mnist_cond": dict(model=dict(DEFAULT_MODEL, num_classes=10), schedule=dict(DEFAULT_SCHEDULE)),
}

#: Training recipes per run budget (steps/minutes: whichever ends first).
PRESETS = {
    "smoke": dict(steps=3, minutes=0.5, batch_size=16, lr=2e-3, ema_decay=0.9),
    "cpu": dict(steps=100_000, minutes=9.5, batch_size=64, lr=3e-3, ema_decay=0.995),
    "gpu": dict(steps=30_000, minutes=20.0, batch_size=128, lr=1e-3, ema_decay=0.9995),
}


def make_model(name_or_config="ddpm_mnist", **overrides) -> UNet:
    """A fresh (untrained) UNet: the architecture of a shipped model by name, or from a config dict."""
    if isinstance(name_or_config, str):
        check_choice("name", name_or_config, SHIPPED_CONFIGS)
        config = dict(SHIPPED_CONFIGS[name_or_config]["model"])
    elif isinstance(name_or_config, dict):
        config = dict(name_or_config)
    else:
        raise TypeError(f"name_or_config must be a shipped name or a dict, got {type(name_or_config).__name__}")
    config.update(overrides)
    return build_unet(config)


def make_model_schedule(name_or_config="ddpm_mnist") -> Schedule:
    """The noise schedule a shipped model was trained with (by name), or from a schedule config dict."""
    if isinstance(name_or_config, str):
        check_choice("name", name_or_config, SHIPPED_CONFIGS)
        config = SHIPPED_CONFIGS[name_or_config]["schedule"]
    else:
        config = dict(name_or_config)
    return make_schedule(**config)


def preset(budget: str | None = None, **overrides) -> dict:
    """The training recipe for a run budget (``smoke``/``cpu``/``gpu``; default: the active one)."""
    budget = budget or get_budget()
    check_choice("budget", budget, PRESETS)
    recipe = dict(PRESETS[budget])
    recipe.update(overrides)
    return recipe


def lr_at(progress: float, lr: float, warmup: float = 0.02, final_fraction: float = 0.05) -> float:
    """Learning rate at ``progress`` ∈ [0, 1] of the budget: linear warm-up, then cosine decay.

    lr(p) = lr · p/warmup for p < warmup, else lr · (f + (1 − f)(1 + cos(π (p−warmup)/(1−warmup)))/2).
    """
    p = min(max(float(progress), 0.0), 1.0)
    if p < warmup:
        return lr * max(p / warmup, 1e-3)
    q = (p - warmup) / max(1e-12, 1 - warmup)
    return lr * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * q)))


@dataclass
class TrainResult:
    """What :func:`train_diffusion` did: per-step losses, steps, seconds, and the EMA model."""

    losses: list = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    ema: EMA | None = None
    stopped_by: str = ""

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")

    def smoothed_losses(self, window: int = 50) -> list:
        """Running mean of the losses over ``window`` steps (for plotting)."""
        out, total = [], 0.0
        for i, value in enumerate(self.losses):
            total += value
            if i >= window:
                total -= self.losses[i - window]
            out.append(total / min(i + 1, window))
        return out


def train_diffusion(
    model: nn.Module,
    images: torch.Tensor,
    schedule: Schedule,
    labels: torch.Tensor | None = None,
    steps: int = 1000,
    minutes: float | None = None,
    batch_size: int = 64,
    lr: float = 2e-3,
    ema_decay: float = 0.995,
    cond_drop_prob: float = 0.1,
    min_snr_gamma: float | None = None,
    weight_decay: float = 0.0,
    grad_clip: float = 1.0,
    seed: int | None = 0,
    progress: bool = True,
    device=None,
    copy_ema_to_model: bool = True,
    clock: str = "wall",
) -> TrainResult:
    """Train ``model`` to predict the noise on ``images`` (N, C, H, W) in [−1, 1] (DDPM Algorithm 1).

    Each step: a random batch x_0, t ~ U{0…T−1}, ε ~ N(0, I), loss :func:`diffusion_loss`, one
    Adam step (learning rate from :func:`lr_at` over the budget, gradients clipped to norm
    ``grad_clip``), one EMA update. Stops after ``steps`` steps or ``minutes`` minutes, whichever
    comes first; the learning-rate schedule follows whichever is further along. With ``labels``
    (N,) the model is class-conditional and each label is replaced by the null label with
    probability ``cond_drop_prob``. At the end the EMA weights are copied into ``model`` (unless
    ``copy_ema_to_model=False``) and the model is left in eval mode.

    ``clock="process"`` measures ``minutes`` in CPU time of this process instead of wall-clock
    time: on a machine shared with other programs, a budget that does not depend on their load
    (used by ``benchmarks/bench_diffusion.py``; with one torch thread, CPU minutes are at most the
    wall minutes an idle machine would need).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_images("images", images)
    steps = check_int("steps", steps, 1)
    if minutes is not None:
        minutes = check_float("minutes", minutes, 0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, 1)
    lr = check_float("lr", lr, 0.0, low_open=True)
    cond_drop_prob = check_float("cond_drop_prob", cond_drop_prob, 0.0, 1.0)
    check_choice("clock", clock, ("wall", "process"))
    now = time.perf_counter if clock == "wall" else time.process_time
    if labels is not None:
        check_tensor("labels", labels, shape=(images.shape[0],))
        if getattr(model, "label_emb", None) is None:
            raise ValueError("labels were given but the model is unconditional (build it with num_classes)")
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    model.to(device).train()
    data = images.to(device)
    # Same numbers, another memory layout: on a CPU, oneDNN's convolutions run 8–19 % faster with
    # channels-last weights (measured on the course's 2-core machine). Undone at the end.
    channels_last = device.type == "cpu" and torch.backends.mkldnn.is_available()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    targets = labels.to(device).long() if labels is not None else None
    schedule = schedule.to(device)
    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(check_int("seed", seed, 0))
        torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    ema = EMA(model, ema_decay)
    result = TrainResult(ema=ema)
    budget_s = None if minutes is None else 60.0 * minutes
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, desc="training", disable=not progress, leave=False)
    start = now()
    n = data.shape[0]
    step = 0
    while True:
        elapsed = now() - start
        if step >= steps:
            result.stopped_by = "steps"
            break
        if budget_s is not None and elapsed >= budget_s:
            result.stopped_by = "time"
            break
        frac = step / steps if budget_s is None else max(step / steps, elapsed / budget_s)
        for group in opt.param_groups:
            group["lr"] = lr_at(frac, lr)
        idx = torch.randint(0, n, (batch_size,), generator=gen).to(device)
        x0 = data[idx]
        y = None
        if targets is not None:
            y = targets[idx]
            drop = torch.rand(batch_size, generator=gen).to(device) < cond_drop_prob
            y = torch.where(drop, torch.full_like(y, model.null_label), y)
        loss = diffusion_loss(model, x0, schedule, labels=y, min_snr_gamma=min_snr_gamma)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()} at step {step}; lower lr (now {lr:g})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        ema.update(model)
        result.losses.append(float(loss.detach()))
        step += 1
        bar.update(1)
        if step % 25 == 0:
            bar.set_postfix(loss=f"{sum(result.losses[-25:]) / 25:.4f}")
    bar.close()
    result.steps = step
    result.seconds = now() - start
    if copy_ema_to_model:
        model.load_state_dict(ema.model.state_dict())
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
        ema.model.to(memory_format=torch.contiguous_format)
    model.eval()
    return result


# ----------------------------------------------------------------------------- shipped models


def _shipped_record(name: str):
    from ..checkpoints import shipped_checkpoints

    record = shipped_checkpoints().get(name)
    if record is None:
        return None
    from ..checkpoints import SHIPPED_DIR

    return record if (SHIPPED_DIR / record["file"]).is_file() else None


def has_shipped(name: str) -> bool:
    """True if the course's checkpoint ``name`` is listed in the manifest and its file is present."""
    check_choice("name", name, SHIPPED_CONFIGS)
    return _shipped_record(name) is not None


def load_pretrained(name: str = "ddpm_mnist", device=None, quiet: bool = True):
    """The shipped denoiser ``name`` (``"ddpm_mnist"`` or ``"ddpm_mnist_cond"``) and its schedule.

    Rebuilds the architecture and the noise schedule from the checkpoint's manifest record (its
    ``config``; :data:`SHIPPED_CONFIGS` if the record has none), loads the SHA-256-verified weights
    with ``weights_only=True`` and returns ``(model, schedule)`` with the model in eval mode on
    ``device`` (default: the CPU).
    """
    from ..checkpoints import load_or_train

    check_choice("name", name, SHIPPED_CONFIGS)
    record = _shipped_record(name)
    if record is None:
        raise FileNotFoundError(
            f"the course's checkpoint {name!r} is not shipped in this copy: train it with "
            f"`python scripts/train_ddpm.py{' --conditional' if name.endswith('cond') else ''}` "
            "(see its docstring), or train your own in notebook 04"
        )
    config = record.get("config") or SHIPPED_CONFIGS[name]
    device = torch.device(device) if device is not None else torch.device("cpu")
    model = build_unet(config["model"]).to(device)
    model, _ = load_or_train(model, shipped=name, quiet=quiet)
    return model.eval(), make_schedule(**config["schedule"])


def load_or_train_denoiser(
    name: str = "ddpm_mnist",
    train: bool = False,
    recipe: dict | None = None,
    path=None,
    device=None,
    progress: bool = True,
    data=None,
):
    """Load the shipped denoiser ``name`` or train one like it; say which. Returns (model, schedule, info).

    With ``train=False`` the shipped checkpoint is loaded if this copy has it (its architecture
    rebuilt from the manifest, see :func:`load_pretrained`); otherwise (or with ``train=True``) a
    fresh model of :data:`SHIPPED_CONFIGS` ``[name]`` (the CPU-friendly default) is trained on MNIST's training digits
    (``data``: a :class:`course_lib.data.Digits`, loaded if not given) with :func:`preset` for the
    active budget, updated with ``recipe``, and saved to ``path`` if given. ``info`` is
    :func:`course_lib.checkpoints.load_or_train`'s, with the :class:`TrainResult` under ``result``.
    """
    from ..checkpoints import load_or_train

    check_choice("name", name, SHIPPED_CONFIGS)
    recipe = preset(**(recipe or {}))
    device = torch.device(device) if device is not None else torch.device("cpu")
    shipped = has_shipped(name)
    if not train and shipped:
        # The shipped file may have been trained with another width/depth than the default:
        # rebuild it from its manifest record.
        record = _shipped_record(name)
        model, schedule = load_pretrained(name, device=device, quiet=False)
        return model, schedule, {"source": "shipped", "record": record}
    model = make_model(name).to(device)
    schedule = make_model_schedule(name)
    if not train and not shipped:
        print(f"The course's checkpoint {name!r} is not in this copy, so a model is trained instead "
              f"({recipe['steps']} steps or {recipe['minutes']} min, whichever comes first).")
        train = True

    def train_fn(m):
        digits = data
        if digits is None:
            from ..data import load_mnist

            digits = load_mnist("train")
        labels = digits.labels if m.num_classes is not None else None
        return train_diffusion(m, digits.images, schedule, labels=labels, progress=progress,
                               device=device, **recipe)

    model, info = load_or_train(model, train_fn, shipped=name if shipped else None, path=path, train=train)
    return model.eval(), schedule, info
