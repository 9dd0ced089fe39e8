"""Samplers: from pure noise x_{T−1} ~ N(0, I) back to an image x_0 (notebooks 04–05).

Each sampler is a pure one-step function (noise prediction ε̂, t, x_t, schedule, …) → x_{t−1},
plus a loop that calls the network. Code ``t = 0 … T−1`` is the paper's step t + 1; ᾱ_{−1} = 1.

* **DDPM ancestral step** (Ho et al. 2020, Algorithm 2):
  x_{t−1} = (x_t − β_t/√(1−ᾱ_t) · ε̂) / √α_t + σ_t z,  z ~ N(0, I),  no noise at t = 0,
  with σ_t² = β_t (``variance="beta"``) or σ_t² = β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t) · β_t
  (``variance="posterior"``); the paper found both give similar samples.
* **DDIM step** (Song et al. 2021, eq. 12) from t to any earlier s (``t_prev``; −1 = the end):
  x̂_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t,
  σ = η √((1−ᾱ_s)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_s),
  x_s = √ᾱ_s x̂_0 + √(1−ᾱ_s−σ²) · ε̂ + σ z.
  η = 0 is deterministic; η = 1 with s = t − 1 is DDPM with σ_t² = β̃_t.
* **Classifier-free guidance** (Ho & Salimans 2022, eq. 6), the convention used throughout:
  ε̃ = (1 + w) ε_θ(x_t, t, c) − w ε_θ(x_t, t, ∅). So w = 0 *is* the conditional model, w > 0
  pushes away from the unconditional prediction (more typical, less diverse digits).
  (Diffusers' ``guidance_scale`` s is this w + 1.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..validation import check_choice, check_float, check_images, check_int, check_tensor
from .reverse import (
    model_noise,
    predict_noise_from_x0,
    predict_x0_from_noise,
    reverse_mean_from_noise,
)
from .schedules import Schedule, at

VARIANCES = ("posterior", "beta")
SMALL_BATCH = 16  # at most this many images on a CPU: sample with one thread (see sample())
SAMPLERS = ("ddpm", "ddim")

#: The sampler settings notebook 04 and ``benchmarks/bench_diffusion.py`` compare, by name:
#: keyword arguments of :func:`sample`. The deterministic DDIM runs (η = 0) show what fewer steps
#: cost; the η = 1 runs add fresh noise at every jump, which lets later steps repair an imperfect
#: model's mistakes (Karras et al. 2022, §4) — on the model trained in the `cpu` budget they score clearly better.
SAMPLER_SETTINGS = {
    "DDPM-1000": dict(sampler="ddpm"),
    "DDIM-50": dict(sampler="ddim", steps=50, eta=0.0),
    "DDIM-20": dict(sampler="ddim", steps=20, eta=0.0),
    "DDIM-10": dict(sampler="ddim", steps=10, eta=0.0),
    "DDIM-100, η=1": dict(sampler="ddim", steps=100, eta=1.0),
    "DDIM-50, η=1": dict(sampler="ddim", steps=50, eta=1.0),
}


def _check_noise(name: str, value, like: torch.Tensor) -> None:
    if value is None:
        return
    check_images(name, value)
    if value.shape != like.shape:
        raise ValueError(f"{name} must have the shape of xt {tuple(like.shape)}, got {tuple(value.shape)}")


def _scalar_t(schedule: Schedule, t, name: str = "t") -> int:
    return int(schedule.check_t(t, name))


def ddpm_sigma2(t, schedule: Schedule, variance: str = "posterior") -> torch.Tensor:
    """σ_t² of the DDPM step: β̃_t for ``"posterior"``, β_t for ``"beta"`` (0-dim float64 tensor)."""
    check_choice("variance", variance, VARIANCES)
    t = _scalar_t(schedule, t)
    return (schedule.posterior_variance if variance == "posterior" else schedule.betas)[t]


def ddpm_step(
    noise_pred: torch.Tensor,
    t: int,
    xt: torch.Tensor,
    schedule: Schedule,
    variance: str = "posterior",
    noise: torch.Tensor | None = None,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One DDPM ancestral step x_t → x_{t−1} (Algorithm 2 of Ho et al. 2020).

    x_{t−1} = (x_t − β_t/√(1−ᾱ_t) · ε̂)/√α_t + σ_t z, with σ_t² = β̃_t (``variance="posterior"``)
    or β_t (``"beta"``), and **no noise at t = 0** (the last step returns the mean). ``noise`` is z
    (drawn with ``generator`` if not given). With ``clip_x0`` the mean is computed as the
    posterior mean μ̃_t from x̂_0 clipped to [−1, 1] (what DDPM's code does); without clipping both
    forms are the same number.
    """
    check_images("xt", xt)
    _check_noise("noise_pred", noise_pred, xt)
    _check_noise("noise", noise, xt)
    t = _scalar_t(schedule, t)
    sigma2 = ddpm_sigma2(t, schedule, variance)
    if clip_x0:
        x0 = predict_x0_from_noise(xt, t, noise_pred, schedule).clamp(-1, 1)
        mean = (at(schedule.posterior_mean_coef_x0, t, xt) * x0
                + at(schedule.posterior_mean_coef_xt, t, xt) * xt)
    else:
        mean = reverse_mean_from_noise(xt, t, noise_pred, schedule)
    if t == 0:
        return mean
    if noise is None:
        noise = torch.randn(xt.shape, generator=generator, device=xt.device, dtype=xt.dtype)
    return mean + sigma2.to(xt.dtype).sqrt().to(xt.device) * noise


def ddim_sigma(t: int, t_prev: int, schedule: Schedule, eta: float = 0.0) -> torch.Tensor:
    """σ = η √((1−ᾱ_s)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_s) for a DDIM jump t → s = ``t_prev`` (−1: ᾱ_s = 1)."""
    t = _scalar_t(schedule, t)
    t_prev = check_int("t_prev", t_prev, -1, t - 1, hint="an earlier timestep than t, or -1 for the end")
    eta = check_float("eta", eta, 0.0)
    a_t = schedule.alpha_bars[t]
    a_s = schedule.alpha_bars[t_prev] if t_prev >= 0 else torch.ones((), dtype=a_t.dtype)
    return eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)).sqrt()


def ddim_step(
    noise_pred: torch.Tensor,
    t: int,
    t_prev: int,
    xt: torch.Tensor,
    schedule: Schedule,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One DDIM step x_t → x_s, s = ``t_prev`` < t (Song et al. 2021, eq. 12); ``t_prev=-1`` ends.

    x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − σ²) ε̂ + σ z with x̂_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t and σ from
    :func:`ddim_sigma`. With ``clip_x0``, x̂_0 is clipped to [−1, 1] and ε̂ recomputed from it.
    """
    check_images("xt", xt)
    _check_noise("noise_pred", noise_pred, xt)
    _check_noise("noise", noise, xt)
    t = _scalar_t(schedule, t)
    sigma = ddim_sigma(t, t_prev, schedule, eta)
    x0 = predict_x0_from_noise(xt, t, noise_pred, schedule)
    if clip_x0:
        x0 = x0.clamp(-1, 1)
        noise_pred = predict_noise_from_x0(xt, t, x0, schedule)
    if t_prev < 0:
        return x0
    a_s = schedule.alpha_bars[t_prev]
    direction = (1 - a_s - sigma**2).clamp(min=0).sqrt()
    out = a_s.sqrt().to(xt.dtype) * x0 + direction.to(xt.dtype) * noise_pred
    if float(sigma) > 0:
        if noise is None:
            noise = torch.randn(xt.shape, generator=generator, device=xt.device, dtype=xt.dtype)
        out = out + sigma.to(xt.dtype) * noise
    return out


def guided_noise(
    model: nn.Module,
    xt: torch.Tensor,
    t,
    schedule: Schedule,
    labels: torch.Tensor | None = None,
    guidance_scale: float = 0.0,
) -> torch.Tensor:
    """Classifier-free guidance: ε̃ = (1 + w) ε_θ(x_t, t, c) − w ε_θ(x_t, t, ∅) with w = ``guidance_scale``.

    w = 0 returns the conditional prediction itself (one network call); ``labels=None`` returns the
    unconditional prediction ε_θ(x_t, t, ∅) (or a plain unconditional model's output). For w > 0
    both predictions are made in one batch of 2B.
    """
    w = check_float("guidance_scale", guidance_scale, 0.0)
    if labels is None:
        if w != 0.0:
            raise ValueError("guidance_scale > 0 needs labels (the class c to guide towards)")
        return model_noise(model, xt, t, schedule)
    null = getattr(model, "null_label", None)
    if null is None:
        raise ValueError("labels were given but the model has no null label (is it class-conditional?)")
    labels = torch.as_tensor(labels, device=xt.device).long()
    if w == 0.0:
        return model_noise(model, xt, t, schedule, labels)
    b = xt.shape[0]
    t_tensor = torch.as_tensor(t, device=xt.device).long()
    t2 = t_tensor.expand(b).repeat(2) if t_tensor.ndim == 0 else t_tensor.repeat(2)
    both = model_noise(
        model, xt.repeat(2, 1, 1, 1), t2, schedule,
        torch.cat([labels.expand(b), torch.full((b,), null, device=xt.device, dtype=torch.long)]),
    )
    cond, uncond = both[:b], both[b:]
    return (1 + w) * cond - w * uncond


def ddim_timesteps(num_steps: int, steps: int) -> list[int]:
    """``steps`` timesteps from T−1 down, evenly spaced ("trailing", Lin et al. 2024): τ_i = ⌊T·i/S⌉ − 1.

    The first is always T − 1 (pure noise), and ``steps == num_steps`` gives every timestep.
    """
    T = check_int("num_steps", num_steps, 1)
    S = check_int("steps", steps, 1, T, hint="number of sampling steps, at most T")
    return [int(round(T * i / S)) - 1 for i in range(S, 0, -1)]


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


def sample(
    model: nn.Module,
    schedule: Schedule,
    n: int,
    sampler: str = "ddpm",
    steps: int | None = None,
    eta: float = 0.0,
    labels=None,
    guidance_scale: float = 0.0,
    seed: int | None = None,
    return_trajectory: bool = False,
    progress: bool = True,
    variance: str = "posterior",
    clip_x0: bool = False,
    x_start: torch.Tensor | None = None,
    trajectory_points: int = 100,
    device=None,
):
    """Draw ``n`` images (n, C, H, W) in [−1, 1] by running the reverse process from pure noise.

    ``sampler``: ``"ddpm"`` (ancestral, all T steps; ``variance`` ``"posterior"`` = β̃_t or
    ``"beta"`` = β_t) or ``"ddim"`` (``steps`` evenly spaced steps, default 50, stochasticity
    ``eta``). ``labels`` (an int for all images or an (n,) tensor) and ``guidance_scale`` w use
    classifier-free guidance (see :func:`guided_noise`). ``seed`` makes the run reproducible
    (its own generator; the global RNG is untouched). ``x_start`` replaces the initial noise.
    With ``return_trajectory`` also returns a :class:`Trajectory` of up to ``trajectory_points``
    evenly spaced steps (plus the last). Output is clamped to [−1, 1]. On a CPU, batches of at
    most ``SMALL_BATCH`` images run on one thread (faster for such small layers).
    """
    check_choice("sampler", sampler, SAMPLERS)
    n = check_int("n", n, 1)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    T = schedule.num_steps
    if sampler == "ddpm":
        if steps is not None and int(steps) != T:
            raise ValueError(f"steps must be None or {T} for sampler='ddpm' (it runs every step); "
                             "use sampler='ddim' for fewer steps")
        timesteps = list(range(T - 1, -1, -1))
    else:
        timesteps = ddim_timesteps(T, 50 if steps is None else steps)
    eta = check_float("eta", eta, 0.0)
    check_choice("variance", variance, VARIANCES)
    trajectory_points = check_int("trajectory_points", trajectory_points, 1)
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(check_int("seed", seed, 0, 2**63 - 1))
    else:
        generator.seed()
    shape = (n, getattr(model, "in_channels", 1), getattr(model, "image_size", 28), getattr(model, "image_size", 28))
    if x_start is not None:
        check_images("x_start", x_start)
        if x_start.shape[0] != n:
            raise ValueError(f"x_start must hold n = {n} images, got shape {tuple(x_start.shape)}")
        x = x_start.to(device=device, dtype=torch.float32).clone()
    else:
        x = torch.randn(shape, generator=generator, device=device)
    if labels is not None:
        labels = torch.as_tensor(labels, device=device).long()
        labels = labels.expand(n) if labels.ndim == 0 else labels
        check_tensor("labels", labels, shape=(n,))
    schedule = schedule.to(device)
    stride = max(1, -(-len(timesteps) // trajectory_points))
    record_t, record_x, record_x0 = [], [], []
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    threads = torch.get_num_threads()
    if device.type == "cpu" and n <= SMALL_BATCH:
        # Tiny batches: the network's layers are too small to split across threads, and thread
        # hand-offs at every one of 1000 steps cost more than they save (measured: DDIM-50 on 4
        # images 2.6 s with one thread, 7.0 s with two, on a busy 2-core machine).
        torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for i, t in enumerate(tqdm(timesteps, desc=f"{sampler} sampling", disable=not progress, leave=False)):
                eps = guided_noise(model, x, t, schedule, labels, guidance_scale)
                if return_trajectory and (i % stride == 0 or i == len(timesteps) - 1):
                    x0 = predict_x0_from_noise(x, t, eps, schedule)
                    record_t.append(t)
                    record_x.append(x.detach().cpu())
                    record_x0.append(x0.clamp(-1, 1).detach().cpu())
                if sampler == "ddpm":
                    x = ddpm_step(eps, t, x, schedule, variance=variance, clip_x0=clip_x0, generator=generator)
                else:
                    t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
                    x = ddim_step(eps, t, t_prev, x, schedule, eta=eta, clip_x0=clip_x0, generator=generator)
    finally:
        model.train(was_training)
        torch.set_num_threads(threads)
    if not bool(torch.isfinite(x).all()):
        raise FloatingPointError("sampling produced NaN or infinite values (is the model trained and the schedule valid?)")
    images = x.clamp(-1, 1)
    if return_trajectory:
        return images, Trajectory(record_t, torch.stack(record_x), torch.stack(record_x0))
    return images
