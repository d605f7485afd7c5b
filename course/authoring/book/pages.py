"""The book's sources: one page per lesson, an index with the course map, the glossary.

A lesson page is the executed release, prepared for reading without a kernel:

* exercise cells show the trainee's starting code, and their graded tests show no output
  (unsolved, they fail by design: Validate in JupyterLab is where they run);
* a widget needs a live kernel, so the map explorer becomes the map's outline with links
  to the lesson's sections, and any other widget becomes a note saying where it works;
* links to other lessons and to the glossary point at the book's pages.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from course.authoring.book.links import rewrite_link, rewrite_markdown
from course.authoring.release import is_graded_test
from course.config import ROOT

if TYPE_CHECKING:  # nbformat takes seconds to import: `course --help` stays fast
    import nbformat

    from course.mindmap.model import MindMap

__all__ = [
    "KEEP_METADATA",
    "SHOW_MAP",
    "WIDGET",
    "WIDGET_NOTE",
    "course_map",
    "lesson_page",
    "notebook_title",
    "outline_html",
    "outline_markdown",
    "prepare_notebook",
    "write_sources",
]

WIDGET = "application/vnd.jupyter.widget-view+json"
SHOW_MAP = re.compile(r"""mindmap\.show\(\s*["']([^"']+)["']""")
KEEP_METADATA = ("kernelspec", "language_info")
WIDGET_NOTE = (
    "<p><em>An interactive widget: open this lesson in JupyterLab (<code>make lab</code>) and "
    "run it to use it. / 交互式控件：请在 JupyterLab 中运行本课使用。</em></p>"
)


def course_map(root: Path | str = ROOT) -> MindMap:
    """The course's map, from ``root/mindmaps/course.md`` (else the installed course's)."""
    from course import mindmap

    source = Path(root) / "mindmaps" / "course.md"
    return mindmap.load(source if source.is_file() else "course")


def lesson_page(lesson: str) -> PurePosixPath:
    """The book path of a lesson's page."""
    return PurePosixPath(lesson, f"{lesson}.ipynb")


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the notebook's first ``# `` heading, without Markdown marks."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line[2:])
                    return re.sub(r"[*_`]", "", text).strip()
    return fallback


def _map_source(mind) -> PurePosixPath:
    """The repository path of a map's outline, for resolving its relative links."""
    return PurePosixPath("mindmaps", Path(mind.source).name)


def outline_html(mind, page: PurePosixPath, lessons: list[str]) -> str:
    """A map as nested HTML lists; linked nodes link to the book's pages (built ``.html``)."""

    def item(node) -> str:
        label = html.escape(node.label)
        link = rewrite_link(node.link, _map_source(mind), page, lessons, html=True) \
            if node.link else None
        text = f'<a href="{html.escape(link, quote=True)}">{label}</a>' if link else label
        note = f" — {html.escape(node.note)}" if node.note else ""
        kids = "".join(item(child) for child in node.children)
        return f"<li>{text}{note}" + (f"<ul>{kids}</ul>" if kids else "") + "</li>"

    return f'<ul class="course-map-outline">{item(mind.root)}</ul>'


def outline_markdown(mind, page: PurePosixPath, lessons: list[str]) -> str:
    """A map as a nested Markdown list, its links pointing at the book's sources."""
    lines = []
    for depth, node in mind.root.walk():
        link = rewrite_link(node.link, _map_source(mind), page, lessons) if node.link else None
        text = f"[{node.label}]({link})" if link else node.label
        note = f" — {node.note}" if node.note else ""
        lines.append(f"{'    ' * depth}- {text}{note}")
    return "\n".join(lines) + "\n"


def _explorer_output(source: str, page: PurePosixPath, lessons: list[str]) -> dict:
    import nbformat

    from course import mindmap

    shown = SHOW_MAP.search(source)
    if not shown:
        return nbformat.v4.new_output("display_data", data={"text/html": WIDGET_NOTE})
    mind = mindmap.load(shown[1])
    body = (
        "<details open><summary>Map outline / 导图大纲 (in JupyterLab: the clickable explorer "
        "/ 在 JupyterLab 中是可点击的导图浏览器)</summary>"
        f"{outline_html(mind, page, lessons)}</details>"
    )
    return nbformat.v4.new_output("display_data", data={"text/html": body})


def _prepare_code_cell(cell, page: PurePosixPath, lessons: list[str]) -> None:
    grader = cell.metadata.get("nbgrader", {})
    if is_graded_test(cell) or grader.get("solution"):
        cell.outputs, cell.execution_count = [], None
        return
    cell.outputs = [
        _explorer_output(cell.source, page, lessons) if WIDGET in out.get("data", {}) else out
        for out in cell.outputs
    ]


def prepare_notebook(executed: Path, lesson: str, lessons: list[str]) -> nbformat.NotebookNode:
    """An executed release, ready to be a book page (see the module docstring)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    nb.metadata = nbformat.NotebookNode({k: nb.metadata[k] for k in KEEP_METADATA
                                         if k in nb.metadata})
    page = lesson_page(lesson)
    source = PurePosixPath("notebooks", lesson, f"{lesson}.ipynb")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source, _ = rewrite_markdown(cell.source, source, page, lessons, html=True)
        elif cell.cell_type == "code":
            _prepare_code_cell(cell, page, lessons)
    return nb


def _index(titles: dict[str, str], profile: str, map_markdown: str, map_title: str) -> str:
    lesson_lines = "\n".join(f"- [{title}]({lesson_page(lesson)})"
                             for lesson, title in titles.items())
    return f"""# {map_title}

The course's lessons as trainees get them (the release, without solutions), executed with
the `{profile}` profile. Exercises show their starting code, not the answers: open a lesson
in JupyterLab (`make lab`) to solve it and check it with **Validate**. Widgets need a
running kernel; here each one is replaced by its outline or a note.

本书收录学员版课程（不含答案），以 `{profile}` 配置执行。练习只给出起始代码：请在 JupyterLab
（`make lab`）中完成练习，并用 **Validate** 检查。

## Lessons / 课程

{lesson_lines}

Every term in English and Chinese: [Glossary / 术语表](glossary.md).

## Course map / 课程地图

![The course map / 课程地图](maps/course.png)

{map_markdown}"""


def write_sources(docs: Path, executed: dict[str, Path], profile: str,
                  root: Path = ROOT) -> dict[str, str]:
    """Write the book's sources into ``docs``: lesson pages, index, glossary, map picture.

    Args:
        docs: the folder to write (emptied first).
        executed: lesson -> its executed release notebook, in lesson order.
        profile: the profile the lessons ran with (said on the index page).
        root: the course checkout (for the glossary).

    Returns:
        lesson -> page title, in lesson order.
    """
    import nbformat

    from course import mindmap

    shutil.rmtree(docs, ignore_errors=True)
    lessons = list(executed)
    titles = {}
    for lesson, path in executed.items():
        nb = prepare_notebook(path, lesson, lessons)
        titles[lesson] = notebook_title(nb, lesson)
        target = docs / lesson_page(lesson)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
    glossary_md = (root / "mindmaps" / "glossary.md").read_text(encoding="utf-8")
    glossary_md, _ = rewrite_markdown(glossary_md, PurePosixPath("mindmaps/glossary.md"),
                                      PurePosixPath("glossary.md"), lessons)
    (docs / "glossary.md").write_text(glossary_md, encoding="utf-8")
    the_map = course_map(root)
    (docs / "maps").mkdir()
    (docs / "maps" / "course.png").write_bytes(mindmap.figure_bytes(mindmap.render(the_map)))
    index = _index(titles, profile, outline_markdown(the_map, PurePosixPath("index.md"),
                                                     lessons), the_map.root.label)
    (docs / "index.md").write_text(index, encoding="utf-8")
    return titles
