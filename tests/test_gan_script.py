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


def test_train_dcgan_trains_the_shipped_recipe_and_scores_its_ema(tmp_path, capsys):
    out = tmp_path / "g.pt"
    assert _script().main(["--steps", "2", "--batch-size", "8", "--device", "cpu", "--out", str(out),
                           "--samples", str(tmp_path / "g.png"), "--deep", "--loss", "hinge", "--spectral-norm",
                           "--width", "4", "--d-width", "4", "--augment", "translation", "--ema-decay", "0.9",
                           "--score-every", "1"]) == 0
    model = load_weights(DCGANGenerator(width=4, deep=True), out)
    assert model(torch.zeros(2, model.latent_dim)).shape == (2, 1, 28, 28)
    printed = capsys.readouterr().out
    assert "EMA of G at step      1" in printed and "EMA of G at step      2" in printed


@pytest.mark.parametrize("argv, words", [
    (["--width", "0"], "argument --width: must be a whole number >= 1, got '0'"),
    (["--d-width", "x"], "argument --d-width: must be a whole number >= 1, got 'x'"),
    (["--loss", "wasserstein"], "argument --loss: invalid choice: 'wasserstein'"),
    (["--codes", "1"], "argument --codes: must be 0 (no code) or 2 to 64 categories (G's latent size), got 1"),
    (["--codes", "10", "--info-weight", "0"], "argument --info-weight: must be > 0, got 0.0"),
    (["--codes", "10", "--lr-q", "0"], "argument --lr-q: must be > 0, got 0.0"),
    (["--lr=-1e-4"], "argument --lr: must be > 0, got -0.0001"),
])
def test_train_dcgan_refuses_bad_options_in_one_line(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        _script().main(["--steps", "1", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


SMALL = ["--batch-size", "8", "--device", "cpu", "--width", "4", "--d-width", "4", "--ema-decay", "0.9",
         "--augment", "translation", "--spectral-norm", "--loss", "hinge", "--deep"]


@pytest.mark.parametrize("code", [[], ["--codes", "10"]], ids=["plain", "infogan-code"])
def test_a_resumed_run_continues_exactly_where_the_saved_state_stopped(code, tmp_path, capsys):
    script = _script()
    small = [*SMALL, *code]
    # three steps in one invocation, saving the state after every step ...
    whole, state = tmp_path / "whole.pt", tmp_path / "whole.state"
    assert script.main([*small, "--steps", "3", "--save-every", "1", "--state", str(state), "--out", str(whole),
                        "--samples", str(tmp_path / "w.png")]) == 0
    # ... equals two steps, then a second invocation that resumes and takes the third
    parts, state2 = tmp_path / "parts.pt", tmp_path / "parts.state"
    assert script.main([*small, "--steps", "2", "--save-every", "1", "--state", str(state2), "--out", str(parts),
                        "--samples", str(tmp_path / "p.png")]) == 0
    assert script.main([*small, "--steps", "3", "--save-every", "1", "--state", str(state2), "--out", str(parts),
                        "--samples", str(tmp_path / "p.png"), "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    a, b = torch.load(whole, weights_only=True), torch.load(parts, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    saved = torch.load(state2, weights_only=True)
    assert saved["step"] == 3 and [(h["from_step"], h["to_step"]) for h in saved["history"]] == [(0, 2), (2, 3)]
    assert "--resume" in saved["history"][1]["command"]
    assert (saved["code_head"] is not None) == bool(code)   # Q's weights (and its Adam moments) carry over too


def test_resuming_refuses_a_missing_state_and_a_different_recipe_in_one_line(tmp_path, capsys):
    script = _script()
    state = tmp_path / "s.state"
    with pytest.raises(SystemExit, match="--resume needs the state file --state="):
        script.main([*SMALL, "--steps", "2", "--state", str(state), "--resume", "--out", str(tmp_path / "g.pt")])
    with pytest.raises(SystemExit, match="--save-every and --resume need --state"):
        script.main([*SMALL, "--steps", "2", "--save-every", "1", "--out", str(tmp_path / "g.pt")])
    assert script.main([*SMALL, "--steps", "1", "--save-every", "1", "--state", str(state),
                        "--out", str(tmp_path / "g.pt"), "--samples", str(tmp_path / "g.png")]) == 0
    changed = [a if a != "hinge" else "non_saturating" for a in SMALL]
    with pytest.raises(SystemExit, match="--loss='non_saturating' differs from the resumed state's 'hinge'"):
        script.main([*changed, "--steps", "2", "--state", str(state), "--resume", "--out", str(tmp_path / "g.pt")])


def test_a_resumed_run_may_lower_the_learning_rates_and_records_them(tmp_path):
    script = _script()
    state = tmp_path / "s.state"
    common = [*SMALL, "--save-every", "1", "--state", str(state), "--out", str(tmp_path / "g.pt"),
              "--samples", str(tmp_path / "g.png")]
    assert script.main([*common, "--steps", "1", "--lr-d", "4e-4"]) == 0
    assert script.main([*common, "--steps", "2", "--lr", "5e-5", "--lr-d", "1e-4", "--resume"]) == 0
    saved = torch.load(state, weights_only=True)
    assert [(h["lr"], h["lr_d"]) for h in saved["history"]] == [(2e-4, 4e-4), (5e-5, 1e-4)]
    assert saved["opt_g"]["param_groups"][0]["lr"] == 5e-5 and saved["opt_d"]["param_groups"][0]["lr"] == 1e-4


def test_a_resumed_run_without_learning_rates_keeps_the_saved_ones(tmp_path):
    script = _script()
    state = tmp_path / "s.state"
    common = [*SMALL, "--save-every", "1", "--state", str(state), "--out", str(tmp_path / "g.pt"),
              "--samples", str(tmp_path / "g.png")]
    assert script.main([*common, "--steps", "1", "--lr", "1e-4", "--lr-d", "3e-4"]) == 0
    assert script.main([*common, "--steps", "2", "--resume"]) == 0
    saved = torch.load(state, weights_only=True)
    assert [(h["lr"], h["lr_d"]) for h in saved["history"]] == [(1e-4, 3e-4), (1e-4, 3e-4)]
