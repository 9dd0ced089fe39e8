"""What checking arguments once (at the boundary) instead of in every formula call buys (issue 12).

    python benchmarks/bench_api_overhead.py --before 4a9752d              # DDIM-50 on this machine
    python benchmarks/bench_api_overhead.py --before 4a9752d --device cuda --n 500

Runs the shipped ``ddpm_mnist`` with DDIM-50 in two versions of ``course_lib`` side by side in one
run: the one at git revision ``--before`` (extracted with ``git archive`` into a temporary folder)
and the working tree's. Each timing runs in its own fresh process, alternating before/after for
``--repeats`` rounds so that a busy machine slows both alike; it prints seconds per image for
each round and the medians. It also prints, for the formula functions the issue names, their
line counts in both versions (the source lines of the function, docstring included).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# One timing: load the shipped model with whichever API this version has, warm up, time DDIM-50.
TIMER = r"""
import json, sys, time, torch
n, device, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if threads:
    torch.set_num_threads(threads)
try:
    from course_lib.registry import load_pretrained            # the one registry (after issue 12)
    from course_lib.diffusion.samplers import sample
    model = load_pretrained("ddpm_mnist", device=device)
    run = lambda: sample(model, n, nfe=50, seed=0, progress=False, device=device)
except ImportError:
    from course_lib.diffusion.training import load_pretrained  # before: (model, schedule)
    from course_lib.diffusion.samplers import sample
    model, schedule = load_pretrained("ddpm_mnist", device=device)
    run = lambda: sample(model, schedule, n, sampler="ddim", steps=50, seed=0, progress=False, device=device)
run()  # warm-up
if device.startswith("cuda"):
    torch.cuda.synchronize()
start = time.perf_counter()
images = run()
if device.startswith("cuda"):
    torch.cuda.synchronize()
print(json.dumps({"seconds_per_image": (time.perf_counter() - start) / n}))
"""

FORMULAS = {
    "diffusion/forward.py": ["q_sample", "q_step", "q_mean_variance"],
    "diffusion/reverse.py": ["posterior_mean_variance", "predict_x0_from_noise", "predict_noise_from_x0",
                             "velocity_target", "reverse_mean_from_noise"],
    "diffusion/samplers.py": ["ddpm_step", "ddim_step", "ddim_sigma"],
    "diffusion/schedules.py": ["at"],
    "gan/objective.py": ["value_function", "optimal_discriminator"],
    "gan/losses.py": ["discriminator_loss", "generator_loss_saturating", "generator_loss_non_saturating"],
    "style/losses.py": ["gram_matrix", "content_loss", "style_layer_loss", "style_loss", "total_variation_loss"],
}


def extract(rev: str, into: Path) -> Path:
    """``course_lib`` as it was at git revision ``rev``, unpacked under ``into``."""
    data = subprocess.run(["git", "archive", rev, "course_lib"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def time_once(pythonpath: Path, n: int, device: str, threads: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    out = subprocess.run([sys.executable, "-c", TIMER, str(n), device, str(threads)], env=env, cwd=pythonpath,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds_per_image"]


def function_lines(source: str) -> dict:
    """Line count of every top-level function in ``source``."""
    tree = ast.parse(source)
    return {node.name: node.end_lineno - node.lineno + 1 for node in tree.body
            if isinstance(node, ast.FunctionDef)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="git revision of the version to compare with")
    parser.add_argument("--n", type=int, default=64, help="images per timed run (default 64)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"DDIM-50 of the shipped ddpm_mnist, {args.n} images per run on {args.device}; "
          f"load average {load:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        old = extract(args.before, Path(tmp))
        times = {"before": [], "after": []}
        for r in range(args.repeats):
            for label, path in (("before", old), ("after", ROOT)):
                times[label].append(time_once(path, args.n, args.device, args.threads))
            print(f"  round {r + 1}: before {times['before'][-1] * 1e3:7.2f} ms/image, "
                  f"after {times['after'][-1] * 1e3:7.2f} ms/image", flush=True)
        before, after = statistics.median(times["before"]), statistics.median(times["after"])
        print(f"median: before ({args.before}) {before * 1e3:.2f} ms/image, after (working tree) "
              f"{after * 1e3:.2f} ms/image: {before / after:.2f}x")
        print("\nformula function lines (before -> after):")
        for rel, names in FORMULAS.items():
            old_file, new_file = old / "course_lib" / rel, ROOT / "course_lib" / rel
            was = function_lines(old_file.read_text()) if old_file.exists() else {}
            now = function_lines(new_file.read_text()) if new_file.exists() else {}
            for name in names:
                print(f"  {rel}:{name:<32} {was.get(name, '-'):>4} -> {now.get(name, '-'):>4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
