"""Notebook 00's helpers: the environment report, the landscape (true to the notebooks), the glossary."""

import json
from pathlib import Path

import pytest

from course_lib import welcome

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_environment_report_rows_and_versions(capsys):
    rows = welcome.environment_report()
    names = [what for what, _, _ in rows]
    assert names[:5] == ["python", "torch", "torchvision", "ipywidgets", "matplotlib"] and "budget" in names
    assert all(ok for _, _, ok in rows)  # the test machine has what the course needs
    assert welcome.print_environment() is True
    assert "ok  torch" in capsys.readouterr().out
    assert welcome._version_ok("2.14.1+cu128", "2.2") and not welcome._version_ok("7.6.5", "7.7")


def _notebook_text(number: str) -> str:
    (path,) = NOTEBOOKS.glob(f"{number}_*.ipynb")
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


@pytest.mark.parametrize("row", welcome.LANDSCAPE, ids=[r[2] for r in welcome.LANDSCAPE])
def test_every_landscape_pointer_leads_to_a_notebook_that_teaches_it(row):
    """Notebook 00 used to point StyleGAN to 02 and Sohl-Dickstein to 03, where neither appears (issue 13)."""
    _, family, milestone, notebooks, keyword = row
    assert family in welcome.FAMILY_COLORS
    for number in notebooks:
        word = keyword[number] if isinstance(keyword, dict) else keyword
        assert word.lower() in _notebook_text(number).lower(), f"notebook {number} never mentions {word}"


def test_landscape_figure_labels_every_milestone_with_where_it_is_taught():
    fig = welcome.plot_landscape()
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert len(labels) == len(welcome.LANDSCAPE)
    for (_, _, milestone, notebooks, _), label in zip(welcome.LANDSCAPE, labels):
        assert label == f"{milestone}\n[{welcome.where_taught(notebooks)}]"
    assert welcome.where_taught(()) == "map only" and welcome.where_taught(("01", "02")) == "notebook 01, 02"


def test_toy_datasets_figure_draws_the_three_sets():
    fig = welcome.plot_toy_datasets(n=300, seed=1)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["ring of 8 Gaussians", "two moons", "swiss roll"]
    for ax in fig.axes:
        assert ax.collections[0].get_offsets().shape == (300, 2)


def test_glossary_is_a_table_with_chinese_names():
    table = welcome.glossary_markdown().splitlines()
    assert table[0] == "| Term | 中文 | Meaning |" and len(table) == len(welcome.GLOSSARY) + 2
    assert any("变分自编码器" in line for line in table)
