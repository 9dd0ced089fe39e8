"""Inpainting from its math: the merge step, the jump back up, RePaint's path, known pixels kept
exactly, and masks that are not binary or do not match the image named."""

from __future__ import annotations

import pytest
import torch
from conftest import seeded
from test_control_denoise import Oracle, digits, tiny_unet

from course_lib.control import half_mask, inpaint, inpaint_merge
from course_lib.control.inpaint import renoise, repaint_path
from course_lib.diffusion import q_sample
from course_lib.diffusion.samplers import ddim_timesteps, sample


@pytest.fixture(scope="module")
def tiny():
    return tiny_unet()


def test_the_merge_takes_the_noised_known_pixels_and_keeps_the_rest(cosine_schedule):
    x, known, noise = seeded(0, (2, 1, 28, 28)), digits(2), seeded(1, (2, 1, 28, 28))
    mask = half_mask("bottom")
    for t in (999, 300, 0):
        out = inpaint_merge(x, known, mask, t, cosine_schedule, noise)
        want_top = q_sample(known, t, cosine_schedule, noise)[..., :14, :]
        assert torch.equal(out[..., :14, :], want_top)
        assert torch.equal(out[..., 14:, :], x[..., 14:, :])
    end = inpaint_merge(x, known, mask, -1, cosine_schedule, None)
    assert torch.equal(end[..., :14, :], known[..., :14, :])


def test_renoise_from_the_clean_end_is_the_forward_process(cosine_schedule):
    x0, z = digits(2), seeded(2, (2, 1, 28, 28))
    torch.testing.assert_close(renoise(x0, -1, 600, cosine_schedule, z), q_sample(x0, 600, cosine_schedule, z))


def test_renoise_has_the_moments_of_q_xt_given_xs(cosine_schedule):
    """x_t | x_s ~ N(√(ᾱ_t/ᾱ_s) x_s, 1 − ᾱ_t/ᾱ_s): 200k draws within 4 standard errors."""
    s, t = 300, 700
    ratio = float(cosine_schedule.alpha_bars[t] / cosine_schedule.alpha_bars[s])
    x_s = torch.full((200_000, 1, 1, 1), 0.8, dtype=torch.float64)
    out = renoise(x_s, s, t, cosine_schedule, seeded(3, x_s.shape, dtype=torch.float64))
    var = 1 - ratio
    assert abs(float(out.mean()) - ratio**0.5 * 0.8) < 4 * (var / len(out)) ** 0.5
    assert abs(float(out.var()) - var) < 4 * var * (2 / len(out)) ** 0.5


def test_the_repaint_path_takes_each_step_resample_times():
    steps = ddim_timesteps(1000, 5)                       # [999, 799, 599, 399, 199]
    assert repaint_path(steps, 1) == steps + [-1]
    path = repaint_path(steps, 3)
    assert path[:7] == [999, 799, 999, 799, 999, 799, 599]
    downs = sum(1 for a, b in zip(path, path[1:]) if b < a)
    assert downs == (len(steps) - 1) * 3 + 1              # network evaluations


@pytest.mark.parametrize("options", [dict(method="merge"), dict(method="merge", resample=3),
                                     dict(method="merge", eta=1.0), dict(method="paste")])
def test_known_pixels_are_kept_to_the_bit(tiny, options):
    x = digits(3, seed=5)
    mask = torch.zeros(3, 1, 28, 28)
    mask[0, :, :14], mask[1, :, :, 14:], mask[2, :, 5:20, 5:20] = 1, 1, 1  # a different mask per image
    out = inpaint(tiny, x, mask, nfe=8, seed=0, device="cpu", progress=False, **options)
    assert torch.equal(out[mask.bool()], x[mask.bool()])
    assert not torch.equal(out[~mask.bool()], x[~mask.bool()])


def test_an_empty_mask_is_plain_sampling_and_a_full_one_the_image(tiny):
    x = digits(2, seed=6)
    none = inpaint(tiny, x, torch.zeros(1, 1, 28, 28), nfe=6, seed=4, device="cpu", progress=False)
    torch.testing.assert_close(none, sample(tiny, 2, nfe=6, seed=4, device="cpu", progress=False), rtol=0, atol=0)
    assert torch.equal(inpaint(tiny, x, torch.ones(1, 1, 28, 28), nfe=6, seed=4, device="cpu", progress=False), x)


def test_the_paste_baseline_is_sampling_with_the_known_pixels_pasted(tiny):
    x, mask = digits(2, seed=7), half_mask("top")
    out = inpaint(tiny, x, mask, method="paste", nfe=6, seed=2, device="cpu", progress=False)
    plain = sample(tiny, 2, nfe=6, seed=2, device="cpu", progress=False)
    torch.testing.assert_close(out, mask * x + (1 - mask) * plain, rtol=0, atol=0)


def test_a_perfect_denoiser_fills_in_its_image(cosine_schedule):
    x = digits(2, seed=8) * 0.9
    out = inpaint(Oracle(x, cosine_schedule), x, half_mask("left"), resample=2, nfe=10, seed=0, device="cpu",
                  progress=False)
    torch.testing.assert_close(out, x, atol=1e-4, rtol=1e-4)


def test_bool_masks_and_per_image_masks_are_accepted(tiny):
    x = digits(2)
    out = inpaint(tiny, x, half_mask("right").bool(), nfe=4, seed=0, device="cpu", progress=False)
    assert torch.equal(out[..., :14], x[..., :14])


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("mask,message", [
    (torch.ones(1, 1, 14, 14), r"mask must match the images \(2, 1, 28, 28\): shape \(B or 1, C or 1, 28, 28\), got \(1, 1, 14, 14\)"),
    (torch.ones(3, 1, 28, 28), r"mask must match the images .* got \(3, 1, 28, 28\)"),
    (torch.ones(28, 28), r"mask must match the images"),
    (torch.full((1, 1, 28, 28), 0.5), r"mask must be binary \(1 = known, 0 = regenerate\), got 784 value\(s\) .* from 0.5 to 0.5"),
    (torch.full((1, 1, 28, 28), float("nan")), r"mask must be binary .* 784 value"),
    ([[1, 0]], r"mask must be a tensor of 0s and 1s"),
])
def test_a_bad_mask_is_refused_naming_it(tiny, mask, message):
    with pytest.raises((ValueError, TypeError), match=message):
        inpaint(tiny, digits(2), mask, progress=False)


def test_other_arguments_are_checked(tiny):
    mask = half_mask()
    with pytest.raises(ValueError, match=r"method must be one of 'merge', 'paste'"):
        inpaint(tiny, digits(1), mask, method="blend", progress=False)
    with pytest.raises(ValueError, match=r"resample must be an integer in \[1, 20\]"):
        inpaint(tiny, digits(1), mask, resample=0, progress=False)
    with pytest.raises(ValueError, match=r"resample=2 needs method='merge'"):
        inpaint(tiny, digits(1), mask, method="paste", resample=2, progress=False)
    with pytest.raises(ValueError, match=r"side must be one of 'bottom', 'top', 'left', 'right'"):
        half_mask("middle")
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, 28, 28\)"):
        inpaint(tiny, torch.zeros(1, 3, 28, 28), mask, progress=False)
