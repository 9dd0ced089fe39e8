"""One table of every model the course ships: quality, coverage, diversity and cost (notebook 11).

GANs draw sharp samples in one network call but can drop modes; VAEs cover the data and sample
in one call but blur; diffusion models are sharp and cover the data but pay tens to a thousand
network calls per picture. Xiao et al. (2022) called this the **generative learning trilemma**.
The table measures it on the course's own models, all on the same n samples and the same
real digits (the held-out reference of :mod:`course_lib.metrics`):

* **quality** — the confident share (:func:`course_lib.metrics.confident_share`), the
  **precision** and Naeem's **density** (:mod:`.precision_recall`; density is not fooled by an
  outlier real digit whose large ball swallows a collapsed generator's samples);
* **coverage** — the class entropy and the **recall**;
* **diversity** — the mean distance between two samples' classifier features, divided by the
  same for real digits: 1 is as varied as real digits, below 1 too alike (collapse), above 1
  more scattered than real digits (off the manifold);
* **overall** — the Fréchet ratio at n = 500 (quality and coverage mixed in one number);
* **copies** — the share of samples the memorisation test (:mod:`.memorisation`) calls copies;
* **cost** — network evaluations per picture (``nfe``), parameters, and milliseconds per
  picture measured while drawing the samples.

:func:`shipped_candidates` lists the shipped generators (the flow and text-to-image models when
this copy of the course has them); :func:`draw_samples` draws from each and times it;
:func:`comparison_table` scores the draws.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..classifier import check_digits, classify
from ..device import count_parameters
from ..metrics import class_histogram_entropy, confident_share, reference_features, score_digits
from ..validation import check_instance, check_int
from .memorisation import memorisation
from .precision_recall import precision_recall


@dataclass
class Candidate:
    """One generator in the table: a ``label``, its ``family``, ``draw(n, seed) -> images``
    (n, 1, 28, 28) in [−1, 1], network evaluations per picture ``nfe``, ``parameters`` and a
    ``note`` (the sampler settings)."""

    label: str
    family: str
    draw: Callable[[int, int], torch.Tensor]
    nfe: int
    parameters: int
    note: str = ""


def generator_candidate(label: str, generator: torch.nn.Module, device=None, note: str = "") -> Candidate:
    """A :class:`Candidate` for a GAN generator (one network call per picture), e.g. one trained
    in the notebook (the source's MLP GAN)."""
    from ..gan import generate

    return Candidate(label, "gan", lambda n, seed: generate(generator, n, seed=seed, device=device), 1,
                     count_parameters(generator), note)


def shipped_candidates(device=None, nfe: int = 50) -> dict[str, Candidate]:
    """The shipped generators that this copy of the course has, as candidates: the DCGAN, both
    VAEs (prior samples), the DDPM with DDIM-``nfe`` (η = 0), the class-conditional model (DDIM-
    ``nfe``, guidance w = 3, labels 0 … 9 in turn), and — when shipped — the two flow models (8 Euler
    steps: the reflowed DDPM and the class-conditional latent flow) and the text-to-image model
    (prompts "a zero" … "a nine" in turn)."""
    from ..registry import has_shipped, load_pretrained, sample_pretrained

    nfe = check_int("nfe", nfe, 1, 1000)

    def drawer(name, **options):
        return lambda n, seed: sample_pretrained(name, n, seed=seed, device=device, progress=False, **options)

    plan = [
        ("DCGAN", "dcgan_mnist", "gan", {}, 1, "one generator call"),
        ("VAE (2-d latent)", "vae_2d", "vae", {}, 1, "prior sample, one decoder call"),
        ("VAE (4x7x7 latent)", "vae_latent", "vae", {}, 1, "prior sample, one decoder call"),
        (f"DDPM, DDIM-{nfe}", "ddpm_mnist", "diffusion", {"nfe": nfe}, nfe, "η = 0"),
        (f"conditional, DDIM-{nfe}", "ddpm_mnist_cond", "diffusion", {"nfe": nfe, "guidance_scale": 3.0}, 2 * nfe,
         "w = 3, labels 0…9 in turn (guidance: 2 calls per step)"),
        ("reflowed DDPM, 8 Euler steps", "flow_reflow", "flow", {"nfe": 8}, 8, "rectified flow distilled from the DDPM"),
        ("latent flow, 8 Euler steps", "flow", "flow", {"nfe": 8}, 8,
         "class-conditional (labels 0…9 in turn), in vae_latent's space"),
    ]
    out = {}
    for label, name, family, options, calls, note in plan:
        if has_shipped(name):
            out[label] = Candidate(label, family, drawer(name, **options), calls,
                                   count_parameters(load_pretrained(name, device="cpu")), note)
    if has_shipped("text2img"):
        from ..text2img.clip import digit_prompts

        prompts = digit_prompts()
        pipe = load_pretrained("text2img", device="cpu")
        text_nfe = nfe

        def draw_text(n, seed):
            return sample_pretrained("text2img", n, seed=seed, device=device, progress=False, nfe=text_nfe,
                                     prompt=[prompts[i % 10] for i in range(n)])

        out[f"text-to-image, DDIM-{nfe}"] = Candidate(
            f"text-to-image, DDIM-{nfe}", "text2img", draw_text, 2 * nfe, count_parameters(pipe),
            'prompts "a zero" … "a nine" in turn, default guidance (2 calls per step), latent diffusion')
    return out


def draw_samples(candidates: dict, n: int, seed: int = 0) -> tuple[dict, dict]:
    """Draw ``n`` samples from every candidate (seeded) and time it: ``(samples, ms_per_image)``,
    two dicts keyed like ``candidates``."""
    check_instance("candidates", candidates, dict, hint="{label: Candidate}")
    n = check_int("n", n, 2)
    seed = check_int("seed", seed, 0)
    samples, ms = {}, {}
    for label, candidate in candidates.items():
        check_instance(f"candidates[{label!r}]", candidate, Candidate)
        start = time.perf_counter()
        samples[label] = candidate.draw(n, seed).cpu()
        ms[label] = 1000 * (time.perf_counter() - start) / n
    return samples, ms


def mean_pairwise_distance(feats: torch.Tensor) -> float:
    """(1/(N(N−1))) Σ_{i≠j} ‖φ_i − φ_j‖ for features (N, D). Bare."""
    n = feats.shape[0]
    return float(torch.cdist(feats, feats).sum() / (n * (n - 1)))   # the diagonal is 0


def comparison_table(samples: dict, ms_per_image: dict | None = None, candidates: dict | None = None, *,
                     train: torch.Tensor | None = None, heldout: torch.Tensor | None = None,
                     k: int = 3, device=None) -> list[dict]:
    """One row per entry of ``samples`` {label: images (n, 1, 28, 28)}, scored against the
    held-out reference digits of :func:`course_lib.metrics.reference_features` (500 offline):
    ``label``, ``n``, ``confident``, ``precision``, ``density``, ``class_entropy``, ``recall``, ``coverage``,
    ``diversity``, ``frechet_ratio`` (at n = min(n, 500)), and, when given, ``copies`` (needs the
    training digits ``train`` and held-out digits ``heldout``), ``ms_per_image`` and the
    candidate's ``nfe`` and ``parameters``. A row ``"real digits"`` is not added: score real
    held-out digits as one more entry to see where the ceiling is."""
    check_instance("samples", samples, dict, hint="{label: images (n, 1, 28, 28)}")
    k = check_int("k", k, 1)
    real = reference_features(device)["reference"]
    real_diversity = mean_pairwise_distance(real)
    rows = []
    for label, images in samples.items():
        check_digits(f"samples[{label!r}]", images)
        probs, feats = classify(images, device=device)
        feats = feats.double()
        pr = precision_recall(real, feats, k=k)
        scores = score_digits(images, device=device)
        row = {"label": label, "n": images.shape[0], "confident": confident_share(probs),
               "precision": pr.precision, "density": pr.density, "class_entropy": class_histogram_entropy(probs),
               "recall": pr.recall, "coverage": pr.coverage,
               "diversity": mean_pairwise_distance(feats) / real_diversity,
               "frechet_ratio": scores["frechet_ratio"]}
        if train is not None and heldout is not None:
            row["copies"] = memorisation(images, train, heldout).copy_share
        if ms_per_image is not None and label in ms_per_image:
            row["ms_per_image"] = ms_per_image[label]
        if candidates is not None and label in candidates:
            row["nfe"], row["parameters"] = candidates[label].nfe, candidates[label].parameters
        rows.append(row)
    return rows


COLUMNS = (("label", "model", "{}"), ("confident", "confident", "{:.0%}"), ("precision", "precision", "{:.2f}"),
           ("density", "density", "{:.2f}"),
           ("class_entropy", "entropy", "{:.2f}"), ("recall", "recall", "{:.2f}"), ("diversity", "diversity", "{:.2f}"),
           ("frechet_ratio", "Fréchet ratio", "{:.1f}"), ("copies", "copies", "{:.1%}"), ("nfe", "NFE", "{:,}"),
           ("parameters", "parameters", "{:,}"), ("ms_per_image", "ms / image", "{:.1f}"))


def format_table(rows: list[dict], markdown: bool = False) -> str:
    """The rows of :func:`comparison_table` as an aligned text table (or Markdown), one column per
    score that the rows have."""
    columns = [(key, head, fmt) for key, head, fmt in COLUMNS if any(key in row for row in rows)]
    cells = [[head for _, head, _ in columns]]
    cells += [[fmt.format(row[key]) if row.get(key) is not None else "–" for key, _, fmt in columns] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in cells]
        lines.insert(1, "| " + " | ".join("---" for _ in columns) + " |")
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in cells)
