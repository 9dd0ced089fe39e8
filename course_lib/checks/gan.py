"""Self-checks for the GAN exercises (notebook 01).

* :func:`check_discriminator_loss` – the learner writes L_D(discriminator, real, fake) = −V̂(D, G).
* :func:`check_optimal_discriminator` – the learner writes D*(x) from two densities on a grid.

The references are :func:`solution_discriminator_loss` (built on ``course_lib.gan.value_function``)
and ``course_lib.gan.optimal_discriminator``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..gan.objective import gaussian_pdf, optimal_discriminator, uniform_pdf, value_function
from ._core import CheckResult, LearnerError, call_learner, checker


def solution_discriminator_loss(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """L_D = −V̂(D, G) = −[mean log D(x) + mean log(1 − D(G(z)))], computed from D's logits.

    ``fake`` = G(z) still carries G's graph, so it is detached: D's loss must not reach G.
    """
    real_logits = discriminator(real)
    fake_logits = discriminator(fake.detach())  # stop here: L_D trains D only
    return -value_function(real_logits, fake_logits, logits=True)


def _close(a: float, b: float, tol: float = 1e-4) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


def _as_scalar(result, name: str) -> torch.Tensor:
    if not isinstance(result, torch.Tensor):
        raise LearnerError(CheckResult.fail(
            f"{name} should return a torch scalar tensor (so it can be backpropagated), "
            f"got {type(result).__name__}"))
    if result.numel() != 1:
        raise LearnerError(CheckResult.fail(
            f"{name} should return one number (a mean over the batch), got shape {tuple(result.shape)}"))
    if not torch.isfinite(result).all():
        raise LearnerError(CheckResult.fail(f"{name} returned {result.detach().item()}; it should be finite"))
    return result.reshape(())


def _gan_case(seed: int, n_real: int, n_fake: int):
    gen = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    generator = nn.Linear(3, 2)
    discriminator = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    torch.random.set_rng_state(torch_state)
    real = torch.randn(n_real, 2, generator=gen) + torch.tensor([1.0, -0.5])
    fake = generator(2 * torch.randn(n_fake, 3, generator=gen))
    return generator, discriminator, real, fake


@checker
def check_discriminator_loss(fn) -> CheckResult:
    """Check ``fn(discriminator, real, fake) -> L_D`` against −V̂(D, G), then its gradients:
    it must reach D's parameters and must **not** reach G's (``fake.detach()``)."""
    name = getattr(fn, "__name__", "your function")
    for seed, n_real, n_fake in ((0, 16, 16), (1, 24, 40)):
        generator, discriminator, real, fake = _gan_case(seed, n_real, n_fake)
        with torch.no_grad():
            d_real = torch.sigmoid(discriminator(real))
            d_fake = torch.sigmoid(discriminator(fake))
            want = float(-value_function(d_real, d_fake))
            no_log = float(-(d_real.mean() + (1 - d_fake).mean()))
        got_t = _as_scalar(call_learner(fn, discriminator, real, fake), name)
        got = got_t.detach().item()
        if not _close(got, want):
            if _close(got, -want):
                return CheckResult.fail(
                    f"{name} returned {got:.4f}, which is +V̂; D maximises V, so the loss it "
                    f"minimises is −V̂ = {want:.4f} (the sign is flipped)")
            if _close(got, no_log):
                return CheckResult.fail(
                    f"{name} returned {got:.4f} = −[mean D(x) + mean(1 − D(G(z)))]: the log is "
                    f"missing; L_D = −[mean log D(x) + mean log(1 − D(G(z)))] = {want:.4f}")
            if _close(got, -no_log):
                return CheckResult.fail(
                    f"{name} returned {got:.4f}: both the log and the minus sign are missing; "
                    f"expected −V̂ = {want:.4f}")
            if _close(got, want / 2):
                return CheckResult.fail(
                    f"{name} returned {got:.4f}, half of −V̂ = {want:.4f}: add the real and fake "
                    "terms instead of averaging them")
            return CheckResult.fail(
                f"{name} returned {got:.4f} but L_D = −[mean log D(x) + mean log(1 − D(G(z)))] "
                f"= {want:.4f} here (remember: the discriminator returns logits, D = sigmoid(logit))")
        if not got_t.requires_grad:
            return CheckResult.fail(
                f"{name}'s result does not depend on D's parameters (no gradient): "
                "don't call .item() or detach the real batch")
        got_t.backward()
        if all(p.grad is None or not bool(p.grad.abs().sum() > 0) for p in discriminator.parameters()):
            return CheckResult.fail(f"{name}'s loss does not send any gradient to the discriminator")
        if any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in generator.parameters()):
            return CheckResult.fail(
                f"{name}'s loss sends gradients into the generator: pass fake.detach() to the "
                "discriminator, so training D does not change G")
    return CheckResult.ok(
        f"{name} computes L_D = −V̂(D, G) from logits, and its gradient stops at G's output.")


def _density_cases():
    x = torch.linspace(-4, 5, 901, dtype=torch.float64)
    return [
        (x, gaussian_pdf(x, 0.0, 1.0), gaussian_pdf(x, 1.5, 0.7)),
        (x, uniform_pdf(x, 0.0, 2.0), uniform_pdf(x, 1.0, 3.0)),
        (x, gaussian_pdf(x, 1.0, 0.5), gaussian_pdf(x, 1.0, 0.5)),
    ]


@checker
def check_optimal_discriminator(fn) -> CheckResult:
    """Check ``fn(p_data, p_g) -> D*`` on density pairs (Gaussians, overlapping uniforms, equal
    densities), wherever p_data + p_g > 0 (elsewhere any value is optimal)."""
    name = getattr(fn, "__name__", "your function")
    for x, p_data, p_g in _density_cases():
        want = optimal_discriminator(p_data, p_g)
        support = (p_data + p_g) > 0
        got = call_learner(fn, p_data.clone(), p_g.clone())
        if not isinstance(got, torch.Tensor):
            return CheckResult.fail(f"{name} should return a tensor of D*(x) values, got {type(got).__name__}")
        if got.shape != want.shape:
            return CheckResult.fail(
                f"{name} should return one value per grid point, shape {tuple(want.shape)}, "
                f"got {tuple(got.shape)}")
        got = got.detach().to(torch.float64)
        if not torch.isfinite(got[support]).all():
            return CheckResult.fail(
                f"{name} returned NaN or infinity where p_data + p_g > 0 (check your denominator)")
        if torch.allclose(got[support], want[support], atol=1e-6):
            continue
        flipped = 1 - want
        if torch.allclose(got[support], flipped[support], atol=1e-6):
            return CheckResult.fail(
                f"{name} returned p_g / (p_data + p_g) = 1 − D*: D(x) is the probability that x "
                "is real, so the numerator is p_data")
        with torch.no_grad():
            positive = support & (p_g > 0)
            ratio = p_data[positive] / p_g[positive]
        if torch.allclose(got[positive], ratio, atol=1e-6):
            return CheckResult.fail(
                f"{name} returned p_data / p_g, which is not a probability: divide by "
                "p_data + p_g")
        if bool((got[support] < 0).any()) or bool((got[support] > 1).any()):
            return CheckResult.fail(f"{name} returned values outside [0, 1]; D* is a probability")
        worst = int((got - want).abs().where(support, torch.zeros_like(got)).argmax())
        return CheckResult.fail(
            f"{name} gives D*({float(x[worst]):.2f}) = {float(got[worst]):.4f} but "
            f"p_data / (p_data + p_g) = {float(want[worst]):.4f} there")
    return CheckResult.ok(f"{name} computes D*(x) = p_data(x) / (p_data(x) + p_g(x)).")
