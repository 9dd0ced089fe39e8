"""What notebook 08 measures about a text-to-image model, and what it costs.

Does the picture follow the prompt? Each measurement draws ``n`` digits (500 for the course's
targets) with the prompts of one kind, cycling through the digits (and words), and reads them
with the course's instruments:

* the **digit** — the course classifier (:func:`course_lib.classifier.classify`): accuracy =
  the share read as the prompt's digit;
* an **attribute** — the measurers of :mod:`.captions`: accuracy = the share whose measured class
  is the prompt's word (a digit in the band between two words counts as wrong);
* **diversity** — the mean distance between the classifier features of two samples drawn for
  the same prompt, divided by the same for real held-out digits of that class, or of all classes
  for the empty prompt (1 = as varied as real digits, 0 = every sample the same picture); and for
  the empty prompt, the entropy of the classes drawn
  (:func:`course_lib.metrics.class_histogram_entropy`, 1 = all ten equally often).

:func:`latent_vs_pixel_cost` times the same denoiser on 4×7×7 latents and on 28×28 pixels, side
by side in one run: training steps per second and sampling milliseconds per image.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from functools import lru_cache

import torch

from ..classifier import classify
from ..data import load_mnist
from ..device import resolve_device
from ..diffusion.reverse import diffusion_loss
from ..diffusion.samplers import ddim_timesteps, denoise
from ..metrics import class_histogram_entropy, confident_share
from ..validation import check_choice, check_float, check_int
from .captions import ATTRIBUTES, attribute_words, caption, measure
from .clip import digit_prompts
from .denoiser import TextCondition, build_denoiser
from .pipeline import (
    DEFAULT_GUIDANCE,
    DEFAULT_NFE,
    TextToImage,
    _check_pipeline,
    generate,
    text_guided_predictions,
)
from .tokenizer import tokenize

KINDS = ("digit", *ATTRIBUTES, "empty")

#: Stable Diffusion v1's parts (Rombach et al. 2022; the released v1 model card and code).
STABLE_DIFFUSION_V1 = {
    "tokenizer": "CLIP BPE, 49,408 tokens; prompts padded to 77",
    "text encoder": "CLIP ViT-L/14 text transformer, 12 layers, width 768, ≈123 M parameters (frozen)",
    "autoencoder": "KL-VAE, factor 8 per side, 4 channels: 512×512×3 → 64×64×4, ≈84 M parameters",
    "denoiser": "U-Net with cross-attention to the 77 tokens, ≈860 M parameters",
    "sampler": "50 steps (PNDM / DDIM), guidance scale 7.5 (the course's w = 6.5)",
}


def parts_table(pipe: TextToImage, clip=None) -> list[tuple[str, str, str]]:
    """Rows (part, Stable Diffusion v1, the course's model) with the course's sizes counted from ``pipe``."""
    from ..diffusion.unet import count_parameters
    from .tokenizer import CONTEXT_LENGTH, VOCAB

    _check_pipeline(pipe)
    d, v = pipe.denoiser, pipe.vae
    text_cfg = pipe.config["text"]
    c, s = v.latent_shape[0], v.latent_shape[1]
    ours = {
        "tokenizer": f"{len(VOCAB)} words (English and Chinese); prompts padded to {CONTEXT_LENGTH}",
        "text encoder": f"CLIP-mini text transformer, {text_cfg['layers']} layers, width {text_cfg['width']}, "
                        f"{count_parameters(pipe.text) / 1e6:.2f} M parameters (frozen)"
                        + (f"; with its image encoder {count_parameters(clip) / 1e6:.2f} M" if clip is not None else ""),
        "autoencoder": f"vae_latent, factor {28 // s} per side, {c} channels: 28×28×1 → {s}×{s}×{c}, "
                       f"{count_parameters(v) / 1e6:.2f} M parameters",
        "denoiser": f"U-Net with cross-attention to the {CONTEXT_LENGTH} tokens, "
                    f"{count_parameters(d) / 1e6:.2f} M parameters",
        "sampler": f"{DEFAULT_NFE} DDIM steps, guidance w = {DEFAULT_GUIDANCE:g} (Stable Diffusion's scale "
                   f"{DEFAULT_GUIDANCE + 1:g})",
    }
    return [(part, STABLE_DIFFUSION_V1[part], ours[part]) for part in STABLE_DIFFUSION_V1]


# ----------------------------------------------------------------------------- prompts and their targets


def prompt_set(kind: str, n: int, language: str = "en") -> tuple[list[str], list[int | None], list[int | None]]:
    """``n`` prompts of one ``kind`` with the digit and the attribute class each one asks for.

    ``kind``: ``"digit"`` ("a seven" …), an attribute name (``"thickness"``: "a thin zero", "a
    bold zero", "a thin one" …; every word with every digit in turn), or ``"empty"`` (""). Returns
    ``(prompts, digits, classes)``; ``None`` where a prompt asks for nothing.
    """
    check_choice("kind", kind, KINDS)
    check_choice("language", language, ("en", "zh"))
    n = check_int("n", n, 1)
    if kind == "empty":
        return [""] * n, [None] * n, [None] * n
    if kind == "digit":
        prompts = digit_prompts(language)
        return [prompts[i % 10] for i in range(n)], [i % 10 for i in range(n)], [None] * n
    combos = [(c, d) for d in range(10) for c in range(len(ATTRIBUTES[kind]))]  # the words cycle fastest
    picked = [combos[i % len(combos)] for i in range(n)]
    return ([caption(d, {kind: c}, language) for c, d in picked], [d for _, d in picked], [c for c, _ in picked])


@lru_cache(maxsize=1)
def _real_spread() -> torch.Tensor:
    """Mean pairwise feature distance among real held-out digits (11,): of each class 0–9, and at
    index 10 among all of them (the reference for a prompt that names no digit)."""
    test = load_mnist("test", quiet=True)
    _, feats = classify(test.images)
    per_class = [torch.pdist(feats[test.labels == d]).mean() for d in range(10)]
    return torch.stack([*per_class, torch.pdist(feats).mean()])


def feature_diversity(features: torch.Tensor, groups: list, digits: list) -> float:
    """Mean over the prompt ``groups`` of (mean pairwise feature distance within the group) / (the
    same for real digits of the group's digit, or for all real digits when the prompt names none);
    groups of one sample are skipped."""
    spread = _real_spread()
    ratios = []
    for key in dict.fromkeys(groups):
        idx = [i for i, g in enumerate(groups) if g == key]
        if len(idx) > 1:
            real = spread[digits[idx[0]] if digits[idx[0]] is not None else 10]
            ratios.append(float(torch.pdist(features[idx]).mean() / real))
    return float(sum(ratios) / len(ratios)) if ratios else float("nan")


@dataclass
class PromptScores:
    """One measurement: ``n`` samples for prompts of one ``kind`` and what was read in them."""

    kind: str
    language: str
    n: int
    guidance_scale: float
    negative_prompt: str
    prompts: list
    images: torch.Tensor
    predicted: torch.Tensor
    digit_accuracy: float | None
    attribute_accuracy: float | None
    per_word: dict = field(default_factory=dict)
    confident_share: float = 0.0
    class_entropy: float = 0.0
    diversity: float = 0.0
    measured: object = None
    seconds: float = 0.0
    nfe: int | None = DEFAULT_NFE
    seed: int = 0

    def row(self) -> dict:
        """The numbers of a table row (no tensors)."""
        return {k: getattr(self, k) for k in ("kind", "language", "n", "guidance_scale", "negative_prompt", "nfe",
                                              "seed", "digit_accuracy", "attribute_accuracy", "per_word",
                                              "confident_share", "class_entropy", "diversity", "seconds")}

    def same_draw(self, **settings) -> str | None:
        """None if these scores were drawn with ``settings`` (kind, language, n, guidance_scale,
        negative_prompt, nfe, seed); otherwise a sentence naming the first setting that differs."""
        for key, want in settings.items():
            have = getattr(self, key)
            if (float(have) != float(want)) if key == "guidance_scale" else (have != want):
                return f"they were drawn with {key}={have!r}, not {want!r}"
        return None


def _reused(name: str, scores, **settings):
    """``scores`` if it is a :class:`PromptScores` drawn with ``settings``, else a clear error."""
    if not isinstance(scores, PromptScores):
        raise TypeError(f"{name} must be a PromptScores from score_prompts, got {type(scores).__name__}")
    differs = scores.same_draw(**settings)
    if differs:
        raise ValueError(f"{name} cannot be reused here: {differs}")
    return scores


def score_prompts(pipe: TextToImage, kind: str = "digit", n: int = 500, *, language: str = "en",
                  guidance_scale: float = DEFAULT_GUIDANCE, negative_prompt: str = "", nfe: int = DEFAULT_NFE,
                  seed: int = 0, device=None, progress: bool = False, batch_size: int = 500) -> PromptScores:
    """Draw ``n`` digits for the prompts of one ``kind`` (:func:`prompt_set`) and measure them.

    Sampling runs in batches of ``batch_size`` (batch b with seed ``seed + b``) with DDIM-``nfe``.
    """
    _check_pipeline(pipe)
    prompts, digits, classes = prompt_set(kind, n, language)
    batch_size = check_int("batch_size", batch_size, 1)
    start = time.perf_counter()
    images = torch.cat([
        generate(pipe, prompts[i:i + batch_size], negative_prompt=negative_prompt, guidance_scale=guidance_scale,
                 nfe=nfe, seed=seed + i // batch_size, device=device, progress=progress).cpu()
        for i in range(0, n, batch_size)])
    seconds = time.perf_counter() - start
    probs, feats = classify(images)
    predicted = probs.argmax(1)
    found = measure(images)
    scores = PromptScores(kind, language, n, float(guidance_scale), negative_prompt, prompts, images, predicted,
                          None, None, confident_share=confident_share(probs),
                          class_entropy=class_histogram_entropy(probs) + 0.0,  # no −0.0
                          diversity=feature_diversity(feats, prompts, digits), measured=found, seconds=seconds,
                          nfe=nfe, seed=seed)
    if kind != "empty":
        want = torch.tensor(digits)
        scores.digit_accuracy = float((predicted == want).float().mean())
    if kind in ATTRIBUTES:
        want, got = torch.tensor(classes), found.classes()[kind]
        hits = got == want
        scores.attribute_accuracy = float(hits.float().mean())
        scores.per_word = {word: float(hits[want == c].float().mean()) for c, word in enumerate(attribute_words(kind))}
    return scores


def negative_prompt_effect(pipe: TextToImage, negative_prompt: str = "bold", n: int = 500, *, kind: str = "digit",
                           language: str = "en", guidance_scale: float = DEFAULT_GUIDANCE, nfe: int = DEFAULT_NFE,
                           seed: int = 0, device=None, progress: bool = False, without: PromptScores | None = None) -> dict:
    """The same ``n`` prompts and seeds with the negative prompt "" and with ``negative_prompt``:
    how far the attribute it names moves. ``without``: the scores with the negative prompt "", when
    :func:`score_prompts` already drew them with these settings (they are reused, not drawn again). Returns ``{"without": PromptScores, "with": PromptScores,
    "attribute", "unit", "mean_without", "mean_with", "shift", "stderr", "share_without", "share_with"}``
    — the mean measurement (thickness px or slant °), its paired shift ± standard error, and the
    share of digits measured as the named word."""
    words = [w for w in tokenize_words(negative_prompt) if any(w in attribute_words(a) for a in ATTRIBUTES)]
    if len(words) != 1:
        raise ValueError(f"negative_prompt must name exactly one attribute word (e.g. 'bold', 'right-leaning'), "
                         f"got {negative_prompt!r}")
    word = words[0]
    attribute = next(a for a in ATTRIBUTES if word in attribute_words(a))
    common = dict(kind=kind, language=language, guidance_scale=guidance_scale, nfe=nfe, seed=seed, device=device,
                  progress=progress)
    if without is None:
        without = score_prompts(pipe, n=n, negative_prompt="", **common)
    else:
        _reused("without", without, kind=kind, language=language, n=n, guidance_scale=guidance_scale,
                negative_prompt="", nfe=nfe, seed=seed)
    with_negative = score_prompts(pipe, n=n, negative_prompt=negative_prompt, **common)
    values = {"thickness": ("thickness_px", "px"), "slant": ("slant_deg", "°"), "size": ("height_px", "px")}
    key, unit = values[attribute]
    a = getattr(without.measured, key).double()
    b = getattr(with_negative.measured, key).double()
    diff = b - a
    c = attribute_words(attribute).index(word)
    return {"without": without, "with": with_negative, "attribute": attribute, "word": word, "unit": unit,
            "mean_without": float(a.mean()), "mean_with": float(b.mean()), "shift": float(diff.mean()),
            "stderr": float(diff.std() / len(diff) ** 0.5),
            "share_without": float((without.measured.classes()[attribute] == c).float().mean()),
            "share_with": float((with_negative.measured.classes()[attribute] == c).float().mean())}


def tokenize_words(prompt: str) -> list[str]:
    """The words of a prompt (checked by the tokenizer)."""
    from .tokenizer import split_words

    return split_words(prompt, "negative_prompt")


def guidance_sweep(pipe: TextToImage, scales=(0.0, 1.0, 3.0, 6.5), n: int = 500, *, kind: str = "digit",
                   language: str = "en", nfe: int = DEFAULT_NFE, seed: int = 0, device=None,
                   progress: bool = False, known: PromptScores | None = None) -> dict:
    """{w: :class:`PromptScores`} for the prompts of one ``kind`` at each guidance scale (same seeds).

    ``known``: scores that :func:`score_prompts` already drew with these settings at one of the
    ``scales`` (e.g. the default guidance); they are reused for that scale, not drawn again.
    """
    scales = [check_float(f"scales[{i}]", w, 0.0) for i, w in enumerate(scales)]
    if known is not None:
        _reused("known", known, kind=kind, language=language, n=n, negative_prompt="", nfe=nfe, seed=seed)
        if known.guidance_scale not in scales:
            raise ValueError(f"known was drawn at guidance_scale={known.guidance_scale:g}, which is not one of "
                             f"the scales {scales}")
    return {w: known if known is not None and known.guidance_scale == w else
            score_prompts(pipe, kind, n, language=language, guidance_scale=w, nfe=nfe, seed=seed, device=device,
                          progress=progress) for w in scales}


# ----------------------------------------------------------------------------- cost: latents against pixels


def latent_vs_pixel_cost(config: dict | None = None, *, batch_size: int = 64, train_steps: int = 5,
                         sample_n: int = 16, nfe: int = 10, rounds: int = 3, guidance_scale: float = DEFAULT_GUIDANCE,
                         vae=None, seed: int = 0, device=None) -> dict:
    """Time one denoiser architecture on latents (4×7×7) and on pixels (1×28×28), side by side.

    Both are :class:`~.denoiser.TextUNet` with the same widths (``config``), random weights and
    inputs of their size (cost does not depend on what the weights are). Each of ``rounds``
    rounds times, for the latent model and then the pixel model, ``train_steps`` training steps
    (loss, backward, Adam) of ``batch_size`` and one guided DDIM-``nfe`` run for ``sample_n``
    images (the latent run includes decoding with ``vae``, when given). Interleaving the two
    keeps a change of machine load from favouring one. Returns ``{"latent": {...}, "pixel":
    {...}, "ratio": {...}}`` with ``parameters``, ``positions`` (H·W of the input),
    ``train_steps_per_s`` and ``sample_ms_per_image`` (medians over the rounds), and
    ``ratio`` = pixel cost / latent cost.
    """
    batch_size = check_int("batch_size", batch_size, 1)
    train_steps = check_int("train_steps", train_steps, 1)
    sample_n = check_int("sample_n", sample_n, 1)
    nfe = check_int("nfe", nfe, 1, 1000)
    rounds = check_int("rounds", rounds, 1)
    device = resolve_device(device)
    torch.manual_seed(seed)
    spaces = {"latent": dict(in_channels=4, image_size=7), "pixel": dict(in_channels=1, image_size=28)}
    models = {name: build_denoiser({**(config or {}), **shape}).to(device) for name, shape in spaces.items()}
    context = models["latent"].config["context_dim"]
    tokens = tokenize(["a bold seven"] * max(batch_size, sample_n)).to(device)
    text = TextCondition(torch.randn(*tokens.ids.shape, context, device=device), tokens.mask)
    empty = tokenize([""] * sample_n).to(device)
    negative = TextCondition(torch.randn(*empty.ids.shape, context, device=device), empty.mask)
    times = {name: {"train": [], "sample": []} for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            shape = (model.in_channels, model.image_size, model.image_size)
            x0 = torch.randn(batch_size, *shape, device=device)
            opt = torch.optim.Adam(model.parameters(), lr=1e-4)
            model.train()
            cond = TextCondition(text.text_emb[:batch_size], text.mask[:batch_size])
            _sync(device)
            start = time.perf_counter()
            for _ in range(train_steps):
                t = torch.randint(0, model.schedule.num_steps, (batch_size,), device=device)
                loss = diffusion_loss(model, x0, t, torch.randn_like(x0), model.schedule.to(device), labels=cond)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            _sync(device)
            times[name]["train"].append((time.perf_counter() - start) / train_steps)
            times[name]["sample"].append(_time_sampling(model, sample_n, nfe, text, negative, guidance_scale,
                                                        vae if name == "latent" else None, device))
    out = {}
    for name, model in models.items():
        out[name] = {"parameters": sum(p.numel() for p in model.parameters()),
                     "positions": model.image_size ** 2, "values": model.in_channels * model.image_size ** 2,
                     "train_steps_per_s": 1 / statistics.median(times[name]["train"]),
                     "sample_ms_per_image": 1000 * statistics.median(times[name]["sample"]) / sample_n}
    out["ratio"] = {"train": out["latent"]["train_steps_per_s"] / out["pixel"]["train_steps_per_s"],
                    "sample": out["pixel"]["sample_ms_per_image"] / out["latent"]["sample_ms_per_image"]}
    out["settings"] = dict(batch_size=batch_size, train_steps=train_steps, sample_n=sample_n, nfe=nfe, rounds=rounds,
                           guidance_scale=guidance_scale, device=str(device), threads=torch.get_num_threads())
    return out


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_sampling(model, n, nfe, text, negative, w, vae, device) -> float:
    """Seconds for one guided DDIM-``nfe`` run of ``n`` images (plus decoding with ``vae``)."""
    schedule = model.schedule.to(device)
    cond = TextCondition(text.text_emb[:n], text.mask[:n])
    path = ddim_timesteps(schedule.num_steps, nfe) + [-1]
    x = torch.randn(n, model.in_channels, model.image_size, model.image_size, device=device)
    _sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        x, _ = denoise(model, x, path, progress=False,
                       predict=lambda z, t: text_guided_predictions(model, z, t, schedule, cond, negative, w))
        if vae is not None:
            vae.decode(x / vae.scaling_factor)
    _sync(device)
    return time.perf_counter() - start
