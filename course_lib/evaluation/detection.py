"""Telling generated from real: a trained detector, and an invisible watermark (notebook 11).

The sources name deepfakes (伦理: generated pictures passed off as real) among the challenges of
AI painting. Two answers exist, and both can be measured on digits:

**A detector** learns to tell real from generated digits: a small CNN, :class:`Detector`, trained
by :func:`train_detector` on real digits (label 0) and the samples of some generators (label 1).
:func:`detection_rates` reports, per generator, the share of its samples flagged as generated
(and the share of real digits wrongly flagged): high for the generators the detector saw in
training, and often near chance for one it did not see, whose artefacts are different. This is
the known weakness of learned detectors (Wang et al. 2020; Ojha et al. 2023).

**A watermark** is put in by whoever generates, and checked later with a secret key. The
classic spread-spectrum mark (Cox et al. 1997): a pseudo-random ±1 pattern p (H, W), drawn from
the key, is added with a small strength α,

    x_w = clamp(x + α p, −1, 1),

and the detector correlates the image with the same pattern. Both are high-pass filtered first
(h(v) = v − the 3×3 mean of v), which removes most of the smooth digit and keeps the pattern:

    z = √D · ⟨c, q⟩ / (‖c‖ ‖q‖),   c = h(x) − mean h(x),   q = h(p) − mean h(p),   D = H·W.

For an image that does not carry the mark, p is independent of x, so z is approximately
standard normal; a mark is declared when z > :data:`WATERMARK_THRESHOLD` (4: about 3 false
alarms in 100,000 under that approximation — :func:`watermark_robustness` measures the real rate).
Noise and cropping weaken the correlation; a shift of even one pixel misaligns the pattern.

The formula functions are bare; :func:`train_detector`, :func:`detection_rates`,
:func:`embed_watermark`, :func:`watermark_scores` and :func:`watermark_robustness` check their
arguments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..classifier import check_digits
from ..device import model_device, resolve_device, seed_everything
from ..train_loop import Budget, TrainRecord
from ..validation import check_float, check_instance, check_int, check_module

#: Watermark strength α on the [−1, 1] scale (the PSNR it costs is measured in notebook 11).
WATERMARK_STRENGTH = 0.1
#: Declare a watermark when the detection statistic z exceeds this (z ~ N(0, 1) without the mark).
WATERMARK_THRESHOLD = 4.0


# ----------------------------------------------------------------------------- a learned detector


class Detector(nn.Module):
    """Real or generated? A small CNN for 28×28 digits in [−1, 1] → one logit (B, 1); positive
    means "generated". Conv 4/2 (1→w) – LeakyReLU – Conv 4/2 (w→2w) – LeakyReLU – Linear(2w·7·7 → 1)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.width = w = check_int("width", width, 1)
        self.net = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),           # (w, 14, 14)
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),       # (2w, 7, 7)
            nn.Flatten(), nn.Linear(2 * w * 7 * 7, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _check_fakes(fakes) -> dict:
    check_instance("fakes", fakes, dict, hint="{generator name: images (N, 1, 28, 28)}")
    if not fakes:
        raise ValueError("fakes must name at least one generator")
    for name, images in fakes.items():
        check_digits(f"fakes[{name!r}]", images)
    return fakes


def train_detector(
    detector: nn.Module,
    real: torch.Tensor,
    fakes: dict,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    device=None,
    progress: bool = True,
    batch_size: int = 64,
    lr: float = 1e-3,
) -> TrainRecord:
    """Train ``detector`` to output a positive logit on generated digits and a negative one on real.

    ``real`` (N, 1, 28, 28) and ``fakes`` {generator name: samples (N_g, 1, 28, 28)}, all in
    [−1, 1]. Every step draws ``batch_size`` real digits and ``batch_size`` generated ones, the
    latter equally from each generator; the loss is the binary cross-entropy on the logits (Adam,
    ``lr``). Stops at ``steps`` or ``minutes``; ``record.history`` holds ``loss`` and ``accuracy``
    (on the step's own batch).
    """
    check_module("detector", detector)
    check_digits("real", real)
    fakes = _check_fakes(fakes)
    budget = Budget(steps, minutes, desc="detector", progress=progress)
    seed = seed_everything(seed)
    device = resolve_device(device)
    batch_size = check_int("batch_size", batch_size, 2)
    lr = check_float("lr", lr, 0.0, low_open=True)
    rng = torch.Generator().manual_seed(seed)
    pools = list(fakes.values())
    detector.to(device).train()
    opt = torch.optim.Adam(detector.parameters(), lr=lr)
    labels = torch.cat([torch.zeros(batch_size, 1), torch.ones(batch_size, 1)]).to(device)
    for _ in budget:
        which = torch.randint(0, len(pools), (batch_size,), generator=rng)
        fake = torch.stack([pools[g][torch.randint(0, pools[g].shape[0], (1,), generator=rng)].squeeze(0)
                            for g in which.tolist()])
        real_batch = real[torch.randint(0, real.shape[0], (batch_size,), generator=rng)]
        logits = detector(torch.cat([real_batch, fake]).to(device))
        loss = F.binary_cross_entropy_with_logits(logits, labels)  # −[y log σ(a) + (1 − y) log(1 − σ(a))]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        budget.log(loss=loss.detach(), accuracy=((logits > 0).float() == labels).float().mean())
    detector.eval()
    return budget.finish(output=detector)


@torch.no_grad()
def flagged_share(detector: nn.Module, images: torch.Tensor, batch_size: int = 500) -> float:
    """The share of ``images`` the detector calls generated (logit > 0). Bare."""
    device = model_device(detector)
    flags = [detector(chunk.to(device)) > 0 for chunk in images.split(batch_size)]
    return float(torch.cat(flags).double().mean())


def detection_rates(detector: nn.Module, real: torch.Tensor, fakes: dict) -> dict:
    """Per generator, the share of its samples flagged as generated (the detection rate), and
    ``"real digits"``: the share of real digits wrongly flagged (the false-alarm rate). Use
    held-out digits and fresh samples, not those the detector was trained on. The balanced
    accuracy on a generator g is (rate_g + 1 − false alarms) / 2: ½ is chance."""
    check_module("detector", detector)
    check_digits("real", real)
    fakes = _check_fakes(fakes)
    was_training = detector.training
    detector.eval()
    try:
        rates = {name: flagged_share(detector, images) for name, images in fakes.items()}
        rates["real digits"] = flagged_share(detector, real)
    finally:
        detector.train(was_training)
    return rates


# ----------------------------------------------------------------------------- an invisible watermark


def watermark_pattern(key: int, shape=(1, 28, 28)) -> torch.Tensor:
    """The secret pattern p: independent ±1 values (Rademacher), drawn from the integer ``key``."""
    gen = torch.Generator().manual_seed(key)
    return torch.randint(0, 2, tuple(shape), generator=gen).float() * 2 - 1


def high_pass(images: torch.Tensor) -> torch.Tensor:
    """h(v) = v − (3×3 mean of v), with edge pixels replicated: keeps fine detail, drops smooth shapes."""
    blurred = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return images - blurred


def watermark_statistic(images: torch.Tensor, pattern: torch.Tensor) -> torch.Tensor:
    """z = √D ⟨c, q⟩ / (‖c‖ ‖q‖) per image (B,), c and q the centred high-passed image and pattern. Bare."""
    c = high_pass(images.float()).flatten(1)
    c = c - c.mean(dim=1, keepdim=True)                           # c = h(x) − mean h(x)
    q = high_pass(pattern[None].float()).flatten()
    q = q - q.mean()                                              # q = h(p) − mean h(p)
    return (c @ q) / (c.norm(dim=1).clamp(min=1e-12) * q.norm()) * q.numel() ** 0.5


def embed_watermark(images: torch.Tensor, key: int, strength: float = WATERMARK_STRENGTH) -> torch.Tensor:
    """x_w = clamp(x + α p, −1, 1) for images (B, C, H, W) in [−1, 1], p the pattern of ``key``."""
    check_digits("images", images)
    key = check_int("key", key, 0)
    strength = check_float("strength", strength, 0.0, 2.0)
    return (images + strength * watermark_pattern(key, images.shape[1:])).clamp(-1, 1)


def watermark_scores(images: torch.Tensor, key: int) -> torch.Tensor:
    """The detection statistic z (B,) of each image for the pattern of ``key`` (≈ N(0, 1) unmarked)."""
    check_digits("images", images)
    key = check_int("key", key, 0)
    return watermark_statistic(images, watermark_pattern(key, images.shape[1:]))


# ----------------------------------------------------------------------------- attacks


def add_noise(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """clamp(x + σ ε, −1, 1), ε ~ N(0, I) drawn with ``seed``. Bare."""
    gen = torch.Generator().manual_seed(seed)
    return (images + std * torch.randn(images.shape, generator=gen)).clamp(-1, 1)


def crop_centre(images: torch.Tensor, keep: int) -> torch.Tensor:
    """Keep the central ``keep`` × ``keep`` pixels and blank the border to the background (−1),
    the picture staying where it was. Bare."""
    h, w = images.shape[-2:]
    top, left = (h - keep) // 2, (w - keep) // 2
    out = torch.full_like(images, -1.0)
    out[..., top:top + keep, left:left + keep] = images[..., top:top + keep, left:left + keep]
    return out


def shift(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """Move the picture ``pixels`` to the right and down (background −1 comes in). Bare."""
    if pixels == 0:
        return images.clone()
    out = torch.full_like(images, -1.0)
    out[..., pixels:, pixels:] = images[..., :-pixels, :-pixels]
    return out


ATTACKS = {"noise": add_noise, "crop": crop_centre, "shift": shift}


def watermark_robustness(images: torch.Tensor, key: int, strength: float = WATERMARK_STRENGTH, *,
                         noise=(0.0, 0.05, 0.1, 0.2, 0.3), crop=(28, 24, 20, 16, 12), shifts=(0, 1, 2),
                         threshold: float = WATERMARK_THRESHOLD, seed: int = 0) -> list[dict]:
    """Embed the watermark of ``key`` in ``images``, attack, detect. One row per attack setting:
    ``attack`` (``"noise"`` σ, ``"crop"`` the kept side, ``"shift"`` pixels), ``value``,
    ``detected`` (share of marked images with z > ``threshold``), ``false_alarms`` (share of the
    same attack on *unmarked* images with z > ``threshold``) and ``mean_z`` of the marked images."""
    check_digits("images", images)
    key = check_int("key", key, 0)
    strength = check_float("strength", strength, 0.0, 2.0)
    threshold = check_float("threshold", threshold)
    seed = check_int("seed", seed, 0)
    pattern = watermark_pattern(key, images.shape[1:])
    marked = (images + strength * pattern).clamp(-1, 1)
    settings = ([("noise", check_float("noise", s, 0.0)) for s in noise]
                + [("crop", check_int("crop", c, 1, images.shape[-1])) for c in crop]
                + [("shift", check_int("shifts", p, 0, images.shape[-1] - 1)) for p in shifts])
    rows = []
    for attack, value in settings:
        extra = (seed,) if attack == "noise" else ()
        z_marked = watermark_statistic(ATTACKS[attack](marked, value, *extra), pattern)
        z_clean = watermark_statistic(ATTACKS[attack](images, value, *extra), pattern)
        rows.append({"attack": attack, "value": value, "detected": float((z_marked > threshold).double().mean()),
                     "false_alarms": float((z_clean > threshold).double().mean()), "mean_z": float(z_marked.mean())})
    return rows
