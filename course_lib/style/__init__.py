"""Neural style transfer (Gatys, Ecker & Bethge 2016), taught in notebook 06.

* :mod:`.features` — the frozen VGG19 feature extractor (trained weights, or random offline);
* :mod:`.losses`   — Gram matrix, content, style and total-variation losses;
* :mod:`.optimize` — the optimisation over the pixels (L-BFGS or Adam), with snapshots;
* :mod:`.plots`    — the notebook's figures and slider functions.
"""

from .features import (
    LAYER_CHANNELS,
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
from .optimize import (
    GATYS_CONTENT_LAYER,
    GATYS_STYLE_LAYERS,
    StyleResult,
    content_target,
    style_targets,
    synthesize,
)

__all__ = [
    "GATYS_CONTENT_LAYER",
    "GATYS_STYLE_LAYERS",
    "LAYER_CHANNELS",
    "LAYER_INDEX",
    "VGG19_LAYERS",
    "FeatureExtractor",
    "StyleResult",
    "content_loss",
    "content_target",
    "gram_matrix",
    "load_pretrained_features",
    "normalize_mean_activation",
    "random_vgg19_features",
    "style_layer_loss",
    "style_loss",
    "style_targets",
    "synthesize",
    "total_variation_loss",
    "vgg19_extractor",
    "vgg19_features",
]
