"""The Colab setup cell (simulated inside a fake Colab) and the notebooks' hygiene."""

import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from course_lib.colab import REPO_URL, SETUP_CELL, colab_badge

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import notebooks as nbtool  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    exec(SETUP_CELL, {})
    assert calls == []


def test_setup_cell_installs_the_course_and_enables_widgets_inside_colab(monkeypatch):
    enabled = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    colab.output = output
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append((args, kw)))
    exec(SETUP_CELL, {})
    assert len(calls) == 1
    args, kwargs = calls[0]
    assert args[:4] == [sys.executable, "-m", "pip", "install"]
    assert f"git+{REPO_URL}@main" in args
    assert kwargs.get("check") is True
    assert enabled == [True]


def test_the_repository_address_lives_in_one_place():
    assert REPO_URL in SETUP_CELL
    assert "colab.research.google.com/github/" in colab_badge("00_welcome.ipynb")
    for path in [*NOTEBOOKS, ROOT / "README.md"]:
        text = path.read_text()
        for line in text.splitlines():
            if "github.com/" in line and "colab" not in line and "github.com/" + REPO_URL.split("github.com/")[1] not in line:
                pytest.fail(f"{path.name} mentions another repository address: {line.strip()[:100]}")


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_synced_and_clean(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and code[0].source == SETUP_CELL, "first code cell must be the Colab setup cell"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if nbtool.is_checked(cell):
                assert cell.outputs, f"cell {i} is marked NBVAL_CHECK_OUTPUT but keeps no output to check"
            else:
                assert cell.execution_count is None, f"cell {i} keeps an execution count"
                assert not cell.outputs, f"cell {i} keeps outputs that nbval does not check"
    src = "\n".join(c.source for c in code)
    assert "os.environ" not in src or "COURSE_BUDGET" not in src, "read the budget through course_lib.budget"


def test_readme_lists_every_notebook_with_a_colab_badge():
    assert not [p for p in nbtool.problems() if "README" in p]
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert colab_badge(path.name) in readme


def _one_cell_notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)


def test_refresh_executes_a_notebook_and_keeps_only_checked_outputs(tmp_path):
    path = tmp_path / "ok.ipynb"
    _one_cell_notebook(path, "# NBVAL_CHECK_OUTPUT\nprint(6 * 7)")
    nbtool.refresh_one(path, limit=120, attempts=1)
    cell = nbformat.read(path, as_version=4).cells[0]
    assert cell.outputs[0]["text"] == "42\n" and cell.execution_count == 1


def test_refresh_stops_a_hung_notebook_and_its_kernel_and_leaves_the_file_alone(tmp_path):
    import os
    import time

    pids = tmp_path / "kernel_pids"
    path = tmp_path / "hang.ipynb"
    _one_cell_notebook(path, f"import os\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\nwhile True:\n    pass")
    before = path.read_bytes()
    with pytest.raises(SystemExit, match="could not refresh hang.ipynb in 2 attempts"):
        nbtool.refresh_one(path, limit=15, attempts=2)
    assert path.read_bytes() == before
    started = [int(line) for line in pids.read_text().split()]
    assert len(started) == 2  # one kernel per attempt, each stuck in the cell

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{pid}/stat") as stat:  # a zombie has finished
            return stat.read().split(")")[-1].split()[0] != "Z"

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in started), "a hung kernel was left running"
