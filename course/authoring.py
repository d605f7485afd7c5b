"""Maintainer helpers to write nbgrader *source* notebooks from Python.

Lessons are edited as notebooks in ``solutions/``; these helpers only make it
quick to create one with the right nbgrader metadata. Not used by the lessons at run time.

Usage::

    from course.authoring import md, code, params, answer, tests, write
    write("solutions/00-x/00-x.ipynb", [md("# Title"), params("SEED = 42"), ...])
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

_counter = {"n": 0}


def _cell_id(prefix: str) -> str:
    _counter["n"] += 1
    return f"{prefix}-{_counter['n']:03d}"


def _nbgrader(
    grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None
) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def md(text: str, cid: str | None = None) -> nbformat.NotebookNode:
    """A read-only Markdown cell (locked, so trainees cannot break the lesson text)."""
    cell = nbformat.v4.new_markdown_cell(text.strip("\n"))
    cell.id = cid or _cell_id("md")
    return cell


def code(src: str, cid: str | None = None, tags: list[str] | None = None) -> nbformat.NotebookNode:
    """An ordinary code cell the trainee may run and edit."""
    cell = nbformat.v4.new_code_cell(src.strip("\n"))
    cell.id = cid or _cell_id("code")
    if tags:
        cell.metadata["tags"] = tags
    return cell


def params(src: str) -> nbformat.NotebookNode:
    """The papermill ``parameters`` cell."""
    return code(src, cid="parameters", tags=["parameters"])


def answer(src: str, grade_id: str) -> nbformat.NotebookNode:
    """A solution cell: code between BEGIN/END SOLUTION is removed on release."""
    cell = code(src, cid=grade_id)
    cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=False, solution=True, locked=False)
    return cell


def tests(src: str, grade_id: str, points: int) -> nbformat.NotebookNode:
    """An autograded test cell (locked); put hidden tests between BEGIN/END HIDDEN TESTS."""
    cell = code(src, cid=grade_id)
    cell.metadata["nbgrader"] = _nbgrader(
        grade_id, grade=True, solution=False, locked=True, points=points
    )
    return cell


def write(path: str | Path, cells: list) -> Path:
    """Write a source notebook with the python3 kernel."""
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3", "language": "python", "name": "python3"
    }
    nb.metadata["language_info"] = {"name": "python"}
    ids = [c.id for c in cells]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate cell ids: {sorted(dupes)}")
    for c in cells:
        if not re.fullmatch(r"[a-zA-Z0-9-_]+", c.id):
            raise ValueError(f"bad cell id {c.id!r}")
    nbformat.validate(nb)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
