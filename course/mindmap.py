"""Mind maps: parse the course outlines, draw them, explore them, export them.

Every lesson opens with its map. The text source of truth lives in ``mindmaps/``
(one ``NN-lesson.md`` per lesson, plus ``course.md``), in the markmap style of
Markdown::

    # Tokenization / 分词 — from text to ids
    ## [WordPiece / 词片](../notebooks/02-tokenization/02-tokenization.ipynb#2.-WordPiece) — subwords
    ### Greedy longest match / 贪心最长匹配
    - Continuation "##" / 续接符 "##"
      - Vocabulary / 词表

The rules:

* The first content line is the root: one ``#`` heading. There is exactly one.
* ``##`` .. ``######`` headings are levels 1-5. A heading may go at most one
  level deeper than the heading before it.
* ``-`` (or ``*``) bullets nest under the last heading, two spaces per level;
  a bullet may go at most one level deeper than the line before it.
* A node line is ``LABEL`` or ``[LABEL](LINK)``, optionally followed by
  `` — NOTE`` (space, em dash, space, then a one-line note).
* Labels are bilingual, ``English / 中文``: see :func:`split_label`.
* Blank lines and one-line HTML comments (``<!-- ... -->``) are ignored.
* Links are written relative to the ``mindmaps/`` folder; the explorer
  rewrites them relative to the notebook that shows the map.

Load a map with ``load("02-tokenization")`` (or a path). A map draws itself
with ``render()`` (matplotlib; CJK when a CJK font is installed, else the
English half of every label), ``to_mermaid()``, ``explore()`` (ipywidgets),
and exports with ``export("x.mm")`` / ``export("x.opml")``. ``show(name)``
does all three in a notebook. ``structure_report`` grades a trainee's map on
its shape and keywords, not its exact wording: an expected label lists
alternatives as ``"WordPiece | subword | 子词"`` (``"?"`` accepts anything), and
``blank_branch`` cuts the exercise out of a map.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import re
import sys
import textwrap
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from course.errors import CourseError

NOTE_SEP = " — "
MINDMAP_DIR_ENV = "COURSE_MINDMAP_DIR"
CJK_FONT_CANDIDATES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Hiragino Sans GB",
    "Arial Unicode MS",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Noto Serif CJK SC",
)

_HEADING = re.compile(r"^(#{1,6})(?:\s+(.*))?$")
_BULLET = re.compile(r"^( *)[-*+](?:\s+(.*))?$")
_LINKED = re.compile(r"^\[(?P<label>.+)\]\((?P<link>[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)\)$")
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


class MindMapError(CourseError):
    """A mind-map outline or file is malformed; the message names file and line."""


# --------------------------------------------------------------------------- model


@dataclass
class Node:
    """One idea in a mind map: a bilingual label, an optional note and link, children."""

    label: str
    note: str = ""
    link: str = ""
    children: list[Node] = field(default_factory=list)

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Node]]:
        """Yield ``(depth, node)`` for this node and all below it, depth first."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def size(self) -> int:
        """Number of nodes in this subtree, this one included."""
        return sum(1 for _ in self.walk())

    def depth(self) -> int:
        """Levels below this node (a leaf has depth 0)."""
        return max((c.depth() + 1 for c in self.children), default=0)

    def leaves(self) -> int:
        """Number of leaves in this subtree."""
        return 1 if not self.children else sum(c.leaves() for c in self.children)

    @property
    def english(self) -> str:
        """The English half of the label."""
        return split_label(self.label)[0]

    @property
    def chinese(self) -> str:
        """The Chinese half of the label ('' when there is none)."""
        return split_label(self.label)[1]

    def find(self, keyword: str) -> Node | None:
        """The first node (depth first) whose label contains ``keyword`` (normalised)."""
        key = normalise(keyword)
        for _, node in self.walk():
            if key and key in normalise(node.label):
                return node
        return None


@dataclass
class MindMap:
    """A parsed outline: its root node, its name and the file it came from."""

    root: Node
    name: str = ""
    source: str = "<string>"

    def __repr__(self) -> str:
        return f"MindMap({self.name or self.root.label!r}, {self.root.size()} nodes, from {self.source})"

    def nodes(self) -> list[Node]:
        """All nodes, depth first, root included."""
        return [n for _, n in self.root.walk()]

    def find(self, keyword: str) -> Node | None:
        """The first node whose label contains ``keyword``; see :meth:`Node.find`."""
        return self.root.find(keyword)

    def to_markdown(self) -> str:
        """The outline as markmap Markdown; :func:`parse` reads it back to an equal tree."""
        return to_markdown(self.root)

    def to_mermaid(self) -> str:
        """Mermaid ``mindmap`` text (JupyterLab 4 renders it inside a mermaid fence)."""
        return to_mermaid(self.root)

    def render(
        self,
        path: str | Path | None = None,
        fmt: str = "png",
        layout: str = "tree",
        cjk: bool | None = None,
    ) -> Any:
        """Draw the map with matplotlib; see :func:`render`."""
        return render(self.root, path=path, fmt=fmt, layout=layout, cjk=cjk, title=self.name)

    def explore(self, link_base: str | Path | None = None) -> Any:
        """An ipywidgets explorer; see :class:`Explorer`."""
        return Explorer(self, link_base=link_base)

    def export(self, path: str | Path) -> Path:
        """Write FreeMind ``.mm``, OPML ``.opml`` or Markdown ``.md`` by the suffix."""
        return export(self, path)


# ------------------------------------------------------------------------- labels


def split_label(label: str) -> tuple[str, str]:
    """Split ``"Tokenization / 分词"`` into ``("Tokenization", "分词")``.

    The split is at the last `` / `` whose right-hand side holds CJK characters;
    a label without one is all English: ``("CPU/GPU", "")``.
    """
    head, sep, tail = label.rpartition(" / ")
    if sep and _CJK.search(tail):
        return head.strip(), tail.strip()
    return label.strip(), ""


def has_cjk(text: str) -> bool:
    """True when ``text`` holds CJK characters."""
    return bool(_CJK.search(text))


def normalise(text: str) -> str:
    """Lower-case, NFKC, punctuation to spaces, single spaces: for keyword matching."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\u2e80-\u9fff]+", " ", text)
    return " ".join(text.split())


# -------------------------------------------------------------------------- parse


def _node_from_text(text: str, source: str, lineno: int) -> Node:
    text = (text or "").strip()
    if text.startswith("—"):
        text = " " + text
    label, sep, note = text.partition(NOTE_SEP)
    if not sep and text.endswith(" —"):
        label = text[:-2]
    label, note = label.strip(), note.strip()
    link = ""
    match = _LINKED.match(label)
    if match:
        label, link = match["label"].strip(), match["link"].strip()
    if not label:
        raise MindMapError(
            f"{source}, line {lineno}: empty label. Write a label such as "
            f"'Tokenization / 分词' after the heading or bullet marker."
        )
    return Node(label=label, note=note, link=link)


def parse(text: str, source: str = "<string>") -> MindMap:
    """Parse a markmap-style outline (see the module docstring) into a :class:`MindMap`.

    Raises:
        MindMapError: the outline is malformed; the message names ``source`` and the line.
    """
    root: Node | None = None
    # stack[d] is the last node seen at depth d
    stack: list[Node] = []
    heading_depth = 0  # depth of the last heading
    bullet_indents: list[int] = []  # indents of open bullets under the last heading
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or (stripped.startswith("<!--") and stripped.endswith("-->")):
            continue
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise MindMapError(
                f"{source}, line {lineno}: a tab in the indentation. Indent bullets "
                f"with two spaces per level."
            )
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        if heading:
            level = len(heading[1]) - 1
            node = _node_from_text(heading[2], source, lineno)
            if level == 0:
                if root is not None:
                    raise MindMapError(
                        f"{source}, line {lineno}: a second root heading '# {node.label}'. "
                        f"A map has one '#' root; make this '##' or move it to its own file."
                    )
                root = node
                stack = [root]
                heading_depth = 0
                bullet_indents = []
                continue
            if root is None:
                raise _missing_root(source, lineno)
            if level > heading_depth + 1:
                raise MindMapError(
                    f"{source}, line {lineno}: heading '{heading[1]}' jumps from level "
                    f"{heading_depth} to {level}. Go one level deeper at a time "
                    f"(use '{'#' * (heading_depth + 2)}')."
                )
            del stack[level:]
            stack[level - 1].children.append(node)
            stack.append(node)
            heading_depth = level
            bullet_indents = []
            continue
        if bullet:
            if root is None:
                raise _missing_root(source, lineno)
            indent = len(bullet[1])
            if indent % 2:
                raise MindMapError(
                    f"{source}, line {lineno}: bullet indented {indent} spaces. Indent "
                    f"bullets by two spaces per level (0, 2, 4, ...)."
                )
            level_in = indent // 2
            if level_in > len(bullet_indents):
                allowed = 2 * len(bullet_indents)
                raise MindMapError(
                    f"{source}, line {lineno}: bullet indentation jumps to {indent} spaces; "
                    f"the deepest it can go here is {allowed}. Nest one level (two spaces) "
                    f"at a time."
                )
            node = _node_from_text(bullet[2], source, lineno)
            depth = heading_depth + 1 + level_in
            del stack[depth:]
            stack[depth - 1].children.append(node)
            stack.append(node)
            bullet_indents = bullet_indents[:level_in] + [indent]
            continue
        if root is None:
            raise _missing_root(source, lineno)
        raise MindMapError(
            f"{source}, line {lineno}: {stripped[:40]!r} is neither a heading nor a bullet. "
            f"Start the line with '## ' or '- ', or put a note after ' — ' on its node line."
        )
    if root is None:
        raise _missing_root(source, 1 if not text.strip() else len(text.splitlines()))
    name = Path(source).stem if source != "<string>" else ""
    return MindMap(root=root, name=name, source=source)


def _missing_root(source: str, lineno: int) -> MindMapError:
    return MindMapError(
        f"{source}, line {lineno}: no root heading before this line. Start the outline "
        f"with one '# Root label / 中文' line."
    )


def mindmap_dir() -> Path:
    """The folder of the course's outlines: ``$COURSE_MINDMAP_DIR`` or the repo's ``mindmaps/``."""
    override = os.environ.get(MINDMAP_DIR_ENV)
    if override:
        return Path(override)
    import course

    return Path(course.__file__).resolve().parent.parent / "mindmaps"


def available() -> list[str]:
    """The names of the outlines in :func:`mindmap_dir`, sorted."""
    folder = mindmap_dir()
    return sorted(p.stem for p in folder.glob("*.md")) if folder.is_dir() else []


def load(name_or_path: str | Path) -> MindMap:
    """Load an outline by bare name (``"02-tokenization"``, ``"course"``) or by path.

    Raises:
        MindMapError: the file is missing or malformed.
    """
    path = Path(name_or_path)
    if path.suffix.lower() in {".mm", ".opml"}:
        return import_file(path)
    if not path.suffix and len(path.parts) == 1:
        path = mindmap_dir() / f"{path.name}.md"
    if not path.is_file():
        names = ", ".join(available()) or "none found"
        raise MindMapError(
            f"{path}: no such mind map. Pass a path, or one of the names in "
            f"{mindmap_dir()} ({names}); set {MINDMAP_DIR_ENV} to look elsewhere."
        )
    mind = parse(path.read_text(encoding="utf-8"), source=str(path))
    mind.name = path.stem
    return mind


# ----------------------------------------------------------------------- markdown


def _node_text(node: Node) -> str:
    text = f"[{node.label}]({node.link})" if node.link else node.label
    return f"{text}{NOTE_SEP}{node.note}" if node.note else text


def to_markdown(root: Node, heading_levels: int = 2) -> str:
    """Write ``root`` as an outline: headings down to ``heading_levels``, then bullets."""
    lines: list[str] = []
    for depth, node in root.walk():
        if depth <= heading_levels:
            if lines and depth > 0:
                lines.append("")
            lines.append(f"{'#' * (depth + 1)} {_node_text(node)}")
        else:
            lines.append(f"{'  ' * (depth - heading_levels - 1)}- {_node_text(node)}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ mermaid


def _mermaid_text(label: str) -> str:
    # Mermaid strings end at the next double quote; #quot; is its entity code.
    text = label.replace('"', "#quot;").replace("`", "'")
    return " ".join(text.split())


def to_mermaid(root: Node) -> str:
    """Mermaid ``mindmap`` text: ids ``n0, n1, ...``, every label quoted.

    Labels go in double-quoted strings, so parentheses, slashes, brackets and
    CJK are safe; a double quote becomes Mermaid's ``#quot;`` entity. Notes
    and links have no place in Mermaid's mindmap and are left out.
    """
    lines = ["mindmap"]
    for index, (depth, node) in enumerate(root.walk()):
        text = _mermaid_text(node.label)
        shape = f'(("{text}"))' if depth == 0 else f'["{text}"]' if depth == 1 else f'("{text}")'
        lines.append(f"{'  ' * (depth + 1)}n{index}{shape}")
    return "\n".join(lines) + "\n"


_MERMAID_NODE = re.compile(r'^( *)n\d+(?:\(\("(.*)"\)\)|\["(.*)"\]|\("(.*)"\))$')


def from_mermaid(text: str, source: str = "<mermaid>") -> Node:
    """Read back the Mermaid text that :func:`to_mermaid` writes (for round-trip checks)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].strip() != "mindmap":
        raise MindMapError(f"{source}, line 1: expected 'mindmap' as the first line.")
    stack: list[tuple[int, Node]] = []
    root: Node | None = None
    for lineno, line in enumerate(lines[1:], start=2):
        match = _MERMAID_NODE.match(line)
        if not match:
            raise MindMapError(f"{source}, line {lineno}: not a node this module writes: {line!r}")
        indent = len(match[1])
        label = next(g for g in match.groups()[1:] if g is not None).replace("#quot;", '"')
        node = Node(label)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if stack:
            stack[-1][1].children.append(node)
        elif root is None:
            root = node
        else:
            raise MindMapError(f"{source}, line {lineno}: a second root.")
        stack.append((indent, node))
    if root is None:
        raise MindMapError(f"{source}: no nodes.")
    return root


def mermaid_markdown(mind: MindMap) -> str:
    """The Mermaid text inside a fenced ```` ```mermaid ```` block, for a Markdown cell."""
    return f"```mermaid\n{mind.to_mermaid()}```\n"


# ------------------------------------------------------------- FreeMind and OPML


def _mm_element(node: Node) -> ET.Element:
    element = ET.Element("node", TEXT=node.label)
    if node.link:
        element.set("LINK", node.link)
    if node.note:
        rich = ET.SubElement(element, "richcontent", TYPE="NOTE")
        body = ET.SubElement(ET.SubElement(rich, "html"), "body")
        ET.SubElement(body, "p").text = node.note
    for child in node.children:
        element.append(_mm_element(child))
    return element


def _opml_element(node: Node) -> ET.Element:
    element = ET.Element("outline", text=node.label)
    if node.note:
        element.set("_note", node.note)
    if node.link:
        element.set("type", "link")
        element.set("url", node.link)
    for child in node.children:
        element.append(_opml_element(child))
    return element


def export(mind: MindMap, path: str | Path) -> Path:
    """Write ``mind`` as FreeMind ``.mm``, OPML ``.opml`` or Markdown ``.md`` (by suffix).

    Raises:
        MindMapError: the suffix is none of those.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".md":
        path.write_text(mind.to_markdown(), encoding="utf-8")
        return path
    if suffix == ".mm":
        top = ET.Element("map", version="1.0.1")
        top.append(_mm_element(mind.root))
    elif suffix == ".opml":
        top = ET.Element("opml", version="2.0")
        ET.SubElement(ET.SubElement(top, "head"), "title").text = mind.root.label
        ET.SubElement(top, "body").append(_opml_element(mind.root))
    else:
        raise MindMapError(
            f"{path}: unknown export format {suffix!r}. Use .mm (FreeMind, XMind), "
            f".opml (outliners, XMind) or .md."
        )
    ET.indent(top)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(top).write(path, encoding="utf-8", xml_declaration=suffix == ".opml")
    return path


def _mm_node(element: ET.Element, source: str) -> Node:
    label = element.get("TEXT")
    if label is None:
        rich = element.find("richcontent[@TYPE='NODE']")
        label = "".join(rich.itertext()).strip() if rich is not None else ""
    if not label.strip():
        raise MindMapError(f"{source}: a <node> without TEXT. Give every node a label.")
    rich = element.find("richcontent[@TYPE='NOTE']")
    note = " ".join("".join(rich.itertext()).split()) if rich is not None else ""
    children = [_mm_node(child, source) for child in element.findall("node")]
    return Node(label.strip(), note, element.get("LINK", ""), children)


def _opml_node(element: ET.Element, source: str) -> Node:
    label = element.get("text", "").strip()
    if not label:
        raise MindMapError(f"{source}: an <outline> without text. Give every outline a text.")
    children = [_opml_node(child, source) for child in element.findall("outline")]
    return Node(label, element.get("_note", ""), element.get("url", ""), children)


def import_file(path: str | Path) -> MindMap:
    """Read a FreeMind ``.mm``, OPML ``.opml`` or Markdown ``.md`` file back into a map.

    Raises:
        MindMapError: the file is missing, is not well-formed XML, or has no root node.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".md":
        return load(path)
    if suffix not in {".mm", ".opml"}:
        raise MindMapError(f"{path}: cannot import {suffix!r}; use a .mm, .opml or .md file.")
    try:
        top = ET.parse(path).getroot()
    except FileNotFoundError as exc:
        raise MindMapError(f"{path}: no such file.") from exc
    except ET.ParseError as exc:
        line = exc.position[0]
        raise MindMapError(f"{path}, line {line}: not well-formed XML ({exc}).") from exc
    if suffix == ".mm":
        first = top.find("node")
        root = _mm_node(first, str(path)) if first is not None else None
    else:
        outlines = top.findall("body/outline")
        if len(outlines) == 1:
            root = _opml_node(outlines[0], str(path))
        elif outlines:
            title = top.findtext("head/title") or path.stem
            root = Node(title, children=[_opml_node(o, str(path)) for o in outlines])
        else:
            root = None
    if root is None:
        raise MindMapError(f"{path}: no root node found. Is this a FreeMind or OPML file?")
    return MindMap(root=root, name=path.stem, source=str(path))


# ------------------------------------------------------------------------ drawing

BRANCH_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed font that draws Chinese, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for candidate in CJK_FONT_CANDIDATES:
        if candidate in names:
            return candidate
    for entry in font_manager.fontManager.ttflist:
        if any(k in entry.name for k in ("CJK", "Hei", "Ming", "Song", "Kai", "Han Sans")):
            return entry.name
    # A font installed after matplotlib built its cache: add it by file name.
    hints = ("cjk", "wqy", "sourcehan", "droidsansfallback", "simhei", "msyh", "pingfang")
    for path in font_manager.findSystemFonts():
        if any(h in Path(path).name.lower().replace("-", "") for h in hints):
            try:
                font_manager.fontManager.addfont(path)
                return font_manager.FontProperties(fname=path).get_name()
            except (OSError, RuntimeError, ValueError):
                continue
    return None


def _display_text(node: Node, cjk: bool, width: int) -> str:
    english, chinese = split_label(node.label)
    if not cjk and has_cjk(english):
        english = _CJK.sub("", english).strip() or "?"
    text = "\n".join(textwrap.wrap(english, width=width, break_on_hyphens=False)) or english
    if cjk and chinese:
        text += "\n" + chinese
    return text


def _lighten(colour: str, amount: float) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


@dataclass
class _Placed:
    node: Node
    depth: int
    branch: int
    text: str
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    parent: _Placed | None = None


def _place(root: Node, cjk: bool, width: int) -> list[_Placed]:
    placed: list[_Placed] = []

    def visit(node: Node, depth: int, branch: int, parent: _Placed | None) -> None:
        item = _Placed(node, depth, branch, _display_text(node, cjk, width), parent=parent)
        placed.append(item)
        for i, child in enumerate(node.children):
            visit(child, depth + 1, i if depth == 0 else branch, item)

    visit(root, 0, -1, None)
    return placed


def _measure(placed: list[_Placed], font: dict[str, Any]) -> None:
    """Set each item's box size in inches from the real text extent."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measurer = TextToPath()
    for item in placed:
        size = font["size"] * (1.25 if item.depth == 0 else 1.08 if item.depth == 1 else 1.0)
        weight = "bold" if item.depth <= 1 else "normal"
        prop = FontProperties(family=font["family"], size=size, weight=weight)
        lines = item.text.split("\n")
        widths = [measurer.get_text_width_height_descent(ln, prop, ismath=False)[0] for ln in lines]
        item.w = (max(widths) + 2 * size * 0.55) / 72
        item.h = (len(lines) * size * 1.25 + 2 * size * 0.55) / 72


def _layout_tree(placed: list[_Placed]) -> None:
    """Left to right: depth on x (column widths from the boxes), leaves stacked on y."""
    col_width: dict[int, float] = {}
    for item in placed:
        col_width[item.depth] = max(col_width.get(item.depth, 0.0), item.w)
    gap = 0.45
    x_at = {0: 0.0}
    for d in range(1, max(col_width) + 1):
        x_at[d] = x_at[d - 1] + col_width[d - 1] + gap
    children: dict[int, list[_Placed]] = {}
    for item in placed:
        if item.parent is not None:
            children.setdefault(id(item.parent), []).append(item)
    cursor = [0.0]

    def visit(item: _Placed) -> None:
        item.x = x_at[item.depth]
        kids = children.get(id(item), [])
        if not kids:
            item.y = -(cursor[0] + item.h / 2)
            cursor[0] += item.h + 0.12
            return
        for kid in kids:
            visit(kid)
        item.y = (kids[0].y + kids[-1].y) / 2
        if item.depth == 1:
            cursor[0] += 0.18

    visit(placed[0])


def _layout_radial(placed: list[_Placed]) -> None:
    """Root in the centre; each subtree gets an angle in proportion to its leaves."""
    import math

    children: dict[int, list[_Placed]] = {}
    for item in placed:
        if item.parent is not None:
            children.setdefault(id(item.parent), []).append(item)
    deepest = max(i.depth for i in placed)
    widest = {d: max(i.w for i in placed if i.depth == d) for d in range(deepest + 1)}
    tallest = max(i.h for i in placed)
    ring_at = {0: 0.0}
    for d in range(1, deepest + 1):
        crowd = sum(1 for i in placed if i.depth == d)
        by_width = ring_at[d - 1] + 0.5 * (widest[d - 1] + widest[d]) * 0.75 + 0.5
        by_crowd = crowd * (tallest + 0.25) / (2 * math.pi) * (1.0 + 0.25 * d)
        ring_at[d] = max(by_width, by_crowd)

    def weight(item: _Placed) -> float:
        return item.node.leaves() + 0.6

    def visit(item: _Placed, start: float, end: float, scale: float) -> None:
        angle = (start + end) / 2
        radius = ring_at[item.depth] * scale
        item.x = radius * math.cos(angle) - item.w / 2
        item.y = radius * math.sin(angle)
        kids = children.get(id(item), [])
        total = sum(weight(k) for k in kids)
        at = start
        for kid in kids:
            share = (end - start) * weight(kid) / total
            visit(kid, at, at + share, scale)
            at += share

    scale = 1.0
    for _ in range(12):
        visit(placed[0], math.pi / 2, math.pi / 2 + 2 * math.pi, scale)
        if not _overlaps(placed):
            break
        scale *= 1.1


def _overlaps(placed: list[_Placed], pad: float = 0.06) -> bool:
    """True when any two boxes overlap (with ``pad`` inches to spare)."""
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            if (
                a.x < b.x + b.w + pad
                and b.x < a.x + a.w + pad
                and abs(a.y - b.y) < (a.h + b.h) / 2 + pad
            ):
                return True
    return False


def render(
    root: Node,
    path: str | Path | None = None,
    fmt: str = "png",
    layout: str = "tree",
    cjk: bool | None = None,
    title: str = "",
    dpi: int = 100,
    font_size: float = 10.0,
) -> Any:
    """Draw ``root`` as a mind map and return the matplotlib Figure.

    Args:
        root: the root node (or use :meth:`MindMap.render`).
        path: where to save; the suffix (``.png``/``.svg``/``.pdf``) wins over ``fmt``.
        fmt: the format when ``path`` has no suffix.
        layout: ``"tree"`` (left to right) or ``"radial"`` (root in the centre).
        cjk: draw the Chinese half of labels; None means "when a CJK font is installed".
            Without one, only the English half is drawn, so no tofu boxes appear.
        title: unused on the picture (the root says it); kept for the figure's label.
        dpi: dots per inch; at 100 the 10 pt text is readable at 100% zoom.
        font_size: base font size in points.

    Raises:
        MindMapError: unknown layout.
    """
    if layout not in {"tree", "radial"}:
        raise MindMapError(f"unknown layout {layout!r}; use 'tree' or 'radial'.")
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)  # single-weight CJK fonts warn about bold; harmless
    try:
        return _draw(root, path, fmt, layout, cjk, title, dpi, font_size)
    finally:
        font_log.setLevel(level)


def layout_boxes(root: Node, layout: str = "tree", cjk: bool | None = None) -> list[_Placed]:
    """The placed boxes (inches) that :func:`render` draws; for overlap checks."""
    family, use_cjk = _fonts(cjk)
    placed = _place(root, use_cjk, width=26 if layout == "tree" else 20)
    _measure(placed, {"family": family, "size": 10.0})
    (_layout_tree if layout == "tree" else _layout_radial)(placed)
    return placed


def _fonts(cjk: bool | None) -> tuple[list[str], bool]:
    family_cjk = cjk_font()
    use_cjk = bool(family_cjk) if cjk is None else (cjk and bool(family_cjk))
    return (["DejaVu Sans", family_cjk] if use_cjk else ["DejaVu Sans"]), use_cjk


def _draw(
    root: Node,
    path: str | Path | None,
    fmt: str,
    layout: str,
    cjk: bool | None,
    title: str,
    dpi: int,
    font_size: float,
) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, PathPatch
    from matplotlib.path import Path as MPath

    family, use_cjk = _fonts(cjk)
    font = {"family": family, "size": font_size}
    placed = _place(root, use_cjk, width=26 if layout == "tree" else 20)
    _measure(placed, font)
    (_layout_tree if layout == "tree" else _layout_radial)(placed)

    margin = 0.25
    x0 = min(i.x for i in placed) - margin
    x1 = max(i.x + i.w for i in placed) + margin
    y0 = min(i.y - i.h / 2 for i in placed) - margin
    y1 = max(i.y + i.h / 2 for i in placed) + margin
    fig = Figure(figsize=(x1 - x0, y1 - y0), dpi=dpi, facecolor="white")
    fig.set_label(title or root.english)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_axis_off()

    for item in placed:
        colour = "#333333" if item.branch < 0 else BRANCH_COLOURS[item.branch % 10]
        if item.parent is not None:
            parent = item.parent
            if layout == "tree":
                start = (parent.x + parent.w, parent.y)
                end = (item.x, item.y)
                mid = (start[0] + end[0]) / 2
                verts = [start, (mid, start[1]), (mid, end[1]), end]
                codes = [MPath.MOVETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4]
            else:
                verts = [(parent.x + parent.w / 2, parent.y), (item.x + item.w / 2, item.y)]
                codes = [MPath.MOVETO, MPath.LINETO]
            ax.add_patch(
                PathPatch(
                    MPath(verts, codes),
                    fill=False,
                    edgecolor=colour,
                    linewidth=2.4 if item.depth == 1 else 1.4,
                    alpha=0.8,
                    zorder=1,
                )
            )
    for item in placed:
        colour = "#333333" if item.branch < 0 else BRANCH_COLOURS[item.branch % 10]
        face = "#333333" if item.depth == 0 else _lighten(colour, 0.35 if item.depth == 1 else 0.85)
        ax.add_patch(
            FancyBboxPatch(
                (item.x, item.y - item.h / 2),
                item.w,
                item.h,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor=face,
                edgecolor=colour,
                linewidth=1.2,
                zorder=2,
            )
        )
        size = font_size * (1.25 if item.depth == 0 else 1.08 if item.depth == 1 else 1.0)
        ax.text(
            item.x + item.w / 2,
            item.y,
            item.text,
            ha="center",
            va="center",
            fontsize=size,
            family=family,
            color="white" if item.depth <= 1 else "#1a1a1a",
            fontweight="bold" if item.depth <= 1 else "normal",
            linespacing=1.15,
            zorder=3,
        )
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format=path.suffix[1:].lower() or fmt, dpi=dpi, facecolor="white")
    return fig


def figure_bytes(fig: Any, fmt: str = "png") -> bytes:
    """The figure encoded as ``fmt`` bytes (for ``IPython.display.Image``)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=fig.dpi, facecolor="white")
    return buffer.getvalue()


# ----------------------------------------------------------------------- explorer


def _relative_link(link: str, source: str, link_base: str | Path | None) -> str:
    """Rewrite a link written relative to the outline's folder to one relative to link_base."""
    if not link or re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", link, flags=re.I) or link_base is None:
        return link
    target, _, anchor = link.partition("#")
    folder = Path(source).parent if source != "<string>" else mindmap_dir()
    rewritten = os.path.relpath((folder / target).resolve(), Path(link_base).resolve())
    return rewritten.replace(os.sep, "/") + (f"#{anchor}" if anchor else "")


class Explorer:
    """An ipywidgets explorer: a tree of buttons and a details pane.

    Clicking a node button expands (or collapses) its children and shows its
    label, note and link in the pane. ``widget`` is the ipywidgets box to
    display; ``buttons`` and ``child_boxes`` are keyed by the node's path of
    child indices (``()`` is the root, ``(0, 2)`` the third child of the first
    branch), so tests can click them.
    """

    def __init__(self, mind: MindMap, link_base: str | Path | None = None) -> None:
        import ipywidgets as widgets

        self.mind = mind
        self.link_base = Path.cwd() if link_base is None else Path(link_base)
        self.buttons: dict[tuple[int, ...], Any] = {}
        self.child_boxes: dict[tuple[int, ...], Any] = {}
        self.nodes: dict[tuple[int, ...], Node] = {}
        self.detail = widgets.HTML(value=self._detail_html(mind.root))
        tree = self._build(mind.root, (), widgets)
        tree.layout = widgets.Layout(width="55%")
        self.detail.layout = widgets.Layout(width="45%", padding="0 0 0 12px")
        self.widget = widgets.HBox([tree, self.detail])
        self.expand(())

    def _build(self, node: Node, path: tuple[int, ...], widgets: Any) -> Any:
        self.nodes[path] = node
        button = widgets.Button(
            description=self._caption(node, expanded=False),
            tooltip=node.note or node.label,
            layout=widgets.Layout(width="auto", margin=f"1px 0 1px {18 * len(path)}px"),
            button_style="info" if not path else "",
        )
        button.on_click(lambda _b, p=path: self.click(p))
        self.buttons[path] = button
        kids = [self._build(c, path + (i,), widgets) for i, c in enumerate(node.children)]
        box = widgets.VBox(kids, layout=widgets.Layout(display="none"))
        self.child_boxes[path] = box
        return widgets.VBox([button, box])

    @staticmethod
    def _caption(node: Node, expanded: bool) -> str:
        marker = "•" if not node.children else ("▾" if expanded else "▸")
        return f"{marker} {node.label}"

    def _detail_html(self, node: Node) -> str:
        parts = [f"<h4 style='margin:4px 0'>{html.escape(node.label)}</h4>"]
        if node.note:
            parts.append(f"<p>{html.escape(node.note)}</p>")
        if node.link:
            href = _relative_link(node.link, self.mind.source, getattr(self, "link_base", None))
            parts.append(
                f"<p>📖 <a href='{html.escape(href, quote=True)}' target='_blank'>"
                f"Open the lesson section / 打开课程章节</a></p>"
            )
        if node.children:
            parts.append(f"<p><i>{len(node.children)} sub-topics / 个子主题</i></p>")
        return "".join(parts)

    def is_expanded(self, path: tuple[int, ...]) -> bool:
        """True when the children of the node at ``path`` are shown."""
        return self.child_boxes[path].layout.display != "none"

    def expand(self, path: tuple[int, ...], open_: bool = True) -> None:
        """Show (or hide) the children of the node at ``path``."""
        node = self.nodes[path]
        self.child_boxes[path].layout.display = "" if open_ else "none"
        self.buttons[path].description = self._caption(node, expanded=open_)

    def click(self, path: tuple[int, ...]) -> None:
        """What a click does: toggle the node's children and show its details."""
        node = self.nodes[path]
        if node.children:
            self.expand(path, not self.is_expanded(path))
        self.detail.value = self._detail_html(node)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# --------------------------------------------------------------------- notebooks


def show(name: str | Path | MindMap, layout: str = "tree", widget: bool = True) -> MindMap:
    """Display a map in a notebook: the picture, the Mermaid block and the explorer.

    Safe headless (papermill, nbconvert): each output is a plain display call,
    and the picture is a PNG, so it survives export and GitHub's viewer.
    """
    from IPython.display import Image, display

    mind = name if isinstance(name, MindMap) else load(name)
    fig = mind.render(layout=layout)
    display(Image(data=figure_bytes(fig), format="png"))
    fenced = mermaid_markdown(mind)
    display(
        {"text/markdown": fenced, "text/vnd.mermaid": mind.to_mermaid(), "text/plain": fenced},
        raw=True,
    )
    if widget:
        display(mind.explore().widget)
    return mind


# ------------------------------------------------------------------------ grading


def _alternatives(label: str) -> list[str]:
    """The keywords an expected label accepts: ``"WordPiece | subword | 子词"``."""
    if "|" in label:
        options = [p.strip() for p in label.split("|")]
    else:
        english, chinese = split_label(label)
        options = [english, chinese]
    return [o for o in options if normalise(o)]


def label_matches(expected: str, actual: str) -> bool:
    """True when ``actual`` contains one of the keyword alternatives of ``expected``.

    ``"?"`` or ``"*"`` accepts any label. Alternatives are separated by ``|``; a
    bilingual label ``"English / 中文"`` accepts either half. Matching ignores case,
    punctuation and full/half width.
    """
    if expected.strip() in {"?", "*"}:
        return True
    have = normalise(actual)
    padded = f" {have} "
    for option in map(normalise, _alternatives(expected)):
        if has_cjk(option):
            if option in have:
                return True
        elif f" {option} " in padded or (len(option) > 3 and option in have):
            return True
    return False


def _name(node: Node) -> str:
    english, _ = split_label(node.label.split("|")[0].strip())
    return english or node.label


def structure_report(expected: Node, actual: Node, match_labels: bool = True) -> list[str]:
    """Compare a trainee's map with the expected one on structure, not exact wording.

    Every branch in ``expected`` must exist in ``actual`` with at least as many
    children; with ``match_labels``, each expected child must be matched by a
    different actual child whose label holds one of its keywords (see
    :func:`label_matches`), and the matched pairs are compared in turn. Extra
    children in ``actual`` are welcome.

    Returns:
        One helpful message per problem; an empty list means the map passes.
    """
    problems: list[str] = []
    _compare(expected, actual, match_labels, problems)
    return problems


def _compare(expected: Node, actual: Node, match_labels: bool, problems: list[str]) -> None:
    need, have = len(expected.children), len(actual.children)
    if need == 0:
        return
    if have < need:
        problems.append(
            f"branch '{_name(actual)}' needs at least {need} "
            f"{'child' if need == 1 else 'children'}, found {have}."
        )
    if not match_labels:
        for exp, act in zip(expected.children, actual.children, strict=False):
            _compare(exp, act, match_labels, problems)
        return
    free = list(actual.children)
    for exp in expected.children:
        match = next((a for a in free if label_matches(exp.label, a.label)), None)
        if match is None:
            if have >= need:
                keywords = ", ".join(_alternatives(exp.label)) or "any label"
                problems.append(
                    f"branch '{_name(actual)}' has no child about '{_name(exp)}' "
                    f"(a label with any of: {keywords})."
                )
            continue
        free.remove(match)
        _compare(exp, match, match_labels, problems)


def blank_branch(root: Node, keyword: str) -> tuple[Node, Node]:
    """Copy ``root`` with the children of the branch matching ``keyword`` removed.

    Returns ``(exercise_map, expected_branch)``: the map a trainee completes, and
    the original branch to grade against with :func:`structure_report`.

    Raises:
        MindMapError: no node matches ``keyword``.
    """
    import copy

    exercise = copy.deepcopy(root)
    target = exercise.find(keyword)
    if target is None:
        raise MindMapError(f"no node matches {keyword!r}; pick a label from the map.")
    expected = copy.deepcopy(target)
    target.children = []
    return exercise, expected


def same_structure(a: Node, b: Node, match_labels: bool = False) -> bool:
    """True when ``a`` and ``b`` have the same shape: equal child counts, in order, at every node.

    With ``match_labels``, each pair of nodes must also pass :func:`label_matches`
    (``a`` holds the expected keywords).
    """
    if len(a.children) != len(b.children):
        return False
    if match_labels and not label_matches(a.label, b.label):
        return False
    return all(
        same_structure(x, y, match_labels) for x, y in zip(a.children, b.children, strict=True)
    )


def notebook_anchor(heading: str) -> str:
    """The anchor JupyterLab gives a Markdown heading: its text with spaces as ``-``."""
    return heading.strip().replace(" ", "-")


def check_links(mind: MindMap) -> list[str]:
    """Links that point at a missing file, or at a notebook heading that does not exist.

    Notebook anchors are checked the way JupyterLab makes them: the heading text
    with spaces turned into ``-``.
    """
    import json

    problems: list[str] = []
    folder = Path(mind.source).parent if mind.source != "<string>" else mindmap_dir()
    for node in mind.nodes():
        if not node.link or re.match(r"^[a-z][a-z0-9+.-]*:", node.link, flags=re.I):
            continue
        target, _, anchor = node.link.partition("#")
        file = folder / target
        if not file.is_file():
            problems.append(f"{mind.source}: '{node.label}' links to missing file {target}.")
            continue
        if anchor and file.suffix == ".ipynb":
            cells = json.loads(file.read_text(encoding="utf-8")).get("cells", [])
            anchors = set()
            for cell in cells:
                if cell.get("cell_type") == "markdown":
                    for line in "".join(cell.get("source", "")).splitlines():
                        heading = _HEADING.match(line)
                        if heading:
                            anchors.add(notebook_anchor(heading[2]))
            if anchor not in anchors:
                import difflib

                near = difflib.get_close_matches(anchor, sorted(anchors), n=1, cutoff=0.4)
                hint = f" Did you mean #{near[0]}?" if near else ""
                problems.append(
                    f"{mind.source}: '{node.label}' links to #{anchor}, which is no heading "
                    f"in {target}.{hint}"
                )
    return problems


# ---------------------------------------------------------------------------- CLI


def cli_main(argv: list[str] | None = None) -> int:
    """``course mindmap render|export|mermaid|check``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="course mindmap", description="Course mind maps.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_render = sub.add_parser("render", help="draw a map as PNG or SVG")
    p_render.add_argument("name", help="a map name (e.g. 02-tokenization, course) or a path")
    p_render.add_argument("-o", "--output", help="out.png or out.svg (default NAME.png)")
    p_render.add_argument("--layout", choices=("tree", "radial"), default="tree")
    p_export = sub.add_parser("export", help="write FreeMind .mm or OPML")
    p_export.add_argument("name")
    p_export.add_argument("-o", "--output", required=True, help="out.mm or out.opml")
    p_mermaid = sub.add_parser("mermaid", help="print the Mermaid mindmap text")
    p_mermaid.add_argument("name")
    sub.add_parser("check", help="parse every map in the mindmaps folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            mind = load(args.name)
            out = Path(args.output or f"{mind.name or 'mindmap'}.png")
            mind.render(out, layout=args.layout)
            print(f"wrote {out}")
        elif args.command == "export":
            print(f"wrote {load(args.name).export(args.output)}")
        elif args.command == "mermaid":
            print(load(args.name).to_mermaid(), end="")
        else:
            for name in available():
                mind = load(name)
                print(f"{name}: {mind.root.size()} nodes, depth {mind.root.depth()}")
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
