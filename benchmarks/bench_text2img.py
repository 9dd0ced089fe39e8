"""Text to image (issue 15): what latent diffusion saves, and how well the shipped model follows prompts.

    python benchmarks/bench_text2img.py --threads 1                  # latent against pixel cost, one run
    python benchmarks/bench_text2img.py --scores --threads 1         # + the shipped model's scores, 500 each
    python benchmarks/bench_text2img.py --scores --model /tmp/t2i/text2img.pt --json runs/t2i/scores.json

**Cost** (:func:`course_lib.text2img.evaluate.latent_vs_pixel_cost`): the same text-conditioned
U-Net (the shipped denoiser's widths) on 4×7×7 latents and on 1×28×28 pixels, side by side in one
run, interleaved ``--rounds`` times: training steps per second at batch ``--batch-size`` and
sampling milliseconds per image (guided DDIM-``--nfe`` for ``--sample-n`` images; the latent run
includes decoding by the VAE).

**Scores** (``--scores``; :func:`course_lib.text2img.evaluate.score_prompts`, DDIM-50 at the default
guidance unless told otherwise, ``--n`` samples per measurement, seed ``--seed``): digit accuracy
of the course classifier on "a <digit>" prompts in English and Chinese; thickness and slant
accuracy of the measurers on attribute prompts; the class entropy and diversity of the empty
prompt; the shift a negative prompt ("bold", "right-leaning") causes; digit accuracy and diversity
against the guidance scale. The English digit prompts at the default guidance are drawn once and
reused as the negative prompts' baseline and as the sweep's point at that scale (same prompts, seeds
and settings, so drawing them again would give the same pictures). Each line prints its seconds; the load average is printed at the start
and the end (other programs slow the seconds, not the scores).
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

from course_lib.checkpoints import load_weights  # noqa: E402
from course_lib.registry import build_model, load_pretrained  # noqa: E402
from course_lib.text2img.evaluate import (  # noqa: E402
    guidance_sweep,
    latent_vs_pixel_cost,
    negative_prompt_effect,
    score_prompts,
)
from course_lib.text2img.pipeline import DEFAULT_GUIDANCE  # noqa: E402


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def cost(args, pipe) -> dict:
    config = {k: v for k, v in pipe.denoiser.config.items() if k not in ("in_channels", "image_size")}
    result = latent_vs_pixel_cost(config, batch_size=args.batch_size, train_steps=args.train_steps,
                                  sample_n=args.sample_n, nfe=args.nfe, rounds=args.rounds, vae=pipe.vae,
                                  device=args.device)
    print(f"\nlatent against pixel diffusion, the same denoiser ({result['latent']['parameters']:,} / "
          f"{result['pixel']['parameters']:,} parameters), {result['settings']}")
    print(f"{'':<8} {'input':>9} {'positions':>9} {'train steps/s':>14} {'sample ms/image':>16}")
    for name, shape in (("latent", "4x7x7"), ("pixel", "1x28x28")):
        r = result[name]
        print(f"{name:<8} {shape:>9} {r['positions']:>9} {r['train_steps_per_s']:>14.2f} {r['sample_ms_per_image']:>16.1f}")
    print(f"latent is {result['ratio']['train']:.1f}x faster to train and {result['ratio']['sample']:.1f}x faster "
          f"to sample ({load()})")
    return result


def scores(args, pipe) -> list[dict]:
    rows = []
    common = dict(n=args.n, nfe=50, seed=args.seed, device=args.device)

    def show(label, s):
        row = {"label": label, **s.row()}
        rows.append(row)
        acc = f"{s.digit_accuracy:.3f}" if s.digit_accuracy is not None else "  -  "
        att = f"{s.attribute_accuracy:.3f}" if s.attribute_accuracy is not None else "  -  "
        words = " ".join(f"{w} {a:.2f}" for w, a in s.per_word.items())
        print(f"{label:<34} n={s.n} w={s.guidance_scale:g} digit {acc} attribute {att} entropy "
              f"{s.class_entropy:.3f} diversity {s.diversity:.2f} ({s.seconds:.0f} s) {words}", flush=True)

    digits_en = score_prompts(pipe, "digit", **common)     # reused by the negative prompts and the sweep
    show("digit prompts (en)", digits_en)
    show("digit prompts (zh)", score_prompts(pipe, "digit", language="zh", **common))
    for kind in ("thickness", "slant", "size"):
        show(f"{kind} prompts (en)", score_prompts(pipe, kind, **common))
    show("thickness prompts (zh)", score_prompts(pipe, "thickness", language="zh", **common))
    show("empty prompt", score_prompts(pipe, "empty", **common))
    for negative in ("bold", "right-leaning"):
        effect = negative_prompt_effect(pipe, negative, without=digits_en, **common)
        rows.append({"label": f"negative prompt {negative!r}",
                     **{k: v for k, v in effect.items() if k not in ("with", "without")}})
        print(f"negative prompt {negative!r:<18} on 'a <digit>': {effect['attribute']} {effect['mean_without']:.2f} -> "
              f"{effect['mean_with']:.2f} {effect['unit']} (shift {effect['shift']:+.2f} ± {effect['stderr']:.2f}); "
              f"share {effect['word']} {effect['share_without']:.3f} -> {effect['share_with']:.3f}; digit accuracy "
              f"{effect['without'].digit_accuracy:.3f} -> {effect['with'].digit_accuracy:.3f}", flush=True)
    known = digits_en if DEFAULT_GUIDANCE in args.scales else None
    for w, s in guidance_sweep(pipe, args.scales, known=known, **common).items():
        show(f"guidance sweep, digit prompts, w={w:g}", s)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", action="store_true", help="also measure the model's prompt following")
    parser.add_argument("--model", type=Path, default=None, help="a text2img state dict (default: the shipped one)")
    parser.add_argument("--n", type=int, default=500, help="samples per measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.0, 1.0, DEFAULT_GUIDANCE, 6.5])
    parser.add_argument("--batch-size", type=int, default=64, help="training batch of the cost comparison")
    parser.add_argument("--train-steps", type=int, default=5, help="training steps timed per round")
    parser.add_argument("--sample-n", type=int, default=16, help="images sampled per round")
    parser.add_argument("--nfe", type=int, default=20, help="DDIM steps of the timed sampling")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a shared machine)")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model is None:
        pipe = load_pretrained("text2img", device=args.device)
    else:
        pipe = build_model("text2img")
        load_weights(pipe, args.model)
        pipe.eval()
    start = time.perf_counter()
    print(f"text2img benchmark, {torch.get_num_threads()} torch threads, {load()}")
    out = {"cost": cost(args, pipe)}
    if args.scores:
        out["scores"] = scores(args, pipe)
    print(f"done in {time.perf_counter() - start:.0f} s ({load()})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
