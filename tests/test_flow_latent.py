"""Class-conditional flow models and the latent flow of notebook 10 (Stable Diffusion 3 in miniature):
labels reach the network, the VAE stays frozen, digits encode to unit-variance latents and samples
decode to images, the run budgets, and the registry entries of the shipped flow models."""

import pytest
import torch

from course_lib.data import load_mnist
from course_lib.flow.latent import LATENT_VELOCITY, LatentFlow, build_latent_flow
from course_lib.flow.matching import FlowUNet, build_flow_unet, flow_matching_loss
from course_lib.flow.ode import sample_flow
from course_lib.flow.training import PRESETS, preset, train_flow
from course_lib.registry import entry, has_shipped, load_pretrained
from course_lib.vae.models import build_vae


def tiny_vae():
    torch.manual_seed(0)
    return build_vae({"latent_shape": [4, 7, 7], "width": 8, "hidden": 16, "scaling_factor": 2.0})


def test_a_conditional_flow_unet_hears_its_labels_and_round_trips_its_config():
    torch.manual_seed(0)
    flow = FlowUNet(base_channels=8, num_classes=10)
    with torch.no_grad():   # the U-Net's zero-initialised layers would hide the label at the start
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x, time = torch.randn(2, 1, 28, 28), torch.tensor([0.3, 0.7])
    with torch.no_grad():
        threes, sevens = flow(x, time, torch.tensor([3, 3])), flow(x, time, torch.tensor([7, 7]))
    assert not torch.allclose(threes, sevens)
    again = build_flow_unet(flow.full_config())
    again.load_state_dict(flow.state_dict())
    assert again.num_classes == 10
    with torch.no_grad():
        assert torch.equal(again(x, time, torch.tensor([3, 3])), threes)
    loss = flow_matching_loss(flow, x, torch.randn_like(x), time, torch.tensor([3, 3]))
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_latent_flow_encodes_to_scaled_means_decodes_and_keeps_its_vae_frozen():
    vae = tiny_vae()
    model = LatentFlow(vae, num_classes=10, base_channels=8, num_res_blocks=1)
    assert model.sample_shape == (4, 7, 7) and model.num_classes == 10
    assert all(not p.requires_grad for p in model.vae.parameters())
    assert all(p.requires_grad for p in model.velocity.parameters())
    model.train()
    assert model.training and not model.vae.training          # train() leaves the VAE in eval mode
    images = torch.rand(3, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        mu, _ = vae.encode(images)
    assert torch.allclose(model.encode(images, chunk=2), 2.0 * mu)          # z_0 = s · μ_φ(x)
    z = torch.randn(3, 4, 7, 7)
    assert torch.allclose(model.decode(z), vae.decode(z / 2.0))              # x = decoder(z / s)
    again = build_latent_flow(model.full_config())
    again.load_state_dict(model.state_dict())
    assert again.full_config() == model.full_config()
    assert {**LATENT_VELOCITY, "base_channels": 8, "num_res_blocks": 1}["patch"] == 1
    with pytest.raises(TypeError, match="vae must be a ConvVAE"):
        LatentFlow(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="velocity works on"):
        LatentFlow(vae, FlowUNet(base_channels=8))


def test_sampling_a_latent_flow_decodes_images_and_asks_for_every_class_in_turn():
    model = LatentFlow(tiny_vae(), num_classes=10, base_channels=8, num_res_blocks=1)
    seen = []
    hook = model.velocity.net.register_forward_hook(lambda m, args, out: seen.append(args[2].clone()))
    images, run = sample_flow(model, 12, nfe=2, progress=False, return_trajectory=True)
    hook.remove()
    assert images.shape == (12, 1, 28, 28) and float(images.abs().max()) <= 1
    assert run.x.shape == (3, 12, 4, 7, 7)                    # the path itself stays in latent space
    assert torch.equal(seen[0], torch.arange(12) % 10)
    with pytest.raises(ValueError, match=r"labels must be classes in \[0, 9\]"):
        sample_flow(model, 2, labels=torch.tensor([1, 10]), progress=False)
    with pytest.raises(ValueError, match="unconditional"):
        sample_flow(FlowUNet(base_channels=8), 2, labels=3, progress=False)


def test_train_flow_trains_a_conditional_latent_flow_on_labelled_digits():
    digits = load_mnist("train", limit=256, quiet=True)
    model = LatentFlow(tiny_vae(), num_classes=10, base_channels=8, num_res_blocks=1)
    vae_before = {k: v.clone() for k, v in model.vae.state_dict().items()}
    record = train_flow(model, digits, steps=60, batch_size=32, lr=3e-3, ema_decay=None, progress=False)
    losses = record.history["loss"]
    assert record.steps == 60
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10    # it learns (latents of unit scale: ~2 at the start)
    assert all(torch.equal(v, model.vae.state_dict()[k]) for k, v in vae_before.items())
    with pytest.raises(TypeError, match="Digits"):
        train_flow(model, torch.randn(8, 4, 7, 7), steps=1, progress=False)


def test_the_run_budgets_train_a_latent_flow():
    assert set(PRESETS) == {"smoke", "cpu", "gpu"}
    assert PRESETS["cpu"]["minutes"] <= 10
    recipe = preset("smoke")
    assert recipe["steps"] == 3 and set(recipe["model"]) <= set(LATENT_VELOCITY)
    assert preset("cpu", lr=1e-3)["lr"] == 1e-3


@pytest.mark.parametrize("name", ["flow", "flow_reflow"])
def test_the_shipped_flow_models_load_and_sample(name):
    if not has_shipped(name):
        pytest.skip(f"{name} is not shipped in this copy")
    model = load_pretrained(name, device="cpu")
    images = entry(name).sample(model, 4, seed=0, device="cpu", progress=False, nfe=2)
    assert images.shape == (4, 1, 28, 28) and float(images.abs().max()) <= 1
    if name == "flow":
        assert isinstance(model, LatentFlow) and model.num_classes == 10
        threes = entry(name).sample(model, 2, seed=0, device="cpu", progress=False, nfe=2, label=3)
        assert threes.shape == (2, 1, 28, 28)
    else:
        assert isinstance(model, FlowUNet) and model.num_classes is None


def test_the_command_line_asks_the_latent_flow_for_one_digit(tmp_path):
    if not has_shipped("flow"):
        pytest.skip("flow is not shipped in this copy")
    from course_lib.classifier import classify
    from course_lib.cli import main

    out = tmp_path / "sevens.pt"
    assert main(["sample", "flow", "--label", "7", "--steps", "4", "--n", "8", "--out", str(out), "--quiet",
                 "--device", "cpu"]) == 0
    sevens = torch.load(out, weights_only=True)
    assert sevens.shape == (8, 1, 28, 28)
    assert (classify(sevens)[0].argmax(1) == 7).float().mean() >= 0.75   # the label is obeyed
