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
