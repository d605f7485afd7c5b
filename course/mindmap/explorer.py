"""The notebook side of a mind map: the ipywidgets explorer and :func:`show`."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from course.mindmap.drawing import figure_bytes, render
from course.mindmap.formats import load, mermaid_markdown, to_mermaid
from course.mindmap.model import MindMap, Node
from course.mindmap.outline import mindmap_dir

__all__ = [
    "Explorer",
    "show",
    "show_mermaid",
]


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


def _as_map(name: str | Path | MindMap) -> MindMap:
    return name if isinstance(name, MindMap) else load(name)


def show_mermaid(name: str | Path | MindMap) -> None:
    """Display the map's Mermaid ``mindmap`` source (JupyterLab 4 draws it from Markdown)."""
    from IPython.display import display

    mind = _as_map(name)
    fenced = mermaid_markdown(mind)
    display(
        {"text/markdown": fenced, "text/vnd.mermaid": to_mermaid(mind), "text/plain": fenced},
        raw=True,
    )


def show(
    name: str | Path | MindMap, layout: str = "tree", widget: bool = True, mermaid: bool = False
) -> None:
    """Display a map in a notebook: one picture, then the explorer widget.

    Args:
        name: a map name (``"02-tokenization"``), a path, or a :class:`MindMap`.
        layout: ``"tree"`` or ``"radial"``.
        widget: also show the clickable explorer (needs a live kernel to react).
        mermaid: also show the Mermaid source (or call :func:`show_mermaid`).

    Returns nothing, so a cell that ends with ``show(...)`` prints no repr. Safe
    headless (papermill, nbconvert): the picture is a PNG, so it survives export.
    """
    from IPython.display import Image, display

    mind = _as_map(name)
    display(Image(data=figure_bytes(render(mind, layout=layout)), format="png"))
    if mermaid:
        show_mermaid(mind)
    if widget:
        display(Explorer(mind).widget)
