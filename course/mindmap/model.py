"""The mind-map model: nodes, maps and bilingual labels ("English / 中文")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from course.errors import CourseDataError

__all__ = [
    "CJK",
    "NOTE_SEP",
    "MindMap",
    "MindMapError",
    "Node",
    "has_cjk",
    "normalise",
    "root_of",
    "split_label",
]

NOTE_SEP = " — "
CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


class MindMapError(CourseDataError):
    """A mind-map outline or file is malformed; the message names file and line."""


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


@dataclass(repr=False)
class MindMap:
    """A parsed outline: its root node, its name and the file it came from."""

    root: Node
    name: str = ""
    source: str = "<string>"

    def __repr__(self) -> str:
        # The file name only: a repr must not print the machine's absolute paths.
        origin = Path(self.source).name if self.source != "<string>" else self.source
        return f"MindMap({self.name or self.root.label!r}, {self.root.size()} nodes, {origin})"

    def nodes(self) -> list[Node]:
        """All nodes, depth first, root included."""
        return [n for _, n in self.root.walk()]

    def find(self, keyword: str) -> Node | None:
        """The first node whose label contains ``keyword``; see :meth:`Node.find`."""
        return self.root.find(keyword)


def root_of(mind: MindMap | Node) -> Node:
    """The root node of a map, or the node itself: what every drawing and format takes."""
    return mind.root if isinstance(mind, MindMap) else mind


def split_label(label: str) -> tuple[str, str]:
    """Split ``"Tokenization / 分词"`` into ``("Tokenization", "分词")``.

    The split is at the last `` / `` whose right-hand side holds CJK characters;
    a label without one is all English: ``("CPU/GPU", "")``.
    """
    head, sep, tail = label.rpartition(" / ")
    if sep and CJK.search(tail):
        return head.strip(), tail.strip()
    return label.strip(), ""


def has_cjk(text: str) -> bool:
    """True when ``text`` holds CJK characters."""
    return bool(CJK.search(text))


def normalise(text: str) -> str:
    """Lower-case, NFKC, punctuation to spaces, single spaces: for keyword matching."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\u2e80-\u9fff]+", " ", text)
    return " ".join(text.split())
