"""Training: one step lowers the loss, the budget stops the loop, label dropout, load/save."""

import json

import pytest
import torch

from course_lib.diffusion import make_schedule
from course_lib.diffusion.reverse import diffusion_loss
from course_lib.diffusion.training import (
    PRESETS,
    SHIPPED_CONFIGS,
    load_or_train_denoiser,
    load_pretrained,
    lr_at,
    make_model,
    preset,
    train_diffusion,
)
from course_lib.diffusion.unet import UNet


@pytest.fixture(scope="module")
def sched():
    return make_schedule("linear", 1000)


def _digits(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


def test_one_training_step_lowers_the_loss_on_a_fixed_batch(sched):
    torch.manual_seed(0)
    model = UNet(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, patch=2)
    x0, _ = _digits(16)
    t = torch.randint(0, 1000, (16,), generator=torch.Generator().manual_seed(1))
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = diffusion_loss(model, x0, sched, t=t, noise=noise)
    opt.zero_grad()
    before.backward()
    opt.step()
    after = diffusion_loss(model, x0, sched, t=t, noise=noise)
    assert after.item() < before.item()


def test_train_diffusion_learns_and_copies_the_ema(sched):
    torch.manual_seed(0)
    model = UNet(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, patch=2)
    x0, _ = _digits(64)
    result = train_diffusion(model, x0, sched, steps=40, batch_size=16, lr=2e-3, ema_decay=0.9,
                             progress=False)
    assert result.steps == 40 and len(result.losses) == 40 and result.stopped_by == "steps"
    assert sum(result.losses[-10:]) < sum(result.losses[:10])  # the noise is partly predictable
    for a, b in zip(model.state_dict().values(), result.ema.model.state_dict().values()):
        assert torch.equal(a, b)
    assert not model.training
    assert len(result.smoothed_losses(5)) == 40


def test_time_budget_stops_training(sched):
    model = UNet(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, patch=2)
    x0, _ = _digits(16)
    result = train_diffusion(model, x0, sched, steps=10_000_000, minutes=0.02, batch_size=4, progress=False)
    assert result.stopped_by == "time" and 0 < result.steps < 10_000_000
    assert result.seconds < 30


def test_labels_are_dropped_to_the_null_label(sched):
    seen = []

    class Spy(UNet):
        def forward(self, xt, t, labels=None):
            seen.append(labels.clone())
            return super().forward(xt, t, labels)

    model = Spy(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, patch=2, num_classes=10)
    x0, labels = _digits(64)
    train_diffusion(model, x0, sched, labels=labels, steps=25, batch_size=64, cond_drop_prob=0.3, progress=False)
    all_labels = torch.cat(seen)
    null_share = float((all_labels == 10).float().mean())
    assert 0.22 < null_share < 0.38
    assert set(all_labels.tolist()) <= set(range(11))


def test_train_arguments_are_checked(sched):
    model = UNet(base_channels=8, channel_mults=(1, 2), patch=2)
    x0, labels = _digits(8)
    with pytest.raises(ValueError, match="steps must be an integer"):
        train_diffusion(model, x0, sched, steps=0)
    with pytest.raises(ValueError, match="unconditional"):
        train_diffusion(model, x0, sched, labels=labels, steps=1)
    with pytest.raises(ValueError, match="images must have 4 dimensions"):
        train_diffusion(model, x0[:, 0], sched, steps=1)
    with pytest.raises(ValueError, match="cond_drop_prob"):
        train_diffusion(model, x0, sched, steps=1, cond_drop_prob=1.5)


def test_lr_schedule_warms_up_and_decays():
    assert lr_at(0.0, 1.0) < 0.01
    assert lr_at(0.02, 1.0) == pytest.approx(1.0)
    assert lr_at(1.0, 1.0) == pytest.approx(0.05)
    values = [lr_at(p / 100, 1.0) for p in range(2, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_presets_and_models():
    assert set(PRESETS) == {"smoke", "cpu", "gpu"}
    assert preset("cpu")["minutes"] <= 10  # the cpu budget: at most 10 minutes
    assert preset("smoke", steps=2)["steps"] == 2
    assert make_model("ddpm_mnist").num_classes is None
    assert make_model("ddpm_mnist_cond").null_label == 10
    with pytest.raises(ValueError, match="name must be one of"):
        make_model("ddpm_cifar")


def _fake_shipping(monkeypatch, tmp_path):
    import course_lib.checkpoints as ck

    monkeypatch.setattr(ck, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(ck, "MANIFEST", tmp_path / "manifest.json")
    return ck


def test_load_pretrained_rebuilds_from_the_manifest_config(monkeypatch, tmp_path):
    ck = _fake_shipping(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError, match="train_ddpm.py --conditional"):
        load_pretrained("ddpm_mnist_cond")
    config = {"model": dict(SHIPPED_CONFIGS["ddpm_mnist"]["model"], base_channels=16),
              "schedule": dict(kind="cosine", num_steps=200)}
    model = UNet(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["model"].items()})
    with torch.no_grad():
        model.out.bias.fill_(0.25)
    path = tmp_path / "ddpm_mnist.pt"
    ck.save_state_dict(model.state_dict(), path)
    ck.register_shipped("ddpm_mnist", path, data="test", seed=0, steps=1, seconds=0.0, device="cpu",
                        config=config)
    assert json.loads((tmp_path / "manifest.json").read_text())["ddpm_mnist"]["config"] == config
    loaded, schedule = load_pretrained("ddpm_mnist")
    assert schedule.num_steps == 200 and schedule.kind == "cosine"
    assert loaded.config["base_channels"] == 16 and not loaded.training
    with torch.no_grad():
        assert torch.allclose(loaded(torch.zeros(1, 1, 28, 28), 3), torch.full((1, 1, 28, 28), 0.25))


def test_load_or_train_denoiser_trains_when_nothing_is_shipped(monkeypatch, tmp_path, capsys):
    _fake_shipping(monkeypatch, tmp_path)
    from course_lib.data import Digits

    x0, labels = _digits(16)
    model, schedule, info = load_or_train_denoiser(
        "ddpm_mnist_cond", recipe=dict(steps=2, minutes=1.0, batch_size=4), data=Digits(x0, labels, "fake"),
        path=tmp_path / "mine.pt", progress=False)
    assert info["source"] == "trained" and info["result"].steps == 2
    assert "not in this copy" in capsys.readouterr().out
    assert (tmp_path / "mine.pt").is_file() and schedule.num_steps == 1000


def test_training_leaves_the_weights_in_the_ordinary_memory_layout():
    """train_diffusion may use channels-last weights on a CPU for speed; the model it returns does not."""
    torch.manual_seed(0)
    model = UNet(base_channels=8, channel_mults=(1, 2), patch=2)
    x0 = torch.rand(8, 1, 28, 28) * 2 - 1
    train_diffusion(model, x0, make_schedule("cosine", 50), steps=2, batch_size=4, progress=False)
    assert all(p.is_contiguous() for p in model.parameters())
