"""A drawing pad for notebook 09: the learner sketches a digit with the mouse (or a finger).

:class:`DrawingPad` is an `ipycanvas <https://ipycanvas.readthedocs.io>`_ canvas (a widget that
works in JupyterLab 4 and, with Colab's custom widget manager, in Colab) that records every stroke
as a polyline while it draws it. :meth:`DrawingPad.image` turns the strokes into a 28×28 digit with
the same two steps as the built-in sketches (:func:`~course_lib.control.sketches.fit_strokes`,
:func:`~course_lib.control.sketches.rasterise`), so a drawing of any size, anywhere on the pad,
comes out centred and MNIST-sized. With ``action`` the pad has a button that calls
``action(pad)`` and shows the figure it returns below the pad.

Where ipycanvas is missing, or in a headless run (nbval) where nobody draws, the pad is empty and
the notebook uses a built-in sketch instead; :meth:`DrawingPad.image_or` says which it used.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..validation import check_int
from .sketches import fit_strokes, rasterise

PAD_SIZE = 280  # pixels on screen: ten per pixel of the 28×28 digit


class DrawingPad:
    """A canvas to draw a digit on: white strokes on black, ``size``×``size`` pixels on screen.

    ``strokes`` holds what was drawn (a list of polylines in canvas pixels); **Clear** empties it.
    ``action(pad) -> Figure`` (optional) runs when the learner presses the button labelled
    ``action_label``; its figure replaces the previous one below the pad.
    """

    def __init__(self, size: int = PAD_SIZE, line_width: float | None = None,
                 action: Callable | None = None, action_label: str = "Turn into a digit"):
        import ipywidgets

        self.size = check_int("size", size, 56, 1000)
        self.line_width = self.size / 14 if line_width is None else float(line_width)
        self.strokes: list[list[tuple[float, float]]] = []
        self._drawing = False
        self.output = ipywidgets.Output()
        self.status = ipywidgets.Label("Draw a digit with the mouse, large, in the middle of the pad.")
        try:
            from ipycanvas import Canvas
        except ImportError:
            self.canvas = None
            self.status.value = ("The drawing pad needs ipycanvas (pip install ipycanvas); the notebook uses a "
                                 "built-in sketch instead.")
            self.widget = ipywidgets.VBox([self.status])
            return
        self.canvas = Canvas(width=self.size, height=self.size, layout=ipywidgets.Layout(
            width=f"{self.size}px", height=f"{self.size}px", border="1px solid #888"))
        self._blank()
        self.canvas.on_mouse_down(self._start)
        self.canvas.on_mouse_move(self._extend)
        self.canvas.on_mouse_up(self._finish)
        self.canvas.on_mouse_out(self._finish)
        self.canvas.on_touch_start(lambda touches: self._start(*touches[0]))
        self.canvas.on_touch_move(lambda touches: self._extend(*touches[0]))
        self.canvas.on_touch_end(lambda touches: self._finish())
        clear = ipywidgets.Button(description="Clear", icon="eraser")
        clear.on_click(lambda _button: self.clear())
        buttons = [clear]
        if action is not None:
            run = ipywidgets.Button(description=action_label, button_style="primary")
            run.on_click(lambda _button: self._run(action))
            buttons.append(run)
        self.widget = ipywidgets.VBox([self.canvas, ipywidgets.HBox(buttons), self.status, self.output])

    # ------------------------------------------------------------------ drawing
    def _blank(self) -> None:
        self.canvas.fill_style = "black"
        self.canvas.fill_rect(0, 0, self.size, self.size)
        self.canvas.stroke_style = "white"
        self.canvas.fill_style = "white"
        self.canvas.line_width = self.line_width
        self.canvas.line_cap = "round"
        self.canvas.line_join = "round"

    def _start(self, x: float, y: float) -> None:
        self._drawing = True
        self.strokes.append([(float(x), float(y))])
        self.canvas.fill_circle(x, y, self.line_width / 2)

    def _extend(self, x: float, y: float) -> None:
        if not self._drawing:
            return
        x0, y0 = self.strokes[-1][-1]
        self.strokes[-1].append((float(x), float(y)))
        self.canvas.stroke_line(x0, y0, x, y)

    def _finish(self, *_where) -> None:
        if self._drawing:
            self._drawing = False
            points = sum(len(s) for s in self.strokes)
            self.status.value = f"{len(self.strokes)} stroke(s), {points} points."

    def clear(self) -> None:
        """Wipe the pad and forget the strokes."""
        self.strokes = []
        self._drawing = False
        if self.canvas is not None:
            self._blank()
        self.status.value = "Cleared: draw a digit."

    def load(self, strokes) -> None:
        """Draw ``strokes`` (polylines in canvas pixels) as if the learner had drawn them."""
        self.clear()
        for stroke in strokes:
            (x, y), *rest = stroke
            self._start(x, y)
            for x, y in rest:
                self._extend(x, y)
            self._finish()

    def _run(self, action: Callable) -> None:
        from IPython.display import display

        with self.output:
            self.output.clear_output(wait=True)
            if not self.strokes:
                print("The pad is empty: draw a digit first.")
                return
            display(action(self))

    # ------------------------------------------------------------------ the digit
    def image(self) -> torch.Tensor:
        """The drawing as a digit (1, 1, 28, 28) in [−1, 1]: fitted into MNIST's 20×20 box and centred."""
        if not self.strokes:
            raise ValueError("the pad is empty: draw a digit on it first (or use a built-in sketch)")
        return rasterise(fit_strokes(self.strokes))

    def image_or(self, fallback: torch.Tensor) -> tuple[torch.Tensor, str]:
        """``(image, source)``: the drawing if there is one, else ``fallback`` (a built-in sketch)."""
        if self.strokes:
            return self.image(), f"your drawing ({len(self.strokes)} stroke(s))"
        return fallback, "a built-in sketch (nothing drawn on the pad)"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
