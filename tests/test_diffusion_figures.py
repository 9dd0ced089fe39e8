"""The notebook-03 figures: each returns a Figure, shows what it says, and rejects bad arguments."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from course_lib.diffusion.figures import (
    plot_chain_vs_closed_form,
    plot_forward_explorer,
    plot_schedule_strips,
    plot_schedules,
)

DIGITS = torch.rand(6, 1, 28, 28) * 2 - 1
PHOTO = torch.rand(1, 3, 16, 16) * 2 - 1


def test_plot_schedules_marks_each_crossing():
    fig = plot_schedules(num_steps=200)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    # one curve per kind in each panel, plus one crossing dot per kind in the ᾱ and SNR panels
    assert len(fig.axes[0].lines) == 4 and len(fig.axes[1].lines) == 4 + 4 + 1


def test_plot_schedule_strips_grid():
    fig = plot_schedule_strips(DIGITS[:1], ts=(0, 50, 99), kinds=["linear", "cosine"], num_steps=100)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title().startswith("t=0")
    with pytest.raises(ValueError, match="single image"):
        plot_schedule_strips(DIGITS, ts=(0,), num_steps=100)
    with pytest.raises(ValueError, match="ts"):
        plot_schedule_strips(DIGITS[:1], ts=(100,), num_steps=100)
    with pytest.raises(ValueError, match="kinds"):
        plot_schedule_strips(DIGITS[:1], kinds=["exponential"])


def test_plot_chain_vs_closed_form():
    fig = plot_chain_vs_closed_form(ts=(0, 20), num_samples=500, num_steps=50)
    assert len(fig.axes) == 2 and "t = 20" in fig.axes[1].get_title()


@pytest.mark.parametrize("kind", ["linear", "quadratic", "cosine", "sigmoid"])
def test_plot_forward_explorer(kind):
    fig = plot_forward_explorer(t=40, kind=kind, num_steps=100, digits=DIGITS, photo=PHOTO)
    assert isinstance(fig, Figure) and len(fig.axes) == 5
    title = fig.get_suptitle()
    assert f"{kind} schedule" in title and "t = 40" in title and "past" not in title


def test_plot_forward_explorer_clamps_t_past_the_end_and_says_so():
    fig = plot_forward_explorer(t=900, num_steps=50, digits=DIGITS, photo=PHOTO)
    assert "t = 900 is past T − 1; showing t = 49" in fig.get_suptitle()
    short = plot_forward_explorer(t=5, num_steps=10, digits=DIGITS, photo=PHOTO)
    assert any("SNR ≥ 1 for every t" in ax.get_title() for ax in short.axes)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(t=-1), "t must be an integer"),
        (dict(kind="exponential"), "kind must be one of"),
        (dict(beta_start=0.03, beta_end=0.02), "beta_end must be >= beta_start"),
        (dict(num_steps=0), "num_steps"),
        (dict(digits=torch.zeros(28, 28)), "digits must have 4 dimensions"),
    ],
)
def test_plot_forward_explorer_bad_arguments(kwargs, match):
    args = dict(digits=DIGITS, photo=PHOTO) | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        plot_forward_explorer(**args)
