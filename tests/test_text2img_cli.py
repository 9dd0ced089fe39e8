"""The shipped text-to-image model through the registry and the command line, end to end (issue 15):
``python -m course_lib sample text2img --prompt … [--negative-prompt …] [--guidance-scale …] [--steps …]``."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from course_lib.checkpoints import shipped_checkpoints
from course_lib.cli import main
from course_lib.registry import has_shipped, load_pretrained, sample_pretrained
from course_lib.text2img import CLIPMini, TextToImage

pytestmark = pytest.mark.skipif(not has_shipped("text2img"), reason="the text2img checkpoint is not in this copy")


def test_the_shipped_parts_load_and_fit_in_ten_megabytes():
    pipe, clip = load_pretrained("text2img", device="cpu"), load_pretrained("text2img_clip", device="cpu")
    assert isinstance(pipe, TextToImage) and isinstance(clip, CLIPMini) and not pipe.training
    manifest = shipped_checkpoints()
    assert manifest["text2img"]["bytes"] + manifest["text2img_clip"]["bytes"] <= 10_000_000
    # the pipeline's text encoder is CLIP's, frozen; its VAE is vae_latent's
    assert all(torch.equal(v, pipe.text.state_dict()[k]) for k, v in clip.text.state_dict().items())
    vae = load_pretrained("vae_latent", device="cpu")
    assert all(torch.equal(v, pipe.vae.state_dict()[k]) for k, v in vae.state_dict().items())
    assert pipe.scaling_factor == vae.scaling_factor


def test_sample_pretrained_takes_the_prompt_options():
    images = sample_pretrained("text2img", 2, prompt="a bold seven", negative_prompt="right-leaning",
                               guidance_scale=2.0, nfe=3, seed=0, device="cpu", progress=False)
    assert images.shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="does not take the option"):
        sample_pretrained("text2img", 1, label=3)


def test_the_command_line_draws_a_prompt_end_to_end(tmp_path):
    out = tmp_path / "seven.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "course_lib", "sample", "text2img", "--prompt", "a bold seven", "--negative-prompt",
         "right-leaning", "--guidance-scale", "3", "--steps", "5", "--n", "4", "--seed", "0", "--out", str(out),
         "--quiet", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    images = torch.load(out, weights_only=True)
    assert images.shape == (4, 1, 28, 28) and float(images.abs().max()) <= 1
    assert "wrote (4, 1, 28, 28) from text2img" in proc.stdout
    # the same run through main() gives the same images (seeded), and Chinese prompts work too
    again = tmp_path / "again.pt"
    assert main(["sample", "text-to-image", "--prompt", "a bold seven", "--negative-prompt", "right-leaning",
                 "--guidance-scale", "3", "--steps", "5", "--n", "4", "--out", str(again), "--quiet",
                 "--device", "cpu"]) == 0
    assert torch.equal(torch.load(again, weights_only=True), images)
    png = tmp_path / "qi.png"
    assert main(["sample", "text2img", "--prompt", "一个粗的七", "--steps", "3", "--n", "2", "--out", str(png),
                 "--quiet", "--device", "cpu"]) == 0 and png.stat().st_size > 0


BAD = [
    (["--prompt", "a blod seven"], "--prompt: unknown word 'blod' (closest known word: 'bold'); the vocabulary: a, an"),
    (["--negative-prompt", "blurry"], "--negative-prompt: unknown word 'blurry'"),
    (["--prompt", "a " * 11], "--prompt has 11 words"),
    (["--label", "3"], "--label does not apply to text2img"),
    (["--guidance-scale", "-2"], "--guidance-scale must be a finite number >= 0"),
    (["--steps", "0"], "--steps must be an integer in [1, 1000]"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_prompts_are_one_line_and_exit_2_before_any_work(extra, message, tmp_path, monkeypatch, capsys):
    import course_lib.registry as registry

    monkeypatch.setattr(registry, "sample_pretrained", lambda *a, **k: pytest.fail("sampled despite a bad argument"))
    assert main(["sample", "text2img", *extra, "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and message in err, err


def test_prompt_flags_do_not_apply_to_other_models(tmp_path, capsys):
    assert main(["sample", "ddpm", "--prompt", "a one", "--out", str(tmp_path / "x.pt")]) == 2
    assert "--prompt does not apply to ddpm_mnist" in capsys.readouterr().err
