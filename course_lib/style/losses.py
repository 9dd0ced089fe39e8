"""Content, style and total-variation losses of neural style transfer (notebook 06).

Notation of Gatys, Ecker & Bethge (2016), "Image Style Transfer Using Convolutional Neural
Networks" (CVPR): at layer l the network has N_l = C_l feature maps of M_l = H_l W_l positions;
F^l (N_l × M_l) are the features of the image x being optimised, P^l those of the content image
p, and A^l the Gram matrix of the style image a.

Normalisation used by the course (stated once, used everywhere):

    Gram matrix    G^l = F^l F^lᵀ / (N_l M_l)            (CONVENTIONS: F Fᵀ / (C H W))

With this G, the paper's per-layer style loss (eq. 4)
    E_l = 1 / (4 N_l² M_l²) Σ_ij (F Fᵀ − A_raw)²_ij   equals   E_l = ¼ Σ_ij (G^l_ij − A^l_ij)²,
so :func:`style_layer_loss` is exactly the paper's E_l.

The content loss of the paper (eq. 1) sums over all N_l M_l entries, so its size grows with
the image; the course divides by N_l M_l (a mean) so that the balance between content and style
does not change when the image size slider moves. This only rescales the paper's α.
"""

from __future__ import annotations

import torch

from ..validation import check_images, check_tensor


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix G = F Fᵀ / (N M) of a feature map: (B, C, H, W) → (B, C, C).

    G_ij = (1 / (N M)) Σ_k F_ik F_jk, the correlation between feature maps i and j summed over
    the M = H W positions, with N = C. Where a feature is in the image is averaged away: only
    which features occur together is kept. That is the "style" of the image.
    """
    check_images("features", features)
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content = 1 / (2 N_l M_l) Σ_ij (F^l_ij − P^l_ij)²  (Gatys eq. 1, averaged over entries).

    ``features`` F^l of the image and ``target`` P^l of the content image, both (B, C, H, W)
    (``target`` may have batch size 1 and is broadcast). Returns a scalar, averaged over the batch.
    """
    check_images("features", features)
    check_images("target", target)
    if target.shape[1:] != features.shape[1:] or target.shape[0] not in (1, features.shape[0]):
        raise ValueError(
            f"target must have the shape of features {tuple(features.shape)} (or batch size 1), "
            f"got {tuple(target.shape)}"
        )
    return 0.5 * (features - target).pow(2).mean()


def style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """E_l = ¼ Σ_ij (G^l_ij − A^l_ij)² with G^l = gram_matrix(F^l)  (Gatys eq. 4).

    ``features``: F^l (B, C, H, W) of the image; ``target_gram``: A^l, (C, C) or (B or 1, C, C).
    Returns a scalar, averaged over the batch.
    """
    check_images("features", features)
    check_tensor("target_gram", target_gram, ndim=(2, 3))
    c = features.shape[1]
    if target_gram.shape[-2:] != (c, c):
        raise ValueError(
            f"target_gram must be ({c}, {c}) for features with {c} channels, "
            f"got {tuple(target_gram.shape)}"
        )
    g = gram_matrix(features)
    return 0.25 * (g - target_gram).pow(2).sum(dim=(-2, -1)).mean()


def style_loss(features: dict, target_grams: dict, layer_weights: dict | None = None) -> torch.Tensor:
    """L_style = Σ_l w_l E_l over the style layers  (Gatys eq. 5).

    ``features`` and ``target_grams`` map layer names to F^l and A^l; ``layer_weights`` maps the
    same names to w_l (default w_l = 1 / L for L layers, as in the paper).
    """
    if not isinstance(target_grams, dict) or not target_grams:
        raise ValueError("target_grams must be a non-empty dict {layer name: Gram matrix}")
    missing = [name for name in target_grams if name not in features]
    if missing:
        raise ValueError(f"features is missing the style layer(s) {missing}")
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(target_grams) for name in target_grams}
    elif set(layer_weights) != set(target_grams):
        raise ValueError(
            f"layer_weights must have one weight per style layer {sorted(target_grams)}, "
            f"got {sorted(layer_weights)}"
        )
    total = 0.0
    for name, a in target_grams.items():
        total = total + float(layer_weights[name]) * style_layer_loss(features[name], a)
    return total


def total_variation_loss(images: torch.Tensor) -> torch.Tensor:
    """L_TV = mean_ij (x_{i,j+1} − x_{i,j})² + mean_ij (x_{i+1,j} − x_{i,j})²  (squared differences).

    A smoothness prior (Mahendran & Vedaldi 2015; Johnson et al. 2016) that removes the
    high-frequency speckle pixel optimisation tends to leave. ``images``: (B, C, H, W).
    """
    check_images("images", images)
    dx = images[..., :, 1:] - images[..., :, :-1]
    dy = images[..., 1:, :] - images[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()
