"""Release: regenerate ``notebooks/`` from ``solutions/`` with nbgrader.

nbgrader's ``generate_assignment`` removes solutions and hidden tests, locks
cells and records checksums. We then strip outputs and write every notebook
in one canonical JSON form, so that a stale release shows up as a diff.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from course.config import ROOT, ROOT_HELP, HelpFormatter, course_root
from course.errors import CourseArgumentError
from course.grading.gradebook import generate_assignment

if TYPE_CHECKING:  # nbformat takes seconds to import: `course --help` stays fast
    import nbformat

__all__ = [
    "MAY_FAIL_TAG",
    "NOTEBOOK_KEEP_METADATA",
    "is_graded_test",
    "lesson_notebook",
    "lessons",
    "let_run_all_continue",
    "normalize_notebook",
    "release",
    "release_main",
]

NOTEBOOK_KEEP_METADATA = ("kernelspec", "language_info")
# The tag JupyterLab (and nbclient) read as "this cell may fail: run on".
MAY_FAIL_TAG = "raises-exception"


def lessons(root: Path | str = ROOT) -> list[str]:
    """Lesson ids, in order: every ``solutions/<id>/<id>.ipynb``."""
    root = Path(root)
    return sorted(p.parent.name for p in (root / "solutions").glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def lesson_notebook(lesson: str, kind: str = "solutions", root: Path | str = ROOT) -> Path:
    """Path of a lesson's notebook in ``solutions`` or ``notebooks``."""
    return Path(root) / kind / lesson / f"{lesson}.ipynb"


def is_graded_test(cell: nbformat.NotebookNode) -> bool:
    """True for an autograded test cell (nbgrader ``grade`` without ``solution``)."""
    grader = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(grader.get("grade")) and not grader.get("solution")


def let_run_all_continue(nb: nbformat.NotebookNode) -> None:
    """Tag every graded test cell ``raises-exception``, so Run All goes on past it.

    In the unsolved release an exercise's test fails. Without the tag, JupyterLab's Run All
    stops there (the kernel drops every queued cell) and the rest of the lesson never runs.
    nbgrader ignores tags (they are not in its checksums), so grading is unchanged. Only
    releases get the tag: papermill runs the solutions and must still fail on a broken test.
    """
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if is_graded_test(cell) and MAY_FAIL_TAG not in tags:
            cell.metadata["tags"] = [*tags, MAY_FAIL_TAG]


def normalize_notebook(path: Path, release: bool = False) -> None:
    """Strip outputs, execution counts and run metadata; rewrite in canonical JSON.

    With ``release``, also :func:`let_run_all_continue`.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata = nbformat.NotebookNode(
        {k: nb.metadata[k] for k in NOTEBOOK_KEEP_METADATA if k in nb.metadata}
    )
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("collapsed", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    if release:
        let_run_all_continue(nb)
    nbformat.validate(nb)
    text = nbformat.writes(nb, version=4)
    text = text if text.endswith("\n") else text + "\n"
    if path.read_text(encoding="utf-8") == text:
        return  # already canonical: a reader beside us never sees the file half-written
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(scratch, path.stat().st_mode & 0o777)  # mkstemp's file is private
    os.replace(scratch, path)  # atomic: readers see the old file or the new one


def release(selected: list[str] | None = None, *, root: Path | str = ROOT,
            out: Path | None = None) -> list[Path]:
    """Regenerate release notebooks for ``selected`` lessons (default: all) of the course at
    ``root``.

    With ``out`` set, nbgrader runs on a temporary copy of the course and the
    release lands in ``out/<lesson>/``; the course itself is untouched. This is
    how the hygiene test checks that ``notebooks/`` is up to date.

    Returns:
        The written release notebooks.

    Raises:
        CourseArgumentError: ``root`` is not a course directory (see
            :func:`course.config.course_root`), or a lesson is unknown.
        CourseGradingError: nbgrader failed.
    """
    root = course_root(root)
    if not lessons(root):
        raise CourseArgumentError(
            f"{root / 'solutions'} holds no lesson (solutions/<lesson>/<lesson>.ipynb): run "
            "`course release` in the course directory or pass --root DIR.")
    chosen = selected or lessons(root)
    unknown = [lesson for lesson in chosen if not lesson_notebook(lesson, root=root).is_file()]
    if unknown:
        raise CourseArgumentError(
            f"No source notebook for {', '.join(unknown)}. Expected "
            f"solutions/<lesson>/<lesson>.ipynb in {root}; known lessons: "
            f"{', '.join(lessons(root))}.")
    for lesson in chosen:
        normalize_notebook(lesson_notebook(lesson, root=root))
    if out is None:
        return [_release_in_place(lesson, root) for lesson in chosen]
    written = []
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        scratch = Path(tmp)
        shutil.copy2(root / "nbgrader_config.py", scratch / "nbgrader_config.py")
        for lesson in chosen:
            shutil.copytree(root / "solutions" / lesson, scratch / "solutions" / lesson)
            generate_assignment(scratch, lesson)
            target = Path(out) / lesson
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(scratch / "notebooks" / lesson, target)
            for notebook in target.glob("*.ipynb"):
                normalize_notebook(notebook, release=True)
            written.append(target / f"{lesson}.ipynb")
    return written


def _release_in_place(lesson: str, root: Path) -> Path:
    generate_assignment(root, lesson)
    for notebook in (root / "notebooks" / lesson).glob("*.ipynb"):
        normalize_notebook(notebook, release=True)
    return lesson_notebook(lesson, "notebooks", root)


def release_main(argv: list[str] | None = None) -> int:
    """``course release [LESSON...] [--root DIR]``: regenerate the trainees' notebooks."""
    parser = argparse.ArgumentParser(
        prog="course release", formatter_class=HelpFormatter,
        description="Regenerate notebooks/ (the trainees' release) from solutions/ with "
                    "nbgrader: solutions and hidden tests removed, outputs stripped.")
    parser.add_argument("lessons", nargs="*",
                        help="lesson ids, e.g. 00-course-map (default: every lesson)")
    parser.add_argument("--root", default=".", help=ROOT_HELP)
    args = parser.parse_args(argv)
    for path in release(args.lessons or None, root=args.root):
        print(f"released {path}")
    return 0
