"""Seconds per optimisation step of neural style transfer (notebook 06).

    python benchmarks/style_step.py                 # 256 px, the offline (random-weight) extractor
    python benchmarks/style_step.py --size 512 --device cuda --weights auto

One step = one evaluation of the loss and its gradient (a forward and a backward pass through VGG19
up to conv5_1), as ``synthesize`` counts them: one Adam update, or one L-BFGS iteration or part of
one (its line search may evaluate more than one point). Prints seconds per step for both
optimisers after a warm-up run, from the TrainRecord that ``synthesize`` returns.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from course_lib.data import load_image  # noqa: E402
from course_lib.device import resolve_device  # noqa: E402
from course_lib.style import synthesize, vgg19_extractor  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per optimiser")
    parser.add_argument("--weights", default="random", help="auto | pretrained | random | a path")
    parser.add_argument("--device", default=None, help="cpu | cuda | mps (default: the best available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    extractor = vgg19_extractor(args.weights, device=device)
    content, style = load_image("astronaut", args.size), load_image("brick", args.size)
    print(f"device={device} threads={torch.get_num_threads()} cpus={os.cpu_count()} "
          f"torch={torch.__version__} {platform.processor() or platform.machine()}")
    print(f"style transfer at {args.size} px, content conv4_2, style conv1_1 … conv5_1")
    for optimizer in ("lbfgs", "adam"):
        kw = dict(content=content, style=style, init="content", optimizer=optimizer, device=device,
                  progress=False)
        synthesize(extractor, steps=1, **kw)  # warm-up
        record = synthesize(extractor, steps=args.steps, **kw)  # its last loss is a float: synchronised
        print(f"{optimizer:>5}: {record.seconds / record.steps:.3f} s/step ({record.steps} steps in "
              f"{record.seconds:.2f} s; L_total {record.history['total'][0]:.4g} -> "
              f"{record.history['total'][-1]:.4g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
