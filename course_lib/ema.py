"""The exponential moving average of a model's weights (used by every family that samples).

Sampling uses θ_EMA ← d·θ_EMA + (1 − d)·θ, a smoothed copy of the weights that gives cleaner
samples than the last training step (taught in notebook 04).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .validation import check_float, check_module


class EMA:
    """Exponential moving average of a model's weights: θ_EMA ← d·θ_EMA + (1 − d)·θ.

    ``decay`` is d. Early in training the average would remember the random initial weights for
    ~1/(1 − d) steps, so the effective decay warms up as min(d, (1 + n)/(10 + n)) after n updates
    (as in TensorFlow's ExponentialMovingAverage). ``ema.model`` is the averaged copy; buffers
    are copied as they are.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        check_module("model", model)
        self.decay = check_float("decay", decay, 0.0, 1.0, high_open=True)
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.num_updates = 0

    def current_decay(self) -> float:
        """The decay used at the next update: min(d, (1 + n)/(10 + n))."""
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step of θ_EMA ← d·θ_EMA + (1 − d)·θ."""
        d = self.current_decay()
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for eb, b in zip(self.model.buffers(), model.buffers()):
            eb.copy_(b)
        self.num_updates += 1
