"""Train one of the VAEs the course ships (notebook 07 loads them through the registry).

    python scripts/train_vae.py vae_2d --minutes 20 --threads 1
    python scripts/train_vae.py vae_latent --minutes 25 --threads 1
    python scripts/train_vae.py vae_2d --steps 200 --out /tmp/vae.pt      # a quick try, not shipped

Trains a :class:`course_lib.vae.ConvVAE` of the shipped architecture and KL weight
(``course_lib.vae.models.SHIPPED``; changed with ``--width``/``--hidden``/``--blocks``/``--kl-weight``)
with :func:`course_lib.vae.train_vae` on ``load_mnist("train")``, stopping at ``--steps`` or
``--minutes``, whichever comes first. Then it sets the model's ``scaling_factor`` to 1/std of the
training digits' μ (what notebook 08 multiplies latents by), scores it on the 1,000 held-out digits
(reconstruction PSNR and classifier agreement, ELBO and IWAE bound) and on 500 prior samples
(:func:`course_lib.metrics.score_digits`), and saves the weights as float16 (half the size; the
model computes in float32). When ``--out`` lies in course_lib/checkpoints the file is registered in
manifest.json with the architecture config, data, seed, steps, time, device, scores and this
command line. A PNG of samples and reconstructions is written beside ``--out`` (``--png``), for
looking at, not shipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_lib.checkpoints import SHIPPED_DIR, register_shipped, save_state_dict  # noqa: E402
from course_lib.data import load_mnist  # noqa: E402
from course_lib.device import resolve_device, seed_everything  # noqa: E402
from course_lib.metrics import score_digits  # noqa: E402
from course_lib.vae import (  # noqa: E402
    build_vae,
    count_parameters,
    iwae_bound,
    reconstruction_scores,
    sample_prior,
    set_scaling_factor,
    train_vae,
)
from course_lib.vae.figures import heldout_digits  # noqa: E402
from course_lib.vae.models import SHIPPED  # noqa: E402
from course_lib.viz import image_grid  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(SHIPPED), help="which shipped VAE to train")
    parser.add_argument("--steps", type=int, default=100_000, help="training steps (the most, with --minutes)")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much training time")
    parser.add_argument("--kl-weight", type=float, default=None,
                        help="β (default: the model's, course_lib.vae.models.SHIPPED: 1 for vae_2d, 0.25 for vae_latent)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--blocks", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a shared machine)")
    parser.add_argument("--clock", choices=("wall", "process"), default="wall",
                        help="what --minutes measures: wall time, or CPU time of this process")
    parser.add_argument("--iwae-k", type=int, default=100, help="importance samples for the held-out IWAE bound")
    parser.add_argument("--out", type=Path, default=None, help="default: course_lib/checkpoints/NAME.pt")
    parser.add_argument("--png", type=Path, default=None, help="default: beside --out, NAME_samples.png")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.minutes is not None and args.minutes <= 0:
        parser.error(f"--minutes must be positive, got {args.minutes}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python scripts/train_vae.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = resolve_device(args.device)
    config = dict(SHIPPED[args.name]["config"])
    for key in ("width", "hidden", "blocks"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    kl_weight = SHIPPED[args.name]["kl_weight"] if args.kl_weight is None else args.kl_weight
    out = args.out or SHIPPED_DIR / f"{args.name}.pt"
    png = args.png or out.with_name(f"{out.stem}_samples.png")

    train, test = load_mnist("train"), load_mnist("test")
    model = build_vae(config)
    print(f"{args.name}: {config}, {count_parameters(model):,} parameters, kl_weight {kl_weight}, on {device}")
    record = train_vae(model, train, steps=args.steps, minutes=args.minutes, seed=args.seed, device=device,
                       kl_weight=kl_weight, batch_size=args.batch_size, lr=args.lr, clock=args.clock)
    print(f"{record}; last 200 steps: −ELBO {record.mean('loss', 200):.1f}, "
          f"−log p(x|z) {record.mean('reconstruction', 200):.1f}, KL {record.mean('kl', 200):.1f} nats")

    set_scaling_factor(model, train.images)
    config = dict(model.config)

    # Round the weights to float16 first, so the scores below are those of the shipped file.
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    recon = reconstruction_scores(model, test.images, test.labels)
    iwae, elbo = iwae_bound(model, test.images, k=args.iwae_k, seed=0)
    samples = sample_prior(model, 500, seed=0)
    prior = score_digits(samples)
    scores = {
        "heldout_n": recon["n"],
        "reconstruction_agreement": round(recon["agreement"], 4),
        "original_accuracy": round(recon["original_accuracy"], 4),
        "psnr_db": round(recon["psnr"], 2),
        "heldout_elbo": round(float(elbo.mean()), 2),
        f"heldout_iwae_k{args.iwae_k}": round(float(iwae.mean()), 2),
        "prior_confident_share": round(prior["confident_share"], 4),
        "prior_class_entropy": round(prior["class_entropy"], 4),
        "prior_frechet_ratio": round(prior["frechet_ratio"], 3),
    }
    print("scores:", scores)

    sha = save_state_dict(state, out)
    size = out.stat().st_size
    print(f"saved {out} ({size / 1e6:.2f} MB, float16, sha256 {sha[:12]}…)")
    from torchvision.utils import save_image

    mixed = heldout_digits(32, seed=0).images  # the test split is stored class by class
    grid = torch.cat([samples[:64], mixed, model.reconstruct(mixed).cpu()])
    save_image(image_grid(grid, nrow=16), str(png))
    print(f"wrote {png}: 64 prior samples, then 32 held-out digits and their reconstructions")

    if out.resolve().parent == SHIPPED_DIR:
        entry = register_shipped(
            args.name, out, config=config, data=f"{train.source} MNIST train split, {len(train):,} digits",
            seed=args.seed, steps=record.steps, seconds=round(record.seconds, 1), device=str(device),
            kl_weight=kl_weight, parameters=count_parameters(model), scores=scores,
            notes=(f"{command} (stopped by {record.stopped_by}, {record.steps_per_second:.1f} steps/s, "
                   f"{torch.get_num_threads()} torch thread(s)); Adam lr {args.lr}, batch {args.batch_size}, "
                   "Bernoulli likelihood on [0, 1] intensities; weights stored as float16"),
        )
        print(f"registered {args.name} in the manifest ({entry['bytes']:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
