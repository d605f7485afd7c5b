"""Draw a mind map with matplotlib: a left-to-right tree or a radial layout, PNG or SVG.

Labels show their English half, and below it the Chinese half when a CJK font is
available (see :mod:`course.mindmap.fonts`); without one, the English half alone,
so no empty boxes appear, and a warning says so once.
"""

from __future__ import annotations

import io
import logging
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course.errors import CourseArgumentError
from course.mindmap import fonts
from course.mindmap.model import CJK, MindMap, Node, has_cjk, root_of, split_label

__all__ = [
    "BRANCH_COLOURS",
    "LAYOUTS",
    "figure_bytes",
    "layout_boxes",
    "render",
]

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
LAYOUTS = ("tree", "radial")


def _display_text(node: Node, cjk: bool, width: int) -> str:
    english, chinese = split_label(node.label)
    if not cjk and has_cjk(english):
        english = CJK.sub("", english).strip() or "?"
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
        size = _font_size(item, font["size"])
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




def _fonts(cjk: bool | None) -> tuple[list[str], bool]:
    """The font family list and whether Chinese is drawn; warns once when it cannot be."""
    family_cjk = fonts.cjk_font()
    if cjk is not False and not family_cjk:
        fonts.warn_once_without_cjk()
    if family_cjk and cjk is not False:
        return ["DejaVu Sans", family_cjk], True
    return ["DejaVu Sans"], False


def _laid_out(
    root: Node, layout: str, cjk: bool | None, font_size: float
) -> tuple[list[_Placed], list[str]]:
    if layout not in LAYOUTS:
        raise CourseArgumentError(f"unknown layout {layout!r}; use 'tree' or 'radial'.")
    family, use_cjk = _fonts(cjk)
    placed = _place(root, use_cjk, width=26 if layout == "tree" else 20)
    _measure(placed, {"family": family, "size": font_size})
    (_layout_tree if layout == "tree" else _layout_radial)(placed)
    return placed, family


def layout_boxes(root: Node, layout: str = "tree", cjk: bool | None = None) -> list[_Placed]:
    """The placed boxes (inches) that :func:`render` draws; for overlap checks."""
    return _laid_out(root, layout, cjk, 10.0)[0]


def _font_size(item: _Placed, base: float) -> float:
    return base * (1.25 if item.depth == 0 else 1.08 if item.depth == 1 else 1.0)


def _colour(item: _Placed) -> str:
    return "#333333" if item.branch < 0 else BRANCH_COLOURS[item.branch % 10]


def _edge(parent: _Placed, item: _Placed, layout: str) -> Any:
    from matplotlib.path import Path as MPath

    if layout == "tree":
        start, end = (parent.x + parent.w, parent.y), (item.x, item.y)
        mid = (start[0] + end[0]) / 2
        verts = [start, (mid, start[1]), (mid, end[1]), end]
        codes = [MPath.MOVETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4]
    else:
        verts = [(parent.x + parent.w / 2, parent.y), (item.x + item.w / 2, item.y)]
        codes = [MPath.MOVETO, MPath.LINETO]
    return MPath(verts, codes)


def _draw_items(
    ax: Any, placed: list[_Placed], layout: str, family: list[str], size: float
) -> None:
    from matplotlib.patches import FancyBboxPatch, PathPatch

    for item in placed:
        if item.parent is not None:
            width = 2.4 if item.depth == 1 else 1.4
            edge = _edge(item.parent, item, layout)
            ax.add_patch(PathPatch(edge, fill=False, edgecolor=_colour(item),
                                   linewidth=width, alpha=0.8, zorder=1))
    for item in placed:
        colour = _colour(item)
        face = "#333333" if item.depth == 0 else _lighten(colour, 0.35 if item.depth == 1 else 0.85)
        ax.add_patch(FancyBboxPatch(
            (item.x, item.y - item.h / 2), item.w, item.h,
            boxstyle="round,pad=0,rounding_size=0.08", facecolor=face, edgecolor=colour,
            linewidth=1.2, zorder=2,
        ))
        ax.text(
            item.x + item.w / 2, item.y, item.text, ha="center", va="center",
            fontsize=_font_size(item, size), family=family,
            color="white" if item.depth <= 1 else "#1a1a1a",
            fontweight="bold" if item.depth <= 1 else "normal", linespacing=1.15, zorder=3,
        )


def render(
    mind: MindMap | Node,
    path: str | Path | None = None,
    fmt: str = "png",
    layout: str = "tree",
    cjk: bool | None = None,
    title: str = "",
    dpi: int = 100,
    font_size: float = 10.0,
) -> Any:
    """Draw a map (or the tree under a node) and return the matplotlib Figure.

    Args:
        mind: a :class:`MindMap` (its name becomes the title) or a root :class:`Node`.
        path: where to save; the suffix (``.png``/``.svg``/``.pdf``) wins over ``fmt``.
        fmt: the format when ``path`` has no suffix.
        layout: ``"tree"`` (left to right) or ``"radial"`` (root in the centre).
        cjk: draw the Chinese half of labels; None means "when a CJK font is available".
            Without one, only the English half is drawn (no empty boxes), and a
            warning says so once.
        title: the figure's label (the root says it on the picture).
        dpi: dots per inch; at 100 the 10 pt text is readable at 100% zoom.
        font_size: base font size in points.

    Raises:
        CourseArgumentError: unknown layout.
    """
    from matplotlib.figure import Figure

    root = root_of(mind)
    if not title and isinstance(mind, MindMap):
        title = mind.name
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)  # single-weight CJK fonts warn about bold; harmless
    try:
        placed, family = _laid_out(root, layout, cjk, font_size)
        margin = 0.25
        x0 = min(i.x for i in placed) - margin
        x1 = max(i.x + i.w for i in placed) + margin
        y0 = min(i.y - i.h / 2 for i in placed) - margin
        y1 = max(i.y + i.h / 2 for i in placed) + margin
        fig = Figure(figsize=(x1 - x0, y1 - y0), dpi=dpi, facecolor="white")
        fig.set_label(title or root.english)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set(xlim=(x0, x1), ylim=(y0, y1))
        ax.set_axis_off()
        _draw_items(ax, placed, layout, family, font_size)
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, format=path.suffix[1:].lower() or fmt, dpi=dpi, facecolor="white")
    finally:
        font_log.setLevel(level)
    return fig


def figure_bytes(fig: Any, fmt: str = "png") -> bytes:
    """The figure encoded as ``fmt`` bytes (for ``IPython.display.Image``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=fig.dpi, facecolor="white")
    return buffer.getvalue()
