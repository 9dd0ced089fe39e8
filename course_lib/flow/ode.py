"""Diffusion as an ordinary differential equation, and the solvers that integrate it (notebook 10).

**Time convention**: continuous ``time`` ∈ [0, 1], time = 0 is the data and time = 1 is pure noise
(the direction of the diffusion timestep t; :mod:`course_lib.flow.matching` uses the same).

**The probability-flow ODE** (Song et al. 2021b, eq. 13). The noising SDE of a variance-preserving
diffusion has a deterministic twin whose solutions have the same marginals q(x_t) at every t:

    dx = −½ β(τ) [x + ∇_x log q_τ(x)] dτ,      with the score ∇_x log q_t(x) ≈ −ε̂(x, t) / √(1−ᾱ_t).

Run backwards from noise it is a sampler with no randomness at all. Written in the variables
x̄ = x / √ᾱ and σ̄ = √((1−ᾱ)/ᾱ) (the noise-to-signal ratio) it becomes (Song et al. 2021a, eq. 14;
Karras et al. 2022, eq. 4 with σ = σ̄)

    dx̄ / dσ̄ = ε̂(x, t),

and **one Euler step of this ODE from t to s is exactly DDIM with η = 0**:
x̄_s = x̄_t + (σ̄_s − σ̄_t) ε̂ gives x_s = √ᾱ_s x̂_0 + √(1−ᾱ_s) ε̂. The same step in the flow
variables of :func:`~course_lib.flow.matching.diffusion_to_flow` is an Euler step along the
velocity ε̂ − x̂_0. Euler in the original x (with λ = −log ᾱ as time, :func:`euler_step_x`) is a
step of the *same* ODE that is exact for no ε̂ and needs more evaluations for the same accuracy.

Solvers: :func:`euler_step` (first order: error ∝ h) and :func:`heun_step` (Heun's method, the
explicit trapezoidal rule: error ∝ h²; Karras et al. 2022, Algorithm 1, with the last step to
the clean end taken by Euler). The course applies Heun in flow variables, where time stays in
[0, 1] (:func:`solve_pf_ode`, :func:`sample_flow`). ``nfe`` counts network evaluations: Euler
spends one per step, Heun two per step but one on its last step (2K − 1 for K steps).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..device import resolve_device
from ..diffusion.reverse import predictions
from ..diffusion.samplers import SMALL_BATCH, ddim_timesteps, seeded_generator
from ..diffusion.schedules import Schedule
from ..validation import check_choice, check_int, check_module, check_tensor

FLOW_SOLVERS = ("euler", "heun")
PF_ODE_SOLVERS = ("euler", "heun", "euler_x")


# ----------------------------------------------------------------------------- solver steps, bare


def euler_step(x: torch.Tensor, derivative: torch.Tensor, h) -> torch.Tensor:
    """One Euler step of dx/ds = f(x, s): x + h f(x, s)."""
    return x + h * derivative                       # x_{n+1} = x_n + h f(x_n, s_n)


def heun_step(f, x: torch.Tensor, s, s_next, derivative: torch.Tensor | None = None) -> torch.Tensor:
    """One Heun step of dx/ds = f(x, s) from s to s_next (``derivative``: f(x, s), if already known)."""
    h = s_next - s
    d1 = f(x, s) if derivative is None else derivative  # slope at the start
    x_euler = x + h * d1                                 # Euler's guess of the end point
    d2 = f(x_euler, s_next)                              # slope at the guessed end
    return x + h * (d1 + d2) / 2                         # x_{n+1} = x_n + h (f_start + f_end) / 2


def sigma_bar(alpha_bar: torch.Tensor) -> torch.Tensor:
    """σ̄ = √((1−ᾱ)/ᾱ), the time variable in which the PF-ODE reads dx̄/dσ̄ = ε̂ (0 at the clean end)."""
    return ((1 - alpha_bar) / alpha_bar).sqrt()


def euler_step_xbar(xt: torch.Tensor, noise_pred: torch.Tensor, alpha_bar_t, alpha_bar_s) -> torch.Tensor:
    """One Euler step of dx̄/dσ̄ = ε̂ from ᾱ_t to ᾱ_s, in and out in the usual x (equals DDIM, η = 0)."""
    x_bar = xt / alpha_bar_t.sqrt()                                            # x̄_t = x_t / √ᾱ_t
    x_bar_s = euler_step(x_bar, noise_pred, sigma_bar(alpha_bar_s) - sigma_bar(alpha_bar_t))  # x̄_t + Δσ̄ ε̂
    return alpha_bar_s.sqrt() * x_bar_s                                        # x_s = √ᾱ_s x̄_s


def euler_step_x(xt: torch.Tensor, noise_pred: torch.Tensor, alpha_bar_t, alpha_bar_s) -> torch.Tensor:
    """One Euler step of the same ODE in x, with λ = −log ᾱ as time: dx/dλ = −½ (x − ε̂/√(1−ᾱ))."""
    drift = -0.5 * (xt - noise_pred / (1 - alpha_bar_t).sqrt())   # −½ (x + score), score = −ε̂/√(1−ᾱ_t)
    return euler_step(xt, drift, alpha_bar_t.log() - alpha_bar_s.log())  # Δλ = λ_s − λ_t = log ᾱ_t − log ᾱ_s


def score_from_noise(noise_pred: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """The score ∇_x log q_t(x) of the noised data, from a noise prediction (Song et al. 2021b)."""
    return -noise_pred / (1 - alpha_bar_t).sqrt()    # ∇ log q_t(x) ≈ −ε̂ / √(1−ᾱ_t)


@contextmanager
def one_thread_if_small(x: torch.Tensor):
    """Run the block with one torch thread when ``x`` (on the CPU) holds 2-D points or at most
    :data:`~course_lib.diffusion.samplers.SMALL_BATCH` images; restore the count afterwards.

    Such layers are too small to split across threads: on the course's busy 2-core machine 150
    steps of a toy model took 70 s with two threads and 8 s with one (the thread hand-offs
    dominate), the rule the diffusion samplers follow for small batches. Large image batches keep
    every thread.
    """
    threads = torch.get_num_threads()
    if x.device.type == "cpu" and (x.ndim == 2 or x.shape[0] <= SMALL_BATCH):
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- trajectories


@dataclass
class ODETrajectory:
    """The states an ODE solve passed through: ``times`` (K + 1 floats, flow time or code t) and
    ``x`` (K + 1, B, …) on the CPU: ``x[0]`` the start, ``x[-1]`` the end; ``nfe`` spent."""

    times: list
    x: torch.Tensor
    nfe: int

    def __len__(self) -> int:
        return len(self.times)


def path_straightness(trajectory: ODETrajectory, times=None) -> dict:
    """How straight the solution paths are, two ways (averaged over the batch):

    * ``straightness`` S = ∫ ‖(x_end − x_start)/Δtime − ẋ‖² dtime / ∫ dtime (Liu et al. 2022, §2.3,
      per dimension), with ẋ from finite differences: 0 for straight lines travelled at constant speed;
    * ``length_ratio`` = ‖x_end − x_start‖ / path length: 1 for straight lines, smaller for bends.

    ``times``: the flow times of the states (default ``trajectory.times``).
    """
    x = trajectory.x.double().flatten(2)                       # (K + 1, B, D)
    times = torch.tensor(trajectory.times if times is None else times, dtype=torch.float64)
    dt = times[1:] - times[:-1]                                # (K,)
    slopes = (x[1:] - x[:-1]) / dt[:, None, None]              # ẋ on each step
    chord = (x[-1] - x[0]) / (times[-1] - times[0])            # the straight line's velocity
    deviation = (slopes - chord).pow(2).mean(-1)               # (K, B)
    straightness = (deviation * dt.abs()[:, None]).sum(0) / dt.abs().sum()
    length = (x[1:] - x[:-1]).norm(dim=-1).sum(0)
    ratio = (x[-1] - x[0]).norm(dim=-1) / length.clamp(min=1e-12)
    return {"straightness": float(straightness.mean()), "length_ratio": float(ratio.mean())}


def to_flow_variables(trajectory, schedule: Schedule) -> ODETrajectory:
    """A diffusion sampling run (:class:`~course_lib.diffusion.samplers.Trajectory` of states x_t at
    code timesteps, ending at −1) rewritten in flow variables: x_flow = x_t · r, time =
    √(1−ᾱ_t)/(√ᾱ_t + √(1−ᾱ_t)) (:func:`course_lib.flow.matching.diffusion_to_flow`), so its
    straightness can be compared with a flow model's."""
    from .matching import diffusion_to_flow

    alpha_bars = torch.cat([schedule.alpha_bars, torch.ones(1, dtype=schedule.alpha_bars.dtype)])
    ab = alpha_bars[torch.tensor(trajectory.timesteps)]           # index −1 → ᾱ_{−1} = 1
    time, r = diffusion_to_flow(ab)
    states = trajectory.xt * r.to(trajectory.xt.dtype).reshape(-1, *([1] * (trajectory.xt.ndim - 1)))
    return ODETrajectory(time.tolist(), states, len(trajectory) - 1)


# ----------------------------------------------------------------------------- flow models


def check_flow_model(model) -> nn.Module:
    """Raise naming ``model`` unless it is a flow model (it has ``sample_shape`` and is called as model(xt, time))."""
    check_module("model", model)
    if not isinstance(getattr(model, "sample_shape", None), tuple):
        raise TypeError(f"model must be a flow model (FlowUNet, LatentFlow, ToyFlow), got a {type(model).__name__}")
    return model


def flow_times(nfe: int, solver: str = "euler") -> list[float]:
    """The flow times a solve visits, from 1 (noise) down to 0: K + 1 evenly spaced points for
    K steps, with K = nfe for Euler and K = (nfe + 1)/2 for Heun."""
    steps = nfe if solver == "euler" else (nfe + 1) // 2
    return [1 - k / steps for k in range(steps + 1)]


def integrate_flow(model: nn.Module, x: torch.Tensor, times: list[float], solver: str = "euler",
                   progress: bool = False, keep: bool = False, labels: torch.Tensor | None = None):
    """Integrate dx/dtime = model(x, time) along ``times`` (decreasing); bare, no gradients.

    Heun's last step (to time 0 when the list ends there) is taken by Euler. Points and small
    batches run on one thread (:func:`one_thread_if_small`). ``labels`` (B,): the classes a
    class-conditional model is asked for (model(x, time, labels)). Returns
    ``(x, trajectory or None)``; the trajectory (with ``keep``) holds every visited state.
    """
    from tqdm.auto import tqdm

    extra = () if labels is None else (labels,)

    def f(x, time):
        return model(x, torch.full((x.shape[0],), float(time), device=x.device), *extra)

    states, nfe = ([x.cpu()] if keep else None), 0
    with torch.no_grad(), one_thread_if_small(x):
        moves = list(zip(times[:-1], times[1:]))
        for i, (time, time_next) in enumerate(tqdm(moves, desc=f"{solver} steps", disable=not progress,
                                                   leave=False)):
            d1 = f(x, time)
            nfe += 1
            if solver == "heun" and i < len(moves) - 1:
                x = heun_step(f, x, time, time_next, derivative=d1)
                nfe += 1
            else:
                x = euler_step(x, d1, time_next - time)
            if keep:
                states.append(x.cpu())
    trajectory = ODETrajectory(list(times), torch.stack(states), nfe) if keep else None
    return x, trajectory


def check_nfe(nfe, solver: str, high: int = 10_000) -> int:
    """Check ``nfe`` for ``solver`` (Heun spends 2K − 1 evaluations on K steps, so an odd number)."""
    nfe = check_int("nfe", nfe, 1, high, hint="network evaluations")
    if solver == "heun" and nfe % 2 == 0:
        raise ValueError(f"nfe must be odd for solver='heun' (K steps cost 2K - 1 network evaluations), "
                         f"got {nfe}; use {nfe - 1} or {nfe + 1}")
    return nfe


def sample_flow(model: nn.Module, n: int, *, nfe: int = 8, solver: str = "euler", seed: int | None = 0,
                device=None, progress: bool = True, x_start: torch.Tensor | None = None,
                labels=None, return_trajectory: bool = False):
    """Draw ``n`` samples from a flow model: noise at time 1, ``nfe`` evaluations of Euler or Heun to time 0.

    ``model``: a :class:`~course_lib.flow.matching.FlowUNet` (images, returned clamped to [−1, 1]),
    a :class:`~course_lib.flow.latent.LatentFlow` (the end latents decoded by its VAE: images in
    [−1, 1]) or a :class:`~course_lib.flow.toy.ToyFlow` (points, returned as they are).
    ``x_start``: the starting noise (n, *model.sample_shape), drawn from ``seed`` when not given.
    ``labels``: for a class-conditional model, one class or (n,) classes (default: 0, 1, …, 9 in
    turn); an unconditional model takes none. With ``return_trajectory`` also returns the
    :class:`ODETrajectory` (every state, flow times; latents for a latent model).
    """
    from ..diffusion.samplers import check_labels

    check_flow_model(model)
    n = check_int("n", n, 1)
    check_choice("solver", solver, FLOW_SOLVERS)
    nfe = check_nfe(nfe, solver)
    device = resolve_device(device)
    if labels is None and getattr(model, "num_classes", None) is not None:
        labels = torch.arange(n) % model.num_classes                      # every class in turn
    labels = check_labels(model, labels, n, device)
    shape = (n, *model.sample_shape)
    generator = seeded_generator(seed, device)
    if x_start is None:
        x = torch.randn(shape, generator=generator, device=device)
    else:
        check_tensor("x_start", x_start, shape=shape, floating=True)
        x = x_start.to(device=device, dtype=torch.float32)
    was_training = model.training
    model.to(device).eval()
    try:
        x, trajectory = integrate_flow(model, x, flow_times(nfe, solver), solver, progress, return_trajectory,
                                       labels)
        if not bool(torch.isfinite(x).all()):
            raise FloatingPointError("the samples are not finite: the flow model diverged")
        if hasattr(model, "decode"):
            x = model.decode(x)                                           # latents -> images
    finally:
        model.train(was_training)
    if x.ndim == 4:
        x = x.clamp(-1, 1)
    return (x, trajectory) if return_trajectory else x


# ----------------------------------------------------------------------------- diffusion models, as an ODE


def pf_ode_timesteps(num_steps: int, nfe: int, solver: str = "euler") -> list[int]:
    """The code timesteps of a PF-ODE solve with ``nfe`` evaluations, from T − 1 down, then −1 (clean).

    The same trailing spacing as DDIM (:func:`~course_lib.diffusion.samplers.ddim_timesteps`);
    Heun takes (nfe + 1)/2 steps."""
    steps = nfe if solver != "heun" else (nfe + 1) // 2
    return ddim_timesteps(num_steps, steps) + [-1]


def solve_pf_ode(model: nn.Module, x: torch.Tensor, timesteps: list[int], solver: str = "euler",
                 keep: bool = False):
    """Integrate a diffusion model's probability-flow ODE along ``timesteps`` (decreasing, ending at −1).

    ``solver``: ``"euler"`` in (x̄, σ̄) — the DDIM step; ``"heun"``: Heun's method in the flow
    variables (x_flow = x_t · r, time; :func:`~course_lib.flow.matching.diffusion_to_flow`), along
    the velocity ε̂ − x̂_0, its last step Euler; ``"euler_x"``: Euler in x with λ = −log ᾱ as time
    (:func:`euler_step_x`). (Heun in σ̄ would fail here: the cosine schedule's σ̄ starts near 2·10⁴,
    and the corrector multiplies the change of ε̂ by the step in σ̄. In flow variables time stays in
    [0, 1] and the velocity is bounded; Euler is the same step in both.) The last move to t = −1
    returns x̂_0 (ᾱ_{−1} = 1, σ̄ = 0). Bare: ``model`` carries ``schedule`` and ``prediction``; no
    gradients. Returns ``(x, ODETrajectory or None)`` with code timesteps as ``times``.
    """
    from .matching import diffusion_to_flow

    schedule: Schedule = model.schedule.to(x.device)
    prediction = getattr(model, "prediction", "epsilon")
    one = torch.ones((), dtype=schedule.alpha_bars.dtype, device=x.device)

    def ab(t):
        return schedule.alpha_bars[t] if t >= 0 else one

    def eps(x, t):
        return predictions(model(x, t), x, t, schedule, prediction)

    states, nfe = ([x.cpu()] if keep else None), 0
    with torch.no_grad(), one_thread_if_small(x):
        for t, s in zip(timesteps[:-1], timesteps[1:]):
            noise_pred, x0_pred = eps(x, t)
            nfe += 1
            if s < 0:
                x = x0_pred                                       # σ̄ = 0: the end of the ODE is x̂_0
            elif solver == "euler_x":
                x = euler_step_x(x, noise_pred, ab(t), ab(s))
            elif solver == "heun":
                (time_t, r_t), (time_s, r_s) = diffusion_to_flow(ab(t)), diffusion_to_flow(ab(s))
                h, r_t, r_s = float(time_s - time_t), r_t.to(x.dtype), r_s.to(x.dtype)
                d1 = noise_pred - x0_pred                         # velocity at the start
                x_flow = x * r_t
                guess = euler_step(x_flow, d1, h) / r_s           # Euler's end point, back in x_s
                d2 = (lambda p: p.noise_pred - p.x0_pred)(eps(guess, s))  # velocity at the guessed end
                x, nfe = (x_flow + h * (d1 + d2) / 2) / r_s, nfe + 1
            else:
                x = euler_step_xbar(x, noise_pred, ab(t), ab(s))
            if keep:
                states.append(x.cpu())
    trajectory = ODETrajectory(list(timesteps), torch.stack(states), nfe) if keep else None
    return x, trajectory
