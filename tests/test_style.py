"""Tests of course_lib.style against the math of Gatys et al. (2016): losses, extractor, synthesize.

Bad input at the boundary is in test_style_inputs.py, the figures in test_style_figures.py.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib.data import load_image
from course_lib.device import model_device
from course_lib.style import (
    GATYS_STYLE_LAYERS,
    LAYER_INDEX,
    VGG19_LAYERS,
    FeatureExtractor,
    content_loss,
    gram_matrix,
    normalize_mean_activation,
    random_vgg19_features,
    style_layer_loss,
    style_loss,
    synthesize,
    total_variation_loss,
)
from course_lib.style import features as features_mod
from course_lib.train_loop import TrainRecord


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- Gram matrix


def gram_by_loops(f: torch.Tensor) -> torch.Tensor:
    """G_ij = Σ_k F_ik F_jk / (N M), written with explicit loops over i, j (float64)."""
    b, c, h, w = f.shape
    flat = f.double().reshape(b, c, h * w)
    g = torch.zeros(b, c, c, dtype=torch.float64)
    for n in range(b):
        for i in range(c):
            for j in range(c):
                g[n, i, j] = (flat[n, i] * flat[n, j]).sum() / (c * h * w)
    return g


shapes = st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5))


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=st.integers(0, 10_000))
def test_gram_matches_definition_and_is_symmetric_psd(shape, seed):
    f = torch.randn(shape, generator=seeded(seed))
    g = gram_matrix(f)
    assert g.shape == (shape[0], shape[1], shape[1])
    torch.testing.assert_close(g.double(), gram_by_loops(f), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g, g.transpose(1, 2))
    eig = torch.linalg.eigvalsh(g.double())
    assert float(eig.min()) >= -1e-6 * max(1.0, float(eig.abs().max()))


def test_gram_normalisation_known_values():
    # All-ones features: G_ij = H W / (C H W) = 1 / C for every pair.
    g = gram_matrix(torch.ones(1, 4, 3, 5))
    torch.testing.assert_close(g, torch.full((1, 4, 4), 0.25))
    # Diagonal = mean square of each map / C: a map of 2s gives 4 / C.
    f = torch.zeros(1, 2, 4, 4)
    f[0, 0] = 2.0
    torch.testing.assert_close(gram_matrix(f)[0], torch.tensor([[2.0, 0.0], [0.0, 0.0]]))
    # Independent of image size for a stationary pattern (that is why we divide by M = H W).
    small = torch.rand(1, 3, 4, 4, generator=seeded(0))
    tiled = small.repeat(1, 1, 3, 3)
    torch.testing.assert_close(gram_matrix(tiled), gram_matrix(small))


def test_gram_ignores_where_features_are():
    f = torch.randn(1, 5, 6, 7, generator=seeded(1))
    perm = torch.randperm(42, generator=seeded(2))
    shuffled = f.reshape(1, 5, 42)[..., perm].reshape(1, 5, 6, 7)
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(f))
    assert not torch.allclose(shuffled, f)


def test_gram_scales_quadratically():
    f = torch.rand(2, 3, 4, 4, generator=seeded(5))
    torch.testing.assert_close(gram_matrix(3 * f), 9 * gram_matrix(f))


# ----------------------------------------------------------------------------- losses


def test_content_loss_zero_for_identical_and_half_mean_square():
    f = torch.randn(1, 8, 5, 5, generator=seeded(6))
    assert float(content_loss(f, f.clone())) == 0.0
    p = f + 0.5
    torch.testing.assert_close(content_loss(f, p), torch.tensor(0.125))
    # gradient of 1/(2NM) Σ (F − P)² is (F − P) / (N M)
    f.requires_grad_(True)
    content_loss(f, p).backward()
    torch.testing.assert_close(f.grad, (f.detach() - p) / f[0].numel())


def test_style_layer_loss_is_gatys_eq4():
    gen = seeded(3)
    f = torch.randn(1, 6, 4, 5, generator=gen)
    a_img = torch.randn(1, 6, 4, 5, generator=gen)
    n, m = 6, 20
    raw_g = f.reshape(n, m) @ f.reshape(n, m).T
    raw_a = a_img.reshape(n, m) @ a_img.reshape(n, m).T
    expected = (raw_g - raw_a).pow(2).sum() / (4 * n**2 * m**2)  # Gatys et al. eq. 4, unnormalised Grams
    torch.testing.assert_close(style_layer_loss(f, gram_matrix(a_img)), expected)
    assert float(style_layer_loss(f, gram_matrix(f))) == 0.0


def test_style_loss_weights_layers():
    gen = seeded(4)
    feats = {"conv1_1": torch.randn(1, 3, 4, 4, generator=gen), "conv2_1": torch.randn(1, 5, 2, 2, generator=gen)}
    targets = {k: gram_matrix(torch.randn(v.shape, generator=gen)) for k, v in feats.items()}
    e = {k: style_layer_loss(feats[k], targets[k]) for k in feats}
    torch.testing.assert_close(style_loss(feats, targets), (e["conv1_1"] + e["conv2_1"]) / 2)
    w = {"conv1_1": 0.9, "conv2_1": 0.1}
    torch.testing.assert_close(style_loss(feats, targets, w), 0.9 * e["conv1_1"] + 0.1 * e["conv2_1"])
    same = {k: gram_matrix(v) for k, v in feats.items()}
    assert float(style_loss(feats, same)) == 0.0


def test_total_variation_known_values():
    assert float(total_variation_loss(torch.full((1, 3, 8, 8), 0.3))) == 0.0
    ramp = (0.1 * torch.arange(8.0)).expand(1, 3, 8, 8)  # x_ij = 0.1 j: dx = 0.1, dy = 0
    torch.testing.assert_close(total_variation_loss(ramp), torch.tensor(0.01))
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2
    img = checker.float().expand(1, 1, 8, 8)  # every neighbour differs by 1
    torch.testing.assert_close(total_variation_loss(img), torch.tensor(2.0))


# ----------------------------------------------------------------------------- extractor


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(random_vgg19_features(seed=0), "random")


def test_layer_table_matches_torchvision_vgg19():
    from torchvision.models.vgg import cfgs, make_layers

    assert list(features_mod.VGG19_CFG) == list(cfgs["E"])
    tv = make_layers(cfgs["E"])
    convs = [i for i, m in enumerate(tv) if isinstance(m, nn.Conv2d)]
    assert len(VGG19_LAYERS) == len(convs) == 16
    assert VGG19_LAYERS[0] == "conv1_1" and VGG19_LAYERS[-1] == "conv5_4"
    for name, conv_index in zip(VGG19_LAYERS, convs):
        assert LAYER_INDEX[name] == conv_index + 1
        assert isinstance(tv[conv_index + 1], nn.ReLU)
    pools_before = {name: sum(isinstance(m, nn.MaxPool2d) for m in tv[: LAYER_INDEX[name]]) for name in VGG19_LAYERS}
    assert all(pools_before[name] == int(name[4]) - 1 for name in VGG19_LAYERS)


def test_extractor_shapes_and_normalisation(extractor):
    x = load_image("chelsea", 64)
    feats = extractor(x, ["conv1_1", "conv3_1", "conv5_1"])
    assert list(feats) == ["conv1_1", "conv3_1", "conv5_1"]
    assert feats["conv1_1"].shape == (1, 64, 64, 64)
    assert feats["conv3_1"].shape == (1, 256, 16, 16)
    assert feats["conv5_1"].shape == (1, 512, 4, 4)
    assert all(float(f.min()) >= 0 for f in feats.values())  # post-ReLU
    # [-1, 1] → [0, 1] → ImageNet normalisation
    gray = torch.zeros(1, 3, 2, 2)  # 0 in [-1, 1] is 0.5 in [0, 1]
    expected = (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(extractor.normalize(gray)[0, :, 0, 0], expected)
    # the first layer equals the ReLU of torchvision's first conv on the normalised image
    conv = extractor.features[0]
    torch.testing.assert_close(feats["conv1_1"], torch.relu(conv(extractor.normalize(x))))
    # extract() is the same computation without the checks
    for name, f in extractor.extract(x, ["conv3_1", "conv1_1"]).items():
        torch.testing.assert_close(f, feats[name])


def test_gradients_reach_the_image_only(extractor):
    x = load_image("coffee", 32).requires_grad_(True)
    with torch.no_grad():
        targets = {k: gram_matrix(f) for k, f in extractor(load_image("brick", 32), GATYS_STYLE_LAYERS).items()}
    before = {k: v.clone() for k, v in extractor.state_dict().items()}
    loss = style_loss(extractor(x, GATYS_STYLE_LAYERS), targets)
    loss.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(not p.requires_grad and p.grad is None for p in extractor.parameters())
    extractor.train()
    assert not extractor.training  # stays frozen in eval mode
    record = synthesize(extractor, style=load_image("brick", 32), steps=2, device="cpu", progress=False)
    assert all(p.grad is None for p in extractor.parameters())
    for k, v in extractor.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert record.output.shape == (1, 3, 32, 32)


def test_random_features_are_seeded_and_he_scaled():
    a, b, c = random_vgg19_features(0), random_vgg19_features(0), random_vgg19_features(1)
    torch.testing.assert_close(a[0].weight, b[0].weight)
    assert not torch.allclose(a[0].weight, c[0].weight)
    w = a[LAYER_INDEX["conv4_2"] - 1].weight
    torch.testing.assert_close(w.std(), torch.tensor((2.0 / (512 * 9)) ** 0.5), rtol=0.02, atol=0.0)
    assert isinstance(random_vgg19_features(0, pooling="max")[4], nn.MaxPool2d)
    assert isinstance(a[4], nn.AvgPool2d)


@pytest.mark.parametrize("per", ["filter", "layer"])
def test_normalised_network_has_unit_mean_activation_and_same_function(per):
    """Mean activation 1 per filter (Gatys et al.) or per layer; features change only by a scale."""
    calib = load_image("coffee", 48)
    orig = FeatureExtractor(random_vgg19_features(seed=3), "random")
    norm = FeatureExtractor(random_vgg19_features(seed=3), "random")
    normalize_mean_activation(norm.features, norm.normalize(calib), per=per)
    other = load_image("rocket", 48)
    layers = ["conv1_1", "conv2_2", "conv4_1", "conv5_4"]
    with torch.no_grad():
        f_calib = norm(calib, layers)
        f_orig, f_norm = orig(other, layers), norm(other, layers)
        m_calib = orig(calib, layers)
    for name in layers:
        if per == "layer":  # one scale per layer: the mean over filters and positions is 1
            torch.testing.assert_close(f_calib[name].mean(), torch.tensor(1.0), rtol=1e-3, atol=1e-3)
            m = m_calib[name].mean()
        else:  # one scale per filter
            means = f_calib[name].mean(dim=(0, 2, 3))
            live = m_calib[name].mean(dim=(0, 2, 3)) > 1e-6
            torch.testing.assert_close(means[live], torch.ones(int(live.sum())), rtol=1e-3, atol=1e-3)
            m = m_calib[name].mean(dim=(0, 2, 3)).clamp_min(1e-6).view(1, -1, 1, 1)
            m = torch.where(live.view(1, -1, 1, 1), m, torch.ones_like(m))
        # F_norm = F_orig / m, with m the original mean activation on the calibration image
        torch.testing.assert_close(f_norm[name] * m, f_orig[name], rtol=2e-3, atol=2e-4)


# ----------------------------------------------------------------------------- synthesize: the record


def total_loss(extractor, x, *, content=None, style=None, content_layer="conv4_2", style_layers=GATYS_STYLE_LAYERS,
               content_weight=1.0, style_weight=1.0, tv_weight=0.0):
    """L_total of x recomputed from the formula functions (what synthesize should have minimised)."""
    with torch.no_grad():
        total = tv_weight * total_variation_loss(x)
        if content is not None:
            p = extractor(content, [content_layer])[content_layer]
            total = total + content_weight * content_loss(extractor(x, [content_layer])[content_layer], p)
        if style is not None:
            grams = {k: gram_matrix(f) for k, f in extractor(style, style_layers).items()}
            total = total + style_weight * style_loss(extractor(x, style_layers), grams)
    return float(total)


def test_synthesize_returns_the_training_record(extractor):
    p, a = load_image("chelsea", 16), load_image("brick", 16)
    record = synthesize(extractor, content=p, style=a, tv_weight=0.3, init="content", optimizer="adam",
                        steps=9, device="cpu", progress=False)
    assert isinstance(record, TrainRecord)
    assert record.steps == 9 and record.stopped_by == "steps" and record.seconds > 0
    assert sorted(record.history) == ["content", "style", "total", "tv"]
    assert all(len(v) == 9 for v in record.history.values())
    for i in range(9):  # total = α L_content + β L_style + γ L_TV, term by term
        parts = sum(record.history[k][i] for k in ("content", "style", "tv"))
        assert record.history["total"][i] == pytest.approx(parts, rel=1e-5)
    assert record.history["content"][0] == 0.0  # it starts from the content image itself
    assert sorted(record.snapshots) == [0, 1, 2, 4, 8, 9]  # powers of two, then the end
    torch.testing.assert_close(record.snapshots[0], p)
    assert torch.equal(record.snapshots[9], record.output)
    assert record.output.shape == (1, 3, 16, 16) and record.output.device.type == "cpu"
    assert float(record.output.abs().max()) <= 1.0
    # output is the evaluated image with the lowest L_total (Adam keeps x inside [-1, 1]: no clamping)
    best = min(record.history["total"])
    assert total_loss(extractor, record.output, content=p, style=a, tv_weight=0.3) == pytest.approx(best, rel=1e-4)
    assert model_device(extractor).type == "cpu"


def test_minutes_budget_stops_the_run_by_time(extractor):
    record = synthesize(extractor, style=load_image("brick", 16), style_layers=("conv1_1",), minutes=0.005,
                        steps=10_000, device="cpu", progress=False)
    assert record.stopped_by == "time"
    assert 1 <= record.steps < 10_000 and len(record.history["total"]) == record.steps
    assert record.seconds >= 0.3
    assert max(record.snapshots) == record.steps


def test_seed_fixes_the_noise_start(extractor):
    a = load_image("brick", 16)
    kw = dict(style=a, style_layers=("conv1_1",), steps=1, device="cpu", progress=False)
    first, again, other = synthesize(extractor, **kw), synthesize(extractor, **kw), synthesize(extractor, seed=1, **kw)
    torch.testing.assert_close(first.snapshots[0], again.snapshots[0])
    assert not torch.allclose(first.snapshots[0], other.snapshots[0])
    assert float(first.snapshots[0].min()) < -0.9 and float(first.snapshots[0].max()) > 0.9  # U(-1, 1)


def test_snapshot_every(extractor):
    record = synthesize(extractor, style=load_image("brick", 16), style_layers=("conv1_1",), steps=7,
                        snapshot_every=3, device="cpu", progress=False)
    assert sorted(record.snapshots) == [0, 3, 6, 7]


# ----------------------------------------------------------------------------- synthesize: the method


def psnr(a, b):
    mse = ((a - b) / 2).pow(2).mean()
    return float(-10 * torch.log10(mse))


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_content_reconstruction_approaches_the_image(extractor, optimizer):
    p = load_image("astronaut", 32)
    steps = 15 if optimizer == "lbfgs" else 40
    record = synthesize(extractor, content=p, style_weight=0.0, content_layer="conv1_2", steps=steps,
                        optimizer=optimizer, lr=None if optimizer == "lbfgs" else 0.05, device="cpu",
                        progress=False)
    h = record.history["content"]
    assert len(h) == steps and h[-1] < 0.1 * h[0]
    assert psnr(record.output, p) > psnr(record.snapshots[0], p) + 8
    assert float(record.output.abs().max()) <= 1.0


@pytest.mark.slow
def test_texture_synthesis_lowers_style_loss(extractor):
    a = load_image("brick", 32)
    record = synthesize(extractor, style=a, style_layers=("conv1_1", "conv2_1", "conv3_1"),
                        steps=10, tv_weight=1e-4, device="cpu", progress=False)
    assert record.history["style"][-1] < 0.05 * record.history["style"][0]
    assert record.history["content"] == [0.0] * 10 and record.history["tv"][0] > 0
    # a texture, not a copy: the pixels hardly correlate with the style image's
    x, y = record.output.flatten() - record.output.mean(), a.flatten() - a.mean()
    assert abs(float(x @ y / (x.norm() * y.norm()))) < 0.3


@pytest.mark.slow
def test_lbfgs_line_search_never_accepts_a_worse_point(extractor):
    p = load_image("rocket", 32)
    record = synthesize(extractor, content=p, style_weight=0.0, content_layer="conv2_2", steps=12,
                        device="cpu", progress=False)
    h = record.history["content"]
    assert min(h) < 0.5 * h[0]
    # the output is the best evaluated point, clamped; L-BFGS does not clamp during the run
    assert float(record.output.abs().max()) <= 1.0
    assert all(float(img.abs().max()) <= 1.0 for img in record.snapshots.values())
    clamped = total_loss(extractor, record.output, content=p, content_layer="conv2_2", style_weight=0.0)
    assert clamped == pytest.approx(min(h), rel=0.05)


@pytest.mark.slow
def test_style_weight_trades_content_for_style(extractor):
    p, a = load_image("chelsea", 32), load_image("brick", 32)
    kw = dict(content=p, style=a, steps=8, init="content", device="cpu", progress=False)
    weak = synthesize(extractor, style_weight=1.0, **kw)
    strong = synthesize(extractor, style_weight=1e4, **kw)
    assert psnr(weak.output, p) > psnr(strong.output, p)
    s_weak = total_loss(extractor, weak.output, style=a)
    s_strong = total_loss(extractor, strong.output, style=a)
    assert s_strong < s_weak
