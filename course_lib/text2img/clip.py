"""CLIP in miniature: a text encoder trained against an image encoder (notebook 08).

Stable Diffusion does not learn to read: its text encoder is the one of CLIP (Radford et al.
2021), trained beforehand to match 400 million images with their captions, and frozen. The
course does the same at its scale:

* :class:`TextEncoder` — a small transformer over the tokens (:mod:`.tokenizer`): token and
  position embeddings, pre-norm transformer layers with a causal mask (each token sees the ones
  before it, as in CLIP), a final layer norm. Its per-token output ``text_emb`` (B, L, D) is what
  the denoiser's cross-attention reads; the output at the <end> token, which has seen the whole
  prompt, is the prompt's **pooled** embedding.
* :class:`ImageEncoder` — a small CNN from a digit's pixels to one vector.
* :class:`CLIPMini` — both, with linear projections into one joint space and a learned
  temperature. Trained with the symmetric **InfoNCE** loss (:func:`info_nce`): in a batch of B
  (image, caption) pairs the B matching pairs should score higher than the B² − B others,

      logits_ij = exp(τ) · ⟨u_i, v_j⟩ (u, v unit vectors),
      L = ½ [CE(logits, diag) + CE(logitsᵀ, diag)],

  the cross-entropy of picking the right caption for each image and the right image for each
  caption (CLIP's pseudocode, Fig. 3; τ starts at log(1/0.07) and is capped at log 100).

Once trained, it reads a digit **zero-shot**: score the image against the captions "a zero" …
"a nine" and take the best (:func:`zero_shot`), and it **retrieves** the digits that best fit a
prompt (:func:`retrieve`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..budget import preset_for
from ..classifier import check_digits
from ..device import model_device, resolve_device
from ..train_loop import Budget, TrainRecord, lr_at
from ..validation import (
    check_choice,
    check_float,
    check_instance,
    check_int,
    check_module,
    check_tensor,
)
from .captions import CaptionedDigits, caption, check_share, sample_captions
from .tokenizer import CONTEXT_LENGTH, END, TOKEN_IDS, VOCAB, Tokens, tokenize

MAX_LOGIT_SCALE = math.log(100.0)

#: The architecture of the course's CLIP in miniature (the shipped ``text2img_clip`` records its own).
CLIP_CONFIG = dict(width=64, layers=2, heads=4, embed_dim=64, image_width=32)

#: Training recipes per run budget (steps/minutes: whichever ends first).
PRESETS = {
    "smoke": dict(steps=3, minutes=0.5, batch_size=32),
    "cpu": dict(steps=3000, minutes=1.5, batch_size=128),
    "gpu": dict(steps=6000, minutes=3.0, batch_size=256),
}


def preset(budget: str | None = None, **overrides) -> dict:
    """The CLIP training recipe for a run budget (``smoke``/``cpu``/``gpu``; default: the active one)."""
    return preset_for(PRESETS, budget, **overrides)


class TextEncoder(nn.Module):
    """Tokens (B, L) → per-token ``text_emb`` (B, L, ``width``) and the pooled embedding (B, ``width``)."""

    def __init__(self, width: int = 64, layers: int = 2, heads: int = 4, vocab_size: int = len(VOCAB),
                 context_length: int = CONTEXT_LENGTH):
        super().__init__()
        self.width, self.context_length = width, context_length
        self.token_emb = nn.Embedding(vocab_size, width)
        self.pos_emb = nn.Parameter(torch.randn(context_length, width) * 0.01)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.register_buffer("causal", torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), 1),
                             persistent=False)

    def forward(self, tokens: Tokens):
        """``(text_emb, pooled)`` for :class:`~.tokenizer.Tokens` (ids and padding mask)."""
        x = self.token_emb(tokens.ids) + self.pos_emb                    # token + position
        x = self.transformer(x, mask=self.causal, src_key_padding_mask=~tokens.mask)
        text_emb = self.norm(x)                                          # (B, L, D)
        end = (tokens.ids == TOKEN_IDS[END]).int().argmax(1)             # where each prompt ends
        pooled = text_emb[torch.arange(len(end), device=end.device), end]  # the <end> token saw it all
        return text_emb, pooled


class ImageEncoder(nn.Module):
    """Digits (B, 1, 28, 28) in [−1, 1] → one vector each (B, ``out_dim``): three convolutions, a dense layer."""

    def __init__(self, width: int = 32, out_dim: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.SiLU(),       # 14×14
            nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1), nn.SiLU(),   # 7×7
            nn.Flatten(), nn.Linear(2 * width * 49, out_dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class CLIPMini(nn.Module):
    """A text encoder and an image encoder whose outputs meet in one ``embed_dim``-dimensional space."""

    def __init__(self, width: int = 64, layers: int = 2, heads: int = 4, embed_dim: int = 64, image_width: int = 32):
        super().__init__()
        self.config = dict(width=width, layers=layers, heads=heads, embed_dim=embed_dim, image_width=image_width)
        self.text = TextEncoder(width, layers, heads)
        self.image = ImageEncoder(image_width, embed_dim)
        self.text_projection = nn.Linear(width, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # τ: the learned temperature

    def encode_text(self, tokens: Tokens) -> torch.Tensor:
        """Unit vectors (B, embed_dim) of prompts, from the pooled text embedding."""
        return F.normalize(self.text_projection(self.text(tokens)[1]), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit vectors (B, embed_dim) of digits."""
        return F.normalize(self.image(images), dim=-1)


def build_clip(config: dict | None = None) -> CLIPMini:
    """An untrained :class:`CLIPMini` from a config (the registry's builder)."""
    return CLIPMini(**{**CLIP_CONFIG, **(config or {})})


def info_nce(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE loss for B matching pairs of unit vectors (B, E) (Radford et al. 2021, Fig. 3)."""
    logits = logit_scale.exp() * image_features @ text_features.T          # exp(τ) ⟨u_i, v_j⟩, (B, B)
    targets = torch.arange(len(logits), device=logits.device)              # pair i matches pair i
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2  # ½ (CE_img + CE_text)


def check_captioned(name: str, data) -> CaptionedDigits:
    """Raise unless ``data`` is a :class:`~.captions.CaptionedDigits` (made by ``caption_digits``)."""
    return check_instance(name, data, CaptionedDigits,
                          hint="caption the digits first: caption_digits(load_mnist('train'))")


def train_clip(
    model: nn.Module,
    data,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    device=None,
    progress: bool = True,
    batch_size: int = 128,
    lr: float = 2e-3,
    attribute_dropout: float = 0.5,
    chinese_share: float = 0.5,
    clock: str = "wall",
) -> TrainRecord:
    """Train a :class:`CLIPMini` on captioned digits with InfoNCE; return the :class:`TrainRecord`.

    ``data``: a :class:`~.captions.CaptionedDigits`. Each step draws ``batch_size`` digits and a
    fresh random caption for each (:func:`~.captions.sample_captions`: English or Chinese with
    ``chinese_share``, attribute words dropped with ``attribute_dropout``; never the empty
    caption, which describes every image), and takes one AdamW step on :func:`info_nce`; the
    temperature is learned and capped at 100. The history holds ``loss``, ``temperature``
    (exp τ) and ``batch_accuracy`` (the share of images whose own caption scores highest).
    """
    check_module("model", model)
    check_instance("model", model, CLIPMini)
    data = check_captioned("data", data)
    batch_size = check_int("batch_size", batch_size, 2, len(data))
    lr = check_float("lr", lr, 0.0, low_open=True)
    attribute_dropout = check_share("attribute_dropout", attribute_dropout)
    chinese_share = check_share("chinese_share", chinese_share)
    seed = check_int("seed", seed, 0)
    budget = Budget(steps, minutes, desc="CLIP-mini", progress=progress, clock=clock)
    device = resolve_device(device)
    model.to(device).train()
    images = data.images.to(device)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    for _ in budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(budget.fraction, lr)
        idx = torch.randint(0, len(data), (batch_size,), generator=gen)
        captions = sample_captions(data.labels[idx], {k: v[idx] for k, v in data.attributes.items()}, gen,
                                   attribute_dropout=attribute_dropout, caption_dropout=0.0,
                                   chinese_share=chinese_share)
        image_features = model.encode_image(images[idx.to(device)])
        text_features = model.encode_text(tokenize(captions).to(device))
        loss = info_nce(image_features, text_features, model.logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            hits = (image_features @ text_features.T).argmax(1) == torch.arange(batch_size, device=device)
        budget.log(loss=loss.detach(), temperature=model.logit_scale.exp().detach(),
                   batch_accuracy=hits.float().mean())
    model.eval()
    return budget.finish()


@torch.no_grad()
def similarities(model: CLIPMini, images: torch.Tensor, prompts) -> torch.Tensor:
    """Cosine similarities (N, P) between digits (N, 1, 28, 28) and prompts (a list of P strings)."""
    check_instance("model", model, CLIPMini)
    check_digits("images", images)
    device = model_device(model)
    model.eval()
    text = model.encode_text(tokenize(list(prompts), name="prompts").to(device))
    image = torch.cat([model.encode_image(chunk.to(device)) for chunk in images.split(500)])
    return (image @ text.T).cpu()


def zero_shot(model: CLIPMini, images: torch.Tensor, prompts) -> torch.Tensor:
    """For each digit, the index of the prompt it fits best (N,): classification with no classifier."""
    return similarities(model, images, prompts).argmax(1)


def retrieve(model: CLIPMini, prompts, images: torch.Tensor, k: int = 8) -> torch.Tensor:
    """For each prompt, the indices of the ``k`` digits that fit it best, best first: (P, k) for a
    list of P prompts, (k,) for one prompt. The digits are encoded once for all prompts."""
    k = check_int("k", k, 1, len(images))
    scores = similarities(model, images, [prompts] if isinstance(prompts, str) else list(prompts))
    best = scores.topk(k, dim=0).indices.T
    return best[0] if isinstance(prompts, str) else best


def digit_prompts(language: str = "en") -> list[str]:
    """The ten prompts "a zero" … "a nine" (or 一个零 … 一个九): the captions of a digit with no attribute."""
    check_choice("language", language, ("en", "zh"))
    return [caption(d, language=language) for d in range(10)]


def zero_shot_accuracy(model: CLIPMini, images: torch.Tensor, labels: torch.Tensor, language: str = "en") -> float:
    """The share of digits whose best-fitting prompt among :func:`digit_prompts` names their label."""
    check_tensor("labels", labels, shape=(len(images),))
    return float((zero_shot(model, images, digit_prompts(language)) == labels.cpu()).float().mean())
