"""Samplers: from pure noise x_{T−1} ~ N(0, I) back to an image x_0 (notebooks 04–05).

Each sampler is a bare one-step function of the predictions and x_t, plus one loop,
:func:`sample`, that checks its arguments once, calls the network and steps. Code
``t = 0 … T−1`` is the paper's step t + 1; ᾱ_{−1} = 1. The number of network evaluations of a
run is its ``nfe`` (CONVENTIONS: training iterations are ``steps``).

* **DDPM ancestral step** (Ho et al. 2020, Algorithm 2):
  x_{t−1} = μ_θ(x_t, t) + σ_t z,  z ~ N(0, I),  no noise at t = 0,
  with σ_t² = β̃_t (``variance="posterior"``) or β_t (``"beta"``); the paper found both similar.
* **DDIM step** (Song et al. 2021, eq. 12) from t to any earlier s (``t_prev``; −1 = the end).
  η = 0 is deterministic; η = 1 with s = t − 1 is DDPM with σ_t² = β̃_t.
* **Classifier-free guidance** (Ho & Salimans 2022, eq. 6), the convention used throughout:
  ε̃ = (1 + w) ε_θ(x_t, t, c) − w ε_θ(x_t, t, ∅). So w = 0 *is* the conditional model, w > 0
  pushes away from the unconditional prediction. (Diffusers' ``guidance_scale`` s is this w + 1.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..device import resolve_device
from ..validation import (
    check_choice,
    check_float,
    check_images,
    check_int,
    check_module,
    check_tensor,
)
from .forward import check_schedule
from .reverse import (
    Prediction,
    model_output,
    predict_noise_from_x0,
    predictions,
    reverse_mean_from_noise,
)
from .schedules import Schedule

VARIANCES = ("posterior", "beta")
SAMPLERS = ("ddpm", "ddim")
SMALL_BATCH = 16  # at most this many images on a CPU: sample with one thread (see sample())
DEFAULT_NFE = 50

#: The sampler settings notebook 04 and ``benchmarks/bench_diffusion.py`` compare, by name:
#: keyword arguments of :func:`sample`. The deterministic DDIM runs (η = 0) show what fewer
#: network evaluations cost; the η = 1 runs add fresh noise at every jump, which lets later steps
#: repair an imperfect model's mistakes (Karras et al. 2022, §4) — on the model trained in the
#: `cpu` budget they score clearly better.
SAMPLER_SETTINGS = {
    "DDPM-1000": dict(sampler="ddpm"),
    "DDIM-50": dict(sampler="ddim", nfe=50, eta=0.0),
    "DDIM-20": dict(sampler="ddim", nfe=20, eta=0.0),
    "DDIM-10": dict(sampler="ddim", nfe=10, eta=0.0),
    "DDIM-100, η=1": dict(sampler="ddim", nfe=100, eta=1.0),
    "DDIM-50, η=1": dict(sampler="ddim", nfe=50, eta=1.0),
}


# ----------------------------------------------------------------------------- one step, bare


def ddpm_sigma2(t: int, schedule: Schedule, variance: str = "posterior") -> torch.Tensor:
    """σ_t² of the DDPM step: β̃_t for ``"posterior"``, β_t for ``"beta"`` (0-dim float64 tensor)."""
    return (schedule.posterior_variance if variance == "posterior" else schedule.betas)[t]


def ddpm_step(noise_pred: torch.Tensor, t: int, xt: torch.Tensor, schedule: Schedule,
              variance: str = "posterior", z: torch.Tensor | None = None) -> torch.Tensor:
    """One DDPM ancestral step x_t → x_{t−1} (Algorithm 2 of Ho et al. 2020).

    ``noise_pred`` is ε̂; ``z`` the fresh N(0, I) draw (unused at t = 0, where no noise is added).
    """
    mean = reverse_mean_from_noise(xt, t, noise_pred, schedule)  # μ_θ = (x_t − β_t/√(1−ᾱ_t) ε̂)/√α_t
    if t == 0:
        return mean                                                # the last step adds no noise
    sigma = ddpm_sigma2(t, schedule, variance).sqrt().to(xt.dtype)
    return mean + sigma * z                                        # x_{t−1} = μ_θ + σ_t z


def ddim_sigma(t: int, t_prev: int, schedule: Schedule, eta: float = 0.0) -> torch.Tensor:
    """σ of a DDIM jump t → s = ``t_prev`` (−1: ᾱ_s = 1), Song et al. 2021, eq. 16."""
    alpha_bar_t = schedule.alpha_bars[t]
    alpha_bar_s = schedule.alpha_bars[t_prev] if t_prev >= 0 else torch.ones_like(alpha_bar_t)
    return eta * ((1 - alpha_bar_s) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_s)).sqrt()
    #      σ = η √((1−ᾱ_s)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)


def ddim_step(x0_pred: torch.Tensor, noise_pred: torch.Tensor, t: int, t_prev: int, xt: torch.Tensor,
              schedule: Schedule, eta: float = 0.0, z: torch.Tensor | None = None) -> torch.Tensor:
    """One DDIM step x_t → x_s, s = ``t_prev`` < t (Song et al. 2021, eq. 12); ``t_prev=-1`` ends.

    ``x0_pred`` x̂_0 and ``noise_pred`` ε̂ are the model's predictions at (x_t, t) (see
    :func:`course_lib.diffusion.reverse.predictions`); ``z`` the fresh N(0, I) draw when η > 0.
    """
    if t_prev < 0:
        return x0_pred                                          # the jump to the end returns x̂_0
    alpha_bar_s = schedule.alpha_bars[t_prev]
    sigma = ddim_sigma(t, t_prev, schedule, eta)
    direction = (1 - alpha_bar_s - sigma**2).clamp(min=0).sqrt()  # √(1 − ᾱ_s − σ²)
    x_s = alpha_bar_s.sqrt().to(xt.dtype) * x0_pred + direction.to(xt.dtype) * noise_pred
    if eta > 0:
        x_s = x_s + sigma.to(xt.dtype) * z                      # x_s = √ᾱ_s x̂_0 + √(1−ᾱ_s−σ²) ε̂ + σ z
    return x_s


def guided_output(cond: torch.Tensor, uncond: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022, eq. 6) on two predictions of one kind (ε or v)."""
    return (1 + guidance_scale) * cond - guidance_scale * uncond  # (1 + w) f(x_t, c) − w f(x_t, ∅)


def ddim_timesteps(num_steps: int, nfe: int) -> list[int]:
    """``nfe`` timesteps from T−1 down, evenly spaced ("trailing", Lin et al. 2024): τ_i = ⌊T·i/S⌉ − 1.

    The first is always T − 1 (pure noise), and ``nfe == num_steps`` gives every timestep.
    """
    return [int(round(num_steps * i / nfe)) - 1 for i in range(nfe, 0, -1)]


# ----------------------------------------------------------------------------- the network's predictions


def guided_predictions(model: nn.Module, xt: torch.Tensor, t, schedule: Schedule,
                       labels: torch.Tensor | None = None, guidance_scale: float = 0.0) -> Prediction:
    """(ε̂, x̂_0) of ``model`` at (x_t, t), with classifier-free guidance for ``labels``.

    ``labels=None``: the unconditional prediction. w = ``guidance_scale`` = 0: the conditional
    prediction (one network call). w > 0: both predictions in one batch of 2B, combined with
    :func:`guided_output` — on the raw outputs, which is the same as on ε̂ or x̂_0 since both
    depend linearly on the output.
    """
    prediction = getattr(model, "prediction", "epsilon")
    if labels is None or guidance_scale == 0:
        return predictions(model_output(model, xt, t, labels), xt, t, schedule, prediction)
    b = xt.shape[0]
    null = torch.full_like(labels, model.null_label)
    both = model(xt.repeat(2, 1, 1, 1), t, torch.cat([labels, null]))
    output = guided_output(both[:b], both[b:], guidance_scale)
    return predictions(output, xt, t, schedule, prediction)


def guided_noise(model: nn.Module, xt: torch.Tensor, t, schedule: Schedule,
                 labels: torch.Tensor | None = None, guidance_scale: float = 0.0) -> torch.Tensor:
    """The guided noise prediction ε̃ = (1 + w) ε_θ(x_t, t, c) − w ε_θ(x_t, t, ∅) (checks its arguments)."""
    check_module("model", model)
    check_images("xt", xt)
    t = check_schedule(schedule).check_t(t, batch=xt.shape[0])
    labels = check_labels(model, labels, xt.shape[0], xt.device)
    guidance_scale = _check_guidance(guidance_scale, labels)
    return guided_predictions(model, xt, t, schedule, labels, guidance_scale).noise_pred


# ----------------------------------------------------------------------------- the loop


@dataclass
class Trajectory:
    """What a sampling run passed through: at each recorded step the timestep t, x_t, and x̂_0.

    ``xt`` and ``x0_pred`` have shape (K, B, C, H, W) — K recorded steps, on the CPU.
    ``xt[k]`` is the input of the step at ``timesteps[k]``; ``x0_pred[k]`` its prediction of x_0.
    """

    timesteps: list[int]
    xt: torch.Tensor
    x0_pred: torch.Tensor

    def __len__(self) -> int:
        return len(self.timesteps)


def check_labels(model, labels, n: int, device) -> torch.Tensor | None:
    """``labels`` (None, one class, or (n,) classes) for a class-conditional ``model``, as (n,) long on
    ``device``; raises naming ``labels`` for an unconditional model or a class outside [0, num_classes)."""
    if labels is None:
        return None
    num_classes = getattr(model, "num_classes", None)
    if num_classes is None:
        raise ValueError("labels were given but the model is unconditional (build it with num_classes)")
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(check_int(
            "labels", labels, 0, num_classes - 1,
            hint=f"for unconditional samples pass labels=None, not the null label {num_classes}"))
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels must hold integer class indices, got dtype {labels.dtype}")
    labels = labels.to(device).long()
    labels = labels.expand(n) if labels.ndim == 0 else labels
    check_tensor("labels", labels, shape=(n,))
    if n and (int(labels.min()) < 0 or int(labels.max()) > num_classes - 1):
        raise ValueError(
            f"labels must be classes in [0, {num_classes - 1}], got values from {int(labels.min())} to "
            f"{int(labels.max())} (for unconditional samples pass labels=None, not the null label "
            f"{num_classes})"
        )
    return labels


def _check_guidance(guidance_scale, labels) -> float:
    w = check_float("guidance_scale", guidance_scale, 0.0, hint="w = 0 is the conditional model")
    if labels is None and w != 0:
        raise ValueError(f"guidance_scale={w:g} needs labels (the class c to guide towards)")
    return w


def check_denoiser(model) -> Schedule:
    """Raise naming ``model`` unless it is a denoiser that carries its noise schedule; return that schedule."""
    check_module("model", model)
    schedule = getattr(model, "schedule", None)
    if not isinstance(schedule, Schedule):
        raise TypeError("model must be a denoiser that carries its noise schedule (model.schedule), "
                        f"got a {type(model).__name__} without one")
    return schedule


def check_conditioning(model: nn.Module, labels, guidance_scale, n: int, device):
    """Check ``labels`` (``None``, an int, or (n,) classes) and ``guidance_scale`` w for ``model``.

    Returns ``(labels, guidance_scale)``: labels as a long (n,) tensor on ``device`` (or ``None``).
    """
    labels = check_labels(model, labels, n, device)
    return labels, _check_guidance(guidance_scale, labels)


def seeded_generator(seed: int | None, device) -> torch.Generator:
    """A random generator on ``device`` seeded with ``seed`` (``None``: a fresh random seed).

    Samplers draw from their own generator, so the global RNG is untouched.
    """
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    return generator


def denoise(
    model: nn.Module,
    x: torch.Tensor,
    path: list[int],
    *,
    labels: torch.Tensor | None = None,
    guidance_scale: float = 0.0,
    sampler: str = "ddim",
    eta: float = 0.0,
    variance: str = "posterior",
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    predict=None,
    after_step=None,
    ascend=None,
    progress: bool = True,
    desc: str = "sampling",
    trajectory_stride: int | None = None,
):
    """Walk images ``x`` (B, C, H, W), which are at timestep ``path[0]``, along the timesteps ``path``.

    Each consecutive pair (t, t_next) of ``path`` is one move; −1 is the clean end (ᾱ_{−1} = 1).

    * **Down** (t_next < t): the network's (ε̂, x̂_0) at (x_t, t) — ``predict(x, t)``, by default
      :func:`guided_predictions` with ``labels`` and ``guidance_scale`` — then one DDIM step to
      t_next (:func:`ddim_step`, stochasticity ``eta``), or with ``sampler="ddpm"`` one ancestral
      step (:func:`ddpm_step`; the path must then go down one step at a time).
    * **Up** (t_next > t): ``ascend(x, t, t_next, generator)`` returns x at t_next (a DDIM
      inversion step, or RePaint's re-noising).
    * After every move, ``after_step(x, t_next, generator)`` may change x (inpainting's merge
      with the known pixels).

    :func:`sample` walks ``ddim_timesteps(T, nfe) + [-1]`` with no hooks; the editing methods of
    :mod:`course_lib.control` use the hooks and their own paths, so there is one sampling loop.
    Bare: the caller has checked every argument. Gradients are off (a ``predict`` that needs them
    turns them on with ``torch.enable_grad()``); the model is in eval mode during the walk, and a
    CPU batch of at most ``SMALL_BATCH`` images runs on one thread. Returns ``(x, trajectory)``:
    the :class:`Trajectory` of every ``trajectory_stride``-th network evaluation and of the last
    move, or ``None`` without a stride. Raises ``FloatingPointError`` if x is not finite at the end.
    """
    schedule = model.schedule.to(x.device)
    if predict is None:
        def predict(x, t):
            return guided_predictions(model, x, t, schedule, labels, guidance_scale)
    need_z = sampler == "ddpm" or eta > 0
    moves = list(zip(path[:-1], path[1:]))
    record_t, record_x, record_x0 = [], [], []
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    threads = torch.get_num_threads()
    if x.device.type == "cpu" and x.shape[0] <= SMALL_BATCH:
        # Tiny batches: the layers are too small to split across threads, and thread hand-offs at
        # every one of 1000 steps cost more than they save (measured: DDIM-50 on 4 images 2.6 s
        # with one thread, 7.0 s with two, on a busy 2-core machine).
        torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for i, (t, t_next) in enumerate(tqdm(moves, desc=desc, disable=not progress, leave=False)):
                if t_next > t:
                    x = ascend(x, t, t_next, generator)
                else:
                    noise_pred, x0_pred = predict(x, t)
                    if clip_x0:
                        x0_pred = x0_pred.clamp(-1, 1)
                        noise_pred = predict_noise_from_x0(x, t, x0_pred, schedule)
                    if trajectory_stride and (i % trajectory_stride == 0 or i == len(moves) - 1):
                        record_t.append(t)
                        record_x.append(x.cpu())
                        record_x0.append(x0_pred.clamp(-1, 1).cpu())
                    z = torch.randn(x.shape, generator=generator, device=x.device) if need_z else None  # z ~ N(0, I)
                    if sampler == "ddpm":
                        x = ddpm_step(noise_pred, t, x, schedule, variance, z)
                    else:
                        x = ddim_step(x0_pred, noise_pred, t, t_next, x, schedule, eta, z)
                if after_step is not None:
                    x = after_step(x, t_next, generator)
    finally:
        model.train(was_training)
        torch.set_num_threads(threads)
    if not bool(torch.isfinite(x).all()):
        raise FloatingPointError("sampling produced NaN or infinite values (is the model trained?)")
    trajectory = None
    if trajectory_stride:
        trajectory = Trajectory(record_t, torch.stack(record_x), torch.stack(record_x0))
    return x, trajectory


def sampler_timesteps(schedule: Schedule, sampler: str = "ddim", nfe: int | None = None) -> list[int]:
    """The timesteps a sampler visits, T − 1 first (checks ``sampler`` and ``nfe``).

    ``"ddpm"``: every step T − 1 … 0 (``nfe`` must be ``None`` or T); ``"ddim"``: ``nfe`` (default
    :data:`DEFAULT_NFE`) evenly spaced steps, :func:`ddim_timesteps`. Used by :func:`sample` and by
    every other sampler with these knobs (notebook 08's text-to-image pipeline).
    """
    check_choice("sampler", sampler, SAMPLERS)
    T = schedule.num_steps
    if sampler == "ddpm":
        if nfe is not None and nfe != T:
            raise ValueError(f"nfe must be None or {T} for sampler='ddpm' (it runs every step); "
                             "use sampler='ddim' for fewer")
        return list(range(T - 1, -1, -1))
    nfe = check_int("nfe", DEFAULT_NFE if nfe is None else nfe, 1, T,
                    hint=f"network evaluations, at most T = {T}")
    return ddim_timesteps(T, nfe)


def sample(
    model: nn.Module,
    n: int,
    *,
    sampler: str = "ddim",
    nfe: int | None = None,
    eta: float = 0.0,
    labels=None,
    guidance_scale: float = 0.0,
    seed: int | None = None,
    device=None,
    progress: bool = True,
    return_trajectory: bool = False,
    trajectory_points: int = 100,
    variance: str = "posterior",
    clip_x0: bool = False,
    x_start: torch.Tensor | None = None,
):
    """Draw ``n`` images (n, C, H, W) in [−1, 1] from a denoiser by running the reverse process.

    The denoiser carries its noise schedule (``model.schedule``) and says what it predicts
    (``model.prediction``: ``"epsilon"`` or ``"v"``). ``sampler``: ``"ddim"`` (``nfe`` evenly
    spaced steps, default 50, stochasticity ``eta`` ≥ 0) or ``"ddpm"`` (ancestral, all T steps;
    ``variance`` ``"posterior"`` = β̃_t or ``"beta"`` = β_t). ``labels`` (an int for all images or
    an (n,) tensor of classes) and ``guidance_scale`` w use classifier-free guidance. ``seed``
    makes the run reproducible (its own generator; the global RNG is untouched). ``x_start``
    replaces the initial noise. ``clip_x0`` clips x̂_0 to [−1, 1] at every step. With
    ``return_trajectory`` also returns a :class:`Trajectory` of up to ``trajectory_points`` evenly
    spaced steps (plus the last). The output is clamped to [−1, 1]. On a CPU, batches of at most
    ``SMALL_BATCH`` images run on one thread (faster for such small layers). The loop itself is
    :func:`denoise`.
    """
    schedule = check_denoiser(model)
    check_choice("sampler", sampler, SAMPLERS)
    n = check_int("n", n, 1)
    timesteps = sampler_timesteps(schedule, sampler, nfe)
    eta = check_float("eta", eta, 0.0, hint="0 = deterministic DDIM, 1 = DDPM-like")
    check_choice("variance", variance, VARIANCES)
    trajectory_points = check_int("trajectory_points", trajectory_points, 1)
    device = resolve_device(device)
    generator = seeded_generator(seed, device)
    shape = (n, model.in_channels, model.image_size, model.image_size)
    if x_start is not None:
        check_images("x_start", x_start)
        if tuple(x_start.shape) != shape:
            raise ValueError(f"x_start must have shape {shape} (n images of the model's size), "
                             f"got {tuple(x_start.shape)}")
        x = x_start.to(device=device, dtype=torch.float32).clone()
    else:
        x = torch.randn(shape, generator=generator, device=device)
    labels, guidance_scale = check_conditioning(model, labels, guidance_scale, n, device)

    model.to(device)
    stride = max(1, -(-len(timesteps) // trajectory_points)) if return_trajectory else None
    with torch.inference_mode():
        x, trajectory = denoise(model, x, timesteps + [-1], labels=labels, guidance_scale=guidance_scale,
                                sampler=sampler, eta=eta, variance=variance, clip_x0=clip_x0,
                                generator=generator, progress=progress, desc=f"{sampler} sampling",
                                trajectory_stride=stride)
    images = x.clamp(-1, 1)
    if return_trajectory:
        return images, trajectory
    return images
