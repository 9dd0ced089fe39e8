"""The sampling loop the editing methods share, ``denoise``: paths, hooks, and the test models.

``sample()`` walks ``ddim_timesteps(T, nfe) + [-1]`` through ``denoise`` (tests/test_samplers.py
pins that it behaves as before); here: what the hooks receive, upward moves, the trajectory.
The small models defined here are shared by the other tests/test_control_*.py files.
"""

from __future__ import annotations

import pytest
import torch
from conftest import (
    Oracle,  # noqa: F401  (the other control tests import it from here)
    seeded,
)

from course_lib.diffusion import make_schedule
from course_lib.diffusion.samplers import ddim_timesteps, denoise, sample
from course_lib.diffusion.unet import UNet


def tiny_unet(num_classes=None, kind="cosine", prediction="v", seed=0):
    """A small U-Net with random weights (not zero output), on 28×28 digits: fast, deterministic."""
    torch.manual_seed(seed)
    model = UNet(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_classes=num_classes, patch=2,
                 schedule={"kind": kind, "num_steps": 1000}, prediction=prediction)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def digits(n=4, seed=0):
    """n random 'images' (n, 1, 28, 28) in [−1, 1]."""
    return seeded(seed, (n, 1, 28, 28), kind="image")


@pytest.fixture(scope="module")
def tiny():
    return tiny_unet()


def test_sample_is_denoise_along_the_ddim_timesteps(tiny):
    x = seeded(0, (2, 1, 28, 28))
    with torch.inference_mode():
        walked, trajectory = denoise(tiny, x.clone(), ddim_timesteps(1000, 7) + [-1], progress=False)
    assert trajectory is None
    torch.testing.assert_close(walked.clamp(-1, 1), sample(tiny, 2, nfe=7, x_start=x, progress=False, device="cpu"),
                               rtol=0, atol=0)


def test_the_hooks_see_every_move_and_upward_moves_go_to_ascend(tiny):
    seen, ups = [], []

    def after_step(x, t_next, generator):
        seen.append(t_next)
        return x

    def ascend(x, t, t_next, generator):
        ups.append((t, t_next))
        return x * 0 + 0.5                       # whatever it returns is where the walk goes on

    path = [999, 499, 999, 499, -1]
    x = seeded(1, (1, 1, 28, 28))
    out, _ = denoise(tiny, x, path, after_step=after_step, ascend=ascend, progress=False)
    assert seen == [499, 999, 499, -1]
    assert ups == [(499, 999)]
    assert out.shape == x.shape


def test_a_custom_predict_replaces_the_network(tiny):
    schedule = make_schedule("cosine", 1000)
    x0 = digits(2, seed=3)
    calls = []

    def predict(x, t):                          # a perfect guess of x0, whatever x is
        calls.append(t)
        a = schedule.alpha_bars[t].float()
        return (x - a.sqrt() * x0) / (1 - a).sqrt(), x0

    out, _ = denoise(tiny, seeded(4, (2, 1, 28, 28)), ddim_timesteps(1000, 5) + [-1], predict=predict, progress=False)
    assert calls == ddim_timesteps(1000, 5)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)


def test_the_trajectory_records_every_stride_th_evaluation_and_the_last(tiny):
    _, trajectory = denoise(tiny, seeded(5, (1, 1, 28, 28)), ddim_timesteps(1000, 10) + [-1], trajectory_stride=4,
                            progress=False)
    assert trajectory.timesteps == [999, 599, 199, 99]
    assert trajectory.xt.shape == (4, 1, 1, 28, 28)


def test_a_non_finite_walk_raises(tiny):
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        denoise(tiny, seeded(0, (1, 1, 28, 28)), [999, -1], after_step=lambda x, t, g: x * float("nan"),
                progress=False)


def test_the_model_is_left_in_the_mode_it_was_in(tiny):
    tiny.train()
    denoise(tiny, seeded(0, (1, 1, 28, 28)), [999, -1], progress=False)
    assert tiny.training
    tiny.eval()
