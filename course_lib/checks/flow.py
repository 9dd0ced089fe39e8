"""Self-checks for notebook 10 (the ODE view of diffusion, flow matching).

Two exercises, with the course's time convention (``time`` ∈ [0, 1], 0 = data, 1 = noise):

* ``flow_target(x0, noise, time) -> (xt, velocity)``: the point of the straight path and its
  velocity target, x_time = (1 − time) x_0 + time ε and velocity = ε − x_0, for a batch of times
  (B,) against images (B, C, H, W) or points (B, 2). Reference:
  :func:`course_lib.flow.matching.interpolate` and :func:`~course_lib.flow.matching.flow_velocity`.
* ``euler_step(x, velocity_pred, time, time_next) -> x_next``: one Euler step of
  dx/dtime = velocity from ``time`` to ``time_next`` (smaller: samplers run from noise to data),
  x_next = x + (time_next − time) · velocity. Reference: :func:`course_lib.flow.ode.euler_step`.
"""

from __future__ import annotations

import torch

from ..flow.matching import flow_velocity, interpolate
from ..flow.ode import euler_step
from ._core import CheckResult, LearnerError, call_learner, checker


def reference_flow_target(x0, noise, time):
    """The solution: (x_time, velocity) of the straight path at ``time`` (B,)."""
    return interpolate(x0, noise, time), flow_velocity(x0, noise)


def reference_euler_step(x, velocity_pred, time, time_next):
    """The solution: x + (time_next − time) · velocity_pred."""
    return euler_step(x, velocity_pred, time_next - time)


def _close(a, b) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(),
                                                                                 rtol=1e-5, atol=1e-6)


def _tensor_result(out, like: torch.Tensor, what: str) -> CheckResult | None:
    if not isinstance(out, torch.Tensor):
        return CheckResult.fail(f"{what} must be a tensor, got {type(out).__name__}")
    if out.shape != like.shape:
        return CheckResult.fail(f"{what} must have the shape of x0 {tuple(like.shape)}, got {tuple(out.shape)}"
                                + (" (reshape time (B,) to (B, 1, 1, 1) so it lines up with the batch axis)"
                                   if out.ndim > like.ndim or out.numel() != like.numel() else ""))
    if not bool(torch.isfinite(out).all()):
        return CheckResult.fail(f"{what} contains NaN or inf values")
    return None


def _cases(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.rand(4, 1, 5, 5, generator=gen) * 2 - 1
    noise = torch.randn(4, 1, 5, 5, generator=gen)
    time = torch.tensor([0.0, 0.25, 0.7, 1.0])
    return x0, noise, time


@checker
def check_flow_target(fn) -> CheckResult:
    """Check a learner's ``flow_target(x0, noise, time) -> (xt, velocity)`` (0 = data, 1 = noise)."""
    x0, noise, time = _cases()
    try:
        out = call_learner(fn, x0, noise, time)
    except LearnerError as err:
        if "size of tensor" in err.result.message:
            return CheckResult.fail(f"{err.result.message} — time has shape (B,) and x0 (B, C, H, W): reshape "
                                    "time to (B, 1, 1, 1) so it lines up with the batch axis (see the shape "
                                    "rule in notebook 03).")
        raise
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return CheckResult.fail(f"flow_target must return two tensors (xt, velocity), got {type(out).__name__}")
    xt, velocity = out
    for value, what in ((xt, "xt"), (velocity, "velocity")):
        bad = _tensor_result(value, x0, what)
        if bad is not None:
            return bad
    want_xt, want_v = reference_flow_target(x0, noise, time)
    if not _close(xt, want_xt):
        t4 = time.reshape(-1, 1, 1, 1)
        if _close(xt, t4 * x0 + (1 - t4) * noise):
            return CheckResult.fail("xt has its ends swapped: in this course time = 0 is the data and time = 1 "
                                    "is the noise, so x_time = (1 − time)·x0 + time·noise.")
        if _close(xt, (1 - t4).sqrt() * x0 + t4.sqrt() * noise) or _close(xt, (1 - t4) ** 0.5 * x0 + t4 * noise):
            return CheckResult.fail("that is a diffusion-style mix with square roots: the flow's path is the "
                                    "straight line (1 − time)·x0 + time·noise, no square roots.")
        if _close(xt[0], x0[0]) and not _close(xt[3], noise[3]):
            return CheckResult.fail("xt is right at time = 0 but not at time = 1, where it must be the noise itself.")
        return CheckResult.fail("xt is not (1 − time)·x0 + time·noise for each image at its own time "
                                "(the first image has time 0, the last time 1).")
    if not _close(velocity, want_v):
        if _close(velocity, -want_v):
            return CheckResult.fail("the velocity has the wrong sign: d x_time / d time = noise − x0 "
                                    "(time grows towards the noise).")
        t4 = time.reshape(-1, 1, 1, 1)
        if _close(velocity, t4 * want_v) or _close(velocity, (1 - t4) * want_v):
            return CheckResult.fail("the velocity does not depend on time: it is the derivative of a straight "
                                    "line, noise − x0, the same at every point of the path.")
        return CheckResult.fail("the velocity should be d x_time / d time = noise − x0.")
    # points as well as images
    gen = torch.Generator().manual_seed(1)
    p0, pn, pt = torch.randn(6, 2, generator=gen), torch.randn(6, 2, generator=gen), torch.rand(6, generator=gen)
    out = call_learner(fn, p0, pn, pt)
    want = reference_flow_target(p0, pn, pt)
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and _close(out[0], want[0]) and _close(out[1], want[1])):
        return CheckResult.fail("it works on images but not on 2-D points (B, 2): shape time to broadcast "
                                "against any x0, e.g. time.reshape(-1, *[1] * (x0.ndim - 1)).")
    return CheckResult.ok("your straight path and its velocity match x_time = (1 − time)·x0 + time·noise "
                          "and noise − x0, for images and for points.")


@checker
def check_euler_step(fn) -> CheckResult:
    """Check a learner's ``euler_step(x, velocity_pred, time, time_next) -> x_next``."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 1, 4, 4, generator=gen)
    velocity = torch.randn(3, 1, 4, 4, generator=gen)
    for time, time_next in ((0.5, 0.4), (1.0, 0.75), (0.2, 0.0)):
        out = call_learner(fn, x, velocity, time, time_next)
        bad = _tensor_result(out, x, "x_next")
        if bad is not None:
            return bad
        want = reference_euler_step(x, velocity, time, time_next)
        if _close(out, want):
            continue
        h = time - time_next
        if _close(out, x + h * velocity):
            return CheckResult.fail(f"from time {time} to {time_next} the step goes the wrong way: time "
                                    "decreases, so x_next = x + (time_next − time)·velocity moves against the velocity.")
        if _close(out, x - velocity) or _close(out, x + velocity):
            return CheckResult.fail("the step ignores its size: multiply the velocity by (time_next − time).")
        if _close(out, x - time * velocity) or _close(out, x - time_next * velocity):
            return CheckResult.fail("the step size is the difference of the two times, time_next − time, "
                                    "not one of them.")
        return CheckResult.fail(f"from time {time} to {time_next}, x_next should be x + (time_next − time)·velocity.")
    # an Euler step with one step from pure noise to data, on an exact velocity, lands on x0
    x0, noise, _ = _cases(3)
    out = call_learner(fn, noise, noise - x0, 1.0, 0.0)
    if not _close(out, x0):
        return CheckResult.fail("one step from time 1 to 0 along the exact velocity noise − x0 should land on x0.")
    return CheckResult.ok("your Euler step matches x + (time_next − time)·velocity, and one step along a "
                          "straight path lands exactly on the data.")
