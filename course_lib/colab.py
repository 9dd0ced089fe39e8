"""Google Colab support: the repository address (kept here, once) and the notebooks' setup cell.

Every notebook begins with :data:`SETUP_CELL`. Outside Colab it does nothing. Inside Colab it
installs ``course_lib`` from the repository and turns on Colab's widget manager so the sliders
work. ``scripts/sync_notebooks.py`` writes this cell into every notebook and the "Open in Colab"
badges into the README; a test fails if any copy drifts from this file.
"""

from __future__ import annotations

REPO_SLUG = "noise-to-art/noise-to-art"
REPO_URL = f"https://github.com/{REPO_SLUG}"
BRANCH = "main"

SETUP_CELL = f'''# Setup: in Google Colab this installs the course library; elsewhere it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "git+{REPO_URL}@{BRANCH}"],
        check=True,
    )
    from google.colab import output

    output.enable_custom_widget_manager()'''


def colab_url(notebook: str) -> str:
    """The address that opens ``notebooks/<notebook>`` of the repository in Colab."""
    return f"https://colab.research.google.com/github/{REPO_SLUG}/blob/{BRANCH}/notebooks/{notebook}"


def colab_badge(notebook: str) -> str:
    """A Markdown "Open in Colab" badge for one notebook."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook)})"
    )
