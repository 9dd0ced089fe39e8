import pytest
import torch
from torch import nn

from course_lib import checkpoints
from course_lib.checkpoints import (
    ChecksumError,
    file_sha256,
    load_or_train,
    load_state_dict,
    save_state_dict,
)


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))


def test_round_trip_and_checksum(tmp_path):
    model = small_model()
    path = tmp_path / "m.pt"
    sha = save_state_dict(model.state_dict(), path)
    assert sha == file_sha256(path)
    state = load_state_dict(path, sha256=sha)
    for k, v in model.state_dict().items():
        assert torch.equal(state[k], v)


def test_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "m.pt"
    sha = save_state_dict(small_model().state_dict(), path)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ChecksumError, match="corrupt or was replaced"):
        load_state_dict(path, sha256=sha)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": small_model()}, path)  # a whole module, not a state dict
    with pytest.raises(Exception, match="(?i)weights.only|unsupported|global"):
        load_state_dict(path)


def test_a_crash_while_writing_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    good_sha = save_state_dict(small_model().state_dict(), path)
    real_save = torch.save

    def crash(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_state_dict(small_model().state_dict(), path)
    monkeypatch.setattr(torch, "save", real_save)
    assert file_sha256(path) == good_sha
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_save_refuses_a_module():
    with pytest.raises(TypeError, match="model.state_dict\\(\\)"):
        save_state_dict(small_model(), "x.pt")


def test_load_or_train_trains_saves_then_loads(tmp_path, capsys):
    path = tmp_path / "trained.pt"
    calls = []

    def train_fn(model):
        calls.append(1)
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.5)
        return {"loss": [1.0, 0.5]}

    model, info = load_or_train(small_model(), train_fn, path=path)
    assert info["source"] == "trained" and info["result"] == {"loss": [1.0, 0.5]} and path.is_file()
    again, info2 = load_or_train(small_model(), train_fn, path=path)
    assert info2["source"] == "file" and len(calls) == 1
    assert all(float(p.detach().flatten()[0]) == 0.5 for p in again.parameters())
    _, info3 = load_or_train(small_model(), train_fn, path=path, train=True)
    assert info3["source"] == "trained" and len(calls) == 2
    out = capsys.readouterr().out
    assert "Trained in" in out and "Loaded your own checkpoint" in out


def test_load_or_train_uses_a_shipped_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checkpoints, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(checkpoints, "MANIFEST", tmp_path / "manifest.json")
    source = small_model()
    save_state_dict(source.state_dict(), tmp_path / "tiny.pt")
    checkpoints.register_shipped("tiny", tmp_path / "tiny.pt", data="none", steps=0)
    model, info = load_or_train(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)), shipped="tiny")
    assert info["source"] == "shipped"
    assert torch.equal(model[0].weight, source[0].weight)
    assert "SHA-256 verified" in capsys.readouterr().out
    with pytest.raises(KeyError, match="no shipped checkpoint named 'nope'; shipped: tiny"):
        load_or_train(small_model(), shipped="nope")
    with pytest.raises(ValueError, match="no checkpoint to load and no train_fn"):
        load_or_train(small_model(), path=tmp_path / "missing.pt")


def test_shipped_manifest_matches_the_files():
    for name, record in checkpoints.shipped_checkpoints().items():
        path = checkpoints.SHIPPED_DIR / record["file"]
        assert path.is_file(), f"{name}: {path} is missing"
        assert file_sha256(path) == record["sha256"], f"{name}: SHA-256 differs from the manifest"
        for key in ("data", "seed", "steps", "seconds", "device"):
            assert key in record, f"{name}: the manifest must record {key}"
