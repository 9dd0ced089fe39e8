"""The two install routes (pip with pyproject.toml, conda with environment.yml) name the same packages."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PYPI = {"pytorch": "torch"}  # conda-forge names that differ from PyPI's


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {_name(s) for s in specs}


def conda_packages() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name = _name(dep)
            if name not in ("python", "pip"):
                names.add(CONDA_TO_PYPI.get(name, name))
    return names


def test_environment_yml_names_the_same_packages_as_pyproject():
    pip_side, conda_side = pyproject_packages(), conda_packages()
    assert pip_side == conda_side, (
        f"only in pyproject.toml: {sorted(pip_side - conda_side)}; "
        f"only in environment.yml: {sorted(conda_side - pip_side)}"
    )


def test_environment_yml_installs_the_repo_editable():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_sections and "-e ." in pip_sections[0]
    assert "conda-forge" in env["channels"]


def test_dependencies_have_lower_bounds_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    for spec in specs:
        assert ">=" in spec, f"{spec} needs a lower bound"
        assert not re.search(r"<|==|~=", spec), f"{spec} must not cap or pin the version"
    assert "<" not in project["requires-python"], "no upper bound on Python (Colab runs 3.13)"


def test_agreement_check_catches_a_difference(tmp_path, monkeypatch):
    # The check above must be able to fail: drop one package from a copy of environment.yml.
    text = (ROOT / "environment.yml").read_text().replace("  - mlxtend>=0.23\n", "")
    env = yaml.safe_load(text)
    names = {CONDA_TO_PYPI.get(_name(d), _name(d)) for d in env["dependencies"] if isinstance(d, str)}
    assert "mlxtend" in pyproject_packages() - names
