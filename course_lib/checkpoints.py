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


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: unreadable, truncated, or of another architecture.

    The message names the file and says what to do (delete it, or retrain with ``train=True``).
    """


class ChecksumError(CheckpointError):
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


def check_writable(path: str | os.PathLike, name: str = "path") -> Path:
    """Check, before any work, that a file can be written at ``path``; return it as a Path.

    Refuses a directory, and a folder that cannot be created or written to (it creates the folder
    and a scratch file, then removes the file), naming ``name`` (the caller's argument) — so a long
    training never ends in a failed save.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or Path), got {type(path).__name__}")
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{name} must be a file path, but {str(path)!r} is a directory")
    try:  # create the folder and a scratch file now: what fails here would fail after the work
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(f"{name}={str(path)!r} cannot be written ({err.strerror}); choose another path") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{name}={str(path)!r} cannot be written (the file is read-only); choose another path")
    return path


def save_state_dict(state_dict: dict, path: str | os.PathLike) -> str:
    """Save a state dict atomically and return its SHA-256.

    Only tensors (and nested dicts/lists of them, plus plain numbers and strings) are accepted,
    so the file loads with ``weights_only=True``.
    """
    if isinstance(state_dict, nn.Module):
        raise TypeError("save_state_dict expects model.state_dict(), not the module itself")
    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
    path = check_writable(path)
    cpu_state = {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in state_dict.items()}
    atomic_write(path, lambda tmp: torch.save(cpu_state, tmp))
    return file_sha256(path)


_WHAT_TO_DO = "delete it and train again (train=True), or load another file"


def load_state_dict(
    path: str | os.PathLike, sha256: str | None = None, map_location: str | torch.device = "cpu",
    what_to_do: str = _WHAT_TO_DO,
) -> dict:
    """Load a state dict with ``weights_only=True``, first checking its SHA-256 if one is given.

    A missing file raises ``FileNotFoundError``; a file that is not a readable state dict
    (truncated, corrupt, another format) raises :class:`CheckpointError` naming it and ending
    with ``what_to_do``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256:
            raise ChecksumError(
                f"checkpoint {path} has SHA-256 {actual[:12]}…, expected {sha256[:12]}…; "
                "the file is corrupt or was replaced (reinstall the course to restore it)"
            )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file: report one
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}" if str(exc) else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is not a readable state dict ({reason}); {what_to_do}") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a state dict; {what_to_do}")
    return state


def load_weights(model: nn.Module, path: str | os.PathLike, sha256: str | None = None) -> nn.Module:
    """Load the state dict at ``path`` into ``model`` (on the model's device); return the model.

    Weights of another architecture raise :class:`CheckpointError` naming the file and the first
    missing, unexpected or mis-shaped entries — not a dump of the whole state dict.
    """
    from .device import model_device

    state = load_state_dict(path, sha256, map_location=model_device(model))
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
                if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape]
    if missing or unexpected or reshaped:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", reshaped)):
            if items:
                more = f" and {len(items) - 3} more" if len(items) > 3 else ""
                parts.append(f"{label}: {', '.join(items[:3])}{more}")
        raise CheckpointError(
            f"checkpoint {path} holds weights of another architecture than this "
            f"{type(model).__name__} ({'; '.join(parts)}); {_WHAT_TO_DO}"
        )
    model.load_state_dict(state)
    return model


def shipped_checkpoints() -> dict:
    """Return the manifest of checkpoints shipped with the course: name -> record."""
    if not MANIFEST.is_file():
        return {}
    try:
        manifest = json.loads(MANIFEST.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"the course's manifest {MANIFEST} is not valid JSON ({exc}); restore it with "
            "`git checkout course_lib/checkpoints/manifest.json` or reinstall the course"
        ) from None
    if not isinstance(manifest, dict):
        raise CheckpointError(f"the course's manifest {MANIFEST} must hold a JSON object; restore it "
                              "with `git checkout course_lib/checkpoints/manifest.json`")
    return manifest


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
    given, save the result atomically there — ``path`` is checked to be writable *before*
    training, so no training is lost to a bad path. Returns ``(model, info)`` where ``info`` is a
    dict with ``source`` (``"shipped"``, ``"file"`` or ``"trained"``) and whatever ``train_fn``
    returned under ``"result"`` (for example a :class:`course_lib.train_loop.TrainRecord`).
    """
    from .validation import check_module

    check_module("model", model)
    say = (lambda msg: None) if quiet else print
    if path is not None:
        path = check_writable(path)
    if not train:
        if shipped is not None:
            ckpt, record = shipped_checkpoint(shipped)
            if ckpt.is_file():
                load_weights(model, ckpt, record["sha256"])
                say(
                    f"Loaded the course's checkpoint '{shipped}' (SHA-256 verified; trained on "
                    f"{record.get('data', '?')}, {record.get('steps', '?')} steps)."
                )
                return model, {"source": "shipped", "record": record, "path": ckpt}
        if path is not None and path.is_file():
            load_weights(model, path)
            say(f"Loaded your own checkpoint {path}.")
            return model, {"source": "file", "path": path}
    if train_fn is None:
        raise ValueError("no checkpoint to load and no train_fn given: pass train_fn to train one")
    start = time.perf_counter()
    result = train_fn(model)
    seconds = time.perf_counter() - start
    info = {"source": "trained", "result": result, "seconds": seconds}
    if path is not None:
        info["sha256"] = save_state_dict(model.state_dict(), path)
        info["path"] = path
        say(f"Trained in {seconds:.0f} s and saved to {path}.")
    else:
        say(f"Trained in {seconds:.0f} s (not saved).")
    return model, info
