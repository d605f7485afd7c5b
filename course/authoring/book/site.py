"""Build the site with MkDocs, give JupyterLab's heading anchors a home, check the result.

Lessons and maps link to headings the way JupyterLab names them (the heading text with
``-`` for spaces, Chinese and punctuation kept); mkdocs-jupyter gives headings ASCII
slugs instead. After the build, every link whose anchor is a JupyterLab name is pointed
at the heading's real id (:func:`fix_anchors`), and :func:`broken_links` then checks
every relative link and anchor of every page. :func:`leaked_solution_lines` looks for
any line of the solutions and hidden tests in the site's text.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from course.config import ROOT
from course.errors import CourseError

__all__ = [
    "HIDDEN_TESTS",
    "HREF",
    "SOLUTION",
    "TEXT_SUFFIXES",
    "BookReport",
    "broken_links",
    "fix_anchors",
    "leaked_solution_lines",
    "mkdocs_config",
    "page_anchors",
    "run_mkdocs",
    "site_lines",
    "site_pages",
    "solution_lines",
]

SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TESTS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)(")')
TEXT_SUFFIXES = (".html", ".json", ".ipynb", ".js", ".md", ".txt", ".xml")


@dataclass
class BookReport:
    """A built book: the site folder, its lesson pages, and what is wrong with it."""

    site: Path
    pages: dict[str, Path] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)
    stopped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def mkdocs_config(docs: Path, site: Path, cache: Path, titles: dict[str, str],
                  site_name: str) -> dict:
    """The MkDocs configuration: Material theme, search, notebooks as pages.

    Nothing is loaded from the network (fonts off; no offline plugin, whose file://
    search shim comes from a CDN): pages open from ``file://``, search needs HTTP.
    """
    nav = [{"Home / 首页": "index.md"}]
    nav += [{title: f"{lesson}/{lesson}.ipynb"} for lesson, title in titles.items()]
    nav.append({"Glossary / 术语表": "glossary.md"})
    return {
        "site_name": site_name,
        "docs_dir": str(docs),
        "site_dir": str(site),
        "use_directory_urls": False,  # pages are .html files: the site works from file://
        "theme": {"name": "material", "font": False, "features": ["search.highlight"]},
        "plugins": [
            "search",
            {"mkdocs-jupyter": {"include": ["*.ipynb"], "execute": False, "toc_depth": 3,
                                "include_source": True, "cache_dir": str(cache)}},
        ],
        "markdown_extensions": ["tables", {"toc": {"permalink": True}}],
        "nav": nav,
    }


def run_mkdocs(config: dict, config_file: Path) -> None:
    """Write the configuration and run ``mkdocs build``; raise with its log when it fails."""
    import importlib.util

    import yaml

    if importlib.util.find_spec("mkdocs_jupyter") is None:
        raise CourseError("The book needs MkDocs and mkdocs-jupyter: install the course with "
                          "its dev extra (`make book` does), e.g. pip install -e '.[dev]'.")
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
                           encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--clean", "-f", str(config_file)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise CourseError(f"mkdocs build failed ({done.returncode}):\n{done.stderr[-3000:]}")


class _Page(HTMLParser):
    """Ids, heading texts and relative references (href/src) of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refs: list[str] = []
        self.headings: dict[str, str] = {}
        self._heading: tuple[str, list[str]] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value}
        if "id" in values:
            self.ids.add(values["id"])
        for name in ("href", "src"):
            if name in values and tag in ("a", "img", "script", "link"):
                self.refs.append(values[name])
        if re.fullmatch(r"h[1-6]", tag) and "id" in values:
            self._heading = (values["id"], [])
        elif self._heading and tag == "a" and \
                {"anchor-link", "headerlink"} & set(values.get("class", "").split()):
            self._skip += 1  # the pilcrow link a heading ends with is not part of its text

    def handle_endtag(self, tag: str) -> None:
        if self._skip and tag == "a":
            self._skip -= 1
        elif self._heading and re.fullmatch(r"h[1-6]", tag):
            anchor, parts = self._heading
            self.headings["".join(parts).strip()] = anchor
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading and not self._skip:
            self._heading[1].append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def site_pages(site: Path) -> list[Path]:
    """Every HTML page of the site (the theme's assets left out)."""
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.relative_to(site).parts)


def page_anchors(page: Path) -> dict[str, str]:
    """JupyterLab's anchor of each heading of a built page (text, ``-`` for spaces) -> its id."""
    return {text.replace(" ", "-"): anchor for text, anchor in _parse(page).headings.items()}


def _target(site: Path, page: Path, link: str) -> tuple[Path, str] | None:
    """The file and fragment a relative link of ``page`` points at (None for a URL)."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith(("/", "mailto:")):
        return None
    file = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
    return file, unquote(parts.fragment)


def _heading_id(anchors: dict[str, str], fragment: str) -> str | None:
    """The id of the heading a fragment means, or None.

    The fragment is a heading id, or JupyterLab's anchor of a heading (with or without
    Markdown's code and emphasis marks), or a slug cut short before inline code (the
    sidebar's table of contents of mkdocs-jupyter drops code from headings) that starts
    exactly one heading id.
    """
    ids = set(anchors.values())
    if fragment in ids:
        return fragment
    found = anchors.get(fragment) or anchors.get(re.sub(r"[`*]", "", fragment))
    if found:
        return found
    longer = [i for i in ids if i.startswith(f"{fragment}-")]
    return longer[0] if len(longer) == 1 else None


def _repoint(text: str, page: Path, site: Path, anchors: dict) -> tuple[str, int]:
    """``text`` with its links at JupyterLab anchors pointed at heading ids; (text, count)."""
    changed = 0

    def repoint(match: re.Match) -> str:
        nonlocal changed
        link = html.unescape(match[2])
        target = _target(site, page, link)
        if target is None or not target[1] or target[0] not in anchors:
            return match[0]
        new_id = _heading_id(anchors[target[0]], target[1])
        if new_id is None or new_id == target[1]:
            return match[0]
        changed += 1
        base = link.partition("#")[0]
        return f"{match[1]}{html.escape(base + '#' + new_id, quote=True)}{match[3]}"

    return HREF.sub(repoint, text), changed


def fix_anchors(site: Path) -> int:
    """Point every link at a JupyterLab heading anchor to the built heading's id.

    Returns:
        The number of links rewritten.
    """
    anchors = {page.resolve(): page_anchors(page) for page in site_pages(site)}
    total = 0
    for page in site_pages(site):
        text = page.read_text(encoding="utf-8")
        new_text, changed = _repoint(text, page, site, anchors)
        if changed:
            page.write_text(new_text, encoding="utf-8")
            total += changed
    return total


def broken_links(site: Path) -> list[str]:
    """Relative links and anchors of the site's pages that point at nothing."""
    parsed = {page.resolve(): _parse(page) for page in site_pages(site)}
    problems = []
    for page, info in parsed.items():
        for ref in info.refs:
            target = _target(site, page, ref)
            if target is None:
                continue
            file, fragment = target
            where = f"{page.relative_to(site.resolve())}: {ref}"
            if not file.exists():
                problems.append(f"{where}: no such file")
            elif fragment and file.suffix == ".html" and fragment not in \
                    (parsed.get(file) or _parse(file)).ids:
                problems.append(f"{where}: no element with id {fragment!r}")
    return problems


def _marked_blocks(source: str, markers: tuple[str, str]) -> list[str]:
    begin, end = (re.escape(m) for m in markers)
    return re.findall(rf"{begin}[^\n]*\n(.*?){end}", source, flags=re.S)


def _normal(text: str) -> str:
    return " ".join(text.split())


def solution_lines(root: Path = ROOT, min_chars: int = 12) -> dict[str, set[str]]:
    """Lines of every solution and hidden test, per lesson, that no release notebook has.

    Solutions are the text between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
    (the whole cell for a solution cell without them, such as a written answer), and
    hidden tests the text between their markers. Lines shorter than ``min_chars``
    (``pass``, ``return x``) and lines that also appear in a release or a mind map are
    left out: they say nothing a trainee does not see.
    """
    import nbformat

    released: set[str] = set()  # what trainees see anyway: the releases and the mind maps
    for path in (root / "notebooks").glob("*/*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            released.update(_normal(line) for line in cell.source.splitlines())
    for path in (root / "mindmaps").glob("*.md"):
        released.update(_normal(line) for line in path.read_text(encoding="utf-8").splitlines())
    found: dict[str, set[str]] = {}
    for path in sorted((root / "solutions").glob("*/*.ipynb")):
        blocks = []
        for cell in nbformat.read(path, as_version=4).cells:
            marked = _marked_blocks(cell.source, SOLUTION) + \
                _marked_blocks(cell.source, HIDDEN_TESTS)
            if not marked and cell.metadata.get("nbgrader", {}).get("solution"):
                marked = [cell.source]
            blocks += marked
        lines = {_normal(line) for block in blocks for line in block.splitlines()}
        found[path.parent.name] = {line for line in lines
                                   if len(line) >= min_chars and line not in released}
    return found


def _strings(value) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [s for item in value for s in _strings(item)] if isinstance(value, list) else []


def site_lines(site: Path) -> set[str]:
    """Every line of text of the site's own files (pages, search index, notebooks).

    Tags are removed and spaces normalised; highlighted code keeps one line per line.
    """
    lines: set[str] = set()
    for file in sorted(site.rglob("*")):
        if file.suffix not in TEXT_SUFFIXES or "assets" in file.relative_to(site).parts:
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        if file.suffix in (".json", ".ipynb"):
            text = "\n".join(_strings(json.loads(text)))
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
        lines.update(_normal(line) for line in text.splitlines())
    return lines


def leaked_solution_lines(site: Path, root: Path = ROOT) -> list[str]:
    """Solution and hidden-test lines (see :func:`solution_lines`) that are lines of the site."""
    text = site_lines(site)
    return sorted(f"{lesson}: {line}" for lesson, lines in solution_lines(root).items()
                  for line in lines if line in text)
