"""The figures of notebook 06 draw exactly the data they are given (checked on the plotted arrays)."""

from __future__ import annotations

import numpy as np
import torch

from course_lib.data import load_image
from course_lib.style import gram_matrix, style_layer_loss
from course_lib.style.plots import (
    plot_feature_maps,
    plot_gram_matrices,
    plot_images,
    plot_layer_explorer,
    plot_losses,
    plot_results,
    plot_snapshots,
)
from course_lib.train_loop import TrainRecord
from course_lib.viz import to_unit


def shown(image: torch.Tensor) -> np.ndarray:
    """What imshow should receive for a (1, 3, H, W) image in [-1, 1]."""
    return to_unit(image[0]).permute(1, 2, 0).numpy()


def image_data(ax) -> np.ndarray:
    return np.asarray(ax.get_images()[0].get_array())


def ramp_image(value: float, size: int = 8) -> torch.Tensor:
    """A deterministic (1, 3, size, size) image in [-1, 1], different for each value."""
    ramp = torch.linspace(-1, 1, size)
    return (value * ramp[None, None, :, None] * ramp[None, None, None, :]).expand(1, 3, size, size).clone()


def a_record(steps=5, seconds=2.5):
    snapshots = {s: ramp_image(s / steps) for s in (0, 1, 2, 4, steps)}
    total = [float(2.0 ** -i) for i in range(steps)]
    return TrainRecord(
        steps=steps, seconds=seconds, stopped_by="steps",
        history={"total": total, "content": [0.0] * steps, "style": [t / 2 for t in total], "tv": [0.0] * steps},
        snapshots=snapshots, output=snapshots[steps],
    )


def test_plot_images_shows_each_image(extractor):
    images = {"a": ramp_image(0.3), "b": ramp_image(-0.7)}
    fig = plot_images(images)
    for ax, (title, img) in zip(fig.axes, images.items()):
        assert ax.get_title() == title
        np.testing.assert_allclose(image_data(ax), shown(img))


def test_plot_feature_maps_shows_the_most_active_maps(extractor):
    image = load_image("chelsea", 32)
    fig = plot_feature_maps(extractor, image, "conv2_1", num_maps=4)
    with torch.no_grad():
        f = extractor(image, ["conv2_1"])["conv2_1"][0]
    order = f.mean(dim=(1, 2)).argsort(descending=True)[:4].tolist()
    np.testing.assert_allclose(image_data(fig.axes[0]), shown(image))
    for ax, k in zip(fig.axes[1:], order):
        assert ax.get_title() == f"map {k}"
        np.testing.assert_allclose(image_data(ax), f[k].numpy(), rtol=1e-5, atol=1e-6)
    assert fig._suptitle.get_text().startswith("conv2_1: 128 feature maps of 16×16")


def test_layer_explorer_defaults_are_the_static_figure(extractor):
    fig = plot_layer_explorer(extractor)  # what the notebook's static cell and the sliders start from
    np.testing.assert_allclose(image_data(fig.axes[0]), shown(load_image("chelsea", 128)))
    assert fig._suptitle.get_text().startswith("conv1_1: 64 feature maps of 128×128")


def test_plot_gram_matrices_shows_g_and_the_style_distance(extractor):
    brick = load_image("brick", 64)
    images = {"crop 1": brick[..., :32, :32], "crop 2": brick[..., 32:, 32:], "cat": load_image("chelsea", 32)}
    fig = plot_gram_matrices(extractor, images, layer="conv1_1", num_channels=8, compare_to="crop 1")
    grams_axes = [ax for ax in fig.axes if ax.get_title().startswith("G at conv1_1")]
    with torch.no_grad():
        feats = {t: extractor(img, ["conv1_1"])["conv1_1"] for t, img in images.items()}
    for ax, title in zip(grams_axes, images):
        g = gram_matrix(feats[title])[0, :8, :8].clamp_min(0)
        np.testing.assert_allclose(image_data(ax), g.numpy(), rtol=1e-5, atol=1e-7)
        e_l = float(style_layer_loss(feats[title], gram_matrix(feats["crop 1"])))
        assert ax.get_title().endswith(f"$E_l$ to crop 1: {e_l:.2e}")
    assert grams_axes[0].get_title().endswith("0.00e+00")
    e = {t: float(style_layer_loss(feats[t], gram_matrix(feats["crop 1"]))) for t in images}
    assert e["crop 2"] < e["cat"]  # two crops of one texture are closer than a photo


def test_plot_results_shows_references_then_outputs():
    record = a_record()
    reference = {"content": ramp_image(0.1), "style": ramp_image(0.9)}
    fig = plot_results({"β/α = 1": record}, reference=reference)
    assert [ax.get_title() for ax in fig.axes] == ["content", "style", "β/α = 1\n5 steps, 2.5 s"]
    np.testing.assert_allclose(image_data(fig.axes[0]), shown(reference["content"]))
    np.testing.assert_allclose(image_data(fig.axes[1]), shown(reference["style"]))
    np.testing.assert_allclose(image_data(fig.axes[2]), shown(record.output))
    slow = a_record(seconds=123.4)
    assert plot_results({"run": slow}).axes[0].get_title() == "run\n5 steps, 123 s"


def test_plot_snapshots_picks_evenly_from_start_to_end():
    record = a_record()
    fig = plot_snapshots(record, max_snapshots=3)
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 2", "step 5"]
    for ax, step in zip(fig.axes, (0, 2, 5)):
        np.testing.assert_allclose(image_data(ax), shown(record.snapshots[step]))
    assert len(plot_snapshots(record).axes) == 5


def test_plot_losses_draws_the_history_against_steps_or_seconds():
    record = a_record(steps=5, seconds=2.5)
    fig = plot_losses({"run": record})
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert sorted(lines) == ["run: style", "run: total"]  # the all-zero content term is left out
    np.testing.assert_allclose(lines["run: total"].get_ydata(), record.history["total"])
    np.testing.assert_allclose(lines["run: style"].get_ydata(), record.history["style"])
    np.testing.assert_allclose(lines["run: total"].get_xdata(), [1, 2, 3, 4, 5])
    fig = plot_losses({"run": record}, x="seconds")
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), [0.5, 1.0, 1.5, 2.0, 2.5])
    assert fig.axes[0].get_xlabel() == "seconds"
