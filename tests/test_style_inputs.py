"""Bad input to the style family is refused at the boundary, in one sentence naming the caller's argument."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from course_lib.data import load_image
from course_lib.style import (
    plots,
    synthesize,
    vgg19_extractor,
)
from course_lib.train_loop import TrainRecord


@pytest.fixture(scope="module")
def photo():
    return load_image("chelsea", 16)


def as_255(image):
    """What a learner gets from PIL or NumPy: the same picture in [0, 255]."""
    return (image + 1) * 127.5


def refuses(exc, message, fn, *args, **kwargs):
    with pytest.raises(exc, match=re.escape(message)):
        fn(*args, **kwargs)


# ----------------------------------------------------------------------------- synthesize


def test_synthesize_refuses_images_outside_the_pixel_range(extractor, photo):
    run = dict(steps=1, device="cpu", progress=False)
    refuses(ValueError, "content must be in [-1, 1]; got values from", synthesize, extractor,
            content=as_255(photo), **run)
    refuses(ValueError, "(divide by 127.5 and subtract 1)", synthesize, extractor, content=as_255(photo), **run)
    refuses(ValueError, "style must be in [-1, 1]", synthesize, extractor, style=as_255(photo), **run)
    refuses(TypeError, "style must be float images in [-1, 1], got dtype torch.uint8; convert with "
                       "images.float() / 127.5 - 1", synthesize, extractor,
            style=as_255(photo).round().to(torch.uint8), **run)
    refuses(ValueError, "(clamp them, or map [0, 1] images with x * 2 - 1)", synthesize, extractor,
            style=photo * 1.5, **run)
    refuses(ValueError, "init must be in [-1, 1]", synthesize, extractor, style=photo, init=as_255(photo), **run)


def test_synthesize_refuses_nan_and_inf(extractor, photo):
    nan, inf = photo.clone(), photo.clone()
    nan[0, 0, 0, 0] = float("nan")
    inf[0, 1, 2, 3] = float("inf")
    run = dict(steps=1, device="cpu", progress=False)
    refuses(ValueError, "content contains NaN or infinite values", synthesize, extractor, content=nan, **run)
    refuses(ValueError, "style contains NaN or infinite values", synthesize, extractor, style=inf, **run)
    refuses(ValueError, "style_weight must be a finite number in [0, inf], got nan", synthesize, extractor,
            style=photo, style_weight=float("nan"), **run)


def test_synthesize_names_the_callers_arguments(extractor, photo):
    run = dict(steps=1, device="cpu", progress=False)
    refuses(ValueError, "give a content image, a style image, or both", synthesize, extractor, **run)
    refuses(TypeError, "extractor must be a FeatureExtractor (build it with vgg19_extractor()), got Sequential",
            synthesize, extractor.features, style=photo, **run)
    refuses(TypeError, "content must be a torch.Tensor, got ndarray", synthesize, extractor,
            content=np.zeros((1, 3, 16, 16), np.float32), **run)
    refuses(ValueError, "style must be one image (1, 3, H, W), got (2, 3, 16, 16)", synthesize, extractor,
            style=photo.repeat(2, 1, 1, 1), **run)
    refuses(ValueError, "content must have 3 channel(s) in shape (B, C, H, W), got shape (1, 1, 16, 16)",
            synthesize, extractor, content=photo[:, :1], **run)
    refuses(ValueError, "style_weight must be a finite number in [0, inf], got -1.0", synthesize, extractor,
            style=photo, style_weight=-1.0, **run)
    refuses(ValueError, "optimizer must be one of 'lbfgs', 'adam'; got 'sgd'", synthesize, extractor,
            style=photo, optimizer="sgd", **run)
    refuses(ValueError, "content_layer must be a VGG19 layer name, conv1_1 … conv5_4", synthesize, extractor,
            content=photo, content_layer="conv9_9", style_weight=0.0, **run)
    refuses(ValueError, "style_layers must not repeat a layer", synthesize, extractor, style=photo,
            style_layers=("conv1_1", "conv1_1"), **run)
    refuses(ValueError, "layer_weights must be a dict with one weight per style layer ['conv1_1', 'conv2_1'], "
                        "got ['conv1_1']", synthesize, extractor, style=photo, style_layers=("conv1_1", "conv2_1"),
            layer_weights={"conv1_1": 1.0}, **run)
    refuses(ValueError, "layer_weights['conv1_1'] must be a finite number in [0, inf], got -0.5", synthesize,
            extractor, style=photo, style_layers=("conv1_1",), layer_weights={"conv1_1": -0.5}, **run)
    refuses(ValueError, "init='content' needs a content image", synthesize, extractor, style=photo,
            init="content", **run)
    refuses(ValueError, "init must have the output's shape (1, 3, 16, 16), got (1, 3, 8, 8)", synthesize,
            extractor, style=photo, init=photo[..., :8, :8], **run)
    refuses(ValueError, "nothing to optimise: content_weight and style_weight are both 0", synthesize,
            extractor, content=photo, content_weight=0.0, style_weight=0.0, **run)
    refuses(ValueError, "steps must be an integer >= 1, got 0", synthesize, extractor, style=photo, steps=0,
            device="cpu", progress=False)
    refuses(ValueError, "give steps=, minutes= or both", synthesize, extractor, style=photo, device="cpu")
    refuses(ValueError, "minutes must be a finite number in (0, inf]", synthesize, extractor, style=photo,
            minutes=0, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_is_answered_before_any_work(extractor, photo):
    message = "device='cuda' but this machine has no CUDA GPU"
    refuses(ValueError, message, synthesize, extractor, style=photo, steps=1, device="cuda", progress=False)
    refuses(ValueError, message, vgg19_extractor, "random", device="cuda", quiet=True)


def test_divergence_is_reported_and_the_bar_closed(extractor, photo):
    with pytest.raises(FloatingPointError, match=r"total became inf at step 0: training diverged"):
        synthesize(extractor, style=photo, style_layers=("conv1_1",), style_weight=1e300, steps=3,
                   device="cpu", progress=False)


# ----------------------------------------------------------------------------- the extractor itself


def test_extractor_call_checks_its_arguments(extractor, photo):
    refuses(ValueError, "layers must be a VGG19 layer name, conv1_1 … conv5_4", extractor, photo, ["conv6_1"])
    refuses(ValueError, "layers must not repeat a layer", extractor, photo, ["conv1_1", "conv1_1"])
    refuses(ValueError, "images must have 3 channel(s)", extractor, photo[:, :1], ["conv1_1"])
    refuses(ValueError, "images must be in [-1, 1]", extractor, as_255(photo), ["conv1_1"])


# ----------------------------------------------------------------------------- figures


def record_of(image):
    return TrainRecord(steps=1, seconds=1.0, stopped_by="steps", history={"total": [1.0]},
                       snapshots={0: image, 1: image}, output=image)


def test_figures_refuse_images_outside_the_pixel_range(extractor, photo):
    refuses(ValueError, "images['photo'] must be in [-1, 1]; got values from", plots.plot_images, {"photo": as_255(photo)})
    refuses(TypeError, "images['photo'] must be float images in [-1, 1], got dtype torch.uint8", plots.plot_images,
            {"photo": as_255(photo).to(torch.uint8)})
    refuses(ValueError, "reference['content'] must be in [-1, 1]", plots.plot_results, {"run": record_of(photo)},
            reference={"content": as_255(photo)})
    refuses(ValueError, "image must be in [-1, 1]", plots.plot_feature_maps, extractor, as_255(photo))
    refuses(ValueError, "images['b'] contains NaN or infinite values", plots.plot_gram_matrices, extractor,
            {"a": photo, "b": photo * float("nan")})


def test_figures_name_their_arguments(extractor, photo):
    refuses(ValueError, "images must be a non-empty dict", plots.plot_images, {})
    refuses(TypeError, "results['run'] must be a TrainRecord (what synthesize returns), got Tensor",
            plots.plot_results, {"run": photo})
    refuses(TypeError, "record must be a TrainRecord (what synthesize returns), got dict", plots.plot_snapshots, {})
    refuses(TypeError, "records['a'] must be a TrainRecord", plots.plot_losses, {"a": [1.0, 0.5]})
    refuses(ValueError, "x must be one of 'step', 'seconds'; got 'time'", plots.plot_losses, {"a": record_of(photo)},
            x="time")
    refuses(ValueError, "layer must be a VGG19 layer name", plots.plot_feature_maps, extractor, photo, "pool3")
    refuses(ValueError, "compare_to must be one of the titles ['a'], got 'b'", plots.plot_gram_matrices, extractor,
            {"a": photo}, compare_to="b")
    refuses(ValueError, "image must be one of 'astronaut'", plots.plot_layer_explorer, extractor, image="lena")
    refuses(TypeError, "extractor must be a FeatureExtractor", plots.plot_feature_maps, None, photo)
