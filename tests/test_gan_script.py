"""scripts/train_dcgan.py trains in one train_gan call and saves a loadable generator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from course_lib.checkpoints import load_weights
from course_lib.gan import DCGANGenerator

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_dcgan.py"


def _script():
    spec = importlib.util.spec_from_file_location("train_dcgan", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_dcgan_writes_a_generator_and_its_samples(tmp_path, capsys):
    out, png = tmp_path / "g.pt", tmp_path / "g.png"
    assert _script().main(["--steps", "2", "--batch-size", "8", "--device", "cpu", "--out", str(out),
                           "--samples", str(png), "--seed", "3"]) == 0
    assert png.is_file() and png.stat().st_size > 0
    model = load_weights(DCGANGenerator(), out)
    assert model(torch.zeros(2, model.latent_dim)).shape == (2, 1, 28, 28)
    assert "trained 2 steps" in capsys.readouterr().out


def test_train_dcgan_refuses_bad_paths_and_devices_before_training(tmp_path):
    script = _script()
    with pytest.raises(ValueError, match="--out must be a file path"):
        script.main(["--steps", "1", "--out", str(tmp_path)])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="--device='cuda' but this machine has no CUDA GPU"):
            script.main(["--steps", "1", "--device", "cuda", "--out", str(tmp_path / "g.pt")])
    assert not (tmp_path / "g.pt").exists()
