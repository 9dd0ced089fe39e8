"""Training flow models: flow matching from data, reflow on coupled pairs, the run budgets (notebook 10).

:func:`train_flow` is the family's ``train_<family>`` (CONVENTIONS, "The API"): one loop for the
2-D :class:`~course_lib.flow.toy.ToyFlow`, the image :class:`~course_lib.flow.matching.FlowUNet`
and the latent :class:`~course_lib.flow.latent.LatentFlow`, on data (flow matching: fresh noise
every step) or on a :class:`Coupling` of fixed (x_0, ε) pairs (reflow). :func:`couple` makes such
pairs with a trained flow model's ODE: a teacher's Euler solution x_0 = ODE(ε) for each noise ε.
The loss is :func:`~course_lib.flow.matching.flow_matching_loss`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..budget import preset_for
from ..data import Digits
from ..device import resolve_device
from ..ema import EMA
from ..train_loop import Budget, TrainRecord, lr_at
from ..validation import (
    check_choice,
    check_float,
    check_images,
    check_int,
    check_same_shape,
    check_tensor,
)
from .matching import TIME_SAMPLING, flow_matching_loss, sample_time
from .ode import check_flow_model, one_thread_if_small, sample_flow


@dataclass
class Coupling:
    """Fixed pairs for reflow: ``noise`` ε_i and the ``x0`` that an ODE carried it to (same shapes)."""

    x0: torch.Tensor
    noise: torch.Tensor

    def __len__(self) -> int:
        return self.x0.shape[0]


def _flow_data(model, data, device) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(x0, noise or None, labels or None) from a Digits, a tensor of images, latents or 2-D points,
    or a :class:`Coupling`; digits are encoded to latents for a latent model (one with ``encode``)."""
    conditional = getattr(model, "num_classes", None) is not None
    if conditional and not isinstance(data, Digits):
        raise TypeError(f"data must be a Digits (images with their labels) for a class-conditional model, "
                        f"got {type(data).__name__}")
    labels = None
    if isinstance(data, Coupling):
        check_tensor("data.x0", data.x0, floating=True)
        check_same_shape("data.noise", data.noise, data.x0, "data.x0")
        x0, noise = data.x0, data.noise
    elif isinstance(data, Digits):
        x0, noise = data.images, None
        if hasattr(model, "encode"):
            x0 = model.to(device).encode(x0.to(device)).cpu()             # z_0 = s · μ_φ(x)
        if conditional:
            labels = data.labels
    elif isinstance(data, torch.Tensor):
        x0, noise = check_tensor("data", data, floating=True), None
        if x0.ndim == 4 and not hasattr(model, "encode"):
            check_images("data", x0, pixel_range=True)
    else:
        raise TypeError("data must be a Digits, a tensor (images (N, C, H, W), latents or points (N, D)) or a "
                        f"Coupling(x0, noise), got {type(data).__name__}")
    shape = tuple(model.sample_shape)
    if tuple(x0.shape[1:]) != shape or x0.shape[0] < 1:
        raise ValueError(f"data must hold samples of shape (N, {', '.join(map(str, shape))}) for this model, "
                         f"got {tuple(x0.shape)}")
    return x0, noise, labels


def train_flow(
    model: nn.Module,
    data,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int | None = 0,
    device=None,
    progress: bool = True,
    batch_size: int = 64,
    lr: float = 3e-3,
    ema_decay: float | None = 0.995,
    time_sampling: str = "logit_normal",
    grad_clip: float | None = 1.0,
    clock: str = "wall",
) -> TrainRecord:
    """Train a flow model by flow matching (or reflow, on a :class:`Coupling`); return the record.

    ``data``: a :class:`~course_lib.data.Digits` or images (N, C, H, W) in [−1, 1] for a
    :class:`FlowUNet`, digits (encoded once, at the start) or latents for a
    :class:`~course_lib.flow.latent.LatentFlow`, points (N, 2) for a
    :class:`~course_lib.flow.toy.ToyFlow`, or a :class:`Coupling` of fixed (x_0, ε) pairs (reflow:
    each step draws pairs, not fresh noise). A class-conditional model trains on a Digits, each
    x_0 with its label. Each step: a batch x_0, ε ~ N(0, I) (or the coupled ε), time from ``time_sampling``,
    :func:`flow_matching_loss`, one Adam step at the learning rate :func:`~course_lib.train_loop.lr_at`
    gives for the budget's progress, gradients clipped to norm ``grad_clip`` (``None``: off), one
    EMA update (``ema_decay=None``: no EMA). Stops after ``steps`` or ``minutes`` (whichever ends
    first; ``clock="process"`` counts this process's CPU time). At the end the EMA weights are
    copied into ``model``, left in eval mode. ``history["loss"]`` holds the per-step losses.
    """
    check_flow_model(model)
    device = resolve_device(device)
    x0_all, noise_all, labels_all = _flow_data(model, data, device)
    batch_size = check_int("batch_size", batch_size, 1)
    lr = check_float("lr", lr, 0.0, low_open=True)
    if ema_decay is not None:
        ema_decay = check_float("ema_decay", ema_decay, 0.0, 1.0, high_open=True)
    check_choice("time_sampling", time_sampling, TIME_SAMPLING)
    if grad_clip is not None:
        grad_clip = check_float("grad_clip", grad_clip, 0.0, low_open=True,
                                hint="the largest gradient norm; None turns clipping off")
    seed = None if seed is None else check_int("seed", seed, 0)
    budget = Budget(steps, minutes, desc="flow matching" if noise_all is None else "reflow",
                    progress=progress, clock=clock)

    model.to(device).train()
    x0_all = x0_all.to(device)
    noise_all = None if noise_all is None else noise_all.to(device)
    labels_all = None if labels_all is None else labels_all.to(device)
    channels_last = x0_all.ndim == 4 and device.type == "cpu" and torch.backends.mkldnn.is_available()
    if channels_last:  # the same layout trick as train_diffusion: oneDNN convolutions run faster
        model.to(memory_format=torch.channels_last)
    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
        torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    ema = EMA(model, ema_decay) if ema_decay is not None else None
    n = x0_all.shape[0]
    with one_thread_if_small(x0_all):
        for _ in budget:
            for group in opt.param_groups:
                group["lr"] = lr_at(budget.fraction, lr)
            idx = torch.randint(0, n, (batch_size,), generator=gen).to(device)
            x0 = x0_all[idx]
            noise = (torch.randn(x0.shape, generator=gen).to(device) if noise_all is None
                     else noise_all[idx])                                           # ε ~ N(0, I), or coupled
            time = sample_time(batch_size, gen, time_sampling).to(device)
            labels = None if labels_all is None else labels_all[idx]
            loss = flow_matching_loss(model, x0, noise, time, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            if ema is not None:
                ema.update(model)
            budget.log(loss=loss.detach())
    record = budget.finish()
    if ema is not None:
        model.load_state_dict(ema.model.state_dict())
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return record


def couple(teacher: nn.Module, n: int, *, nfe: int = 8, solver: str = "euler", seed: int = 0, device=None,
           batch_size: int = 250, progress: bool = True) -> Coupling:
    """``n`` reflow pairs from a trained flow model: noise ε_i (seeded) and x_0,i = ``teacher``'s ODE
    solution from it (:func:`~course_lib.flow.ode.sample_flow` with ``nfe`` and ``solver``), on the CPU.

    Pairs coupled by one ODE never cross, so a model trained on their straight lines
    (:func:`train_flow` on the :class:`Coupling`) learns straight paths (Liu et al. 2022, reflow).
    """
    check_flow_model(teacher)
    n = check_int("n", n, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0))
    noise = torch.randn((n, *teacher.sample_shape), generator=gen)
    from tqdm.auto import tqdm

    x0 = [sample_flow(teacher, chunk.shape[0], nfe=nfe, solver=solver, x_start=chunk, device=device,
                      progress=False).cpu()
          for chunk in tqdm(noise.split(batch_size), desc="coupling", disable=not progress, leave=False)]
    return Coupling(torch.cat(x0), noise)


# ----------------------------------------------------------------------------- the notebook's run budgets

#: What notebook 10 trains in each run budget (``course_lib.budget``): a class-conditional
#: :class:`~course_lib.flow.latent.LatentFlow` on ``vae_latent``'s latents (``model``: the
#: velocity network's arguments, :data:`~course_lib.flow.latent.LATENT_VELOCITY` updated), by
#: flow matching on the digits for ``minutes`` or ``steps``, whichever ends first. How the cpu
#: recipe was chosen and what a slower machine gets: :data:`CPU_RECIPE_NOTES`.
PRESETS = {
    "smoke": dict(minutes=0.5, steps=3, batch_size=16, lr=2e-3, ema_decay=0.9,
                  model=dict(base_channels=16, num_res_blocks=1)),
    "cpu": dict(minutes=9.5, steps=100_000, batch_size=128, lr=2e-3, ema_decay=0.998,
                model=dict(base_channels=64, num_res_blocks=2)),
    "gpu": dict(minutes=10.0, steps=100_000, batch_size=256, lr=2e-3, ema_decay=0.999,
                model=dict(base_channels=64, num_res_blocks=2)),
}
CPU_RECIPE_NOTES = (
    "on the course's 2-core machine with one torch thread (load average about 2), notebook 10's cpu run trained "
    "2,030 and 1,981 steps in 9.5 minutes (two runs) and reached 95 % confident digits with 4 Euler steps (class "
    "entropy 1.00, Fréchet ratio 1.0-1.2) and 90 % with 20; with half the steps (1,000, about what a machine half "
    "as fast trains: python scripts/train_flow.py latent --steps 1000 --threads 1 --batch-size 128 --lr 2e-3 "
    "--ema-decay 0.998): 97.6 % with 2 Euler steps (Fréchet ratio 1.7), 93.8 % with 4 (1.0), 90.4 % with 20 (1.4); "
    "without the class label the same recipe reached about 75 % in eight minutes"
)


def preset(budget: str | None = None, **overrides) -> dict:
    """The recipe of notebook 10 for a run budget (``smoke``/``cpu``/``gpu``; default: the active one)."""
    return preset_for(PRESETS, budget, **overrides)
