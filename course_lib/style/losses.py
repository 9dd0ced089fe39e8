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

These functions are the bare math: they check nothing. The arguments are checked once, where a
learner calls in (:func:`course_lib.style.synthesize`, the figures, the self-checks).
"""

from __future__ import annotations

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G^l = F^l F^lᵀ / (N_l M_l), one per image: (B, C, H, W) → (B, C, C)  (Gatys eq. 3, normalised).

    G_ij = (1 / (N M)) Σ_k F_ik F_jk, the correlation between feature maps i and j summed over
    the M = H W positions, with N = C. Where a feature is in the image is averaged away: only
    which features occur together is kept. That is the "style" of the image.
    """
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)              # F^l: N_l = C rows, M_l = H W columns
    return f @ f.transpose(1, 2) / (c * h * w)     # G_ij = Σ_k F_ik F_jk / (N_l M_l)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content = 1 / (2 N_l M_l) Σ_ij (F^l_ij − P^l_ij)²  (Gatys eq. 1, averaged over entries).

    ``features`` F^l of the image and ``target`` P^l of the content image, both (B, C, H, W)
    (``target`` may have batch size 1 and is broadcast). Returns a scalar, averaged over the batch.
    """
    return 0.5 * (features - target).pow(2).mean()    # ½ mean_ij (F_ij − P_ij)²


def style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """E_l = ¼ Σ_ij (G^l_ij − A^l_ij)² with G^l = gram_matrix(F^l)  (Gatys eq. 4).

    ``features``: F^l (B, C, H, W) of the image; ``target_gram``: A^l, (C, C) or (B or 1, C, C).
    Returns a scalar, averaged over the batch.
    """
    g = gram_matrix(features)                                       # G^l of the image
    return 0.25 * (g - target_gram).pow(2).sum(dim=(-2, -1)).mean()  # ¼ Σ_ij (G_ij − A_ij)²


def style_loss(features: dict, target_grams: dict, layer_weights: dict | None = None) -> torch.Tensor:
    """L_style = Σ_l w_l E_l over the style layers  (Gatys eq. 5).

    ``features`` and ``target_grams`` map layer names to F^l and A^l; ``layer_weights`` maps the
    same names to w_l (default w_l = 1 / L for L layers, as in the paper).
    """
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(target_grams) for name in target_grams}   # w_l = 1 / L
    return sum(layer_weights[name] * style_layer_loss(features[name], a)            # Σ_l w_l E_l
               for name, a in target_grams.items())


def total_variation_loss(images: torch.Tensor) -> torch.Tensor:
    """L_TV = mean_ij (x_{i,j+1} − x_{i,j})² + mean_ij (x_{i+1,j} − x_{i,j})²  (squared differences).

    A smoothness prior (Mahendran & Vedaldi 2015; Johnson et al. 2016) that removes the
    high-frequency speckle pixel optimisation tends to leave. ``images``: (B, C, H, W).
    """
    dx = images[..., :, 1:] - images[..., :, :-1]    # x_{i,j+1} − x_{i,j}
    dy = images[..., 1:, :] - images[..., :-1, :]    # x_{i+1,j} − x_{i,j}
    return dx.pow(2).mean() + dy.pow(2).mean()       # L_TV
