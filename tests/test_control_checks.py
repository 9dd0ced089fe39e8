"""The notebook-09 self-checks pass the references and fail the typical wrong answers, naming them."""

from __future__ import annotations

import pytest
import torch

from course_lib.checks.control import (
    check_inpaint_merge,
    check_sdedit_start,
    reference_inpaint_merge,
    reference_sdedit_start,
)
from course_lib.diffusion import at, ddim_timesteps, q_sample

# ----------------------------------------------------------------------------- the SDEdit start point


def start_by_hand(images, strength, nfe, schedule, noise):
    k = int(strength * nfe + 0.5)
    if k == 0:
        return -1, images
    t0 = ddim_timesteps(schedule.num_steps, nfe)[nfe - k]
    ab = schedule.alpha_bars[t0]
    return t0, ab.sqrt().float() * images + (1 - ab).sqrt().float() * noise


def start_from_strength_times_T(images, strength, nfe, schedule, noise):
    if strength == 0:
        return -1, images
    t0 = round(strength * schedule.num_steps) - 1
    return t0, q_sample(images, t0, schedule, noise)


def start_one_step_early(images, strength, nfe, schedule, noise):
    k = int(strength * nfe + 0.5)
    if k == 0:
        return -1, images
    t0 = ddim_timesteps(schedule.num_steps, nfe)[nfe - k - 1] if k < nfe else schedule.num_steps - 1
    return t0, q_sample(images, t0, schedule, noise)


def start_without_square_roots(images, strength, nfe, schedule, noise):
    t0, _ = reference_sdedit_start(images, strength, nfe, schedule, noise)
    if t0 < 0:
        return t0, images
    ab = at(schedule.alpha_bars, t0, images)
    return t0, ab * images + (1 - ab) * noise


def start_swapped(images, strength, nfe, schedule, noise):
    t0, _ = reference_sdedit_start(images, strength, nfe, schedule, noise)
    if t0 < 0:
        return t0, images
    ab = at(schedule.alpha_bars, t0, images)
    return t0, ab.sqrt() * noise + (1 - ab).sqrt() * images


def start_noising_at_strength_0(images, strength, nfe, schedule, noise):
    t0, x = reference_sdedit_start(images, strength, nfe, schedule, noise)
    if t0 < 0:
        ab = schedule.alpha_bars[-1].float()
        return t0, ab.sqrt() * images + (1 - ab).sqrt() * noise  # alpha_bars[-1] is the *last* step
    return t0, x


def start_returns_only_the_image(images, strength, nfe, schedule, noise):
    return reference_sdedit_start(images, strength, nfe, schedule, noise)[1]


def test_the_sdedit_references_pass():
    assert check_sdedit_start(reference_sdedit_start)
    assert check_sdedit_start(start_by_hand)


@pytest.mark.parametrize("fn,message", [
    (start_from_strength_times_T, "comes from strength·T"),
    (start_one_step_early, "is one sampler step off"),
    (start_without_square_roots, "take the square roots"),
    (start_swapped, "the image gets √ᾱ_t0 and the noise √(1−ᾱ_t0)"),
    (start_noising_at_strength_0, "at strength 0 (t0 = -1) x_t0 must be the images themselves"),
    (start_returns_only_the_image, "must return a pair (t0, x_t0)"),
])
def test_the_sdedit_check_names_the_slip(fn, message):
    result = check_sdedit_start(fn)
    assert not result and message in result.message, result.message


def test_an_unwritten_exercise_says_so():
    def sdedit_start(images, strength, nfe, schedule, noise):
        raise NotImplementedError

    result = check_sdedit_start(sdedit_start)
    assert not result and "not written yet" in result.message


# ----------------------------------------------------------------------------- the inpainting merge


def merge_by_hand(x, x_known, mask, t, schedule, noise):
    if t < 0:
        return mask * x_known + (1 - mask) * x
    ab = schedule.alpha_bars[t].float()
    return mask * (ab.sqrt() * x_known + (1 - ab).sqrt() * noise) + (1 - mask) * x


def merge_mask_inverted(x, x_known, mask, t, schedule, noise):
    return reference_inpaint_merge(x, x_known, 1 - mask, t, schedule, noise)


def merge_clean_known(x, x_known, mask, t, schedule, noise):
    return mask * x_known + (1 - mask) * x


def merge_wraps_at_the_end(x, x_known, mask, t, schedule, noise):
    ab = schedule.alpha_bars[t].float()                     # t = −1 picks the last timestep
    return mask * (ab.sqrt() * x_known + (1 - ab).sqrt() * noise) + (1 - mask) * x


def merge_known_unnoised_scale(x, x_known, mask, t, schedule, noise):
    if t < 0:
        return mask * x_known + (1 - mask) * x
    ab = schedule.alpha_bars[t].float()
    return mask * (ab * x_known + (1 - ab) * noise) + (1 - mask) * x


def merge_drops_the_rest(x, x_known, mask, t, schedule, noise):
    return reference_inpaint_merge(x, x_known, mask, t, schedule, noise) * mask


def test_the_merge_references_pass():
    assert check_inpaint_merge(reference_inpaint_merge)
    assert check_inpaint_merge(merge_by_hand)


@pytest.mark.parametrize("fn,message", [
    (merge_mask_inverted, "the mask is the wrong way round"),
    (merge_clean_known, "must be noised to the same timestep as x"),
    (merge_wraps_at_the_end, "alpha_bars[-1] in Python is the last timestep"),
    (merge_known_unnoised_scale, "the regenerated pixels are right but the known ones are not"),
    (merge_drops_the_rest, "the result should be mask"),
])
def test_the_merge_check_names_the_slip(fn, message):
    result = check_inpaint_merge(fn)
    assert not result and message in result.message, result.message


def test_a_merge_returning_the_wrong_shape_is_named():
    result = check_inpaint_merge(lambda x, x_known, mask, t, schedule, noise: x[0])
    assert not result and "must have the shape of x" in result.message
    assert isinstance(reference_inpaint_merge(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2),
                                              -1, None, None), torch.Tensor)
