"""Sliders over pure plotting functions, for ipywidgets 7.7 (Colab) and 8 (JupyterLab 4).

The pattern (CONVENTIONS): every interactive figure is a pure function ``plot_x(**params) ->
Figure`` in ``course_lib``. A notebook first calls it with defaults (a static picture that CI,
nbval and the slides can show), then wraps the same function here. Run headless, ``interact``
draws the figure once with the default values, so the widget cell is exercised by the tests too.
"""

from __future__ import annotations

from collections.abc import Callable


def show_figure(fig) -> None:
    """Display a figure once in the notebook's output."""
    from IPython.display import display

    display(fig)


def interact_figure(plot_fn: Callable, manual: bool = False, **controls):
    """Wrap ``plot_fn`` in ipywidgets controls; each change redraws the returned figure.

    ``controls`` are what ``ipywidgets.interact`` takes (widgets, ``(min, max, step)`` tuples,
    lists of choices, ``fixed(...)``). With ``manual=True`` the figure is redrawn only when the
    learner presses the button, for work that takes more than a moment.
    """
    import ipywidgets

    if not callable(plot_fn):
        raise TypeError(f"plot_fn must be callable, got {type(plot_fn).__name__}")

    def draw(**params):
        show_figure(plot_fn(**params))

    draw.__name__ = getattr(plot_fn, "__name__", "draw")
    if manual:
        return ipywidgets.interact_manual(draw, **controls)
    return ipywidgets.interact(draw, **controls)
