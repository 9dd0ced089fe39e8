"""The self-checks of notebook 10 pass the references and fail the usual wrong answers, each with
the sentence that names the slip."""

import torch

from course_lib.checks.flow import (
    check_euler_step,
    check_flow_target,
    reference_euler_step,
    reference_flow_target,
)


def line_up(time, x0):
    return time.reshape(-1, *[1] * (x0.ndim - 1))


def test_the_references_pass():
    assert check_flow_target(reference_flow_target)
    assert check_euler_step(reference_euler_step)


def test_flow_target_wrong_answers():
    def swapped(x0, noise, time):
        t = line_up(time, x0)
        return t * x0 + (1 - t) * noise, noise - x0

    def sqrt_mix(x0, noise, time):
        t = line_up(time, x0)
        return (1 - t).sqrt() * x0 + t.sqrt() * noise, noise - x0

    def sign(x0, noise, time):
        t = line_up(time, x0)
        return (1 - t) * x0 + t * noise, x0 - noise

    def scaled_velocity(x0, noise, time):
        t = line_up(time, x0)
        return (1 - t) * x0 + t * noise, t * (noise - x0)

    def unbroadcast(x0, noise, time):   # time (B,) against (B, C, H, W) lines up with W
        return (1 - time) * x0 + time * noise, noise - x0

    def images_only(x0, noise, time):
        t = time.reshape(-1, 1, 1, 1)
        return (1 - t) * x0 + t * noise, noise - x0

    def one_value(x0, noise, time):
        return torch.zeros_like(x0), noise - x0

    def crashes(x0, noise, time):
        raise NotImplementedError

    cases = {
        swapped: "ends swapped",
        sqrt_mix: "square roots",
        sign: "wrong sign",
        scaled_velocity: "does not depend on time",
        unbroadcast: "reshape time to (B, 1, 1, 1)",
        images_only: "2-D points",
        one_value: "(1 − time)·x0 + time·noise",
        crashes: "not written yet",
    }
    for fn, words in cases.items():
        result = check_flow_target(fn)
        assert not result, fn.__name__
        assert words in result.message, (fn.__name__, result.message)


def test_euler_step_wrong_answers():
    def backwards(x, velocity, time, time_next):
        return x + (time - time_next) * velocity

    def no_size(x, velocity, time, time_next):
        return x - velocity

    def size_is_time(x, velocity, time, time_next):
        return x - time * velocity

    def returns_velocity(x, velocity, time, time_next):
        return velocity

    def wrong_shape(x, velocity, time, time_next):
        return (x + (time_next - time) * velocity).flatten(1)

    cases = {
        backwards: "wrong way",
        no_size: "ignores its size",
        size_is_time: "difference of the two times",
        returns_velocity: "x + (time_next − time)·velocity",
        wrong_shape: "shape",
    }
    for fn, words in cases.items():
        result = check_euler_step(fn)
        assert not result, fn.__name__
        assert words in result.message, (fn.__name__, result.message)
