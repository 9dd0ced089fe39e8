"""Tests of course_lib.style against the math of Gatys et al. (2016)."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib.data import load_image
from course_lib.style import (
    GATYS_STYLE_LAYERS,
    LAYER_CHANNELS,
    LAYER_INDEX,
    VGG19_LAYERS,
    FeatureExtractor,
    content_loss,
    gram_matrix,
    normalize_mean_activation,
    random_vgg19_features,
    style_layer_loss,
    style_loss,
    style_targets,
    synthesize,
    total_variation_loss,
    vgg19_extractor,
)
from course_lib.style import features as features_mod

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
    f = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
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
    small = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    tiled = small.repeat(1, 1, 3, 3)
    torch.testing.assert_close(gram_matrix(tiled), gram_matrix(small))


def test_gram_ignores_where_features_are():
    f = torch.randn(1, 5, 6, 7, generator=torch.Generator().manual_seed(1))
    perm = torch.randperm(42, generator=torch.Generator().manual_seed(2))
    shuffled = f.reshape(1, 5, 42)[..., perm].reshape(1, 5, 6, 7)
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(f))
    assert not torch.allclose(shuffled, f)


def test_gram_scales_quadratically():
    f = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(gram_matrix(3 * f), 9 * gram_matrix(f))


def test_gram_rejects_bad_input():
    with pytest.raises(ValueError, match="features"):
        gram_matrix(torch.ones(3, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        gram_matrix(torch.full((1, 2, 2, 2), float("nan")))


# ----------------------------------------------------------------------------- losses


def test_content_loss_zero_for_identical_and_half_mean_square():
    f = torch.randn(1, 8, 5, 5)
    assert float(content_loss(f, f.clone())) == 0.0
    p = f + 0.5
    torch.testing.assert_close(content_loss(f, p), torch.tensor(0.125))
    # gradient of 1/(2NM) Σ (F − P)² is (F − P) / (N M)
    f.requires_grad_(True)
    content_loss(f, p).backward()
    torch.testing.assert_close(f.grad, (f.detach() - p) / f[0].numel())


def test_style_layer_loss_is_gatys_eq4():
    gen = torch.Generator().manual_seed(3)
    f = torch.randn(1, 6, 4, 5, generator=gen)
    a_img = torch.randn(1, 6, 4, 5, generator=gen)
    n, m = 6, 20
    raw_g = f.reshape(n, m) @ f.reshape(n, m).T
    raw_a = a_img.reshape(n, m) @ a_img.reshape(n, m).T
    expected = (raw_g - raw_a).pow(2).sum() / (4 * n**2 * m**2)  # Gatys et al. eq. 4, unnormalised Grams
    torch.testing.assert_close(style_layer_loss(f, gram_matrix(a_img)), expected)
    assert float(style_layer_loss(f, gram_matrix(f))) == 0.0


def test_style_loss_weights_layers():
    gen = torch.Generator().manual_seed(4)
    feats = {"conv1_1": torch.randn(1, 3, 4, 4, generator=gen), "conv2_1": torch.randn(1, 5, 2, 2, generator=gen)}
    targets = {k: gram_matrix(torch.randn(v.shape, generator=gen)) for k, v in feats.items()}
    e = {k: style_layer_loss(feats[k], targets[k]) for k in feats}
    torch.testing.assert_close(style_loss(feats, targets), (e["conv1_1"] + e["conv2_1"]) / 2)
    w = {"conv1_1": 0.9, "conv2_1": 0.1}
    torch.testing.assert_close(style_loss(feats, targets, w), 0.9 * e["conv1_1"] + 0.1 * e["conv2_1"])
    same = {k: gram_matrix(v) for k, v in feats.items()}
    assert float(style_loss(feats, same)) == 0.0
    with pytest.raises(ValueError, match="layer_weights"):
        style_loss(feats, targets, {"conv1_1": 1.0})
    with pytest.raises(ValueError, match="missing"):
        style_loss({"conv1_1": feats["conv1_1"]}, targets)
    with pytest.raises(ValueError, match="target_gram"):
        style_layer_loss(feats["conv1_1"], targets["conv2_1"])


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

    tv = make_layers(cfgs["E"])
    convs = [i for i, m in enumerate(tv) if isinstance(m, nn.Conv2d)]
    assert len(VGG19_LAYERS) == len(convs) == 16
    assert VGG19_LAYERS[0] == "conv1_1" and VGG19_LAYERS[-1] == "conv5_4"
    for name, conv_index in zip(VGG19_LAYERS, convs):
        assert LAYER_INDEX[name] == conv_index + 1
        assert isinstance(tv[conv_index + 1], nn.ReLU)
        assert tv[conv_index].out_channels == LAYER_CHANNELS[name]
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


def test_extractor_rejects_bad_layers(extractor):
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match="conv1_1 … conv5_4"):
        extractor(x, ["conv6_1"])
    with pytest.raises(ValueError, match="repeat"):
        extractor(x, ["conv1_1", "conv1_1"])
    with pytest.raises(ValueError, match="3 channel"):
        extractor(torch.zeros(1, 1, 16, 16), ["conv1_1"])


def test_gradients_reach_the_image_only(extractor):
    x = load_image("coffee", 32).requires_grad_(True)
    targets = style_targets(extractor, load_image("brick", 32))
    before = {k: v.clone() for k, v in extractor.state_dict().items()}
    loss = style_loss(extractor(x, GATYS_STYLE_LAYERS), targets)
    loss.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(not p.requires_grad and p.grad is None for p in extractor.parameters())
    extractor.train()
    assert not extractor.training  # stays frozen in eval mode
    res = synthesize(extractor, style=load_image("brick", 32), steps=2, progress=False)
    assert all(p.grad is None for p in extractor.parameters())
    for k, v in extractor.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert res.image.shape == (1, 3, 32, 32)


def test_random_features_are_seeded_and_he_scaled():
    a, b, c = random_vgg19_features(0), random_vgg19_features(0), random_vgg19_features(1)
    torch.testing.assert_close(a[0].weight, b[0].weight)
    assert not torch.allclose(a[0].weight, c[0].weight)
    w = a[LAYER_INDEX["conv4_2"] - 1].weight
    torch.testing.assert_close(w.std(), torch.tensor((2.0 / (512 * 9)) ** 0.5), rtol=0.02, atol=0.0)
    assert isinstance(random_vgg19_features(0, pooling="max")[4], nn.MaxPool2d)
    assert isinstance(a[4], nn.AvgPool2d)


# ----------------------------------------------------------------------------- weights: pretrained and fallback


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    """A torchvision-style VGG19 state dict with random values (a stand-in for the real file)."""
    feats = random_vgg19_features(seed=7, pooling="max")
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)  # the real file has a classifier: it must be ignored
    path = tmp_path_factory.mktemp("weights") / features_mod.WEIGHTS_FILE
    torch.save(state, path)
    return path, feats


def _same_weights(extractor, feats):
    return all(torch.equal(a.cpu(), b) for a, b in zip(extractor.features.parameters(), feats.parameters()))


def test_pretrained_from_explicit_path(fake_weights, capsys):
    path, feats = fake_weights
    ex = vgg19_extractor(path, normalize=None, device="cpu")
    assert ex.source == "pretrained" and _same_weights(ex, feats)
    assert "ImageNet-trained" in capsys.readouterr().out
    normalised = vgg19_extractor(path, device="cpu", quiet=True)  # default: per-layer normalisation
    with torch.no_grad():
        f = normalised(features_mod.calibration_images(features_mod.CALIBRATION_SIZE), ["conv2_1"])
    torch.testing.assert_close(f["conv2_1"].mean(), torch.tensor(1.0), rtol=1e-3, atol=1e-3)


def test_pretrained_from_env_var(fake_weights, monkeypatch):
    path, feats = fake_weights
    monkeypatch.setenv(features_mod.WEIGHTS_ENV, str(path))
    ex = vgg19_extractor(normalize=None, device="cpu", quiet=True)
    assert ex.source == "pretrained" and _same_weights(ex, feats)


def test_pretrained_from_torch_hub_cache(fake_weights, monkeypatch, tmp_path):
    path, feats = fake_weights
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / features_mod.WEIGHTS_FILE).symlink_to(path)
    monkeypatch.delenv(features_mod.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(features_mod, "network_available", lambda host: pytest.fail("must not probe"))
    ex = vgg19_extractor("pretrained", normalize=None, device="cpu", quiet=True)
    assert ex.source == "pretrained" and _same_weights(ex, feats)


def test_pretrained_download_when_online(fake_weights, monkeypatch, tmp_path):
    path, feats = fake_weights
    monkeypatch.delenv(features_mod.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    probed, fetched = [], []
    monkeypatch.setattr(features_mod, "network_available", lambda host: probed.append(host) or True)

    def fake_download(url, progress=True, check_hash=False):
        fetched.append((url, check_hash))
        (tmp_path / "checkpoints").mkdir(exist_ok=True)
        (tmp_path / "checkpoints" / features_mod.WEIGHTS_FILE).write_bytes(path.read_bytes())

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    ex = vgg19_extractor(normalize=None, device="cpu", quiet=True)
    assert probed == [("download.pytorch.org", 443)]
    assert fetched == [(features_mod.WEIGHTS_URL, True)]
    assert ex.source == "pretrained" and _same_weights(ex, feats)


def test_offline_fallback_is_fast_and_says_why(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(features_mod.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    start = time.perf_counter()
    ex = vgg19_extractor(device="cpu")
    assert time.perf_counter() - start < 20  # seconds, not a hanging download
    out = capsys.readouterr().out.strip().splitlines()
    assert ex.source == "random"
    assert len(out) == 1 and out[0].startswith("Offline") and "random weights" in out[0]
    assert "cannot be reached" in out[0]
    with pytest.raises(RuntimeError, match="weights='pretrained'"):
        vgg19_extractor("pretrained", device="cpu", quiet=True)


class NotAWeight:
    pass


def test_unsafe_or_broken_file_falls_back(monkeypatch, tmp_path, capsys):
    # A pickle holding an arbitrary object must be refused (weights_only=True), not executed.
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": NotAWeight()}, bad)
    monkeypatch.setenv(features_mod.WEIGHTS_ENV, str(bad))
    ex = vgg19_extractor(device="cpu")
    assert ex.source == "random"
    assert "loading the trained weights failed" in capsys.readouterr().out
    with pytest.raises(Exception, match="(?i)weights"):
        vgg19_extractor(bad, device="cpu", quiet=True)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ValueError, match="features"):
        vgg19_extractor(wrong, device="cpu", quiet=True)
    with pytest.raises(FileNotFoundError):
        vgg19_extractor(tmp_path / "missing.pth", device="cpu", quiet=True)


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


def test_extractor_normalises_by_default(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.delenv(features_mod.WEIGHTS_ENV, raising=False)
    ex = vgg19_extractor("random", device="cpu", quiet=True)
    with torch.no_grad():
        f = ex(features_mod.calibration_images(features_mod.CALIBRATION_SIZE), ["conv3_1"])["conv3_1"]
    torch.testing.assert_close(f.mean(), torch.tensor(1.0), rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="normalize"):
        vgg19_extractor("random", normalize="channel", quiet=True)


def test_weights_argument_checked():
    with pytest.raises(ValueError, match="pooling"):
        vgg19_extractor("random", pooling="mean", quiet=True)


# ----------------------------------------------------------------------------- the optimisation


def psnr(a, b):
    mse = ((a - b) / 2).pow(2).mean()
    return float(-10 * torch.log10(mse))


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_content_reconstruction_approaches_the_image(extractor, optimizer):
    p = load_image("astronaut", 32)
    steps = 15 if optimizer == "lbfgs" else 40
    res = synthesize(extractor, content=p, style_weight=0.0, content_layer="conv1_2", steps=steps,
                     optimizer=optimizer, lr=None if optimizer == "lbfgs" else 0.05, progress=False)
    h = res.history["content"]
    assert len(h) == steps and h[-1] < 0.1 * h[0]
    start = res.snapshots[0][1]
    assert psnr(res.image, p) > psnr(start, p) + 8
    assert float(res.image.abs().max()) <= 1.0
    assert [s for s, _ in res.snapshots][0] == 0 and res.snapshots[-1][0] == steps
    assert res.evaluations >= steps and res.seconds_per_step > 0


def test_texture_synthesis_lowers_style_loss(extractor):
    a = load_image("brick", 32)
    res = synthesize(extractor, style=a, style_weight=1.0, style_layers=("conv1_1", "conv2_1", "conv3_1"),
                     steps=10, tv_weight=1e-4, progress=False, snapshot_every=5)
    assert res.history["style"][-1] < 0.05 * res.history["style"][0]
    assert res.history["content"] == [0.0] * 10 and res.history["tv"][0] > 0
    assert [s for s, _ in res.snapshots] == [0, 5, 10]
    # a texture, not a copy: the pixels hardly correlate with the style image's
    x, y = res.image.flatten() - res.image.mean(), a.flatten() - a.mean()
    assert abs(float(x @ y / (x.norm() * y.norm()))) < 0.3


def test_lbfgs_line_search_and_clamping_options(extractor):
    p = load_image("rocket", 32)
    plain = synthesize(extractor, content=p, style_weight=0.0, content_layer="conv2_2", steps=4,
                       line_search=False, clamp=True, progress=False)
    wolfe = synthesize(extractor, content=p, style_weight=0.0, content_layer="conv2_2", steps=6, progress=False)
    assert plain.evaluations == 4  # one loss evaluation per L-BFGS iteration without line search
    assert len(wolfe.history["total"]) == 6 and wolfe.evaluations >= 6
    # the line search never accepts a worse point: the loss at accepted iterates only goes down
    assert min(wolfe.history["content"][1:]) < 0.5 * wolfe.history["content"][0]
    for res in (plain, wolfe):
        assert float(res.image.abs().max()) <= 1.0
        assert all(float(img.abs().max()) <= 1.0 for _, img in res.snapshots)


def test_style_transfer_balances_content_and_style(extractor):
    p, a = load_image("chelsea", 32), load_image("brick", 32)
    kw = dict(content=p, style=a, steps=8, init="content", progress=False)
    weak = synthesize(extractor, style_weight=1.0, **kw)
    strong = synthesize(extractor, style_weight=1e4, **kw)
    assert psnr(weak.image, p) > psnr(strong.image, p)
    targets = style_targets(extractor, a)
    with torch.no_grad():
        s_weak = float(style_loss(extractor(weak.image, GATYS_STYLE_LAYERS), targets))
        s_strong = float(style_loss(extractor(strong.image, GATYS_STYLE_LAYERS), targets))
    assert s_strong < s_weak


def test_synthesize_checks_arguments(extractor):
    p = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match="content image, a style image"):
        synthesize(extractor)
    with pytest.raises(ValueError, match="style_weight"):
        synthesize(extractor, style=p, style_weight=-1.0)
    with pytest.raises(ValueError, match="optimizer"):
        synthesize(extractor, style=p, optimizer="sgd")
    with pytest.raises(ValueError, match="content_layer"):
        synthesize(extractor, content=p, content_layer="conv9_9", style_weight=0.0)
    with pytest.raises(ValueError, match="init='content'"):
        synthesize(extractor, style=p, init="content")
    with pytest.raises(ValueError, match="nothing to optimise"):
        synthesize(extractor, content=p, content_weight=0.0, style_weight=0.0)
    with pytest.raises(ValueError, match="steps"):
        synthesize(extractor, style=p, steps=0)
    with pytest.raises(ValueError, match="one image"):
        synthesize(extractor, style=torch.zeros(2, 3, 16, 16))


# ----------------------------------------------------------------------------- figures


def test_plots_return_figures_and_check_arguments(extractor):
    from matplotlib.figure import Figure

    from course_lib.style import StyleResult
    from course_lib.style.plots import (
        plot_feature_maps,
        plot_gram_matrices,
        plot_losses,
        plot_results,
        plot_snapshots,
        plot_style_transfer,
    )

    img = load_image("chelsea", 32)
    fig = plot_feature_maps(extractor, img, "conv2_1", num_maps=4)
    assert isinstance(fig, Figure) and len(fig.axes) == 5
    assert isinstance(plot_gram_matrices(extractor, {"a": img, "b": load_image("brick", 32)}, num_channels=8), Figure)
    res = StyleResult(image=img, snapshots=[(0, img), (5, img), (10, img)],
                      history={"total": [3.0, 2.0, 1.0], "content": [1.0, 1.0, 0.5], "style": [2.0, 1.0, 0.5],
                               "tv": [0.0, 0.0, 0.0]}, seconds=1.5, steps=3)
    assert len(plot_snapshots(res, max_snapshots=2).axes) == 2
    assert isinstance(plot_losses({"run": res}, x="seconds"), Figure)
    assert len(plot_results({"run": res}, reference={"photo": img}).axes) == 2
    with pytest.raises(TypeError, match="StyleResult"):
        plot_results({"run": img})
    with pytest.raises(ValueError, match="layer"):
        plot_feature_maps(extractor, img, "pool3")
    with pytest.raises(ValueError, match="style_layers"):
        plot_style_transfer(extractor, style_layers="conv9_9", size=32, steps=1)
    with pytest.raises(ValueError, match="log10_style_weight"):
        plot_style_transfer(extractor, log10_style_weight=40.0, size=32, steps=1)
