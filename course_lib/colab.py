"""Google Colab support: the repository address (kept here, once) and the notebooks' setup cell.

Every notebook begins with :data:`SETUP_CELL`. Inside Colab it installs ``course_lib`` from the
repository and turns on Colab's widget manager so the sliders work; anywhere it then checks that
the kernel can import ``course_lib`` and, if not, says in one line which kernel to choose
(:data:`KERNEL_DISPLAY_NAME`, the one ``make lab`` registers and every notebook names). ``scripts/sync_notebooks.py`` writes this cell into every notebook and the "Open in Colab"
badges into the README; a test fails if any copy drifts from this file.
"""

from __future__ import annotations

REPO_SLUG = "noise-to-art/noise-to-art"
REPO_URL = f"https://github.com/{REPO_SLUG}"
BRANCH = "main"

#: The Jupyter kernel ``make lab`` registers; every notebook names it in its metadata.
KERNEL_NAME = "noise-to-art"
KERNEL_DISPLAY_NAME = "Python (Noise to Art)"

SETUP_CELL = f'''# Setup: in Google Colab this installs the course library; elsewhere it checks this kernel has it.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "git+{REPO_URL}@{BRANCH}"],
        check=True,
    )
    from google.colab import output

    output.enable_custom_widget_manager()
try:
    import course_lib  # noqa: F401
except ImportError:
    raise SystemExit("This kernel cannot import course_lib: choose the kernel '{KERNEL_DISPLAY_NAME}' "
                     "(`make lab` registers it), or run `pip install -e .` in this kernel's Python.") from None'''


def colab_url(notebook: str) -> str:
    """The address that opens ``notebooks/<notebook>`` of the repository in Colab."""
    return f"https://colab.research.google.com/github/{REPO_SLUG}/blob/{BRANCH}/notebooks/{notebook}"


def colab_badge(notebook: str) -> str:
    """A Markdown "Open in Colab" badge for one notebook."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook)})"
    )
