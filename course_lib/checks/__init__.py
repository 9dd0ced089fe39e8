"""Self-checks for the exercises: each runs the learner's function on cases with known answers
and says in one sentence what is wrong (shape, value, gradient), or that it passed.

A check returns a :class:`CheckResult`, which shows as ``✅ …`` or ``❌ …`` in a notebook and is
truthy only when the check passed. The reference solutions are the ``course_lib`` functions the
notebooks teach; :func:`show_solution` prints one when the learner wants to see it.
"""

from ._core import CheckResult, LearnerError, call_learner, checker, show_solution

__all__ = ["CheckResult", "LearnerError", "call_learner", "checker", "show_solution"]
