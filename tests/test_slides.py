"""The workshop decks: the source format, the build, and every deck in headless Chromium offline.

The browser test builds every deck (smoke budget), opens each HTML file from disk in Debian's
Chromium with every non-local request aborted, and checks that reveal.js is ready, that the slide
count and the number of rendered equations match the deck's source, that KaTeX's fonts loaded
from the page itself, that nothing spills off a slide and that the page logs no error. It takes a
screenshot of one slide per deck (``SLIDES_SCREENS_DIR=path`` keeps them).

Without Chromium or node the tests that need them are skipped with a one-line reason; with
``COURSE_REQUIRE_BROWSER=1`` (CI) a missing tool is a failure instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[1]
SLIDES = ROOT / "slides"

# The decks the course promises: one per module (notebooks 04 and 05 share a deck).
#: One deck per module: every notebook NN has a deck NN_…, except those taught with another deck.
TAUGHT_WITH = {"05": "04"}  # notebook 05 (guidance) is the second half of deck 04
NOTEBOOK_NUMBERS = {p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
EXPECTED_DECKS = {p.stem for p in (ROOT / "slides" / "decks").glob("[0-9][0-9]_*.md")}


def test_every_notebook_has_its_deck_and_every_deck_its_notebook():
    deck_numbers = {name[:2] for name in EXPECTED_DECKS}
    for number in NOTEBOOK_NUMBERS:
        assert TAUGHT_WITH.get(number, number) in deck_numbers, f"notebook {number} has no slide deck"
    assert deck_numbers <= NOTEBOOK_NUMBERS, f"decks without a notebook: {deck_numbers - NOTEBOOK_NUMBERS}"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build = _load("slides_build", SLIDES / "build.py")
browser_check = _load("slides_browser_check", SLIDES / "browser_check.py")


def _skip_or_fail(reason: str):
    if os.environ.get("COURSE_REQUIRE_BROWSER", "").strip() not in ("", "0"):
        pytest.fail(f"COURSE_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


# ----------------------------------------------------------------------------- source format

SAMPLE = r"""---
title: A sample deck
---

# Title slide

Note:
Notes with math $\beta_t$.

---

## Two columns

Inline $\bar\alpha_t$ and a price in code: `cost = $5 and $6`.
||
$$
x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon
$$

```python
# a separator inside code is not a new slide, and $x$ here is not math
---
```

Note: one note

---

## A figure

```figure height=300 alt="digits"
course_lib.viz.show_images(course_lib.data.load_mnist(quiet=True).images[:8], nrow=4)
```
"""


def test_parser_counts_slides_equations_figures_columns_and_notes(tmp_path):
    path = tmp_path / "99_sample.md"
    path.write_text(SAMPLE, encoding="utf-8")
    deck = build.parse_deck(path)
    assert deck.title == "A sample deck"
    assert len(deck.slides) == 3  # the '---' inside the code block did not split a slide
    title, columns, figure = deck.slides
    assert [len(s.columns) for s in deck.slides] == [1, 2, 1]
    assert title.notes is not None and title.notes.math == [{"tex": r"\beta_t", "display": False}]
    assert [m["display"] for m in columns.columns[0].math] == [False]
    assert columns.columns[1].math[0]["display"] is True
    assert columns.columns[1].math[0]["tex"].startswith(r"x_t = \sqrt{\bar\alpha_t}")
    assert "`cost = $5 and $6`" in columns.columns[0].markdown  # code spans keep their dollars
    assert "$x$ here" in columns.columns[1].markdown
    assert columns.notes.markdown.strip() == "one note"
    assert figure.notes is None
    assert deck.equations == 3 and deck.figures == 1
    (fig,) = figure.columns[0].figures
    assert fig.options == {"height": "300", "alt": "digits"}
    assert build.figure_callee(fig.expr) == "course_lib.viz.show_images"


def test_parser_rejects_unclosed_fences_and_three_columns(tmp_path):
    bad = tmp_path / "98_bad.md"
    bad.write_text("# A\n\n```python\nx = 1\n", encoding="utf-8")
    with pytest.raises(build.DeckError, match="never closed"):
        build.parse_deck(bad)
    bad.write_text("# A\n||\nb\n||\nc\n", encoding="utf-8")
    with pytest.raises(build.DeckError, match="at most two columns"):
        build.parse_deck(bad)


@pytest.mark.parametrize(
    "expr, message",
    [
        ('__import__("os").system("true")', "only names under course_lib"),
        ("open('/etc/passwd')", "only names under course_lib"),
        ("course_lib.data.__builtins__", "private attributes"),
        ("course_lib.data.np.zeros(3)", "only functions defined in course_lib"),
        ("course_lib.viz.show_images(*[1])", "not allowed"),
        ("course_lib.nothing_here.plot_x()", "does not exist"),
        ("[x for x in course_lib.data.IMAGES]", "ListComp is not allowed"),
    ],
)
def test_figure_calls_may_only_use_course_lib(expr, message):
    import ast

    with pytest.raises(build.DeckError, match=message):
        build._Evaluator("test")(ast.parse(expr, mode="eval"))


def test_figure_must_be_a_matplotlib_figure():
    fig = build.Figure('course_lib.data.ring_centers(4)', {}, 1)
    with pytest.raises(build.DeckError, match="not a Figure"):
        build.render_figure(fig, "test")


def test_figure_renders_to_png():
    fig = build.Figure("course_lib.welcome.plot_toy_datasets(n=50)", {"dpi": "40"}, 1)
    png = build.render_figure(fig, "test")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_inline_css_inlines_fonts_and_refuses_remote_urls(tmp_path):
    (tmp_path / "f.woff2").write_bytes(b"wOF2fake")
    (tmp_path / "f.ttf").write_bytes(b"ttf")
    (tmp_path / "inner.css").write_text(
        "@font-face{font-family:X;src:url(f.ttf) format('truetype'),url(f.woff2) format('woff2')}"
    )
    (tmp_path / "outer.css").write_text("@import url(./inner.css);\nbody{color:red}")
    css = build.inline_css(tmp_path / "outer.css")
    assert "data:font/woff2;base64," in css and "f.ttf" not in css and "@import" not in css
    (tmp_path / "remote.css").write_text("@import url(https://fonts.googleapis.com/css?family=Lato);")
    with pytest.raises(ValueError, match="network"):
        build.inline_css(tmp_path / "remote.css")
    (tmp_path / "bg.css").write_text("body{background:url(https://example.com/bg.png)}")
    with pytest.raises(ValueError, match="refers to"):
        build.inline_css(tmp_path / "bg.css")


def test_one_deck_per_module_and_notes_on_every_slide():
    decks = {p.stem: build.parse_deck(p) for p in build.deck_paths()}
    assert set(decks) == EXPECTED_DECKS
    for name, deck in decks.items():
        assert deck.meta.get("title"), f"{name} has no title in its front matter"
        assert len(deck.slides) >= 6, f"{name} is too short to teach a module"
        assert deck.equations > 0, f"{name} shows no equation"
        for k, slide in enumerate(deck.slides, start=1):
            assert slide.notes is not None and slide.notes.markdown.strip(), (
                f"{name} slide {k} (line {slide.line}) has no speaker notes"
            )


def test_every_figure_calls_an_existing_course_lib_function():
    import ast

    for path in build.deck_paths():
        deck = build.parse_deck(path)
        for slide in deck.slides:
            for part in slide.parts:
                for fig in part.figures:
                    tree = ast.parse(fig.expr, mode="eval").body
                    assert isinstance(tree, ast.Call), f"{path.name}:{fig.line}: a figure is a call"
                    fn = build._Evaluator(f"{path.name}:{fig.line}")(tree.func)
                    assert callable(fn)


# ----------------------------------------------------------------------------- build + browser


@pytest.fixture(scope="module")
def built_decks(tmp_path_factory):
    reason = browser_check.missing_node()
    if reason:
        _skip_or_fail(reason)
    out = tmp_path_factory.mktemp("slides")
    env = {"MPLBACKEND": "Agg", "COURSE_BUDGET": os.environ.get("COURSE_BUDGET") or "smoke"}
    with mock.patch.dict(os.environ, env):
        manifest = build.build(out_dir=out, quiet=True)
    return out, manifest


def test_build_writes_self_contained_html(built_decks):
    out, manifest = built_decks
    assert set(manifest["decks"]) == EXPECTED_DECKS
    for name, info in manifest["decks"].items():
        page = (out / info["file"]).read_text(encoding="utf-8")
        # nothing is loaded from outside the file: no <link>, no <script src>, no remote url()
        assert "<link" not in page, name
        assert not re.search(r"<script[^>]*\bsrc=", page), name
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.split("<script>")[0]), name
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", page), name
        assert page.count("<section id=\"slide-") == info["slides"]
        assert page.count('<aside class="notes">') == info["slides"]
        assert page.count("data:image/png;base64,") == info["figures"]
        assert page.count('class="figure-placeholder"') == len(info["placeholders"])


@pytest.fixture(scope="module")
def browser():
    reason = browser_check.missing_browser()
    if reason:
        _skip_or_fail(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = browser_check.launch(pw)
        yield chromium
        chromium.close()


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(EXPECTED_DECKS))
def test_deck_in_headless_chromium_offline(name, browser, built_decks, tmp_path):
    out, manifest = built_decks
    deck = build.parse_deck(build.DECKS / f"{name}.md")
    screens = Path(os.environ.get("SLIDES_SCREENS_DIR") or tmp_path)
    report = browser_check.inspect_deck(browser, out / f"{name}.html", screens, "auto")
    assert browser_check.problems(report, len(deck.slides), deck.equations) == []
    # the checks above are not vacuous: the deck has slides, equations and notes
    assert report.ready and report.total_slides == len(deck.slides) > 0
    assert report.katex == deck.equations > 0
    assert report.notes == len(deck.slides)
    info = manifest["decks"][name]
    assert report.images == info["figures"]  # every figure built is shown...
    assert info["figures"] + len(info["placeholders"]) == deck.figures  # ...or has a placeholder
    assert not report.blocked_requests and not report.console_errors
    (shot,) = report.screenshots
    assert shot.stat().st_size > 10_000  # a real picture, not a blank page
    if os.environ.get("SLIDES_SCREENS_DIR"):
        shutil.copy(out / f"{name}.html", screens / f"{name}.html")


@pytest.mark.browser
def test_speaker_view_shows_the_notes_offline(browser, built_decks):
    out, _ = built_decks
    deck = build.parse_deck(build.DECKS / "00_welcome.md")
    text, errors, remote = browser_check.speaker_view_notes(browser, out / "00_welcome.html")
    first_words = " ".join(deck.slides[0].notes.markdown.split()[:6])
    assert first_words in " ".join(text.split())
    assert errors == [] and remote == []


def test_browser_check_notices_a_broken_deck(browser, built_decks, tmp_path):
    """The browser check can fail: raw TeX, a remote script, a console error and a missing slide."""
    page = tmp_path / "broken.html"
    reveal = build.inline_js(build.NODE_MODULES / "reveal.js/dist/reveal.js")
    page.write_text(
        "<!doctype html><html><body><div class='reveal'><div class='slides'>"
        "<section><h2>One</h2><p>Unrendered $\\bar\\alpha_t$ here</p>"
        f"<p style='white-space:nowrap'>{'far too wide ' * 40}</p></section>"
        "</div></div><script src='https://cdn.example.com/x.js'></script>"
        f"<script>{reveal}</script><script>console.error('boom'); Reveal.initialize();</script>"
        "</body></html>",
        encoding="utf-8",
    )
    report = browser_check.inspect_deck(browser, page, None)
    found = "\n".join(browser_check.problems(report, expected_slides=2, expected_equations=1))
    assert "1 slides in the browser, 2 in the source" in found
    assert "0 rendered equations, 1 in the source" in found
    assert "unrendered TeX" in found
    assert "cdn.example.com" in found
    assert "boom" in found
    assert "KaTeX_Main" in found  # no KaTeX font on this page
    assert "p wider than its box: far too wide" in found
