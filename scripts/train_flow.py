"""Train the flow-matching models of MNIST digits that notebook 10 uses and the course ships.

    # 1. the shipped ``flow``: a class-conditional flow in vae_latent's space (what notebook 10's
    #    budgets train, for longer), by flow matching on the digits
    python scripts/train_flow.py latent --minutes 45 --threads 1 --ship
    # 2. the shipped ``flow_reflow``: ddpm_mnist distilled by reflow, in two commands
    python scripts/train_flow.py pairs --teacher ddpm_mnist --n 12000 --teacher-nfe 50 --out runs/flow/pairs.pt
    python scripts/train_flow.py reflow --pairs runs/flow/pairs.pt --init ddpm_mnist --minutes 60 --ship
    # 3. an unconditional pixel-space FlowUNet from scratch, by flow matching
    python scripts/train_flow.py scratch --minutes 9.5 --out /tmp/flow_mine.pt

``pairs`` couples noise to digits with a teacher's deterministic sampler: for ε_i (seeded) it runs
the shipped diffusion model's DDIM (η = 0, ``--teacher-nfe`` evaluations) — the probability-flow
ODE, so x_0,i = ODE(ε_i) — and appends (ε_i, x_0,i) to ``--out`` chunk by chunk (it resumes
where a stopped run left off). ``reflow`` starts from the teacher's weights read as a flow model
(:meth:`course_lib.flow.matching.FlowUNet.from_denoiser`: the same network, in flow variables,
is exactly the teacher's ODE) and trains it by flow matching on those fixed pairs (Liu et al.
2022, rectified flow's reflow): the straight line from ε_i to x_0,i becomes its path, so a few
Euler steps land where 50 DDIM steps did. ``scratch`` trains ``FlowUNet()`` on the digits;
``latent`` trains a :class:`course_lib.flow.latent.LatentFlow` (10 classes) on their latents.

Each run scores ``--eval-n`` samples at a few numbers of network evaluations
(:func:`course_lib.metrics.score_digits`). With ``--ship`` the EMA weights are stored as
float16 in ``course_lib/checkpoints/NAME.pt`` and registered in the manifest as ``--name`` (default:
``flow`` for ``latent``, ``flow_reflow`` otherwise) with the commands that made them (the pairs
file records its own command), the config and the scores.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.checkpoints import (  # noqa: E402
    SHIPPED_DIR,
    atomic_write,
    check_writable,
    register_shipped,
    save_state_dict,
)
from course_lib.device import resolve_device, seed_everything  # noqa: E402


def command_line() -> str:
    return "python scripts/train_flow.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} CPUs"


# ----------------------------------------------------------------------------- pairs


def make_pairs(args) -> None:
    """Append (noise, teacher ODE(noise)) pairs to ``args.out`` until it holds ``args.n``."""
    from course_lib.diffusion.samplers import sample
    from course_lib.registry import load_pretrained

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    store = torch.load(out, weights_only=True) if out.is_file() else {
        "noise": torch.empty(0, 1, 28, 28), "x0": torch.empty(0, 1, 28, 28), "command": command_line(),
        "teacher": args.teacher, "teacher_nfe": args.teacher_nfe, "seed": args.seed}
    teacher = load_pretrained(args.teacher, device=args.device)
    have = store["noise"].shape[0]
    print(f"{have} pairs in {out}; making {max(0, args.n - have)} more with {args.teacher} DDIM-{args.teacher_nfe} "
          f"(eta = 0) in chunks of {args.chunk}; {load_text()}", flush=True)
    while have < args.n:
        start = time.perf_counter()
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + have)  # chunk noise from its position
        noise = torch.randn(args.chunk, 1, 28, 28, generator=gen)
        x0 = sample(teacher, args.chunk, sampler="ddim", nfe=args.teacher_nfe, eta=0.0, x_start=noise,
                    seed=0, device=args.device, progress=False).cpu()
        store["noise"] = torch.cat([store["noise"], noise])
        store["x0"] = torch.cat([store["x0"], x0])
        atomic_write(out, lambda tmp: torch.save(store, tmp))
        have = store["noise"].shape[0]
        print(f"  {have} pairs ({time.perf_counter() - start:.0f} s for {args.chunk}; {load_text()})", flush=True)


# ----------------------------------------------------------------------------- training and scoring


def ship_path(args) -> Path:
    return SHIPPED_DIR / f"{args.name}.pt"


def eval_row(text: str) -> tuple[str, int]:
    """``solver:nfe`` (e.g. ``euler:8``) -> ("euler", 8), checked when the arguments are read."""
    from course_lib.flow.ode import FLOW_SOLVERS as SOLVERS

    solver, _, nfe = text.partition(":")
    if solver not in SOLVERS or not nfe.isdigit() or int(nfe) < 1:
        raise argparse.ArgumentTypeError(f"--eval rows are solver:nfe with solver one of {', '.join(SOLVERS)} "
                                         f"and nfe a positive integer, got {text!r}")
    return solver, int(nfe)


def score_rows(model, n: int, settings, seed: int, device) -> dict:
    """Sample ``n`` digits per (solver, nfe) and score them; print each row."""
    from course_lib.flow.ode import sample_flow
    from course_lib.metrics import score_digits

    rows = {}
    for solver, nfe in settings:
        start = time.perf_counter()
        images = sample_flow(model, n, nfe=nfe, solver=solver, seed=seed, device=device, progress=False).cpu()
        seconds = time.perf_counter() - start
        s = score_digits(images)
        rows[f"{solver}{nfe}"] = {"confident_share": s["confident_share"], "class_entropy": round(s["class_entropy"], 4),
                                  "frechet_ratio": round(s["frechet_ratio"], 3), "n": n, "seed": seed,
                                  "seconds_per_image": round(seconds / n, 4)}
        print(f"  {solver:5s} nfe {nfe:3d}: confident {s['confident_share']:.3f}  entropy {s['class_entropy']:.3f}  "
              f"Fréchet ratio {s['frechet_ratio']:.2f}  ({seconds / n:.4f} s/image, n = {n}, seed {seed})", flush=True)
    return rows


def train(args) -> None:
    from course_lib.data import load_mnist
    from course_lib.flow.matching import FlowUNet
    from course_lib.flow.training import Coupling, train_flow
    from course_lib.registry import load_pretrained

    seed_everything(args.seed)
    notes = [command_line()]
    prior_steps, prior_seconds = 0, 0.0  # of the model this run continues, if any
    if args.mode == "reflow":
        store = torch.load(args.pairs, weights_only=True)
        data = Coupling(store["x0"], store["noise"])
        notes.insert(0, f"{store.get('command', '?')} (stopped at {len(data)} pairs: the chunks are seeded by "
                        f"their position, so --n {len(data)} makes the same pairs)")
        what = f"{len(data)} pairs ({store.get('teacher')} DDIM-{store.get('teacher_nfe')}, eta 0) from {args.pairs}"
    else:
        data = load_mnist("train")
        what = f"{len(data)} digits ({data.source})" + (" with their labels, encoded by vae_latent"
                                                        if args.mode == "latent" else "")
    if args.mode == "latent":
        from course_lib.flow.latent import LatentFlow

        model = LatentFlow(load_pretrained("vae_latent", device="cpu"), num_classes=10,
                           base_channels=args.base_channels or 64, num_res_blocks=args.num_res_blocks or 2)
    elif args.init:
        start = load_pretrained(args.init, device="cpu")
        if isinstance(start, FlowUNet):  # continue a flow model (e.g. the shipped one) on more pairs
            from course_lib.checkpoints import shipped_checkpoint

            before = shipped_checkpoint(args.init)[1]
            notes.insert(0, f"[{args.init} before: {before['notes']}; {before['steps']} steps] then")
            prior_steps, prior_seconds = before["steps"], before["seconds"]
            model = start
        else:  # a v-prediction denoiser read as the flow model of its ODE
            model = FlowUNet.from_denoiser(start)
    else:
        model = FlowUNet(base_channels=args.base_channels or 32, num_res_blocks=args.num_res_blocks or 1)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)  # a latent model's VAE is frozen
    print(f"{args.mode}: {params / 1e6:.2f} M parameters (init: {args.init or 'random'}), data: {what}; "
          f"{load_text()}", flush=True)
    if args.init and args.eval_n and args.score_init:
        print("the initial model (the teacher's ODE in flow variables):")
        score_rows(model, args.eval_n, [("euler", 8)], args.seed + 1, args.device)
    record = train_flow(model, data, steps=args.steps, minutes=args.minutes, seed=args.seed, device=args.device,
                        progress=args.progress, batch_size=args.batch_size, lr=args.lr, ema_decay=args.ema_decay,
                        time_sampling=args.time_sampling, clock=args.clock)
    print(f"trained {record.steps} steps in {record.seconds:.0f} s ({record.steps_per_second:.2f} steps/s, "
          f"stopped by {record.stopped_by}); loss (last 200) {record.mean('loss', last=200):.4f}; {load_text()}",
          flush=True)
    # the shipped file holds float16 weights: score exactly those
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    out = ship_path(args) if args.ship else (Path(args.out) if args.out else None)
    if out is not None:  # saved before scoring: a failure there loses no training
        sha = save_state_dict(half, out)
        print(f"saved EMA weights (float16) to {out}: {out.stat().st_size / 1e6:.2f} MB, sha256 {sha[:12]}…")
    scores = score_rows(model, args.eval_n, args.eval, args.seed + 1, args.device) if args.eval_n else {}
    if args.ship:
        entry = register_shipped(
            args.name, out, config=model.full_config(), data=what, seed=args.seed, steps=prior_steps + record.steps,
            seconds=round(prior_seconds + record.seconds, 1), device=str(resolve_device(args.device)), parameters=params,
            notes=" && ".join(notes) + f" ({record.stopped_by}; {torch.get_num_threads()} torch thread(s); "
                  "EMA weights stored as float16)",
            scores=scores, scores_note="n samples per row from seed+1 (Euler/Heun, flow time 1 -> 0); "
                                       "scores of the float16 weights")
        print(f"registered {args.name!r} in the manifest ({entry['bytes'] / 1e6:.2f} MB)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("latent", "scratch", "pairs", "reflow"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (1 on a shared machine)")
    p.add_argument("--seed", type=int, default=0)
    # pairs
    p.add_argument("--teacher", default="ddpm_mnist")
    p.add_argument("--teacher-nfe", type=int, default=50)
    p.add_argument("--n", type=int, default=12000)
    p.add_argument("--chunk", type=int, default=250)
    p.add_argument("--out", default=None)
    # training
    p.add_argument("--pairs", default="runs/flow/pairs.pt")
    p.add_argument("--init", default=None, help="a shipped v-prediction denoiser (read as its flow) or flow model to start from")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--ema-decay", type=float, default=0.995)
    p.add_argument("--time-sampling", default="logit_normal")
    p.add_argument("--clock", default="wall")
    p.add_argument("--base-channels", type=int, default=None, help="default 64 (latent) or 32 (scratch)")
    p.add_argument("--num-res-blocks", type=int, default=None, help="default 2 (latent) or 1 (scratch)")
    p.add_argument("--eval-n", type=int, default=500)
    p.add_argument("--eval", nargs="*", type=eval_row, default=[("euler", 4), ("euler", 8), ("heun", 7), ("euler", 20)],
                   help="solver:nfe rows to score after training")
    p.add_argument("--score-init", action="store_true", help="score the initial (teacher) model first")
    p.add_argument("--ship", action="store_true", help="save to course_lib/checkpoints/NAME.pt and register it")
    p.add_argument("--name", default=None, choices=("flow", "flow_reflow"), help="the registry name to ship as (default: flow for latent, "
                                                "flow_reflow otherwise)")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mode == "pairs":
        if not args.out:
            p.error("pairs needs --out")
        make_pairs(args)
        return
    if args.steps is None and args.minutes is None:
        p.error("give --steps and/or --minutes")
    args.name = args.name or ("flow" if args.mode == "latent" else "flow_reflow")
    out = ship_path(args) if args.ship else (Path(args.out) if args.out else None)
    if out is not None:
        try:
            check_writable(out, "--out")  # before training, so that a bad path loses no training
        except (OSError, ValueError, TypeError) as e:
            p.error(str(e))
    train(args)


if __name__ == "__main__":
    main()
