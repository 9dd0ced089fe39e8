"""The self-checks of notebook 06 pass the references and fail the typical wrong answers."""

from __future__ import annotations

import numpy as np
import torch

from course_lib.checks.style import check_gram_matrix, check_style_loss
from course_lib.style import gram_matrix, style_loss

# ----------------------------------------------------------------------------- Gram matrix


def test_gram_reference_passes():
    result = check_gram_matrix(gram_matrix)
    assert result and "right" in result.message and repr(result).startswith("✅")


def test_gram_stub_fails_with_one_sentence():
    def stub(features):
        raise NotImplementedError

    result = check_gram_matrix(stub)
    assert not result and "not written yet" in result.message and repr(result).startswith("❌")


def _flat(f):
    b, c, h, w = f.shape
    return f.reshape(b, c, h * w), (b, c, h, w)


def no_normalisation(features):
    f, _ = _flat(features)
    return f @ f.transpose(1, 2)


def only_hw(features):
    f, (b, c, h, w) = _flat(features)
    return f @ f.transpose(1, 2) / (h * w)


def only_c(features):
    f, (b, c, h, w) = _flat(features)
    return f @ f.transpose(1, 2) / c


def by_numel(features):  # divides by B·C·H·W
    f, _ = _flat(features)
    return f @ f.transpose(1, 2) / features.numel()


def transpose_wrong_side(features):  # Fᵀ F: position × position
    f, (b, c, h, w) = _flat(features)
    return f.transpose(1, 2) @ f / (c * h * w)


def transpose_missing(features):
    f, (b, c, h, w) = _flat(features)
    return f @ f / (c * h * w)


def wrong_reshape(features):  # mixes channels and positions
    b, c, h, w = features.shape
    f = features.permute(0, 2, 3, 1).reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def not_symmetric(features):  # F times a differently ordered copy of F
    f, (b, c, h, w) = _flat(features)
    return f @ f.flip(1).transpose(1, 2) / (c * h * w)


def first_image_only(features):
    g = gram_matrix(features[:1])
    return g.expand(features.shape[0], -1, -1)


def via_numpy(features):
    f = features.detach().numpy().reshape(features.shape[0], features.shape[1], -1)
    b, c, h, w = features.shape
    return torch.from_numpy(np.einsum("bik,bjk->bij", f, f) / (c * h * w))


def test_gram_wrong_answers_fail_with_the_reason():
    cases = {
        no_normalisation: "C·H·W times too large",
        only_hw: "only by H·W",
        only_c: "only by C",
        by_numel: "batch size",
        transpose_wrong_side: "Fᵀ F",
        transpose_missing: "transpose",
        wrong_reshape: "values differ",
        not_symmetric: "symmetric",
        first_image_only: "per image",
        via_numpy: "gradient",
    }
    for fn, fragment in cases.items():
        result = check_gram_matrix(fn)
        assert not result, fn.__name__
        assert fragment in result.message, (fn.__name__, result.message)


# ----------------------------------------------------------------------------- style loss


def test_style_loss_reference_passes():
    assert check_style_loss(style_loss)


def reference_by_hand(features, target_grams, layer_weights):
    total = 0.0
    for name, a in target_grams.items():
        total = total + layer_weights[name] * 0.25 * (gram_matrix(features[name]) - a).pow(2).sum()
    return total


def no_quarter(features, target_grams, layer_weights):
    return 4 * reference_by_hand(features, target_grams, layer_weights)


def weights_ignored(features, target_grams, layer_weights):
    return sum(0.25 * (gram_matrix(features[k]) - a).pow(2).sum() for k, a in target_grams.items())


def mse_instead_of_sum(features, target_grams, layer_weights):
    return sum(layer_weights[k] * torch.nn.functional.mse_loss(gram_matrix(features[k]), a)
               for k, a in target_grams.items())


def not_squared(features, target_grams, layer_weights):
    return sum(layer_weights[k] * 0.25 * (gram_matrix(features[k]) - a).abs().sum()
               for k, a in target_grams.items())


def features_not_grams(features, target_grams, layer_weights):
    return sum(layer_weights[k] * 0.25 * (features[k] - a).pow(2).sum() for k, a in target_grams.items())


def detached(features, target_grams, layer_weights):
    return reference_by_hand({k: v.detach() for k, v in features.items()}, target_grams, layer_weights)


def last_layer_only(features, target_grams, layer_weights):
    k = list(target_grams)[-1]
    return layer_weights[k] * 0.25 * (gram_matrix(features[k]) - target_grams[k]).pow(2).sum()


def per_entry_vector(features, target_grams, layer_weights):
    return torch.stack([layer_weights[k] * 0.25 * (gram_matrix(features[k]) - a).pow(2).sum()
                        for k, a in target_grams.items()])


def test_style_loss_written_by_hand_passes():
    assert check_style_loss(reference_by_hand)


def test_style_loss_wrong_answers_fail_with_the_reason():
    cases = {
        no_quarter: "4 times too large",
        weights_ignored: "without their weights",
        mse_instead_of_sum: "averaged",
        not_squared: "not squared",
        features_not_grams: "raised",
        detached: "no gradient",
        last_layer_only: "expected",
        per_entry_vector: "one number",
    }
    for fn, fragment in cases.items():
        result = check_style_loss(fn)
        assert not result, fn.__name__
        assert fragment in result.message, (fn.__name__, result.message)
