"""The drawing pad in a real JupyterLab 4, in Debian's headless Chromium: strokes drawn with the mouse
reach the kernel and become a digit.

The test starts JupyterLab on a free local port with a small notebook holding notebook 09's pad (a
``DrawingPad`` whose button runs SDEdit on the shipped model), runs it, draws a 7 on the canvas
with the mouse, presses **Turn into a digit** and waits for the kernel's answer: the number of
strokes and points it received and what the classifier reads in the sketch. Screenshots are kept
in ``CONTROL_SCREENS_DIR`` when it is set (else in pytest's temporary folder).

Skipped with a one-line reason without Chromium, playwright, JupyterLab or ipycanvas; with
``COURSE_REQUIRE_BROWSER=1`` (CI) a missing tool fails instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_browser import missing_tools, notebook_page, require, running_lab

PAD_CELL = """
import torch
from course_lib.classifier import classify
from course_lib.control import sdedit
from course_lib.control.figures import plot_sketch_edits
from course_lib.control.pad import DrawingPad
from course_lib.registry import load_pretrained

model = load_pretrained("ddpm_mnist", device="cpu")


def turn_into_digits(pad):
    sketch = pad.image()
    edits = {s: sdedit(model, sketch.repeat(2, 1, 1, 1), s, nfe=10, seed=0, device="cpu", progress=False)
             for s in (0.4, 0.6)}
    print(f"kernel got {len(pad.strokes)} stroke(s), {sum(len(s) for s in pad.strokes)} points; "
          f"sketch read as {classify(sketch)[0].argmax(1).item()}; edits read as "
          f"{[classify(e)[0].argmax(1).tolist() for e in edits.values()]}")
    return plot_sketch_edits(sketch, edits, title="your sketch, edited at strengths 0.4 and 0.6")


pad = DrawingPad(action=turn_into_digits)
pad
"""


@pytest.fixture
def lab(tmp_path):
    require(missing_tools((("playwright", "pip install -e '.[dev]'"), ("jupyterlab", "pip install -e '.[dev]'"),
                           ("ipycanvas", "pip install 'ipycanvas>=0.13'"))))
    with running_lab(tmp_path, "pad.ipynb", PAD_CELL) as url:
        yield url


@pytest.mark.browser
@pytest.mark.slow
def test_a_digit_drawn_with_the_mouse_in_jupyterlab_becomes_a_digit(lab, tmp_path):
    shots = Path(os.environ.get("CONTROL_SCREENS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with notebook_page(lab) as (page, errors):
        canvas = page.locator(".jp-OutputArea canvas").first
        canvas.wait_for(state="visible", timeout=120_000)
        page.wait_for_timeout(1000)
        box = canvas.bounding_box()
        assert box and box["width"] >= 200, box

        def at(u, v):
            return box["x"] + u * box["width"], box["y"] + v * box["height"]

        # a 7: the top bar, then the long diagonal, one stroke, drawn as a person would
        page.mouse.move(*at(0.25, 0.2))
        page.mouse.down()
        for target in ((0.75, 0.2), (0.45, 0.85)):
            page.mouse.move(*at(*target), steps=12)
        page.mouse.up()
        page.get_by_text("1 stroke(s)").wait_for(timeout=30_000)   # the kernel has the stroke
        page.screenshot(path=str(shots / "pad-drawn.png"))
        page.get_by_role("button", name="Turn into a digit").click()
        answer = page.get_by_text("kernel got 1 stroke(s)")
        answer.wait_for(timeout=180_000)
        figure = page.locator(".jp-OutputArea-output img").last
        figure.wait_for(state="visible", timeout=60_000)
        figure.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "pad-digit.png"))
        text = answer.inner_text()
    points = int(text.split("stroke(s), ")[1].split(" points")[0])
    assert points >= 10, text                 # the moves arrived as many points, not just the corners
    assert "sketch read as 7" in text, text
    assert not errors, errors
