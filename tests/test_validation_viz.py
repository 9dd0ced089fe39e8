import math

import pytest
import torch
from matplotlib.figure import Figure

from course_lib.checks import CheckResult, call_learner, checker
from course_lib.validation import check_choice, check_float, check_images, check_int, check_tensor
from course_lib.viz import image_grid, new_figure, save_images, show_image_row, show_images, to_unit
from course_lib.widgets import interact_figure


def test_check_int_messages():
    assert check_int("n", 3, 1) == 3
    with pytest.raises(ValueError, match=r"^t must be an integer in \[0, 999\] \(0-indexed\), got 1000$"):
        check_int("t", 1000, 0, 999, hint="0-indexed")
    with pytest.raises(TypeError, match="n must be an integer >= 1, got 2.5"):
        check_int("n", 2.5, 1)
    with pytest.raises(TypeError):
        check_int("n", True)
    assert check_int("n", torch.tensor(4)) == 4


def test_check_float_messages():
    assert check_float("lr", 1e-3, 0, low_open=True) == 1e-3
    with pytest.raises(ValueError, match=r"beta must be a finite number in \(0, 1\), got 1.0"):
        check_float("beta", 1.0, 0, 1, low_open=True, high_open=True)
    with pytest.raises(ValueError, match="finite"):
        check_float("x", math.nan)
    with pytest.raises(TypeError, match="x must be a real number"):
        check_float("x", "1")


def test_check_choice_and_tensors():
    assert check_choice("kind", "a", ["a", "b"]) == "a"
    with pytest.raises(ValueError, match="kind must be one of 'a', 'b'; got 'c'"):
        check_choice("kind", "c", ["a", "b"])
    with pytest.raises(ValueError, match=r"x0 must have 4 dimensions, got shape \(2, 3\)"):
        check_images("x0", torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"x0 must have 1 channel\(s\)"):
        check_images("x0", torch.zeros(2, 3, 4, 4), channels=1)
    with pytest.raises(ValueError, match="x contains NaN"):
        check_tensor("x", torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match=r"z must have shape \(\*, 100\), got \(4, 10\)"):
        check_tensor("z", torch.zeros(4, 10), shape=(None, 100))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        check_tensor("z", [1, 2])


def test_images_are_shown_in_unit_range():
    x = torch.linspace(-2, 2, 2 * 1 * 4 * 4).reshape(2, 1, 4, 4)
    u = to_unit(x)
    assert float(u.min()) == 0.0 and float(u.max()) == 1.0
    grid = image_grid(x, nrow=2, padding=0)
    assert grid.shape == (3, 4, 8)
    assert torch.allclose(grid[0, :, :4], u[0, 0])
    assert isinstance(show_images(x, nrow=2, title="t"), Figure)
    assert isinstance(show_image_row([x[0], x[1:2]], titles=["a", "b"]), Figure)
    with pytest.raises(ValueError, match="titles must have one entry per image"):
        show_image_row([x[0]], titles=["a", "b"])
    fig, ax = new_figure()
    assert isinstance(fig, Figure)


def test_save_images(tmp_path):
    from PIL import Image

    save_images(torch.zeros(4, 1, 8, 8), tmp_path / "g.png", nrow=2)
    img = Image.open(tmp_path / "g.png")
    assert img.size == (2 + 2 * 10, 2 + 2 * 10)


def test_interact_figure_draws_once_headless(monkeypatch):
    shown = []
    monkeypatch.setattr("course_lib.widgets.show_figure", lambda fig: shown.append(fig))

    def plot(a=1.0):
        fig, ax = new_figure()
        ax.plot([0, a])
        return fig

    assert interact_figure(plot, a=(0.0, 2.0, 0.5)) is None  # nothing for the cell to echo as Out[…]
    assert len(shown) == 1 and isinstance(shown[0], Figure)
    with pytest.raises(TypeError, match="plot_fn must be callable"):
        interact_figure(42)


def test_controls_start_at_the_plotting_functions_defaults(monkeypatch):
    """The first picture under the sliders is the static one above them (issue 13)."""
    import ipywidgets

    drawn = []
    monkeypatch.setattr("course_lib.widgets.show_figure", lambda fig: None)

    def plot(mean=-1.0, spread=0.6, kind="b"):
        drawn.append((mean, spread, kind))
        return Figure()

    spread = ipywidgets.FloatSlider(value=1.5, min=0.1, max=3.0)
    interact_figure(plot, mean=(-3.0, 3.0, 0.1), spread=spread, kind=["a", "b"])
    assert drawn == [(-1.0, 0.6, "b")]
    assert spread.value == 0.6


def test_check_result_and_learner_errors():
    assert bool(CheckResult.ok("fine")) and repr(CheckResult.ok("fine")) == "✅ fine"
    assert not CheckResult.fail("bad") and repr(CheckResult.fail("bad")) == "❌ bad"

    @checker
    def check_double(fn):
        value = call_learner(fn, 2)
        return CheckResult.ok("right") if value == 4 else CheckResult.fail(f"expected 4, got {value}")

    def todo(x):
        raise NotImplementedError

    assert check_double(lambda x: 2 * x).passed
    assert "expected 4, got 3" in check_double(lambda x: x + 1).message
    assert "not written yet" in check_double(todo).message
    assert "raised ZeroDivisionError" in check_double(lambda x: 1 / 0).message


def test_figures_display_as_png_in_ipython():
    from IPython.core.interactiveshell import InteractiveShell

    from course_lib import viz

    shell = InteractiveShell.instance()
    viz._register_notebook_display()
    fig, ax = new_figure()
    ax.plot([0, 1])
    data, _ = shell.display_formatter.format(fig)
    assert "image/png" in data
