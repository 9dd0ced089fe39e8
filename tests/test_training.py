"""Training a denoiser: one step lowers the loss, the budget stops the loop, label dropout, load/save."""

import json

import pytest
import torch
from conftest import seeded

from course_lib.data import Digits
from course_lib.diffusion.reverse import diffusion_loss
from course_lib.diffusion.training import PRESETS, load_or_train_denoiser, preset, train_diffusion
from course_lib.diffusion.unet import UNet
from course_lib.registry import load_pretrained
from course_lib.train_loop import TrainRecord

SMALL = dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, patch=2)


def _digits(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


def test_one_training_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = UNet(**SMALL, schedule={"kind": "linear", "num_steps": 1000})
    x0, _ = _digits(16)
    t = torch.randint(0, 1000, (16,), generator=torch.Generator().manual_seed(1))
    noise = seeded(2, x0.shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = diffusion_loss(model, x0, t, noise, model.schedule)
    opt.zero_grad()
    before.backward()
    opt.step()
    after = diffusion_loss(model, x0, t, noise, model.schedule)
    assert after.item() < before.item()


def test_train_diffusion_learns_and_copies_the_ema():
    torch.manual_seed(0)
    model = UNet(**SMALL)
    x0, _ = _digits(64)
    record = train_diffusion(model, x0, steps=40, batch_size=16, lr=2e-3, ema_decay=0.9, progress=False,
                             device="cpu")
    assert isinstance(record, TrainRecord)
    assert record.steps == 40 and len(record.history["loss"]) == 40 and record.stopped_by == "steps"
    assert sum(record.history["loss"][-10:]) < sum(record.history["loss"][:10])  # the noise is partly predictable
    assert not model.training
    assert len(record.smoothed("loss", 5)) == 40


def test_train_diffusion_is_reproducible_with_a_seed():
    x0, _ = _digits(32)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # the initial weights
        model = UNet(**SMALL)
        runs.append(train_diffusion(model, x0, steps=5, batch_size=8, seed=3, progress=False, device="cpu"))
    assert runs[0].history["loss"] == runs[1].history["loss"]


def test_time_budget_stops_training():
    model = UNet(**SMALL)
    x0, _ = _digits(16)
    record = train_diffusion(model, x0, steps=10_000_000, minutes=0.02, batch_size=4, progress=False, device="cpu")
    assert record.stopped_by == "time" and 0 < record.steps < 10_000_000
    assert record.seconds < 30


def test_labels_are_dropped_to_the_null_label():
    seen = []

    class Spy(UNet):
        def forward(self, xt, t, labels=None):
            seen.append(labels.clone())
            return super().forward(xt, t, labels)

    model = Spy(**SMALL, num_classes=10)
    x0, labels = _digits(64)
    train_diffusion(model, (x0, labels), steps=25, batch_size=64, cond_drop_prob=0.3, progress=False, device="cpu")
    all_labels = torch.cat(seen)
    null_share = float((all_labels == 10).float().mean())
    assert 0.22 < null_share < 0.38
    assert set(all_labels.tolist()) <= set(range(11))


def test_train_arguments_are_checked():
    model = UNet(**SMALL)
    x0, labels = _digits(8)
    with pytest.raises(ValueError, match="steps must be an integer"):
        train_diffusion(model, x0, steps=0)
    with pytest.raises(ValueError, match="give steps=, minutes= or both"):
        train_diffusion(model, x0)
    with pytest.raises(ValueError, match="conditional=True needs a class-conditional model"):
        train_diffusion(model, (x0, labels), steps=1, conditional=True)
    with pytest.raises(ValueError, match="data must have 4 dimensions"):
        train_diffusion(model, x0[:, 0], steps=1)
    with pytest.raises(ValueError, match="cond_drop_prob"):
        train_diffusion(UNet(**SMALL, num_classes=10), (x0, labels), steps=1, cond_drop_prob=1.5)
    with pytest.raises(ValueError, match=r"data must hold images of shape \(N, 1, 28, 28\)"):
        train_diffusion(model, torch.zeros(4, 1, 32, 32), steps=1)


def test_lr_schedule_warms_up_and_decays():
    from course_lib.train_loop import lr_at

    assert lr_at(0.0, 1.0) < 0.01
    assert lr_at(0.02, 1.0) == pytest.approx(1.0)
    assert lr_at(1.0, 1.0) == pytest.approx(0.05)
    values = [lr_at(p / 100, 1.0) for p in range(2, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_presets():
    assert set(PRESETS) == {"smoke", "cpu", "gpu"}
    assert preset("cpu")["minutes"] <= 10  # the cpu budget: at most 10 minutes
    assert preset("smoke", steps=2)["steps"] == 2
    with pytest.raises(ValueError, match="budget must be one of"):
        preset("tpu")


def _fake_shipping(monkeypatch, tmp_path):
    import course_lib.checkpoints as ck

    monkeypatch.setattr(ck, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(ck, "MANIFEST", tmp_path / "manifest.json")
    return ck


def test_load_pretrained_rebuilds_from_the_manifest_config(monkeypatch, tmp_path):
    ck = _fake_shipping(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError, match="train_ddpm.py --conditional"):
        load_pretrained("ddpm_mnist_cond")
    model = UNet(base_channels=16, schedule={"kind": "cosine", "num_steps": 200})
    with torch.no_grad():
        model.out.bias.fill_(0.25)
    path = tmp_path / "ddpm_mnist.pt"
    ck.save_state_dict(model.state_dict(), path)
    ck.register_shipped("ddpm_mnist", path, data="test", seed=0, steps=1, seconds=0.0, device="cpu",
                        config=model.full_config())
    assert json.loads((tmp_path / "manifest.json").read_text())["ddpm_mnist"]["config"] == model.full_config()
    loaded = load_pretrained("ddpm_mnist", device="cpu")
    assert loaded.schedule.num_steps == 200 and loaded.schedule.kind == "cosine"
    assert loaded.config["base_channels"] == 16 and not loaded.training and loaded.record["steps"] == 1
    with torch.no_grad():
        assert torch.allclose(loaded(torch.zeros(1, 1, 28, 28), 3), torch.full((1, 1, 28, 28), 0.25))


def test_load_or_train_denoiser_trains_when_nothing_is_shipped(monkeypatch, tmp_path, capsys):
    _fake_shipping(monkeypatch, tmp_path)
    x0, labels = _digits(16)
    model, info = load_or_train_denoiser(
        "ddpm_mnist_cond", recipe=dict(steps=2, minutes=1.0, batch_size=4), data=Digits(x0, labels, "fake"),
        path=tmp_path / "mine.pt", progress=False, device="cpu")
    assert info["source"] == "trained" and info["result"].steps == 2
    assert "not in this copy" in capsys.readouterr().out
    assert (tmp_path / "mine.pt").is_file() and model.schedule.num_steps == 1000 and model.null_label == 10
    again, info = load_or_train_denoiser("ddpm_mnist_cond", path=tmp_path / "mine.pt", progress=False, device="cpu")
    assert info["source"] == "file"


def test_training_leaves_the_weights_in_the_ordinary_memory_layout():
    """train_diffusion may use channels-last weights on a CPU for speed; the model it returns does not."""
    torch.manual_seed(0)
    model = UNet(**SMALL, schedule={"kind": "cosine", "num_steps": 50})
    x0, _ = _digits(8)
    train_diffusion(model, x0, steps=2, batch_size=4, progress=False, device="cpu")
    assert all(p.is_contiguous() for p in model.parameters())
