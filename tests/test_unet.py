"""The U-Net: time embedding, shapes, conditioning with a null label, EMA."""

import math

import pytest
import torch

from course_lib.diffusion.unet import UNet, build_unet, count_parameters, timestep_embedding
from course_lib.ema import EMA


def _perturbed(model, seed=0, scale=0.05):
    """Zero-initialised output layers make a fresh UNet predict 0; perturb to test the wiring."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return model.eval()


def test_timestep_embedding_is_sinusoidal():
    t = torch.tensor([0, 1, 10, 999])
    emb = timestep_embedding(t, 16)
    assert emb.shape == (4, 16)
    half = 8
    omega = 10_000 ** (-torch.arange(half) / half)
    torch.testing.assert_close(emb[:, :half], torch.sin(t[:, None] * omega))
    torch.testing.assert_close(emb[:, half:], torch.cos(t[:, None] * omega))
    torch.testing.assert_close(emb[:, :half] ** 2 + emb[:, half:] ** 2, torch.ones(4, half))
    assert torch.equal(emb[0], torch.cat([torch.zeros(half), torch.ones(half)]))
    # every timestep gets its own code
    all_t = timestep_embedding(torch.arange(1000), 32)
    dists = torch.cdist(all_t, all_t) + torch.eye(1000) * 10
    assert float(dists.min()) > 1e-3


@pytest.mark.parametrize("cfg", [
    dict(base_channels=8, channel_mults=(1, 2, 2), num_res_blocks=1, patch=1, image_size=28),
    dict(base_channels=16, channel_mults=(1, 2), num_res_blocks=2, patch=2, attention_levels=(1,)),
    dict(base_channels=16, channel_mults=(1,), num_res_blocks=1, patch=4),
    dict(base_channels=8, channel_mults=(1, 2, 2, 2), patch=1, image_size=32, in_channels=3),
])
def test_unet_output_shape_and_time_dependence(cfg):
    m = _perturbed(UNet(**cfg))
    size, ch = cfg.get("image_size", 28), cfg.get("in_channels", 1)
    x = torch.randn(3, ch, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = m(x, torch.tensor([0, 500, 999]))
        assert out.shape == x.shape
        a, b = m(x, 10), m(x, 900)
    assert not torch.allclose(a, b, atol=1e-4), "the prediction must depend on t"


def test_fresh_unet_predicts_zero_and_blocks_start_as_identity():
    m = UNet(base_channels=8, channel_mults=(1, 2), patch=2)
    with torch.no_grad():
        assert torch.equal(m(torch.ones(2, 1, 28, 28), 5), torch.zeros(2, 1, 28, 28))


def test_conditioning_and_null_label():
    m = _perturbed(UNet(base_channels=8, channel_mults=(1, 2), num_classes=10, patch=2))
    assert m.null_label == 10
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        none = m(x, 100)
        null = m(x, 100, torch.tensor([10, 10]))
        three = m(x, 100, torch.tensor([3, 3]))
        seven = m(x, 100, torch.tensor([7, 7]))
    torch.testing.assert_close(none, null)
    assert not torch.allclose(three, seven, atol=1e-5)
    unconditional = UNet(base_channels=8, channel_mults=(1, 2), patch=2)
    with pytest.raises(AttributeError, match="null_label"):
        _ = unconditional.null_label


def test_gradients_reach_every_parameter():
    m = _perturbed(UNet(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_classes=10,
                        patch=2, attention_levels=(1,))).train()
    out = m(torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(2)), torch.tensor([3, 600]),
            torch.tensor([1, 10]))
    out.square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    # the label embedding rows of unused labels get zero (not missing) gradients
    assert not missing


def test_default_unet_is_the_model_the_course_trains():
    """UNet() is notebook 04's model: 0.64 M parameters, v objective, cosine schedule (issue 12)."""
    m = UNet()
    assert m.prediction == "v" and m.patch == 2 and m.config["channel_mults"] == [1, 2]
    assert m.schedule.kind == "cosine" and m.schedule.num_steps == 1000
    assert 0.6e6 < count_parameters(m) < 0.7e6


def test_config_round_trip_and_size():
    from course_lib.checkpoints import shipped_checkpoints

    for name in ("ddpm_mnist", "ddpm_mnist_cond"):
        cfg = shipped_checkpoints()[name]["config"]
        m = build_unet(cfg)
        assert m.full_config()["model"] == cfg["model"]
        assert m.full_config()["schedule"] == cfg["schedule"]
        # shipped checkpoints stay under ~8 MB (float16 weights)
        assert count_parameters(m) * 2 < 8e6, name
    m = UNet(base_channels=16, channel_mults=(1, 2), patch=2, num_classes=10, schedule={"kind": "linear", "num_steps": 50})
    m2 = build_unet(m.full_config())
    m2.load_state_dict(m.state_dict())
    assert m2.schedule.num_steps == 50 and m2.schedule.kind == "linear"


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        UNet(channel_mults=(1, 2, 2), patch=2, image_size=28)
    with pytest.raises(ValueError, match="multiple of 8"):
        UNet(base_channels=12)
    with pytest.raises(ValueError, match="prediction must be one of"):
        UNet(prediction="x0")
    with pytest.raises(ValueError, match="kind must be one of"):
        UNet(schedule={"kind": "exponential"})


def test_ema_update_rule():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, decay=0.9)
    start = [p.detach().clone() for p in ema.model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    d = ema.current_decay()
    assert d == pytest.approx(min(0.9, 1 / 10))  # warm-up: (1 + 0)/(10 + 0)
    ema.update(model)
    for s, e, p in zip(start, ema.model.parameters(), model.parameters()):
        torch.testing.assert_close(e, d * s + (1 - d) * p)
    for _ in range(200):
        ema.update(model)
    assert ema.current_decay() == 0.9
    for e, p in zip(ema.model.parameters(), model.parameters()):
        torch.testing.assert_close(e, p, atol=1e-6, rtol=0)  # converged to a constant model
    assert not any(p.requires_grad for p in ema.model.parameters())
    with pytest.raises(ValueError, match="decay"):
        EMA(model, decay=1.0)
    assert math.isclose(EMA(model, 0.999).current_decay(), 0.1)
