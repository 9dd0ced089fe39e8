"""The VAE's networks, training loop, estimators on a model, bad input, and the shipped models."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.registry import (
    REGISTRY,
    build_model,
    has_shipped,
    load_pretrained,
    sample_pretrained,
)
from course_lib.train_loop import TrainRecord
from course_lib.vae import (
    VAE_2D,
    VAE_LATENT,
    ConvVAE,
    active_units,
    build_vae,
    compression_factor,
    count_parameters,
    iwae_bound,
    psnr,
    sample_prior,
    train_vae,
)

TINY_2D = dict(latent_shape=[2], width=8, hidden=32)
TINY_LATENT = dict(latent_shape=[4, 7, 7], width=8)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and a busy shared CPU makes two threads spin
    (40 steps took 26 s with two threads against 1.2 s with one, at load 9 on 2 cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def digits(n=16, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def real_digits(n=64):
    from course_lib.data import load_mnist

    return load_mnist("train", quiet=True).images[:n]


@pytest.mark.parametrize("config", [VAE_2D, VAE_LATENT, TINY_2D, TINY_LATENT])
def test_encode_and_decode_shapes_and_range(config):
    torch.manual_seed(0)
    model = build_vae(config).eval()
    mu, logvar = model.encode(digits(3))
    latent = tuple(config["latent_shape"])
    assert mu.shape == logvar.shape == (3, *latent)
    images = model.decode(mu)
    assert images.shape == (3, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert model.reconstruct(digits(3)).shape == (3, 1, 28, 28)


def test_the_shipped_architectures_fit_in_5_mb_as_float16():
    for config in (VAE_2D, VAE_LATENT):
        assert count_parameters(build_vae(config)) * 2 < 5e6 * 0.95


def test_bad_input_is_refused_naming_the_argument():
    model = build_vae(TINY_LATENT)
    with pytest.raises(ValueError, match=r"z must have shape \(B, 4, 7, 7\) for this decoder"):
        model.decode(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 4, 7, 7\)"):
        model.decode(torch.zeros(2, 4, 14, 14))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 2\)"):
        build_vae(TINY_2D).decode(torch.zeros(2, 4, 7, 7))
    with pytest.raises(ValueError, match="images must be in \\[-1, 1\\].*divide by 127.5"):
        model.encode(digits(2) * 127.5 + 127.5)
    with pytest.raises(ValueError, match="images must be in \\[-1, 1\\].*x \\* 2 - 1"):
        model.encode(digits(2) + 0.5)
    with pytest.raises(TypeError, match="images must be float images"):
        model.encode(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="images must have shape \\(B, 1, 28, 28\\)"):
        model.encode(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="kl_weight must be a finite number in \\[0, inf\\]"):
        train_vae(model, digits(8), steps=1, kl_weight=-0.5, progress=False)
    with pytest.raises(ValueError, match="data must be in \\[-1, 1\\]"):
        train_vae(model, digits(8) * 3, steps=1, progress=False)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        iwae_bound(model, digits(2), k=0)
    with pytest.raises(ValueError, match="latent_shape must be"):
        ConvVAE(latent_shape=(4, 8, 8))
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        sample_prior(model, 0)


def test_train_vae_returns_the_record_and_lowers_the_loss():
    torch.manual_seed(0)
    model = build_vae(TINY_2D)
    data = real_digits(64)
    record = train_vae(model, data, steps=40, batch_size=16, lr=3e-3, kl_weight=0.5, progress=False,
                       snapshot_every=20, num_snapshots=4)
    assert isinstance(record, TrainRecord) and record.steps == 40 and record.stopped_by == "steps"
    loss, recon, kl = (torch.tensor(record.series(k)) for k in ("loss", "reconstruction", "kl"))
    assert torch.allclose(loss, recon + 0.5 * kl, rtol=1e-5)
    assert loss[-10:].mean() < 0.9 * loss[:10].mean()
    assert sorted(record.snapshots) == [0, 20, 40]
    assert record.snapshots[40].shape == (4, 1, 28, 28)
    assert not model.training


def test_train_vae_is_reproducible_with_a_seed():
    def run():
        torch.manual_seed(123)
        model = build_vae(TINY_LATENT)
        return train_vae(model, digits(32), steps=3, batch_size=8, seed=5, progress=False).series("loss")

    assert run() == run()


def test_a_plain_autoencoder_trains_without_a_kl_term():
    model = ConvVAE(**TINY_2D, variational=False)
    mu, logvar = model.encode(digits(2))
    assert logvar is None and mu.shape == (2, 2)
    record = train_vae(model, digits(32), steps=3, batch_size=8, kl_weight=0.0, progress=False)
    assert record.series("kl") == [0.0, 0.0, 0.0]
    assert record.series("loss") == record.series("reconstruction")
    with pytest.raises(ValueError, match="kl_weight must be 0 for a plain autoencoder"):
        train_vae(model, digits(8), steps=1, progress=False)
    with pytest.raises(ValueError, match="model must be a VAE"):
        iwae_bound(model, digits(2), k=2)


def test_iwae_bound_on_a_model_is_at_least_the_elbo_and_grows_with_k():
    torch.manual_seed(0)
    model = build_vae(TINY_2D)
    train_vae(model, real_digits(256), steps=60, batch_size=32, lr=3e-3, progress=False)
    x = real_digits(128)
    iwae_1, elbo_1 = iwae_bound(model, x, k=1, seed=0)
    assert torch.allclose(iwae_1, elbo_1)  # L_1 is the one-sample ELBO
    bounds = {}
    for k in (1, 10, 200):
        iwae, elbo = iwae_bound(model, x, k=k, seed=k, chunk=16)
        assert (iwae >= elbo - 1e-4).all()  # Jensen on the same samples, digit by digit
        bounds[k] = iwae
    for small, large in ((1, 10), (10, 200)):  # E[L_k] grows: paired differences, > 3 standard errors
        diff = bounds[large] - bounds[small]
        assert diff.mean() > 3 * diff.std() / math.sqrt(len(diff)), (small, large, diff)


def test_psnr_active_units_and_compression_factor():
    x = digits(4)
    assert torch.isinf(psnr(x, x)).all()
    noisy = (x + 0.2).clamp(-1, 1)
    value = psnr(noisy, x)
    mse = ((noisy - x) / 2).pow(2).flatten(1).mean(1)
    assert torch.allclose(value, 10 * torch.log10(1 / mse))
    mu = torch.zeros(100, 3)
    mu[:, 0] = torch.linspace(-1, 1, 100)  # varies with the input: active
    mu[:, 1] = 0.05 * torch.linspace(-1, 1, 100)  # variance 0.00085 < 0.01: inactive
    count, variances = active_units(mu)
    assert count == 1 and variances.shape == (3,)
    assert compression_factor((1, 28, 28), (4, 7, 7)) == 4
    assert compression_factor((3, 512, 512), (4, 64, 64)) == 48


def test_registry_entries_build_the_shipped_architectures():
    for name in ("vae_2d", "vae_latent"):
        assert REGISTRY[name].family == "vae" and REGISTRY[name].sample is not None
    model = build_model("vae_latent", dict(VAE_LATENT))
    assert model.latent_shape == (4, 7, 7)


@pytest.mark.parametrize("name", ["vae_2d", "vae_latent"])
def test_shipped_model_samples_from_the_prior(name):
    if not has_shipped(name):
        pytest.skip(f"{name} is not shipped in this copy (python scripts/train_vae.py {name})")
    images = sample_pretrained(name, 8, seed=0, progress=False)
    assert images.shape == (8, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    assert torch.equal(images, sample_pretrained(name, 8, seed=0, progress=False))
    model = load_pretrained(name)
    assert model.record["bytes"] <= 5_000_000
    assert math.isfinite(model.scaling_factor) and model.scaling_factor > 0


def test_shipped_vae_latent_reconstructs_held_out_digits_as_their_labels():
    """The compressor's target: the classifier reads ≥ 97 % of 1,000 held-out reconstructions as
    the true label (the originals themselves score about 99 %)."""
    if not has_shipped("vae_latent"):
        pytest.skip("vae_latent is not shipped in this copy (python scripts/train_vae.py vae_latent)")
    from course_lib.data import load_mnist
    from course_lib.vae import reconstruction_scores

    test = load_mnist("test", quiet=True)
    scores = reconstruction_scores(load_pretrained("vae_latent", "cpu"), test.images[:1000], test.labels[:1000])
    assert scores["agreement"] >= 0.97, scores["agreement"]
    assert scores["psnr"] > 20
