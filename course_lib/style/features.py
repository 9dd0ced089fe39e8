"""The feature extractor: torchvision's VGG19 ``features``, frozen, layers by name (notebook 06).

Gatys et al. (2016) describe an image by the responses of a CNN trained for object recognition
(VGG19, Simonyan & Zisserman 2015). The feature map of layer l is

    F^l ∈ R^{N_l × M_l},  N_l = C_l filters,  M_l = H_l W_l positions,

stored here as a tensor of shape (B, C_l, H_l, W_l). The layer names follow the paper
(``conv1_1`` … ``conv5_4``); as in the paper's Caffe model, whose ReLUs work in place, the feature
map named ``conv4_2`` is the output of that convolution's ReLU.

Weights. :func:`vgg19_extractor` uses the ImageNet-trained weights when it can get them: a file
the learner names (argument or ``COURSE_VGG19_WEIGHTS``), torchvision's cache, or a download
when ``download.pytorch.org`` answers. Offline it falls back within seconds to the same network
with random weights (see :func:`random_vgg19_features` for what exactly, and why it still works)
and says so in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..checkpoints import CheckpointError, load_state_dict
from ..data import network_available
from ..device import model_device, resolve_device
from ..validation import check_choice, check_images, check_int

WEIGHTS_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
WEIGHTS_ENV = "COURSE_VGG19_WEIGHTS"
DOWNLOAD_HOST = ("download.pytorch.org", 443)

# ImageNet statistics the trained VGG19 expects (torchvision's normalisation).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# torchvision's VGG19 ("configuration E"): numbers are 3×3 convolutions, "M" a 2×2 pooling.
# (Written out so that importing the course does not import torchvision.models; a test checks it.)
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
             512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_table() -> dict[str, int]:
    """Name -> index in ``vgg19().features`` of that convolution's ReLU output."""
    table, block, conv, index = {}, 1, 0, 0
    for item in VGG19_CFG:
        if item == "M":
            block, conv = block + 1, 0
            index += 1
        else:
            conv += 1
            table[f"conv{block}_{conv}"] = index + 1  # conv at index, its ReLU at index + 1
            index += 2
    return table


LAYER_INDEX = _layer_table()
VGG19_LAYERS = tuple(LAYER_INDEX)  # conv1_1, conv1_2, conv2_1, …, conv5_4


def check_layer(name: str, value) -> str:
    """Raise naming ``name`` unless ``value`` is one of :data:`VGG19_LAYERS`."""
    if value not in LAYER_INDEX:
        raise ValueError(
            f"{name} must be a VGG19 layer name, conv1_1 … conv5_4 "
            f"({', '.join(VGG19_LAYERS)}); got {value!r}"
        )
    return value


def check_layers(name: str, values) -> tuple[str, ...]:
    """Check a non-empty list of distinct layer names; return it as a tuple."""
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must name at least one VGG19 layer")
    for v in values:
        check_layer(name, v)
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a layer, got {values}")
    return values


def vgg19_features(pooling: str = "avg") -> nn.Sequential:
    """torchvision's ``vgg19().features`` (same layers, same state-dict keys), untrained.

    ``pooling="avg"`` replaces each 2×2 max pooling by average pooling, as Gatys et al. do for
    image synthesis ("improves the gradient flow and one obtains slightly more appealing
    results"); ``"max"`` keeps VGG19's. ReLUs are made out-of-place so their outputs can be kept.
    """
    from torchvision.models.vgg import make_layers

    check_choice("pooling", pooling, ("avg", "max"))
    features = make_layers(list(VGG19_CFG), batch_norm=False)
    for i, module in enumerate(features):
        if isinstance(module, nn.ReLU):
            features[i] = nn.ReLU(inplace=False)
        elif isinstance(module, nn.MaxPool2d) and pooling == "avg":
            features[i] = nn.AvgPool2d(kernel_size=2, stride=2)
    return features


class FeatureExtractor(nn.Module):
    """A frozen VGG19 that maps images (B, 3, H, W) in [-1, 1] to named feature maps F^l.

    ``extractor(images, layers)`` returns ``{name: F^l}`` with F^l of shape (B, C_l, H_l, W_l),
    running the network only as deep as the deepest requested layer. Inputs are mapped
    [-1, 1] → [0, 1] → ImageNet normalisation inside. The weights never receive gradients; the
    image does (that is the whole method: we optimise pixels, not weights).
    ``source`` is ``"pretrained"`` or ``"random"``, ``message`` the line that said so.

    Calling the extractor checks its arguments; :meth:`extract` is the same computation without
    checks, for callers that checked them once already (the optimisation loop, the figures).
    """

    def __init__(self, features: nn.Sequential, source: str, message: str = ""):
        super().__init__()
        self.features = features
        self.source = source
        self.message = message
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # a frozen extractor stays in eval mode
        return super().train(False)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] → [0, 1] → (x − mean) / std with ImageNet's per-channel mean and std."""
        return ((images + 1) / 2 - self.mean) / self.std

    def forward(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        check_images("images", images, channels=3, pixel_range=True)
        layers = check_layers("layers", layers)
        return self.extract(images.to(model_device(self)), layers)

    def extract(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        """``{name: F^l}`` for ``images`` (B, 3, H, W) on the extractor's device; no checks."""
        wanted = {LAYER_INDEX[name]: name for name in layers}
        last = max(wanted)
        out = {}
        x = self.normalize(images)
        for i, module in enumerate(self.features):
            x = module(x)
            if i in wanted:
                out[wanted[i]] = x
            if i == last:
                break
        return {name: out[name] for name in layers}


# ----------------------------------------------------------------------------- weights


def _cached_weights() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


#: What to do about a VGG19 weights file that cannot be used (the end of every such error).
BAD_WEIGHTS_ADVICE = (
    f"delete it (the course downloads it again when online), or point {WEIGHTS_ENV} to a good "
    f"copy of {WEIGHTS_FILE} (548 MB, from {WEIGHTS_URL})"
)


def load_pretrained_features(path: str | os.PathLike, pooling: str = "avg") -> nn.Sequential:
    """VGG19 ``features`` with the weights in ``path`` (a torchvision VGG19 state dict).

    The file is read with ``torch.load(weights_only=True)``; only its ``features.*`` entries are
    used (the classifier is not needed for style transfer). A file that is truncated, corrupt or
    holds another network raises :class:`~course_lib.checkpoints.CheckpointError` naming it and
    saying what to do (:data:`BAD_WEIGHTS_ADVICE`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGG19 weights file not found: {path} (named by weights= or {WEIGHTS_ENV})")
    try:
        state = load_state_dict(path, what_to_do=BAD_WEIGHTS_ADVICE)
    except CheckpointError as exc:
        raise CheckpointError(f"VGG19 weights: {exc}") from None
    feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    features = vgg19_features(pooling)
    own = features.state_dict()
    if set(feats) != set(own) or any(feats[k].shape != own[k].shape for k in own):
        raise CheckpointError(
            f"VGG19 weights: {path} does not hold torchvision's VGG19 (its 'features.*' entries do not "
            f"match the network's {len(own)}); {BAD_WEIGHTS_ADVICE}"
        )
    features.load_state_dict(feats)
    return features


def random_vgg19_features(seed: int = 0, pooling: str = "avg") -> nn.Sequential:
    """VGG19 ``features`` with random weights: the offline stand-in for the trained network.

    Each 3×3 filter is drawn from N(0, 2 / fan_in) (He initialisation; biases 0), from a
    generator seeded with ``seed``, so the same seed gives the same network on every machine.

    Why this network: Gram matrices of random deep features still describe textures (He, Wang &
    Hopcroft 2016; Ustyuzhaninov et al. 2017). Among the random variants the course measured
    (texture synthesis scored by power spectrum, colour distribution and the Gram matrices of an
    independent random network, and by eye), He initialisation with average pooling was best; max
    pooling gave blotchy textures, and rescaling each filter to mean activation 1 gave noise.
    """
    seed = check_int("seed", seed, 0, 2**63 - 1)
    gen = torch.Generator().manual_seed(seed)
    features = vgg19_features(pooling)
    with torch.no_grad():
        for m in features:
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                m.bias.zero_()
    return features


CALIBRATION_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "grace_hopper")
CALIBRATION_SIZE = 96


@torch.no_grad()
def normalize_mean_activation(features: nn.Sequential, images: torch.Tensor, per: str = "layer",
                              eps: float = 1e-6) -> torch.Tensor:
    """Rescale the network so that mean activations over ``images`` are 1; return the factors.

    Gatys et al. (2016, section 2) use "a normalised version of the VGG network": weights scaled
    "such that the mean activation of each convolutional filter over images and positions is
    equal to one". ReLU and pooling commute with a positive scale, so dividing a filter (weights
    and bias) by its mean activation m and multiplying the next layer's weights on that input
    channel by m divides that feature map by m and changes nothing else: the network computes the
    same features up to a scale. Every layer then speaks in the same units, so one β/α suits
    trained and random weights alike.

    ``per="filter"`` is the paper's version (one m per filter). ``per="layer"`` (the default)
    uses one m per layer: the mean over all its filters. We measured that the per-filter version
    hurts the random-weight network (it blows up filters that hardly ever fire, and the synthesised
    textures turn to coloured noise), while the per-layer version keeps the relative strength of
    the filters, trained or random. Filters or layers that never fire (m < ``eps``) are left alone.

    ``features``: a VGG ``features`` Sequential, modified in place. ``images``: (B, 3, H, W),
    already ImageNet-normalised. Returns m for every filter of every conv layer, concatenated.
    """
    check_images("images", images, channels=3)
    check_choice("per", per, ("layer", "filter"))
    x = images
    factors = []
    pending = None  # scale to apply to the next conv's input channels
    for module in features:
        if isinstance(module, nn.Conv2d):
            if pending is not None:
                module.weight.mul_(pending.view(1, -1, 1, 1))
            m = torch.relu(module(x)).mean(dim=(0, 2, 3))
            if per == "layer":
                m = m.mean().expand_as(m)
            m = torch.where(m < eps, torch.ones_like(m), m)
            module.weight.div_(m.view(-1, 1, 1, 1))
            module.bias.div_(m)
            pending = m
            factors.append(m)
        x = module(x)
    return torch.cat(factors)


def calibration_images(size: int = 128) -> torch.Tensor:
    """The shipped photos (:data:`CALIBRATION_IMAGES`) at ``size`` px, (5, 3, size, size) in [-1, 1]."""
    from ..data import load_image

    return torch.cat([load_image(name, size) for name in CALIBRATION_IMAGES])


def vgg19_extractor(
    weights: str | os.PathLike = "auto",
    pooling: str = "avg",
    seed: int = 0,
    normalize: str | None = "layer",
    device: str | torch.device | None = None,
    quiet: bool = False,
) -> FeatureExtractor:
    """The frozen VGG19 feature extractor; prints one line saying which weights it uses.

    ``weights``:

    * ``"auto"`` (default): the ImageNet-trained weights from, in order, the file named by the
      ``COURSE_VGG19_WEIGHTS`` environment variable, torchvision's cache
      (``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``), or a download (548 MB, only when
      ``download.pytorch.org`` answers within 2 s). If none works, within seconds, the random-
      weight fallback (:func:`random_vgg19_features`).
    * ``"pretrained"``: the same search, but raise instead of falling back.
    * ``"random"``: the fallback directly.
    * a path to a torchvision VGG19 state dict.

    ``pooling``: ``"avg"`` (Gatys et al.'s choice for synthesis) or ``"max"``.
    ``seed``: the random weights' seed (fallback only).
    ``normalize``: ``"layer"`` (default) rescales each layer to mean activation 1 on the shipped
    photos, ``"filter"`` each filter (Gatys et al.'s version), ``None`` leaves the weights as they
    are; see :func:`normalize_mean_activation`. A change of units, so one β/α suits both networks.
    """
    check_choice("pooling", pooling, ("avg", "max"))
    check_choice("normalize", normalize, ("layer", "filter", None))
    say = (lambda msg: None) if quiet else print
    device = resolve_device(device)
    why, offline = "", False
    features = None
    path = None
    if isinstance(weights, (str, os.PathLike)) and str(weights) not in ("auto", "pretrained", "random"):
        path = Path(weights)
        features = load_pretrained_features(path, pooling)
    elif weights in ("auto", "pretrained"):
        env = os.environ.get(WEIGHTS_ENV, "").strip()
        try:
            if env:
                path = Path(env)
                features = load_pretrained_features(path, pooling)
            elif _cached_weights().is_file():
                path = _cached_weights()
                features = load_pretrained_features(path, pooling)
            elif network_available(DOWNLOAD_HOST):
                say("Downloading the ImageNet-trained VGG19 weights (548 MB, once) …")
                torch.hub.load_state_dict_from_url(WEIGHTS_URL, progress=not quiet, check_hash=True)
                path = _cached_weights()
                features = load_pretrained_features(path, pooling)
            else:
                why = "the trained weights are not on disk and download.pytorch.org cannot be reached"
                offline = True
        except Exception as exc:  # a broken file or download must not stop the course
            if weights == "pretrained":
                raise
            why = f"loading the trained weights failed ({exc.__class__.__name__}: {exc})"
        if features is None and weights == "pretrained":
            raise RuntimeError(
                f"weights='pretrained' but {why}; put vgg19-dcbb9e9d.pth in {_cached_weights().parent} "
                f"or set {WEIGHTS_ENV} to its path"
            )
    else:
        check_choice("weights", weights, ("auto", "pretrained", "random"))
        why = "weights='random' was asked for"

    if features is not None:
        message = f"Using the ImageNet-trained VGG19 weights from {path}."
        source = "pretrained"
    else:
        features = random_vgg19_features(seed, pooling)
        message = (
            f"{'Offline: using' if offline else 'Using'} VGG19 with random weights (seed {seed}) because {why}; "
            "Gram matrices of random deep features still capture texture (He et al. 2016), so the "
            "method works the same, but results are grainier and less structured than with trained weights."
        )
        source = "random"
    extractor = FeatureExtractor(features, source, message).to(device)
    if normalize is not None:
        calib = extractor.normalize(calibration_images(CALIBRATION_SIZE).to(device))
        normalize_mean_activation(extractor.features, calib, per=normalize)
    say(message)
    return extractor
