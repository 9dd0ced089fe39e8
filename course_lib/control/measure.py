"""The measurements of notebook 09: each sweep runs one editing method over its knob and scores it.

Every sweep returns ``(rows, images)``: ``rows`` a list of dicts, one per knob value, with the
numbers the notebook prints as a table (:func:`format_rows`); ``images`` maps the knob value to
what the method made, for the figures of :mod:`course_lib.control.figures`. The scores use the
course's digit classifier (:mod:`course_lib.classifier`):

* **agreement** — the share of images the classifier reads as the intended digit;
* **confident** — the share it reads as *some* digit with probability ≥ 0.9 (half-formed strokes
  and noise score low: the classifier was trained to say "don't know" on them);
* **RMS distance** — √(mean of squared pixel differences) in [−1, 1] units, per image, averaged;
* **denoising error** — how typical an image is *for the denoiser*: noise it to a few timesteps and
  measure how well the model recovers it, mean_t ‖x̂_0(x_t, t) − x‖² / pixels. This is the
  diffusion loss on x_0, up to per-t weights a bound on −log p(x) (DDPM §3.4), so a low value means
  "the kind of image the model draws". A sketch scores high; real held-out digits are the yardstick.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from ..classifier import check_digits, classify
from ..diffusion.forward import q_sample
from ..diffusion.samplers import denoise
from ..validation import check_float, check_int, check_tensor
from .common import check_model_images, prepare_call
from .guidance import classifier_loss, guided_sample
from .inpaint import check_mask, inpaint
from .inversion import round_trip
from .sdedit import sdedit, sdedit_timesteps

CONFIDENT = 0.9


def rms_distance(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-image root-mean-square difference √(mean_pixels (x − y)²), shape (B,), in [−1, 1] units."""
    return (images.float().cpu() - reference.float().cpu()).pow(2).flatten(1).mean(1).sqrt()


def denoising_error(model: nn.Module, images: torch.Tensor, fractions=(0.1, 0.3, 0.5, 0.7), seed: int = 0,
                    device=None) -> torch.Tensor:
    """Per image, mean over t = ⌊f·T⌋ for f in ``fractions`` of ‖x̂_0(x_t, t) − x‖² / pixels, with
    x_t = q_sample(x, t, ε) and ε drawn from ``seed``: (B,). Low = typical for ``model``."""
    check_model_images("images", images, model)
    call = prepare_call(model, len(images), seed=seed, device=device)
    x = images.to(device=call.device, dtype=torch.float32)
    errors = []
    with torch.inference_mode():
        for f in fractions:
            t = int(check_float("fractions", f, 0.0, 1.0, high_open=True) * call.schedule.num_steps)
            noise = torch.randn(x.shape, generator=call.generator, device=call.device)
            xt = q_sample(x, t, call.schedule, noise)
            x0_pred, _ = denoise(model, xt, [t, -1], progress=False)                # one DDIM jump to the end is x̂_0
            errors.append((x0_pred - x).pow(2).flatten(1).mean(1))                   # ‖x̂_0 − x‖² / pixels
    return torch.stack(errors).mean(0).cpu()


def read_digits(images: torch.Tensor, labels: torch.Tensor) -> dict:
    """What the classifier reads in ``images``: ``agreement`` with ``labels``, ``confident`` share,
    mean probability of the label ``p_label``, and the predicted digits ``read`` (B,)."""
    check_digits("images", images)
    probs, _ = classify(images)
    labels = labels.cpu().long()
    return {
        "agreement": float((probs.argmax(1) == labels).float().mean()),
        "confident": float((probs.max(1).values >= CONFIDENT).float().mean()),
        "p_label": float(probs.gather(1, labels[:, None]).mean()),
        "read": probs.argmax(1),
    }


def _labels(name: str, labels, n: int) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    check_tensor(name, labels, shape=(n,))
    if labels.is_floating_point() or int(labels.min()) < 0 or int(labels.max()) > 9:
        raise ValueError(f"{name} must hold the digits 0–9 the images are meant to be, shape ({n},)")
    return labels.long()


def strength_sweep(model: nn.Module, sketches: torch.Tensor, labels, strengths, *, nfe: int = 50, eta: float = 0.0,
                   seed: int = 0, device=None, progress: bool = False):
    """SDEdit on ``sketches`` at each of ``strengths``: per row the strength, t_0, the network
    evaluations, the RMS distance to the sketch (faithfulness), agreement with ``labels`` (the
    digits the sketches are meant to be), the confident share, the :func:`denoising_error`
    (realism, to the model) and the seconds."""
    check_digits("sketches", sketches)
    labels = _labels("labels", labels, len(sketches))
    strengths = [check_float("strengths", s, 0.0, 1.0) for s in strengths]
    rows, images = [], {}
    for strength in strengths:
        start = time.perf_counter()
        out = sdedit(model, sketches, strength, nfe=nfe, eta=eta, seed=seed, device=device, progress=progress).cpu()
        seconds = time.perf_counter() - start
        steps = sdedit_timesteps(strength, nfe, model.schedule.num_steps)
        read = read_digits(out, labels)
        rows.append({"strength": strength, "t0": steps[0] if steps else -1, "nfe": len(steps),
                     "rms_to_sketch": float(rms_distance(out, sketches).mean()),
                     "agreement": read["agreement"], "confident": read["confident"],
                     "denoising_error": float(denoising_error(model, out, device=device).mean()), "seconds": seconds})
        images[strength] = out
    return rows, images


def compare_inpainting(model: nn.Module, images: torch.Tensor, labels, mask: torch.Tensor, settings: dict, *,
                       nfe: int = 50, seed: int = 0, device=None, progress: bool = False):
    """Inpaint ``images`` under ``mask`` with each of ``settings`` (name → keyword arguments of
    :func:`~course_lib.control.inpaint`, e.g. ``{"paste": dict(method="paste")}``): per row the
    network evaluations, agreement with the true ``labels``, the confident share, the largest
    change of a known pixel and the seconds."""
    check_digits("images", images)
    labels = _labels("labels", labels, len(images))
    mask = check_mask(mask, images)
    if not isinstance(settings, dict) or not settings:
        raise ValueError("settings must be a non-empty dict: name -> keyword arguments of inpaint()")
    rows, results = [], {}
    for name, options in settings.items():
        start = time.perf_counter()
        out = inpaint(model, images, mask, nfe=nfe, seed=seed, device=device, progress=progress, **options).cpu()
        seconds = time.perf_counter() - start
        read = read_digits(out, labels)
        resample = options.get("resample", 1)
        rows.append({"method": name, "nfe": (nfe - 1) * resample + 1,
                     "agreement": read["agreement"], "confident": read["confident"],
                     "known_change": float(((out - images.cpu()) * mask.cpu()).abs().max()), "seconds": seconds})
        results[name] = out
    return rows, results


def inversion_errors(model: nn.Module, images: torch.Tensor, nfes, *, device=None, progress: bool = False):
    """DDIM round trips of ``images`` with each of ``nfes`` steps: per row the steps, the mean and
    largest per-image RMS error of image → noise → image, the inverted noise's mean and standard
    deviation (standard normal would be 0 and 1) and the seconds."""
    check_digits("images", images)
    nfes = [check_int("nfes", n, 1) for n in nfes]
    rows, results = [], {}
    for nfe in nfes:
        start = time.perf_counter()
        noise, back = round_trip(model, images, nfe=nfe, device=device, progress=progress)
        rmse = rms_distance(back, images)
        rows.append({"nfe": nfe, "rms_mean": float(rmse.mean()), "rms_max": float(rmse.max()),
                     "noise_mean": float(noise.mean()), "noise_std": float(noise.std()),
                     "seconds": time.perf_counter() - start})
        results[nfe] = back.cpu()
    return rows, results


def guidance_sweep(model: nn.Module, digit: int, scales, n: int, *, nfe: int = 50, seed: int = 0, device=None,
                   progress: bool = False):
    """Classifier guidance toward ``digit`` at each of ``scales``, ``n`` samples each from the same
    start noise: per row the scale, the mean p(digit | x), the share read as ``digit``
    (accuracy), the same after shifting every image by one pixel (a check that the guidance drew a
    digit rather than an adversarial pattern that only this classifier reads), the confident
    share and the seconds."""
    digit = check_int("digit", digit, 0, 9)
    scales = [check_float("scales", s, 0.0) for s in scales]
    loss = classifier_loss(digit)
    target = torch.full((check_int("n", n, 1),), digit)
    rows, samples = [], {}
    for scale in scales:
        start = time.perf_counter()
        out = guided_sample(model, n, loss, scale=scale, nfe=nfe, seed=seed, device=device, progress=progress).cpu()
        seconds = time.perf_counter() - start
        read = read_digits(out, target)
        shifted = read_digits(torch.roll(out, shifts=(1, 1), dims=(2, 3)), target)
        rows.append({"scale": scale, "p_digit": read["p_label"], "accuracy": read["agreement"],
                     "accuracy_shifted": shifted["agreement"], "confident": read["confident"], "seconds": seconds})
        samples[scale] = out
    return rows, samples


def format_rows(rows: list[dict], columns: dict | None = None) -> str:
    """``rows`` as an aligned text table; ``columns`` maps a key to (heading, format), default all keys."""
    if not rows:
        raise ValueError("rows must hold at least one row")
    columns = columns or {key: (key, "{:.3g}" if isinstance(value, float) else "{}") for key, value in rows[0].items()
                          if not isinstance(value, torch.Tensor)}
    cells = [[heading for heading, _ in columns.values()]]
    cells += [[fmt.format(row[key]) for key, (_, fmt) in columns.items()] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])
