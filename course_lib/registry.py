"""The one registry of the models the course ships, for every family (CONVENTIONS, "The API").

    model = load_pretrained("ddpm_mnist")            # any family, any device
    images = sample_pretrained("dcgan_mnist", 16)    # what `python -m course_lib sample NAME` runs

Each :class:`Entry` says which family a shipped checkpoint belongs to, how to build its
architecture from the config in its manifest record (``course_lib/checkpoints/manifest.json``),
how to draw images from it, which command line options its sampler takes, and the command that
trains it again. The weights are verified by SHA-256 and loaded with ``weights_only=True``
(:mod:`course_lib.checkpoints`). Families add their entries here, nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from . import checkpoints
from .device import resolve_device


@dataclass(frozen=True)
class Entry:
    """One shipped model: its ``family``, a one-line ``summary``, ``build(config) -> model``
    (an untrained model of the shipped architecture), ``sample(model, n, *, seed, device,
    progress, **options) -> images`` in [−1, 1] (``None`` for models that do not generate),
    the sampler ``options`` the CLI may pass, short ``aliases`` and the command that ``makes`` it."""

    name: str
    family: str
    summary: str
    build: Callable[[dict], nn.Module]
    sample: Callable | None = None
    options: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    makes: str = ""
    defaults: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- builders and samplers
# Imports happen inside: the registry is imported by light modules (the CLI, course_lib itself),
# and a family's code is loaded only when one of its models is asked for.


def _build_denoiser(config: dict) -> nn.Module:
    from .diffusion.unet import build_unet

    return build_unet(config)


def _sample_denoiser(model, n, *, seed, device, progress, sampler="ddim", nfe=None, eta=0.0,
                     label=None, guidance_scale=0.0):
    from .diffusion.samplers import sample

    labels = None
    if getattr(model, "num_classes", None) is not None:
        labels = torch.full((n,), label) if label is not None else torch.arange(n) % model.num_classes
    return sample(model, n, sampler=sampler, nfe=nfe, eta=eta, labels=labels,
                  guidance_scale=guidance_scale if labels is not None else 0.0,
                  seed=seed, device=device, progress=progress)


def _build_dcgan(config: dict) -> nn.Module:
    from .gan.models import DCGANGenerator

    return DCGANGenerator(**config)


def _sample_generator(model, n, *, seed, device, progress):
    from .gan.training import generate

    return generate(model, n, seed=seed, device=device)


def _build_classifier(config: dict) -> nn.Module:
    from .classifier import DigitClassifier

    return DigitClassifier(**config)


def _build_vae(config: dict) -> nn.Module:
    from .vae.models import build_vae

    return build_vae(config)


def _sample_vae(model, n, *, seed, device, progress):
    from .vae.models import sample_prior

    return sample_prior(model, n, seed=seed, device=device, progress=progress)


def _build_flow(config: dict) -> nn.Module:
    from .flow.latent import build_latent_flow
    from .flow.matching import build_flow_unet

    return build_latent_flow(config) if "vae" in config else build_flow_unet(config)


def _sample_flow(model, n, *, seed, device, progress, nfe=8, solver="euler", label=None):
    from .flow.ode import sample_flow

    return sample_flow(model, n, nfe=nfe, solver=solver, seed=seed, device=device, progress=progress,
                       labels=label)


def _build_text2img(config: dict) -> nn.Module:
    from .text2img.pipeline import build_text2img

    return build_text2img(config)


def _sample_text2img(model, n, *, seed, device, progress, prompt="", negative_prompt="", guidance_scale=None,
                     nfe=None, sampler="ddim", eta=0.0):
    from .text2img.pipeline import DEFAULT_GUIDANCE, generate

    return generate(model, prompt, n, negative_prompt=negative_prompt, nfe=nfe, sampler=sampler, eta=eta,
                    guidance_scale=DEFAULT_GUIDANCE if guidance_scale is None else guidance_scale,
                    seed=seed, device=device, progress=progress)


def _build_clip(config: dict) -> nn.Module:
    from .text2img.clip import build_clip

    return build_clip(config)


REGISTRY: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("ddpm_mnist", "diffusion", "unconditional digit denoiser (DDPM/DDIM sampling)",
              _build_denoiser, _sample_denoiser, options=("sampler", "nfe", "eta"), aliases=("ddpm",),
              makes="python scripts/train_ddpm.py"),
        Entry("ddpm_mnist_cond", "diffusion", "class-conditional digit denoiser (classifier-free guidance)",
              _build_denoiser, _sample_denoiser, options=("sampler", "nfe", "eta", "label", "guidance_scale"),
              aliases=("ddpm-cond",), makes="python scripts/train_ddpm.py --conditional",
              defaults={"guidance_scale": 3.0}),
        Entry("dcgan_mnist", "gan", "DCGAN generator of digits", _build_dcgan, _sample_generator,
              aliases=("dcgan",), makes="python scripts/train_dcgan.py"),
        Entry("vae_2d", "vae", "VAE with a 2-D latent: digits drawn from the prior N(0, I)", _build_vae,
              _sample_vae, aliases=("vae-2d",), makes="python scripts/train_vae.py vae_2d"),
        Entry("vae_latent", "vae", "VAE with a 4x7x7 latent, the compressor notebook 08 diffuses in",
              _build_vae, _sample_vae, aliases=("vae-latent",), makes="python scripts/train_vae.py vae_latent"),
        Entry("flow", "flow", "class-conditional latent flow (SD3 in miniature): digits in vae_latent's space "
              "in a few Euler steps (--steps = network evaluations)",
              _build_flow, _sample_flow, options=("nfe", "label"), aliases=("flow-mnist",),
              makes="python scripts/train_flow.py latent ... --ship (the exact command: the manifest's notes)"),
        Entry("flow_reflow", "flow", "rectified flow distilled from ddpm_mnist by reflow: unconditional digits "
              "in a few Euler steps (--steps = network evaluations)",
              _build_flow, _sample_flow, options=("nfe",), aliases=("reflow",),
              makes="python scripts/train_flow.py pairs ... && python scripts/train_flow.py reflow ... --ship "
                    "(the exact commands: the manifest's notes)"),
        Entry("text2img", "text2img", "text-to-image: a prompt (English or Chinese) -> digits, latent diffusion "
              "with cross-attention", _build_text2img, _sample_text2img,
              options=("prompt", "negative_prompt", "guidance_scale", "nfe", "sampler", "eta"),
              aliases=("text-to-image",), makes="python scripts/train_text2img.py"),
        Entry("text2img_clip", "text2img", "CLIP in miniature: the text encoder of text2img and its image encoder",
              _build_clip, makes="python scripts/train_text2img.py"),
        Entry("mnist_classifier", "classifier", "the digit classifier that scores generated digits",
              _build_classifier, makes="python scripts/train_classifier.py"),
    )
}


def entry(name: str) -> Entry:
    """The registry entry of ``name`` (a shipped name or an alias), or a clear ``ValueError``."""
    if isinstance(name, str):
        if name in REGISTRY:
            return REGISTRY[name]
        for e in REGISTRY.values():
            if name in e.aliases:
                return e
    known = ", ".join(f"{e.name}" + (f" ({'/'.join(e.aliases)})" if e.aliases else "") for e in REGISTRY.values())
    raise ValueError(f"name must be a model the course ships: {known}; got {name!r}")


def generators() -> list[str]:
    """The names of the shipped models that draw images (what ``sample NAME`` accepts)."""
    return [name for name, e in REGISTRY.items() if e.sample is not None]


def shipped_record(name: str) -> dict | None:
    """The manifest record of ``name`` if this copy of the course has its file, else ``None``."""
    record = checkpoints.shipped_checkpoints().get(entry(name).name)
    if record is None or not (checkpoints.SHIPPED_DIR / record["file"]).is_file():
        return None
    return record


def has_shipped(name: str) -> bool:
    """True if the checkpoint ``name`` is listed in the manifest and its file is present; False for a
    name this copy of the course does not register (a model of a notebook it does not have yet)."""
    try:
        entry(name)
    except ValueError:
        return False
    return shipped_record(name) is not None


def build_model(name: str, config: dict | None = None) -> nn.Module:
    """An untrained model with the architecture of ``name`` (from its manifest record, or ``config``)."""
    e = entry(name)
    if config is None:
        record = checkpoints.shipped_checkpoints().get(e.name) or {}
        config = record.get("config") or {}
    return e.build(config)


def load_pretrained(name: str, device=None) -> nn.Module:
    """The shipped model ``name``, trained, in eval mode on ``device`` (``None``: best available).

    Rebuilds the architecture from the checkpoint's manifest record, verifies the file's SHA-256
    and loads it with ``weights_only=True``. The record (data, seed, steps, scores, the command
    that made it) is attached as ``model.record``.
    """
    e = entry(name)
    device = resolve_device(device)
    record = shipped_record(e.name)
    if record is None:
        raise FileNotFoundError(
            f"the course's checkpoint {e.name!r} is not in this copy of the course: make it with "
            f"`{e.makes}`, or train your own in the notebook (train=True)"
        )
    model = e.build(record.get("config") or {})
    checkpoints.load_weights(model, checkpoints.SHIPPED_DIR / record["file"], record["sha256"])
    model.record = record
    return model.to(device).eval()


def sample_pretrained(name: str, n: int, *, seed: int = 0, device=None, progress: bool = True,
                      **options) -> torch.Tensor:
    """Draw ``n`` images (n, C, H, W) in [−1, 1] from the shipped generator ``name``, on the CPU.

    ``options`` are the family's sampler options listed in the entry (e.g. ``nfe``, ``eta``,
    ``label``, ``guidance_scale`` for the diffusion models); others raise ``ValueError``.
    """
    e = entry(name)
    if e.sample is None:
        raise ValueError(f"name={name!r} is a {e.family}, not an image generator; "
                         f"generators: {', '.join(generators())}")
    unknown = sorted(set(options) - set(e.options))
    if unknown:
        allowed = ", ".join(e.options) or "none"
        raise ValueError(f"{e.name} does not take the option(s) {', '.join(unknown)} (it takes: {allowed})")
    options = {**e.defaults, **options}
    model = load_pretrained(e.name, device)
    return e.sample(model, n, seed=seed, device=device, progress=progress, **options).cpu()
