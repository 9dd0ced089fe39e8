"""Diffusion models: schedules and the forward process (notebook 03), the reverse process, the
U-Net, samplers and training (notebooks 04–05). The shipped denoisers load through
:func:`course_lib.registry.load_pretrained`."""

from .forward import (
    chain_and_closed_form,
    compare_moments,
    q_mean_variance,
    q_sample,
    q_sample_chain,
    q_step,
)
from .reverse import (
    Prediction,
    diffusion_loss,
    posterior_mean_variance,
    predict_noise_from_velocity,
    predict_noise_from_x0,
    predict_x0_from_noise,
    predict_x0_from_velocity,
    predictions,
    reverse_mean_from_noise,
    velocity_target,
)
from .samplers import (
    SAMPLER_SETTINGS,
    Trajectory,
    ddim_step,
    ddim_timesteps,
    ddpm_step,
    guided_noise,
    guided_output,
    guided_predictions,
    sample,
)
from .schedules import (
    SCHEDULE_KINDS,
    Schedule,
    at,
    make_betas,
    make_schedule,
    schedule_from_betas,
    snr_crossing_step,
)
from .training import load_or_train_denoiser, preset, train_diffusion
from .unet import UNet, build_unet

__all__ = [
    "SAMPLER_SETTINGS",
    "SCHEDULE_KINDS",
    "Prediction",
    "Schedule",
    "Trajectory",
    "UNet",
    "at",
    "build_unet",
    "chain_and_closed_form",
    "compare_moments",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_step",
    "diffusion_loss",
    "guided_noise",
    "guided_output",
    "guided_predictions",
    "load_or_train_denoiser",
    "make_betas",
    "make_schedule",
    "posterior_mean_variance",
    "predict_noise_from_velocity",
    "predict_noise_from_x0",
    "predict_x0_from_noise",
    "predict_x0_from_velocity",
    "predictions",
    "preset",
    "q_mean_variance",
    "q_sample",
    "q_sample_chain",
    "q_step",
    "reverse_mean_from_noise",
    "sample",
    "schedule_from_betas",
    "snr_crossing_step",
    "train_diffusion",
    "velocity_target",
]
