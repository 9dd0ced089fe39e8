"""Every model the course ships in one table, and the Fréchet distance's sample-size bias (issue 18).

    python benchmarks/bench_models.py                      # n = 500 per model, seed 0, the whole run
    python benchmarks/bench_models.py --n 64 --nfe 10 --mlp-steps 200 --repeats 5   # a quick look
    python benchmarks/bench_models.py --threads 1          # on a shared machine

In one run, on this machine (its load is printed beside the timings):

1. the source's MLP GAN (``MLPGenerator``/``MLPDiscriminator``, the source's recipe: batch 32,
   Adam 2e-4, betas (0.9, 0.999), non-saturating loss) is trained for ``--mlp-steps`` steps on the
   training digits — the course does not ship it, notebook 02 trains it the same way;
2. ``--n`` samples (seed ``--seed``) are drawn from it and from every shipped generator
   (``course_lib.evaluation.shipped_candidates``: the DCGAN, both VAEs, the DDPM with DDIM-
   ``--nfe``, the conditional model, and the flow and text-to-image models when this copy has
   them), timed, and scored against the held-out reference digits: confident share, precision,
   class entropy, recall, diversity, Fréchet ratio (n = 500), copies, NFE, parameters, ms per
   image (``course_lib.evaluation.comparison_table``); held-out real digits are scored as the
   ceiling;
3. the FD of n real digits to the reference for n = 100 … 4,000 (``--repeats`` draws each):
   mean, 95 % range, the fit FD_∞ + k/n, and the figure, saved to ``--out-dir``;
4. how often n samples rank the DCGAN and the latent flow the wrong way round (pools of 2,000 each,
   50 draws per n), the two models the notebook shows to be close.

Results also go to ``--out-dir`` (default ``runs/bench_models``, not tracked): ``table.md``,
``results.json``, ``frechet_bias.png``, ``samples.png``, ``trilemma.png``, ``ranking_flips.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.classifier import classify  # noqa: E402
from course_lib.data import load_mnist  # noqa: E402
from course_lib.device import seed_everything  # noqa: E402
from course_lib.evaluation import (  # noqa: E402
    comparison_table,
    draw_samples,
    format_table,
    generator_candidate,
    shipped_candidates,
)
from course_lib.evaluation.figures import (  # noqa: E402
    plot_frechet_bias,
    plot_ranking_flips,
    plot_sample_rows,
    plot_trilemma,
)
from course_lib.gan import MLPDiscriminator, MLPGenerator, train_gan  # noqa: E402
from course_lib.metrics import (  # noqa: E402
    frechet_by_sample_size,
    frechet_extrapolation,
    ranking_flip_rate,
    reference_features,
    split_heldout,
)
from course_lib.registry import has_shipped, sample_pretrained  # noqa: E402

SIZES = (100, 250, 500, 1000, 2000, 4000)


def load_text() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unavailable"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="samples per model (the targets use 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nfe", type=int, default=50, help="DDIM steps of the diffusion models")
    parser.add_argument("--mlp-steps", type=int, default=5000, help="training steps of the source's MLP GAN")
    parser.add_argument("--repeats", type=int, default=20, help="draws per sample size for the bias curve")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "runs" / "bench_models")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"{platform.node()}: torch {torch.__version__}, {torch.get_num_threads()} threads, {load_text()}")
    train, test = load_mnist("train", quiet=True), load_mnist("test", quiet=True)
    ref, other = split_heldout(test.labels)
    print(f"data: {train.source}, {len(train):,} training and {len(test):,} held-out digits; n = {args.n}, "
          f"seed {args.seed}")
    missing = [name for name in ("flow", "text2img") if not has_shipped(name)]
    if missing:
        print(f"not shipped in this copy (left out of the table): {', '.join(missing)}")

    # 1. the source's MLP GAN, trained here with the source's recipe
    seed_everything(args.seed)
    mlp = MLPGenerator()
    record = train_gan(mlp, MLPDiscriminator(), train.images, steps=args.mlp_steps, seed=args.seed, device="cpu",
                       batch_size=32, lr=2e-4, betas=(0.9, 0.999), progress=False)
    print(f"the source's MLP GAN: {record.steps} steps in {record.seconds:.0f} s ({load_text()})")

    # 2. every model, the same n and seed
    candidates = {"source's MLP GAN": generator_candidate(
        "source's MLP GAN", mlp, device="cpu", note=f"trained here, {record.steps} steps, the source's recipe")}
    candidates.update(shipped_candidates(device="cpu", nfe=args.nfe))
    samples, ms = {}, {}
    for label, candidate in candidates.items():
        t0 = time.perf_counter()
        drawn, timed = draw_samples({label: candidate}, args.n, args.seed)
        samples.update(drawn)
        ms.update(timed)
        print(f"  drew {args.n} from {label}: {time.perf_counter() - t0:.0f} s ({load_text()})", flush=True)
    # real digits the scores never compare with: a seeded random subset of the non-reference half
    # (the halves come in dataset order, which may be sorted by class)
    keep = torch.randperm(len(other), generator=torch.Generator().manual_seed(args.seed))[: args.n]
    samples["real held-out digits"] = test.images[other][keep]
    # memorisation: training digits against the reference half, disjoint from the real row above
    rows = comparison_table(samples, ms, candidates, train=train.images, heldout=test.images[ref])
    text, markdown = format_table(rows), format_table(rows, markdown=True)
    print("\n" + text + "\n")
    print("sampling settings: " + "; ".join(f"{c.label}: {c.note}" for c in candidates.values()))

    # 3. the bias of the FD with the sample size
    sizes = [n for n in SIZES if n <= 4000]
    fds = frechet_by_sample_size(sizes, repeats=args.repeats, seed=args.seed)
    means = [float(v.mean()) for v in fds.values()]
    fd_inf, k = frechet_extrapolation(sizes, means)
    print(f"\nFréchet distance of n real digits to the held-out reference ({args.repeats} draws each):")
    bias = []
    for n, v in fds.items():
        low, high = float(v.quantile(0.025)), float(v.quantile(0.975))
        bias.append({"n": n, "mean": float(v.mean()), "std": float(v.std()), "low": low, "high": high})
        print(f"  n = {n:>5}: mean {float(v.mean()):6.3f}, 95 % of draws in [{low:.3f}, {high:.3f}]")
    print(f"  fit FD(n) = {fd_inf:.3f} + {k:.1f}/n")
    plot_frechet_bias(fds).savefig(args.out_dir / "frechet_bias.png", dpi=110)
    plot_sample_rows({label: images[:12] for label, images in samples.items()}, count=12).savefig(
        args.out_dir / "samples.png", dpi=110, bbox_inches="tight")  # the row labels sit left of the axes

    plot_trilemma(rows).savefig(args.out_dir / "trilemma.png", dpi=110)

    # 4. two close models, ranked from n samples
    ref = reference_features()["reference"]
    pools = {name: classify(sample_pretrained(name, 2000, seed=args.seed + 1, progress=False))[1].double()
             for name in ("dcgan_mnist", "flow")}
    flips = {n: ranking_flip_rate(pools["dcgan_mnist"], pools["flow"], ref, num_samples=n, repeats=50, seed=args.seed)
             for n in (100, 250, 500, 1000)}
    first = next(iter(flips.values()))
    print(f"\nranking the DCGAN and the latent flow: pools of 2,000, FD {first['fd_a']:.2f} and {first['fd_b']:.2f}")
    for n, r in flips.items():
        print(f"  n = {n:>5}: wrong ranking in {r['flip_rate']:.0%} of 50 draws")
    plot_ranking_flips(flips, labels=("DCGAN", "latent flow")).savefig(args.out_dir / "ranking_flips.png", dpi=110)

    (args.out_dir / "table.md").write_text(markdown + "\n")
    results = {"n": args.n, "seed": args.seed, "nfe": args.nfe, "threads": torch.get_num_threads(),
               "load_at_end": load_text(), "seconds": time.perf_counter() - start,
               "rows": rows, "bias": bias, "fit": {"fd_inf": fd_inf, "k": k},
               "ranking": {"pools": 2000, "fd_dcgan": first["fd_a"], "fd_flow": first["fd_b"],
                           "flip_rate": {n: r["flip_rate"] for n, r in flips.items()}},
               "notes": {c.label: c.note for c in candidates.values()}, "not_shipped": missing}
    (args.out_dir / "results.json").write_text(json.dumps(results, indent=2, default=float))
    print(f"\nwrote {args.out_dir}/table.md, results.json and four figures "
          f"in {time.perf_counter() - start:.0f} s ({load_text()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
