"""Training the text-to-image pipeline: CLIP first, then the latent denoiser (notebook 08).

The order is Stable Diffusion's. Its text encoder (CLIP's) and its autoencoder were trained
before, and stay **frozen** while the denoiser learns; so do ours: the VAE of notebook 07
(``vae_latent``) and the text encoder of CLIP in miniature (:func:`~.clip.train_clip`). One step
of :func:`train_text2img` is DDPM's Algorithm 1 on latents with a caption:

1. a batch of digits' latents z_0 = s · μ_φ(x) (the VAE's posterior mean times its scaling
   factor s, computed once before training) and a fresh random caption for each
   (:func:`~.captions.sample_captions`; the empty caption with probability ``caption_dropout``:
   classifier-free guidance needs the model to know ∅ too, Ho & Salimans 2022);
2. the captions through the frozen text encoder: ``text_emb`` (B, L, D) and the padding mask;
3. t ~ U{0 … T−1}, ε ~ N(0, I), z_t = √ᾱ_t z_0 + √(1−ᾱ_t) ε and the course's loss
   (:func:`course_lib.diffusion.reverse.diffusion_loss`, on v for a v-model);
4. one Adam step on the denoiser (learning rate warmed up and annealed over the budget), one
   update of the EMA of its weights, copied into the model at the end.
"""

from __future__ import annotations

import torch
from torch import nn

from ..budget import preset_for
from ..device import resolve_device
from ..diffusion.reverse import diffusion_loss
from ..ema import EMA
from ..train_loop import Budget, TrainRecord, lr_at
from ..validation import check_float, check_instance, check_int
from .captions import check_share, sample_captions
from .clip import check_captioned
from .denoiser import TextCondition
from .pipeline import TextToImage
from .tokenizer import tokenize

#: Training recipes of the denoiser per run budget (steps/minutes: whichever ends first). The
#: ``cpu`` recipe trains a smaller denoiser (``denoiser`` overrides its architecture) so that CLIP
#: and the denoiser together fit in about 10 minutes on a laptop.
PRESETS = {
    "smoke": dict(steps=3, minutes=0.5, batch_size=16, denoiser=dict(base_channels=16)),
    "cpu": dict(steps=100_000, minutes=8.0, batch_size=64, lr=2e-3, ema_decay=0.998,
                denoiser=dict(base_channels=32)),
    "gpu": dict(steps=30_000, minutes=20.0, batch_size=256, lr=1e-3, ema_decay=0.9995,
                denoiser=dict(base_channels=64)),
}


def preset(budget: str | None = None, **overrides) -> dict:
    """The denoiser's training recipe for a run budget (``smoke``/``cpu``/``gpu``; default: the active one)."""
    return preset_for(PRESETS, budget, **overrides)


def train_text2img(
    model: nn.Module,
    data,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    device=None,
    progress: bool = True,
    batch_size: int = 64,
    lr: float = 2e-3,
    ema_decay: float = 0.999,
    caption_dropout: float = 0.1,
    attribute_dropout: float = 0.5,
    chinese_share: float = 0.5,
    grad_clip: float | None = 1.0,
    clock: str = "wall",
) -> TrainRecord:
    """Train the denoiser of a :class:`~.pipeline.TextToImage` on captioned digits; return the record.

    ``data``: a :class:`~.captions.CaptionedDigits`. The text encoder and the VAE are frozen;
    see the module docstring for one step. Stops after ``steps`` steps or ``minutes`` minutes,
    whichever comes first. ``history["loss"]`` holds the per-step losses. The denoiser ends with
    its EMA weights, in eval mode.
    """
    check_instance("model", model, TextToImage, hint="build one with build_text2img()")
    data = check_captioned("data", data)
    batch_size = check_int("batch_size", batch_size, 1, len(data))
    lr = check_float("lr", lr, 0.0, low_open=True)
    ema_decay = check_float("ema_decay", ema_decay, 0.0, 1.0, high_open=True)
    caption_dropout = check_share("caption_dropout", caption_dropout)
    attribute_dropout = check_share("attribute_dropout", attribute_dropout)
    chinese_share = check_share("chinese_share", chinese_share)
    if grad_clip is not None:
        grad_clip = check_float("grad_clip", grad_clip, 0.0, low_open=True)
    seed = check_int("seed", seed, 0)
    budget = Budget(steps, minutes, desc="text2img denoiser", progress=progress, clock=clock)
    device = resolve_device(device)

    model.to(device).eval()
    denoiser = model.denoiser.train()
    latents = torch.cat([model.encode_images(chunk.to(device)) for chunk in data.images.split(500)])  # z_0 = s μ(x)
    schedule = denoiser.schedule.to(device)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(denoiser.parameters(), lr=lr)
    ema = EMA(denoiser, ema_decay)
    n, T = len(data), schedule.num_steps
    for _ in budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(budget.fraction, lr)
        idx = torch.randint(0, n, (batch_size,), generator=gen)
        captions = sample_captions(data.labels[idx], {k: v[idx] for k, v in data.attributes.items()}, gen,
                                   attribute_dropout=attribute_dropout, caption_dropout=caption_dropout,
                                   chinese_share=chinese_share)
        tokens = tokenize(captions).to(device)
        with torch.no_grad():
            text_emb, _ = model.text(tokens)                                     # frozen text encoder
        z0 = latents[idx.to(device)]
        t = torch.randint(0, T, (batch_size,), generator=gen).to(device)         # t ~ U{0, …, T−1}
        noise = torch.randn(z0.shape, generator=gen).to(device)                   # ε ~ N(0, I)
        loss = diffusion_loss(denoiser, z0, t, noise, schedule, labels=TextCondition(text_emb, tokens.mask))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(denoiser.parameters(), grad_clip)
        opt.step()
        ema.update(denoiser)
        budget.log(loss=loss.detach())
    record = budget.finish()
    denoiser.load_state_dict(ema.model.state_dict())
    model.eval()
    return record


def assemble_pipeline(clip: nn.Module, vae: nn.Module, denoiser: dict | None = None) -> TextToImage:
    """A :class:`~.pipeline.TextToImage` from a trained CLIP-mini (its text encoder), a trained VAE
    (``vae_latent``'s architecture, with its scaling factor) and a fresh denoiser (``denoiser``:
    architecture overrides). Only the denoiser remains to be trained."""
    from .clip import CLIPMini

    check_instance("clip", clip, CLIPMini)
    text = {k: clip.config[k] for k in ("width", "layers", "heads")}
    pipe = TextToImage(text=text, denoiser=denoiser, vae=dict(vae.config))
    pipe.text.load_state_dict(clip.text.state_dict())
    pipe.vae.load_state_dict(vae.state_dict())
    return pipe.to(next(clip.parameters()).device).eval()


def load_or_train_text2img(train: bool = False, *, data=None, device=None, progress: bool = True,
                           clip_recipe: dict | None = None, recipe: dict | None = None):
    """The course's text-to-image model and its CLIP-mini, or a pair trained here; says which.

    With ``train=False`` and the shipped checkpoints present: ``load_pretrained("text2img")`` and
    ``load_pretrained("text2img_clip")``. Otherwise CLIP-mini is trained on ``data`` (a
    :class:`~.captions.CaptionedDigits`; default: the captioned training digits) with
    :func:`~.clip.preset` (updated with ``clip_recipe``), then a denoiser with :func:`preset`
    (updated with ``recipe``; its ``denoiser`` entry sets the architecture) on ``vae_latent``'s
    latents. Returns ``(pipe, clip, info)``; ``info["source"]`` is ``"shipped"`` or ``"trained"``,
    and a training run's records are ``info["clip_record"]`` and ``info["record"]``.
    """
    import time

    from ..registry import has_shipped, load_pretrained
    from .clip import build_clip, train_clip
    from .clip import preset as clip_preset

    device = resolve_device(device)
    if not train and has_shipped("text2img") and has_shipped("text2img_clip"):
        pipe, clip = load_pretrained("text2img", device), load_pretrained("text2img_clip", device)
        print(f"Loaded the course's checkpoints 'text2img' and 'text2img_clip' (SHA-256 verified; the denoiser "
              f"trained {pipe.record.get('steps', '?')} steps on {pipe.record.get('data', '?')}).")
        return pipe, clip, {"source": "shipped", "record": pipe.record}
    if data is None:
        from ..data import load_mnist
        from .captions import caption_digits

        data = caption_digits(load_mnist("train"))
    clip_recipe, recipe = clip_preset(**(clip_recipe or {})), preset(**(recipe or {}))
    architecture = recipe.pop("denoiser", None)
    start = time.perf_counter()
    clip = build_clip()
    clip_record = train_clip(clip, data, device=device, progress=progress, **clip_recipe)
    pipe = assemble_pipeline(clip, load_pretrained("vae_latent", device), architecture)
    record = train_text2img(pipe, data, device=device, progress=progress, **recipe)
    seconds = time.perf_counter() - start
    print(f"Trained CLIP-mini ({clip_record.steps} steps, {clip_record.seconds:.0f} s) and the denoiser "
          f"({record.steps} steps, {record.seconds:.0f} s): {seconds:.0f} s in all.")
    return pipe, clip, {"source": "trained", "clip_record": clip_record, "record": record, "seconds": seconds}
