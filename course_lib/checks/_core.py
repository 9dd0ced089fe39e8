"""The machinery shared by every self-check."""

from __future__ import annotations

import inspect
from dataclasses import dataclass


@dataclass
class CheckResult:
    """The outcome of a self-check: ``passed`` and a one-sentence ``message``."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✅ " if self.passed else "❌ ") + self.message

    __str__ = __repr__

    @classmethod
    def ok(cls, message: str) -> CheckResult:
        return cls(True, message)

    @classmethod
    def fail(cls, message: str) -> CheckResult:
        return cls(False, message)


class LearnerError(Exception):
    """Raised by :func:`call_learner` with a one-sentence explanation of what went wrong."""

    def __init__(self, result: CheckResult):
        super().__init__(result.message)
        self.result = result


def call_learner(fn, *args, **kwargs):
    """Call the learner's function; turn a crash into a :class:`LearnerError` with one sentence."""
    if not callable(fn):
        raise LearnerError(CheckResult.fail(f"expected a function, got {type(fn).__name__}"))
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise LearnerError(
            CheckResult.fail(f"{getattr(fn, '__name__', 'your function')} is not written yet "
                             "(it raises NotImplementedError)")
        ) from None
    except Exception as exc:  # the learner's code may fail in any way
        raise LearnerError(
            CheckResult.fail(f"{getattr(fn, '__name__', 'your function')} raised "
                             f"{exc.__class__.__name__}: {exc}")
        ) from None


def checker(check_fn):
    """Decorator: a check body may raise :class:`LearnerError`; the decorator returns its result."""

    def wrapper(*args, **kwargs):
        try:
            return check_fn(*args, **kwargs)
        except LearnerError as err:
            return err.result

    wrapper.__name__ = check_fn.__name__
    wrapper.__doc__ = check_fn.__doc__
    wrapper.__wrapped__ = check_fn
    return wrapper


def show_solution(obj) -> None:
    """Print the source of a reference function (the solution to an exercise)."""
    print(inspect.getsource(obj))
