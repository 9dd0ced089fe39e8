"""Maintain the course notebooks.

    python scripts/notebooks.py sync      # write the Colab setup cell and the README badges
    python scripts/notebooks.py refresh   # sync, execute each notebook in the smoke budget, keep
                                          # only the outputs nbval checks, clear execution state
    python scripts/notebooks.py check     # fail if a notebook is out of sync or not clean

``refresh`` takes notebook paths to limit it (``refresh notebooks/03_forward_diffusion.ipynb``).
Each notebook executes in a child process with a wall-clock limit (``--limit`` seconds, default
1200) and is retried once if it hangs: nbclient can deadlock waiting on an ipywidgets comm message,
and a per-cell timeout does not always fire then. The notebook file is only rewritten after a run
that finished.
A cell's output is kept only when its source contains ``# NBVAL_CHECK_OUTPUT``: those cells print
deterministic numbers from the math, and nbval compares them on every test run.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.colab import KERNEL_DISPLAY_NAME, KERNEL_NAME, SETUP_CELL, colab_badge  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
CHECK_MARK = "NBVAL_CHECK_OUTPUT"
BADGES_START, BADGES_END = "<!-- notebooks:start -->", "<!-- notebooks:end -->"


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def notebook_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "untitled"


def is_checked(cell) -> bool:
    return CHECK_MARK in cell.source or CHECK_MARK.lower().replace("_", "-") in cell.metadata.get("tags", [])


def clean(nb) -> None:
    """Keep outputs only in checked cells; drop execution counts and per-cell run metadata."""
    checked = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if is_checked(cell):
            # nbval only compares a cell that has an execution count ("unrun" cells may not keep
            # outputs), so checked cells are numbered 1, 2, … and every other cell has none.
            checked += 1
            cell.execution_count = checked
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = checked
                out.get("metadata", {}).clear() if isinstance(out.get("metadata"), dict) else None
        else:
            cell.outputs = []
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
    nb.metadata["language_info"] = {"name": "python"}


def sync_setup_cell(nb) -> bool:
    """Make the first code cell the Colab setup cell; return True if the notebook changed."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    if code and code[0].source.startswith("# Setup: in Google Colab"):
        if code[0].source == SETUP_CELL:
            return False
        code[0].source = SETUP_CELL
        return True
    idx = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(idx, nbformat.v4.new_code_cell(SETUP_CELL))
    return True


def badges_block() -> str:
    rows = ["| Notebook | Open |", "| --- | --- |"]
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        rows.append(f"| [{path.name}](notebooks/{path.name}) — {notebook_title(nb)} | {colab_badge(path.name)} |")
    return "\n".join([BADGES_START, *rows, BADGES_END])


def sync() -> None:
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        if sync_setup_cell(nb):
            nbformat.write(nb, path)
            print(f"synced setup cell: {path.name}")
    text = README.read_text()
    if BADGES_START in text:
        new = re.sub(
            re.escape(BADGES_START) + ".*?" + re.escape(BADGES_END), lambda _: badges_block(), text, flags=re.S
        )
        if new != text:
            README.write_text(new)
            print("synced README badges")


def execute(path: Path) -> None:
    """Execute one notebook in the smoke budget and write it back cleaned (run in a child process)."""
    from nbclient import NotebookClient

    os.environ["COURSE_BUDGET"] = "smoke"
    os.environ.setdefault("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, iopub_timeout=60, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    clean(nb)
    nbformat.write(nb, path)


def refresh_one(path: Path, limit: float = 1200.0, attempts: int = 2) -> None:
    """Execute one notebook in a child process (see :func:`execute`); retry one that hangs or fails.

    Raises ``SystemExit`` after ``attempts`` failures; the notebook file is then unchanged.
    """
    import signal
    import subprocess

    for attempt in range(1, attempts + 1):
        print(f"executing {path.name} (attempt {attempt}/{attempts}) …", flush=True)
        # A session of its own, so that a hung run is stopped together with its kernel.
        child = subprocess.Popen([sys.executable, __file__, "_execute", str(path)], start_new_session=True)
        try:
            code = child.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            print(f"  {path.name} did not finish within {limit:.0f} s (a hung kernel?)", flush=True)
            continue
        if code == 0:
            return
        print(f"  {path.name} failed (exit code {code})", flush=True)
    raise SystemExit(f"could not refresh {path.name} in {attempts} attempts; the file is unchanged")


def refresh(paths: list[Path], limit: float = 1200.0, attempts: int = 2) -> None:
    """Sync, then execute each notebook (all by default) with :func:`refresh_one`."""
    sync()
    for path in paths or notebook_paths():
        refresh_one(path, limit=limit, attempts=attempts)


def problems() -> list[str]:
    found = []
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if not code or code[0].source != SETUP_CELL:
            found.append(f"{path.name}: the first code cell is not course_lib.colab.SETUP_CELL (run sync)")
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if cell.outputs and not is_checked(cell):
                found.append(f"{path.name}: cell {i} keeps outputs that nbval does not check")
            if cell.execution_count is not None and not is_checked(cell):
                found.append(f"{path.name}: cell {i} keeps an execution count")
            if any(o.get("output_type") == "error" for o in cell.outputs):
                found.append(f"{path.name}: cell {i} keeps an error output")
    if README.is_file() and BADGES_START in README.read_text():
        block = README.read_text().split(BADGES_START)[1].split(BADGES_END)[0]
        if BADGES_START + block + BADGES_END != badges_block():
            found.append("README.md: the notebook table/badges are out of date (run sync)")
    return found


def main(argv: list[str]) -> int:
    if argv and argv[0] == "_execute":
        execute(Path(argv[1]))
        return 0
    if not argv or argv[0] not in ("sync", "refresh", "check"):
        print(__doc__)
        return 2
    if argv[0] == "sync":
        sync()
    elif argv[0] == "refresh":
        rest = argv[1:]
        limit = 1200.0
        if "--limit" in rest:
            i = rest.index("--limit")
            limit = float(rest[i + 1])
            del rest[i:i + 2]
        refresh([Path(p).resolve() for p in rest], limit=limit)
    found = problems()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
