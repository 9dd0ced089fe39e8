"""GAN losses, written on the discriminator's logits a (D(x) = σ(a)) (notebooks 01–02).

* Discriminator:               L_D = −[ E_x log D(x) + E_z log(1 − D(G(z))) ] = −V̂(D, G)
* Generator, saturating:       L_G = E_z log(1 − D(G(z)))        (the minimax loss of eq. 1)
* Generator, non-saturating:   L_G = −E_z log D(G(z))            (Goodfellow et al. 2014, §3)
* Hinge (both players):        L_D = E_x max(0, 1 − a(x)) + E_z max(0, 1 + a(G(z))),
                               L_G = −E_z a(G(z))                 (Lim & Ye 2017; Miyato et al. 2018)
* Code (InfoGAN):              L_I = −E_z log Q(c(z) | G(z)),  log K − L_I ≤ I(c; G(z))   (Chen et al. 2016)

With logits every log is computed stably: log D = log σ(a) = −softplus(−a) and
log(1 − D) = log σ(−a) = −softplus(a). This is exactly ``nn.BCEWithLogitsLoss``: the
discriminator's loss is BCE with target 1 on real and 0 on fake samples, and the non-saturating
generator loss is BCE with target 1 ("real" labels) on fake samples.

The functions are bare math: their callers check the arguments (``train_gan``, the figures, the
self-checks).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GENERATOR_LOSSES = ("non_saturating", "saturating", "hinge")

#: The losses when D(x) = D(G(z)) = 1/2 for every sample (G matches the data and D is reduced to a
#: coin toss): L_D = −[log ½ + log ½] = 2 log 2 ≈ 1.386 and the non-saturating L_G = −log ½ = log 2.
EQUILIBRIUM_LOSSES = {"d_loss": 2 * math.log(2.0), "g_loss": math.log(2.0)}


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """L_D = −[(1/m) Σ log D(x_i) + (1/n) Σ log(1 − D(G(z_j)))] = −V̂(D, G), from D's logits.

    With one-sided label smoothing s (Salimans et al. 2016) the real target is 1 − s: the real term
    becomes −[(1 − s) log D(x) + s log(1 − D(x))]; fake targets stay 0.
    """
    real_term = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, 1.0 - label_smoothing))
    fake_term = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_term + fake_term          # −[(1−s) log D(x) + s log(1−D(x))] − log(1 − D(G(z)))


def generator_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_G = (1/n) Σ log(1 − D(G(z_j))): G minimises V directly (eq. 1). Its gradient with
    respect to the logit is −σ(a) = −D(G(z)), which vanishes when D confidently rejects the fakes."""
    return F.logsigmoid(-fake_logits).mean()                  # log(1 − σ(a)) = log σ(−a)


def generator_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_G = −(1/n) Σ log D(G(z_j)) = BCE(a, target 1): G is trained with "real" labels. Same fixed
    point as the saturating loss, but its gradient −(1 − D(G(z))) tends to −1 as D(G(z)) → 0."""
    return -F.logsigmoid(fake_logits).mean()                  # −log σ(a)


def discriminator_loss_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = (1/m) Σ max(0, 1 − a(x_i)) + (1/n) Σ max(0, 1 + a(G(z_j))): D is pushed to a ≥ 1 on real
    and a ≤ −1 on fake samples and no further, so samples it already judges with margin 1 stop
    contributing (a soft-margin SVM on D's logit). Zero exactly when every real logit is ≥ 1 and every
    fake logit ≤ −1; 2 when D outputs a = 0 everywhere."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()   # E max(0, 1−a(x)) + E max(0, 1+a(G(z)))


def generator_loss_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_G = −(1/n) Σ a(G(z_j)): G raises D's logit on its samples, with gradient −1 per sample
    whatever D says (it never saturates)."""
    return -fake_logits.mean()                                # −E a(G(z))


def info_loss(code_logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """L_I = −(1/n) Σ log Q(c_j | G(z_j)): the cross-entropy of Q's logits (n, K) against the categories
    c_j (n,) that G was given. For c uniform over K categories, H(c) = log K and
    I(c; G(z)) ≥ log K − L_I (Chen et al. 2016, the variational lower bound): G and Q lowering L_I
    make the category readable in the picture. log K when Q guesses uniformly, 0 when it is always sure and right."""
    return F.cross_entropy(code_logits, codes)                # −E log Q(c | G(z))


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """The generator's loss of the given ``kind``: ``"non_saturating"`` (default), ``"saturating"``
    or ``"hinge"``."""
    if kind == "saturating":
        return generator_loss_saturating(fake_logits)
    if kind == "hinge":
        return generator_loss_hinge(fake_logits)
    return generator_loss_non_saturating(fake_logits)


def generator_loss_gradient(d_fake: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """∂L_G/∂a for each sample with D(G(z)) = ``d_fake`` ∈ (0, 1), where a = logit D(G(z)), by
    autograd. Closed forms to compare with: saturating −D(G(z)), non-saturating −(1 − D(G(z))),
    hinge −1."""
    a = torch.logit(d_fake).detach().requires_grad_(True)     # a = log D − log(1 − D)
    loss = generator_loss(a.reshape(-1), kind) * a.numel()    # a sum: one sample's ∂L/∂a per entry
    (grad,) = torch.autograd.grad(loss, a)
    return grad
