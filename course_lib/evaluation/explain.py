"""Explainability: what do the models "see"? (notebook 11)

The sources call AI painting models black boxes (可解释性) whose decisions are hard to explain.
Three windows into the course's models:

* **x̂_0 along a sampling run** — a diffusion model's running guess of the final picture, at every
  step (``sample(..., return_trajectory=True)``, notebook 04): the coarse shape is decided early,
  the strokes late.
* **Saliency** of the digit classifier (the judge of every score in the course): the gradient of
  a class's logit with respect to the pixels, ∂f_c(x)/∂x (Simonyan et al. 2014), and **integrated
  gradients** (Sundararajan et al. 2017), which sum the gradient along the straight path from a
  baseline x' (a blank page, −1 everywhere) to x:

      IG_i(x) = (x_i − x'_i) · (1/m) Σ_{s=1}^{m} ∂f_c(x' + (s − ½)/m · (x − x'))/∂x_i,

  a midpoint Riemann sum of the path integral. Its attributions add up to the change of the
  logit, Σ_i IG_i = f_c(x) − f_c(x') (the *completeness* axiom), up to the error of the sum.
* **Cross-attention maps** of the text-to-image model (notebook 08): which pixels each word of
  the prompt shaped (``course_lib.text2img.generate(..., return_attention=True)``).

The formula functions are bare; :func:`saliency` checks its arguments.
"""

from __future__ import annotations

import torch

from ..classifier import check_digits, load_classifier
from ..device import model_device
from ..validation import check_choice, check_int, check_tensor

SALIENCY_METHODS = ("gradient", "integrated_gradients")


def class_logit(model, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """f_c(x): the logit of class ``target[b]`` for each image x[b], shape (B,). Bare."""
    return model(x).gather(1, target[:, None]).squeeze(1)


def input_gradient(model, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """∂f_c(x)/∂x for each image (the logits of different images do not mix). Bare."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(class_logit(model, x, target).sum(), x)
    return grad


def integrated_gradients(model, x: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor,
                         steps: int = 32) -> torch.Tensor:
    """IG(x) = (x − x') · mean_s ∂f_c(x' + α_s (x − x'))/∂x, α_s = (s − ½)/m, s = 1 … m. Bare."""
    total = torch.zeros_like(x)
    for s in range(steps):
        alpha = (s + 0.5) / steps                                 # midpoint of the s-th interval
        total += input_gradient(model, baseline + alpha * (x - baseline), target)
    return (x - baseline) * total / steps                         # (x − x') · average gradient


def saliency(images: torch.Tensor, target=None, method: str = "integrated_gradients", steps: int = 32,
             model=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Attribution maps (B, 1, 28, 28) of the course's digit classifier (or ``model``) for digits
    ``images`` (B, 1, 28, 28) in [−1, 1]: which pixels raised the logit of class ``target`` (an
    int, a (B,) tensor, or ``None``: each image's predicted class). ``method``: ``"gradient"``
    (∂f_c/∂x) or ``"integrated_gradients"`` (from a blank page, ``steps`` points on the path).
    Returns ``(maps, target)``, on the CPU. The classifier is frozen; gradients flow only to the
    pixels.
    """
    check_digits("images", images)
    check_choice("method", method, SALIENCY_METHODS)
    steps = check_int("steps", steps, 1)
    model = load_classifier() if model is None else model
    device = model_device(model)
    x = images.to(device, torch.float32)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    if target is None:
        target = predicted
    elif isinstance(target, int):
        target = torch.full_like(predicted, check_int("target", target, 0, 9))
    else:
        check_tensor("target", target, shape=(x.shape[0],))
        target = target.to(device).long()
    with torch.enable_grad():
        if method == "gradient":
            maps = input_gradient(model, x, target)
        else:
            maps = integrated_gradients(model, x, target, torch.full_like(x, -1.0), steps)
    return maps.detach().cpu(), target.cpu()
