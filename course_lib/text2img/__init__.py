"""Text to image: Stable Diffusion in miniature, built from the course's own parts (notebook 08).

The course's sources describe systems such as Stable Diffusion and DALL·E 2 that draw a picture
from a text description (根据文本描述生成图像). This package builds the whole pipeline at the scale
of MNIST, small enough to train on a laptop, with the knobs of the real thing:

* :mod:`.captions` — digits with captions measured from their pixels (digit, thickness, slant,
  size), in English and Chinese;
* :mod:`.tokenizer` — a small fixed vocabulary; unknown words refused; "" means anything;
* :mod:`.clip` — a transformer text encoder trained against an image encoder with InfoNCE (CLIP
  in miniature), zero-shot reading and retrieval;
* :mod:`.attention` — cross-attention, softmax(QKᵀ/√d)V with padding masked, in a transformer block;
* :mod:`.denoiser` — a U-Net over ``vae_latent``'s 4×7×7 latents that reads the prompt by cross-attention;
* :mod:`.pipeline` — :class:`TextToImage` and :func:`generate`: prompt, negative prompt, guidance
  scale, steps, seed, sampler; the latent decoded by the VAE;
* :mod:`.training` — :func:`train_text2img` (CLIP's :func:`train_clip` comes first) and
  :func:`load_or_train_text2img`;
* :mod:`.evaluate` — what notebook 08 measures; :mod:`.figures` — its figures.

The shipped model loads with ``load_pretrained("text2img")`` (its CLIP: ``"text2img_clip"``).
"""

from .attention import CrossAttention, TransformerBlock, attention_maps, cross_attention
from .captions import (
    ATTRIBUTES,
    CaptionedDigits,
    Measurements,
    caption,
    caption_digits,
    digit_height,
    measure,
    sample_captions,
    slant_degrees,
    stroke_thickness,
)
from .clip import (
    CLIPMini,
    ImageEncoder,
    TextEncoder,
    build_clip,
    digit_prompts,
    info_nce,
    retrieve,
    similarities,
    train_clip,
    zero_shot,
    zero_shot_accuracy,
)
from .denoiser import TextCondition, TextUNet, build_denoiser
from .pipeline import (
    DEFAULT_GUIDANCE,
    AttentionRecord,
    TextToImage,
    build_text2img,
    generate,
    text_guided_noise,
    text_guided_predictions,
)
from .tokenizer import VOCAB, PromptError, Tokens, check_prompt, split_words, tokenize
from .training import assemble_pipeline, load_or_train_text2img, preset, train_text2img

__all__ = [
    "ATTRIBUTES", "DEFAULT_GUIDANCE", "assemble_pipeline", "load_or_train_text2img", "VOCAB", "AttentionRecord", "CLIPMini", "CaptionedDigits", "CrossAttention",
    "ImageEncoder", "Measurements", "PromptError", "TextCondition", "TextEncoder", "TextToImage", "TextUNet",
    "Tokens", "TransformerBlock", "attention_maps", "build_clip", "build_denoiser", "build_text2img", "caption",
    "caption_digits", "check_prompt", "cross_attention", "digit_height", "digit_prompts", "generate", "info_nce",
    "measure", "preset", "retrieve", "sample_captions", "similarities", "slant_degrees", "split_words",
    "stroke_thickness", "text_guided_noise", "text_guided_predictions", "tokenize", "train_clip",
    "train_text2img", "zero_shot", "zero_shot_accuracy",
]
