"""Every notebook has the shape CONVENTIONS asks for (issue 13): learning objectives at the top, at
least one exercise with a self-check (the welcome notebook excepted), a summary at the end, and
the course's kernel named in its metadata."""

import re
from pathlib import Path

import nbformat
import pytest

from course_lib.colab import KERNEL_DISPLAY_NAME, KERNEL_NAME

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def nb(request):
    return request.param.stem, nbformat.read(request.param, as_version=4)


def test_learning_objectives_at_the_top(nb):
    name, book = nb
    first = next(c for c in book.cells if c.cell_type == "markdown")
    assert first.source.startswith(f"# {name[:2]} · "), f"{name}: the title must start with '# {name[:2]} · '"
    assert "learning objectives" in first.source.lower(), f"{name}: no learning objectives in the first cell"


def test_an_exercise_with_a_self_check(nb):
    name, book = nb
    if name.startswith("00"):
        pytest.skip("the welcome notebook has no exercise")
    code = "\n".join(c.source for c in book.cells if c.cell_type == "code")
    assert re.search(r"from course_lib\.checks[\w.]* import \(?[^)]*?\bcheck_", code), f"{name}: imports no self-check"
    stubs = [c for c in book.cells if c.cell_type == "code" and "raise NotImplementedError" in c.source]
    assert stubs, f"{name}: no exercise stub for the learner to fill in"
    for stub in stubs:
        fn = re.search(r"def (\w+)\(", stub.source).group(1)
        assert re.search(rf"check_\w+\((.*\b)?{fn}\b", code), f"{name}: the exercise {fn} is never checked"


def test_a_summary_at_the_end(nb):
    name, book = nb
    headings = [c.source.splitlines()[0] for c in book.cells if c.cell_type == "markdown" and c.source]
    assert any(h.startswith("## Summary") for h in headings[-3:]), f"{name}: no '## Summary' near the end"


def test_the_course_kernel_is_named(nb):
    name, book = nb
    spec = book.metadata.get("kernelspec", {})
    assert spec.get("name") == KERNEL_NAME and spec.get("display_name") == KERNEL_DISPLAY_NAME, name


def test_make_lab_registers_that_kernel():
    makefile = (ROOT / "Makefile").read_text()
    assert f"--name {KERNEL_NAME} --display-name \"{KERNEL_DISPLAY_NAME}\"" in makefile
