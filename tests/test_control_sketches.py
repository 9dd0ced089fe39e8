"""Sketches and the drawing pad: strokes rasterised like MNIST, the built-in sketches read as their
digits, drawings of another size or range converted by the stated rule or refused by name."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from course_lib.classifier import classify
from course_lib.control import builtin_sketches, digit_sketch, prepare_sketch
from course_lib.control.sketches import fit_strokes, rasterise


def test_a_line_is_lit_on_the_stroke_and_dark_elsewhere():
    image = rasterise([[(2.0, 14.0), (26.0, 14.0)]], width=2.0)[0, 0]
    assert image.shape == (28, 28)
    assert float(image[13, 14]) == 1.0 and float(image[14, 14]) == 1.0   # centres 0.5 px from the line
    assert float(image[11, 14]) == -1.0 and float(image[14, 0]) == -1.0  # 2.5 px off it, and past its end
    assert float(image.min()) == -1.0 and float(image.max()) == 1.0


def test_a_single_point_is_a_dot():
    image = rasterise([[(14.0, 14.0)]])[0, 0]
    assert float(image[13, 13]) == 1.0 and int((image > 0).sum()) < 20


def test_strokes_are_fitted_into_mnists_20_pixel_box_and_centred():
    fitted = np.concatenate(fit_strokes([[(0, 0), (100, 50)], [(30, 200)]]))
    low, high = fitted.min(0), fitted.max(0)
    assert float((high - low).max()) == pytest.approx(20.0)
    np.testing.assert_allclose((low + high) / 2, [14.0, 14.0])


def test_the_builtin_sketches_are_reproducible_digits_that_the_classifier_reads():
    images, labels = builtin_sketches(variants=3)
    assert images.shape == (30, 1, 28, 28) and labels.tolist() == list(range(10)) * 3
    assert float(images.min()) == -1.0 and float(images.max()) == 1.0
    assert torch.equal(images, builtin_sketches(variants=3)[0])
    assert not torch.equal(images[:10], images[10:20])                   # each variant wobbles differently
    probs, _ = classify(images)
    assert torch.equal(probs.argmax(1), labels)
    assert torch.equal(digit_sketch(4, seed=None), digit_sketch(4, seed=None))


@pytest.mark.parametrize("make", [
    lambda img: ((img + 1) * 127.5).round().to(torch.uint8)[0, 0],          # uint8 (H, W)
    lambda img: ((img + 1) / 2)[0],                                           # [0, 1] (1, H, W)
    lambda img: ((img + 1) * 127.5)[0, 0].numpy(),                            # float 0–255, NumPy
    lambda img: img.repeat(1, 3, 1, 1),                                       # RGB in [−1, 1]
])
def test_a_drawing_in_another_range_comes_back_in_the_models_range(make):
    img = digit_sketch(2)
    out = prepare_sketch(make(img))
    assert out.shape == (1, 1, 28, 28) and out.dtype == torch.float32
    torch.testing.assert_close(out, img, atol=1 / 127.5, rtol=0)


def test_a_larger_drawing_is_resized_to_28_pixels():
    big = torch.nn.functional.interpolate(digit_sketch(5), size=(112, 112), mode="nearest")
    out = prepare_sketch(big)
    assert out.shape == (1, 1, 28, 28)
    assert float((out - digit_sketch(5)).abs().mean()) < 0.08   # only the soft edges blur a little
    assert classify(out)[0].argmax(1).item() == 5


@pytest.mark.parametrize("bad,message", [
    (torch.zeros(28, 20), r"sketch must be a square drawing .* got shape \(28, 20\)"),
    (torch.zeros(4, 4), r"H = W >= 8, got shape \(4, 4\)"),
    (torch.zeros(1, 2, 28, 28), r"C = 1 or 3"),
    (torch.full((28, 28), 300.0), r"sketch must be in \[0, 255\], \[0, 1\] or \[-1, 1\]; got values from 300 to 300"),
    (torch.full((28, 28), -3.0), r"got values from -3 to -3"),
    (torch.full((28, 28), float("nan")), r"sketch contains NaN"),
    (torch.ones(28, 28), r"dark strokes on a light background .* pass 1 - image"),
    ([[0, 1]], r"sketch must be a tensor or a NumPy array"),
])
def test_a_drawing_that_cannot_be_converted_is_refused_naming_it(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        prepare_sketch(bad)


# ----------------------------------------------------------------------------- the drawing pad


def test_the_pad_records_strokes_and_turns_them_into_a_digit():
    pytest.importorskip("ipycanvas")
    from course_lib.control.pad import DrawingPad

    pad = DrawingPad(action=lambda p: None)
    fallback = digit_sketch(1)
    assert pad.image_or(fallback)[0] is fallback
    with pytest.raises(ValueError, match="the pad is empty"):
        pad.image()
    strokes = [[(80, 60), (200, 60), (110, 250)]]                         # a 7, drawn in canvas pixels
    pad.load(strokes)
    assert pad.strokes == [[(80.0, 60.0), (200.0, 60.0), (110.0, 250.0)]]
    image, source = pad.image_or(fallback)
    assert torch.equal(image, rasterise(fit_strokes(strokes))) and "your drawing" in source
    assert classify(image)[0].argmax(1).item() == 7
    pad._extend(5, 5)                                                     # a move without the button down
    assert len(pad.strokes[0]) == 3
    pad.clear()
    assert pad.strokes == []


def test_without_ipycanvas_the_pad_says_so_and_the_fallback_is_used(monkeypatch):
    from course_lib.control.pad import DrawingPad

    monkeypatch.setitem(sys.modules, "ipycanvas", None)                   # import fails
    pad = DrawingPad()
    assert pad.canvas is None and "needs ipycanvas" in pad.status.value
    fallback = digit_sketch(3)
    assert pad.image_or(fallback) == (fallback, "a built-in sketch (nothing drawn on the pad)")
