"""The small MNIST classifier that reads generated digits (used by :mod:`course_lib.metrics`).

:class:`DigitClassifier` is trained by ``scripts/train_classifier.py`` on real digits (its
held-out accuracy is in ``course_lib/checkpoints/manifest.json``) and also to answer "don't know"
(uniform probabilities) on noise and smooth blobs (outlier exposure), so half-formed strokes score
low. It ships as ``mnist_classifier`` in the registry. Taught in notebooks 02 and 04–05.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .device import model_device, resolve_device
from .validation import check_images, check_int

NUM_CLASSES = 10
FEATURE_DIM = 64
CHECKPOINT_NAME = "mnist_classifier"


class DigitClassifier(nn.Module):
    """A small CNN for 28×28 digits in [-1, 1]: logits (B, 10) and a (B, 64) feature vector.

    conv 32-32 → pool → conv 64-64 → pool → conv 128 (3×3 convolutions with BatchNorm and ReLU)
    → global average pool → linear 64 (ReLU: the *features* used by the Fréchet distance) →
    linear 10 (the logits). About 150k parameters, 22M multiply-adds per digit.
    """

    def __init__(self, width: int = 32, feature_dim: int = FEATURE_DIM):
        super().__init__()
        width = check_int("width", width, 4, 256)
        feature_dim = check_int("feature_dim", feature_dim, 2, 1024)

        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, width), *block(width, width), nn.MaxPool2d(2),  # 14×14
            *block(width, 2 * width), *block(2 * width, 2 * width), nn.MaxPool2d(2),  # 7×7
            *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.embed = nn.Sequential(nn.Linear(4 * width, feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(feature_dim, NUM_CLASSES)
        self.feature_dim = feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, feature_dim) of images x (B, 1, 28, 28) in [-1, 1]."""
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 10) of images x (B, 1, 28, 28) in [-1, 1]."""
        return self.head(self.dropout(self.features(x)))


_CLASSIFIERS: dict = {}


def load_classifier(device=None) -> DigitClassifier:
    """The course's shipped MNIST classifier (through the registry: SHA-256 verified,
    ``weights_only``), in eval mode and frozen, loaded once per process and device.

    Its record (data, seed, steps, held-out accuracy) is ``load_classifier().record``.
    """
    from .registry import load_pretrained

    device = resolve_device(device)
    key = str(device)
    if key not in _CLASSIFIERS:
        _CLASSIFIERS[key] = load_pretrained(CHECKPOINT_NAME, device).requires_grad_(False)
    return _CLASSIFIERS[key]


def check_digits(name: str, images) -> torch.Tensor:
    """Check a batch of digits for the classifier: (B, 1, 28, 28), B ≥ 1, values in [−1, 1]."""
    check_images(name, images, channels=1, pixel_range=True)
    if tuple(images.shape[-2:]) != (28, 28):
        raise ValueError(f"{name} must have shape (B, 1, 28, 28) (MNIST size), got {tuple(images.shape)}")
    if images.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one image, got shape {tuple(images.shape)}")
    return images


@torch.no_grad()
def classify(images: torch.Tensor, batch_size: int = 500, device=None):
    """Run the classifier on digits (B, 1, 28, 28) in [-1, 1].

    Returns ``(probs, features)``: class probabilities (B, 10) and penultimate features
    (B, 64), both float32 on the CPU.
    """
    check_digits("images", images)
    batch_size = check_int("batch_size", batch_size, 1)
    model = load_classifier(device)
    dev = model_device(model)
    probs, feats = [], []
    for chunk in images.split(batch_size):
        x = chunk.to(dev, torch.float32).clamp(-1, 1)
        f = model.features(x)
        probs.append(F.softmax(model.head(f), dim=1).cpu())
        feats.append(f.cpu())
    return torch.cat(probs), torch.cat(feats)
