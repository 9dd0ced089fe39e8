"""Training a GAN and drawing from it (notebook 02).

One step (Goodfellow et al. 2014, Algorithm 1 with k = 1, and the non-saturating loss of §3):

1. D ascends V:  minimise L_D = −[mean log D(x) + mean log(1 − D(G(z)))] on G(z) **detached**;
2. G descends:   minimise L_G = −mean log D(G(z)) through the D just updated ("real" labels).

With ``loss="hinge"`` both players use the hinge losses instead (:mod:`.losses`): the recipe of the
shipped DCGAN (spectrally normalised D, Miyato et al. 2018).

:func:`train_step` is that step, bare (it is also the solution of notebook 02's exercise);
:func:`train_gan` checks its arguments once, then loops under a :class:`~course_lib.train_loop.Budget`
and returns a :class:`~course_lib.train_loop.TrainRecord`; :func:`generate` draws samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..device import resolve_device, seed_everything
from ..train_loop import Budget, TrainRecord
from ..validation import (
    check_choice,
    check_float,
    check_images,
    check_int,
    check_module,
    check_tensor,
)
from .losses import GENERATOR_LOSSES, discriminator_loss, discriminator_loss_hinge, generator_loss, info_loss
from .models import CodeHead

#: The per-step series :func:`train_gan` records in ``record.history``.
HISTORY_KEYS = ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm")


def train_step(generator, discriminator, real, z, opt_g, opt_d, *, loss="non_saturating", label_smoothing=0.0,
               code_head=None, info_weight=1.0):
    """One update of D, then one of G, on the batch ``real`` and the latent vectors ``z``.

    ``loss`` is G's loss (``"non_saturating"``, ``"saturating"``) with D's cross-entropy loss, or
    ``"hinge"`` for the hinge loss of both. Returns ``(d_loss, g_loss, real_logits, fake_logits)``,
    detached: L_D (before D's update), L_G (through the updated D) and D's logits on the real and
    the fake batch.

    ``code_head``: a :class:`~course_lib.gan.models.CodeHead` Q for a generator with a code
    (InfoGAN); G and Q then minimise L_G + ``info_weight``·L_I together, so ``opt_g`` must hold Q's
    parameters too, and a fifth item follows: L_I (``g_loss`` stays L_G alone).
    """
    fake = generator(z)                                       # G(z), still attached to G's graph

    # 1. the discriminator: G(z) is detached, so L_D's gradient stops at G's output
    opt_d.zero_grad(set_to_none=True)
    real_logits = discriminator(real)                         # a(x),    D(x) = σ(a(x))
    fake_logits = discriminator(fake.detach())                # a(G(z)), no path back into G
    if loss == "hinge":
        d_loss = discriminator_loss_hinge(real_logits, fake_logits)          # E max(0, 1−a) + E max(0, 1+a)
    else:
        d_loss = discriminator_loss(real_logits, fake_logits, label_smoothing)  # L_D = −V̂(D, G)
    d_loss.backward()
    opt_d.step()

    # 2. the generator: through the updated D; "real" labels on fakes = the non-saturating loss
    opt_g.zero_grad(set_to_none=True)
    g_loss = generator_loss(discriminator(fake), loss)        # L_G = −mean log D(G(z)) (hinge: −mean a)
    if code_head is None:
        g_loss.backward()
        opt_g.step()
        return d_loss.detach(), g_loss.detach(), real_logits.detach(), fake_logits.detach()
    i_loss = info_loss(code_head(fake), generator.code(z))    # L_I = −mean log Q(c | G(z))
    (g_loss + info_weight * i_loss).backward()                # G and Q: L_G + λ·L_I
    opt_g.step()
    return d_loss.detach(), g_loss.detach(), real_logits.detach(), fake_logits.detach(), i_loss.detach()


def _grad_norm(module: nn.Module) -> torch.Tensor:
    """‖∇θ L‖ over the gradients a backward pass left in ``module``'s parameters."""
    grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.cat(grads)) if grads else torch.zeros(())


@torch.no_grad()
def _render(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G(z) in evaluation mode (batch norm uses its running statistics), on the CPU; the model's
    train/eval mode is restored afterwards."""
    was_training = generator.training
    generator.eval()
    try:
        return generator(z).cpu()
    finally:
        generator.train(was_training)


def _latent_dim(generator) -> int:
    check_module("generator", generator)
    latent_dim = getattr(generator, "latent_dim", None)
    if not isinstance(latent_dim, int):
        raise TypeError(f"generator must have an integer attribute latent_dim (the size of z), "
                        f"got {type(generator).__name__} without one")
    return latent_dim


def generate(generator: nn.Module, n: int | None = None, *, z: torch.Tensor | None = None,
             seed: int | None = None, device=None) -> torch.Tensor:
    """Samples G(z), on the CPU: ``n`` of them from fresh z ~ N(0, I) (drawn with ``seed`` if
    given, so the same seed gives the same samples on every device), or one per row of ``z``
    (B, latent_dim). The generator runs in evaluation mode on ``device`` (``None``: the best
    available) and keeps its train/eval mode.
    """
    latent_dim = _latent_dim(generator)
    if (n is None) == (z is None):
        raise ValueError("give n (how many samples to draw) or z (the latent vectors), not both"
                         if z is not None else "give n (how many samples to draw) or z (the latent vectors)")
    if z is None:
        n = check_int("n", n, 1)
        rng = None if seed is None else torch.Generator().manual_seed(check_int("seed", seed, 0, 2**63 - 1))
        z = torch.randn(n, latent_dim, generator=rng)
    else:
        if seed is not None:
            raise ValueError("seed draws z: pass z or seed, not both")
        check_tensor("z", z, shape=(None, latent_dim), floating=True)
    device = resolve_device(device)
    return _render(generator.to(device), z.to(device, torch.float32))


def with_code(z: torch.Tensor, code: int, codes: int) -> torch.Tensor:
    """z (B, latent_dim) with its categorical code set to ``code``: in each row, coordinate ``code`` and the largest of
    the first ``codes`` coordinates swap places. Swapping coordinates of z ~ N(0, I) keeps it
    N(0, I), so the rows are exact draws of z given c = ``code`` (no rejection needed)."""
    check_tensor("z", z, ndim=2, floating=True)
    codes = check_int("codes", codes, 2, z.shape[1])
    code = check_int("code", code, 0, codes - 1)
    z = z.clone()
    rows, top = torch.arange(z.shape[0]), z[:, :codes].argmax(1)
    z[rows, top], z[rows, code] = z[rows, code], z[rows, top]      # swap z_top ↔ z_code
    return z


def code_grid(generator: nn.Module, per_code: int = 8, *, seed: int = 0, device=None) -> torch.Tensor:
    """``per_code`` samples for each category of a generator's code, category by category: images
    (codes·per_code, C, H, W) on the CPU, to show with ``show_images(..., nrow=per_code)`` (one row a
    category). The rows share their z apart from the code, drawn with ``seed``."""
    latent_dim = _latent_dim(generator)
    codes = getattr(generator, "codes", 0)
    if not codes:
        raise ValueError("generator has no code (codes=0): build it with DCGANGenerator(codes=K)")
    per_code = check_int("per_code", per_code, 1)
    z = torch.randn(per_code, latent_dim, generator=torch.Generator().manual_seed(check_int("seed", seed, 0)))
    return generate(generator, z=torch.cat([with_code(z, k, codes) for k in range(codes)]), device=device)


def interpolate_z(z_start: torch.Tensor, z_end: torch.Tensor, weights) -> torch.Tensor:
    """z_w = (1 − w) z_start + w z_end for every w in ``weights``: a straight walk through the
    latent space, shape (len(weights), latent_dim) for vectors of shape (latent_dim,)."""
    check_tensor("z_start", z_start, ndim=1, floating=True)
    check_tensor("z_end", z_end, shape=tuple(z_start.shape), floating=True)
    weights = check_tensor("weights", torch.as_tensor(weights, dtype=z_start.dtype), ndim=1)
    w = weights[:, None]
    return (1 - w) * z_start + w * z_end                      # z_w = (1 − w) z_0 + w z_1


def latent_walk(generator: nn.Module, num: int = 11, *, seed: int = 0, device=None) -> torch.Tensor:
    """G(z_w) along the straight line z_w = (1 − w) z_0 + w z_1 between two latent vectors drawn
    with ``seed``, at ``num`` evenly spaced weights w = 0 … 1: images (num, C, H, W) on the CPU,
    for :func:`~course_lib.gan.plot_latent_walk`."""
    num = check_int("num", num, 2)
    seed = check_int("seed", seed, 0, 2**63 - 1)
    z_start, z_end = torch.randn(2, _latent_dim(generator), generator=torch.Generator().manual_seed(seed))
    return generate(generator, z=interpolate_z(z_start, z_end, torch.linspace(0, 1, num)), device=device)


def _check_optimizers(optimizers, generator: nn.Module, discriminator: nn.Module, code_head=None) -> None:
    """``optimizers`` must be a pair (opt_g, opt_d) of torch optimizers over exactly G's (and Q's) and D's parameters."""
    if not (isinstance(optimizers, (tuple, list)) and len(optimizers) == 2
            and all(isinstance(o, torch.optim.Optimizer) for o in optimizers)):
        raise TypeError(f"optimizers must be a pair (opt_g, opt_d) of torch.optim optimizers, got {optimizers!r}")
    g_params = [*generator.parameters(), *(code_head.parameters() if code_head is not None else ())]
    which_g = "generator's" if code_head is None else "generator's and the code head's"
    for name, opt, params, which in (("optimizers[0]", optimizers[0], g_params, which_g),
                                     ("optimizers[1]", optimizers[1], list(discriminator.parameters()), "discriminator's")):
        held = {id(p) for group in opt.param_groups for p in group["params"]}
        if held != {id(p) for p in params}:
            raise ValueError(f"{name} must optimise exactly the {which} parameters, but it holds "
                             f"{len(held)} tensors that are not all and only the {which}")


def _check_code_head(code_head, generator: nn.Module) -> None:
    """A code head needs a generator with a code of as many categories."""
    if not isinstance(code_head, CodeHead):
        raise TypeError(f"code_head must be a course_lib.gan.CodeHead, got {type(code_head).__name__}")
    codes = getattr(generator, "codes", 0)
    if code_head.codes != codes:
        raise ValueError(f"code_head recognises {code_head.codes} categories but the generator reads "
                         f"{codes} off z (its codes={codes}); build both with the same number")


def _batches(data, batch_size: int, rng: torch.Generator):
    """Endless minibatches: from a tensor (reshuffled every epoch) or a callable ``data(batch_size)``."""
    if callable(data):
        while True:
            yield data(batch_size)
    n = data.shape[0]
    while True:
        order = torch.randperm(n, generator=rng)
        for start in range(0, n - batch_size + 1, batch_size):
            yield data[order[start : start + batch_size]]


def _check_samples(name: str, value) -> torch.Tensor:
    """Image batches (4-D) must be float images in [−1, 1]; other samples finite floats."""
    if isinstance(value, torch.Tensor) and value.ndim == 4:
        return check_images(name, value, pixel_range=True)
    return check_tensor(name, value, floating=True)


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: torch.Tensor | Callable[[int], torch.Tensor],
    *,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    device=None,
    progress: bool = True,
    batch_size: int = 64,
    lr: float = 2e-4,
    lr_d: float | None = None,
    betas: Sequence[float] = (0.5, 0.999),
    loss: str = "non_saturating",
    label_smoothing: float = 0.0,
    fixed_z: torch.Tensor | None = None,
    snapshot_steps: Sequence[int] = (),
    desc: str = "GAN",
    ema=None,
    optimizers=None,
    code_head=None,
    info_weight: float = 1.0,
) -> TrainRecord:
    """Train G and D with :func:`train_step` for ``steps`` steps or ``minutes`` minutes (whichever
    comes first), under one progress bar; return the :class:`~course_lib.train_loop.TrainRecord`.

    ``data``: real samples (N, ...) drawn in minibatches of ``batch_size`` reshuffled every epoch
    (images in [−1, 1]), or a function returning a fresh batch ``data(batch_size)``. Adam with
    ``lr`` (``lr_d`` for D if given) and ``betas``; ``loss`` is G's loss (``"non_saturating"`` or
    ``"saturating"``, D then minimises the cross-entropy) or ``"hinge"`` (both players' hinge
    losses), ``label_smoothing`` the one-sided smoothing of D's real targets (cross-entropy only). ``seed``
    seeds everything, and the minibatch order and the z of every step come from their own stream
    seeded with it, so a run repeats exactly on the same device. The models move to ``device``
    (``None``: the best available).

    ``record.history`` holds per step ``d_loss`` L_D, ``g_loss`` L_G, ``d_real`` mean D(x),
    ``d_fake`` mean D(G(z)) (before D's update) and ``g_grad_norm`` ‖∇θ L_G‖.
    ``record.snapshots[s]`` is G(``fixed_z``) after s steps for every s in ``snapshot_steps``
    (0 = before training) and at the end: the same latent vectors, watched improving.
    ``ema``: an optional :class:`~course_lib.ema.EMA` of the generator, updated after every step
    (sample from ``ema.model``; ``scripts/train_dcgan.py`` ships it); the snapshots then show
    ``ema.model``, the weights that would ship.
    ``optimizers``: a pair ``(opt_g, opt_d)`` of optimizers of G's and D's parameters to continue
    with (their moments carry over from an earlier call; ``lr``, ``lr_d`` and ``betas`` are then
    theirs); by default fresh ``Adam`` optimizers. ``scripts/train_dcgan.py --resume`` uses it.
    ``code_head``: a :class:`~course_lib.gan.CodeHead` Q for a generator built with ``codes=K``
    (InfoGAN): G and Q minimise L_G + ``info_weight``·L_I with G's optimizer (which then holds Q's
    parameters), and ``record.history["info_loss"]`` is L_I per step.
    """
    latent_dim = _latent_dim(generator)
    check_module("discriminator", discriminator)
    if getattr(discriminator, "sigmoid_output", False):
        raise ValueError("discriminator must return logits, but it ends in a Sigmoid (sigmoid_output=True); "
                         "build it with sigmoid_output=False: the same network, whose Sigmoid then "
                         "happens inside the loss (BCEWithLogitsLoss)")
    budget = Budget(steps, minutes, desc=desc, progress=progress)
    seed = seed_everything(seed)
    device = resolve_device(device)
    batch_size = check_int("batch_size", batch_size, 1)
    lr = check_float("lr", lr, 0.0, low_open=True)
    lr_d = lr if lr_d is None else check_float("lr_d", lr_d, 0.0, low_open=True)
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    betas = tuple(check_float(f"betas[{i}]", b, 0.0, 1.0, high_open=True) for i, b in enumerate(betas))
    check_choice("loss", loss, GENERATOR_LOSSES)
    label_smoothing = check_float("label_smoothing", label_smoothing, 0.0, 0.5, high_open=True)
    if loss == "hinge" and label_smoothing:
        raise ValueError(f"label_smoothing smooths the cross-entropy's real targets; the hinge loss has none: "
                         f"use label_smoothing=0 with loss='hinge', got {label_smoothing}")
    pack = getattr(discriminator, "pack", 1)
    if batch_size % pack:
        raise ValueError(f"batch_size must be a multiple of the discriminator's pack={pack}, got {batch_size}")
    if callable(data):
        sample = _check_samples("data(batch_size)", data(batch_size))
    else:
        sample = _check_samples("data", data)
        if sample.shape[0] < batch_size:
            raise ValueError(f"batch_size must be at most the number of samples in data ({sample.shape[0]}), "
                             f"got {batch_size}")
    made = _render(generator.to(device), torch.zeros(2, latent_dim, device=device)).shape[1:]
    if made != sample.shape[1:]:
        raise ValueError(f"the generator makes samples of shape {tuple(made)} but data holds samples of "
                         f"shape {tuple(sample.shape[1:])}")
    wanted = getattr(discriminator, "in_shape", None)
    if wanted is not None and tuple(wanted) != tuple(made):
        raise ValueError(f"the discriminator takes samples of shape {tuple(wanted)} but data holds samples "
                         f"of shape {tuple(sample.shape[1:])}")
    if ema is not None:
        from ..ema import EMA

        if not isinstance(ema, EMA):
            raise TypeError(f"ema must be a course_lib.ema.EMA of the generator, got {type(ema).__name__}")
    if code_head is not None:
        _check_code_head(code_head, generator)
        info_weight = check_float("info_weight", info_weight, 0.0, low_open=True)
    if optimizers is not None:
        _check_optimizers(optimizers, generator, discriminator, code_head)
    snapshot_steps = sorted({check_int(f"snapshot_steps[{i}]", s, 0, budget.max_steps)
                             for i, s in enumerate(snapshot_steps)})
    if fixed_z is not None:
        fixed_z = check_tensor("fixed_z", fixed_z, shape=(None, latent_dim), floating=True).to(device)
    elif snapshot_steps:
        raise ValueError("snapshot_steps needs fixed_z, the latent vectors to render")

    rng = torch.Generator().manual_seed(seed)                 # minibatch order and every z
    batches = _batches(data, batch_size, rng)
    discriminator.to(device).train()
    generator.train()
    if ema is not None:
        ema.model.to(device)
    if code_head is not None:
        code_head.to(device).train()
    if optimizers is None:
        g_params = [*generator.parameters(), *(code_head.parameters() if code_head is not None else ())]
        opt_g = torch.optim.Adam(g_params, lr=lr, betas=betas)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)
    else:
        opt_g, opt_d = optimizers
    watched = generator if ema is None else ema.model         # what the snapshots show
    if 0 in snapshot_steps:
        budget.snapshot(_render(watched, fixed_z), step=0)
    for step in budget:
        real = next(batches).to(device, torch.float32)
        z = torch.randn(batch_size, latent_dim, generator=rng).to(device)
        d_loss, g_loss, real_logits, fake_logits, *i_loss = train_step(
            generator, discriminator, real, z, opt_g, opt_d, loss=loss, label_smoothing=label_smoothing,
            code_head=code_head, info_weight=info_weight)
        if ema is not None:
            ema.update(generator)                             # θ_EMA ← d·θ_EMA + (1 − d)·θ
        extra = {"info_loss": i_loss[0]} if i_loss else {}
        budget.log(d_loss=d_loss, g_loss=g_loss, d_real=torch.sigmoid(real_logits).mean(),
                   d_fake=torch.sigmoid(fake_logits).mean(), g_grad_norm=_grad_norm(generator), **extra)
        if step + 1 in snapshot_steps:
            budget.snapshot(_render(watched, fixed_z), step=step + 1)
    if fixed_z is not None and budget.step not in budget.snapshots:
        budget.snapshot(_render(watched, fixed_z), step=budget.step)
    return budget.finish()
