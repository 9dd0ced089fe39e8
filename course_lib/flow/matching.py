"""Flow matching and rectified flow: a straight path from data to noise (notebook 10).

**Time convention** (continuous time, as in the ODE view of diffusion, :mod:`course_lib.flow.ode`):
``time`` ∈ [0, 1], **time = 0 is the data x_0 and time = 1 is pure noise** — the direction of the
diffusion timestep t, which also grows towards noise. Samplers integrate from time = 1 down to 0.

* **The path** (rectified flow, Liu et al. 2022, eq. 1; flow matching's optimal-transport path,
  Lipman et al. 2023, eq. 20 with σ_min = 0; the direction of Esser et al. 2024):

      x_time = (1 − time) x_0 + time · ε,        ε ~ N(0, I)

  a straight line from each data point to its own noise.
* **The velocity target**: d x_time / d time = ε − x_0, the same at every point of the line.
* **The loss** (conditional flow matching, Lipman et al. 2023, eq. 23):
  L = E_{time, x_0, ε} ‖velocity_θ(x_time, time) − (ε − x_0)‖². Its minimiser is the average
  velocity of all lines through x_time, E[ε − x_0 | x_time]: a velocity field whose ODE
  dx/dtime = velocity_θ(x, time) carries N(0, I) at time 1 to the data at time 0.
* **Sampling**: x at time 1 is noise; Euler or Heun steps of the ODE down to time 0
  (:func:`course_lib.flow.ode.solve_flow`). The lines cross, so the learned paths bend; the
  better they are straight, the fewer steps suffice. **Reflow** (Liu et al. 2022, §2.2) retrains
  on pairs (ε, x_0 = ODE(ε)) that the model itself (or a teacher) couples, which straightens them.

Names (CONVENTIONS): ``x0``, ``noise``, ``xt`` (the point at ``time``), ``velocity`` (ε − x_0)
and ``velocity_pred`` (the network's). Diffusion's v = √ᾱ ε − √(1−ᾱ) x_0 is a different velocity
(of the angle path cos φ x_0 + sin φ ε); :class:`FlowUNet` converts between the two.

Formula functions are bare math; :func:`train_flow` checks its arguments once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion.unet import DEFAULT_SCHEDULE, UNet, build_unet

TIME_SAMPLING = ("uniform", "logit_normal")


# ----------------------------------------------------------------------------- the path, bare


def expand_time(time: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``time`` (B,) or 0-dim, shaped to broadcast against ``like`` ((B, C, H, W) or (B, 2))."""
    return time.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1))) if time.ndim else time.to(like.dtype)


def interpolate(x0: torch.Tensor, noise: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    """The point of the straight path at ``time`` (0 = data, 1 = noise)."""
    time = expand_time(time, x0)
    return (1 - time) * x0 + time * noise               # x_time = (1 − time) x_0 + time ε


def flow_velocity(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The velocity target of flow matching: the time derivative of :func:`interpolate`."""
    return noise - x0                                   # d x_time / d time = ε − x_0


def flow_matching_loss(model: nn.Module, x0: torch.Tensor, noise: torch.Tensor, time: torch.Tensor,
                       labels: torch.Tensor | None = None) -> torch.Tensor:
    """Conditional flow matching (Lipman et al. 2023, eq. 23): mean ‖velocity_θ − (ε − x_0)‖² per element.

    ``labels`` (B,): the class of each x_0, for a class-conditional model (velocity_θ(x_time, time, c)).
    """
    xt = interpolate(x0, noise, time)
    velocity_pred = model(xt, time) if labels is None else model(xt, time, labels)
    return F.mse_loss(velocity_pred, flow_velocity(x0, noise))  # ‖velocity_θ(x_time, time) − (ε − x_0)‖²


def sample_time(batch: int, generator: torch.Generator, kind: str = "logit_normal") -> torch.Tensor:
    """Training times, (batch,): ``uniform`` U(0, 1), or ``logit_normal``: sigmoid(N(0, 1)).

    The logit-normal density (Esser et al. 2024, §3.1) puts more of the training on the middle of
    the path, where the target is hardest to guess, and less on its two ends.
    """
    if kind == "uniform":
        return torch.rand(batch, generator=generator)
    return torch.sigmoid(torch.randn(batch, generator=generator))  # time = σ(u), u ~ N(0, 1)


# ----------------------------------------------------------------------------- diffusion ↔ flow variables


def flow_to_diffusion(time: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(√ᾱ, √(1−ᾱ), r) of the diffusion point with the same signal-to-noise ratio as the flow at ``time``.

    x_time = (1 − time) x_0 + time ε = r (√ᾱ x_0 + √(1−ᾱ) ε) with r = √((1 − time)² + time²):
    the flow's point is the diffusion's x_t scaled by r, and SNR = ᾱ/(1−ᾱ) = ((1 − time)/time)².
    """
    r = ((1 - time) ** 2 + time**2).sqrt()             # r = √((1−time)² + time²)
    return (1 - time) / r, time / r, r                  # √ᾱ = (1 − time)/r, √(1−ᾱ) = time/r


def diffusion_to_flow(alpha_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(time, r) of the flow point with the SNR of ᾱ: time = √(1−ᾱ)/(√ᾱ + √(1−ᾱ)), x_flow = x_t / r."""
    a, s = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    return s / (a + s), 1 / (a + s)                     # r = 1/(√ᾱ + √(1−ᾱ)) = √((1−time)² + time²)


def cosine_timestep(alpha_bar: torch.Tensor, num_steps: int = 1000, cosine_s: float = 0.008) -> torch.Tensor:
    """The continuous code timestep t at which the cosine schedule reaches ``alpha_bar``.

    Inverts ᾱ(u) = f(u)/f(0), f(u) = cos²(π/2 · (u/T + s)/(1 + s)) (Nichol & Dhariwal 2021, eq. 17)
    for the paper's step u, and returns code t = u − 1: ᾱ = 1 gives t = −1 (clean), ᾱ → 0 gives
    t = T − 1. At integer t < T − 1 it returns t for ``schedule.alpha_bars[t]`` (the schedule's
    last β is clipped, which moves its last ᾱ).
    """
    f0 = math.cos(cosine_s / (1 + cosine_s) * math.pi / 2) ** 2
    angle = torch.arccos((alpha_bar * f0).clamp(0, 1).sqrt())          # π/2 · (u/T + s)/(1 + s)
    return num_steps * ((1 + cosine_s) * angle * 2 / math.pi - cosine_s) - 1  # t = u − 1


class FlowUNet(nn.Module):
    """velocity_θ(x_time, time) for images (B, C, H, W): the course's :class:`UNet`, in flow variables.

    The U-Net sees what it sees in diffusion: the flow point rescaled to unit variance,
    x_t = x_time / r, and the cosine schedule's (continuous) timestep with the same SNR
    (:func:`flow_to_diffusion`, :func:`cosine_timestep`). Its output v̂ is diffusion's v, turned
    into the flow's velocity exactly:

        x̂_0 = √ᾱ x_t − √(1−ᾱ) v̂,  ε̂ = √(1−ᾱ) x_t + √ᾱ v̂,
        velocity = ε̂ − x̂_0 = (√(1−ᾱ) − √ᾱ) x_t + (√ᾱ + √(1−ᾱ)) v̂.

    So a flow model and a v-diffusion model are the same network with two readings, and
    :meth:`from_denoiser` turns a trained diffusion U-Net into the flow model of its
    probability-flow ODE without changing a weight. ``FlowUNet()`` (the arguments of
    :class:`UNet`, whose ``prediction`` is fixed to ``"v"``) is the course's 0.64 M-parameter size.
    With ``num_classes`` it is class-conditional: ``forward(xt, time, labels)`` (labels in
    [0, num_classes); the U-Net adds a label embedding to its time embedding).
    """

    def __init__(self, **unet_kwargs):
        super().__init__()
        if unet_kwargs.get("prediction", "v") != "v":
            raise ValueError("a FlowUNet wraps a UNet with prediction='v' "
                             f"(got prediction={unet_kwargs.get('prediction')!r})")
        schedule = dict(unet_kwargs.pop("schedule", None) or DEFAULT_SCHEDULE)
        if schedule.get("kind") != "cosine" or set(schedule) - {"kind", "num_steps", "cosine_s"}:
            raise ValueError(f"a FlowUNet reads time through the cosine schedule; got schedule={schedule!r}")
        self.net = UNet(prediction="v", schedule=schedule, **unet_kwargs)
        self.in_channels, self.image_size = self.net.in_channels, self.net.image_size
        self.num_classes = self.net.num_classes

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample, (C, H, W)."""
        return (self.in_channels, self.image_size, self.image_size)

    def full_config(self) -> dict:
        """``{"model": …, "schedule": …}``, the same record as the U-Net's (:func:`build_flow_unet`)."""
        return self.net.full_config()

    @classmethod
    def from_denoiser(cls, denoiser: UNet) -> FlowUNet:
        """The flow model of a trained v-prediction, cosine-schedule :class:`UNet` (same weights)."""
        config = denoiser.full_config()
        flow = build_flow_unet(config)
        flow.net.load_state_dict(denoiser.state_dict())
        return flow

    def timestep(self, time: torch.Tensor) -> torch.Tensor:
        """The U-Net's (continuous) timestep for flow ``time``: same SNR on the cosine schedule."""
        alpha, _, _ = flow_to_diffusion(time.double())
        cfg = self.net.schedule_config
        return cosine_timestep(alpha**2, cfg.get("num_steps", 1000), cfg.get("cosine_s", 0.008)).float()

    def forward(self, xt: torch.Tensor, time, labels: torch.Tensor | None = None) -> torch.Tensor:
        time = torch.as_tensor(time, device=xt.device, dtype=torch.float32)
        time = time.expand(xt.shape[0]) if time.ndim == 0 else time
        alpha, sigma, r = (expand_time(c, xt) for c in flow_to_diffusion(time))   # √ᾱ, √(1−ᾱ), r
        x_diff = xt / r                                                          # x_t = x_time / r
        v_pred = self.net(x_diff, self.timestep(time), labels)
        return (sigma - alpha) * x_diff + (alpha + sigma) * v_pred               # ε̂ − x̂_0


def build_flow_unet(config: dict) -> FlowUNet:
    """Rebuild a :class:`FlowUNet` from ``{"model": …, "schedule": …}`` (a manifest record's config)."""
    unet = build_unet(config)  # validates and normalises the arguments
    return FlowUNet(**{k: v for k, v in unet.config.items() if k != "prediction"},
                    schedule=unet.schedule_config)
