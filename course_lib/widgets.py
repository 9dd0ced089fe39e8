"""Controls over pure plotting functions, for ipywidgets 7.7 (Colab) and 8 (JupyterLab 4).

The pattern (CONVENTIONS): every interactive figure is a pure function ``plot_x(**params) ->
Figure`` in ``course_lib``. A notebook first calls it with defaults (a static picture that CI,
nbval and the slides can show), then wraps the same function here. The controls **start at the
plotting function's defaults**, so the first picture under the sliders is the static one just
above. Run headless, ``interact`` draws the figure once with those values, so the widget cell is
exercised by the tests too; it returns nothing, so no stray ``Out[…]`` follows the controls.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable


def show_figure(fig) -> None:
    """Display a figure once in the notebook's output."""
    from IPython.display import display

    display(fig)


def control_defaults(plot_fn: Callable, names) -> dict:
    """The defaults of ``plot_fn`` for the parameters ``names`` (those without one are left out)."""
    try:
        params = inspect.signature(plot_fn).parameters
    except (TypeError, ValueError):
        return {}
    return {name: params[name].default for name in names
            if name in params and params[name].default is not inspect.Parameter.empty}


def interact_figure(plot_fn: Callable, manual: bool | str = False, **controls) -> None:
    """Wrap ``plot_fn`` in ipywidgets controls; each change redraws the returned figure.

    ``controls`` are what ``ipywidgets.interact`` takes (widgets, ``(min, max, step)`` tuples,
    lists of choices, ``fixed(...)``). Each control starts at ``plot_fn``'s default for that
    parameter when it has one (a widget's ``value`` is set to it). With ``manual=True`` the figure
    is redrawn only when the learner presses the button, for work that takes more than a moment;
    a string names that button (``manual="Generate"``; default "Run Interact").
    """
    import ipywidgets

    if not callable(plot_fn):
        raise TypeError(f"plot_fn must be callable, got {type(plot_fn).__name__}")
    defaults = control_defaults(plot_fn, controls)
    for name, control in controls.items():
        if name in defaults and isinstance(control, ipywidgets.ValueWidget):
            control.value = defaults[name]

    def draw(**params):
        show_figure(plot_fn(**params))

    # interact reads the defaults from the signature: give it the controlled parameters only.
    draw.__signature__ = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                          default=defaults.get(name, inspect.Parameter.empty))
        for name in controls
    ])
    draw.__name__ = getattr(plot_fn, "__name__", "draw")
    if isinstance(manual, str) and manual:
        factory = ipywidgets.interact_manual.options(manual_name=manual)
    else:
        factory = ipywidgets.interact_manual if manual else ipywidgets.interact
    factory(draw, **controls)
