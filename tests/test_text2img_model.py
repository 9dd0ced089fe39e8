"""Text to image, the model side: cross-attention (shapes, masking, the formula), the latent denoiser,
guidance with a negative prompt equal to its formula, the sampler's knobs and the training loop (issue 15)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.diffusion.reverse import predictions
from course_lib.text2img import (
    CrossAttention,
    PromptError,
    TextCondition,
    build_denoiser,
    build_text2img,
    caption_digits,
    cross_attention,
    generate,
    text_guided_noise,
    tokenize,
    train_text2img,
)
from course_lib.text2img.tokenizer import CONTEXT_LENGTH

SMALL = {"text": dict(width=16, layers=1, heads=2), "denoiser": dict(base_channels=16, heads=2)}


def _give_output_weights(denoiser, seed=0):
    """The output layer starts at zero (so a fresh model predicts 0): give it weights for the tests."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in denoiser.out.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    model = build_text2img(SMALL).eval()
    _give_output_weights(model.denoiser)
    return model


# ----------------------------------------------------------------------------- cross-attention


def _qkv(seed=0, b=2, h=2, n=5, length=6, d=4):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, h, n, d, generator=g), torch.randn(b, h, length, d, generator=g),
            torch.randn(b, h, length, d, generator=g))


def test_cross_attention_is_softmax_of_scaled_scores_times_values():
    q, k, v = _qkv()
    mask = torch.tensor([[True, True, True, False, False, False], [True] * 6])
    out, weights = cross_attention(q, k, v, mask)
    assert out.shape == (2, 2, 5, 4) and weights.shape == (2, 2, 5, 6)
    scores = (q.double() @ k.double().transpose(-2, -1)) / 2.0                        # √d = 2
    scores[0, :, :, 3:] = -math.inf
    want = scores.softmax(-1) @ v.double()
    assert torch.allclose(out.double(), want, atol=1e-6)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])   # PyTorch's own
    assert torch.allclose(out, reference, atol=1e-6)


def test_padding_gets_weight_zero_and_cannot_change_the_output():
    q, k, v = _qkv(1)
    mask = torch.tensor([[True, True, False, False, False, False], [True, True, True, True, False, False]])
    out, weights = cross_attention(q, k, v, mask)
    assert torch.equal(weights[0, :, :, 2:], torch.zeros_like(weights[0, :, :, 2:]))
    assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 5), atol=1e-6)             # a distribution per position
    k2, v2 = k.clone(), v.clone()
    k2[0, :, 2:], v2[0, :, 2:] = 100.0, -100.0
    assert torch.allclose(cross_attention(q, k2, v2, mask)[0], out, atol=1e-6)


def test_cross_attention_module_shapes_and_stored_weights():
    torch.manual_seed(0)
    layer = CrossAttention(channels=16, context_dim=8, heads=4)
    x, text = torch.randn(3, 49, 16), torch.randn(3, CONTEXT_LENGTH, 8)
    mask = tokenize(["a bold seven", "", "一个细的二"]).mask
    assert layer(x, text, mask).shape == (3, 49, 16) and layer.last_weights is None
    layer.store_weights = True
    layer(x, text, mask)
    assert layer.last_weights.shape == (3, 4, 49, CONTEXT_LENGTH)
    assert float(layer.last_weights[1, :, :, 2:].abs().max()) == 0.0                    # the empty prompt: <start> <end>
    with pytest.raises(ValueError, match="divisible by heads"):
        CrossAttention(10, 8, heads=4)


def test_denoiser_output_shape_masking_and_dependence_on_the_prompt():
    torch.manual_seed(0)
    denoiser = build_denoiser(dict(base_channels=16, context_dim=8, heads=2)).eval()
    _give_output_weights(denoiser)
    z = torch.randn(2, 4, 7, 7)
    tokens = tokenize(["a bold seven", "a thin two"])
    text = TextCondition(torch.randn(2, CONTEXT_LENGTH, 8), tokens.mask)
    with torch.no_grad():
        out = denoiser(z, 500, text)
        assert out.shape == (2, 4, 7, 7)
        padded = text.text_emb.clone()
        padded[~tokens.mask] = 7.0                                                      # only the padding changes
        assert torch.allclose(denoiser(z, 500, TextCondition(padded, tokens.mask)), out, atol=1e-5)
        word = text.text_emb.clone()
        word[:, 2] += 1.0                                                               # a real token changes
        assert not torch.allclose(denoiser(z, 500, TextCondition(word, tokens.mask)), out, atol=1e-3)
    pixel = build_denoiser(dict(in_channels=1, image_size=28, base_channels=16, context_dim=8, heads=2))
    assert pixel(torch.randn(1, 1, 28, 28), 3, TextCondition(text.text_emb[:1], text.mask[:1])).shape == (1, 1, 28, 28)


# ----------------------------------------------------------------------------- guidance with a negative prompt


@pytest.mark.parametrize("w", [0.0, 1.0, 3.0, 6.5])
def test_guided_noise_with_a_negative_prompt_is_the_formula(pipe, w):
    g = torch.Generator().manual_seed(2)
    z, t = torch.randn(3, 4, 7, 7, generator=g), 600
    prompts, negatives = ["a bold seven", "一个细的二", ""], ["bold", "right-leaning", "a nine"]
    got = text_guided_noise(pipe, z, t, prompts, negatives, w)
    with torch.no_grad():
        cond = pipe.denoiser(z, t, pipe.encode_prompts(prompts))
        neg = pipe.denoiser(z, t, pipe.encode_prompts(negatives))
    eps = lambda out: predictions(out, z, t, pipe.schedule, pipe.denoiser.prediction).noise_pred  # noqa: E731
    assert torch.allclose(got, (1 + w) * eps(cond) - w * eps(neg), atol=1e-5)          # (1 + w) ε(c) − w ε(c₋)
    assert torch.allclose(got, eps((1 + w) * cond - w * neg), atol=1e-5)                # linear in the output


def test_the_empty_negative_prompt_is_the_unconditional_branch(pipe):
    z = torch.randn(2, 4, 7, 7, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(text_guided_noise(pipe, z, 300, "a one", "", 2.0),
                          text_guided_noise(pipe, z, 300, "a one", ["", ""], 2.0))
    assert not torch.allclose(text_guided_noise(pipe, z, 300, "a one", "", 2.0),
                              text_guided_noise(pipe, z, 300, "a one", "bold", 2.0))
    assert torch.allclose(text_guided_noise(pipe, z, 300, "a one", "bold", 0.0),   # w = 0: the prompt alone
                          text_guided_noise(pipe, z, 300, "a one", "", 0.0))


# ----------------------------------------------------------------------------- the sampler


def test_generate_shapes_range_and_seeds(pipe):
    a = generate(pipe, "a bold seven", 3, nfe=3, seed=0, device="cpu", progress=False)
    b = generate(pipe, "a bold seven", 3, nfe=3, seed=0, device="cpu", progress=False)
    c = generate(pipe, "a bold seven", 3, nfe=3, seed=1, device="cpu", progress=False)
    assert a.shape == (3, 1, 28, 28) and float(a.min()) >= -1 and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    images, latents = generate(pipe, ["a one", "七"], nfe=2, progress=False, return_latents=True)
    assert images.shape == (2, 1, 28, 28) and latents.shape == (2, 4, 7, 7)
    assert torch.allclose(pipe.decode_latents(latents), images, atol=1e-6)             # the VAE decodes the latent
    short = build_text2img({**SMALL, "denoiser": {**SMALL["denoiser"], "schedule": {"kind": "cosine", "num_steps": 20}}})
    ddpm = generate(short, "a one", 2, sampler="ddpm", nfe=None, eta=0.0, progress=False)   # every one of T = 20 steps
    assert ddpm.shape == (2, 1, 28, 28) and torch.isfinite(ddpm).all()


def test_generate_records_cross_attention_per_step(pipe):
    images, record = generate(pipe, ["a bold seven", "一个七"], nfe=4, progress=False, return_attention=True)
    assert record.maps.shape == (4, 2, CONTEXT_LENGTH, 7, 7) and len(record.timesteps) == 4
    assert record.words[0] == ["<start>", "a", "bold", "seven", "<end>"] and record.words[1] == ["<start>", "一个", "七", "<end>"]
    assert torch.allclose(record.maps.sum(2), torch.ones(4, 2, 7, 7), atol=1e-5)     # a distribution over tokens
    assert float(record.maps[:, 1, 4:].abs().max()) == 0.0                             # padding never attended
    shares = record.shares(1)                                                          # <start> 一个 七 <end>
    assert shares.shape == (4, 4) and torch.allclose(shares.sum(1), torch.ones(4), atol=1e-5)
    assert torch.allclose(shares[2, 2], record.maps[2, 1, 2].mean())
    with pytest.raises(ValueError, match="image must be"):
        record.shares(2)
    assert all(b.cross_attn.last_weights is None and not b.cross_attn.store_weights
               for b in pipe.denoiser.transformer_blocks())                            # nothing left behind


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(prompt="a blod seven"), PromptError, "prompt: unknown word 'blod' (closest known word: 'bold')"),
    (dict(negative_prompt="a vague mess"), PromptError, "negative_prompt: unknown word 'vague'"),
    (dict(prompt=["a one", "a two"], n=3), PromptError, "one string or a list of n=3"),
    (dict(guidance_scale=-1), ValueError, "guidance_scale must be"),
    (dict(nfe=0), ValueError, "nfe must be"),
    (dict(sampler="euler"), ValueError, "sampler must be one of"),
    (dict(sampler="ddpm", nfe=50), ValueError, "nfe must be None or 1000 for sampler='ddpm'"),
    (dict(seed=-1), ValueError, "seed must be"),
])
def test_bad_arguments_are_refused_before_any_work(pipe, kwargs, error, message):
    with pytest.raises(error) as err:
        generate(pipe, **{"prompt": "a one", "progress": False, **kwargs})
    assert message in str(err.value)


def test_generate_needs_the_pipeline():
    with pytest.raises(TypeError, match="pipe must be a TextToImage"):
        generate(torch.nn.Linear(2, 2), "a one")


# ----------------------------------------------------------------------------- training


def test_training_moves_only_the_denoiser(digit_batch):
    images, labels = digit_batch
    torch.manual_seed(0)
    model = build_text2img(SMALL)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("denoiser.")}
    before = {k: v.clone() for k, v in model.denoiser.state_dict().items()}
    record = train_text2img(model, caption_digits((images, labels)), steps=3, batch_size=8, progress=False,
                            device="cpu")
    assert record.steps == 3 and len(record.series("loss")) == 3 and not model.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in frozen.items())      # text encoder and VAE frozen
    assert any(not torch.equal(v, model.denoiser.state_dict()[k]) for k, v in before.items())
    with pytest.raises(TypeError, match="data must be a CaptionedDigits"):
        train_text2img(model, images, steps=1)
    with pytest.raises(ValueError, match="give steps=, minutes= or both"):
        train_text2img(model, caption_digits((images, labels)), batch_size=8)


def test_the_pipeline_refuses_mismatched_parts():
    with pytest.raises(ValueError, match="latents but the VAE's are"):
        build_text2img({"denoiser": dict(in_channels=2)})
