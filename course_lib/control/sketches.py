"""Sketches: digits drawn as strokes, turned into 28×28 images like MNIST's (notebook 09).

A sketch is a list of **strokes**, each a polyline of (x, y) points (x to the right, y down, any
units). The same two steps turn the learner's mouse strokes (:mod:`course_lib.control.pad`) and the
built-in sketches that headless runs and nbval use into an image:

1. :func:`fit_strokes` — MNIST's own normalisation (LeCun et al.): scale the drawing, keeping its
   aspect ratio, so its bounding box fits a 20×20 box, and centre it in the 28×28 frame (MNIST
   centres the centre of mass; the bounding box is close enough for a sketch).
2. :func:`rasterise` — light strokes (+1) on a dark background (−1), each pixel lit by its
   distance d to the nearest segment: ``value = clamp(width/2 + 1/2 − d, 0, 1)``, mapped to
   [−1, 1] (anti-aliased lines ``width`` pixels wide).

:func:`builtin_sketches` draws each digit 0–9 from a few hand-placed strokes with a seeded wobble
(a small random rotation, shear and jitter), so they look drawn by hand and are reproducible.
:func:`prepare_sketch` converts a drawing made elsewhere (an array of any square size, uint8 or
float) with one stated rule.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..validation import check_float, check_int

IMAGE_SIZE = 28  # MNIST's frame
BOX = 20         # MNIST fits each digit's bounding box into 20×20 pixels
STROKE_WIDTH = 2.6  # pixels; MNIST's pen strokes are about 2–3 pixels wide


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, points: int = 14):
    """Points on an ellipse from angle ``start`` to ``end`` (degrees; 0 = right, 90 = down)."""
    angles = np.radians(np.linspace(start, end, points))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


#: Each digit as strokes in a unit box (x right, y down), placed by hand to look written.
DIGIT_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.3, 0.46, -100, 262, 24)],
    1: [[(0.40, 0.18), (0.58, 0.03), (0.55, 0.50), (0.52, 0.97)]],
    2: [_arc(0.5, 0.30, 0.3, 0.25, 190, 380, 12) + [(0.55, 0.60), (0.2, 0.96), (0.85, 0.95)]],
    3: [_arc(0.47, 0.27, 0.28, 0.23, 200, 450, 12), _arc(0.47, 0.72, 0.32, 0.25, 270, 500, 12)],
    4: [[(0.58, 0.03), (0.14, 0.64), (0.88, 0.64)], [(0.68, 0.30), (0.66, 0.98)]],
    5: [[(0.82, 0.04), (0.32, 0.05), (0.26, 0.44)] + _arc(0.47, 0.66, 0.32, 0.28, 230, 500, 14)],
    6: [[(0.72, 0.04), (0.45, 0.25), (0.26, 0.60)] + _arc(0.5, 0.72, 0.25, 0.24, 180, 540, 20)],
    7: [[(0.14, 0.06), (0.86, 0.06), (0.40, 0.98)]],
    8: [_arc(0.5, 0.26, 0.22, 0.22, 90, 450, 18), _arc(0.5, 0.72, 0.28, 0.25, -90, 270, 20)],
    9: [_arc(0.47, 0.30, 0.25, 0.25, 0, 360, 20) + [(0.70, 0.62), (0.60, 0.98)]],
}


def fit_strokes(strokes, size: int = IMAGE_SIZE, box: int = BOX) -> list[np.ndarray]:
    """Scale and move ``strokes`` (any units) so their bounding box fits ``box``×``box`` pixels,
    aspect ratio kept, centred in a ``size``×``size`` frame. Returns pixel coordinates (arrays (P, 2))."""
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes]
    points = np.concatenate(arrays)
    low, high = points.min(0), points.max(0)
    scale = box / max(float((high - low).max()), 1e-9)  # the longer side becomes `box` pixels
    centre = (low + high) / 2
    return [(a - centre) * scale + size / 2 for a in arrays]


def rasterise(strokes, size: int = IMAGE_SIZE, width: float = STROKE_WIDTH) -> torch.Tensor:
    """Draw pixel-coordinate strokes as light lines on a dark background: (1, 1, size, size) in [−1, 1].

    A pixel whose centre is at distance d from the nearest segment gets
    ``clamp(width/2 + 1/2 − d, 0, 1)`` (1 on the stroke, a one-pixel soft edge), mapped to [−1, 1].
    A stroke of one point is a dot.
    """
    starts, ends = [], []
    for s in strokes:
        s = np.asarray(s, dtype=np.float64).reshape(-1, 2)
        if len(s) == 1:
            s = np.concatenate([s, s])
        starts.append(s[:-1])
        ends.append(s[1:])
    a = torch.from_numpy(np.concatenate(starts)).float()            # segment starts (S, 2)
    ab = torch.from_numpy(np.concatenate(ends)).float() - a          # segment directions (S, 2)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    p = torch.stack([xs, ys], -1).reshape(-1, 1, 2)                  # pixel centres (size², 1, 2)
    along = ((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-12)  # projection on each segment
    nearest = a + along.clamp(0, 1)[..., None] * ab                  # nearest point of each segment
    d = (p - nearest).norm(dim=-1).min(dim=1).values                 # distance to the drawing
    ink = (width / 2 + 0.5 - d).clamp(0, 1)                          # 1 on the stroke, soft edge
    return (ink * 2 - 1).reshape(1, 1, size, size)                   # [0, 1] → [−1, 1]


def _wobble(strokes, generator: torch.Generator, amount: float):
    """The strokes under a small random rotation, shear and per-point jitter (unit-box units)."""
    angle = float(torch.empty(1).uniform_(-0.15, 0.15, generator=generator)) if amount else 0.0
    shear = float(torch.empty(1).uniform_(-0.15, 0.15, generator=generator)) if amount else 0.0
    c, s = math.cos(angle), math.sin(angle)
    turn = np.array([[c, -s], [s, c]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    out = []
    for stroke in strokes:
        pts = (np.asarray(stroke) - 0.5) @ turn.T + 0.5
        jitter = torch.randn(pts.shape, generator=generator, dtype=torch.float64).numpy() * amount
        out.append(pts + jitter)
    return out


def digit_sketch(digit: int, seed: int | None = 0, wobble: float = 0.012) -> torch.Tensor:
    """The built-in sketch of ``digit`` (1, 1, 28, 28) in [−1, 1]; ``seed=None``: no wobble."""
    digit = check_int("digit", digit, 0, 9)
    wobble = check_float("wobble", wobble, 0.0, 0.1)
    strokes = DIGIT_STROKES[digit]
    if seed is not None:
        generator = torch.Generator().manual_seed(check_int("seed", seed, 0) * 10 + digit)
        strokes = _wobble(strokes, generator, wobble)
    return rasterise(fit_strokes(strokes))


def builtin_sketches(variants: int = 1, seed: int = 0, wobble: float = 0.012):
    """``10 · variants`` built-in sketches and the digits they are meant to be.

    Returns ``(images, labels)``: (10·variants, 1, 28, 28) in [−1, 1], ordered 0–9, then 0–9 again
    with the next seed; labels (10·variants,). Variant v of digit d uses seed ``seed + v``.
    """
    variants = check_int("variants", variants, 1, 100)
    seed = check_int("seed", seed, 0)
    images = [digit_sketch(d, seed + v, wobble) for v in range(variants) for d in range(10)]
    return torch.cat(images), torch.arange(10).repeat(variants)


def prepare_sketch(sketch, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Turn a drawing into model input: (B, 1, ``size``, ``size``) float32 in [−1, 1].

    The rule, applied in this order:

    * **shape** — (H, W), (C, H, W) or (B, C, H, W), a tensor or a NumPy array, square (H = W ≥ 8),
      C = 1 or 3 (three channels are averaged to grey);
    * **range** — uint8, or any values up to 255 with a maximum above 1: divided by 255; then
      values in [0, 1] (no negative value) are mapped to [−1, 1] with x·2 − 1; values already in
      [−1, 1] are kept. Anything else (below −1, above 255, NaN) is refused;
    * **size** — resized to ``size``×``size`` with antialiased bilinear interpolation.

    Like MNIST, the digit should be light on a dark background; a drawing that is mostly light
    (dark strokes on white paper) is refused with the fix (``1 - image`` or ``255 - image``).
    """
    name = "sketch"
    if isinstance(sketch, np.ndarray):
        sketch = torch.from_numpy(np.array(sketch, copy=True))
    if not isinstance(sketch, torch.Tensor):
        raise TypeError(f"{name} must be a tensor or a NumPy array (H, W), (C, H, W) or (B, C, H, W), "
                        f"got {type(sketch).__name__}")
    shape = tuple(sketch.shape)
    x = sketch.reshape(1, 1, *shape) if sketch.ndim == 2 else sketch[None] if sketch.ndim == 3 else sketch
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[-1] != x.shape[-2] or x.shape[-1] < 8 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a square drawing (H, W), (C, H, W) or (B, C, H, W) with C = 1 or 3 and "
                         f"H = W >= 8, got shape {shape}")
    was_uint8 = x.dtype == torch.uint8
    x = x.float()
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if was_uint8 or high > 1:
        if low < 0 or high > 255:
            raise ValueError(f"{name} must be in [0, 255], [0, 1] or [-1, 1]; got values from {low:.4g} to {high:.4g}")
        x = x / 255
    elif low < -1:
        raise ValueError(f"{name} must be in [0, 255], [0, 1] or [-1, 1]; got values from {low:.4g} to {high:.4g}")
    if float(x.min()) >= 0:
        x = x * 2 - 1                                         # [0, 1] → [−1, 1]
    x = x.mean(1, keepdim=True)                               # grey
    if float(x.mean()) > 0:
        raise ValueError(f"{name} looks like dark strokes on a light background (mean {float(x.mean()):.2f} on "
                         "[-1, 1]); the models draw light digits on black like MNIST: pass 1 - image "
                         "(or 255 - image for uint8)")
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(-1, 1)
