"""The text-to-image pipeline and its sampler, with Stable Diffusion's knobs (notebook 08).

    prompt ─ tokenizer ─ text encoder ─ text_emb ──┐ (cross-attention)
                                                   ▼
    noise z_T (4×7×7) ─ denoiser, nfe steps of DDIM ─ z_0 ─ VAE decoder ─ picture (28×28)

:class:`TextToImage` holds the three trained parts: the text encoder of CLIP in miniature
(:mod:`.clip`, frozen), the latent denoiser (:mod:`.denoiser`) and the VAE of notebook 07
(``vae_latent``), whose latents are multiplied by its ``scaling_factor`` (1/std of the training
latents, so they have unit variance; Stable Diffusion's is 0.18215) before diffusion and divided by
it before decoding.

**Guidance with a negative prompt.** Classifier-free guidance (notebook 05) pushes the prediction
away from the unconditional one; Stable Diffusion's interfaces let you replace that unconditional
branch by a **negative prompt** c₋, so the push is away from what it describes:

    ε̃ = (1 + w) ε_θ(z_t, t, c) − w ε_θ(z_t, t, c₋),   c₋ = ∅ (the empty prompt) by default,

the course's convention for w (w = 0 is the conditional model; Stable Diffusion's "guidance scale
7.5" is w = 6.5). The formula is :func:`course_lib.diffusion.samplers.guided_output`; the
sampling loop is the course's one loop, :func:`course_lib.diffusion.samplers.denoise`, given a
``predict`` that runs the denoiser on the prompt and the negative prompt in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..device import model_device, resolve_device
from ..diffusion.reverse import Prediction, predictions
from ..diffusion.samplers import (
    DEFAULT_NFE,
    check_denoiser,
    denoise,
    guided_output,
    sampler_timesteps,
    seeded_generator,
)
from ..diffusion.schedules import Schedule
from ..vae.models import VAE_LATENT, ConvVAE, build_vae
from ..validation import check_float, check_instance, check_int, check_tensor
from .attention import attention_maps
from .clip import CLIP_CONFIG, TextEncoder
from .denoiser import DENOISER_CONFIG, TextCondition, build_denoiser
from .tokenizer import check_prompts, decode, tokenize

#: The guidance scale w the course's sampler uses unless told otherwise (notebook 08 measures the
#: trade-off: accuracy of the prompt against diversity).
DEFAULT_GUIDANCE = 3.0


class TextToImage(nn.Module):
    """Text encoder + latent denoiser + VAE: everything needed to turn a prompt into a digit.

    ``config``: {"text": TextEncoder arguments, "denoiser": TextUNet arguments, "vae": ConvVAE
    arguments (with its ``scaling_factor``)}.
    """

    def __init__(self, text: dict | None = None, denoiser: dict | None = None, vae: dict | None = None):
        super().__init__()
        text = {k: v for k, v in {**CLIP_CONFIG, **(text or {})}.items() if k in ("width", "layers", "heads")}
        vae = {**VAE_LATENT, **(vae or {})}
        denoiser = {**DENOISER_CONFIG, **(denoiser or {}), "context_dim": text["width"]}
        self.text = TextEncoder(**text)
        self.denoiser = build_denoiser(denoiser)
        self.vae: ConvVAE = build_vae(vae)
        self.config = {"text": text, "denoiser": dict(self.denoiser.config), "vae": dict(self.vae.config)}
        if tuple(self.vae.latent_shape) != (self.denoiser.in_channels, self.denoiser.image_size,
                                            self.denoiser.image_size):
            raise ValueError(f"the denoiser works on {self.denoiser.in_channels}x{self.denoiser.image_size}x"
                             f"{self.denoiser.image_size} latents but the VAE's are {self.vae.latent_shape}")

    @property
    def schedule(self) -> Schedule:
        return self.denoiser.schedule

    @property
    def scaling_factor(self) -> float:
        return self.vae.scaling_factor

    def encode_prompts(self, prompts) -> TextCondition:
        """The text encoder's per-token output and padding mask for a list of prompts (no gradients)."""
        tokens = tokenize(prompts).to(model_device(self))
        with torch.no_grad():
            text_emb, _ = self.text(tokens)
        return TextCondition(text_emb, tokens.mask)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Diffusion latents of digits: the VAE's posterior mean μ times the scaling factor."""
        with torch.no_grad():
            mu, _ = self.vae.encode(images)
        return mu * self.scaling_factor

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Digits (B, 1, 28, 28) in [−1, 1] from diffusion latents (divided by the scaling factor, decoded)."""
        with torch.no_grad():
            return self.vae.decode(latents / self.scaling_factor)


def build_text2img(config: dict | None = None) -> TextToImage:
    """An untrained :class:`TextToImage` from a config (the registry's builder)."""
    return TextToImage(**(config or {}))


def text_guided_predictions(denoiser: nn.Module, latents: torch.Tensor, t, schedule: Schedule,
                            text: TextCondition, negative: TextCondition, guidance_scale: float) -> Prediction:
    """(ε̂, x̂_0) of the denoiser at (z_t, t), guided towards ``text`` and away from ``negative``.

    w = 0: one call on the prompt. Otherwise prompt and negative prompt in one batch of 2B and
    ε̃ = (1 + w) ε_θ(z_t, t, c) − w ε_θ(z_t, t, c₋) (on the raw outputs; ε̂ and x̂_0 are linear in them).
    """
    if guidance_scale == 0:
        return predictions(denoiser(latents, t, text), latents, t, schedule, denoiser.prediction)
    b = latents.shape[0]
    both = denoiser(latents.repeat(2, 1, 1, 1), t, TextCondition.cat([text, negative]))
    output = guided_output(both[:b], both[b:], guidance_scale)  # (1 + w) f(z_t, c) − w f(z_t, c₋)
    return predictions(output, latents, t, schedule, denoiser.prediction)


def _check_pipeline(pipe) -> TextToImage:
    return check_instance("pipe", pipe, TextToImage,
                          hint="load one with load_pretrained('text2img') or build_text2img()")


def text_guided_noise(pipe: TextToImage, latents: torch.Tensor, t: int, prompt, negative_prompt="",
                      guidance_scale: float = DEFAULT_GUIDANCE) -> torch.Tensor:
    """The guided noise prediction ε̃ for latents (B, 4, 7, 7) at timestep ``t`` (checks its arguments)."""
    _check_pipeline(pipe)
    check_tensor("latents", latents, floating=True)
    n = latents.shape[0]
    t = check_int("t", t, 0, pipe.schedule.num_steps - 1)
    prompts = check_prompts(prompt, n, "prompt")
    negatives = check_prompts(negative_prompt, n, "negative_prompt")
    w = check_float("guidance_scale", guidance_scale, 0.0)
    device = model_device(pipe)
    with torch.no_grad():
        return text_guided_predictions(pipe.denoiser, latents.to(device), t, pipe.schedule.to(device),
                                       pipe.encode_prompts(prompts), pipe.encode_prompts(negatives), w).noise_pred


@dataclass
class AttentionRecord:
    """Cross-attention maps recorded while sampling: ``maps`` (K, n, L, S, S) at the ``timesteps``
    (K of them, in sampling order), averaged over heads and blocks; ``words[i]`` the tokens of
    image i's prompt (<start> … <end>), whose maps are ``maps[:, i, :len(words[i])]``."""

    timesteps: list[int]
    maps: torch.Tensor
    words: list[list[str]]

    def shares(self, image: int = 0) -> torch.Tensor:
        """(K, T): the share of attention each of image ``image``'s T tokens gets at each recorded step,
        averaged over the positions (each row sums to 1: every position spreads one unit over the tokens)."""
        image = check_int("image", image, 0, len(self.words) - 1)
        return self.maps[:, image, :len(self.words[image])].mean((-2, -1))


def generate(
    pipe: TextToImage,
    prompt="",
    n: int | None = None,
    *,
    negative_prompt="",
    guidance_scale: float = DEFAULT_GUIDANCE,
    nfe: int | None = DEFAULT_NFE,
    sampler: str = "ddim",
    eta: float = 0.0,
    seed: int | None = 0,
    device=None,
    progress: bool = True,
    return_latents: bool = False,
    return_attention: bool = False,
):
    """Draw digits (n, 1, 28, 28) in [−1, 1] for a prompt, with Stable Diffusion's knobs.

    ``prompt``: one string for all ``n`` images (default 1), or a list of prompts (one image each);
    "" means anything. ``negative_prompt``: a string or a list like ``prompt``; it replaces the
    unconditional branch of guidance ("" = ∅). ``guidance_scale`` w ≥ 0 (course convention:
    ε̃ = (1 + w) ε_c − w ε_neg). ``sampler``: ``"ddim"`` with ``nfe`` steps (Stable Diffusion's
    "steps", default 50; ``eta`` > 0 adds noise at each jump) or ``"ddpm"`` (all T steps). ``seed``
    fixes the initial latent noise (its own generator). The final latent is decoded by the VAE.
    With ``return_latents`` also returns the latents (n, 4, 7, 7); with ``return_attention`` an
    :class:`AttentionRecord` of the cross-attention maps at every step.
    """
    _check_pipeline(pipe)
    schedule = check_denoiser(pipe.denoiser)
    if isinstance(prompt, (list, tuple)) and n is None:
        n = len(prompt)
    n = check_int("n", 1 if n is None else n, 1)
    prompts = check_prompts(prompt, n, "prompt")
    negatives = check_prompts(negative_prompt, n, "negative_prompt")
    w = check_float("guidance_scale", guidance_scale, 0.0, hint="w = 0 is the prompt alone, no guidance")
    path = sampler_timesteps(schedule, sampler, nfe)
    eta = check_float("eta", eta, 0.0, hint="0 = deterministic DDIM, 1 = DDPM-like")
    device = resolve_device(device)
    pipe.to(device).eval()
    generator = seeded_generator(seed, device)
    text, negative = pipe.encode_prompts(prompts), pipe.encode_prompts(negatives)
    denoiser, schedule = pipe.denoiser, schedule.to(device)
    blocks = denoiser.transformer_blocks()
    recorded = []

    def predict(x, t):
        out = text_guided_predictions(denoiser, x, t, schedule, text, negative, w)
        if return_attention:
            recorded.append(attention_maps(blocks, denoiser.image_size)[:n].cpu())  # the prompt's half
        return out

    latents = torch.randn((n, denoiser.in_channels, denoiser.image_size, denoiser.image_size),
                          generator=generator, device=device)
    for block in blocks:
        block.cross_attn.store_weights = return_attention
    try:
        with torch.inference_mode():
            latents, _ = denoise(denoiser, latents, path + [-1], predict=predict, sampler=sampler, eta=eta,
                                 generator=generator, progress=progress, desc=f"{sampler} sampling")
            images = pipe.decode_latents(latents).clamp(-1, 1)
    finally:
        for block in blocks:
            block.cross_attn.store_weights, block.cross_attn.last_weights = False, None
    out = [images]
    if return_latents:
        out.append(latents)
    if return_attention:
        tokens = tokenize(prompts)
        out.append(AttentionRecord(path, torch.stack(recorded), [decode(row) for row in tokens.ids]))
    return out[0] if len(out) == 1 else tuple(out)
