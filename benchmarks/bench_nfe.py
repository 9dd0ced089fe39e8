"""Quality against the number of network evaluations (NFE) on MNIST: DDPM, DDIM, Heun, flow (issue 17).

    python benchmarks/bench_nfe.py                              # 500 samples per row, seeds 0 and 1
    python benchmarks/bench_nfe.py --n 100 --seeds 0 --quick    # a quicker look (fewer rows)
    python benchmarks/bench_nfe.py --threads 1 --json runs/bench_nfe/rows.json   # on a shared machine
    python benchmarks/bench_nfe.py --threads 1 --max-nfe 50     # a CPU: without DDPM's 1000 steps

One run samples every row below ``--n`` times for each seed in ``--seeds``, scores each set with
the course classifier (:func:`course_lib.metrics.score_digits`: confident share, class-histogram
entropy, Fréchet ratio at n = 500) and prints the rows with their mean over the seeds and the
seconds per image, with the machine's load (other programs slow the seconds, not the scores):

* ``ddpm_mnist`` (the shipped diffusion model) with DDPM's ancestral sampler (1000 NFE), its
  stochastic DDIM twin (η = 1, "DDPM with fewer steps"), DDIM η = 0 (Euler on the probability-flow
  ODE) and Heun on the same ODE (:func:`course_lib.flow.ode.solve_pf_ode`);
* ``flow_reflow`` (``ddpm_mnist`` distilled by reflow: unconditional, pixel space) with Euler and Heun
  (:func:`course_lib.flow.ode.sample_flow`);
* ``flow`` (the class-conditional latent flow, asked for 0–9 in turn: a different, easier task than
  the unconditional rows above, as the conditional DDPM's rows would be) with Euler;
* with ``--model PATH`` also a latent flow trained elsewhere (e.g. in notebook 10's cpu budget, saved
  with ``torch.save(model.state_dict(), PATH)``), rebuilt with the cpu budget's architecture.

``--json`` writes the rows (one per method, nfe and seed) for :func:`course_lib.flow.figures.plot_nfe_quality`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.diffusion.samplers import sample  # noqa: E402
from course_lib.flow.latent import LatentFlow  # noqa: E402
from course_lib.flow.ode import pf_ode_timesteps, sample_flow, solve_pf_ode  # noqa: E402
from course_lib.flow.training import PRESETS  # noqa: E402
from course_lib.metrics import score_digits  # noqa: E402
from course_lib.registry import has_shipped, load_pretrained  # noqa: E402

FULL = {
    "DDPM (ancestral)": [1000],
    "DDIM, η = 1 (stochastic)": [10, 20, 50],
    "DDIM, η = 0 (Euler on the PF-ODE)": [4, 8, 20, 50],
    "Heun on the PF-ODE": [7, 19, 49],
    "flow_reflow, Euler": [1, 2, 4, 8, 20],
    "flow_reflow, Heun": [3, 7, 19],
    "flow (latent, conditional), Euler": [1, 2, 4, 8, 20],
    "flow (latent, conditional), Heun": [3, 7],
}
QUICK = {
    "DDIM, η = 1 (stochastic)": [20],
    "DDIM, η = 0 (Euler on the PF-ODE)": [8, 20],
    "Heun on the PF-ODE": [7, 19],
    "flow_reflow, Euler": [4, 8],
    "flow_reflow, Heun": [7],
    "flow (latent, conditional), Euler": [4, 8],
}


def model_of(method: str) -> str:
    """The model a row samples: ``yours``, ``flow``, ``flow_reflow`` or ``ddpm_mnist``."""
    return method.split(",")[0].split(" ")[0] if method.startswith(("yours", "flow")) else "ddpm_mnist"


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1/5/15 min) on {os.cpu_count()} CPUs"


def draw(method: str, model, n: int, nfe: int, seed: int, device) -> torch.Tensor:
    """``n`` samples of one row: its sampler at ``nfe`` network evaluations, seeded."""
    if method.startswith("DDPM"):
        return sample(model, n, sampler="ddpm", seed=seed, device=device, progress=False)
    if method.startswith("DDIM"):
        eta = 1.0 if "η = 1" in method else 0.0
        return sample(model, n, sampler="ddim", nfe=nfe, eta=eta, seed=seed, device=device, progress=False)
    if method.startswith("Heun"):
        noise = torch.randn((n, 1, 28, 28), generator=torch.Generator(device=device).manual_seed(seed), device=device)
        model.to(device).eval()
        x, _ = solve_pf_ode(model, noise, pf_ode_timesteps(model.schedule.num_steps, nfe, "heun"), "heun")
        return x.clamp(-1, 1)
    solver = "heun" if "Heun" in method else "euler"
    return sample_flow(model, n, nfe=nfe, solver=solver, seed=seed, device=device, progress=False)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500, help="samples per row and seed (the targets are stated at 500)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="fewer rows")
    p.add_argument("--model", default=None, help="state dict of a FlowUNet() to add as 'yours'")
    p.add_argument("--json", default=None, help="write the rows here")
    p.add_argument("--max-nfe", type=int, default=None,
                   help="leave out rows above this many evaluations (e.g. 50 on a CPU: DDPM-1000 of 500 "
                        "samples takes about an hour per seed on one core)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows_wanted = QUICK if args.quick else FULL
    models = {}
    if has_shipped("ddpm_mnist"):
        models["ddpm_mnist"] = load_pretrained("ddpm_mnist", device=args.device)
    for name in ("flow_reflow", "flow"):
        if has_shipped(name):
            models[name] = load_pretrained(name, device=args.device)
    plan = [(m, nfe) for m, nfes in rows_wanted.items() for nfe in nfes
            if model_of(m) in models and (args.max_nfe is None or nfe <= args.max_nfe)]
    if args.model:
        mine = LatentFlow(load_pretrained("vae_latent", device="cpu"), num_classes=10, **PRESETS["cpu"]["model"])
        mine.load_state_dict(torch.load(args.model, weights_only=True, map_location="cpu"))
        models["yours"] = mine
        plan += [("yours, Euler", nfe) for nfe in (4, 8, 20)] + [("yours, Heun", nfe) for nfe in (7, 19)]
    print(f"NFE-quality benchmark: n = {args.n} per row and seed, seeds {args.seeds}, device {args.device}, "
          f"{torch.get_num_threads()} torch thread(s); {load_text()}", flush=True)
    rows = []
    start_all = time.perf_counter()
    for method, nfe in plan:
        name = model_of(method)
        per_seed = []
        for seed in args.seeds:
            start = time.perf_counter()
            images = draw(method, models[name], args.n, nfe, seed, args.device).cpu()
            seconds = time.perf_counter() - start
            s = score_digits(images)
            row = {"method": method, "model": name, "nfe": nfe, "seed": seed, "n": args.n,
                   "confident_share": s["confident_share"], "class_entropy": s["class_entropy"],
                   "frechet_ratio": s["frechet_ratio"], "seconds_per_image": seconds / args.n}
            rows.append(row)
            per_seed.append(row)
            print(f"  {method:36s} nfe {nfe:4d} seed {seed}: confident {row['confident_share']:.3f}  entropy "
                  f"{row['class_entropy']:.3f}  Fréchet ratio {row['frechet_ratio']:.2f}  "
                  f"{row['seconds_per_image']:.4f} s/image", flush=True)
        mean = {k: sum(r[k] for r in per_seed) / len(per_seed)
                for k in ("confident_share", "class_entropy", "frechet_ratio", "seconds_per_image")}
        print(f"= {method:36s} nfe {nfe:4d} mean of {len(per_seed)}: confident {mean['confident_share']:.3f}  "
              f"entropy {mean['class_entropy']:.3f}  Fréchet ratio {mean['frechet_ratio']:.2f}  "
              f"{mean['seconds_per_image']:.4f} s/image; {load_text()}", flush=True)
    print(f"\ntotal {time.perf_counter() - start_all:.0f} s; {load_text()}")
    print("\n| method | NFE | confident | entropy | Fréchet ratio | s/image |\n| --- | --- | --- | --- | --- | --- |")
    for method, nfe in plan:
        group = [r for r in rows if r["method"] == method and r["nfe"] == nfe]
        cell = {k: " / ".join(f"{r[k]:.3f}" if k != "frechet_ratio" else f"{r[k]:.2f}" for r in group)
                for k in ("confident_share", "class_entropy", "frechet_ratio")}
        secs = sum(r["seconds_per_image"] for r in group) / len(group)
        print(f"| {method} | {nfe} | {cell['confident_share']} | {cell['class_entropy']} | "
              f"{cell['frechet_ratio']} | {secs:.4f} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))
        print(f"rows written to {args.json}")


if __name__ == "__main__":
    main()
