"""Figures of notebooks 04–05: they draw what they are given (checked on the plotted data)."""

import pytest
import torch
from conftest import seeded

from course_lib.diffusion import make_schedule
from course_lib.diffusion.reverse_figures import (
    plot_guidance,
    plot_loss_curve,
    plot_sample_grids,
    plot_sampler_variances,
    plot_trajectory,
    plot_trajectory_strip,
)
from course_lib.diffusion.samplers import Trajectory
from course_lib.train_loop import TrainRecord


def test_sampler_variances_plot_beta_and_the_posterior_variance():
    s = make_schedule("linear", 100)
    fig = plot_sampler_variances(s)
    lines = fig.axes[0].get_lines()
    torch.testing.assert_close(torch.tensor(lines[0].get_ydata()), s.betas)
    torch.testing.assert_close(torch.tensor(lines[1].get_ydata()), s.posterior_variance)
    assert len(fig.axes[1].get_lines()[0].get_xdata()) == 50  # the zoom on the last 50 steps


def test_loss_curve_draws_the_losses_and_their_running_mean():
    record = TrainRecord(steps=4, history={"loss": [4.0, 2.0, 2.0, 0.0]})
    raw, smooth = plot_loss_curve(record, window=2).axes[0].get_lines()
    assert list(raw.get_ydata()) == [4.0, 2.0, 2.0, 0.0]
    assert list(smooth.get_ydata()) == [4.0, 3.0, 2.0, 1.0]
    with pytest.raises(TypeError, match="record must be a TrainRecord"):
        plot_loss_curve([1.0, 2.0])


def test_sample_grids_show_the_images_and_their_scores():
    images = seeded(0, (4, 1, 28, 28), kind="image")
    scores = {"a": {"confident_share": 0.5, "class_entropy": 0.25, "frechet_ratio": 3.0}}
    fig = plot_sample_grids({"a": images}, scores, {"a": 0.125}, nrow=2)
    ax = fig.axes[0]
    shown = ax.get_images()[0].get_array()
    assert shown.shape == (2 + 2 * 30, 2 + 2 * 30, 3)
    assert float(shown[2:30, 2:30, 0].mean()) == pytest.approx(float((images[0, 0] + 1).mean() / 2), abs=1e-6)
    assert ax.get_title() == "a\n0.125 s/image\nconf 50%, H 0.25, FD 3.0×"
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_sample_grids({})
    with pytest.raises(ValueError, match=r"must be in \[-1, 1\]"):
        plot_sample_grids({"a": images * 255})


def _trajectory():
    xt = seeded(1, (5, 2, 1, 28, 28))
    return Trajectory([999, 700, 400, 100, 0], xt, xt.clamp(-1, 1) * 0.5)


def test_trajectory_figures_show_the_recorded_steps():
    traj = _trajectory()
    fig = plot_trajectory(traj, step=3, images=2)
    assert "t = 100" in fig._suptitle.get_text()
    top_left = fig.axes[0].get_images()[0].get_array()
    torch.testing.assert_close(torch.tensor(top_left), ((traj.xt[3, 0, 0] + 1) / 2).clamp(0, 1))
    strip = plot_trajectory_strip(traj, columns=5)
    assert [ax.get_title() for ax in strip.axes[:5]] == [f"t = {t}" for t in traj.timesteps]
    with pytest.raises(ValueError, match=r"step must be an integer in \[0, 4\]"):
        plot_trajectory(traj, step=5)
    with pytest.raises(TypeError, match="trajectory must be a Trajectory"):
        plot_trajectory(traj.xt)


def test_guidance_figure_marks_the_chosen_scale_and_plots_the_scores():
    samples = {w: seeded(int(w * 10), (10, 1, 28, 28), kind="image") for w in (0.0, 1.0, 3.0)}
    scores = {w: {"confident_share": 0.5 + w / 10, "class_entropy": 1.0, "frechet_ratio": 1 + w} for w in samples}
    fig = plot_guidance(samples, scores, w=1.2)
    assert fig.axes[0].get_title().startswith("guidance scale w = 1")  # the nearest computed scale
    conf_line = fig.axes[1].get_lines()[0]
    assert list(conf_line.get_ydata()) == [0.5, 0.6, 0.8]
    assert list(fig.axes[2].get_lines()[0].get_ydata()) == [1.0, 2.0, 4.0]
