"""Screenshots of the built decks, to look at before a workshop (and a quick check of each deck).

    python slides/screens.py            # every slide of every deck in slides/_build/
    python slides/screens.py --auto 03  # one slide per deck (the one the test photographs)

Writes ``slides/_build/screens/<deck>-<slide>.png`` and prints any problem the browser test would
report. Build the decks first (``make slides``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import browser_check  # noqa: E402
from build import BUILD, deck_paths, parse_deck  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("decks", nargs="*", help="only decks whose name contains one of these")
    parser.add_argument("--auto", action="store_true", help="one screenshot per deck, not every slide")
    parser.add_argument("--build", type=Path, default=BUILD, help="folder with the built decks")
    args = parser.parse_args(argv)
    reason = browser_check.missing_browser()
    if reason:
        print(f"screens: cannot run: {reason}")
        return 1
    from playwright.sync_api import sync_playwright

    out_dir = args.build / "screens"
    failures = 0
    with sync_playwright() as pw:
        browser = browser_check.launch(pw)
        for source in deck_paths(args.decks or None):
            deck = parse_deck(source)
            html = args.build / f"{deck.name}.html"
            if not html.exists():
                print(f"screens: {html} is missing; run make slides first")
                failures += 1
                continue
            report = browser_check.inspect_deck(browser, html, out_dir, "auto" if args.auto else "all")
            issues = browser_check.problems(report, len(deck.slides), deck.equations)
            failures += bool(issues)
            print(f"screens: {deck.name}: {report.total_slides} slides, {report.katex} equations, "
                  f"{report.images} figures -> {len(report.screenshots)} screenshots in {out_dir}")
            for line in issues:
                print("  PROBLEM " + line)
        browser.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
