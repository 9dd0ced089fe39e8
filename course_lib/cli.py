"""The course's command line: draw images from any shipped generator, list the checkpoints.

    python -m course_lib sample ddpm_mnist --n 64 --sampler ddim --steps 50 --seed 0 --out grid.png
    python -m course_lib sample ddpm_mnist_cond --label 3 --guidance-scale 3 --n 16 --out threes.png
    python -m course_lib sample dcgan_mnist --n 64 --seed 0 --out gan.pt
    python -m course_lib sample text2img --prompt "a bold seven" --negative-prompt "right-leaning" --n 16 --out 7.png
    python -m course_lib checkpoints

NAME is any generator of the registry (:mod:`course_lib.registry`), or its short alias (``ddpm``,
``ddpm-cond``, ``dcgan``). ``--steps`` is the number of network evaluations of the sampler (its
``nfe``). An ``--out`` ending in ``.png`` saves an image grid; ``.pt`` saves the tensor
(n, C, H, W) in [-1, 1]. ``--score`` prints the digit classifier's metrics of the samples.

Every argument is checked before any work starts; a bad one is answered with one line naming it,
its value and what is allowed (exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

MAX_N = 10_000
#: CLI flag -> sampler option of the registry entries (their ``options``).
OPTION_FLAGS = {"sampler": "--sampler", "nfe": "--steps", "eta": "--eta", "label": "--label",
                "guidance_scale": "--guidance-scale", "prompt": "--prompt", "negative_prompt": "--negative-prompt"}


class UsageError(Exception):
    """A command-line argument that is not allowed: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage and the message on two lines; we print one
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from .registry import REGISTRY, generators

    parser = _Parser(prog="python -m course_lib", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    names = ", ".join(f"{n} ({'/'.join(REGISTRY[n].aliases)})" if REGISTRY[n].aliases else n for n in generators())
    s = sub.add_parser("sample", help="draw images from a shipped generator")
    s.add_argument("model", metavar="NAME", help=f"a shipped generator: {names}")
    s.add_argument("--n", default="64", help=f"number of images, 1-{MAX_N} (default 64)")
    s.add_argument("--sampler", default=None, help="diffusion sampler: ddim (default) or ddpm")
    s.add_argument("--steps", "--nfe", dest="nfe", default=None,
                   help="network evaluations of the sampler (DDIM default 50; DDPM always runs all T)")
    s.add_argument("--eta", default=None, help="DDIM stochasticity eta >= 0 (0 = deterministic)")
    s.add_argument("--label", default=None, help="digit 0-9 for a class-conditional model (default: 0-9 in turn)")
    s.add_argument("--guidance-scale", dest="guidance_scale", default=None,
                   help="classifier-free guidance w >= 0 for a class-conditional or text-to-image model (default 3)")
    s.add_argument("--prompt", default=None,
                   help='what to draw, for a text-to-image model, e.g. "a bold seven" or "一个粗的七" (default "": anything)')
    s.add_argument("--negative-prompt", dest="negative_prompt", default=None,
                   help='what to steer away from, for a text-to-image model, e.g. "bold" (default "")')
    s.add_argument("--seed", default="0", help="random seed, an integer >= 0 (default 0)")
    s.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    s.add_argument("--out", required=True, help="output path: .png (image grid) or .pt (tensor in [-1, 1])")
    s.add_argument("--nrow", default="8", help="images per row in a .png grid (default 8)")
    s.add_argument("--score", action="store_true", help="print the digit classifier's metrics of the samples")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("checkpoints", help="list the checkpoints shipped with the course")
    return parser


def _int(flag: str, text: str, low: int, high: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise UsageError(f"{flag} must be an integer {allowed}, got {text!r}")
    return value


def _float(flag: str, text: str, low: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < low:
        raise UsageError(f"{flag} must be a finite number >= {low:g}, got {text!r}")
    return value


def check_sample_args(args) -> dict:
    """Turn the ``sample`` arguments into a plan, checking every one before any work is done."""
    from .checkpoints import check_writable
    from .device import resolve_device
    from .registry import entry, generators, shipped_record

    try:
        e = entry(args.model)
    except ValueError:
        raise UsageError(f"NAME must be a shipped generator ({', '.join(generators())}), got {args.model!r}") from None
    if e.sample is None:
        raise UsageError(f"NAME must be a shipped generator ({', '.join(generators())}); "
                         f"{e.name} is a {e.family}")
    n = _int("--n", args.n, 1, MAX_N)
    seed = _int("--seed", args.seed, 0, 2**32 - 1)
    nrow = _int("--nrow", args.nrow, 1)
    given = {opt: getattr(args, opt) for opt in OPTION_FLAGS if getattr(args, opt) is not None}
    refused = [OPTION_FLAGS[opt] for opt in given if opt not in e.options]
    if refused:
        takes = ", ".join(OPTION_FLAGS[o] for o in e.options) or "no sampler options"
        raise UsageError(f"{', '.join(refused)} does not apply to {e.name} (it takes {takes})")
    record = shipped_record(e.name)
    if record is None:
        raise UsageError(f"NAME={e.name!r}: its checkpoint is not in this copy of the course; make it with `{e.makes}`")
    options = {}
    if "sampler" in given:
        if given["sampler"] not in ("ddim", "ddpm"):
            raise UsageError(f"--sampler must be ddim or ddpm, got {given['sampler']!r}")
        options["sampler"] = given["sampler"]
    if "nfe" in given:
        num_steps = (record.get("config") or {}).get("schedule", {}).get("num_steps", 1000)
        if options.get("sampler") == "ddpm":
            raise UsageError(f"--steps does not apply to --sampler ddpm (it always runs all {num_steps} steps)")
        options["nfe"] = _int("--steps", given["nfe"], 1, num_steps)
    if "eta" in given:
        options["eta"] = _float("--eta", given["eta"], 0.0)
    if "label" in given:
        options["label"] = _int("--label", given["label"], 0, 9)
    if "guidance_scale" in given:
        options["guidance_scale"] = _float("--guidance-scale", given["guidance_scale"], 0.0)
    for opt in ("prompt", "negative_prompt"):
        if opt in given:
            from .text2img.tokenizer import check_prompt

            try:
                options[opt] = check_prompt(given[opt], name=OPTION_FLAGS[opt])
            except ValueError as err:
                raise UsageError(str(err)) from None
    try:
        device = resolve_device(args.device, name="--device")
    except ValueError as err:
        raise UsageError(str(err)) from None
    out = Path(args.out)
    if out.suffix not in (".png", ".pt"):
        raise UsageError(f"--out must end in .png or .pt, got {args.out!r}")
    try:
        check_writable(out, name="--out")
    except (ValueError, OSError) as err:
        raise UsageError(str(err)) from None
    return {"name": e.name, "n": n, "seed": seed, "device": device, "out": out, "nrow": nrow,
            "options": options}


def run_sample(plan: dict, quiet: bool = False, score: bool = False) -> None:
    from .registry import sample_pretrained

    start = time.perf_counter()
    images = sample_pretrained(plan["name"], plan["n"], seed=plan["seed"], device=plan["device"],
                               progress=not quiet, **plan["options"])
    seconds = time.perf_counter() - start
    out = plan["out"]
    if out.suffix == ".pt":
        import torch

        from .checkpoints import atomic_write

        atomic_write(out, lambda tmp: torch.save(images, tmp))
    else:
        from .viz import save_images

        out.parent.mkdir(parents=True, exist_ok=True)
        save_images(images, out, nrow=plan["nrow"])
    print(f"wrote {tuple(images.shape)} from {plan['name']} to {out} in {seconds:.1f} s")
    if score:
        from .metrics import score_digits

        scores = score_digits(images)
        print("  ".join(f"{k}={v:.3f}" for k, v in scores.items() if isinstance(v, float)))


def list_checkpoints() -> None:
    from .checkpoints import shipped_checkpoints
    from .registry import REGISTRY

    for name, record in sorted(shipped_checkpoints().items()):
        family = REGISTRY[name].family if name in REGISTRY else "?"
        print(f"{name:<18} {family:<11} {record['file']:<22} {record.get('bytes', 0) / 1e6:5.2f} MB  "
              f"sha256 {record['sha256'][:12]}…  {record.get('data', '?')}, {record.get('steps', '?')} steps")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 2 bad arguments, 1 a failure while working)."""
    from .checkpoints import CheckpointError

    try:
        args = build_parser().parse_args(argv)
        if args.command == "checkpoints":
            list_checkpoints()
            return 0
        plan = check_sample_args(args)
        run_sample(plan, quiet=args.quiet, score=args.score)
        return 0
    except UsageError as err:
        print(f"python -m course_lib: error: {err}", file=sys.stderr)
        return 2
    except (CheckpointError, FileNotFoundError, ValueError, OSError, FloatingPointError) as err:
        print(f"python -m course_lib: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("python -m course_lib: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
