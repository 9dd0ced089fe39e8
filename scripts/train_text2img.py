"""Train the text-to-image model the course ships (notebook 08 loads it through the registry).

    python scripts/train_text2img.py --clip-minutes 4 --minutes 50 --threads 1
    python scripts/train_text2img.py --clip-minutes 0.5 --minutes 1 --out-dir /tmp/t2i   # a quick try
    python scripts/train_text2img.py --resume --minutes 30 --lr 1e-3 --threads 1   # train the shipped denoiser on

1. Captions every training digit (``load_mnist("train")``) from its measured thickness, slant and
   size (:func:`course_lib.text2img.caption_digits`).
2. Trains CLIP in miniature (:func:`course_lib.text2img.train_clip`) for ``--clip-minutes`` /
   ``--clip-steps`` and reports its zero-shot accuracy on the 1,000 held-out digits.
3. Builds the pipeline from CLIP's text encoder (frozen), a fresh latent denoiser
   (``--base-channels``) and the shipped ``vae_latent`` (frozen), and trains the denoiser
   (:func:`course_lib.text2img.train_text2img`) for ``--minutes`` / ``--steps``.
4. Saves ``text2img_clip.pt`` and ``text2img.pt`` (the denoiser's weights as float16, the rest in
   float32) into ``--out-dir``; when that is course_lib/checkpoints they are registered in
   manifest.json with their configs, data, seed, steps, time, device and this command line. A PNG
   of samples for a few prompts is written to runs/text2img/ (or beside them), for looking at, not shipped.

With ``--resume`` the CLIP-mini and the pipeline saved in ``--out-dir`` are loaded and only the
denoiser trains on (a new warm-up and decay of ``--lr``); the record adds up the steps and seconds of
both runs and keeps both command lines.

Scores of the shipped model (500 samples per measurement): ``benchmarks/bench_text2img.py --scores``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_lib.checkpoints import SHIPPED_DIR, register_shipped, save_state_dict  # noqa: E402
from course_lib.data import load_mnist  # noqa: E402
from course_lib.device import resolve_device, seed_everything  # noqa: E402
from course_lib.diffusion.unet import count_parameters  # noqa: E402
from course_lib.registry import load_pretrained  # noqa: E402
from course_lib.text2img import (  # noqa: E402
    assemble_pipeline,
    build_clip,
    build_text2img,
    caption_digits,
    generate,
    train_clip,
    train_text2img,
    zero_shot_accuracy,
)
from course_lib.viz import save_images  # noqa: E402

PROMPTS = ["a seven", "一个七", "a bold seven", "a thin seven", "a left-leaning seven", "a right-leaning seven",
           "a bold two", "一个细的二", ""]


def _first_run(previous: dict) -> list:
    """The run of a record made before runs were listed (its command is in the notes)."""
    if not previous:
        return []
    return [{"command": previous.get("notes", "?"), "steps": previous.get("steps"), "seconds": previous.get("seconds"),
             "loss_last_500": previous.get("loss_last_500"), "finished": previous.get("trained_at")}]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip-steps", type=int, default=100_000)
    parser.add_argument("--clip-minutes", type=float, default=4.0)
    parser.add_argument("--clip-batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=1_000_000, help="denoiser training steps (the most)")
    parser.add_argument("--minutes", type=float, default=50.0, help="denoiser training time (the most)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--base-channels", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a shared machine)")
    parser.add_argument("--out-dir", type=Path, default=SHIPPED_DIR)
    parser.add_argument("--resume", action="store_true", help="continue training the denoiser saved in --out-dir")
    args = parser.parse_args(argv)
    for flag in ("clip_steps", "steps", "batch_size", "clip_batch_size", "base_channels"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    for flag in ("clip_minutes", "minutes"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python scripts/train_text2img.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = resolve_device(args.device)
    where = f"{device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads)"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    shipped = args.out_dir.resolve() == SHIPPED_DIR.resolve()
    train, test = load_mnist("train"), load_mnist("test")
    data = caption_digits(train)
    print("caption word shares:", {k: {w: round(s, 3) for w, s in v.items()} for k, v in data.shares().items()})

    previous = {}
    clip_path = args.out_dir / "text2img_clip.pt"
    if args.resume:
        from course_lib.checkpoints import load_weights, shipped_checkpoints

        previous = shipped_checkpoints().get("text2img", {}) if shipped else {}
        clip = build_clip(previous.get("clip_config"))
        load_weights(clip, clip_path)
        pipe = build_text2img(previous.get("config") or {"denoiser": {"base_channels": args.base_channels}})
        load_weights(pipe, args.out_dir / "text2img.pt")
        clip_record = None
        print(f"resuming from {args.out_dir / 'text2img.pt'} ({previous.get('steps', '?')} steps so far)")
    else:
        clip = build_clip()
        print(f"CLIP-mini: {count_parameters(clip):,} parameters, on {where}")
        clip_record = train_clip(clip, data, steps=args.clip_steps, minutes=args.clip_minutes, seed=args.seed,
                                 device=device, batch_size=args.clip_batch_size)
        print(f"{clip_record}; last 100 steps loss {clip_record.mean('loss', 100):.3f}, temperature "
              f"{clip_record.series('temperature')[-1]:.1f}")
        save_state_dict(clip.state_dict(), clip_path)
        pipe = assemble_pipeline(clip, load_pretrained("vae_latent", device="cpu"),
                                 {"base_channels": args.base_channels})
    zero_shot = {lang: round(zero_shot_accuracy(clip, test.images, test.labels, lang), 4) for lang in ("en", "zh")}
    print(f"CLIP-mini zero-shot digit accuracy on {len(test)} held-out digits: {zero_shot}")
    print(f"denoiser: {count_parameters(pipe.denoiser):,} parameters; latents scaled by {pipe.scaling_factor}")
    record = train_text2img(pipe, data, steps=args.steps, minutes=args.minutes, device=device,
                            batch_size=args.batch_size, lr=args.lr, ema_decay=args.ema_decay,
                            seed=args.seed + (1 if args.resume else 0))
    print(f"{record}; last 500 steps loss {record.mean('loss', 500):.4f} ({record.steps_per_second:.2f} steps/s)")

    # The denoiser as float16 (half the size; it computes in float32): round first, so samples are the shipped ones.
    state = {k: v.half() if k.startswith("denoiser.") and v.is_floating_point() else v
             for k, v in pipe.state_dict().items()}
    pipe.load_state_dict(state)
    path = args.out_dir / "text2img.pt"
    save_state_dict(state, path)
    images = generate(pipe, [p for p in PROMPTS for _ in range(8)], seed=0, device=device, progress=False)
    png = (ROOT / "runs" / "text2img" if shipped else args.out_dir) / "text2img_samples.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    save_images(images, png, nrow=8)
    print(f"wrote {clip_path}, {path} and {png} (rows: {PROMPTS})")

    if shipped:
        common = dict(data=f"MNIST train split, {len(train)} digits ({train.source}), captions measured from the pixels",
                      seed=args.seed, device=where)
        if clip_record is not None:
            register_shipped("text2img_clip", clip_path, config=dict(clip.config), steps=clip_record.steps,
                             seconds=round(clip_record.seconds, 1), zero_shot_accuracy=zero_shot, notes=command,
                             **common)
        steps, seconds = previous.get("steps", 0) + record.steps, previous.get("seconds", 0) + round(record.seconds, 1)
        notes = f"{previous['notes']} && {command}" if previous.get("notes") else command
        register_shipped("text2img", path, config=pipe.config, clip_config=dict(clip.config), steps=steps,
                         seconds=round(seconds, 1), runs=previous.get("runs", _first_run(previous)) + [
                             {"command": command, "steps": record.steps, "seconds": round(record.seconds, 1),
                              "loss_last_500": round(record.mean("loss", 500), 4), "lr": args.lr,
                              "finished": time.strftime("%Y-%m-%d %H:%M")}],
                         notes=notes, **common)
        print("registered text2img_clip and text2img in manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
