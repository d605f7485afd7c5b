"""Mind-map formats: Mermaid ``mindmap`` text, FreeMind ``.mm`` and OPML (XMind imports both)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from course.errors import CourseArgumentError
from course.mindmap.model import MindMap, MindMapError, Node, root_of
from course.mindmap.outline import load_outline, to_markdown

__all__ = [
    "export",
    "from_mermaid",
    "import_file",
    "load",
    "mermaid_markdown",
    "to_mermaid",
]


def _mermaid_text(label: str) -> str:
    # Mermaid strings end at the next double quote; #quot; is its entity code.
    text = label.replace('"', "#quot;").replace("`", "'")
    return " ".join(text.split())


def to_mermaid(mind: MindMap | Node) -> str:
    """Mermaid ``mindmap`` text: ids ``n0, n1, ...``, every label quoted.

    Labels go in double-quoted strings, so parentheses, slashes, brackets and
    CJK are safe; a double quote becomes Mermaid's ``#quot;`` entity. Notes
    and links have no place in Mermaid's mindmap and are left out.
    """
    lines = ["mindmap"]
    for index, (depth, node) in enumerate(root_of(mind).walk()):
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
    return f"```mermaid\n{to_mermaid(mind)}```\n"


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
        path.write_text(to_markdown(mind), encoding="utf-8")
        return path
    if suffix == ".mm":
        top = ET.Element("map", version="1.0.1")
        top.append(_mm_element(mind.root))
    elif suffix == ".opml":
        top = ET.Element("opml", version="2.0")
        ET.SubElement(ET.SubElement(top, "head"), "title").text = mind.root.label
        ET.SubElement(top, "body").append(_opml_element(mind.root))
    else:
        raise CourseArgumentError(
            f"{path.name}: unknown export format {suffix!r}. Use .mm (FreeMind, XMind), "
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
        return load_outline(path)
    if suffix not in {".mm", ".opml"}:
        raise CourseArgumentError(
            f"{path.name}: cannot import {suffix!r}; use a .mm, .opml or .md file."
        )
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


def load(name_or_path: str | Path) -> MindMap:
    """Load a map by bare name (``"02-tokenization"``, ``"course"``) or by path.

    A ``.mm`` or ``.opml`` path is imported (:func:`import_file`); anything else is a
    Markdown outline (:func:`course.mindmap.outline.load_outline`).

    Raises:
        MindMapError: the file is missing or malformed.
    """
    if Path(name_or_path).suffix.lower() in {".mm", ".opml"}:
        return import_file(name_or_path)
    return load_outline(name_or_path)
