"""The course's quality targets for generated digits, and the check against them.

The scores come from :func:`course_lib.metrics.score_digits` (confident share, class-histogram
entropy, Fréchet ratio); this module only says whether they are good enough:

* ``"target"`` — what a learner's model should reach: confident share ≥ 0.8, class entropy ≥ 0.9,
  Fréchet ratio ≤ 5;
* ``"laptop"`` — what notebook 10's model reaches in the ``cpu`` budget (ten minutes on a laptop
  CPU, at ≤ 20 network evaluations): ≥ 0.9, ≥ 0.9, ≤ 3;
* ``"gan"`` — what the shipped DCGAN reaches, a GAN at the level of its field (issue 18): ≥ 0.9,
  ≥ 0.95, ≤ 3;
* ``"shipped"`` — what the course's own diffusion checkpoints reach: ≥ 0.95, ≥ 0.95, ≤ 2.

The ratio must have been measured on :data:`course_lib.metrics.FRECHET_SAMPLES` (500) samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .metrics import FRECHET_SAMPLES
from .validation import check_choice


@dataclass
class TargetReport:
    """Whether scores meet a target level: ``passed``, a one-sentence ``message`` and the
    ``failures`` one by one. Shows as ``✅ …`` or ``❌ …``; truthy only when passed."""

    passed: bool
    message: str
    failures: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✅ " if self.passed else "❌ ") + self.message

    __str__ = __repr__


#: Targets from issues 7, 17 and 18: level -> (min confident share, min class entropy, max frechet ratio).
TARGETS = {
    "target": (0.80, 0.90, 5.0),
    "laptop": (0.90, 0.90, 3.0),
    "gan": (0.90, 0.95, 3.0),
    "shipped": (0.95, 0.95, 2.0),
}


def meets_targets(scores: dict, level: str = "target") -> TargetReport:
    """Are the digits recognisable? Compare :func:`course_lib.metrics.score_digits` output with the course targets.

    ``level="target"``: confident share ≥ 0.8, class entropy ≥ 0.9, FD ratio ≤ 5 (what a learner's
    model should reach); ``"laptop"``: ≥ 0.9, ≥ 0.9, ≤ 3 (notebook 10's ten-minute CPU model);
    ``"gan"``: ≥ 0.9, ≥ 0.95, ≤ 3 (the shipped DCGAN); ``"shipped"``: ≥ 0.95, ≥ 0.95, ≤ 2 (the
    course's own diffusion checkpoints). The
    ratio must have been measured at :data:`FRECHET_SAMPLES` (500) samples; fewer fail with a
    message saying so, because a small sample makes the ratio lenient.
    """
    check_choice("level", level, TARGETS)
    if not isinstance(scores, dict) or not {"confident_share", "class_entropy", "frechet_ratio"} <= set(scores):
        raise TypeError("scores must be the dict returned by score_digits(images)")
    min_conf, min_ent, max_ratio = TARGETS[level]
    conf, ent, ratio = scores["confident_share"], scores["class_entropy"], scores["frechet_ratio"]
    if ratio is None:
        raise ValueError("scores has no frechet_ratio: score the digits against the default reference")
    failed = []
    n_fd = scores.get("frechet_n") or 0
    if n_fd < FRECHET_SAMPLES:
        failed.append(f"the Fréchet ratio was measured on {n_fd} samples; score at least "
                      f"{FRECHET_SAMPLES} (a smaller sample makes the ratio look better than it is)")
    if conf < min_conf:
        failed.append(f"only {conf:.1%} classified with confidence ≥ 0.9 (need ≥ {min_conf:.0%})")
    if ent < min_ent:
        failed.append(f"class-histogram entropy {ent:.2f} (need ≥ {min_ent:.2f}: some digits are missing "
                      "or over-represented)")
    if ratio > max_ratio:
        failed.append(f"Fréchet distance {ratio:.1f}× that of real digits (need ≤ {max_ratio:g}×)")
    summary = f"confident {conf:.0%}, class entropy {ent:.2f}, Fréchet ratio {ratio:.1f}×"
    if failed:
        return TargetReport(False, f"Not yet recognisable digits ({level} level): " + "; ".join(failed) + ".", failed)
    return TargetReport(True, f"Recognisable digits ({level} level): {summary}.")
