"""What every training loop of the course shares: a budget, one progress bar, one record.

Every family trains the same way (CONVENTIONS, "The API"):
``train_<family>(model, data, *, steps=None, minutes=None, seed=0, device=None, ...)`` stops after
``steps`` steps or ``minutes`` minutes, whichever comes first, shows **one** ``tqdm.auto`` bar and
returns a :class:`TrainRecord`. The loop itself is the family's; this module only counts:

    budget = Budget(steps, minutes, desc="DDPM")
    for step in budget:                       # 0, 1, 2, … until the budget is spent
        lr_now = lr_at(budget.fraction, lr)   # how far along, in [0, 1]
        ...one optimisation step...
        budget.log(loss=loss_value)           # one point of the per-step history
    record = budget.finish()

**The bar's total is what really stops the run.** With only ``steps`` it counts steps; with only
``minutes`` it counts seconds; with both it follows whichever budget is further along (and so will
end the run), switching once the step rate is known — a 9.5-minute run with a 100,000-step cap
shows ``… / 570 s``, not a two-hour ETA over 100,000 steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from .validation import check_budget, check_choice, check_int

CLOCKS = ("wall", "process")


def running_mean(values, window: int = 50) -> list[float]:
    """The mean of the last ``window`` values at each position (fewer at the start): for plots."""
    window = check_int("window", window, 1)
    out, total = [], 0.0
    values = [float(v) for v in values]
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


@dataclass
class TrainRecord:
    """What a training run did — the same record for every family.

    ``steps`` taken and ``seconds`` spent; ``stopped_by`` (``"steps"`` or ``"time"``);
    ``history``: per-step series by name (``history["loss"][i]`` is step i's loss);
    ``snapshots``: {step: tensor} of whatever the run renders along the way (G(fixed z), an
    image being optimised), on the CPU; ``output``: the tensor a run optimises directly (style
    synthesis: the image), ``None`` when what was trained is the model itself.
    """

    steps: int = 0
    seconds: float = 0.0
    stopped_by: str = ""
    history: dict = field(default_factory=dict)
    snapshots: dict = field(default_factory=dict)
    output: torch.Tensor | None = None

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")

    def series(self, key: str) -> list:
        """One per-step series of :attr:`history`, with a clear error for an unknown name."""
        if key not in self.history:
            raise KeyError(f"key must be one of the recorded series {sorted(self.history)}, got {key!r}")
        return self.history[key]

    def mean(self, key: str, last: int | None = None) -> float:
        """Mean of one series (over the ``last`` steps if given)."""
        values = self.series(key)
        if not values:
            raise ValueError(f"the series {key!r} is empty: train for at least one step")
        if last is not None:
            values = values[-check_int("last", last, 1):]
        return sum(values) / len(values)

    def smoothed(self, key: str = "loss", window: int = 50) -> list[float]:
        """:func:`running_mean` of one series."""
        return running_mean(self.series(key), window)

    def __repr__(self) -> str:
        keys = ", ".join(sorted(self.history))
        return (f"TrainRecord(steps={self.steps}, seconds={self.seconds:.1f}, stopped_by={self.stopped_by!r}, "
                f"history=[{keys}], snapshots={len(self.snapshots)})")


class Budget:
    """Counts the steps of one training run against ``steps`` and/or ``minutes``; draws the bar.

    Iterate over it to get step indices until the budget is spent. ``clock="process"`` measures
    minutes in CPU time of this process (a budget that does not depend on other programs' load).
    """

    def __init__(self, steps: int | None = None, minutes: float | None = None, *, desc: str = "training",
                 progress: bool = True, clock: str = "wall", postfix_every: int = 25):
        self.max_steps, minutes = check_budget(steps, minutes)
        self.max_seconds = None if minutes is None else 60.0 * minutes
        check_choice("clock", clock, CLOCKS)
        self._now = time.perf_counter if clock == "wall" else time.process_time
        self.desc, self.progress, self.postfix_every = desc, progress, postfix_every
        self.step = 0
        self.stopped_by = ""
        self.history: dict[str, list] = {}
        self.snapshots: dict = {}
        self._bar = None
        self._mode = None
        self._start = None

    # ------------------------------------------------------------------ how far along
    @property
    def elapsed(self) -> float:
        return 0.0 if self._start is None else self._now() - self._start

    @property
    def fraction(self) -> float:
        """How much of the budget is spent, in [0, 1]: the larger of the step and time fractions."""
        parts = []
        if self.max_steps is not None:
            parts.append(self.step / self.max_steps)
        if self.max_seconds is not None:
            parts.append(self.elapsed / self.max_seconds)
        return min(1.0, max(parts))

    def _leader(self) -> str:
        """Which budget will end the run: the one further along."""
        if self.max_seconds is None:
            return "steps"
        if self.max_steps is None or self.step == 0:
            return "time"  # before the first step there is no rate to compare; time usually decides
        return "steps" if self.step / self.max_steps >= self.elapsed / self.max_seconds else "time"

    # ------------------------------------------------------------------ the bar
    def _draw(self) -> None:
        if not self.progress:
            return
        mode = self._leader()
        if mode != self._mode:
            from tqdm.auto import tqdm

            if self._bar is not None:
                self._bar.close()
            total = self.max_steps if mode == "steps" else self.max_seconds
            unit = "step" if mode == "steps" else "s"
            self._bar = tqdm(total=total, desc=self.desc, unit=unit, leave=False, mininterval=0.5,
                             bar_format=None if mode == "steps" else
                             "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s {postfix}")
            self._mode = mode
        value = self.step if mode == "steps" else min(self.elapsed, self.max_seconds)
        if self.step % self.postfix_every == 0 and self.history:
            shown = {k: f"{sum(v[-self.postfix_every:]) / len(v[-self.postfix_every:]):.4g}"
                     for k, v in self.history.items() if v and isinstance(v[-1], float)}
            if mode == "time":
                shown = {"step": self.step, **shown}
            self._bar.set_postfix(shown, refresh=False)
        self._bar.update(value - self._bar.n)

    # ------------------------------------------------------------------ the loop
    def __iter__(self):
        self._start = self._now()
        self._draw()
        while True:
            if self.max_steps is not None and self.step >= self.max_steps:
                self.stopped_by = "steps"
                return
            if self.max_seconds is not None and self.elapsed >= self.max_seconds:
                self.stopped_by = "time"
                return
            yield self.step
            self.step += 1
            self._draw()

    def log(self, **values) -> None:
        """Record this step's values (plain floats) in the per-step history."""
        for key, value in values.items():
            value = float(value)
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"{key} became {value} at step {self.step}: training diverged "
                    "(lower the learning rate, or check the data range)"
                )
            self.history.setdefault(key, []).append(value)

    def snapshot(self, value: torch.Tensor, step: int | None = None) -> None:
        """Keep a CPU copy of ``value`` (e.g. G(fixed z)) under ``step`` (default: steps done)."""
        self.snapshots[self.step if step is None else step] = value.detach().cpu()

    def close(self) -> None:
        """Close the progress bar (also on an error path, before re-raising)."""
        if self._bar is not None:
            self._bar.close()  # idempotent: a second close does nothing

    def finish(self, output: torch.Tensor | None = None) -> TrainRecord:
        """Close the bar and return the :class:`TrainRecord` of the run."""
        seconds = self.elapsed
        self.close()
        return TrainRecord(steps=self.step, seconds=seconds, stopped_by=self.stopped_by or "steps",
                           history=self.history, snapshots=self.snapshots, output=output)


def lr_at(progress: float, lr: float, warmup: float = 0.02, final_fraction: float = 0.05) -> float:
    """Learning rate at ``progress`` ∈ [0, 1] of the budget: linear warm-up, then cosine decay.

    lr(p) = lr · p/warmup for p < warmup, else lr · (f + (1 − f)(1 + cos(π (p−warmup)/(1−warmup)))/2),
    with f = ``final_fraction``. Fed :attr:`Budget.fraction`, it anneals over whichever budget
    (steps or minutes) ends the run.
    """
    p = min(max(float(progress), 0.0), 1.0)
    if p < warmup:
        return lr * max(p / warmup, 1e-3)
    q = (p - warmup) / max(1e-12, 1 - warmup)
    return lr * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * q)))
