"""Shared fixtures: schedules and seeded image batches (every random input of the tests is seeded)."""

from __future__ import annotations

import pytest
import torch

from course_lib.diffusion import make_schedule


@pytest.fixture(scope="session")
def linear_schedule():
    """DDPM's schedule: T = 1000, β from 1e-4 to 0.02."""
    return make_schedule("linear", 1000)


@pytest.fixture(scope="session")
def cosine_schedule():
    """The course's training schedule (Nichol & Dhariwal 2021), T = 1000."""
    return make_schedule("cosine", 1000)


def seeded(seed: int, shape=(3, 1, 8, 8), dtype=torch.float32, kind: str = "normal") -> torch.Tensor:
    """A reproducible tensor: standard normal, or uniform in [−1, 1] (``kind="image"``)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "image":
        return torch.rand(shape, generator=g, dtype=dtype) * 2 - 1
    return torch.randn(shape, generator=g, dtype=dtype)


@pytest.fixture
def rand():
    """``rand(seed, shape=(3, 1, 8, 8), dtype=float32, kind="normal" | "image")``: a seeded tensor."""
    return seeded


@pytest.fixture(scope="session")
def digit_batch():
    """16 real held-out digits (16, 1, 28, 28) in [−1, 1] and their labels."""
    from course_lib.data import load_mnist

    heldout = load_mnist("test", quiet=True)
    return heldout.images[:16], heldout.labels[:16]


@pytest.fixture(scope="session")
def extractor():
    """VGG19 features with seeded random weights (the offline stand-in), for the style tests."""
    from course_lib.style import FeatureExtractor, random_vgg19_features

    return FeatureExtractor(random_vgg19_features(seed=0), "random")


class Oracle(torch.nn.Module):
    """A perfect denoiser for a known batch x0 (samplers must land exactly on x0): ε̂ = (x_t − √ᾱ_t x0)/√(1−ᾱ_t) (or the matching v̂)."""

    def __init__(self, x0, schedule, prediction="epsilon"):
        super().__init__()
        self.x0, self.schedule, self.prediction = x0, schedule, prediction
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.image_size, self.in_channels = x0.shape[-1], x0.shape[1]
        self.calls = 0

    def forward(self, xt, t):
        self.calls += 1
        a = self.schedule.alpha_bars[torch.as_tensor(t)].float()
        a = a.reshape(-1, 1, 1, 1) if a.ndim else a
        eps = (xt - a.sqrt() * self.x0) / (1 - a).sqrt()
        return eps if self.prediction == "epsilon" else a.sqrt() * eps - (1 - a).sqrt() * self.x0
