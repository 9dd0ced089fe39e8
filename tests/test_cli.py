"""The command line end to end: python -m course_lib sample NAME … writes a grid or a tensor, and
every bad argument is answered in one line naming it, before any work (issue 12)."""

import subprocess
import sys

import pytest
import torch
from PIL import Image

from course_lib.cli import main
from course_lib.registry import generators


def test_module_entry_point_samples_the_unconditional_model(tmp_path):
    out = tmp_path / "x.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "course_lib", "sample", "ddpm", "--n", "3", "--sampler", "ddim",
         "--steps", "4", "--seed", "0", "--out", str(out), "--quiet", "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    x = torch.load(out, weights_only=True)
    assert x.shape == (3, 1, 28, 28) and float(x.min()) >= -1 and float(x.max()) <= 1
    assert "wrote (3, 1, 28, 28) from ddpm_mnist" in proc.stdout


def test_same_seed_same_images_and_png_grid(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    for path in (a, b):
        assert main(["sample", "ddpm-cond", "--label", "7", "--guidance-scale", "2", "--n", "2",
                     "--steps", "3", "--out", str(path), "--quiet", "--device", "cpu"]) == 0
    assert torch.equal(torch.load(a, weights_only=True), torch.load(b, weights_only=True))
    png = tmp_path / "gan.png"
    assert main(["sample", "dcgan", "--n", "6", "--nrow", "3", "--out", str(png), "--device", "cpu"]) == 0
    assert Image.open(png).size == (2 + 3 * 30, 2 + 2 * 30)


@pytest.mark.parametrize("name", generators())
def test_every_shipped_generator_samples_by_its_full_name(name, tmp_path):
    out = tmp_path / f"{name}.pt"
    argv = ["sample", name, "--n", "2", "--out", str(out), "--quiet", "--device", "cpu"]
    if "ddpm" in name:
        argv += ["--steps", "2"]
    assert main(argv) == 0
    images = torch.load(out, weights_only=True)
    assert images.shape[0] == 2 and images.ndim == 4 and float(images.abs().max()) <= 1


def test_listing_the_checkpoints(capsys):
    assert main(["checkpoints"]) == 0
    out = capsys.readouterr().out
    for name in ("ddpm_mnist", "ddpm_mnist_cond", "dcgan_mnist", "mnist_classifier"):
        assert name in out


BAD = [
    (["sample", "ddpm", "--out", "x.jpg"], "--out must end in .png or .pt"),
    (["sample", "ddpm-cond", "--label", "12", "--out", "x.pt"], r"--label must be an integer in [0, 9], got '12'"),
    (["sample", "ddpm", "--label", "3", "--out", "x.pt"], "--label does not apply to ddpm_mnist"),
    (["sample", "dcgan", "--label", "3", "--out", "x.pt"], "--label does not apply to dcgan_mnist"),
    (["sample", "dcgan", "--steps", "3", "--out", "x.pt"], "--steps does not apply to dcgan_mnist"),
    (["sample", "reflow", "--label", "3", "--out", "x.pt"], "--label does not apply to flow_reflow"),
    (["sample", "ddpm", "--eta", "-1", "--out", "x.pt"], "--eta must be a finite number >= 0, got '-1'"),
    (["sample", "ddpm", "--eta", "nan", "--out", "x.pt"], "--eta must be a finite number >= 0, got 'nan'"),
    (["sample", "ddpm-cond", "--guidance-scale", "nan", "--out", "x.pt"], "--guidance-scale must be a finite number"),
    (["sample", "ddpm", "--steps", "5000", "--out", "x.pt"], "--steps must be an integer in [1, 1000], got '5000'"),
    (["sample", "ddpm", "--sampler", "ddpm", "--steps", "50", "--out", "x.pt"], "--steps does not apply to --sampler ddpm"),
    (["sample", "ddpm", "--sampler", "euler", "--out", "x.pt"], "--sampler must be ddim or ddpm"),
    (["sample", "ddpm", "--seed", "-1", "--out", "x.pt"], "--seed must be an integer in [0, "),
    (["sample", "ddpm", "--n", "0", "--out", "x.pt"], "--n must be an integer in [1, 10000], got '0'"),
    (["sample", "ddpm", "--n", "many", "--out", "x.pt"], "--n must be an integer in [1, 10000], got 'many'"),
    (["sample", "ddpm", "--device", "tpu", "--out", "x.pt"], "--device must be one of"),
    (["sample", "mnist_classifier", "--out", "x.pt"], "NAME must be a shipped generator"),
    (["sample", "stable-diffusion", "--out", "x.pt"], "NAME must be a shipped generator"),
    (["sample", "ddpm", "--out", "/proc/nope/x.pt"], "--out="),
    (["sample", "ddpm"], "the following arguments are required: --out"),
    (["fly"], "invalid choice: 'fly'"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a[1:]) for a, _ in BAD])
def test_bad_arguments_get_one_line_and_exit_2_before_any_work(argv, message, tmp_path, monkeypatch, capsys):
    import course_lib.registry as registry

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry, "sample_pretrained", lambda *a, **k: pytest.fail("sampled despite a bad argument"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err


def test_cuda_without_a_gpu_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["sample", "ddpm", "--device", "cuda", "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device='cuda' but this machine has no CUDA GPU" in err


def test_a_corrupt_shipped_checkpoint_is_one_line_naming_the_file(monkeypatch, capsys, tmp_path):
    import course_lib.checkpoints as ck

    record = ck.shipped_checkpoints()["dcgan_mnist"]
    bad = tmp_path / record["file"]
    bad.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(ck, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(ck, "shipped_checkpoints", lambda: {"dcgan_mnist": record})
    assert main(["sample", "dcgan", "--out", str(tmp_path / "x.pt"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and record["file"] in err and "corrupt or was replaced" in err


def test_the_module_prints_no_traceback_for_a_bad_argument():
    proc = subprocess.run([sys.executable, "-m", "course_lib", "sample", "ddpm", "--steps", "5000", "--out", "x.pt"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
