"""The run budget: one switch between a quick test run and the full run for learners.

``COURSE_BUDGET`` chooses the sizes every notebook uses:

* ``smoke`` – seconds per notebook; what ``make test`` and CI run. Every code path still runs.
* ``cpu``   – a laptop without a GPU: minutes, and results worth looking at.
* ``gpu``   – full quality on a GPU (Colab).

Unset, the budget is ``gpu`` when CUDA is available and ``cpu`` otherwise. Notebooks never read
the variable themselves; they call :func:`pick` with one value per budget, so the learner sees in
the cell what each budget does.
"""

from __future__ import annotations

import os

import torch

BUDGETS = ("smoke", "cpu", "gpu")
ENV_VAR = "COURSE_BUDGET"


def get_budget() -> str:
    """Return the active budget: ``COURSE_BUDGET`` if set, else ``gpu`` with CUDA, else ``cpu``."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value:
        if value not in BUDGETS:
            raise ValueError(
                f"{ENV_VAR} must be one of {', '.join(BUDGETS)}; got {os.environ[ENV_VAR]!r}"
            )
        return value
    return "gpu" if torch.cuda.is_available() else "cpu"


def pick(smoke, cpu, gpu, budget: str | None = None):
    """Return the value for the active budget (or for ``budget`` if given).

    >>> pick(smoke=10, cpu=2_000, gpu=20_000, budget="cpu")
    2000
    """
    if budget is None:
        budget = get_budget()
    elif budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}; got {budget!r}")
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[budget]


def is_smoke(budget: str | None = None) -> bool:
    """True in the quick test run (``COURSE_BUDGET=smoke``)."""
    return (budget or get_budget()) == "smoke"


def preset_for(table: dict, budget: str | None = None, **overrides) -> dict:
    """A family's training recipe for a run budget: ``table[budget]`` (default: the active budget)
    updated with ``overrides``. Each family keeps its own ``PRESETS`` table and calls this."""
    budget = budget or get_budget()
    if budget not in table:
        raise ValueError(f"budget must be one of {', '.join(table)}; got {budget!r}")
    return {**table[budget], **overrides}
