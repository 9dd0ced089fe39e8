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

CHROMIUM = os.environ.get("SLIDES_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]

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


def _missing() -> str | None:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    for module, fix in (("playwright", "pip install -e '.[dev]'"), ("jupyterlab", "pip install -e '.[dev]'"),
                        ("ipycanvas", "pip install 'ipycanvas>=0.13'")):
        if importlib.util.find_spec(module) is None:
            return f"the {module} package is not installed ({fix})"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(path: Path) -> None:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": PAD_CELL.strip()}
    path.write_text(json.dumps({"cells": [cell], "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def lab(tmp_path):
    reason = _missing()
    if reason:
        if os.environ.get("COURSE_REQUIRE_BROWSER", "").strip() not in ("", "0"):
            pytest.fail(f"COURSE_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    _notebook(tmp_path / "pad.ipynb")
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
        yield f"{base}/lab/tree/pad.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.browser
@pytest.mark.slow
def test_a_digit_drawn_with_the_mouse_in_jupyterlab_becomes_a_digit(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("CONTROL_SCREENS_DIR") or tmp_path)
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
        browser.close()
    points = int(text.split("stroke(s), ")[1].split(" points")[0])
    assert points >= 10, text                 # the moves arrived as many points, not just the corners
    assert "sketch read as 7" in text, text
    assert not errors, errors
