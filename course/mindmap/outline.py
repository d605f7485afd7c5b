"""Read and write the text outlines in ``mindmaps/`` (markmap-style Markdown).

The rules:

* The first content line is the root: one ``#`` heading. There is exactly one.
* ``##`` .. ``######`` headings are levels 1-5. A heading may go at most one
  level deeper than the heading before it.
* ``-`` (or ``*``) bullets nest under the last heading, two spaces per level;
  a bullet may go at most one level deeper than the line before it.
* A node line is ``LABEL`` or ``[LABEL](LINK)``, optionally followed by
  `` — NOTE`` (space, em dash, space, then a one-line note).
* Labels are bilingual, ``English / 中文``: see :func:`course.mindmap.split_label`.
* Blank lines and one-line HTML comments (``<!-- ... -->``) are ignored.
* Links are written relative to the ``mindmaps/`` folder; the explorer
  rewrites them relative to the notebook that shows the map.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from course.mindmap.model import NOTE_SEP, MindMap, MindMapError, Node, root_of

__all__ = [
    "HEADING",
    "MINDMAP_DIR_ENV",
    "NOT_MAPS",
    "available",
    "load_outline",
    "mindmap_dir",
    "parse",
    "to_markdown",
]

MINDMAP_DIR_ENV = "COURSE_MINDMAP_DIR"
# Markdown files in mindmaps/ that are not outlines.
NOT_MAPS = frozenset({"glossary"})

HEADING = re.compile(r"^(#{1,6})(?:\s+(.*))?$")
_BULLET = re.compile(r"^( *)[-*+](?:\s+(.*))?$")
_LINKED = re.compile(r"^\[(?P<label>.+)\]\((?P<link>[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)\)$")


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


class _Parser:
    """The state of one parse: the open nodes by depth and the open bullet indents."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.root: Node | None = None
        self.stack: list[Node] = []  # stack[d] is the last node seen at depth d
        self.heading_depth = 0  # depth of the last heading
        self.bullet_indents: list[int] = []  # indents of open bullets under the last heading

    def error(self, lineno: int, message: str) -> MindMapError:
        return MindMapError(f"{self.source}, line {lineno}: {message}")

    def missing_root(self, lineno: int) -> MindMapError:
        return self.error(
            lineno,
            "no root heading before this line. Start the outline with one "
            "'# Root label / 中文' line.",
        )

    def attach(self, node: Node, depth: int) -> None:
        del self.stack[depth:]
        self.stack[depth - 1].children.append(node)
        self.stack.append(node)

    def heading(self, marks: str, text: str, lineno: int) -> None:
        level = len(marks) - 1
        node = _node_from_text(text, self.source, lineno)
        if level == 0:
            if self.root is not None:
                raise self.error(
                    lineno,
                    f"a second root heading '# {node.label}'. A map has one '#' root; "
                    f"make this '##' or move it to its own file.",
                )
            self.root, self.stack = node, [node]
        elif self.root is None:
            raise self.missing_root(lineno)
        elif level > self.heading_depth + 1:
            raise self.error(
                lineno,
                f"heading '{marks}' jumps from level {self.heading_depth} to {level}. "
                f"Go one level deeper at a time (use '{'#' * (self.heading_depth + 2)}').",
            )
        else:
            self.attach(node, level)
        self.heading_depth = level
        self.bullet_indents = []

    def bullet(self, spaces: str, text: str, lineno: int) -> None:
        if self.root is None:
            raise self.missing_root(lineno)
        indent = len(spaces)
        if indent % 2:
            raise self.error(
                lineno,
                f"bullet indented {indent} spaces. Indent bullets by two spaces per level "
                f"(0, 2, 4, ...).",
            )
        level_in = indent // 2
        if level_in > len(self.bullet_indents):
            raise self.error(
                lineno,
                f"bullet indentation jumps to {indent} spaces; the deepest it can go here "
                f"is {2 * len(self.bullet_indents)}. Nest one level (two spaces) at a time.",
            )
        node = _node_from_text(text, self.source, lineno)
        self.attach(node, self.heading_depth + 1 + level_in)
        self.bullet_indents = self.bullet_indents[:level_in] + [indent]

    def line(self, raw: str, lineno: int) -> None:
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or (stripped.startswith("<!--") and stripped.endswith("-->")):
            return
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise self.error(
                lineno, "a tab in the indentation. Indent bullets with two spaces per level."
            )
        heading, bullet = HEADING.match(line), _BULLET.match(line)
        if heading:
            self.heading(heading[1], heading[2], lineno)
        elif bullet:
            self.bullet(bullet[1], bullet[2], lineno)
        elif self.root is None:
            raise self.missing_root(lineno)
        else:
            raise self.error(
                lineno,
                f"{stripped[:40]!r} is neither a heading nor a bullet. Start the line with "
                f"'## ' or '- ', or put a note after ' — ' on its node line.",
            )


def parse(text: str, source: str = "<string>") -> MindMap:
    """Parse a markmap-style outline (see the module docstring) into a :class:`MindMap`.

    Raises:
        MindMapError: the outline is malformed; the message names ``source`` and the line.
    """
    parser = _Parser(source)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        parser.line(raw, lineno)
    if parser.root is None:
        raise parser.missing_root(1 if not text.strip() else len(text.splitlines()))
    name = Path(source).stem if source != "<string>" else ""
    return MindMap(root=parser.root, name=name, source=source)


def mindmap_dir() -> Path:
    """The folder of the course's outlines: ``$COURSE_MINDMAP_DIR`` or the repo's ``mindmaps/``."""
    override = os.environ.get(MINDMAP_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "mindmaps"


def available() -> list[str]:
    """The names of the outlines in :func:`mindmap_dir`, sorted (the glossary is not one)."""
    folder = mindmap_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.md") if p.stem not in NOT_MAPS)


def load_outline(name_or_path: str | Path) -> MindMap:
    """Load a Markdown outline by bare name (``"02-tokenization"``, ``"course"``) or by path.

    :func:`course.mindmap.load` also reads FreeMind and OPML files.

    Raises:
        MindMapError: the file is missing or malformed.
    """
    path = Path(name_or_path)
    if not path.suffix and len(path.parts) == 1:
        path = mindmap_dir() / f"{path.name}.md"
    if not path.is_file():
        names = ", ".join(available()) or "none found"
        raise MindMapError(
            f"{name_or_path}: no such mind map. Pass a path, or one of the names in "
            f"mindmaps/ ({names}); set {MINDMAP_DIR_ENV} to look elsewhere."
        )
    mind = parse(path.read_text(encoding="utf-8"), source=str(path))
    mind.name = path.stem
    return mind


def _node_text(node: Node) -> str:
    text = f"[{node.label}]({node.link})" if node.link else node.label
    return f"{text}{NOTE_SEP}{node.note}" if node.note else text


def to_markdown(mind: MindMap | Node, heading_levels: int = 2) -> str:
    """Write a map (or a node) as an outline: headings down to ``heading_levels``, then bullets.

    :func:`parse` reads it back to an equal tree.
    """
    lines: list[str] = []
    for depth, node in root_of(mind).walk():
        if depth <= heading_levels:
            if lines and depth > 0:
                lines.append("")
            lines.append(f"{'#' * (depth + 1)} {_node_text(node)}")
        else:
            lines.append(f"{'  ' * (depth - heading_levels - 1)}- {_node_text(node)}")
    return "\n".join(lines) + "\n"
