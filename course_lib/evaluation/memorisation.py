"""Memorisation: does a generator copy its training digits? (notebook 11)

The copyright question the sources raise (版权: whose is a generated picture?) has a measurable
core: a model that reproduces its training images hands out copies of someone's work. Carlini et
al. (2023) and Somepalli et al. (2023) extracted near-copies of training images from diffusion
models; the test here is theirs in miniature, in pixel space (digits are small enough):

* for each generated digit x, d_train(x) = min_j ‖x − x_j^train‖ and d_held(x) = min_j ‖x − x_j^held‖
  over equally many training and held-out digits (a minimum over more digits is smaller, so the
  larger set is subsampled: the comparison is fair only at equal sizes);
* a model that learned the *distribution* draws digits as close to unseen digits as to the ones it
  saw: the share of samples with d_train < d_held is about ½, and the ratio d_train / d_held is
  spread around 1;
* a model that **copies** lands on training digits: d_train ≈ 0 while d_held stays at the usual
  distance between two different digits. A sample counts as a **copy** when
  d_train ≤ ``copy_ratio`` · d_held (½: the training digit is at most half as far as any unseen
  digit); the model is **flagged** when more than ``max_copy_share`` (5 %) of its samples are copies.

The limit of overfitting is exact: :class:`IdealDenoiser` is the denoiser that fits a training set
*perfectly* (the true E[x_0 | x_t] of the training digits themselves), and sampling it can only
return training digits. A real network is an imperfect fit of that, which is why it can generalise.

Real held-out digits asked the same question are the baseline (they were never trained on). The
distances are Euclidean on [−1, 1] pixels (784 values); a digit-sized stroke shifted by one pixel
is already far, so a copy here means a near-exact one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..classifier import check_digits
from ..validation import check_float, check_int

#: A sample is a copy when its nearest training digit is at most this fraction of the distance
#: to its nearest held-out digit.
COPY_RATIO = 0.5
#: A model is flagged as copying when more than this share of its samples are copies.
MAX_COPY_SHARE = 0.05


def nearest(queries: torch.Tensor, pool: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """min_j ‖q − p_j‖ for each query: (distances (M,), indices (M,)) of the nearest row of
    ``pool`` (N, ...) to each row of ``queries`` (M, ...), both flattened, in float32. Bare."""
    pool = pool.flatten(1).float()
    dists, idx = [], []
    for chunk in queries.flatten(1).float().split(batch_size):
        d, i = torch.cdist(chunk, pool).min(dim=1)                # ‖q − p_j‖, minimised over j
        dists.append(d)
        idx.append(i)
    return torch.cat(dists), torch.cat(idx)


def copy_share(d_train: torch.Tensor, d_held: torch.Tensor, copy_ratio: float = COPY_RATIO) -> float:
    """(1/M) Σ 1[d_train ≤ copy_ratio · d_held]: the share of samples that are copies. Bare."""
    return float((d_train <= copy_ratio * d_held).double().mean())


@dataclass
class MemorisationReport:
    """Per sample: ``d_train``, ``d_held`` (M,) and ``nearest_train`` (indices into the training
    digits given); the share ``closer_to_train`` (d_train < d_held) with its standard error
    ``closer_se``; ``copy_share`` and whether the model is ``flagged``; ``pool_size``: how many
    training and held-out digits were compared (equal)."""

    d_train: torch.Tensor
    d_held: torch.Tensor
    nearest_train: torch.Tensor
    closer_to_train: float
    closer_se: float
    copy_share: float
    flagged: bool
    pool_size: int
    copy_ratio: float
    max_copy_share: float

    @property
    def median_ratio(self) -> float:
        """The median of d_train / d_held over the samples (about 1 for a model that generalises)."""
        return float((self.d_train / self.d_held.clamp(min=1e-12)).median())

    def __str__(self) -> str:
        verdict = "FLAGGED: copies its training digits" if self.flagged else "cleared: no sign of copying"
        return (f"{verdict} — {self.copy_share:.1%} copies (d_train ≤ {self.copy_ratio:g}·d_held; flag above "
                f"{self.max_copy_share:.0%}), {self.closer_to_train:.1%} ± {self.closer_se:.1%} of samples closer "
                f"to a training digit than to a held-out one (½ if it generalises), median "
                f"d_train/d_held {self.median_ratio:.2f}, {self.pool_size} digits per pool")


def memorisation(samples: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor, *, seed: int = 0,
                 copy_ratio: float = COPY_RATIO, max_copy_share: float = MAX_COPY_SHARE) -> MemorisationReport:
    """Compare each generated digit's nearest training digit with its nearest held-out digit.

    ``samples`` (M, 1, 28, 28): the generated digits; ``train``: the digits the model was trained
    on; ``heldout``: digits it never saw (all in [−1, 1]). The larger of ``train`` and ``heldout``
    is subsampled (seeded) to the size of the smaller, so both minima run over equally many digits.
    ``nearest_train`` indexes ``train`` as given. See the module docstring for the verdict.
    """
    check_digits("samples", samples)
    check_digits("train", train)
    check_digits("heldout", heldout)
    seed = check_int("seed", seed, 0)
    copy_ratio = check_float("copy_ratio", copy_ratio, 0.0, 1.0, low_open=True)
    max_copy_share = check_float("max_copy_share", max_copy_share, 0.0, 1.0)
    m = min(train.shape[0], heldout.shape[0])
    gen = torch.Generator().manual_seed(seed)
    train_idx = torch.randperm(train.shape[0], generator=gen)[:m]
    held_idx = torch.randperm(heldout.shape[0], generator=gen)[:m]
    d_train, nearest_sub = nearest(samples, train[train_idx])
    d_held, _ = nearest(samples, heldout[held_idx])
    closer = (d_train < d_held).double()
    share = copy_share(d_train, d_held, copy_ratio)
    return MemorisationReport(
        d_train=d_train, d_held=d_held, nearest_train=train_idx[nearest_sub],
        closer_to_train=float(closer.mean()),
        closer_se=float(closer.std() / closer.numel() ** 0.5) if closer.numel() > 1 else float("nan"),
        copy_share=share, flagged=share > max_copy_share, pool_size=m,
        copy_ratio=copy_ratio, max_copy_share=max_copy_share,
    )


class IdealDenoiser(nn.Module):
    """The denoiser that minimises the training loss exactly: for the empirical distribution of
    ``train`` (N digits), E[x_0 | x_t] is a softmax-weighted average of the training digits,

        x̂_0(x_t) = Σ_i w_i x_i,   w = softmax_i(−‖x_t − √ᾱ_t x_i‖² / (2(1 − ᾱ_t))),

    because q(x_t | x_i) = N(√ᾱ_t x_i, (1 − ᾱ_t) I). It returns ε̂ = (x_t − √ᾱ_t x̂_0)/√(1 − ᾱ_t),
    so :func:`course_lib.diffusion.samplers.sample` runs it like any trained denoiser. As t → 0
    the weights pick one training digit: every sample is a copy. ``schedule`` defaults to the
    cosine schedule of the shipped ``ddpm_mnist``. No parameters: nothing to train.
    """

    prediction = "epsilon"
    num_classes = None

    def __init__(self, train: torch.Tensor, schedule=None):
        super().__init__()
        from ..diffusion.schedules import make_schedule

        check_digits("train", train)
        self.register_buffer("train_digits", train.detach().flatten(1).double().cpu())
        self.schedule = make_schedule("cosine") if schedule is None else schedule
        self.in_channels, self.image_size = train.shape[1], train.shape[-1]

    def forward(self, xt: torch.Tensor, t) -> torch.Tensor:
        from ..diffusion.schedules import at

        x, digits = xt.flatten(1).double(), self.train_digits.to(xt.device)
        alpha_bar_t = at(self.schedule.alpha_bars, t, x)                       # ᾱ_t, () or (B, 1)
        sq = (x.pow(2).sum(1, keepdim=True) - 2 * alpha_bar_t.sqrt() * (x @ digits.T)
              + alpha_bar_t * digits.pow(2).sum(1)[None])                      # ‖x_t − √ᾱ_t x_i‖²
        weights = torch.softmax(-sq / (2 * (1 - alpha_bar_t)), dim=1)          # w_i ∝ q(x_t | x_i)
        x0_pred = weights @ digits                                             # Σ_i w_i x_i
        noise_pred = (x - alpha_bar_t.sqrt() * x0_pred) / (1 - alpha_bar_t).sqrt()  # ε̂
        return noise_pred.to(xt.dtype).view_as(xt)
