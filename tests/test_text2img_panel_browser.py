"""Notebook 08's prompt panel in a real JupyterLab 4, in Debian's headless Chromium: a prompt typed
into the text box, the button pressed, the grid redrawn for the new prompt (issue 15).

The test starts JupyterLab on a free local port with a small notebook holding notebook 08's panel
(``interact_figure(plot_prompt_panel, manual="Generate", …)`` on the shipped ``text2img``), runs it,
types "a bold seven" and the negative prompt "right-leaning", sets the steps, presses the button
and waits for the kernel's answer (a line naming the prompt it drew and what the classifier read)
and for the new picture. Screenshots are kept in ``TEXT2IMG_SCREENS_DIR`` when it is set (else in
pytest's temporary folder).

Skipped with a one-line reason without Chromium, playwright, JupyterLab or the checkpoint; with
``COURSE_REQUIRE_BROWSER=1`` (CI) a missing tool fails instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lab_browser import missing_tools, notebook_page, require, running_lab

from course_lib.registry import has_shipped

PANEL_CELL = """
import ipywidgets as widgets
from course_lib.classifier import classify
from course_lib.registry import load_pretrained
from course_lib.text2img import generate
from course_lib.text2img.figures import plot_prompt_panel
from course_lib.widgets import interact_figure

pipe = load_pretrained("text2img", device="cpu")


def panel(prompt="a seven", negative_prompt="", guidance_scale=3.0, steps=50, seed=0):
    images = generate(pipe, prompt, 8, negative_prompt=negative_prompt, guidance_scale=guidance_scale, nfe=steps,
                      seed=seed, progress=False)
    print(f"kernel drew {prompt!r} without {negative_prompt!r} at w={guidance_scale:g}, {steps} steps: read as "
          f"{classify(images)[0].argmax(1).tolist()}")
    return plot_prompt_panel(prompt, negative_prompt, guidance_scale, steps, seed, pipe=pipe, n=8)


interact_figure(
    panel, manual="Generate",
    prompt=widgets.Text(description="prompt", continuous_update=False),
    negative_prompt=widgets.Text(description="negative", continuous_update=False),
    guidance_scale=widgets.FloatSlider(min=0.0, max=10.0, step=0.5, description="guidance w"),
    steps=widgets.IntSlider(min=1, max=100, description="steps"),
    seed=widgets.IntSlider(min=0, max=99, description="seed"),
)
"""


@pytest.fixture
def lab(tmp_path):
    reason = missing_tools((("playwright", "pip install -e '.[dev]'"), ("jupyterlab", "pip install -e '.[dev]'"),
                            ("ipywidgets", "pip install -e '.[dev]'")))
    if reason is None and not has_shipped("text2img"):
        reason = "the text2img checkpoint is not in this copy (python scripts/train_text2img.py)"
    require(reason)
    with running_lab(tmp_path, "panel.ipynb", PANEL_CELL) as url:
        yield url


@pytest.mark.browser
@pytest.mark.slow
def test_a_typed_prompt_is_drawn_when_the_button_is_pressed(lab, tmp_path):
    shots = Path(os.environ.get("TEXT2IMG_SCREENS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with notebook_page(lab) as (page, errors):
        prompt = page.locator(".jp-OutputArea .widget-text input").first
        prompt.wait_for(state="visible", timeout=180_000)
        button = page.locator(".jp-OutputArea button.jupyter-button").first
        button.wait_for(state="visible", timeout=60_000)
        label = button.inner_text().strip()
        page.screenshot(path=str(shots / "panel-ready.png"))

        prompt.fill("a bold seven")
        prompt.press("Enter")
        negative = page.locator(".jp-OutputArea .widget-text input").nth(1)
        negative.fill("right-leaning")
        negative.press("Enter")
        steps = page.locator(".jp-OutputArea .widget-slider").filter(has_text="steps").locator(".widget-readout")
        steps.click()                          # the slider's readout is editable: type a value
        steps.press("Control+a")
        steps.type("20")
        steps.press("Enter")
        page.wait_for_timeout(500)
        button.click()
        # Enter in a text box draws too (ipywidgets' manual mode): wait for the button's run, the one with 20 steps
        answer = page.get_by_text("kernel drew 'a bold seven' without 'right-leaning' at w=3, 20 steps")
        answer.wait_for(timeout=240_000)
        figure = page.locator(".jp-OutputArea-output img").last
        figure.wait_for(state="visible", timeout=60_000)
        figure.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "panel-drawn.png"))
        text = answer.inner_text()
        size = figure.bounding_box()

        prompt.fill("a thin two")             # once more: the grid is redrawn for the new prompt
        prompt.press("Enter")
        button.click()
        page.get_by_text("kernel drew 'a thin two' without 'right-leaning' at w=3, 20 steps").wait_for(timeout=240_000)
        page.wait_for_timeout(3000)           # Enter and the button each drew once: let the second finish
        images = page.locator(".jp-OutputArea-output img")
        page.screenshot(path=str(shots / "panel-redrawn.png"))
        count = images.count()
    assert label == "Generate", label
    assert "w=3, 20 steps" in text, text
    read = json.loads(text.split("read as ")[1])
    assert len(read) == 8 and sum(d == 7 for d in read) >= 6, text   # the shipped model draws sevens
    assert size and size["width"] > 300, size
    assert count == 1, f"the output holds {count} pictures: the grid must be replaced, not appended"
    assert not errors, errors
