"""The budget every training loop shares: it stops at steps or minutes, whichever comes first,
and its one progress bar counts what really stops the run (issue 12)."""

import math

import pytest

from course_lib.train_loop import Budget, TrainRecord, lr_at, running_mean


class FakeClock:
    def __init__(self, per_step: float):
        self.now, self.per_step = 0.0, per_step

    def __call__(self):
        return self.now

    def tick(self):
        self.now += self.per_step


def _run(steps, minutes, per_step, progress=True):
    clock = FakeClock(per_step)
    budget = Budget(steps, minutes, progress=progress)
    budget._now = clock
    modes = []
    for step in budget:
        clock.tick()
        budget.log(loss=1.0 / (step + 1))
        modes.append(budget._mode)
    return budget, budget.finish(), modes


def test_steps_decide_and_the_bar_counts_steps():
    budget, record, modes = _run(100, 1.0, per_step=0.1)  # 100 steps take 10 s of a 60 s budget
    assert record.steps == 100 and record.stopped_by == "steps"
    assert modes[-1] == "steps" and budget._bar.total == 100


def test_time_decides_and_the_bar_counts_seconds():
    """A 1-minute run capped at 100,000 steps shows … / 60 s, not a bar over 100,000 steps."""
    budget, record, modes = _run(100_000, 1.0, per_step=1.0)
    assert record.stopped_by == "time" and record.steps == 60
    assert set(modes) == {"time"} and budget._bar.total == 60.0 and budget._bar.unit == "s"


def test_only_minutes_or_only_steps():
    assert _run(None, 0.5, per_step=1.0)[1].steps == 30
    assert _run(7, None, per_step=1.0)[1].steps == 7
    with pytest.raises(ValueError, match="give steps=, minutes= or both"):
        Budget()


def test_fraction_is_the_budget_spent_and_drives_the_learning_rate():
    clock = FakeClock(1.0)
    budget = Budget(1000, 1.0, progress=False)
    budget._now = clock
    seen = []
    for _ in budget:
        seen.append(budget.fraction)
        clock.tick()
    assert seen[0] == 0.0 and seen == sorted(seen) and seen[-1] == pytest.approx(59 / 60)
    lrs = [lr_at(f, 1.0) for f in seen]
    assert max(lrs) == pytest.approx(1.0, rel=0.1) and lrs[-1] < 0.1


def test_a_nan_in_the_history_stops_the_run_with_the_step_named():
    budget = Budget(10, progress=False)
    with pytest.raises(FloatingPointError, match="loss became nan at step 2: training diverged"):
        for step in budget:
            budget.log(loss=float("nan") if step == 2 else 1.0)


def test_record_series_mean_smoothing_and_snapshots():
    import torch

    budget = Budget(4, progress=False)
    for step in budget:
        budget.log(loss=float(step))
        budget.snapshot(torch.full((1,), float(step)))
    record = budget.finish()
    assert isinstance(record, TrainRecord) and record.history["loss"] == [0.0, 1.0, 2.0, 3.0]
    assert record.mean("loss") == 1.5 and record.mean("loss", last=2) == 2.5
    assert record.smoothed("loss", 2) == [0.0, 0.5, 1.5, 2.5]
    assert sorted(record.snapshots) == [0, 1, 2, 3]
    with pytest.raises(KeyError, match="key must be one of the recorded series"):
        record.series("accuracy")
    assert math.isnan(TrainRecord().steps_per_second)


def test_running_mean_matches_the_definition():
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0]
    for window in (1, 2, 3, 10):
        want = [sum(values[max(0, i - window + 1): i + 1]) / len(values[max(0, i - window + 1): i + 1])
                for i in range(len(values))]
        assert running_mean(values, window) == pytest.approx(want)
