"""Training a VAE: minimise the negative ELBO with Adam, one progress bar, one record (notebook 07).

One step (Kingma & Welling 2014, Algorithm 1, one sample of z per digit):

1. encode a minibatch: (μ, log σ²) = encoder(x);
2. reparameterise: z = μ + exp(½ log σ²) ⊙ ε, ε ~ N(0, I);
3. decode z to Bernoulli logits and take the mean over the batch of
   −ELBO_β = −log p_θ(x | z) + β · KL(q_φ(z | x) ‖ N(0, I)), β = ``kl_weight``;
4. one Adam step on encoder and decoder together (the gradient reaches μ and σ through z).

A plain autoencoder (``ConvVAE(variational=False)``) trains with the same loop: z = μ, no KL.
"""

from __future__ import annotations

import torch
from torch import nn

from ..budget import preset_for
from ..device import resolve_device
from ..train_loop import Budget, TrainRecord
from ..validation import check_float, check_images, check_int, check_module
from .elbo import ElboTerms, bernoulli_log_likelihood, negative_elbo, reparameterise

#: How long :func:`load_or_train_vae` trains a VAE per run budget when it does not load one
#: (steps/minutes: whichever ends first). On the course's shared 2-core machine (one torch thread,
#: other work running) the ``cpu`` budget gave ``vae_2d`` 786 steps in 3 minutes: blurry but
#: recognisable prior samples (63 % read confidently, class entropy 0.85), against 82 % / 0.96 for
#: the shipped model's 4,907 steps.
PRESETS = {
    "smoke": dict(steps=3, minutes=0.5, batch_size=32),
    "cpu": dict(steps=4000, minutes=3.0, batch_size=128),
    "gpu": dict(steps=20_000, minutes=10.0, batch_size=128),
}


def preset(budget: str | None = None, **overrides) -> dict:
    """The training budget for a run budget (``smoke``/``cpu``/``gpu``; default: the active one)."""
    return preset_for(PRESETS, budget, **overrides)


def vae_step_terms(model: nn.Module, images: torch.Tensor, noise_generator: torch.Generator | None = None,
                   kl_weight: float = 1.0):
    """The :class:`~course_lib.vae.elbo.ElboTerms` of one minibatch (steps 1–3 above), per digit.

    For a plain autoencoder z = μ and the KL term is zero."""
    mu, logvar = model.posterior(images)
    if logvar is None:  # a plain autoencoder: z = μ, a point; no noise, no KL
        reconstruction = -bernoulli_log_likelihood(images, model.decode_logits(mu))
        return ElboTerms(reconstruction, reconstruction, torch.zeros_like(reconstruction))
    noise = torch.randn(mu.shape, generator=noise_generator).to(mu.device)  # ε ~ N(0, I)
    z = reparameterise(mu, logvar, noise)  # z = μ + σ ⊙ ε
    return negative_elbo(images, model.decode_logits(z), mu, logvar, kl_weight)


def _batches(data: torch.Tensor, batch_size: int, generator: torch.Generator):
    """Endless shuffled minibatches (a new order every epoch)."""
    n = data.shape[0]
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


def train_vae(
    model: nn.Module,
    data,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    device=None,
    progress: bool = True,
    kl_weight: float = 1.0,
    batch_size: int = 128,
    lr: float = 1e-3,
    snapshot_every: int | None = None,
    num_snapshots: int = 16,
    clock: str = "wall",
    desc: str = "VAE",
) -> TrainRecord:
    """Train ``model`` (a :class:`~course_lib.vae.models.ConvVAE`) on ``data`` by minimising the
    negative ELBO with KL weight ``kl_weight`` (β-VAE; 1 is the ELBO, 0 drops the KL term).

    ``data``: digits (N, 1, 28, 28) in [−1, 1], or a :class:`course_lib.data.Digits`. Stops after
    ``steps`` steps or ``minutes`` minutes, whichever comes first (one bar; see
    :class:`course_lib.train_loop.Budget`), with Adam at learning rate ``lr`` on shuffled
    minibatches of ``batch_size``. Every ``snapshot_every`` steps (and at the end) it decodes the
    same ``num_snapshots`` prior draws z ~ N(0, I) into ``record.snapshots``. The record's history
    holds per step ``loss`` (−ELBO_β), ``reconstruction`` (−log p(x | z)) and ``kl``, each in nats
    per digit. The model is left in eval mode on ``device``.
    """
    check_module("model", model)
    if not hasattr(model, "posterior") or not hasattr(model, "decode_logits"):
        raise TypeError(f"model must be a course_lib.vae.ConvVAE (with posterior and decode_logits), "
                        f"got {type(model).__name__}")
    images = data.images if hasattr(data, "images") and hasattr(data, "labels") else data
    check_images("data", images, channels=1, pixel_range=True)
    kl_weight = check_float("kl_weight", kl_weight, 0.0, hint="the weight of the KL term, β ≥ 0; 1 is the ELBO")
    if not model.variational and kl_weight != 0.0:
        raise ValueError(f"kl_weight must be 0 for a plain autoencoder (variational=False): it has no KL "
                         f"term, got {kl_weight}")
    batch_size = check_int("batch_size", batch_size, 1, images.shape[0],
                           hint=f"at most the number of digits, {images.shape[0]}")
    lr = check_float("lr", lr, 0.0, low_open=True)
    seed = check_int("seed", seed, 0)
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every, 1)
    num_snapshots = check_int("num_snapshots", num_snapshots, 1)
    budget = Budget(steps, minutes, desc=desc, progress=progress, clock=clock)

    device = resolve_device(device)
    model.to(device).train()
    images = images.to(device, torch.float32)
    order_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed)
    fixed_z = torch.randn(num_snapshots, *model.latent_shape, generator=torch.Generator().manual_seed(seed + 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batches = _batches(images, batch_size, order_gen)

    def snapshot():
        model.eval()
        with torch.no_grad():
            budget.snapshot(model.decode(fixed_z))
        model.train()

    for step in budget:
        if snapshot_every is not None and step % snapshot_every == 0:
            snapshot()
        terms = vae_step_terms(model, images[next(batches)], noise_gen, kl_weight)
        loss = terms.loss.mean()  # mean over the batch of −ELBO_β
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        budget.log(loss=loss.item(), reconstruction=terms.reconstruction.mean().item(),
                   kl=terms.kl.mean().item())
    if snapshot_every is not None:
        snapshot()
    model.eval()
    return budget.finish()


def load_or_train_vae(name: str = "vae_2d", *, train: bool = False, data=None, device=None, progress: bool = True,
                      path=None, **overrides):
    """The shipped VAE ``name`` (``"vae_2d"`` or ``"vae_latent"``), or one like it trained here; says which.

    With ``train=False`` the course's checkpoint is loaded when this copy has it (architecture
    from its manifest record, SHA-256 verified). Otherwise (or with ``train=True``) a fresh model
    of the same architecture is trained with :func:`train_vae` on ``data`` (default: MNIST's
    training digits) for the active run budget's :func:`preset` (``overrides`` change it, e.g.
    ``minutes=2``) and saved to ``path`` if given. Returns ``(model, info)``: ``info["source"]``
    is ``"shipped"``, ``"file"`` or ``"trained"``; a training run's record is ``info["result"]``.
    """
    from ..checkpoints import load_or_train
    from ..registry import build_model, entry, shipped_record
    from .models import SHIPPED, build_vae

    e = entry(name)
    if e.family != "vae":
        raise ValueError(f"name must be one of the course's VAEs ({', '.join(SHIPPED)}), got {name!r}")
    record = shipped_record(e.name)
    recipe = preset(**overrides)
    kl_weight = recipe.pop("kl_weight", (record or {}).get("kl_weight", SHIPPED[e.name]["kl_weight"]))
    model = build_model(e.name) if record else build_vae(SHIPPED[e.name]["config"])
    model.to(resolve_device(device))

    def train_fn(m):
        from ..data import load_mnist

        digits = data if data is not None else load_mnist("train")
        result = train_vae(m, digits, kl_weight=kl_weight, device=device, progress=progress, **recipe)
        set_scaling_factor(m, digits.images if hasattr(digits, "images") else digits)
        return result

    shipped = e.name if record else None
    model, info = load_or_train(model, train_fn, shipped=shipped, path=path, train=train)
    model.record = info.get("record") or {"kl_weight": kl_weight, "source": info["source"]}
    return model.eval(), info


@torch.no_grad()
def set_scaling_factor(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> float:
    """Set ``model.scaling_factor`` (and its config entry) to 1/std of the posterior means μ of
    ``images``, so that scaled latents have unit variance (Stable Diffusion's 0.18215 is the same
    number for its autoencoder); return it."""
    check_images("images", images, channels=1, pixel_range=True)
    was_training = model.training
    model.eval()
    mu = torch.cat([model.encode(chunk)[0].cpu() for chunk in images.split(batch_size)])
    model.train(was_training)
    model.scaling_factor = round(float(1 / mu.std()), 5)
    model.config["scaling_factor"] = model.scaling_factor
    return model.scaling_factor


def sweep_kl_weight(kl_weights, data, heldout: torch.Tensor, *, config: dict | None = None, steps: int | None = None,
                    minutes: float | None = None, seed: int = 0, num_samples: int = 256, batch_size: int = 128,
                    device=None, progress: bool = True) -> dict:
    """Train one small VAE per β in ``kl_weights`` (same data, seed and budget) and measure what β
    trades, on the ``heldout`` digits (N, 1, 28, 28): returns {β: run}, each run a dict with

    ``reconstruction`` and ``kl`` (mean nats per held-out digit, one z each), ``active_units``
    of ``latent_units`` (:func:`~course_lib.vae.scores.active_units`), ``confident_share`` of
    ``num_samples`` prior samples (:func:`course_lib.metrics.confident_share`), ``mid_grey`` of those
    samples, and images: ``originals``, ``reconstructions`` (16 each), ``samples``; plus the training
    ``record`` and the trained ``model`` (on the CPU, eval mode).
    Default ``config``: :data:`~course_lib.vae.models.SMALL_VAE` (16 latent dimensions, fast on a CPU).
    """
    from ..classifier import classify
    from ..metrics import confident_share
    from .estimate import elbo_terms
    from .models import SMALL_VAE, build_vae, sample_prior
    from .scores import active_units, mid_grey_share

    if not isinstance(kl_weights, (list, tuple)) or not kl_weights:
        raise ValueError(f"kl_weights must be a non-empty list of numbers >= 0, got {kl_weights!r}")
    kl_weights = [check_float(f"kl_weights[{i}]", b, 0.0) for i, b in enumerate(kl_weights)]
    check_images("heldout", heldout, channels=1, pixel_range=True)
    num_samples = check_int("num_samples", num_samples, 2)
    config = dict(config or SMALL_VAE)
    sweep = {}
    for beta in kl_weights:
        torch.manual_seed(seed)
        model = build_vae(config)
        record = train_vae(model, data, steps=steps, minutes=minutes, seed=seed, device=device, progress=progress,
                           kl_weight=beta, batch_size=batch_size, desc=f"VAE, kl_weight={beta:g}")
        terms = elbo_terms(model, heldout, seed=seed)
        with torch.no_grad():
            mu, _ = model.encode(heldout)
        count, _ = active_units(mu.cpu())
        samples = sample_prior(model, num_samples, seed=seed)
        sweep[beta] = dict(
            kl_weight=beta, reconstruction=float(terms.reconstruction.mean()), kl=float(terms.kl.mean()),
            active_units=count, latent_units=int(mu[0].numel()),
            confident_share=confident_share(classify(samples)[0]), mid_grey=mid_grey_share(samples),
            originals=heldout[:16].cpu(), reconstructions=model.reconstruct(heldout[:16]).detach().cpu(),
            samples=samples, record=record, model=model.cpu().eval(),
        )
    return sweep
