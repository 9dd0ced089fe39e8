"""Diffusion as an ODE, and flow matching (notebook 10).

* :mod:`~course_lib.flow.ode` — the probability-flow ODE of a diffusion model, DDIM as its Euler
  step, Heun's method, sampling flow models, path straightness;
* :mod:`~course_lib.flow.matching` — the straight path, the velocity target, the loss, and
  :class:`~course_lib.flow.matching.FlowUNet` (the course's U-Net read in flow variables);
* :mod:`~course_lib.flow.latent` — :class:`~course_lib.flow.latent.LatentFlow`: a class-conditional flow in
  ``vae_latent``'s space (Stable Diffusion 3 in miniature; the shipped ``flow``);
* :mod:`~course_lib.flow.training` — :func:`~course_lib.flow.training.train_flow` (flow matching
  and reflow), coupled pairs, the run budgets;
* :mod:`~course_lib.flow.toy` — tiny 2-D denoisers and flow models, their score and velocity fields;
* :mod:`~course_lib.flow.figures` — the notebook's figures.

Time convention: ``time`` ∈ [0, 1], time = 0 is the data and time = 1 is pure noise; samplers run
from 1 down to 0. The shipped ``flow`` (latent, class-conditional) and ``flow_reflow`` (``ddpm_mnist``
distilled by reflow) load with :func:`course_lib.registry.load_pretrained`.
"""

from .latent import LatentFlow
from .matching import FlowUNet, build_flow_unet, flow_matching_loss, flow_velocity, interpolate
from .ode import euler_step, heun_step, path_straightness, sample_flow, solve_pf_ode
from .training import Coupling, couple, train_flow

__all__ = [
    "Coupling",
    "FlowUNet",
    "LatentFlow",
    "build_flow_unet",
    "couple",
    "euler_step",
    "flow_matching_loss",
    "flow_velocity",
    "heun_step",
    "interpolate",
    "path_straightness",
    "sample_flow",
    "solve_pf_ode",
    "train_flow",
]
