"""Bad input gets a clear error and nothing is lost (issue 12): every case the issue lists that
lives in the shared code, the diffusion family and the scores, pinned. (The GAN and style cases
are pinned in their own test files; the CLI's in test_cli.py.)"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from course_lib import checkpoints as ck
from course_lib.checkpoints import CheckpointError, load_or_train
from course_lib.diffusion.training import train_diffusion
from course_lib.diffusion.unet import UNet

SMALL = dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, patch=2)


def _digits(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1


# ----------------------------------------------------------------------------- a learner's own checkpoint


def _small():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))


def _never(_model):
    pytest.fail("trained although a checkpoint was there to load")


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "empty"])
def test_a_damaged_own_checkpoint_names_its_file_and_what_to_do(tmp_path, damage):
    path = tmp_path / "mine.pt"
    ck.save_state_dict(_small().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes({"corrupt": b"\x00garbage" * 50, "truncated": data[: len(data) // 2], "empty": b""}[damage])
    with pytest.raises(CheckpointError) as err:
        load_or_train(_small(), _never, path=path, quiet=True)
    message = str(err.value)
    assert str(path) in message and "delete it and train again (train=True)" in message
    assert "\n" not in message


def test_a_checkpoint_of_another_architecture_names_the_mismatch_not_a_state_dict_dump(tmp_path):
    path = tmp_path / "mine.pt"
    ck.save_state_dict(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)).state_dict(), path)
    with pytest.raises(CheckpointError, match=r"another architecture .*shape: 0.weight \(8, 3\) vs \(4, 3\)") as err:
        load_or_train(_small(), _never, path=path, quiet=True)
    assert str(path) in str(err.value) and len(str(err.value)) < 600


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="holds a Tensor, not a state dict"):
        ck.load_state_dict(path)


def test_load_or_train_checks_the_path_before_training(tmp_path):
    """The training used to run first and then fail to save, losing it (issue 12)."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for bad in (blocker / "sub" / "mine.pt", tmp_path):
        with pytest.raises((PermissionError, ValueError), match="path"):
            load_or_train(_small(), lambda m: pytest.fail("trained before checking the path"), path=bad,
                          train=True, quiet=True)


def test_a_corrupt_manifest_names_the_file(monkeypatch, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"ddpm_mnist": {"file": ')
    monkeypatch.setattr(ck, "MANIFEST", manifest)
    with pytest.raises(CheckpointError, match="manifest.json is not valid JSON.*git checkout"):
        ck.shipped_checkpoints()
    manifest.write_text(json.dumps([1, 2]))
    with pytest.raises(CheckpointError, match="must hold a JSON object"):
        ck.shipped_checkpoints()


def test_a_corrupt_shipped_checkpoint_fails_its_checksum(monkeypatch, tmp_path):
    from course_lib.registry import load_pretrained

    record = ck.shipped_checkpoints()["ddpm_mnist"]
    (tmp_path / record["file"]).write_bytes(b"flipped bits")
    monkeypatch.setattr(ck, "SHIPPED_DIR", tmp_path)
    with pytest.raises(ck.ChecksumError, match=f"{record['file']} .*corrupt or was replaced"):
        load_pretrained("ddpm_mnist", device="cpu")


# ----------------------------------------------------------------------------- training arguments


@pytest.mark.parametrize("kwargs, match", [
    (dict(grad_clip=-1), r"grad_clip must be a finite number in \(0, inf\]"),
    (dict(grad_clip=float("nan")), "grad_clip must be a finite number"),
    (dict(lr=0.0), "lr must be a finite number"),
    (dict(ema_decay=1.5), r"ema_decay must be a finite number in \[0, 1\)"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(minutes=-1), "minutes must be a finite number"),
    (dict(seed=-3), "seed must be an integer >= 0"),
    (dict(device="cuda:7"), "device='cuda:7' but this machine has"),
])
def test_train_diffusion_names_the_bad_argument(kwargs, match, monkeypatch):
    """grad_clip=-1 used to train silently uphill (loss 1.5 → 69); decay errors named `decay`."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises((ValueError, TypeError), match=match):
        train_diffusion(UNet(**SMALL), _digits(), **{"steps": 1, **kwargs})


@pytest.mark.parametrize("images, match", [
    ((torch.rand(8, 1, 28, 28) * 255), r"data must be in \[-1, 1\].*divide by 127.5 and subtract 1"),
    ((torch.rand(8, 1, 28, 28) * 255).to(torch.uint8), r"data must be float images in \[-1, 1\].*127.5"),
    (torch.full((8, 1, 28, 28), float("nan")), "data contains NaN"),
])
def test_images_outside_the_model_range_are_refused_by_training(images, match):
    with pytest.raises((ValueError, TypeError), match=match):
        train_diffusion(UNet(**SMALL), images, steps=1)


# ----------------------------------------------------------------------------- scores and pictures


@pytest.mark.parametrize("images, match", [
    ((torch.rand(4, 1, 28, 28) * 255), r"images must be in \[-1, 1\].*divide by 127.5"),
    ((torch.rand(4, 1, 28, 28) * 255).to(torch.uint8), "images must be float images"),
])
def test_scores_refuse_0_255_images(images, match):
    from course_lib.metrics import score_digits

    with pytest.raises((ValueError, TypeError), match=match):
        score_digits(images)


@pytest.mark.parametrize("call", ["show_images", "save_images", "image_grid"])
def test_pictures_refuse_0_255_images(call, tmp_path):
    from course_lib import viz

    images = torch.rand(4, 1, 28, 28) * 255
    args = (images, tmp_path / "x.png") if call == "save_images" else (images,)
    with pytest.raises(ValueError, match="divide by 127.5 and subtract 1"):
        getattr(viz, call)(*args)
    with pytest.raises(TypeError, match="convert with images.float"):
        getattr(viz, call)(images.to(torch.uint8), *args[1:])


def test_noised_images_still_show():
    """x_t goes past [−1, 1]; the pictures clamp it rather than refuse it."""
    from course_lib.viz import image_grid

    xt = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 3
    assert image_grid(xt).shape[0] == 3


# ----------------------------------------------------------------------------- a string for a Schedule


def test_a_string_where_a_schedule_is_expected():
    from course_lib.diffusion import chain_and_closed_form
    from course_lib.diffusion.reverse_figures import plot_sampler_variances
    from course_lib.diffusion.samplers import guided_noise

    with pytest.raises(TypeError, match="schedule must be a Schedule"):
        plot_sampler_variances("linear")
    with pytest.raises(TypeError, match="schedule must be a Schedule"):
        chain_and_closed_form(0.5, [1], "cosine")
    with pytest.raises(TypeError, match="schedule must be a Schedule"):
        guided_noise(UNet(**SMALL), _digits(2), 3, "cosine")
