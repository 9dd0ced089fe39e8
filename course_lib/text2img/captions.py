"""Digits with captions: what each digit looks like, measured from its pixels (notebook 08).

Text-to-image models learn from pictures paired with descriptions. MNIST has only labels, so the
course writes the descriptions itself, from measurements of each digit's pixels (the idea of
Morpho-MNIST, Castro et al. 2019: measure the strokes, then describe or control them):

* **thickness** — the stroke width in pixels: twice the median distance from the strokes' centre
  line (the skeleton of the ink, the pixels above half intensity) to the paper, measured at 4× the
  resolution (:func:`stroke_thickness`). A straight bar k pixels wide measures k. *thin* below
  2.1 px, *bold* above 2.9 px (about the training digits' quartiles).
* **slant** — the angle by which the digit leans, from its second moments: the shear
  s = −μ_xy / μ_yy that would make it upright, as an angle atan(s) in degrees, positive when the
  top leans right (:func:`slant_degrees`). *left-leaning* below −6°, *upright* within ±4°,
  *right-leaning* above 14° (MNIST's digits lean right: the median is about +7°).
* **size** — the height of the ink's bounding box in pixels (:func:`digit_height`). MNIST scales
  every digit so that its larger side is 20 px, so most are 20 px tall: *large* at 20 px, *small*
  at 18 px or less (the wide, short ones, about 12 %).

Between the bands a digit gets no word for that attribute (it is neither clearly thin nor clearly
bold), so every word in a caption is clearly true. A caption names the digit and the attributes
in English or in Chinese, the language of the course's sources: "a bold right-leaning seven",
"一个粗的右倾的七". During training each attribute word is dropped at random, so "a seven" (or "七")
means a seven of any kind, and the whole caption is dropped now and then (the empty prompt), which
teaches the model the unconditional "anything" that classifier-free guidance needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..classifier import check_digits
from ..validation import check_float

# ----------------------------------------------------------------------------- the words

DIGITS_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS_ZH = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")

#: Each attribute: its class names (in order of the measurement) and their words in both languages.
ATTRIBUTES = {
    "thickness": {"thin": "细", "bold": "粗"},
    "slant": {"left-leaning": "左倾", "upright": "直立", "right-leaning": "右倾"},
    "size": {"small": "小", "large": "大"},
}
VOWEL_SOUNDS = ("eight", "upright")  # the words of the vocabulary that take "an" ("a one": a consonant sound)
ARTICLE_ZH = "一个"   # "a" (one + measure word)
LINK_ZH = "的"        # joins an adjective to the noun: 粗的七 = a bold seven

#: Where the bands lie (see the module docstring); between them no word is given.
THIN_BELOW, BOLD_ABOVE = 2.1, 2.9            # stroke width, pixels
LEFT_BELOW, UPRIGHT_WITHIN, RIGHT_ABOVE = -6.0, 4.0, 14.0  # slant, degrees
SMALL_AT_MOST, LARGE_AT_LEAST = 18, 20       # height of the ink, pixels
NO_WORD = -1


# ----------------------------------------------------------------------------- the measurers (bare)


def ink(images: torch.Tensor) -> np.ndarray:
    """Boolean ink masks (B, 28, 28): pixels above half intensity (value > 0 in [−1, 1])."""
    return (images[:, 0] > 0).cpu().numpy()


def stroke_thickness(images: torch.Tensor, upsample: int = 4) -> torch.Tensor:
    """Stroke width in pixels (B,): twice the median distance from the strokes' centre line to the paper.

    Measured at ``upsample``× the resolution (bilinear), where the ink (above half intensity) is
    thinned to its skeleton (its centre line) and each centre-line pixel's Euclidean distance to the
    nearest paper pixel is half the local width. A straight bar k pixels wide measures k (± 0.3 px at
    any angle).
    """
    from scipy.ndimage import distance_transform_edt
    from skimage.morphology import skeletonize

    big = F.interpolate(images.float().cpu(), scale_factor=upsample, mode="bilinear", align_corners=False)
    widths = []
    for mask in (big[:, 0] > 0).numpy():
        centre = skeletonize(mask)                                     # the centre line
        distance = distance_transform_edt(mask)                        # to the nearest paper pixel
        half = np.median(distance[centre]) if centre.any() else 0.0    # half the width, fine pixels
        widths.append(2 * half / upsample)                             # width = 2 × half, in pixels
    return torch.tensor(widths, dtype=torch.float32)


def slant_degrees(images: torch.Tensor) -> torch.Tensor:
    """The lean of each digit in degrees (B,), positive when the top leans right (y points down).

    With intensities w ∈ [0, 1] as weights, centred moments μ_xy = E_w[(x − x̄)(y − ȳ)] and
    μ_yy = E_w[(y − ȳ)²]; the shear that makes the digit upright is s = −μ_xy / μ_yy, and the
    slant is atan(s).
    """
    w = ((images[:, 0].double().cpu() + 1) / 2).clamp(0, 1)              # ink weight in [0, 1]
    ys, xs = torch.meshgrid(torch.arange(w.shape[1], dtype=torch.float64),
                            torch.arange(w.shape[2], dtype=torch.float64), indexing="ij")
    mass = w.sum((1, 2)).clamp(min=1e-9)
    x_bar = (w * xs).sum((1, 2)) / mass                                  # x̄
    y_bar = (w * ys).sum((1, 2)) / mass                                  # ȳ
    dx, dy = xs - x_bar[:, None, None], ys - y_bar[:, None, None]
    mu_xy = (w * dx * dy).sum((1, 2)) / mass                             # μ_xy
    mu_yy = (w * dy * dy).sum((1, 2)) / mass                             # μ_yy
    return torch.rad2deg(torch.atan(-mu_xy / mu_yy.clamp(min=1e-9))).float()  # atan(−μ_xy / μ_yy)


def digit_height(images: torch.Tensor) -> torch.Tensor:
    """Height of the ink's bounding box in pixels (B,): the number of rows that hold ink."""
    return torch.from_numpy(ink(images).any(axis=2).sum(axis=1)).long()


def thickness_class(width: torch.Tensor) -> torch.Tensor:
    """0 = thin (< 2.1 px), 1 = bold (> 2.9 px), −1 = in between (no word)."""
    return torch.where(width < THIN_BELOW, 0, torch.where(width > BOLD_ABOVE, 1, NO_WORD))


def slant_class(degrees: torch.Tensor) -> torch.Tensor:
    """0 = left-leaning (< −6°), 1 = upright (within ±4°), 2 = right-leaning (> 14°), −1 = no word."""
    return torch.where(degrees < LEFT_BELOW, 0, torch.where(
        degrees.abs() <= UPRIGHT_WITHIN, 1, torch.where(degrees > RIGHT_ABOVE, 2, NO_WORD)))


def size_class(height: torch.Tensor) -> torch.Tensor:
    """0 = small (≤ 18 px tall), 1 = large (20 px), −1 = no word."""
    return torch.where(height <= SMALL_AT_MOST, 0, torch.where(height >= LARGE_AT_LEAST, 1, NO_WORD))


@dataclass
class Measurements:
    """What :func:`measure` found in each digit: the numbers and their classes (−1: no word)."""

    thickness_px: torch.Tensor
    slant_deg: torch.Tensor
    height_px: torch.Tensor
    thickness: torch.Tensor
    slant: torch.Tensor
    size: torch.Tensor

    def classes(self) -> dict:
        """{attribute: (B,) class indices} in the order of :data:`ATTRIBUTES`."""
        return {"thickness": self.thickness, "slant": self.slant, "size": self.size}


def measure(images: torch.Tensor) -> Measurements:
    """Measure digits (B, 1, 28, 28) in [−1, 1]: stroke thickness, slant, height, and their classes."""
    check_digits("images", images)
    width, degrees, height = stroke_thickness(images), slant_degrees(images), digit_height(images)
    return Measurements(width, degrees, height, thickness_class(width), slant_class(degrees), size_class(height))


# ----------------------------------------------------------------------------- captions


def attribute_words(attribute: str, language: str = "en") -> tuple[str, ...]:
    """The words of one attribute's classes, in class order (``"en"`` or ``"zh"``)."""
    words = ATTRIBUTES[attribute]
    return tuple(words) if language == "en" else tuple(words.values())


def caption(digit: int, attributes: dict | None = None, language: str = "en", article: bool = True) -> str:
    """The caption of one digit: ``attributes`` maps attribute name → class index (−1 or absent: no word).

    English: "a small bold right-leaning seven" (size, thickness, slant, digit); Chinese:
    "一个小的粗的右倾的七" (each adjective joined by 的). ``article=False`` leaves out "a"/"一个".
    """
    attributes = attributes or {}
    chosen = [(name, attributes.get(name, NO_WORD)) for name in ("size", "thickness", "slant")]
    if language == "zh":
        adjectives = [attribute_words(name, "zh")[c] + LINK_ZH for name, c in chosen if c != NO_WORD]
        return (ARTICLE_ZH if article else "") + "".join(adjectives) + DIGITS_ZH[digit]
    words = [attribute_words(name)[c] for name, c in chosen if c != NO_WORD] + [DIGITS_EN[digit]]
    if article:
        words.insert(0, "an" if words[0] in VOWEL_SOUNDS else "a")
    return " ".join(words)


@dataclass
class CaptionedDigits:
    """Digits and what was measured in them: ``images`` (N, 1, 28, 28) in [−1, 1], ``labels`` (N,),
    ``attributes`` {name: (N,) class index or −1}, and the raw ``measurements``."""

    images: torch.Tensor
    labels: torch.Tensor
    attributes: dict
    measurements: Measurements

    def __len__(self) -> int:
        return len(self.labels)

    def captions(self, language: str = "en") -> list[str]:
        """Every digit's full caption (all its words) in one language."""
        return [caption(int(d), {k: int(v[i]) for k, v in self.attributes.items()}, language)
                for i, d in enumerate(self.labels)]

    def shares(self) -> dict:
        """{attribute: {word: share of the digits that get it}}: how often each word occurs."""
        return {name: {word: float((self.attributes[name] == c).float().mean())
                       for c, word in enumerate(attribute_words(name))} for name in ATTRIBUTES}


def caption_digits(digits) -> CaptionedDigits:
    """Measure a :class:`course_lib.data.Digits` (or a pair images, labels) and caption every digit."""
    images, labels = (digits.images, digits.labels) if hasattr(digits, "images") else digits
    found = measure(images)
    return CaptionedDigits(images, labels.long(), found.classes(), found)


def sample_captions(labels: torch.Tensor, attributes: dict, generator: torch.Generator, *,
                    attribute_dropout: float = 0.5, caption_dropout: float = 0.1, chinese_share: float = 0.5,
                    article_dropout: float = 0.25) -> list[str]:
    """Random training captions for a batch (the augmentation described in the module docstring).

    Each caption is in Chinese with probability ``chinese_share``; each attribute word is left out
    with probability ``attribute_dropout``, the article with ``article_dropout``; and with
    probability ``caption_dropout`` the whole caption is the empty prompt "".
    """
    n = len(labels)
    u = torch.rand(n, 3 + len(ATTRIBUTES), generator=generator)
    out = []
    for i in range(n):
        if u[i, 0] < caption_dropout:
            out.append("")
            continue
        kept = {name: int(values[i]) if u[i, 3 + j] >= attribute_dropout else NO_WORD
                for j, (name, values) in enumerate(attributes.items())}
        out.append(caption(int(labels[i]), kept, "zh" if u[i, 1] < chinese_share else "en",
                           article=bool(u[i, 2] >= article_dropout)))
    return out


def check_share(name: str, value) -> float:
    """A probability in [0, 1] (for the dropout and language shares)."""
    return check_float(name, value, 0.0, 1.0)


def draw_stroke(width: float = 3.0, angle: float = 0.0, length: float = 18.0, centre=(14.0, 14.0),
                size: int = 28, supersample: int = 4) -> torch.Tensor:
    """A synthetic digit (1, 1, size, size) in [−1, 1]: one straight bar ``width`` px wide and ``length``
    px long, leaning ``angle`` degrees (top to the right for positive angles), anti-aliased by
    ``supersample``² samples per pixel. Known answers for the measurers (see the tests)."""
    n = size * supersample
    ys, xs = (np.mgrid[0:n, 0:n] + 0.5) / supersample
    up_x, up_y = math.sin(math.radians(angle)), -math.cos(math.radians(angle))   # unit vector to the top
    px, py = xs - centre[0], ys - centre[1]
    along, across = px * up_x + py * up_y, np.abs(px * up_y - py * up_x)
    inside = (np.abs(along) <= length / 2) & (across <= width / 2)
    coverage = inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    return torch.tensor(coverage * 2 - 1, dtype=torch.float32)[None, None]


#: (width px, angle °) of the bars :func:`example_strokes` draws.
EXAMPLE_BARS = ((1.5, 0), (2.0, 20), (3.0, -10), (4.0, 30), (5.0, 0))


def example_strokes() -> torch.Tensor:
    """Five synthetic bars (5, 1, 28, 28) of known width and slant (:data:`EXAMPLE_BARS`), for showing the measurers."""
    return torch.cat([draw_stroke(width, angle) for width, angle in EXAMPLE_BARS])
