"""Training a denoiser (notebooks 04–05).

The loop is the seed's, made real: draw a batch of digits, t ~ U{0, …, T−1}, ε ~ N(0, I),
x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, minimise the simplified loss (DDPM Algorithm 1) with Adam — plus
what makes it learn in minutes on a CPU: a budget (``steps`` and/or ``minutes``, whichever ends
first, :class:`course_lib.train_loop.Budget`) over which the learning rate warms up and anneals,
an exponential moving average of the weights, and, for a class-conditional model, dropping the
label to the null label ∅ with probability ``cond_drop_prob`` so the same network also learns
ε_θ(x_t, t, ∅) for classifier-free guidance. The shipped denoisers are loaded with
:func:`course_lib.registry.load_pretrained`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..budget import preset_for
from ..checkpoints import load_or_train
from ..data import Digits
from ..device import resolve_device
from ..ema import EMA
from ..train_loop import Budget, TrainRecord, lr_at
from ..validation import (
    check_choice,
    check_float,
    check_images,
    check_int,
    check_module,
    check_tensor,
)
from .reverse import diffusion_loss
from .schedules import Schedule
from .unet import UNet

#: The architecture (``UNet()``'s defaults), schedule and recipe of the course's denoisers, chosen by measurement on a 2-core CPU
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

#: Training recipes per run budget (steps/minutes: whichever ends first).
PRESETS = {
    "smoke": dict(steps=3, minutes=0.5, batch_size=16, lr=2e-3, ema_decay=0.9),
    "cpu": dict(steps=100_000, minutes=9.5, batch_size=64, lr=3e-3, ema_decay=0.995),
    "gpu": dict(steps=30_000, minutes=20.0, batch_size=128, lr=1e-3, ema_decay=0.9995),
}


def preset(budget: str | None = None, **overrides) -> dict:
    """The training recipe for a run budget (``smoke``/``cpu``/``gpu``; default: the active one)."""
    return preset_for(PRESETS, budget, **overrides)


def _images_and_labels(data):
    """Training data as (images, labels or None): a :class:`Digits`, a tensor, or (images, labels)."""
    if isinstance(data, Digits):
        return data.images, data.labels
    if isinstance(data, torch.Tensor):
        return data, None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise TypeError(f"data must be a Digits, an image tensor (N, C, H, W) or a pair (images, labels), "
                    f"got {type(data).__name__}")


def train_diffusion(
    model: nn.Module,
    data,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int | None = 0,
    device=None,
    progress: bool = True,
    batch_size: int = 64,
    lr: float = 2e-3,
    ema_decay: float = 0.995,
    conditional: bool | None = None,
    cond_drop_prob: float = 0.1,
    min_snr_gamma: float | None = None,
    weight_decay: float = 0.0,
    grad_clip: float | None = 1.0,
    copy_ema_to_model: bool = True,
    clock: str = "wall",
) -> TrainRecord:
    """Train a denoiser on ``data`` (DDPM Algorithm 1); return the :class:`TrainRecord`.

    ``model`` carries its schedule (``model.schedule``) and objective (``model.prediction``).
    ``data``: a :class:`course_lib.data.Digits`, images (N, C, H, W) in [−1, 1], or a pair
    (images, labels). Each step: a random batch x_0, t ~ U{0…T−1}, ε ~ N(0, I), the loss
    :func:`~course_lib.diffusion.reverse.diffusion_loss`, one Adam step (learning rate from
    :func:`~course_lib.train_loop.lr_at` over the budget, gradients clipped to norm ``grad_clip``
    (``None``: no clipping)), one EMA update. Stops after ``steps`` steps or ``minutes`` minutes,
    whichever comes first (at least one is needed). A class-conditional model (``num_classes``
    set) trains on the labels unless ``conditional=False``; each label is replaced by the null
    label with probability ``cond_drop_prob``. At the end the EMA weights are copied into
    ``model`` (unless ``copy_ema_to_model=False``) and the model is left in eval mode.
    ``history["loss"]`` holds the per-step losses.

    ``clock="process"`` measures ``minutes`` in CPU time of this process (a budget that does not
    depend on other programs' load; used by ``benchmarks/bench_diffusion.py``).
    """
    check_module("model", model)
    if not isinstance(getattr(model, "schedule", None), Schedule):
        raise TypeError(f"model must be a denoiser that carries its noise schedule (model.schedule), "
                        f"got a {type(model).__name__} without one")
    images, labels = _images_and_labels(data)
    check_images("data", images, pixel_range=True)
    if images.shape[1:] != (model.in_channels, model.image_size, model.image_size):
        raise ValueError(f"data must hold images of shape (N, {model.in_channels}, {model.image_size}, "
                         f"{model.image_size}) for this model, got {tuple(images.shape)}")
    batch_size = check_int("batch_size", batch_size, 1)
    lr = check_float("lr", lr, 0.0, low_open=True)
    ema_decay = check_float("ema_decay", ema_decay, 0.0, 1.0, high_open=True)
    cond_drop_prob = check_float("cond_drop_prob", cond_drop_prob, 0.0, 1.0)
    weight_decay = check_float("weight_decay", weight_decay, 0.0)
    if grad_clip is not None:
        grad_clip = check_float("grad_clip", grad_clip, 0.0, low_open=True,
                                hint="the largest gradient norm; None turns clipping off")
    if min_snr_gamma is not None:
        min_snr_gamma = check_float("min_snr_gamma", min_snr_gamma, 0.0, low_open=True)
    seed = None if seed is None else check_int("seed", seed, 0)
    num_classes = getattr(model, "num_classes", None)
    if conditional is None:
        conditional = num_classes is not None
    if conditional:
        if num_classes is None:
            raise ValueError("conditional=True needs a class-conditional model (build it with num_classes)")
        if labels is None:
            raise ValueError("a class-conditional model needs labels: pass a Digits or (images, labels)")
        check_tensor("labels", labels, shape=(images.shape[0],))
        if labels.is_floating_point() or int(labels.min()) < 0 or int(labels.max()) >= num_classes:
            raise ValueError(f"labels must be integer classes in [0, {num_classes - 1}]")
    budget = Budget(steps, minutes, desc="training", progress=progress, clock=clock)
    device = resolve_device(device)

    model.to(device).train()
    images = images.to(device)
    targets = labels.to(device).long() if conditional else None
    # Same numbers, another memory layout: on a CPU, oneDNN's convolutions run 8–19 % faster with
    # channels-last weights (measured on the course's 2-core machine). Undone at the end.
    channels_last = device.type == "cpu" and torch.backends.mkldnn.is_available()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    schedule = model.schedule.to(device)
    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(seed)
        torch.manual_seed(seed)
    else:
        gen.seed()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    ema = EMA(model, ema_decay)
    n, T = images.shape[0], schedule.num_steps
    for _ in budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(budget.fraction, lr)
        idx = torch.randint(0, n, (batch_size,), generator=gen).to(device)
        x0 = images[idx]
        t = torch.randint(0, T, (batch_size,), generator=gen).to(device)        # t ~ U{0, …, T−1}
        noise = torch.randn(x0.shape, generator=gen).to(device)                   # ε ~ N(0, I)
        y = None
        if targets is not None:
            drop = torch.rand(batch_size, generator=gen).to(device) < cond_drop_prob
            y = torch.where(drop, torch.full_like(targets[idx], model.null_label), targets[idx])
        loss = diffusion_loss(model, x0, t, noise, schedule, labels=y, min_snr_gamma=min_snr_gamma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        ema.update(model)
        budget.log(loss=loss.detach())
    record = budget.finish()
    if copy_ema_to_model:
        model.load_state_dict(ema.model.state_dict())
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return record


def load_or_train_denoiser(
    name: str = "ddpm_mnist",
    train: bool = False,
    recipe: dict | None = None,
    path=None,
    device=None,
    progress: bool = True,
    data=None,
):
    """Load the shipped denoiser ``name`` or train one like it; say which. Returns ``(model, info)``.

    With ``train=False`` the shipped checkpoint is loaded if this copy has it (its architecture
    rebuilt from the manifest, see :func:`course_lib.registry.load_pretrained`); otherwise (or
    with ``train=True``) a fresh ``UNet()`` — the CPU-friendly default, class-conditional for
    ``"ddpm_mnist_cond"`` — is trained on MNIST's training digits (``data``: a
    :class:`course_lib.data.Digits`, loaded if not given) with :func:`preset` for the active
    budget updated with ``recipe``, and saved to ``path`` if given (checked to be writable
    first). ``info`` is :func:`course_lib.checkpoints.load_or_train`'s: ``source``, and the
    :class:`~course_lib.train_loop.TrainRecord` under ``result`` when trained.
    """
    from ..registry import entry, has_shipped, load_pretrained

    name = entry(name).name
    check_choice("name", name, ("ddpm_mnist", "ddpm_mnist_cond"))
    recipe = preset(**(recipe or {}))
    device = resolve_device(device)
    if not train and has_shipped(name):
        model = load_pretrained(name, device=device)
        print(f"Loaded the course's checkpoint '{name}' (SHA-256 verified; trained on "
              f"{model.record.get('data', '?')}, {model.record.get('steps', '?')} steps).")
        return model, {"source": "shipped", "record": model.record}
    if not train and not (path is not None and Path(path).is_file()):
        print(f"The course's checkpoint {name!r} is not in this copy, so a model is trained instead "
              f"({recipe['steps']} steps or {recipe['minutes']} min, whichever comes first).")
    model = UNet(num_classes=10 if name == "ddpm_mnist_cond" else None).to(device)

    def train_fn(m):
        from ..data import load_mnist

        return train_diffusion(m, data if data is not None else load_mnist("train"), progress=progress,
                               device=device, **recipe)

    model, info = load_or_train(model, train_fn, path=path, train=train)
    return model.eval(), info
