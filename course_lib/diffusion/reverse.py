"""The reverse process: the posterior, the ε- and v-parameterisations and the loss (notebook 04).

Notation (CONVENTIONS): code ``t = 0 … T−1`` is the paper's step t + 1; ᾱ_{−1} = 1. Every
function here is bare math — the caller (``sample``, ``train_diffusion``, a figure or a
self-check) has checked the arguments once.

* **Posterior** (DDPM eq. 6–7). Given x_0, the step back is Gaussian, q(x_{t−1} | x_t, x_0) =
  N(μ̃_t, β̃_t I).
* **ε-parameterisation** (DDPM eq. 11). x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, so a network that predicts
  ε predicts x_0 too, and substituting x̂_0 into μ̃_t gives the sampler's mean μ_θ.
* **v-parameterisation** (Salimans & Ho 2022): v = √ᾱ_t ε − √(1−ᾱ_t) x_0, from which both x̂_0
  and ε̂ follow *directly*, with no division by √ᾱ_t (which is ~1e-4 at the last cosine step,
  where going v → ε → x̂_0 would amplify float32 round-off about 2·10⁴ times).
* **Simplified loss** (DDPM eq. 14): regression on the noise (or on v).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .forward import q_sample
from .schedules import Schedule, at

OBJECTIVES = ("epsilon", "v")


def posterior_mean_variance(x0: torch.Tensor, xt: torch.Tensor, t, schedule: Schedule):
    """Mean μ̃_t and variance β̃_t of q(x_{t−1} | x_t, x_0) (DDPM eq. 6–7).

    ``x0``, ``xt``: (B, C, H, W); ``t``: int or (B,). The variance is a scalar tensor (int ``t``)
    or (B, 1, 1, 1). At t = 0, β̃_0 = 0 and μ̃_0 = x_0.
    """
    coef_x0 = at(schedule.posterior_mean_coef_x0, t, xt)  # √ᾱ_{t−1} β_t / (1 − ᾱ_t)
    coef_xt = at(schedule.posterior_mean_coef_xt, t, xt)  # √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
    mean = coef_x0 * x0 + coef_xt * xt                     # μ̃_t
    return mean, at(schedule.posterior_variance, t, xt)    # β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t


def predict_x0_from_noise(xt: torch.Tensor, t, noise_pred: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """x̂_0 from a noise prediction ε̂ — invert x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4, 15)."""
    alpha_bar_t = at(schedule.alpha_bars, t, xt)
    return (xt - (1 - alpha_bar_t).sqrt() * noise_pred) / alpha_bar_t.sqrt()  # (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t


def predict_noise_from_x0(xt: torch.Tensor, t, x0_pred: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """ε̂ implied by a predicted (e.g. clipped) x̂_0."""
    alpha_bar_t = at(schedule.alpha_bars, t, xt)
    return (xt - alpha_bar_t.sqrt() * x0_pred) / (1 - alpha_bar_t).sqrt()  # (x_t − √ᾱ_t x̂_0) / √(1−ᾱ_t)


def velocity_target(x0: torch.Tensor, noise: torch.Tensor, t, schedule: Schedule) -> torch.Tensor:
    """The target of the ``"v"`` objective (Salimans & Ho 2022, §4)."""
    alpha_bar_t = at(schedule.alpha_bars, t, x0)
    return alpha_bar_t.sqrt() * noise - (1 - alpha_bar_t).sqrt() * x0  # v = √ᾱ_t ε − √(1−ᾱ_t) x_0


def predict_x0_from_velocity(xt: torch.Tensor, t, v_pred: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """x̂_0 from a v-prediction, directly (no division)."""
    alpha_bar_t = at(schedule.alpha_bars, t, xt)
    return alpha_bar_t.sqrt() * xt - (1 - alpha_bar_t).sqrt() * v_pred  # x̂_0 = √ᾱ_t x_t − √(1−ᾱ_t) v̂


def predict_noise_from_velocity(xt: torch.Tensor, t, v_pred: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """ε̂ from a v-prediction, directly (no division)."""
    alpha_bar_t = at(schedule.alpha_bars, t, xt)
    return (1 - alpha_bar_t).sqrt() * xt + alpha_bar_t.sqrt() * v_pred  # ε̂ = √(1−ᾱ_t) x_t + √ᾱ_t v̂


def reverse_mean_from_noise(xt: torch.Tensor, t, noise_pred: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """μ_θ(x_t, t) from ε̂ (DDPM eq. 11): the posterior mean μ̃_t with x_0 replaced by x̂_0."""
    beta_t = at(schedule.betas, t, xt)
    alpha_t = at(schedule.alphas, t, xt)
    alpha_bar_t = at(schedule.alpha_bars, t, xt)
    return (xt - beta_t / (1 - alpha_bar_t).sqrt() * noise_pred) / alpha_t.sqrt()  # (x_t − β_t/√(1−ᾱ_t) ε̂) / √α_t


class Prediction(NamedTuple):
    """What a denoiser's output says, in both forms the samplers use: ε̂ and x̂_0 (each (B, C, H, W))."""

    noise_pred: torch.Tensor
    x0_pred: torch.Tensor


def predictions(output: torch.Tensor, xt: torch.Tensor, t, schedule: Schedule, prediction: str = "epsilon") -> Prediction:
    """Turn a network ``output`` into (ε̂, x̂_0), exactly for each parameterisation.

    ``prediction="epsilon"``: the output is ε̂ and x̂_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t.
    ``prediction="v"``: the output is v̂, and ε̂ and x̂_0 both follow from it without a division.
    """
    if prediction == "v":
        return Prediction(predict_noise_from_velocity(xt, t, output, schedule),
                          predict_x0_from_velocity(xt, t, output, schedule))
    return Prediction(output, predict_x0_from_noise(xt, t, output, schedule))


def model_output(model: nn.Module, xt: torch.Tensor, t, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The raw network output for ``xt`` at ``t`` (``labels`` passed on only when given)."""
    return model(xt, t) if labels is None else model(xt, t, labels)


def diffusion_loss(
    model: nn.Module,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    schedule: Schedule,
    labels: torch.Tensor | None = None,
    min_snr_gamma: float | None = None,
) -> torch.Tensor:
    """The simplified loss (DDPM eq. 14), on the model's own target (ε, or v for a v-model).

    L = mean_i w_i ‖target_i − f_θ(x_t, t)_i‖² / (C H W), with x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε and
    w_i = 1, or with ``min_snr_gamma`` = γ the min-SNR weight (Hang et al. 2023):
    min(SNR, γ)/SNR for ε and min(SNR, γ)/(SNR + 1) for v. ``t`` (B,), ``noise`` ε like ``x0``.
    """
    xt = q_sample(x0, t, schedule, noise)
    out = model_output(model, xt, t, labels)
    v_model = getattr(model, "prediction", "epsilon") == "v"
    target = velocity_target(x0, noise, t, schedule) if v_model else noise
    per_image = F.mse_loss(out, target, reduction="none").flatten(1).mean(1)  # ‖target − f_θ‖² / (C H W)
    if min_snr_gamma is None:
        return per_image.mean()
    snr = schedule.snr[t]
    weight = snr.clamp(max=min_snr_gamma) / (snr + 1 if v_model else snr)
    return (weight.to(per_image.dtype) * per_image).mean()
