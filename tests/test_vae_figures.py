"""The notebook-07 figures draw what they are given, and refuse what they cannot draw."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from course_lib.vae import (
    build_vae,
    compare_gradient_estimators,
    quadratic,
    quadratic_gradient,
    sweep_kl_weight,
)
from course_lib.vae.figures import (
    heldout_digits,
    plot_gradient_estimators,
    plot_holes,
    plot_image_rows,
    plot_interpolation,
    plot_iwae,
    plot_kl_estimates,
    plot_kl_sweep,
    plot_kl_weight_explorer,
    plot_latent_channels,
    plot_latent_explorer,
    plot_latent_map,
    plot_manifold,
    plot_training_curves,
)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return build_vae(dict(latent_shape=[2], width=8, hidden=32)).eval(), build_vae(dict(latent_shape=[4, 7, 7], width=8)).eval()


@pytest.fixture(scope="module")
def digits():
    return heldout_digits(60, seed=0)


def test_heldout_digits_are_mixed_and_reproducible():
    a, b = heldout_digits(100, seed=0), heldout_digits(100, seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert len(set(a.labels[:30].tolist())) >= 8  # the test split is stored class by class
    with pytest.raises(ValueError, match="num_digits must be an integer in \\[1, 1000\\]"):
        heldout_digits(0)


def test_latent_figures(models, digits):
    model_2d, model_latent = models
    with torch.no_grad():
        codes, _ = model_2d.encode(digits.images)
    assert isinstance(plot_latent_map(codes, digits.labels, points=torch.zeros(3, 2)), Figure)
    assert isinstance(plot_manifold(model_2d, span=2.0, grid=4), Figure)
    assert isinstance(plot_latent_explorer(0.5, -1.0, model=model_2d, latents=codes, labels=digits.labels), Figure)
    fig = plot_holes({"a": model_2d}, {"a": codes}, digits.labels, {"a": torch.randn(6, 2)})
    assert isinstance(fig, Figure)
    model_4d = build_vae(dict(latent_shape=[4], width=4, hidden=8)).eval()
    with torch.no_grad():
        codes_4d, _ = model_4d.encode(digits.images)
    fig = plot_holes({"4-D": model_4d}, {"4-D": codes_4d}, digits.labels, {"4-D": torch.randn(5, 4)})
    assert "principal axes" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="must have a vector latent"):
        plot_holes({"b": model_latent}, {"b": codes}, digits.labels, {"b": torch.randn(2, 2)})
    with pytest.raises(ValueError, match="model must have a 2-D latent"):
        plot_manifold(model_latent)
    with pytest.raises(ValueError, match="give model"):
        plot_latent_explorer(0.0, 0.0)
    with pytest.raises(ValueError, match="z1 must be a finite number"):
        plot_latent_explorer(float("nan"), 0.0, model=model_2d, latents=codes, labels=digits.labels)
    with pytest.raises(ValueError, match="latents must have shape \\(\\*, 2\\)"):
        plot_latent_map(torch.zeros(5, 3), torch.zeros(5))


def test_image_and_interpolation_figures(models, digits):
    model_2d, model_latent = models
    x = digits.images
    assert isinstance(plot_image_rows({"a": x[:5], "b": model_latent.reconstruct(x[:5])}), Figure)
    assert isinstance(plot_interpolation(0.3, x[:1], x[1:2], {"2d": model_2d, "latent": model_latent}, steps=4), Figure)
    with torch.no_grad():
        latents, _ = model_latent.encode(x[:3])
    assert isinstance(plot_latent_channels(latents, x[:3], count=2), Figure)
    with pytest.raises(ValueError, match="fraction must be a finite number in \\[0, 1\\]"):
        plot_interpolation(1.5, x[:1], x[1:2], {"2d": model_2d})
    with pytest.raises(ValueError, match="rows\\['a'\\] must be in \\[-1, 1\\]"):
        plot_image_rows({"a": x[:2] * 3})


def test_estimate_figures():
    comparison = compare_gradient_estimators(quadratic(1.0), 0.5, 0.0, 200, seed=0)
    assert isinstance(plot_gradient_estimators(comparison, quadratic_gradient(0.5, 0.0)), Figure)
    assert isinstance(plot_kl_estimates([10, 100], [1.1, 1.0], [0.2, 0.05], 1.02), Figure)
    assert isinstance(plot_iwae([1, 10], [-100.0, -98.0], -100.0, [0.5, 0.4]), Figure)
    with pytest.raises(ValueError, match="one length"):
        plot_iwae([1, 10], [-100.0], -100.0)
    with pytest.raises(ValueError, match="compare_gradient_estimators"):
        plot_gradient_estimators({})


def test_sweep_and_its_figures(digits):
    sweep = sweep_kl_weight([0.5, 2.0], digits.images, digits.images[:20], steps=2, num_samples=8, batch_size=16,
                            progress=False, config=dict(latent_shape=[4], width=4, hidden=8))
    assert sorted(sweep) == [0.5, 2.0]
    run = sweep[2.0]
    assert run["latent_units"] == 4 and 0 <= run["active_units"] <= 4 and run["samples"].shape == (8, 1, 28, 28)
    assert isinstance(plot_kl_sweep(sweep), Figure)
    assert isinstance(plot_kl_weight_explorer(2.0, sweep), Figure)
    assert isinstance(plot_training_curves({b: r["record"] for b, r in sweep.items()}), Figure)
    with pytest.raises(ValueError, match="kl_weight must be one of the trained values"):
        plot_kl_weight_explorer(1.0, sweep)
    with pytest.raises(ValueError, match="kl_weights\\[1\\] must be a finite number in \\[0, inf\\]"):
        sweep_kl_weight([1.0, -1.0], digits.images, digits.images, steps=1)
