"""The reverse process: the posterior, the ε-parameterisation and the simplified loss (notebook 04).

Notation (CONVENTIONS): code ``t = 0 … T−1`` is the paper's step t + 1; ᾱ_{−1} = 1.

* **Posterior** (DDPM eq. 6–7). Given x_0, the step back is Gaussian:
  q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) with
  μ̃_t = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t,
  β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t.
* **ε-parameterisation** (DDPM eq. 11). x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, so a network that predicts
  ε predicts x_0 too: x̂_0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t, and substituting x̂_0 into μ̃_t gives
  μ_θ(x_t, t) = (x_t − β_t / √(1−ᾱ_t) · ε_θ(x_t, t)) / √α_t.
* **Simplified loss** (DDPM eq. 14): L_simple = E_{t, x_0, ε} ‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t)‖².
* **v-parameterisation** (Salimans & Ho 2022), offered as an alternative objective:
  v = √ᾱ_t ε − √(1−ᾱ_t) x_0; then x_0 = √ᾱ_t x_t − √(1−ᾱ_t) v and ε = √(1−ᾱ_t) x_t + √ᾱ_t v.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_choice, check_float, check_images, check_tensor
from .forward import q_sample
from .schedules import Schedule, at

OBJECTIVES = ("epsilon", "v")


def _same_shape(name: str, value: torch.Tensor, like: torch.Tensor, like_name: str) -> None:
    check_images(name, value)
    if value.shape != like.shape:
        raise ValueError(f"{name} must have the shape of {like_name} {tuple(like.shape)}, got {tuple(value.shape)}")


def posterior_mean_variance(x0: torch.Tensor, xt: torch.Tensor, t, schedule: Schedule):
    """Mean μ̃_t and variance β̃_t of q(x_{t−1} | x_t, x_0) (DDPM eq. 6–7).

    μ̃_t = √ᾱ_{t−1} β_t / (1−ᾱ_t) · x_0 + √α_t (1−ᾱ_{t−1}) / (1−ᾱ_t) · x_t
    β̃_t = (1−ᾱ_{t−1}) / (1−ᾱ_t) · β_t

    ``x0``, ``xt``: (B, C, H, W); ``t``: int or (B,). Returns ``(mean, variance)`` with ``mean``
    shaped like ``xt`` and ``variance`` broadcastable to it ((B, 1, 1, 1), or a scalar tensor for
    an int ``t``). At t = 0, β̃_0 = 0 and μ̃_0 = x_0.
    """
    check_images("xt", xt)
    _same_shape("x0", x0, xt, "xt")
    t = schedule.check_t(t)
    mean = at(schedule.posterior_mean_coef_x0, t, xt) * x0 + at(schedule.posterior_mean_coef_xt, t, xt) * xt
    return mean, at(schedule.posterior_variance, t, xt)


def predict_x0_from_noise(xt: torch.Tensor, t, noise: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """x̂_0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t — invert x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4, 15)."""
    check_images("xt", xt)
    _same_shape("noise", noise, xt, "xt")
    t = schedule.check_t(t)
    a_bar = at(schedule.alpha_bars, t, xt)
    return (xt - (1 - a_bar).sqrt() * noise) / a_bar.sqrt()


def predict_noise_from_x0(xt: torch.Tensor, t, x0: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """ε̂ = (x_t − √ᾱ_t x̂_0) / √(1−ᾱ_t) — the noise implied by a predicted (e.g. clipped) x̂_0."""
    check_images("xt", xt)
    _same_shape("x0", x0, xt, "xt")
    t = schedule.check_t(t)
    a_bar = at(schedule.alpha_bars, t, xt)
    return (xt - a_bar.sqrt() * x0) / (1 - a_bar).sqrt()


def reverse_mean_from_noise(xt: torch.Tensor, t, noise: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """μ_θ(x_t, t) = (x_t − β_t / √(1−ᾱ_t) · ε̂) / √α_t (DDPM eq. 11).

    Equal to the posterior mean μ̃_t with x_0 replaced by :func:`predict_x0_from_noise`.
    """
    check_images("xt", xt)
    _same_shape("noise", noise, xt, "xt")
    t = schedule.check_t(t)
    beta = at(schedule.betas, t, xt)
    a_bar = at(schedule.alpha_bars, t, xt)
    alpha = at(schedule.alphas, t, xt)
    return (xt - beta / (1 - a_bar).sqrt() * noise) / alpha.sqrt()


def velocity_target(x0: torch.Tensor, noise: torch.Tensor, t, schedule: Schedule) -> torch.Tensor:
    """v = √ᾱ_t ε − √(1−ᾱ_t) x_0 (Salimans & Ho 2022), the target of the ``"v"`` objective."""
    check_images("x0", x0)
    _same_shape("noise", noise, x0, "x0")
    t = schedule.check_t(t)
    a_bar = at(schedule.alpha_bars, t, x0)
    return a_bar.sqrt() * noise - (1 - a_bar).sqrt() * x0


def noise_from_velocity(xt: torch.Tensor, t, v: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """ε = √(1−ᾱ_t) x_t + √ᾱ_t v — the noise implied by a v-prediction."""
    check_images("xt", xt)
    _same_shape("v", v, xt, "xt")
    t = schedule.check_t(t)
    a_bar = at(schedule.alpha_bars, t, xt)
    return (1 - a_bar).sqrt() * xt + a_bar.sqrt() * v


def _model_output(model: nn.Module, xt: torch.Tensor, t, labels) -> torch.Tensor:
    return model(xt, t) if labels is None else model(xt, t, labels)


def model_noise(model: nn.Module, xt: torch.Tensor, t, schedule: Schedule, labels=None) -> torch.Tensor:
    """The network's noise prediction ε_θ(x_t, t [, c]), whatever the network outputs.

    A model whose ``prediction`` attribute is ``"v"`` outputs v; it is converted with
    :func:`noise_from_velocity`. Anything else is taken to output ε (the default). ``labels`` is
    passed on only when given, so plain ``model(xt, t)`` networks work too.
    """
    out = _model_output(model, xt, t, labels)
    if getattr(model, "prediction", "epsilon") == "v":
        t = schedule.check_t(t)
        return noise_from_velocity(xt, t, out, schedule)
    return out


def diffusion_loss(
    model: nn.Module,
    x0: torch.Tensor,
    schedule: Schedule,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    objective: str | None = None,
    min_snr_gamma: float | None = None,
) -> torch.Tensor:
    """The simplified loss L_simple = E ‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t)‖² (DDPM eq. 14).

    ``t`` (B,) is drawn uniformly from 0 … T−1 and ``noise`` from N(0, I) when not given.
    ``objective`` defaults to the model's ``prediction`` attribute (``"epsilon"``): the target is
    ε; with ``"v"`` it is v = √ᾱ_t ε − √(1−ᾱ_t) x_0. ``min_snr_gamma`` = γ reweights each image's
    error by min(SNR(t), γ)/SNR(t) for ε (min(SNR, γ)/(SNR + 1) for v) (Hang et al. 2023), which
    stops the nearly-clean steps from dominating the gradient; ``None`` is the plain mean.
    ``labels`` (B,) are passed to a class-conditional model.
    """
    check_images("x0", x0)
    b = x0.shape[0]
    if objective is None:
        objective = getattr(model, "prediction", "epsilon")
    check_choice("objective", objective, OBJECTIVES)
    if t is None:
        t = torch.randint(0, schedule.num_steps, (b,), device=x0.device)
    else:
        check_tensor("t", t, shape=(b,))
        t = schedule.check_t(t)
    if noise is None:
        noise = torch.randn_like(x0)
    else:
        _same_shape("noise", noise, x0, "x0")
    xt = q_sample(x0, t, schedule, noise)
    out = _model_output(model, xt, t, labels)
    target = noise if objective == "epsilon" else velocity_target(x0, noise, t, schedule)
    per_image = F.mse_loss(out, target, reduction="none").flatten(1).mean(1)
    if min_snr_gamma is None:
        return per_image.mean()
    gamma = check_float("min_snr_gamma", min_snr_gamma, 0.0, low_open=True)
    snr = schedule.snr.to(x0.device)[t]
    weight = snr.clamp(max=gamma) / (snr if objective == "epsilon" else snr + 1)
    return (weight.float() * per_image).mean()
