"""How good is a generated picture, and whose is it (notebook 11).

One module per idea; the Fréchet distance itself and its sample-size helpers live with the other
scores in :mod:`course_lib.metrics`.

* :mod:`.precision_recall` – fidelity and coverage apart: k-NN manifolds (Kynkäänniemi et al. 2019);
* :mod:`.compare` – one table of every shipped model: quality, coverage, diversity, copies, cost;
* :mod:`.memorisation` – nearest training digit against nearest held-out digit; the ideal denoiser;
* :mod:`.detection` – a real-or-generated detector, and an invisible spread-spectrum watermark;
* :mod:`.explain` – saliency and integrated gradients of the digit classifier;
* :mod:`.cost` – ``torch.profiler``, FLOP counts, Stable Diffusion's U-Net on paper, TensorBoard;
* :mod:`.figures` – the notebook's figures.
"""

from .compare import (
    Candidate,
    comparison_table,
    draw_samples,
    format_table,
    generator_candidate,
    mean_pairwise_distance,
    shipped_candidates,
)
from .cost import (
    SD_PARAMETERS,
    count_flops,
    log_to_tensorboard,
    profile_call,
    scale_to,
    stable_diffusion_unet,
    tensorboard_available,
    time_call,
)
from .detection import (
    WATERMARK_STRENGTH,
    WATERMARK_THRESHOLD,
    Detector,
    detection_rates,
    embed_watermark,
    train_detector,
    watermark_robustness,
    watermark_scores,
)
from .explain import integrated_gradients, saliency
from .memorisation import IdealDenoiser, MemorisationReport, memorisation
from .precision_recall import PrecisionRecall, coverage, density, precision_recall

__all__ = [
    "SD_PARAMETERS",
    "WATERMARK_STRENGTH",
    "WATERMARK_THRESHOLD",
    "Candidate",
    "Detector",
    "IdealDenoiser",
    "MemorisationReport",
    "PrecisionRecall",
    "comparison_table",
    "count_flops",
    "coverage",
    "density",
    "detection_rates",
    "draw_samples",
    "embed_watermark",
    "format_table",
    "generator_candidate",
    "integrated_gradients",
    "log_to_tensorboard",
    "mean_pairwise_distance",
    "memorisation",
    "precision_recall",
    "profile_call",
    "saliency",
    "scale_to",
    "shipped_candidates",
    "stable_diffusion_unet",
    "tensorboard_available",
    "time_call",
    "train_detector",
    "watermark_robustness",
    "watermark_scores",
]
