"""Load-or-train: checkpoints that are state dicts only, verified by SHA-256, written atomically.

The course ships a few small checkpoints in ``course_lib/checkpoints/`` (listed, with the data,
seed, steps and time that made them, in ``manifest.json``). A notebook either loads one of those or
trains its own model, and says which. Files are written to a temporary name, flushed to disk and
then renamed, so a crash or a Ctrl-C in the middle never leaves half a checkpoint behind; they
are read with ``torch.load(weights_only=True)``, which refuses to run pickled code.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

SHIPPED_DIR = Path(__file__).resolve().parent / "checkpoints"
MANIFEST = SHIPPED_DIR / "manifest.json"


class ChecksumError(RuntimeError):
    """A checkpoint's SHA-256 differs from the expected one (corrupt or replaced file)."""


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, flush it to disk, then rename it
    onto ``path``: readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_state_dict(state_dict: dict, path: str | os.PathLike) -> str:
    """Save a state dict atomically and return its SHA-256.

    Only tensors (and nested dicts/lists of them, plus plain numbers and strings) are accepted,
    so the file loads with ``weights_only=True``.
    """
    if isinstance(state_dict, nn.Module):
        raise TypeError("save_state_dict expects model.state_dict(), not the module itself")
    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
    path = Path(path)
    cpu_state = {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in state_dict.items()}
    atomic_write(path, lambda tmp: torch.save(cpu_state, tmp))
    return file_sha256(path)


def load_state_dict(
    path: str | os.PathLike, sha256: str | None = None, map_location: str | torch.device = "cpu"
) -> dict:
    """Load a state dict with ``weights_only=True``, first checking its SHA-256 if one is given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256:
            raise ChecksumError(
                f"checkpoint {path.name} has SHA-256 {actual[:12]}…, expected {sha256[:12]}…; "
                "the file is corrupt or was replaced"
            )
    return torch.load(path, map_location=map_location, weights_only=True)


def shipped_checkpoints() -> dict:
    """Return the manifest of checkpoints shipped with the course: name -> record."""
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text())


def shipped_checkpoint(name: str) -> tuple[Path, dict]:
    """Return ``(path, record)`` of a shipped checkpoint; the record holds sha256, data, seed, steps."""
    manifest = shipped_checkpoints()
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none"
        raise KeyError(f"no shipped checkpoint named {name!r}; shipped: {known}")
    record = manifest[name]
    return SHIPPED_DIR / record["file"], record


def register_shipped(name: str, path: str | os.PathLike, **record) -> dict:
    """Add or replace a manifest entry for a file in ``course_lib/checkpoints`` (used by scripts)."""
    path = Path(path)
    if path.resolve().parent != SHIPPED_DIR:
        raise ValueError(f"path must be inside {SHIPPED_DIR}, got {path}")
    manifest = shipped_checkpoints()
    entry = {"file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size, **record}
    manifest[name] = entry
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write(MANIFEST, lambda tmp: tmp.write_text(text))
    return entry


def load_or_train(
    model: nn.Module,
    train_fn: Callable[[nn.Module], object] | None = None,
    *,
    shipped: str | None = None,
    path: str | os.PathLike | None = None,
    train: bool = False,
    quiet: bool = False,
):
    """Give ``model`` trained weights: load a checkpoint, or train and save one. Say which.

    Order: if ``train`` is false, load the shipped checkpoint ``shipped`` (SHA-256 verified), or
    else the file at ``path`` if it exists. Otherwise call ``train_fn(model)`` and, if ``path`` is
    given, save the result atomically there. Returns ``(model, info)`` where ``info`` is a dict
    with ``source`` (``"shipped"``, ``"file"`` or ``"trained"``) and whatever ``train_fn`` returned
    under ``"result"`` (for example a loss history).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = next(model.parameters()).device if any(True for _ in model.parameters()) else "cpu"
    say = (lambda msg: None) if quiet else print
    if not train:
        if shipped is not None:
            ckpt, record = shipped_checkpoint(shipped)
            if ckpt.is_file():
                model.load_state_dict(load_state_dict(ckpt, record["sha256"], map_location=device))
                say(
                    f"Loaded the course's checkpoint '{shipped}' (SHA-256 verified; trained on "
                    f"{record.get('data', '?')}, {record.get('steps', '?')} steps)."
                )
                return model, {"source": "shipped", "record": record, "path": ckpt}
        if path is not None and Path(path).is_file():
            model.load_state_dict(load_state_dict(path, map_location=device))
            say(f"Loaded your own checkpoint {path}.")
            return model, {"source": "file", "path": Path(path)}
    if train_fn is None:
        raise ValueError("no checkpoint to load and no train_fn given: pass train_fn to train one")
    start = time.perf_counter()
    result = train_fn(model)
    seconds = time.perf_counter() - start
    info = {"source": "trained", "result": result, "seconds": seconds}
    if path is not None:
        info["sha256"] = save_state_dict(model.state_dict(), path)
        info["path"] = Path(path)
        say(f"Trained in {seconds:.0f} s and saved to {path}.")
    else:
        say(f"Trained in {seconds:.0f} s (not saved).")
    return model, info
