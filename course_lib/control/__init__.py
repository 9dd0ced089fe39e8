"""Control: editing images with a trained diffusion model, without retraining it (notebook 09).

* :func:`sdedit` — image-to-image (SDEdit): from a sketch to a digit, with a strength in [0, 1];
* :func:`inpaint` — regenerate a masked region, consistent with the known pixels (RePaint);
* :func:`ddim_invert` — the noise a deterministic DDIM run draws an image from, and back;
* :func:`guided_sample` — steer sampling down the gradient of any loss of x̂_0 (a classifier's
  −log p, a Gram-matrix texture loss).

All four walk the course's one sampling loop, :func:`course_lib.diffusion.samplers.denoise`, with
their own timesteps and hooks. Sketches (:mod:`~course_lib.control.sketches`), the drawing pad
(:mod:`~course_lib.control.pad`), the sweeps (:mod:`~course_lib.control.measure`) and the figures
(:mod:`~course_lib.control.figures`) live beside them; the self-checks in
:mod:`course_lib.checks.control`.
"""

from .guidance import classifier_loss, guided_sample, texture_loss
from .inpaint import half_mask, inpaint, inpaint_merge
from .inversion import ddim_invert, round_trip, slerp
from .sdedit import sdedit, sdedit_start, sdedit_timesteps
from .sketches import builtin_sketches, digit_sketch, prepare_sketch

__all__ = [
    "builtin_sketches",
    "classifier_loss",
    "ddim_invert",
    "digit_sketch",
    "guided_sample",
    "half_mask",
    "inpaint",
    "inpaint_merge",
    "prepare_sketch",
    "round_trip",
    "sdedit",
    "sdedit_start",
    "sdedit_timesteps",
    "slerp",
    "texture_loss",
]
