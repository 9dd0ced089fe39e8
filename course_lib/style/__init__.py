"""Neural style transfer (Gatys, Ecker & Bethge 2016), taught in notebook 06.

* :mod:`.features` — the frozen VGG19 feature extractor (trained weights, or random offline);
* :mod:`.losses`   — Gram matrix, content, style and total-variation losses (the bare math);
* :mod:`.optimize` — :func:`synthesize`, the optimisation over the pixels (L-BFGS or Adam) under a
  step/time budget, returning a :class:`~course_lib.train_loop.TrainRecord`;
* :mod:`.plots`    — the notebook's figures, which only draw what they are given.
"""

from .features import (
    LAYER_INDEX,
    VGG19_LAYERS,
    FeatureExtractor,
    load_pretrained_features,
    normalize_mean_activation,
    random_vgg19_features,
    vgg19_extractor,
    vgg19_features,
)
from .losses import content_loss, gram_matrix, style_layer_loss, style_loss, total_variation_loss
from .optimize import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, synthesize

__all__ = [
    "GATYS_CONTENT_LAYER",
    "GATYS_STYLE_LAYERS",
    "LAYER_INDEX",
    "VGG19_LAYERS",
    "FeatureExtractor",
    "content_loss",
    "gram_matrix",
    "load_pretrained_features",
    "normalize_mean_activation",
    "random_vgg19_features",
    "style_layer_loss",
    "style_loss",
    "synthesize",
    "total_variation_loss",
    "vgg19_extractor",
    "vgg19_features",
]
