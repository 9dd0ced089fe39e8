"""Where vgg19_extractor finds VGG19's weights, its offline fallback, and files it cannot use."""

from __future__ import annotations

import time

import pytest
import torch

from course_lib.checkpoints import CheckpointError
from course_lib.style import features as features_mod
from course_lib.style import random_vgg19_features, vgg19_extractor


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    """A torchvision-style VGG19 state dict with random values (a stand-in for the real file)."""
    feats = random_vgg19_features(seed=7, pooling="max")
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)  # the real file has a classifier: it must be ignored
    path = tmp_path_factory.mktemp("weights") / features_mod.WEIGHTS_FILE
    torch.save(state, path)
    return path, feats


@pytest.fixture()
def no_env(monkeypatch, tmp_path):
    """No COURSE_VGG19_WEIGHTS, an empty torch hub cache."""
    monkeypatch.delenv(features_mod.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    return tmp_path


def _same_weights(extractor, feats):
    return all(torch.equal(a.cpu(), b) for a, b in zip(extractor.features.parameters(), feats.parameters()))


def test_pretrained_from_explicit_path(fake_weights, capsys):
    path, feats = fake_weights
    ex = vgg19_extractor(path, normalize=None, device="cpu")
    assert ex.source == "pretrained" and _same_weights(ex, feats)
    assert capsys.readouterr().out.strip() == f"Using the ImageNet-trained VGG19 weights from {path}."
    normalised = vgg19_extractor(path, device="cpu", quiet=True)  # default: per-layer normalisation
    with torch.no_grad():
        f = normalised(features_mod.calibration_images(features_mod.CALIBRATION_SIZE), ["conv2_1"])
    torch.testing.assert_close(f["conv2_1"].mean(), torch.tensor(1.0), rtol=1e-3, atol=1e-3)


def test_pretrained_from_env_var(fake_weights, monkeypatch):
    path, feats = fake_weights
    monkeypatch.setenv(features_mod.WEIGHTS_ENV, str(path))
    ex = vgg19_extractor(normalize=None, device="cpu", quiet=True)
    assert ex.source == "pretrained" and _same_weights(ex, feats)


def test_pretrained_from_torch_hub_cache(fake_weights, monkeypatch, no_env):
    path, feats = fake_weights
    (no_env / "checkpoints").mkdir()
    (no_env / "checkpoints" / features_mod.WEIGHTS_FILE).symlink_to(path)
    monkeypatch.setattr(features_mod, "network_available", lambda host: pytest.fail("must not probe"))
    ex = vgg19_extractor("pretrained", normalize=None, device="cpu", quiet=True)
    assert ex.source == "pretrained" and _same_weights(ex, feats)


def test_pretrained_download_when_online(fake_weights, monkeypatch, no_env):
    path, feats = fake_weights
    probed, fetched = [], []
    monkeypatch.setattr(features_mod, "network_available", lambda host: probed.append(host) or True)

    def fake_download(url, progress=True, check_hash=False):
        fetched.append((url, check_hash))
        (no_env / "checkpoints").mkdir(exist_ok=True)
        (no_env / "checkpoints" / features_mod.WEIGHTS_FILE).write_bytes(path.read_bytes())

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    ex = vgg19_extractor(normalize=None, device="cpu", quiet=True)
    assert probed == [("download.pytorch.org", 443)]
    assert fetched == [(features_mod.WEIGHTS_URL, True)]
    assert ex.source == "pretrained" and _same_weights(ex, feats)


def test_offline_fallback_is_fast_and_says_why(monkeypatch, no_env, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    start = time.perf_counter()
    ex = vgg19_extractor(device="cpu")
    assert time.perf_counter() - start < 20  # seconds, not a hanging download
    out = capsys.readouterr().out.strip().splitlines()
    assert ex.source == "random"
    assert len(out) == 1 and out[0].startswith("Offline: using VGG19 with random weights (seed 0)")
    assert "cannot be reached" in out[0]
    with pytest.raises(RuntimeError, match="weights='pretrained'"):
        vgg19_extractor("pretrained", device="cpu", quiet=True)


def test_extractor_normalises_by_default(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.delenv(features_mod.WEIGHTS_ENV, raising=False)
    ex = vgg19_extractor("random", device="cpu", quiet=True)
    with torch.no_grad():
        f = ex(features_mod.calibration_images(features_mod.CALIBRATION_SIZE), ["conv3_1"])["conv3_1"]
    torch.testing.assert_close(f.mean(), torch.tensor(1.0), rtol=1e-3, atol=1e-3)


# ----------------------------------------------------------------------------- files it cannot use


class NotAWeight:
    pass


def _corrupt_files(tmp_path, good: bytes) -> dict:
    """Files a learner may really have: cut downloads, a flipped first byte, an empty file, junk."""
    legacy = tmp_path / "legacy.pth"
    torch.save({"features.0.bias": torch.zeros(64)}, legacy, _use_new_zipfile_serialization=False)
    files = {
        "truncated": good[: len(good) // 2],
        "truncated legacy format": legacy.read_bytes()[:200],
        "first byte overwritten": b"." + good[1:],  # torch.load: IndexError: pop from empty list
        "empty": b"",
        "not a checkpoint": b"<html>404 Not Found</html>",
    }
    paths = {}
    for i, (what, data) in enumerate(files.items()):
        paths[what] = tmp_path / f"bad{i}" / features_mod.WEIGHTS_FILE
        paths[what].parent.mkdir()
        paths[what].write_bytes(data)
    return paths


def test_corrupt_file_is_named_with_what_to_do(fake_weights, tmp_path):
    path, _ = fake_weights
    for what, bad in _corrupt_files(tmp_path, path.read_bytes()).items():
        with pytest.raises(CheckpointError) as err:
            vgg19_extractor(bad, device="cpu", quiet=True)
        text = str(err.value)
        assert text.startswith(f"VGG19 weights: checkpoint {bad} is not a readable state dict ("), (what, text)
        assert text.endswith(features_mod.BAD_WEIGHTS_ADVICE), (what, text)
        assert "delete it" in text and "COURSE_VGG19_WEIGHTS" in text and "train=True" not in text


def test_the_pop_from_empty_list_file(fake_weights, tmp_path):
    """The case of issue 12: the bare torch.load error said only "IndexError: pop from empty list"."""
    path, _ = fake_weights
    bad = tmp_path / features_mod.WEIGHTS_FILE
    bad.write_bytes(b"." + path.read_bytes()[1:])
    with pytest.raises(IndexError, match="pop from empty list"):
        torch.load(bad, weights_only=True)
    with pytest.raises(CheckpointError, match=r"(?s)VGG19 weights: checkpoint .*vgg19-dcbb9e9d\.pth is not a "
                                              r"readable state dict \(IndexError: pop from empty list\); delete it"):
        vgg19_extractor(bad, device="cpu", quiet=True)


def test_corrupt_file_in_auto_mode_falls_back_and_says_which_file(fake_weights, monkeypatch, tmp_path, capsys):
    path, _ = fake_weights
    bad = tmp_path / features_mod.WEIGHTS_FILE
    bad.write_bytes(path.read_bytes()[:1000])
    monkeypatch.setenv(features_mod.WEIGHTS_ENV, str(bad))
    ex = vgg19_extractor(device="cpu")
    out = capsys.readouterr().out.strip()
    assert ex.source == "random"
    assert out.startswith("Using VGG19 with random weights (seed 0) because loading the trained weights failed "
                          f"(CheckpointError: VGG19 weights: checkpoint {bad} is not a readable state dict")
    assert features_mod.BAD_WEIGHTS_ADVICE in out
    with pytest.raises(CheckpointError, match="delete it"):  # asked for the trained weights: no fallback
        vgg19_extractor("pretrained", device="cpu", quiet=True)


def test_unsafe_pickle_and_other_networks_are_refused(tmp_path):
    # A pickle holding an arbitrary object is refused (weights_only=True), not executed.
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"features.0.weight": NotAWeight()}, unsafe)
    with pytest.raises(CheckpointError, match=f"checkpoint {unsafe} is not a readable state dict"):
        vgg19_extractor(unsafe, device="cpu", quiet=True)
    other = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(CheckpointError, match=r"does not hold torchvision's VGG19 .*match the network's 32\); delete"):
        vgg19_extractor(other, device="cpu", quiet=True)
    half = tmp_path / "half.pth"
    feats = random_vgg19_features(0).state_dict()
    torch.save({f"features.{k}": v[:1] for k, v in feats.items()}, half)  # right names, wrong shapes
    with pytest.raises(CheckpointError, match="does not hold torchvision's VGG19"):
        vgg19_extractor(half, device="cpu", quiet=True)
    with pytest.raises(FileNotFoundError, match="VGG19 weights file not found: .*missing.pth"):
        vgg19_extractor(tmp_path / "missing.pth", device="cpu", quiet=True)


def test_extractor_arguments_checked():
    with pytest.raises(ValueError, match="pooling must be one of 'avg', 'max'; got 'mean'"):
        vgg19_extractor("random", pooling="mean", quiet=True)
    with pytest.raises(ValueError, match="normalize must be one of"):
        vgg19_extractor("random", normalize="channel", quiet=True)
    with pytest.raises(ValueError, match="weights must be one of 'auto', 'pretrained', 'random'"):
        vgg19_extractor(3, quiet=True)
