"""Speed and quality of the course's denoiser and samplers on this machine (issue 7).

    python benchmarks/bench_diffusion.py                    # the cpu budget's minutes each, ours and diffusers'
    python benchmarks/bench_diffusion.py --minutes 2 --eval-n 200 --compare-n 64   # a quicker look
    python benchmarks/bench_diffusion.py --skip-train --skip-diffusers             # shipped models only
    python benchmarks/bench_diffusion.py --threads 1 --clock process               # on a shared machine
    python benchmarks/bench_diffusion.py --skip-train --skip-diffusers --device cuda --compare-n 500 \
        --compare-seeds 5                       # shipped models on a GPU, DDPM-1000 vs DDIM-50 on 5 seeds

Prints, with the machine's load (other programs slow every number here down):

1. the course's U-Net (``UNet()``, the ``cpu`` recipe) trained for
   ``--minutes`` on the training digits: steps/s, and its samples' metrics
   (``course_lib.metrics``: confident share, class-histogram entropy, Fréchet ratio) and seconds
   per image for each of ``SAMPLER_SETTINGS`` (DDIM-50/20/10 deterministic, DDIM-100 and
   DDIM-50 with η = 1); DDPM-1000 is compared with DDIM-50 (η = 0 and 1) on the same
   ``--compare-n`` starting noises, for each of ``--compare-seeds`` seeds (the Fréchet ratio of
   one set of samples varies by ±25 % from seed to seed, so "within 10 %" needs several);
2. side by side, in the same run, on the same data, recipe and minutes: diffusers' ``UNet2DModel``
   (a small config, digits padded to 32×32) with ``DDPMScheduler`` for training and
   ``DDIMScheduler`` (50 trailing steps) for sampling — diffusers is a benchmark-only dependency
   (``pip install -e '.[bench]'``);
3. the shipped checkpoints ``ddpm_mnist`` and ``ddpm_mnist_cond`` (when present), sampled on
   ``--device`` (training in 1 and 2 always runs on the CPU: that is what it measures).

Sample grids go to ``--out-dir`` (default ``runs/bench_diffusion``, not tracked by git).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.data import load_mnist  # noqa: E402
from course_lib.diffusion.samplers import SAMPLER_SETTINGS, sample  # noqa: E402
from course_lib.diffusion.training import PRESETS, train_diffusion  # noqa: E402
from course_lib.diffusion.unet import UNet, count_parameters  # noqa: E402
from course_lib.ema import EMA  # noqa: E402
from course_lib.metrics import score_digits  # noqa: E402
from course_lib.registry import has_shipped, load_pretrained  # noqa: E402
from course_lib.train_loop import lr_at  # noqa: E402
from course_lib.viz import save_images  # noqa: E402

ROWS: list[tuple] = []
CLOCK = {"now": time.perf_counter}  # wall clock, or process CPU time with --clock process


def load_text() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1/5/15 min) on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unavailable"


def report(name: str, images: torch.Tensor, seconds: float, out_dir: Path) -> dict:
    scores = score_digits(images)
    per_image = seconds / images.shape[0]
    ROWS.append((name, images.shape[0], per_image, scores["confident_share"], scores["class_entropy"],
                 scores["frechet_ratio"]))
    print(f"  {name:34s} n={images.shape[0]:4d}  {per_image:8.4f} s/image  confident {scores['confident_share']:.3f}"
          f"  entropy {scores['class_entropy']:.3f}  FD ratio {scores['frechet_ratio']:.2f}"
          f" (FD {scores['frechet']:.3f}, real {scores['frechet_real']:.3f})", flush=True)
    save_images(images[:100], out_dir / (re.sub(r"[^A-Za-z0-9.-]+", "_", name) + ".png"), nrow=10)
    return scores


def timed_sample(model, n, **kw):
    start = CLOCK["now"]()
    images = sample(model, n, progress=False, **kw)
    if images.is_cuda:
        torch.cuda.synchronize()
    return images.cpu(), CLOCK["now"]() - start


def bench_course(args, digits, out_dir):
    print(f"\n== the course's U-Net, trained {args.minutes:g} {args.clock} min ({load_text()})")
    model = UNet()
    recipe = dict(PRESETS["cpu"], minutes=args.minutes)
    print(f"  {count_parameters(model) / 1e6:.2f} M parameters, config {model.full_config()}\n  recipe {recipe}")
    result = train_diffusion(model, digits, seed=args.seed, progress=False, clock=args.clock, device="cpu",
                             **recipe)
    print(f"  trained {result.steps} steps in {result.seconds:.0f} s: {result.steps_per_second:.2f} steps/s "
          f"({result.steps_per_second * recipe['batch_size']:.0f} images/s); loss (last 200) "
          f"{result.mean('loss', last=200):.4f}; {load_text()}", flush=True)
    evaluate(model, "ours", args, out_dir)
    return model


def changes(scores: dict, base: dict, keys) -> str:
    """Relative change of each metric in ``keys`` from ``base`` to ``scores``, as printed text."""
    return ", ".join(f"{k} {(scores[k] - base[k]) / max(abs(base[k]), 1e-9):+.1%}" for k in keys)


def evaluate(model, tag, args, out_dir, labels=None, w=0.0):
    kw = dict(labels=labels, guidance_scale=w)
    lab = (lambda n: None) if labels is None else (lambda n: torch.arange(n) % 10)
    if args.compare_n:
        n = args.compare_n
        keys = ("confident_share", "class_entropy", "frechet_ratio")
        names = ("DDPM-1000", "DDIM-50", "DDIM-50, η=1")
        totals = {name: {k: 0.0 for k in (*keys, "seconds")} for name in names}
        seeds = range(args.seed, args.seed + args.compare_seeds)
        for seed in seeds:
            runs = {}
            for name in names:
                images, secs = timed_sample(model, n, seed=seed, device=args.device, **SAMPLER_SETTINGS[name],
                                            **dict(kw, labels=lab(n)))
                runs[name] = (report(f"{tag} {name} (compare, seed {seed})", images, secs, out_dir), secs)
                totals[name]["seconds"] += secs
                for k in keys:
                    totals[name][k] += runs[name][0][k]
            base, s_base = runs["DDPM-1000"]
            for name in names[1:]:
                b, s_b = runs[name]
                print(f"  -> {name} is {s_base / s_b:.1f}x faster than DDPM-1000 on the same {n} starting noises "
                      f"(seed {seed}); metric changes {changes(b, base, keys)} (FD ratio: lower is better)",
                      flush=True)
        if len(seeds) > 1:
            base = totals["DDPM-1000"]
            for name in names:
                mean = {k: v / len(seeds) for k, v in totals[name].items()}
                line = (f"  mean over {len(seeds)} seeds, {name:13s}: confident {mean['confident_share']:.3f}  "
                        f"entropy {mean['class_entropy']:.3f}  FD ratio {mean['frechet_ratio']:.2f}")
                if name != "DDPM-1000":
                    line += (f"; {base['seconds'] / totals[name]['seconds']:.1f}x faster than DDPM-1000, changes "
                             + changes(totals[name], base, keys))
                print(line, flush=True)
    for name, setting in SAMPLER_SETTINGS.items():
        if setting["sampler"] == "ddpm":
            continue
        images, secs = timed_sample(model, args.eval_n, seed=args.seed + 1, device=args.device, **setting,
                                    **dict(kw, labels=lab(args.eval_n)))
        report(f"{tag} {name}", images, secs, out_dir)


def bench_diffusers(args, digits, out_dir):
    try:
        from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
    except ImportError:
        print("\n== diffusers is not installed (pip install -e '.[bench]'): comparison skipped")
        return
    print(f"\n== diffusers UNet2DModel + DDPMScheduler, trained {args.minutes:g} {args.clock} min ({load_text()})")
    torch.manual_seed(args.seed)
    model = UNet2DModel(
        sample_size=32, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8,
    )
    # The same noise schedule and objective as the course's model (cosine = diffusers'
    # "squaredcos_cap_v2", v prediction), so the comparison is about the network and the code.
    ours = UNet().schedule
    kinds = {"cosine": dict(beta_schedule="squaredcos_cap_v2"),
             "linear": dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02)}
    prediction = UNet().prediction
    train_sched = DDPMScheduler(num_train_timesteps=ours.num_steps, **kinds[ours.kind],
                                prediction_type="v_prediction" if prediction == "v" else "epsilon")
    recipe = PRESETS["cpu"]
    print(f"  {count_parameters(model) / 1e6:.2f} M parameters; same recipe (batch {recipe['batch_size']}, "
          f"lr {recipe['lr']}, EMA {recipe['ema_decay']}, grad clip 1, same lr schedule), {ours.kind} schedule, "
          f"{prediction} objective")
    data = F.pad(digits.images, (2, 2, 2, 2), value=-1.0)
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    ema = EMA(model, recipe["ema_decay"])
    gen = torch.Generator().manual_seed(args.seed)
    budget = 60 * args.minutes
    now = time.perf_counter if args.clock == "wall" else time.process_time
    start, steps, losses = now(), 0, []
    while now() - start < budget:
        for g in opt.param_groups:
            g["lr"] = lr_at((now() - start) / budget, recipe["lr"])
        x0 = data[torch.randint(0, data.shape[0], (recipe["batch_size"],), generator=gen)]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, ours.num_steps, (x0.shape[0],), generator=gen)
        target = train_sched.get_velocity(x0, noise, t) if prediction == "v" else noise
        loss = F.mse_loss(model(train_sched.add_noise(x0, noise, t), t).sample, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
        losses.append(loss.item())
        steps += 1
    seconds = now() - start
    print(f"  trained {steps} steps in {seconds:.0f} s: {steps / seconds:.2f} steps/s; loss (last 200) "
          f"{sum(losses[-200:]) / len(losses[-200:]):.4f}; {load_text()}", flush=True)
    net = ema.model.eval()
    for name in ("DDIM-50", "DDIM-100, η=1"):
        setting = SAMPLER_SETTINGS[name]
        sampler = DDIMScheduler.from_config(train_sched.config, timestep_spacing="trailing")
        sampler.set_timesteps(setting["nfe"])
        g = torch.Generator().manual_seed(args.seed + 1)
        x = torch.randn(args.eval_n, 1, 32, 32, generator=g)
        t0 = now()
        with torch.inference_mode():
            for t in sampler.timesteps:
                x = sampler.step(net(x, t).sample, t, x, eta=setting["eta"], generator=g).prev_sample
        report(f"diffusers {name}", x[:, :, 2:30, 2:30].clamp(-1, 1), now() - t0, out_dir)


def bench_shipped(args, out_dir):
    for name in ("ddpm_mnist", "ddpm_mnist_cond"):
        if not has_shipped(name):
            print(f"\n== {name}: not shipped in this copy (scripts/train_ddpm.py makes it)")
            continue
        print(f"\n== shipped {name} ({load_text()})")
        model = load_pretrained(name, device=args.device)
        if name.endswith("cond"):
            for w in args.guidance:
                images, secs = timed_sample(model, args.eval_n, sampler="ddim", nfe=50, seed=args.seed,
                                            device=args.device, labels=torch.arange(args.eval_n) % 10,
                                            guidance_scale=w)
                report(f"{name} DDIM-50 w={w:g}", images, secs, out_dir)
        else:
            evaluate(model, name, args, out_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=PRESETS["cpu"]["minutes"],
                        help="training minutes for each model (default: the cpu budget's, %(default)s)")
    parser.add_argument("--eval-n", type=int, default=500, help="samples scored per DDIM run (default 500)")
    parser.add_argument("--compare-n", type=int, default=100,
                        help="samples for the DDPM-1000 vs DDIM-50 comparison (0: skip; default 100)")
    parser.add_argument("--compare-seeds", type=int, default=1,
                        help="repeat the DDPM-1000 vs DDIM-50 comparison for this many seeds (default 1)")
    parser.add_argument("--guidance", type=float, nargs="+", default=[0.0, 1.0, 3.0])
    parser.add_argument("--device", default="cpu", help="where the shipped models sample (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "process"), default="wall",
                        help="measure --minutes in wall-clock or this process's CPU time (use 'process' with "
                             "--threads 1 on a shared machine: the budget then ignores other programs' load)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-diffusers", action="store_true")
    parser.add_argument("--skip-shipped", action="store_true")
    parser.add_argument("--out-dir", default=str(ROOT / "runs" / "bench_diffusion"))
    args = parser.parse_args(argv)
    if args.compare_seeds < 1:
        parser.error(f"--compare-seeds must be at least 1, got {args.compare_seeds}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "process":
        CLOCK["now"] = time.process_time
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; times are {args.clock} seconds; "
          f"{load_text()}")
    digits = load_mnist("train")
    if not args.skip_train:
        bench_course(args, digits, out_dir)
    if not args.skip_diffusers:
        bench_diffusers(args, digits, out_dir)
    if not args.skip_shipped:
        bench_shipped(args, out_dir)
    print(f"\n{'run':34s} {'n':>5s} {'s/image':>9s} {'conf':>6s} {'entropy':>8s} {'FD ratio':>9s}")
    for name, n, per, conf, ent, ratio in ROWS:
        print(f"{name:34s} {n:5d} {per:9.4f} {conf:6.3f} {ent:8.3f} {ratio:9.2f}")
    print(f"(targets: notebook-trained conf >= 0.80, entropy >= 0.90, FD ratio <= 5; shipped >= 0.95, >= 0.95, "
          f"<= 2)\nfinished; {load_text()}; grids in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
