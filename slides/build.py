"""Build the workshop decks: one self-contained reveal.js HTML file per deck, for rooms without Wi-Fi.

    python slides/build.py                  # every deck in slides/decks/ -> slides/_build/
    python slides/build.py --out DIR 03     # only decks whose name contains "03", into DIR

A deck source (``slides/decks/NN_name.md``) is Markdown:

* an optional front matter block (``---`` / ``key: value`` lines / ``---``) with ``title``,
* slides separated by a line ``---``; a line ``Note:`` starts the slide's speaker notes,
* a line ``||`` splits a slide into two columns,
* math in the course notation between ``$...$`` (inline) or ``$$...$$`` (display), TeX syntax,
* a figure is a fenced block whose info string starts with ``figure`` and whose body is a call of a
  ``course_lib`` function, e.g.::

      ```figure height=420 alt="Real MNIST digits"
      course_lib.viz.show_images(course_lib.data.load_mnist(split="test", source="shipped",
                                 limit=32, quiet=True).images, nrow=8)
      ```

  The call is evaluated at build time (only names under ``course_lib``, literals, attribute
  access and slicing are allowed), must return a matplotlib ``Figure``, and the picture is embedded
  as a PNG data URI. So the slides show the very figures the notebooks show: there is no second
  copy of any plot. Figures follow ``COURSE_BUDGET`` like the notebooks (``smoke`` in tests).

Everything the page needs is inlined from ``slides/node_modules`` (installed with ``npm ci`` from
the committed ``package-lock.json`` when missing): reveal.js and its speaker-notes plugin, the
theme with its fonts, KaTeX's CSS with its fonts. Equations are rendered to HTML here by KaTeX
(``render.mjs``, run with node), code is highlighted by highlight.js, so the page runs no math or
Markdown code and makes no request at all. ``manifest.json`` next to the decks lists what each
deck holds (slides, equations, figures) and how long it took.
"""

from __future__ import annotations

import argparse
import ast
import base64
import html
import importlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SLIDES = Path(__file__).resolve().parent
REPO = SLIDES.parent
DECKS = SLIDES / "decks"
BUILD = SLIDES / "_build"
NODE_MODULES = SLIDES / "node_modules"
FIGURE_DPI = 110

sys.path.insert(0, str(REPO))


class DeckError(ValueError):
    """A deck source that cannot be built; the message names the file and line."""


# ----------------------------------------------------------------------------- parsing

FENCE = re.compile(r"^(```+|~~~+)(.*)$")


@dataclass
class Figure:
    expr: str
    options: dict
    line: int


@dataclass
class Part:
    """One piece of Markdown with its equations and figures cut out and replaced by placeholders."""

    markdown: str
    math: list = field(default_factory=list)  # [{"tex": ..., "display": bool}]
    figures: list = field(default_factory=list)  # [Figure]


@dataclass
class Slide:
    columns: list  # [Part], one or two
    notes: Part | None
    line: int

    @property
    def equations(self) -> int:
        return sum(len(p.math) for p in self.parts)

    @property
    def parts(self) -> list:
        return self.columns + ([self.notes] if self.notes else [])


@dataclass
class Deck:
    name: str
    path: Path
    meta: dict
    slides: list

    @property
    def title(self) -> str:
        return self.meta.get("title") or self.name

    @property
    def equations(self) -> int:
        return sum(s.equations for s in self.slides)

    @property
    def figures(self) -> int:
        return sum(len(p.figures) for s in self.slides for p in s.parts)


def _split_outside_fences(lines: list[tuple[int, str]], is_separator) -> list[list[tuple[int, str]]]:
    """Split numbered lines at separator lines that are not inside a fenced code block."""
    chunks, current, fence = [], [], None
    for number, line in lines:
        m = FENCE.match(line.strip())
        if m and (fence is None or m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)):
            if fence is None:
                fence = m.group(1)
            elif not m.group(2).strip():
                fence = None
        if fence is None and is_separator(line):
            chunks.append(current)
            current = []
        else:
            current.append((number, line))
    if fence is not None:
        raise DeckError(f"line {lines[-1][0] if lines else 0}: a fenced block is never closed")
    chunks.append(current)
    return chunks


# inline code spans and fenced blocks are left alone; math is looked for everywhere else
CODE = re.compile(r"(^(```+|~~~+)[^\n]*\n.*?^\2[ \t]*$)|(`+)(?:.+?)\3", re.S | re.M)
DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE_MATH = re.compile(r"(?<![\\$\w])\$(?![\s$])([^$\n]+?)(?<![\s\\])\$(?![\w$])")


def _cut_math(text: str, math: list) -> str:
    def display(m):
        math.append({"tex": m.group(1).strip(), "display": True})
        return f"\n\nKATEXMATH{len(math) - 1}Z\n\n"

    def inline(m):
        math.append({"tex": m.group(1), "display": False})
        return f"KATEXMATH{len(math) - 1}Z"

    text = DISPLAY_MATH.sub(display, text)
    text = INLINE_MATH.sub(inline, text)
    return text


def _make_part(lines: list[tuple[int, str]], where: str) -> Part:
    """Cut figures (fenced ``figure`` blocks) and math out of Markdown lines."""
    part = Part(markdown="")
    out, i = [], 0
    while i < len(lines):
        number, line = lines[i]
        m = FENCE.match(line.strip())
        if m and m.group(2).strip().split(" ")[0] == "figure":
            fence, info = m.group(1), m.group(2).strip()[len("figure"):]
            body, i = [], i + 1
            while i < len(lines) and lines[i][1].strip() != fence:
                body.append(lines[i][1])
                i += 1
            try:
                options = dict(item.split("=", 1) for item in shlex.split(info))
            except ValueError as exc:
                raise DeckError(f"{where}:{number}: figure options must be key=value ({exc})") from exc
            part.figures.append(Figure("\n".join(body).strip(), options, number))
            out.append(f"\nFIGUREBLOCK{len(part.figures) - 1}Z\n")
        else:
            out.append(line)
        i += 1
    text = "\n".join(out)
    pieces, last = [], 0
    for m in CODE.finditer(text):
        pieces.append(_cut_math(text[last : m.start()], part.math))
        pieces.append(m.group(0))
        last = m.end()
    pieces.append(_cut_math(text[last:], part.math))
    part.markdown = "".join(pieces).strip() + "\n"
    for k, eq in enumerate(part.math):
        if not eq["tex"].strip():
            raise DeckError(f"{where}: equation {k} is empty")
    return part


def parse_deck(path: str | os.PathLike) -> Deck:
    """Read a deck source into slides (columns, speaker notes, equations, figures)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    lines = list(enumerate(text.splitlines(), start=1))
    meta = {}
    if lines and lines[0][1].strip() == "---":
        end = next((k for k in range(1, len(lines)) if lines[k][1].strip() == "---"), None)
        if end is None:
            raise DeckError(f"{path}: the front matter (opened by --- on line 1) is never closed")
        for number, line in lines[1:end]:
            if line.strip():
                if ":" not in line:
                    raise DeckError(f"{path}:{number}: front matter lines are 'key: value'")
                key, value = line.split(":", 1)
                meta[key.strip()] = value.strip()
        lines = lines[end + 1 :]
    slides = []
    for chunk in _split_outside_fences(lines, lambda s: s.strip() == "---"):
        if not any(line.strip() for _, line in chunk):
            continue
        first = next(n for n, line in chunk if line.strip())
        where = f"{path.name}:{first}"
        body, notes = chunk, None
        for k, (_, line) in enumerate(chunk):
            if re.match(r"^Notes?:", line):
                body = chunk[:k]
                notes_lines = [(chunk[k][0], re.sub(r"^Notes?:\s*", "", line))] + chunk[k + 1 :]
                notes = _make_part(notes_lines, where)
                break
        columns = [_make_part(c, where) for c in _split_outside_fences(body, lambda s: s.strip() == "||")]
        if len(columns) > 2:
            raise DeckError(f"{where}: a slide has at most two columns (one '||' line)")
        slides.append(Slide(columns, notes, first))
    if not slides:
        raise DeckError(f"{path}: no slides")
    return Deck(path.stem, path, meta, slides)


def deck_paths(selection: list[str] | None = None) -> list[Path]:
    paths = sorted(DECKS.glob("[0-9][0-9]_*.md"))
    if selection:
        paths = [p for p in paths if any(s in p.stem for s in selection)]
        if not paths:
            raise SystemExit(f"no deck in {DECKS} matches {selection}")
    return paths


# ----------------------------------------------------------------------------- figures


#: Loaders whose result depends only on their arguments; figures may share them within a build.
CACHED_CALLS = {
    "course_lib.data.load_mnist",
    "course_lib.data.load_image",
    "course_lib.data.load_image_file",
    "course_lib.style.features.vgg19_extractor",
    "course_lib.registry.load_pretrained",
    "course_lib.diffusion.samplers.sample",  # decks always pass a seed: the same call, the same images
}


class _Evaluator:
    """Evaluate a figure call: course_lib names, literals, calls, attributes and slices only.

    Calls of the deterministic loaders in :data:`CACHED_CALLS` (data, frozen networks, shipped
    models) are kept in ``cache``, keyed by their source, and shared between the figures of one
    build; every other call runs each time (so random draws stay independent).
    """

    def __init__(self, where: str, cache: dict | None = None):
        self.where = where
        self.cache = {} if cache is None else cache
        self.top = None

    def fail(self, node, why: str):
        raise DeckError(f"{self.where}: {why} (in {ast.unparse(node)!r})")

    def __call__(self, node):
        if isinstance(node, ast.Expression):
            self.top = node.body
            return self(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            values = [self(e) for e in node.elts]
            return values if isinstance(node, ast.List) else tuple(values)
        if isinstance(node, ast.Dict):
            return {self(k): self(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Name):
            if node.id != "course_lib":
                self.fail(node, f"only names under course_lib may be used, not {node.id!r}")
            return importlib.import_module("course_lib")
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                self.fail(node, "private attributes are not allowed")
            owner = self(node.value)
            if hasattr(owner, node.attr):
                return getattr(owner, node.attr)
            if type(owner).__name__ == "module":
                try:
                    return importlib.import_module(f"{owner.__name__}.{node.attr}")
                except ModuleNotFoundError:
                    pass
            self.fail(node, f"{node.attr!r} does not exist (yet?)")
        if isinstance(node, ast.Subscript):
            return self(node.value)[self(node.slice)]
        if isinstance(node, ast.Slice):
            return slice(*(self(x) if x is not None else None for x in (node.lower, node.upper, node.step)))
        if isinstance(node, ast.Call):
            fn = self(node.func)
            module = getattr(fn, "__module__", "") or ""
            if not (module == "course_lib" or module.startswith("course_lib.")):
                self.fail(node, "only functions defined in course_lib may be called")
            args = [self(a) for a in node.args]
            kwargs = {k.arg: self(k.value) for k in node.keywords if k.arg is not None}
            if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
                self.fail(node, "*args and **kwargs are not allowed")
            name = f"{module}.{getattr(fn, '__qualname__', '')}"
            if node is self.top or name not in CACHED_CALLS:
                return fn(*args, **kwargs)
            key = ast.dump(node)
            if key not in self.cache:
                self.cache[key] = fn(*args, **kwargs)
            return self.cache[key]
        self.fail(node, f"{type(node).__name__} is not allowed in a figure call")


def figure_callee(expr: str) -> str:
    """The dotted name of the outermost call, e.g. ``course_lib.viz.show_images``."""
    tree = ast.parse(expr, mode="eval").body
    return ast.unparse(tree.func) if isinstance(tree, ast.Call) else ast.unparse(tree)


def render_figure(figure: Figure, where: str, cache: dict | None = None) -> bytes:
    """Evaluate a figure call (seeded with 0, as a notebook's top) and return the PNG bytes."""
    from matplotlib.figure import Figure as MplFigure

    from course_lib.device import seed_everything

    try:
        tree = ast.parse(figure.expr, mode="eval")
    except SyntaxError as exc:
        raise DeckError(f"{where}: the figure call is not valid Python: {exc.msg}") from exc
    seed_everything(0)
    fig = _Evaluator(where, cache)(tree)
    if not isinstance(fig, MplFigure):
        raise DeckError(f"{where}: {figure_callee(figure.expr)} returned {type(fig).__name__}, not a Figure")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=int(figure.options.get("dpi", FIGURE_DPI)), facecolor="white",
                bbox_inches="tight", pad_inches=0.05)
    return buf.getvalue()


def missing_checkpoints(figure: Figure) -> list[str]:
    """The shipped checkpoints a figure ``needs=`` (comma-separated) that the course does not ship."""
    from course_lib.checkpoints import SHIPPED_DIR, shipped_checkpoints

    needs = [n.strip() for n in figure.options.get("needs", "").split(",") if n.strip()]
    shipped = shipped_checkpoints()
    return [n for n in needs if n not in shipped or not (SHIPPED_DIR / shipped[n]["file"]).is_file()]


def placeholder_html(figure: Figure, missing: list[str]) -> str:
    names = ", ".join(f"<code>{html.escape(n)}</code>" for n in missing)
    return (
        f'<div class="figure-placeholder" style="min-height:{min(int(figure.options.get("height", 440)), 260)}px">'
        f"<p><strong>Figure not built</strong>: it needs the shipped checkpoint {names}, which is "
        f"not in <code>course_lib/checkpoints/</code> yet. Show it live from the notebook, or ship "
        f"the checkpoint and run <code>make slides</code> again.</p>"
        f"<p><code>{html.escape(figure_callee(figure.expr))}</code></p></div>"
    )


def figure_html(figure: Figure, png: bytes) -> str:
    height = int(figure.options.get("height", 440))
    alt = figure.options.get("alt") or figure_callee(figure.expr)
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    source = html.escape(figure_callee(figure.expr))
    return (
        f'<figure class="course-figure"><img src="{src}" alt="{html.escape(alt, quote=True)}" '
        f'style="height:{height}px"><figcaption><code>{source}</code></figcaption></figure>'
    )


# ----------------------------------------------------------------------------- assets

def ensure_node_modules() -> None:
    """``npm ci`` from the committed lock file when slides/node_modules is missing or stale."""
    marker = NODE_MODULES / ".package-lock.json"
    lock = SLIDES / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to install reveal.js and KaTeX for the slides (apt-get install npm)")
    print("slides: installing reveal.js, KaTeX, marked and highlight.js with npm ci ...", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SLIDES, check=True)


FONT_FORMATS = {".woff2": ("woff2", "font/woff2"), ".woff": ("woff", "font/woff"), ".ttf": ("truetype", "font/ttf")}
URL = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)")


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def inline_css(path: Path) -> str:
    """A CSS file with its @imports and fonts inlined (one font format each, the smallest modern
    one); raises if anything would still be fetched from elsewhere."""
    css = path.read_text(encoding="utf-8")

    def font_face(m):
        block = m.group(0)
        urls = [u for _, u in URL.findall(block)]
        best = None
        for ext in FONT_FORMATS:
            best = next((u for u in urls if u.split("?")[0].endswith(ext)), None)
            if best:
                break
        if best is None:
            raise ValueError(f"{path}: no woff2/woff/ttf font in {block[:120]!r}")
        fmt, mime = FONT_FORMATS[Path(best.split("?")[0]).suffix]
        src = f"src: url({_data_uri((path.parent / best.split('?')[0]).resolve(), mime)}) format(\"{fmt}\");"
        block = re.sub(r"src\s*:[^;}]*;?", "", block)
        return block.replace("{", "{ " + src, 1)

    css = re.sub(r"@font-face\s*{[^}]*}", font_face, css)

    def import_(m):  # after the fonts: an imported file comes back already inlined
        if re.match(r"^([a-z]+:)?//", m.group(2)):
            raise ValueError(f"{path}: @import of {m.group(2)!r} would need the network")
        return inline_css((path.parent / m.group(2)).resolve())

    css = re.sub(r"@import\s+url\(\s*(['\"]?)([^'\")]+)\1\s*\)\s*;", import_, css)
    for _, url in URL.findall(css):
        if not url.startswith("data:"):
            raise ValueError(f"{path}: CSS still refers to {url!r}; the deck would need it at runtime")
    return css


def inline_js(path: Path) -> str:
    js = path.read_text(encoding="utf-8")
    js = re.sub(r"//# sourceMappingURL=\S+", "", js)
    return js.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def load_assets() -> dict:
    nm = NODE_MODULES
    return {
        "css": "\n".join([
            inline_css(nm / "reveal.js/dist/reset.css"),
            inline_css(nm / "reveal.js/dist/reveal.css"),
            inline_css(nm / "reveal.js/dist/theme/white.css"),
            inline_css(nm / "katex/dist/katex.min.css"),
            inline_css(nm / "highlight.js/styles/github.min.css"),
            (SLIDES / "course.css").read_text(encoding="utf-8"),
        ]),
        "js": "\n".join([
            inline_js(nm / "reveal.js/dist/reveal.js"),
            inline_js(nm / "reveal.js/plugin/notes/notes.js"),
        ]),
    }


def render_markdown(parts: list[Part]) -> list[str]:
    """Markdown + math -> HTML for every part, in one node call (render.mjs)."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is needed to render the slides' Markdown and math (apt-get install nodejs)")
    payload = json.dumps({"items": [{"markdown": p.markdown, "math": p.math} for p in parts]})
    proc = subprocess.run([node, str(SLIDES / "render.mjs")], input=payload.encode("utf-8"),
                          capture_output=True, cwd=SLIDES)
    if proc.returncode != 0:
        raise DeckError("rendering Markdown/math failed:\n" + proc.stderr.decode("utf-8", "replace"))
    return json.loads(proc.stdout)["html"]


# ----------------------------------------------------------------------------- pages

REVEAL_CONFIG = {
    "hash": True,
    "slideNumber": "c/t",
    "width": 1280,
    "height": 720,
    "margin": 0.04,
    "center": False,
    "transition": "none",
    "backgroundTransition": "none",
    "pdfSeparateFragments": False,
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="generator" content="Noise to Art slides/build.py">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<div class="reveal"><div class="slides">
{sections}
</div></div>
<script>
{js}
</script>
<script>
Reveal.initialize(Object.assign({config}, {{ plugins: [RevealNotes] }}));
</script>
</body>
</html>
"""


def build_deck(deck: Deck, assets: dict, out_dir: Path, cache: dict | None = None) -> dict:
    """Write one deck's HTML; return what it holds."""
    started = time.perf_counter()
    parts = [p for s in deck.slides for p in s.parts]
    figure_seconds = 0.0
    placeholders = []
    figure_html_by_part = []
    for slide in deck.slides:
        for part in slide.parts:
            rendered = []
            for fig in part.figures:
                missing = missing_checkpoints(fig)
                if missing:
                    print(f"slides: {deck.path.name}:{fig.line}: figure not built, missing shipped "
                          f"checkpoint(s) {', '.join(missing)} (a placeholder says so on the slide)",
                          flush=True)
                    placeholders.append({"line": fig.line, "call": figure_callee(fig.expr), "missing": missing})
                    rendered.append(placeholder_html(fig, missing))
                    continue
                t0 = time.perf_counter()
                rendered.append(figure_html(fig, render_figure(fig, f"{deck.path.name}:{fig.line}", cache)))
                figure_seconds += time.perf_counter() - t0
            figure_html_by_part.append(rendered)
    html_parts = render_markdown(parts)
    for k, figs in enumerate(figure_html_by_part):
        for j, fig in enumerate(figs):
            token = f"FIGUREBLOCK{j}Z"
            before = html_parts[k]
            html_parts[k] = before.replace(f"<p>{token}</p>", fig)
            if html_parts[k] == before:
                raise DeckError(f"{deck.path.name}: figure {j} lost by the Markdown renderer")
    sections, k = [], 0
    for number, slide in enumerate(deck.slides, start=1):
        columns = html_parts[k : k + len(slide.columns)]
        k += len(slide.columns)
        body = columns[0] if len(columns) == 1 else (
            '<div class="columns">' + "".join(f'<div class="column">{c}</div>' for c in columns) + "</div>"
        )
        notes = ""
        if slide.notes:
            notes = f'<aside class="notes">{html_parts[k]}</aside>'
            k += 1
        cls = ' class="title-slide"' if number == 1 else ""
        sections.append(f'<section id="slide-{number}" data-source-line="{slide.line}"{cls}>\n{body}{notes}\n</section>')
    page = PAGE.format(
        title=html.escape(deck.title),
        css=assets["css"],
        sections="\n".join(sections),
        js=assets["js"],
        config=json.dumps(REVEAL_CONFIG),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{deck.name}.html"
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)
    return {
        "file": target.name,
        "title": deck.title,
        "slides": len(deck.slides),
        "equations": deck.equations,
        "figures": deck.figures - len(placeholders),
        "placeholders": placeholders,
        "bytes": target.stat().st_size,
        "figure_seconds": round(figure_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


def build(selection: list[str] | None = None, out_dir: Path = BUILD, quiet: bool = False) -> dict:
    """Build the selected decks (all by default) into ``out_dir``; return the manifest."""
    import matplotlib

    matplotlib.use("Agg")
    from course_lib.budget import get_budget

    ensure_node_modules()
    started = time.perf_counter()
    assets = load_assets()
    decks = [parse_deck(p) for p in deck_paths(selection)]
    manifest = {"budget": get_budget(), "decks": {}}
    cache = {}  # data and frozen networks that several figures use
    for deck in decks:
        info = build_deck(deck, assets, Path(out_dir), cache)
        manifest["decks"][deck.name] = info
        if not quiet:
            waiting = f" ({len(info['placeholders'])} waiting for checkpoints)" if info["placeholders"] else ""
            print(f"slides: {info['file']}: {info['slides']} slides, {info['equations']} equations, "
                  f"{info['figures']} figures{waiting}, {info['bytes'] / 1e6:.1f} MB in "
                  f"{info['seconds']:.1f} s", flush=True)
    manifest["seconds"] = round(time.perf_counter() - started, 2)
    Path(out_dir, "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if not quiet:
        print(f"slides: {len(decks)} decks in {manifest['seconds']:.1f} s -> {out_dir}")
    return manifest


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("decks", nargs="*", help="build only decks whose name contains one of these")
    parser.add_argument("--out", type=Path, default=BUILD, help=f"output folder (default {BUILD})")
    args = parser.parse_args(argv)
    try:
        build(args.decks or None, args.out)
    except DeckError as exc:
        raise SystemExit(f"slides: {exc}") from None


if __name__ == "__main__":
    main()
