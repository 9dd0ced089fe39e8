import random

import numpy as np
import pytest
import torch

from course_lib.budget import get_budget, is_smoke, pick
from course_lib.device import get_device, seed_everything


@pytest.mark.parametrize("value", ["smoke", "cpu", "gpu", " CPU "])
def test_budget_reads_the_environment(monkeypatch, value):
    monkeypatch.setenv("COURSE_BUDGET", value)
    assert get_budget() == value.strip().lower()


def test_budget_default_follows_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_BUDGET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_budget() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_budget() == "gpu"


def test_bad_budget_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "fast")
    with pytest.raises(ValueError, match=r"COURSE_BUDGET must be one of smoke, cpu, gpu; got 'fast'"):
        get_budget()


def test_pick_returns_the_value_of_the_budget(monkeypatch):
    assert pick(1, 2, 3, budget="smoke") == 1
    assert pick(1, 2, 3, budget="cpu") == 2
    assert pick(1, 2, 3, budget="gpu") == 3
    monkeypatch.setenv("COURSE_BUDGET", "cpu")
    assert pick(smoke=10, cpu=20, gpu=30) == 20
    assert not is_smoke()
    with pytest.raises(ValueError, match="budget must be one of"):
        pick(1, 2, 3, budget="tiny")


def test_seed_everything_makes_all_three_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    with pytest.raises(ValueError, match="seed must be an integer"):
        seed_everything(-1)


def test_get_device(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device().type in ("cpu", "mps")
    assert get_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="prefer='cuda' but this machine has no CUDA GPU"):
        get_device("cuda")
    with pytest.raises(ValueError, match="prefer must be one of cpu"):
        get_device("tpu")


def test_one_default_device_rule_and_the_model_device_helper(monkeypatch):
    from course_lib.device import model_device, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="COURSE_DEVICE='cuda' but this machine has no CUDA GPU"):
        resolve_device(None)
    with pytest.raises(ValueError, match="device='cuda:1' but this machine has no CUDA GPU"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match=r"device must be one of .*got 'gpu'"):
        resolve_device("gpu")
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")
