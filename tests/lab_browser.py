"""JupyterLab in Debian's headless Chromium, for the tests that drive a notebook's controls as a
learner does (the drawing pad of notebook 09, the prompt panel of notebook 08).

``running_lab`` writes a one-cell notebook, starts JupyterLab on a free local port and yields the
notebook's URL; ``notebook_page`` opens it in Chromium, waits for the kernel and runs every cell.
``require`` skips with a one-line reason when a tool is missing, or fails under
``COURSE_REQUIRE_BROWSER=1`` (CI), where the browser tests must run.
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
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SLIDES_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]


def missing_tools(packages=(("playwright", "pip install -e '.[dev]'"), ("jupyterlab", "pip install -e '.[dev]'"))):
    """Why the browser test cannot run here (Chromium or a ``(module, how to install)`` missing), or None."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    for module, fix in packages:
        if importlib.util.find_spec(module) is None:
            return f"the {module} package is not installed ({fix})"
    return None


def require(reason: str | None) -> None:
    """Skip with ``reason`` (fail instead when ``COURSE_REQUIRE_BROWSER`` is set); nothing if None."""
    if reason:
        if os.environ.get("COURSE_REQUIRE_BROWSER", "").strip() not in ("", "0"):
            pytest.fail(f"COURSE_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_lab(folder: Path, name: str, source: str):
    """JupyterLab serving ``folder`` with a notebook ``name`` of one code cell ``source``; yields its URL."""
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source.strip()}
    (folder / name).write_text(json.dumps({"cells": [cell], "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "COURSE_BUDGET": "smoke", "COURSE_DEVICE": "cpu", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={folder}", "--allow-root",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False"],
        stdout=subprocess.DEVNULL, stderr=(folder / "lab.log").open("w"), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("JupyterLab did not start: " + (folder / "lab.log").read_text()[-2000:])
                time.sleep(0.5)
        yield f"{base}/lab/tree/{name}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@contextmanager
def notebook_page(url: str):
    """Chromium on ``url`` with every cell run; yields ``(page, errors)`` (the page's JavaScript errors)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, wait_until="domcontentloaded", timeout=90_000)
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')",
                                   timeout=90_000)
            page.wait_for_function(
                "document.querySelector('.jp-Notebook-ExecutionIndicator, .jp-KernelStatus') !== null", timeout=90_000)
            page.wait_for_timeout(2000)           # let the kernel connect
            page.evaluate("document.querySelectorAll('.jp-toast-container, .Toastify').forEach(e => e.remove())")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            yield page, errors
        finally:
            browser.close()
