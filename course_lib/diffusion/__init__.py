"""Diffusion models: schedules and the forward process (notebook 03), the reverse process,
the U-Net, samplers and training (notebooks 04–05)."""

from .forward import (
    chain_and_closed_form,
    compare_moments,
    q_mean_variance,
    q_sample,
    q_sample_chain,
    q_step,
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

__all__ = [
    "SCHEDULE_KINDS",
    "Schedule",
    "at",
    "make_betas",
    "make_schedule",
    "q_sample",
    "q_sample_chain",
    "q_step",
    "schedule_from_betas",
]
__all__ += ["chain_and_closed_form", "compare_moments", "q_mean_variance", "snr_crossing_step"]
from .reverse import (  # noqa: E402
    diffusion_loss,
    model_noise,
    posterior_mean_variance,
    predict_noise_from_x0,
    predict_x0_from_noise,
    reverse_mean_from_noise,
)
from .samplers import Trajectory, ddim_step, ddim_timesteps, ddpm_step, guided_noise, sample  # noqa: E402
from .training import load_or_train_denoiser, load_pretrained, train_diffusion  # noqa: E402
from .unet import EMA, UNet  # noqa: E402

__all__ += [
    "EMA",
    "Trajectory",
    "UNet",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_step",
    "diffusion_loss",
    "guided_noise",
    "load_or_train_denoiser",
    "load_pretrained",
    "model_noise",
    "posterior_mean_variance",
    "predict_noise_from_x0",
    "predict_x0_from_noise",
    "reverse_mean_from_noise",
    "sample",
    "train_diffusion",
]
