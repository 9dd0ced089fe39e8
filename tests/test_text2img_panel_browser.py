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

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from course_lib.registry import has_shipped

CHROMIUM = os.environ.get("SLIDES_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]

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


def _missing() -> str | None:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    for module in ("playwright", "jupyterlab", "ipywidgets"):
        if importlib.util.find_spec(module) is None:
            return f"the {module} package is not installed (pip install -e '.[dev]')"
    if not has_shipped("text2img"):
        return "the text2img checkpoint is not in this copy (python scripts/train_text2img.py)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    reason = _missing()
    if reason:
        if os.environ.get("COURSE_REQUIRE_BROWSER", "").strip() not in ("", "0"):
            pytest.fail(f"COURSE_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": PANEL_CELL.strip()}
    (tmp_path / "panel.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "COURSE_BUDGET": "smoke", "COURSE_DEVICE": "cpu", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={tmp_path}", "--allow-root",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "lab.log").open("w"), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-2000:])
                time.sleep(0.5)
        yield f"{base}/lab/tree/panel.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.browser
@pytest.mark.slow
def test_a_typed_prompt_is_drawn_when_the_button_is_pressed(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("TEXT2IMG_SCREENS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(lab, wait_until="domcontentloaded", timeout=90_000)
        page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')",
                               timeout=90_000)
        page.wait_for_function("document.querySelector('.jp-Notebook-ExecutionIndicator, .jp-KernelStatus') !== null",
                               timeout=90_000)
        page.wait_for_timeout(2000)           # let the kernel connect
        page.evaluate("document.querySelectorAll('.jp-toast-container, .Toastify').forEach(e => e.remove())")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
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
        browser.close()
    assert label == "Generate", label
    assert "w=3, 20 steps" in text, text
    read = json.loads(text.split("read as ")[1])
    assert len(read) == 8 and sum(d == 7 for d in read) >= 6, text   # the shipped model draws sevens
    assert size and size["width"] > 300, size
    assert count == 1, f"the output holds {count} pictures: the grid must be replaced, not appended"
    assert not errors, errors
