"""The course's command line: sample digits from the shipped models (for slides, checks, a quick look).

    python -m course_lib sample ddpm --n 64 --sampler ddim --steps 50 --seed 0 --out grid.png
    python -m course_lib sample ddpm-cond --label 3 --guidance-scale 3 --n 16 --out threes.png
    python -m course_lib sample dcgan --n 64 --seed 0 --out gan.pt
    python -m course_lib checkpoints

An ``--out`` ending in ``.png`` saves an image grid; ``.pt`` saves the tensor (n, 1, 28, 28) in
[-1, 1]. ``--score`` prints the MNIST-classifier metrics of the samples (course_lib.metrics).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

MODELS = ("ddpm", "ddpm-cond", "dcgan")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="draw digits from a shipped model")
    s.add_argument("model", choices=MODELS, help="ddpm (unconditional), ddpm-cond (class-conditional, CFG), dcgan")
    s.add_argument("--n", type=_positive_int, default=64, help="number of images (default 64)")
    s.add_argument("--sampler", choices=("ddpm", "ddim"), default="ddim", help="diffusion sampler (default ddim)")
    s.add_argument("--steps", type=_positive_int, default=None, help="DDIM steps (default 50); DDPM always runs all T")
    s.add_argument("--eta", type=float, default=0.0, help="DDIM stochasticity eta >= 0 (0 = deterministic)")
    s.add_argument("--label", type=int, default=None, help="digit 0-9 for ddpm-cond (default: 0-9 in turn)")
    s.add_argument("--guidance-scale", type=float, default=3.0, help="classifier-free guidance w >= 0 (ddpm-cond)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    s.add_argument("--out", required=True, help="output path: .png (image grid) or .pt (tensor in [-1, 1])")
    s.add_argument("--nrow", type=_positive_int, default=8, help="images per row in a .png grid")
    s.add_argument("--score", action="store_true", help="print the classifier metrics of the samples")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("checkpoints", help="list the checkpoints shipped with the course")
    return parser


def sample_model(args) -> torch.Tensor:
    from .device import get_device

    device = get_device(args.device)
    if args.model == "dcgan":
        from .checkpoints import load_or_train
        from .gan import DCGANGenerator

        generator, _ = load_or_train(DCGANGenerator().to(device), shipped="dcgan_mnist", quiet=True)
        generator.eval()
        g = torch.Generator(device=device).manual_seed(args.seed)
        with torch.inference_mode():
            z = torch.randn(args.n, generator.latent_dim, generator=g, device=device)
            return generator(z).clamp(-1, 1).cpu()

    from .diffusion.samplers import sample
    from .diffusion.training import load_pretrained

    name = "ddpm_mnist" if args.model == "ddpm" else "ddpm_mnist_cond"
    model, schedule = load_pretrained(name, device=device)
    labels, w = None, 0.0
    if args.model == "ddpm-cond":
        if args.label is not None and not 0 <= args.label <= 9:
            raise SystemExit(f"--label must be a digit in [0, 9], got {args.label}")
        labels = torch.full((args.n,), args.label) if args.label is not None else torch.arange(args.n) % 10
        w = args.guidance_scale
    elif args.label is not None:
        raise SystemExit("--label needs the class-conditional model: use 'sample ddpm-cond'")
    return sample(
        model,
        schedule,
        args.n,
        sampler=args.sampler,
        steps=args.steps if args.sampler == "ddim" else None,
        eta=args.eta,
        labels=labels,
        guidance_scale=w,
        seed=args.seed,
        progress=not args.quiet,
    ).cpu()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "checkpoints":
        from .checkpoints import shipped_checkpoints

        for name, record in sorted(shipped_checkpoints().items()):
            print(f"{name:<18} {record['file']:<24} {record.get('bytes', 0) / 1e6:5.2f} MB  "
                  f"sha256 {record['sha256'][:12]}…  {record.get('data', '?')}, {record.get('steps', '?')} steps")
        return 0

    out = Path(args.out)
    if out.suffix not in (".png", ".pt"):
        raise SystemExit(f"--out must end in .png or .pt, got {args.out!r}")
    if args.eta < 0:
        raise SystemExit(f"--eta must be >= 0, got {args.eta}")
    if args.guidance_scale < 0:
        raise SystemExit(f"--guidance-scale must be >= 0, got {args.guidance_scale}")
    start = time.perf_counter()
    images = sample_model(args)
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".pt":
        from .checkpoints import atomic_write

        atomic_write(out, lambda tmp: torch.save(images, tmp))
    else:
        from .viz import save_images

        save_images(images, out, nrow=args.nrow)
    print(f"wrote {tuple(images.shape)} to {out} in {seconds:.1f} s")
    if args.score:
        from .metrics import score_digits

        scores = score_digits(images)
        print("  ".join(f"{k}={v:.3f}" for k, v in scores.items() if isinstance(v, float)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
