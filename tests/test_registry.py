"""One registry of shipped models: every family loads the same way (issue 12)."""

import pytest
import torch

from course_lib.checkpoints import shipped_checkpoints
from course_lib.registry import (
    REGISTRY,
    build_model,
    entry,
    generators,
    has_shipped,
    load_pretrained,
    sample_pretrained,
)


def test_every_manifest_entry_is_in_the_registry_and_every_entry_builds():
    for name in shipped_checkpoints():
        assert name in REGISTRY, f"{name} is shipped but no family registered it"
    for name in REGISTRY:
        model = build_model(name)
        assert isinstance(model, torch.nn.Module)


@pytest.mark.parametrize("name", sorted(n for n in REGISTRY if has_shipped(n)))
def test_load_pretrained_gives_an_eval_model_with_its_record(name):
    model = load_pretrained(name, device="cpu")
    assert not model.training and model.record["sha256"] == shipped_checkpoints()[name]["sha256"]
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_aliases_and_unknown_names():
    assert entry("ddpm").name == "ddpm_mnist" and entry("dcgan").name == "dcgan_mnist"
    with pytest.raises(ValueError, match="name must be a model the course ships: .*got 'sd15'"):
        entry("sd15")
    # a model this copy does not register (a later notebook's) is simply not shipped here
    assert has_shipped("sd15") is False and has_shipped("ddpm") is has_shipped("ddpm_mnist")


def test_sample_pretrained_checks_options_and_kind():
    with pytest.raises(ValueError, match="does not take the option"):
        sample_pretrained("dcgan_mnist", 2, nfe=5)
    with pytest.raises(ValueError, match="not an image generator"):
        sample_pretrained("mnist_classifier", 2)
    images = sample_pretrained("ddpm_mnist_cond", 2, nfe=2, label=3, device="cpu", progress=False)
    assert images.shape == (2, 1, 28, 28) and images.device.type == "cpu"
    assert set(generators()) >= {"ddpm_mnist", "ddpm_mnist_cond", "dcgan_mnist"}
