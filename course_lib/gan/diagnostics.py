"""Looking inside a discriminator: how steep is it? (notebook 02, spectral normalisation)

A discriminator's logit a(x) is K-Lipschitz when |a(x) − a(y)| ≤ K ‖x − y‖. For a stack of
linear layers and LeakyReLUs (which are 1-Lipschitz), K ≤ ∏_l σ(W_l), the product of the layers'
largest singular values. Spectral normalisation divides each W_l by σ(W_l), so K ≤ 1.
The local steepness ‖∇_x a(x)‖ is what the generator feels: it is the size of the signal D
passes back to G's samples.
"""

from __future__ import annotations

import torch
from torch import nn

from ..device import model_device
from ..validation import check_module
from .training import _check_samples


def input_gradient_norm(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """‖∇_x a(x)‖ for each sample: how fast D's logit changes around x; shape (B,).

    Runs D in evaluation mode (restored afterwards); with ``pack`` > 1 the gradient of each
    packed group's logit is measured with respect to all of its samples together.
    """
    check_module("discriminator", discriminator)
    _check_samples("x", x)
    pack = getattr(discriminator, "pack", 1)
    if x.shape[0] % pack:
        raise ValueError(f"x must hold a multiple of the discriminator's pack={pack} samples, got {x.shape[0]}")
    x = x.to(model_device(discriminator))
    was_training = discriminator.training
    discriminator.eval()
    try:
        x = x.detach().clone().requires_grad_(True)
        logits = discriminator(x)
        (grad,) = torch.autograd.grad(logits.sum(), x)
    finally:
        discriminator.train(was_training)
    return grad.reshape(logits.shape[0], -1).norm(dim=1).cpu()


def layer_spectral_norms(module: nn.Module) -> list[float]:
    """σ(W) = the largest singular value of every linear/conv weight, in order (for convolutions,
    of the weight reshaped to (out_channels, in_channels · k · k), the usual SN estimate)."""
    check_module("module", module)
    norms = []
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            w = layer.weight.detach()
            norms.append(float(torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2)))
    return norms


def lipschitz_bound(module: nn.Module) -> float:
    """∏_l σ(W_l): an upper bound on the Lipschitz constant of a stack of linear layers with
    1-Lipschitz activations (exact for the MLP discriminators, an estimate for convolutions)."""
    bound = 1.0
    for s in layer_spectral_norms(module):
        bound *= s
    return bound
