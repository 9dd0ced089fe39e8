"""Self-checks for the VAE exercises of notebook 07.

* :func:`check_reparameterise` — the learner's ``reparameterise(mu, logvar, noise)``,
  z = μ + exp(½ log σ²) ⊙ ε (reference: :func:`course_lib.vae.reparameterise`), checked for its
  value **and** its gradients: the point of the trick is that ∂z/∂μ = 1 and
  ∂z/∂log σ² = ½ σ ε reach the encoder.
* :func:`check_gaussian_kl` — the learner's ``gaussian_kl(mu, logvar)``, one
  KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) per example
  (reference: :func:`course_lib.vae.gaussian_kl`).

Each check runs on vector latents (B, d) and on feature-map latents (B, c, h, w), and when an
answer is wrong it recognises the typical mistakes — log σ² used as σ, a missing ½, a wrong sign,
a mean where a sum belongs, fresh noise, a broken gradient — and names the one made.
"""

from __future__ import annotations

import torch

from ..vae.elbo import gaussian_kl, reparameterise
from ._core import CheckResult, LearnerError, call_learner, checker

__all__ = ["check_gaussian_kl", "check_reparameterise"]

_RTOL, _ATOL = 1e-5, 1e-4  # float32 rounding is ~1e-6 relative; every typical mistake is off by more


def _cases():
    """(label, mu, logvar, noise): a vector latent and a feature-map latent, logvar of both signs."""
    g = torch.Generator().manual_seed(7)
    out = []
    for label, shape in (("a batch of 2-D latents (4, 2)", (4, 2)),
                         ("a batch of 3-D latents (5, 3)", (5, 3)),
                         ("a batch of feature-map latents (3, 4, 7, 7)", (3, 4, 7, 7))):
        mu = torch.randn(shape, generator=g)
        logvar = torch.rand(shape, generator=g) * 4 - 3  # log σ² in [−3, 1]: σ from 0.22 to 1.65
        noise = torch.randn(shape, generator=g)
        out.append((label, mu, logvar, noise))
    return out


def _close(got: torch.Tensor, want: torch.Tensor) -> bool:
    return got.shape == want.shape and bool(torch.isfinite(got).all()) and \
        torch.allclose(got.double(), want.double(), rtol=_RTOL, atol=_ATOL)


def _name_mistake(label: str, got: torch.Tensor, wrong: dict, fallback: str) -> None:
    """Raise the message of the first wrong formula that ``got`` matches, else ``fallback``."""
    for message, value in wrong.items():
        if value.shape == got.shape and _close(got, value):
            raise LearnerError(CheckResult.fail(f"{label}: {message}"))
    raise LearnerError(CheckResult.fail(f"{label}: {fallback}"))


def _as_tensor(out, label: str, what: str) -> torch.Tensor:
    if not torch.is_tensor(out):
        raise LearnerError(CheckResult.fail(f"{label}: return {what} as a torch tensor, got {type(out).__name__}"))
    return out


# ----------------------------------------------------------------------------- reparameterise


def _wrong_z(mu, logvar, noise) -> dict:
    std = torch.exp(0.5 * logvar)
    return {
        "you used log σ² as the standard deviation (z = μ + logvar·ε); σ = exp(½ · logvar)":
            mu + logvar * noise,
        "exp(logvar) is the variance σ², not the standard deviation: the ½ is missing, σ = exp(½ · logvar)":
            mu + torch.exp(logvar) * noise,
        "exp(−½ · logvar) is 1/σ; the standard deviation is σ = exp(+½ · logvar)":
            mu + torch.exp(-0.5 * logvar) * noise,
        "the noise enters with the wrong sign: with the ε given, z = μ + σ·ε":
            mu - std * noise,
        "z must be centred on μ: z = μ + σ·ε, you left out μ":
            std * noise,
        "you multiplied μ by the noise: z = μ + σ·ε adds the scaled noise to μ":
            mu * noise + std,
    }


def _check_z_gradients(fn, label, mu, logvar, noise) -> None:
    mu_g = mu.clone().requires_grad_(True)
    logvar_g = logvar.clone().requires_grad_(True)
    z = _as_tensor(call_learner(fn, mu_g, logvar_g, noise.clone()), label, "z")
    if not z.requires_grad:
        raise LearnerError(CheckResult.fail(
            f"{label}: z carries no gradient back to mu and logvar (it was detached, made under "
            "torch.no_grad() or through NumPy); build it from torch operations on mu and logvar, "
            "which is the whole point of the trick"))
    grad_mu, grad_logvar = torch.autograd.grad(z.sum(), (mu_g, logvar_g), allow_unused=True)
    std = torch.exp(0.5 * logvar)
    if grad_mu is None or not _close(grad_mu, torch.ones_like(mu)):
        raise LearnerError(CheckResult.fail(
            f"{label}: ∂z/∂μ should be 1 for every element, so the gradient reaches the encoder's μ "
            "unchanged; yours is not"))
    if grad_logvar is None or not _close(grad_logvar, 0.5 * std * noise):
        raise LearnerError(CheckResult.fail(
            f"{label}: ∂z/∂log σ² should be ½·σ·ε; yours is not, so the gradient to the encoder's "
            "logvar is wrong (was part of z computed from a detached copy?)"))


@checker
def check_reparameterise(fn) -> CheckResult:
    """Check ``fn(mu, logvar, noise)`` against z = μ + exp(½ log σ²) ⊙ ε, and its gradients."""
    for label, mu, logvar, noise in _cases():
        args = (mu.clone(), logvar.clone(), noise.clone())
        z = _as_tensor(call_learner(fn, *args), label, "z")
        if not all(torch.equal(a, b) for a, b in zip(args, (mu, logvar, noise))):
            raise LearnerError(CheckResult.fail(f"{label}: your function changed mu, logvar or noise "
                                                "in place; build z as a new tensor"))
        if tuple(z.shape) != tuple(mu.shape):
            raise LearnerError(CheckResult.fail(
                f"{label}: z should have the shape of mu {tuple(mu.shape)}, got {tuple(z.shape)}"))
        if z.dtype != mu.dtype:
            raise LearnerError(CheckResult.fail(f"{label}: z is {z.dtype} but mu is {mu.dtype}; keep mu's dtype"))
        z = z.detach()
        if not bool(torch.isfinite(z).all()):
            raise LearnerError(CheckResult.fail(
                f"{label}: z contains NaN or inf (logvar is negative here: did you take a square root "
                "or a log of it? σ = exp(½ · logvar) is defined for every logvar)"))
        want = reparameterise(mu, logvar, noise)
        if not _close(z, want):
            again = call_learner(fn, mu.clone(), logvar.clone(), noise.clone())
            if torch.is_tensor(again) and not torch.equal(again.detach(), z):
                raise LearnerError(CheckResult.fail(
                    f"{label}: z does not use the noise ε passed in as `noise` (two calls gave different "
                    "z); use it instead of drawing new noise"))
            err = float((z.double() - want.double()).abs().max())
            _name_mistake(label, z, _wrong_z(mu, logvar, noise),
                          f"z differs from μ + exp(½·logvar)·ε by up to {err:.3g}")
        _check_z_gradients(fn, label, mu, logvar, noise)
    return CheckResult.ok(
        "reparameterise gives z = μ + exp(½·logvar)·ε on vector and feature-map latents, and its "
        "gradients ∂z/∂μ = 1, ∂z/∂logvar = ½σε reach the encoder.")


# ----------------------------------------------------------------------------- gaussian_kl


def _wrong_kl(mu, logvar) -> dict:
    def per_example(terms):
        return terms.flatten(1).sum(1)

    var = logvar.exp()
    terms = mu.pow(2) + var - 1 - logvar
    out = {
        "you used log σ² as the standard deviation σ: σ² = exp(logvar), so KL = ½ Σ (μ² + exp(logvar) − 1 − logvar)":
            0.5 * per_example(mu.pow(2) + logvar.pow(2) - 1 - torch.log(logvar.pow(2))),
        "the ½ is missing: KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)":
            per_example(terms),
        "the sign is wrong: KL(q ‖ p) ≥ 0; you returned −KL, the term as it stands in the ELBO":
            -0.5 * per_example(terms),
        "you took the mean over the latent dimensions where the sum belongs: the KL of independent "
        "dimensions is the sum of their KLs":
            0.5 * terms.flatten(1).mean(1),
        "σ² = exp(logvar), not exp(½·logvar) (that is σ): KL = ½ Σ (μ² + exp(logvar) − 1 − logvar)":
            0.5 * per_example(mu.pow(2) + torch.exp(0.5 * logvar) - 1 - logvar),
        "the −1 inside the sum is missing: KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), which is 0 when μ = 0, σ = 1":
            0.5 * per_example(mu.pow(2) + var - logvar),
        "μ enters squared: KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)":
            0.5 * per_example(mu + var - 1 - logvar),
        "log σ² enters with a minus: KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)":
            0.5 * per_example(mu.pow(2) + var - 1 + logvar),
    }
    if logvar.ndim > 2:
        out["you summed over the last axis only: sum over every latent axis (all but the batch)"] = (
            0.5 * terms.sum(-1))
    return out


@checker
def check_gaussian_kl(fn) -> CheckResult:
    """Check ``fn(mu, logvar)`` returns KL(N(μ, diag σ²) ‖ N(0, I)) per example, shape (B,)."""
    for label, mu, logvar, _ in _cases():
        args = (mu.clone(), logvar.clone())
        kl = _as_tensor(call_learner(fn, *args), label, "the KL")
        if not (torch.equal(args[0], mu) and torch.equal(args[1], logvar)):
            raise LearnerError(CheckResult.fail(f"{label}: your function changed mu or logvar in place"))
        kl = kl.detach()
        want = gaussian_kl(mu, logvar)
        if kl.ndim == 0:
            message = ("you returned one number: the mean over the batch; return one KL per example, "
                       f"shape ({mu.shape[0]},), and let the loss average")
            if _close(kl, want.mean()) or _close(kl, want.sum()):
                raise LearnerError(CheckResult.fail(f"{label}: {message}"))
            raise LearnerError(CheckResult.fail(f"{label}: return one KL per example, shape ({mu.shape[0]},), "
                                                "not a single number"))
        if tuple(kl.shape) != (mu.shape[0],):
            wrong = _wrong_kl(mu, logvar)
            _name_mistake(label, kl, wrong,
                          f"return one KL per example, shape ({mu.shape[0]},) (sum over every latent axis), "
                          f"got shape {tuple(kl.shape)}")
        if not bool(torch.isfinite(kl).all()):
            raise LearnerError(CheckResult.fail(
                f"{label}: the KL contains NaN or inf (logvar is negative here: did you take the log "
                "of logvar? log σ² is logvar itself)"))
        if not _close(kl, want):
            err = float((kl.double() - want.double()).abs().max())
            _name_mistake(label, kl, _wrong_kl(mu, logvar),
                          f"the KL differs from ½ Σ (μ² + exp(logvar) − 1 − logvar) by up to {err:.3g}")
    zero = call_learner(fn, torch.zeros(2, 3), torch.zeros(2, 3))
    if torch.is_tensor(zero) and not _close(zero.detach(), torch.zeros(2)):
        raise LearnerError(CheckResult.fail("q = N(0, I) is the prior itself, so the KL must be 0 there"))
    return CheckResult.ok(
        "gaussian_kl gives ½ Σ (μ² + exp(logvar) − 1 − logvar) per example on vector and "
        "feature-map latents.")
