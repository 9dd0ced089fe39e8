"""Training a GAN: one alternating step and a loop with one progress bar and a history (notebook 02).

One step (Goodfellow et al. 2014, Algorithm 1, with the non-saturating generator loss):

1. D ascends V:   minimise L_D = −[mean log D(x) + mean log(1 − D(G(z)))], G(z) **detached**;
2. G descends:    minimise L_G = −mean log D(G(z)) (or mean log(1 − D(G(z))), "saturating").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..validation import check_choice, check_float, check_int, check_tensor
from .losses import GENERATOR_LOSSES, discriminator_loss, generator_loss
from .models import sample_z


@dataclass
class History:
    """What :func:`train_gan` recorded: per step the losses, D's mean outputs and G's gradient
    norm; ``snapshots`` maps a step to G(fixed_z) at that step (on the CPU); ``seconds`` of training."""

    step: list = field(default_factory=list)
    d_loss: list = field(default_factory=list)
    g_loss: list = field(default_factory=list)
    d_real: list = field(default_factory=list)
    d_fake: list = field(default_factory=list)
    g_grad_norm: list = field(default_factory=list)
    snapshots: dict = field(default_factory=dict)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.step)

    def record(self, step: int, stats: dict) -> None:
        self.step.append(step)
        for key in ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm"):
            getattr(self, key).append(stats[key])

    def mean(self, key: str, last: int | None = None) -> float:
        """Mean of one recorded series (over the ``last`` steps if given)."""
        check_choice("key", key, ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm"))
        values = getattr(self, key)
        if not values:
            raise ValueError("the history is empty: train for at least one step")
        values = values[-last:] if last else values
        return sum(values) / len(values)


def _grad_norm(module: nn.Module) -> float:
    total = 0.0
    for p in module.parameters():
        if p.grad is not None:
            total += float(p.grad.detach().pow(2).sum())
    return math.sqrt(total)


def train_step(
    generator: nn.Module,
    discriminator: nn.Module,
    real: torch.Tensor,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    *,
    loss: str = "non_saturating",
    label_smoothing: float = 0.0,
) -> dict:
    """One update of D, then one of G, on the batch ``real`` (B, ...). Returns plain floats:

    ``d_loss`` L_D, ``g_loss`` L_G, ``d_real`` mean D(x), ``d_fake`` mean D(G(z)) (before D's
    update), ``g_grad_norm`` ‖∇_θ L_G‖ over G's parameters. ``loss`` picks the generator loss
    (``"non_saturating"`` or ``"saturating"``), ``label_smoothing`` the one-sided smoothing of D's
    real targets.
    """
    check_tensor("real", real, floating=True)
    check_choice("loss", loss, GENERATOR_LOSSES)
    batch = real.shape[0]
    z = sample_z(batch, generator.latent_dim, device=real.device)
    fake = generator(z)

    # 1. discriminator: fake is detached, so L_D's gradient stops at G's output
    opt_d.zero_grad(set_to_none=True)
    real_logits = discriminator(real)
    fake_logits = discriminator(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits, label_smoothing)
    d_loss.backward()
    opt_d.step()

    # 2. generator: through the updated D, gradients flow into G
    opt_g.zero_grad(set_to_none=True)
    g_loss = generator_loss(discriminator(fake), loss)
    g_loss.backward()
    g_grad_norm = _grad_norm(generator)
    opt_g.step()
    opt_d.zero_grad(set_to_none=True)  # G's step also filled D's grads; they are not used

    d_value, g_value = d_loss.item(), g_loss.item()
    if not (math.isfinite(d_value) and math.isfinite(g_value)):
        raise FloatingPointError(f"training diverged: L_D={d_value}, L_G={g_value}")
    return {
        "d_loss": d_value,
        "g_loss": g_value,
        "d_real": float(torch.sigmoid(real_logits.detach()).mean()),
        "d_fake": float(torch.sigmoid(fake_logits.detach()).mean()),
        "g_grad_norm": g_grad_norm,
    }


@torch.no_grad()
def generate(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G(z) in evaluation mode (batch norm uses its running statistics), on the CPU; the model's
    train/eval mode is restored afterwards."""
    was_training = generator.training
    generator.eval()
    try:
        device = next(generator.parameters()).device
        return generator(z.to(device)).cpu()
    finally:
        generator.train(was_training)


def make_optimizers(generator: nn.Module, discriminator: nn.Module, lr: float = 2e-4, lr_d: float | None = None, betas=(0.5, 0.999)):
    """Adam for G and for D with the DCGAN settings: lr 2e-4, betas (0.5, 0.999) (Radford et al.)."""
    lr = check_float("lr", lr, 0.0, low_open=True)
    lr_d = lr if lr_d is None else check_float("lr_d", lr_d, 0.0, low_open=True)
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas}")
    betas = (check_float("betas[0]", betas[0], 0.0, 1.0, high_open=True),
             check_float("betas[1]", betas[1], 0.0, 1.0, high_open=True))
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)
    return opt_g, opt_d


def _batches(data, batch_size: int, device, generator: torch.Generator | None):
    """Endless minibatches: from a tensor (reshuffled every epoch) or a callable ``data(batch_size)``."""
    if callable(data):
        while True:
            yield data(batch_size).to(device)
    n = data.shape[0]
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield data[order[start : start + batch_size]].to(device)


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: torch.Tensor | Callable[[int], torch.Tensor],
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 2e-4,
    lr_d: float | None = None,
    betas: Sequence[float] = (0.5, 0.999),
    loss: str = "non_saturating",
    label_smoothing: float = 0.0,
    fixed_z: torch.Tensor | None = None,
    snapshot_steps: Sequence[int] = (),
    device=None,
    progress: bool = True,
    desc: str = "GAN",
    optimizers=None,
) -> History:
    """Train G and D for ``steps`` alternating steps (:func:`train_step`) with one progress bar.

    ``data`` is a tensor of real samples (N, ...) drawn in shuffled minibatches of ``batch_size``,
    or a function returning a fresh batch. Adam with ``lr`` (``lr_d`` for D if given) and
    ``betas`` unless ``optimizers=(opt_g, opt_d)`` is passed (to continue a run). At every step in
    ``snapshot_steps`` (0 = before training) G(``fixed_z``) is stored in ``history.snapshots``,
    so the same latent vectors can be watched improving.
    """
    steps = check_int("steps", steps, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    if not callable(data):
        check_tensor("data", data, floating=True)
        if data.shape[0] < batch_size:
            raise ValueError(f"batch_size must be at most the number of samples ({data.shape[0]}), got {batch_size}")
    snapshot_steps = sorted({check_int("snapshot_steps[i]", s, 0, steps) for s in snapshot_steps})
    if snapshot_steps and fixed_z is None:
        raise ValueError("snapshot_steps needs fixed_z, the latent vectors to render")
    if device is None:
        device = next(generator.parameters()).device
    generator.to(device)
    discriminator.to(device)
    if optimizers is None:
        opt_g, opt_d = make_optimizers(generator, discriminator, lr, lr_d, betas)
    else:
        opt_g, opt_d = optimizers
    generator.train()
    discriminator.train()

    from tqdm.auto import tqdm

    history = History()
    if 0 in snapshot_steps:
        history.snapshots[0] = generate(generator, fixed_z)
    batches = _batches(data, batch_size, device, None)
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc=desc, disable=not progress, mininterval=0.5)
    for step in bar:
        stats = train_step(generator, discriminator, next(batches), opt_g, opt_d, loss=loss, label_smoothing=label_smoothing)
        history.record(step, stats)
        if step in snapshot_steps:
            history.snapshots[step] = generate(generator, fixed_z)
        if step % 25 == 0 or step == steps:
            bar.set_postfix(L_D=f"{stats['d_loss']:.3f}", L_G=f"{stats['g_loss']:.3f}", refresh=False)
    bar.close()
    history.seconds = time.perf_counter() - start
    return history
