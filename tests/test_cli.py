"""The command line end to end: python -m course_lib sample … writes a grid or a tensor."""

import subprocess
import sys

import pytest
import torch
from PIL import Image

from course_lib.cli import main


def test_module_entry_point_samples_the_unconditional_model(tmp_path):
    out = tmp_path / "x.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "course_lib", "sample", "ddpm", "--n", "3", "--sampler", "ddim",
         "--steps", "4", "--seed", "0", "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    x = torch.load(out, weights_only=True)
    assert x.shape == (3, 1, 28, 28) and float(x.min()) >= -1 and float(x.max()) <= 1
    assert "wrote (3, 1, 28, 28)" in proc.stdout


def test_same_seed_same_images_and_png_grid(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    for path in (a, b):
        assert main(["sample", "ddpm-cond", "--label", "7", "--guidance-scale", "2", "--n", "2",
                     "--steps", "3", "--out", str(path), "--quiet"]) == 0
    assert torch.equal(torch.load(a, weights_only=True), torch.load(b, weights_only=True))
    png = tmp_path / "gan.png"
    assert main(["sample", "dcgan", "--n", "6", "--nrow", "3", "--out", str(png)]) == 0
    assert Image.open(png).size == (2 + 3 * 30, 2 + 2 * 30)


def test_listing_the_checkpoints(capsys):
    assert main(["checkpoints"]) == 0
    out = capsys.readouterr().out
    for name in ("ddpm_mnist", "ddpm_mnist_cond", "dcgan_mnist", "mnist_classifier"):
        assert name in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "ddpm", "--out", "x.jpg"], "--out must end in .png or .pt"),
        (["sample", "ddpm-cond", "--label", "12", "--out", "x.pt"], "--label must be a digit in [0, 9]"),
        (["sample", "ddpm", "--label", "3", "--out", "x.pt"], "--label needs the class-conditional model"),
        (["sample", "ddpm", "--eta", "-1", "--out", "x.pt"], "--eta must be >= 0"),
    ],
)
def test_bad_arguments_are_named(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=message.replace("[", r"\[").replace("]", r"\]")):
        main(argv)


def test_bad_n_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit):
        main(["sample", "ddpm", "--n", "0", "--out", "x.pt"])
    assert "must be an integer >= 1" in capsys.readouterr().err
