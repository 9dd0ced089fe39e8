"""Diffusion and flow matching on 2-D points, where every arrow can be drawn (notebook 10).

Two tiny MLPs of the same shape (:class:`TimeMLP`: the point and a sinusoidal embedding of the
time in, a 2-D vector out), trained in seconds on the toy sets of :mod:`course_lib.data` (two
moons, swiss roll, ring of 8 Gaussians):

* :class:`ToyDenoiser` is a diffusion model like notebook 04's U-Net (v objective, the course's
  cosine schedule), so the samplers of :mod:`course_lib.diffusion.samplers` run on it unchanged
  (DDPM, DDIM), and :func:`score_field` draws its score −ε̂/√(1−ᾱ_t), with ε̂ read off its output
  (:func:`course_lib.diffusion.reverse.predictions`, :func:`course_lib.flow.ode.score_from_noise`);
* :class:`ToyFlow` predicts the velocity of flow matching at continuous ``time`` ∈ [0, 1]
  (0 = data, 1 = noise), trained by :func:`course_lib.flow.matching.train_flow`.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from ..device import resolve_device
from ..diffusion.reverse import diffusion_loss, predictions
from ..diffusion.samplers import denoise, seeded_generator
from ..diffusion.schedules import make_schedule
from ..diffusion.unet import DEFAULT_SCHEDULE, timestep_embedding
from ..train_loop import Budget, TrainRecord, lr_at
from ..validation import check_float, check_int, check_module, check_tensor
from .ode import one_thread_if_small, score_from_noise


class TimeMLP(nn.Module):
    """f(x, s) for points x (B, 2) and a time input s (B,): [x, emb(s)] → ``hidden`` × ``layers`` → 2."""

    def __init__(self, hidden: int = 128, layers: int = 3, time_dim: int = 32, dim: int = 2):
        super().__init__()
        self.hidden = check_int("hidden", hidden, 8)
        self.layers = check_int("layers", layers, 1, 8)
        self.time_dim = check_int("time_dim", time_dim, 2)
        self.dim = check_int("dim", dim, 1)
        sizes = [self.dim + self.time_dim] + [self.hidden] * self.layers
        blocks = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            blocks += [nn.Linear(a, b), nn.SiLU()]
        self.body = nn.Sequential(*blocks, nn.Linear(self.hidden, self.dim))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def mlp(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """The network on points ``x`` (B, dim) at time inputs ``s`` (B,) on a 0…1000 scale."""
        return self.body(torch.cat([x, timestep_embedding(s, self.time_dim)], dim=1))


class ToyDenoiser(TimeMLP):
    """A denoiser of 2-D points: v̂(x_t, t) on the course's cosine schedule (``model.schedule``).

    The v objective, as for the course's U-Net: with the ε objective, the first DDIM step from the
    cosine schedule's last step divides ε̂'s error by √ᾱ_{T−1} ≈ 5·10⁻⁵ and throws the points far off.
    """

    prediction = "v"

    def __init__(self, hidden: int = 128, layers: int = 3, schedule: dict | None = None):
        super().__init__(hidden, layers)
        self.schedule_config = dict(DEFAULT_SCHEDULE if schedule is None else schedule)
        self.schedule = make_schedule(**self.schedule_config)

    def forward(self, xt: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t, device=xt.device)
        t = t.expand(xt.shape[0]) if t.ndim == 0 else t
        return self.mlp(xt, t.float())


class ToyFlow(TimeMLP):
    """velocity_θ(x_time, time) for 2-D points, ``time`` ∈ [0, 1] (0 = data, 1 = noise)."""

    def forward(self, xt: torch.Tensor, time) -> torch.Tensor:
        time = torch.as_tensor(time, device=xt.device, dtype=torch.float32)
        time = time.expand(xt.shape[0]) if time.ndim == 0 else time
        return self.mlp(xt, 1000 * time)


def check_points(name: str, points) -> torch.Tensor:
    """Raise naming ``name`` unless ``points`` is a finite float tensor of shape (N, 2) with N ≥ 1."""
    check_tensor(name, points, shape=(None, 2), floating=True)
    if points.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one point")
    return points


def train_toy_diffusion(
    model: ToyDenoiser,
    points: torch.Tensor,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int | None = 0,
    device=None,
    progress: bool = True,
    batch_size: int = 512,
    lr: float = 3e-3,
) -> TrainRecord:
    """Train a :class:`ToyDenoiser` on points (N, 2) with DDPM's simplified loss; return the record.

    Each step: a batch x_0, t ~ U{0…T−1}, ε ~ N(0, I), :func:`~course_lib.diffusion.reverse.diffusion_loss`,
    one Adam step at :func:`~course_lib.train_loop.lr_at` of the budget's progress. A few thousand
    steps (seconds on a CPU) are enough for the toy sets.
    """
    if not isinstance(model, ToyDenoiser):
        raise TypeError(f"model must be a ToyDenoiser, got {type(model).__name__}")
    check_points("points", points)
    batch_size = check_int("batch_size", batch_size, 1)
    lr = check_float("lr", lr, 0.0, low_open=True)
    seed = None if seed is None else check_int("seed", seed, 0)
    budget = Budget(steps, minutes, desc="toy diffusion", progress=progress)
    device = resolve_device(device)
    model.to(device).train()
    points = points.to(device)
    schedule = model.schedule.to(device)
    gen = torch.Generator().manual_seed(seed) if seed is not None else torch.Generator()
    if seed is not None:
        torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    with one_thread_if_small(points):
        for _ in budget:
            for group in opt.param_groups:
                group["lr"] = lr_at(budget.fraction, lr)
            x0 = points[torch.randint(0, points.shape[0], (batch_size,), generator=gen).to(device)]
            t = torch.randint(0, schedule.num_steps, (batch_size,), generator=gen).to(device)  # t ~ U{0…T−1}
            noise = torch.randn(x0.shape, generator=gen).to(device)                           # ε ~ N(0, I)
            loss = diffusion_loss(model, x0, t, noise, schedule)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            budget.log(loss=loss.detach())
    record = budget.finish()
    model.eval()
    return record


# ----------------------------------------------------------------------------- what the figures draw


def field_grid(lim: float = 2.5, size: int = 21) -> torch.Tensor:
    """A ``size`` × ``size`` grid of points covering [−lim, lim]², shape (size², 2)."""
    axis = torch.linspace(-lim, lim, size)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    return torch.stack([gx.flatten(), gy.flatten()], dim=1)


def score_field(model: ToyDenoiser, t: int, grid: torch.Tensor) -> torch.Tensor:
    """The learned score −ε̂(x, t)/√(1−ᾱ_t) at the ``grid`` points (G, 2), on the CPU."""
    if not isinstance(model, ToyDenoiser):
        raise TypeError(f"model must be a ToyDenoiser, got {type(model).__name__}")
    t = model.schedule.check_t(t)
    check_points("grid", grid)
    model.to("cpu")
    with torch.no_grad():
        noise_pred, _ = predictions(model(grid, t), grid, t, model.schedule, model.prediction)
    return score_from_noise(noise_pred, model.schedule.alpha_bars[t].float())


def velocity_field(model: ToyFlow, time: float, grid: torch.Tensor) -> torch.Tensor:
    """The learned velocity velocity_θ(x, time) at the ``grid`` points (G, 2), on the CPU."""
    check_module("model", model)
    time = check_float("time", time, 0.0, 1.0, hint="0 = data, 1 = noise")
    check_points("grid", grid)
    with torch.no_grad():
        return model(grid, time)


def toy_trajectories(model: ToyDenoiser, n: int = 64, *, sampler: str = "ddpm", nfe: int = 1000,
                     seed: int = 0, points: int = 100):
    """Sample ``n`` points from a :class:`ToyDenoiser` and keep the path of each.

    ``sampler="ddpm"``: DDPM's ancestral sampler (every step, stochastic); ``"ode"``: the
    probability-flow ODE solved by DDIM with η = 0 (its Euler step, see :mod:`course_lib.flow.ode`)
    with ``nfe`` evaluations. The same starting noise for the same ``seed``. Returns the
    :class:`~course_lib.diffusion.samplers.Trajectory` (about ``points`` recorded states, and the end).
    """
    if not isinstance(model, ToyDenoiser):
        raise TypeError(f"model must be a ToyDenoiser, got {type(model).__name__}")
    n = check_int("n", n, 1)
    if sampler not in ("ddpm", "ode"):
        raise ValueError(f"sampler must be 'ddpm' or 'ode', got {sampler!r}")
    T = model.schedule.num_steps
    nfe = T if sampler == "ddpm" else check_int("nfe", nfe, 1, T)
    from ..diffusion.samplers import ddim_timesteps

    generator = seeded_generator(check_int("seed", seed, 0), torch.device("cpu"))
    x = torch.randn(n, 2, generator=generator)
    path = (list(range(T - 1, -1, -1)) if sampler == "ddpm" else ddim_timesteps(T, nfe)) + [-1]
    stride = max(1, nfe // check_int("points", points, 1))
    model.to("cpu")
    with one_thread_if_small(x):
        x_end, trajectory = denoise(model, x, path, sampler="ddpm" if sampler == "ddpm" else "ddim", eta=0.0,
                                    generator=generator, progress=False, trajectory_stride=stride)
    trajectory.xt = torch.cat([trajectory.xt, x_end[None]])  # the path's last point: the sample
    trajectory.timesteps = [*trajectory.timesteps, -1]
    return trajectory


# ----------------------------------------------------------------------------- ready-made models (slides)


@functools.lru_cache(maxsize=8)
def trained_toy_models(dataset: str = "moons", steps: int = 500, points: int = 2000, seed: int = 0) -> dict:
    """A :class:`ToyDenoiser`, a :class:`ToyFlow` and its reflowed twin, trained on one toy set in seconds.

    Returns ``{"points", "denoiser", "flow", "reflow"}`` (cached per arguments: the slides draw
    several figures from one set of models). The reflow model is trained on ``points`` pairs
    coupled by the flow model's ODE (100 Euler steps).
    """
    from ..data import toy_data
    from .training import couple, train_flow

    data = toy_data(dataset, check_int("points", points, 10), generator=torch.Generator().manual_seed(seed))
    denoiser, flow, straight = ToyDenoiser(), ToyFlow(), ToyFlow()
    train_toy_diffusion(denoiser, data, steps=steps, seed=seed, progress=False)
    fit = dict(steps=steps, batch_size=512, lr=3e-3, ema_decay=None, seed=seed, progress=False)
    train_flow(flow, data, **fit)
    train_flow(straight, couple(flow, points, nfe=100, seed=seed + 1, progress=False), **fit)
    return {"points": data, "denoiser": denoiser, "flow": flow, "reflow": straight}
