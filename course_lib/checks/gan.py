"""Self-checks for the GAN exercises (notebooks 01 and 02).

* :func:`check_discriminator_loss` – the learner writes L_D(discriminator, real, fake) = −V̂(D, G).
* :func:`check_optimal_discriminator` – the learner writes D*(x) from two densities on a grid.
* :func:`check_gan_step` – the learner writes one training step: D on the detached fakes with
  real = 1 / fake = 0, then G through the updated D with "real" labels on its fakes.

The references are :func:`solution_discriminator_loss` (built on ``course_lib.gan.value_function``),
``course_lib.gan.optimal_discriminator`` and ``course_lib.gan.train_step``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..gan.losses import discriminator_loss, generator_loss
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
    """A tiny GAN on the plane (G: 3 → 2 linear, D: 2 → 8 → 1 logit), a real batch and z, all
    drawn from ``seed`` without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = nn.Linear(3, 2)
        discriminator = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    gen = torch.Generator().manual_seed(seed)
    real = torch.randn(n_real, 2, generator=gen) + torch.tensor([1.0, -0.5])
    z = 2 * torch.randn(n_fake, 3, generator=gen)
    return generator, discriminator, real, z


@checker
def check_discriminator_loss(fn) -> CheckResult:
    """Check ``fn(discriminator, real, fake) -> L_D`` against −V̂(D, G), then its gradients:
    it must reach D's parameters and must **not** reach G's (``fake.detach()``)."""
    name = getattr(fn, "__name__", "your function")
    for seed, n_real, n_fake in ((0, 16, 16), (1, 24, 40)):
        generator, discriminator, real, z = _gan_case(seed, n_real, n_fake)
        fake = generator(z)
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


# ----------------------------------------------------------------------------- one training step

STEP_LR = 0.2  # plain SGD, so that each update is exactly −lr · gradient and can be predicted


class _RecordedSGD(torch.optim.SGD):
    """SGD that notes each ``step()`` in a shared list of events."""

    def __init__(self, params, name: str, events: list):
        super().__init__(params, lr=STEP_LR)
        self._name, self._events = name, events

    def step(self, closure=None):
        self._events.append(f"{self._name}.step")
        return super().step(closure)


def _flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def _flat_grads(module: nn.Module) -> torch.Tensor:
    return torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad.detach()).flatten()
                      for p in module.parameters()])


def _sgd_from(module: nn.Module, loss: torch.Tensor) -> torch.Tensor:
    """The parameters of ``module`` after one SGD step on ``loss``: θ − lr ∇θ loss."""
    grads = torch.autograd.grad(loss, list(module.parameters()))
    return _flat(module) - STEP_LR * torch.cat([g.flatten() for g in grads])


def _as_number(value, what: str, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    if isinstance(value, (int, float)):
        return float(value)
    raise LearnerError(CheckResult.fail(f"{name} should return {what} as a number (a scalar tensor), "
                                        f"got {type(value).__name__}"))


def _step_events(name: str, events: list, finished: bool = True) -> CheckResult | None:
    """Judge the order of what the learner's step did: D's update, then G's; no gradient into G
    before D's update. ``finished=False``: the step crashed, judge what happened before."""
    steps = [e for e in events if e.endswith(".step")]
    if "G.step" in steps and ("D.step" not in steps or steps.index("G.step") < steps.index("D.step")):
        return CheckResult.fail(
            f"{name} updates G before D: update D first (on the detached fakes), then G through the "
            "updated D")
    if "G.grad" in events[: events.index("D.step") if "D.step" in events else len(events)]:
        return CheckResult.fail(
            f"{name}'s discriminator loss sends gradients into the generator: in D's step pass "
            "fake.detach() to the discriminator, so that training D does not change G")
    if finished and (steps.count("D.step") != 1 or steps.count("G.step") != 1):
        done = ", ".join(steps) or "neither"
        return CheckResult.fail(f"{name} should call opt_d.step() once and then opt_g.step() once; "
                                f"it called {done}")
    return None


def _judge(name: str, part: str, got: torch.Tensor, want: torch.Tensor, mistakes: list, leftover: torch.Tensor,
           loss_text: str) -> CheckResult | None:
    """Compare ``part``'s parameters after the learner's step with the right SGD step ``want``,
    then with the parameters each typical mistake would give (``mistakes``: (params, what it does))."""
    if torch.allclose(got, want, atol=1e-5):
        return None
    mistakes = [*mistakes, (want - STEP_LR * leftover,
                            f"does not zero {part}'s gradients before {part}'s backward pass "
                            f"(opt_{part.lower()}.zero_grad()), so gradients left from the previous "
                            "backward pass are added to this update")]
    for params, what in mistakes:
        if torch.allclose(got, params, atol=1e-5):
            return CheckResult.fail(f"{name} {what}")
    return CheckResult.fail(
        f"{name}'s update of {part} differs (by up to {float((got - want).abs().max()):.3g}) from one "
        f"optimiser step on {loss_text}")


def _judge_d(name, got, d_before, real, fake, leftover) -> CheckResult | None:
    """D after the learner's step: one SGD step on L_D, or a typical mistake?"""
    def after(loss_of):
        d = copy.deepcopy(d_before)
        return _sgd_from(d, loss_of(d(real), d(fake)))

    swapped = (after(lambda r, f: discriminator_loss(f, r)),
               "trains D with swapped labels: D must learn real → 1 and fake → 0 "
               "(BCE(D(x), 1) + BCE(D(G(z)), 0))")
    return _judge(name, "D", got, after(discriminator_loss), [swapped], leftover,
                  "L_D = BCE(D(x), 1) + BCE(D(G(z)), 0), computed from D's logits")


def _judge_g(name, got, g_before, d_after, z, leftover) -> CheckResult | None:
    """G after the learner's step: one SGD step on the non-saturating loss through the updated
    D, or a typical mistake?"""
    def after(loss_of):
        g = copy.deepcopy(g_before)
        return _sgd_from(g, loss_of(d_after(g(z))))

    mistakes = [
        (after(lambda a: F.binary_cross_entropy_with_logits(a, torch.zeros_like(a))),
         "trains G with fake labels (target 0), which teaches G to look fake: G's loss is "
         "BCE(D(G(z)), 1), \"real\" labels on its fakes"),
        (after(lambda a: generator_loss(a, "saturating")),
         "trains G with the saturating loss log(1 − D(G(z))), whose gradient vanishes when D wins: "
         "use \"real\" labels, −log D(G(z)) = BCE(D(G(z)), 1)"),
    ]
    return _judge(name, "G", got, after(generator_loss), mistakes, leftover,
                  "L_G = BCE(D(G(z)), 1) through the updated D")


@checker
def check_gan_step(fn) -> CheckResult:
    """Check ``fn(generator, discriminator, real, z, opt_g, opt_d) -> (d_loss, g_loss)``, one
    training step, over two steps in a row of a tiny GAN with SGD: D is updated first, on
    G(z) detached, with real = 1 and fake = 0; then G, through the updated D, with "real" labels
    on its fakes (the non-saturating loss); each optimiser zeroes its gradients first; the
    returned losses are L_D before D's update and L_G after it."""
    name = getattr(fn, "__name__", "your function")
    generator, discriminator, _, _ = _gan_case(2, 1, 1)
    events: list[str] = []
    opt_g = _RecordedSGD(generator.parameters(), "G", events)
    opt_d = _RecordedSGD(discriminator.parameters(), "D", events)
    for p in generator.parameters():
        p.register_hook(lambda grad: events.append("G.grad"))
    for round_seed in (3, 4):
        _, _, real, z = _gan_case(round_seed, 16, 16)
        events.clear()
        g_before, d_before = copy.deepcopy(generator), copy.deepcopy(discriminator)
        g_leftover, d_leftover = _flat_grads(generator), _flat_grads(discriminator)
        try:
            result = call_learner(fn, generator, discriminator, real, z, opt_g, opt_d)
        except LearnerError as err:
            if "modified by an inplace operation" in err.result.message:
                return CheckResult.fail(
                    f"{name} computes G's loss from D's output before D's update: after "
                    "opt_d.step(), pass the fakes through the updated discriminator again")
            verdict = _step_events(name, events, finished=False)
            return err.result if verdict is None else verdict
        verdict = _step_events(name, events)
        if verdict is not None:
            return verdict
        with torch.no_grad():
            fake = g_before(z)
        for verdict in (_judge_d(name, _flat(discriminator), d_before, real, fake, d_leftover),
                        _judge_g(name, _flat(generator), g_before, discriminator, z, g_leftover)):
            if verdict is not None:  # a failed CheckResult is falsy: compare with None
                return verdict
        if not isinstance(result, (tuple, list)) or len(result) < 2:
            return CheckResult.fail(f"{name} should return the two losses (d_loss, g_loss), "
                                    f"got {type(result).__name__}")
        d_loss, g_loss = _as_number(result[0], "d_loss", name), _as_number(result[1], "g_loss", name)
        with torch.no_grad():
            want_d = float(discriminator_loss(d_before(real), d_before(fake)))
            want_g = float(generator_loss(discriminator(g_before(z))))
        if not _close(d_loss, want_d):
            return CheckResult.fail(f"{name} returned d_loss = {d_loss:.4f}, but L_D on this batch, "
                                    f"before D's update, is {want_d:.4f}")
        if not _close(g_loss, want_g):
            return CheckResult.fail(f"{name} returned g_loss = {g_loss:.4f}, but L_G through the "
                                    f"updated D is {want_g:.4f}")
    return CheckResult.ok(
        f"{name} updates D on detached fakes (real = 1, fake = 0), then G through the updated D "
        "with \"real\" labels, and returns both losses.")
