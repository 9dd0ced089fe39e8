"""Open a built deck in headless Chromium with the network blocked, and report what a projector
would show: is reveal.js ready, how many slides, is every equation rendered with KaTeX's fonts,
does any content spill off a slide, did the page log an error or try to fetch anything.

Used by ``tests/test_slides.py`` and by ``slides/screens.py`` (screenshots to look at). Needs the
``playwright`` Python package (a dev dependency) and Debian's Chromium at ``/usr/bin/chromium``;
playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = os.environ.get("SLIDES_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 720}
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # belt and braces next to the request blocking below: nothing can resolve or connect
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
FONT_FAMILIES = ("KaTeX_Main", "KaTeX_Math", "Source Sans Pro")


def missing_browser() -> str | None:
    """Why the browser check cannot run here (one line), or None when it can."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[dev]')"
    return None


def missing_node() -> str | None:
    """Why the decks cannot be built here (one line), or None when they can."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} not found; the slide build needs node and npm (apt-get install nodejs npm)"
    return None


def launch(playwright):
    """Headless Debian Chromium with the flags this course's machines need."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)


@dataclass
class DeckReport:
    path: Path
    ready: bool = False
    total_slides: int = 0
    katex: int = 0
    katex_errors: int = 0
    raw_tex: list = field(default_factory=list)  # text that looks like TeX outside KaTeX
    fonts: dict = field(default_factory=dict)  # family -> list of FontFace statuses
    broken_images: int = 0
    images: int = 0
    notes: int = 0
    empty_equations: list = field(default_factory=list)  # (slide, index) of zero-size renders
    overflow: list = field(default_factory=list)  # (slide, what spills off)
    blocked_requests: list = field(default_factory=list)
    console_errors: list = field(default_factory=list)
    screenshots: list = field(default_factory=list)


_SUMMARY_JS = """
() => {
  const slides = document.querySelector('.reveal .slides');
  const skip = (node) => node.parentElement && node.parentElement.closest('.katex, pre, code, aside.notes');
  const walker = document.createTreeWalker(slides, NodeFilter.SHOW_TEXT);
  const raw = [];
  const tex = /\\$[^$\\s][^$]*\\$|\\\\(frac|alpha|beta|bar|sqrt|mathbb|mathcal|sum|prod|log|nabla|top|varepsilon|theta|mid)\\b/;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!skip(n) && tex.test(n.textContent)) raw.push(n.textContent.trim().slice(0, 80));
  }
  const imgs = [...slides.querySelectorAll('img')];
  return {
    total: Reveal.getTotalSlides(),
    katex: slides.querySelectorAll('.katex').length,
    katexErrors: slides.querySelectorAll('.katex-error').length,
    raw,
    images: imgs.length,
    brokenImages: imgs.filter((i) => !(i.complete && i.naturalWidth > 0)).length,
    notes: slides.querySelectorAll('aside.notes').length,
  };
}
"""

# On the current slide: every equation has a size, and nothing sticks out of the 1280x720 slide.
_SLIDE_JS = """
() => {
  const section = Reveal.getCurrentSlide();
  const box = document.querySelector('.reveal .slides').getBoundingClientRect();
  const empty = [...section.querySelectorAll('.katex-html')].filter((k) => !k.closest('aside.notes'))
    .map((k, i) => [i, k.getBoundingClientRect()])
    .filter(([, r]) => !(r.width > 0 && r.height > 0)).map(([i]) => i);
  const spill = [];
  for (const el of section.querySelectorAll('h1, h2, h3, p, li, pre, table, figure, img, blockquote, .columns, .katex-display, .katex')) {
    if (el.closest('aside.notes')) continue;
    const r = el.getBoundingClientRect();
    if (r.bottom > box.bottom + 2 || r.right > box.right + 2) {
      spill.push(el.tagName.toLowerCase() + ': ' + (el.textContent || el.alt || '').trim().slice(0, 60));
    }
  }
  for (const el of section.querySelectorAll('.katex-display, table, p, li, figure, blockquote, .column')) {
    if (el.closest('aside.notes')) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      spill.push(el.tagName.toLowerCase() + ' wider than its box: ' + (el.textContent || '').trim().slice(0, 40));
    }
  }
  for (const code of section.querySelectorAll('pre code')) {
    if (code.closest('aside.notes')) continue;
    if (code.scrollWidth > code.clientWidth + 1 || code.scrollHeight > code.clientHeight + 1) {
      spill.push('code scrolls (too wide or too long): ' + code.textContent.trim().slice(0, 40));
    }
  }
  return {empty, spill};
}
"""

_FONTS_JS = """
async (families) => {
  await document.fonts.ready;
  const out = {};
  for (const family of families) {
    const faces = await document.fonts.load(`20px "${family}"`);
    out[family] = faces.map((f) => f.status);
  }
  return out;
}
"""


def inspect_deck(browser, path: str | os.PathLike, screenshot_dir: str | os.PathLike | None = None,
                 screenshot_slides: str | list[int] = "auto", timeout_ms: int = 20_000) -> DeckReport:
    """Load one deck with every non-local request aborted; visit every slide; return a report.

    ``screenshot_slides``: ``"auto"`` (one slide: the first with a figure and an equation, else
    with a figure, else the title), ``"all"``, or a list of 0-based slide indices.
    """
    path = Path(path).resolve()
    report = DeckReport(path=path)
    context = browser.new_context(viewport=VIEWPORT, offline=True, service_workers="block")

    def gate(route):
        url = route.request.url
        if url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            report.blocked_requests.append(url)
            route.abort()

    context.route("**/*", gate)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and report.console_errors.append(m.text))
    page.on("pageerror", lambda e: report.console_errors.append(f"pageerror: {e}"))
    page.on("request", lambda r: None if r.url.startswith(LOCAL_SCHEMES) else report.blocked_requests.append(r.url))
    try:
        page.goto(path.as_uri(), wait_until="load", timeout=timeout_ms)
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=timeout_ms)
        report.ready = bool(page.evaluate("() => Reveal.isReady()"))
        summary = page.evaluate(_SUMMARY_JS)
        report.total_slides = summary["total"]
        report.katex = summary["katex"]
        report.katex_errors = summary["katexErrors"]
        report.raw_tex = summary["raw"]
        report.images, report.broken_images = summary["images"], summary["brokenImages"]
        report.notes = summary["notes"]
        has = page.evaluate("""() => [...document.querySelectorAll('.reveal .slides > section')].map(
            (s) => [s.querySelector('figure') !== null, s.querySelector('.katex') !== null])""")
        if screenshot_slides == "all":
            wanted = set(range(report.total_slides))
        elif screenshot_slides == "auto":
            pick = next((i for i, (f, k) in enumerate(has) if f and k), None)
            pick = pick if pick is not None else next((i for i, (f, _) in enumerate(has) if f), 0)
            wanted = {pick}
        else:
            wanted = set(screenshot_slides)
        for index in range(report.total_slides):
            page.evaluate(f"() => Reveal.slide({index})")
            page.wait_for_function(f"() => Reveal.getIndices().h === {index}")
            page.evaluate("async () => { await document.fonts.ready; return true; }")
            state = page.evaluate(_SLIDE_JS)
            report.empty_equations += [(index + 1, i) for i in state["empty"]]
            report.overflow += [(index + 1, s) for s in state["spill"]]
            if screenshot_dir is not None and index in wanted:
                out = Path(screenshot_dir) / f"{path.stem}-{index + 1:02d}.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
                report.screenshots.append(out)
        report.fonts = page.evaluate(_FONTS_JS, list(FONT_FAMILIES))
    finally:
        context.close()
    return report


def problems(report: DeckReport, expected_slides: int, expected_equations: int) -> list[str]:
    """Everything wrong with a deck, one line each (empty when the deck is fine)."""
    out = []
    name = report.path.name
    if not report.ready:
        out.append(f"{name}: Reveal.isReady() is false")
    if report.total_slides != expected_slides:
        out.append(f"{name}: {report.total_slides} slides in the browser, {expected_slides} in the source")
    if report.katex != expected_equations:
        out.append(f"{name}: {report.katex} rendered equations, {expected_equations} in the source")
    if report.katex_errors:
        out.append(f"{name}: {report.katex_errors} KaTeX errors")
    if report.raw_tex:
        out.append(f"{name}: unrendered TeX in the text: {report.raw_tex[:3]}")
    if report.empty_equations:
        out.append(f"{name}: equations with no size (slide, index): {report.empty_equations[:5]}")
    for family, statuses in report.fonts.items():
        if not statuses or any(s != "loaded" for s in statuses):
            out.append(f"{name}: font {family!r} not loaded: {statuses}")
    if report.broken_images:
        out.append(f"{name}: {report.broken_images} of {report.images} images did not load")
    if report.overflow:
        out.append(f"{name}: content spills off the slide (slide, element): {report.overflow[:5]}")
    if report.blocked_requests:
        out.append(f"{name}: tried to reach the network: {report.blocked_requests[:5]}")
    if report.console_errors:
        out.append(f"{name}: console errors: {report.console_errors[:5]}")
    return out


def speaker_view_notes(browser, path: str | os.PathLike, timeout_ms: int = 20_000) -> tuple[str, list, list]:
    """Open the deck, press the speaker-view button of reveal.js's notes plugin (key S) offline,
    and return ``(notes text shown, console errors, non-local requests)`` of the pop-up."""
    context = browser.new_context(viewport=VIEWPORT, offline=True, service_workers="block")
    errors, remote = [], []

    def gate(route):
        if route.request.url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.goto(Path(path).resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=timeout_ms)
        with context.expect_page(timeout=timeout_ms) as popup:
            page.keyboard.press("s")
        view = popup.value
        view.on("console", lambda m: m.type == "error" and errors.append(m.text))
        view.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        view.wait_for_function(
            "() => { const n = document.querySelector('.speaker-controls-notes');"
            " return n && n.innerText.trim().length > 'NOTES'.length; }",
            timeout=timeout_ms,
        )
        text = view.evaluate("() => document.querySelector('.speaker-controls-notes').innerText")
        return text, errors, remote
    finally:
        context.close()
