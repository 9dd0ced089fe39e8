"""Build the course's single-user image for Zero to JupyterHub with repo2docker.

    python -m workshop.k8s.image context OUT            # write the build context only
    python -m workshop.k8s.image dry-run                # repo2docker prints the Dockerfile it would build
    python -m workshop.k8s.image build IMAGE:TAG        # build (needs Docker) and tag the image

The context is the repository's tracked files plus a ``binder/`` folder made here: its
``environment.yml`` is the repository's own (``environment.yml`` at the top) less PyTorch and the
editable install, and its ``postBuild`` installs CPU-only PyTorch from the PyTorch CPU index and
then the course. The repository itself keeps no ``binder/`` folder, so Binder still builds the
top-level ``environment.yml`` as it is. repo2docker adds JupyterLab and jupyterhub-singleuser.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TARGET = "/srv/noise-to-art"  # where the course lives in the image (homes are volumes on k8s)
FROM_PIP = ("pytorch", "torchvision")  # installed by postBuild from the PyTorch CPU index


def image_environment(env: dict) -> dict:
    """The repository's conda environment without PyTorch and without the editable install."""
    deps = []
    for dep in env["dependencies"]:
        if isinstance(dep, str) and dep.split(">")[0].split("=")[0].strip() in FROM_PIP:
            continue
        if isinstance(dep, dict) and "pip" in dep:
            rest = [p for p in dep["pip"] if p.strip() != "-e ."]
            if rest:
                deps.append({"pip": rest})
            continue
        deps.append(dep)
    return {"name": env.get("name", "noise-to-art"), "channels": env["channels"], "dependencies": deps}


def make_context(out: Path) -> Path:
    """Copy the tracked files of the repository to ``out`` and add ``binder/``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = REPO / name
        if src.is_file():
            dst = out / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    binder = out / "binder"
    binder.mkdir()
    env = image_environment(yaml.safe_load((REPO / "environment.yml").read_text()))
    (binder / "environment.yml").write_text(
        "# Made by workshop/k8s/image.py from the repository's environment.yml; PyTorch comes from postBuild.\n"
        + yaml.safe_dump(env, sort_keys=False))
    shutil.copy2(HERE / "image" / "postBuild", binder / "postBuild")
    return out


def repo2docker(context: Path, *extra: str) -> int:
    exe = shutil.which("repo2docker") or shutil.which("jupyter-repo2docker")
    if exe is None:
        print("image: repo2docker is not installed: pip install jupyter-repo2docker", file=sys.stderr)
        return 2
    cmd = [exe, "--user-name", "jovyan", "--user-id", "1000", "--target-repo-dir", TARGET, *extra, str(context)]
    return subprocess.run(cmd).returncode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workshop.k8s.image", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("context").add_argument("out")
    sub.add_parser("dry-run")
    sub.add_parser("build").add_argument("image", help="name:tag for the built image")
    args = ap.parse_args(argv)
    if args.command == "context":
        out = Path(args.out)
        if out.exists():
            print(f"image: {str(out)!r} already exists; give a new folder", file=sys.stderr)
            return 2
        make_context(out)
        print(f"build context in {out}")
        return 0
    with tempfile.TemporaryDirectory(prefix="nta-image-") as tmp:
        context = make_context(Path(tmp) / "context")
        if args.command == "dry-run":
            return repo2docker(context, "--no-build", "--debug")
        if ":" not in args.image:
            print(f"image: {args.image!r} needs a tag, e.g. registry.example.org/noise-to-art/workshop:2025.1",
                  file=sys.stderr)
            return 2
        return repo2docker(context, "--no-run", "--image-name", args.image)


if __name__ == "__main__":
    sys.exit(main())
