"""Generated submissions: every case the autograder must get right, written as JupyterLab does.

``make_case`` builds one submission from the release and source notebooks;
``make_submissions`` writes a batch to ``submitted/<student>/<lesson>/``, the
way JupyterLab (the Jupyter server's contents API) saves a notebook: nbformat
JSON, each ``source`` a list of lines, indent 1, a trailing newline.
``EXPECTED_OUTCOME`` is what ``grade_lesson`` says about each case.
"""

from __future__ import annotations

import codecs
import copy
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from course.errors import CourseArgumentError
from course.grading.report import FAILED, FLAGGED, GRADED

__all__ = [
    "EXPECTED_OUTCOME",
    "GOOD_CASES",
    "SUBMISSION_CASES",
    "cohort_cases",
    "copied_into_new_notebook",
    "inject",
    "jupyterlab_json",
    "make_case",
    "make_submissions",
    "nbgrader_cell",
    "python_notebook",
    "solved",
]

GOOD_CASES = ("solution", "release", "partial")
SUBMISSION_CASES = (
    *GOOD_CASES,
    "deleted_test",
    "duplicated_cell",
    "edited_test",
    "infinite_loop",
    "sys_exit",
    "os_exit",
    "import_error",
    "huge_output",
    "invalid_json",
    "other_lesson",
    "empty_notebook",
    "metadata_stripped",
    "bom",
    "crlf",
)
# What grade_lesson says about each generated case: (status, words in the reason).
EXPECTED_OUTCOME = {
    "solution": (GRADED, ""),
    "release": (GRADED, ""),
    "partial": (GRADED, ""),
    "deleted_test": (FLAGGED, "deleted autograded cell"),
    "duplicated_cell": (FLAGGED, "duplicated"),
    "edited_test": (FLAGGED, "edited read-only cell"),
    "infinite_loop": (FLAGGED, "timeout"),
    "sys_exit": (FLAGGED, "sys.exit()"),
    "os_exit": (FLAGGED, "kernel died"),
    "import_error": (GRADED, "ModuleNotFoundError"),
    "huge_output": (FLAGGED, "stripped"),
    "invalid_json": (FAILED, "invalid notebook"),
    "other_lesson": (FAILED, "notebook from another lesson"),
    "empty_notebook": (FAILED, "empty notebook"),
    "metadata_stripped": (FLAGGED, "nbgrader metadata missing"),
    "bom": (GRADED, "byte-order mark"),
    "crlf": (GRADED, "CRLF"),
}


def jupyterlab_json(nb) -> str:
    """The notebook as the Jupyter server writes it: list-of-lines sources, indent 1, a final
    newline. Not validated, so malformed cases stay malformed."""
    import nbformat

    return nbformat.v4.writes_json(nb) + "\n"


def nbgrader_cell(kind: str, source: str, grade_id: str, points: int = 0):
    """A source-notebook cell with nbgrader metadata.

    ``kind``: ``"answer"`` (code the student writes), ``"tests"`` (read-only code
    worth ``points``) or ``"note"`` (read-only Markdown).

    Raises:
        CourseArgumentError: an unknown kind.
    """
    import nbformat

    if kind not in ("answer", "tests", "note"):
        raise CourseArgumentError(f"kind must be answer, tests or note, got {kind!r}.")
    meta = {"grade": kind == "tests", "grade_id": grade_id, "locked": kind != "answer",
            "schema_version": 3, "solution": kind == "answer", "task": False}
    if kind == "tests":
        meta["points"] = points
    make = nbformat.v4.new_markdown_cell if kind == "note" else nbformat.v4.new_code_cell
    return make(source, metadata={"nbgrader": meta})


def python_notebook(cells: list):
    """A notebook of ``cells`` for the ``python3`` kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def _solution_text(source: str) -> str:
    """The code between BEGIN/END SOLUTION markers, markers removed."""
    kept = [line for line in source.splitlines()
            if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line]
    return "\n".join(kept)


def _graded_cells(nb) -> tuple[list[int], list[int]]:
    solutions, tests = [], []
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            solutions.append(index)
        elif meta.get("grade") and not meta.get("solution"):
            tests.append(index)
    return solutions, tests


def solved(release_nb, source_nb, which: list[int] | None = None):
    """A copy of the release notebook with (some) solution cells answered from the source.

    ``which`` lists exercise numbers (0-based, in order of solution cells); default all.
    """
    nb = copy.deepcopy(release_nb)
    answers = {c.metadata["nbgrader"]["grade_id"]: _solution_text(c.source)
               for c in source_nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    solutions, _ = _graded_cells(nb)
    for number, index in enumerate(solutions):
        if which is None or number in which:
            cell = nb.cells[index]
            cell.source = answers.get(cell.metadata["nbgrader"]["grade_id"], cell.source)
    return nb


def inject(nb, code: str, exercise: int = 0, *, at_end: bool = False):
    """Prepend (or append) ``code`` to the solution cell of exercise ``exercise``."""
    solutions, _ = _graded_cells(nb)
    cell = nb.cells[solutions[exercise]]
    cell.source = f"{cell.source}\n{code}" if at_end else f"{code}\n{cell.source}"
    return nb


def copied_into_new_notebook(nb):
    """The cells pasted into a fresh notebook: same sources, new cell ids, no metadata."""
    import nbformat

    fresh = nbformat.v4.new_notebook(metadata=copy.deepcopy(nb.metadata))
    makers = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
              "raw": nbformat.v4.new_raw_cell}
    fresh.cells = [makers[c.cell_type](c.source) for c in nb.cells]
    return fresh


def make_case(case: str, release_nb, source_nb) -> Any:
    """One generated submission: a NotebookNode, or ``str``/``bytes`` for the file's content.

    Raises:
        CourseArgumentError: ``case`` is not one of ``SUBMISSION_CASES``.
    """
    import nbformat

    if case not in SUBMISSION_CASES:
        raise CourseArgumentError(
            f"Unknown submission case {case!r}; use one of {SUBMISSION_CASES}.")
    if case == "release":
        return copy.deepcopy(release_nb)
    if case == "partial":
        n = len(_graded_cells(release_nb)[0])
        return solved(release_nb, source_nb, which=list(range(0, n, 2)))
    if case in ("edited_test", "empty_notebook"):
        return _unsolved_case(case, release_nb)
    nb = solved(release_nb, source_nb)
    if case in ("bom", "crlf", "invalid_json", "metadata_stripped", "other_lesson"):
        return _file_case(case, nb)
    solutions, tests = _graded_cells(nb)
    if case == "deleted_test":
        del nb.cells[tests[0]]
    elif case == "duplicated_cell":
        nb.cells.insert(tests[0] + 1, copy.deepcopy(nb.cells[tests[0]]))
    elif case == "infinite_loop":
        inject(nb, "while True:\n    pass", 0)
    elif case == "sys_exit":
        inject(nb, "import sys\nsys.exit('student gave up')", 0)
    elif case == "os_exit":
        inject(nb, "import os\nos._exit(1)", len(solutions) - 1)
    elif case == "import_error":
        inject(nb, "import not_a_real_module_for_grading", 0)
    elif case == "huge_output":
        big = "x" * 999 + "\n"
        nb.cells[solutions[0]].outputs = [nbformat.v4.new_output(
            "stream", name="stdout", text=big * 50_000)]  # 50 MB
    return nb


def _unsolved_case(case: str, release_nb):
    import nbformat

    if case == "empty_notebook":
        return nbformat.v4.new_notebook(metadata=copy.deepcopy(release_nb.metadata))
    nb = copy.deepcopy(release_nb)  # edited_test: unsolved, so only edited tests could pass
    for index in _graded_cells(nb)[1]:
        nb.cells[index].source = "# tests removed by the student\npass"
    return nb


def _file_case(case: str, nb) -> Any:
    """Solved notebooks saved oddly: with a BOM, CRLF, truncated, stripped, relabelled."""
    if case == "bom":
        return codecs.BOM_UTF8 + jupyterlab_json(nb).encode("utf-8")
    if case == "crlf":  # Windows line endings in the sources and in the file
        for cell in nb.cells:
            cell.source = cell.source.replace("\n", "\r\n")
        return jupyterlab_json(nb).replace("\n", "\r\n").encode("utf-8")
    if case == "invalid_json":
        return jupyterlab_json(nb)[:-200]  # a truncated upload
    if case == "metadata_stripped":
        return copied_into_new_notebook(nb)
    for cell in nb.cells:  # other_lesson
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("grade_id"):
            meta["grade_id"] = "other-lesson-" + meta["grade_id"]
    return nb


def make_submissions(source_notebook: Path | str, release_notebook: Path | str,
                     root: Path | str, lesson: str,
                     students: dict[str, str | Callable[[Any, Any], Any]]) -> dict[str, Path]:
    """Write generated submissions to ``root/submitted/<student>/<lesson>/<lesson>.ipynb``.

    Notebooks are written as JupyterLab saves them (``jupyterlab_json``).

    Args:
        source_notebook: the lesson's source (solutions) notebook.
        release_notebook: the released notebook (what students download).
        root: the course directory.
        lesson: the assignment id.
        students: student id -> a case from ``SUBMISSION_CASES`` or a callable
            ``(release_nb, source_nb) -> NotebookNode | str | bytes``.

    Returns:
        Student id -> path written.
    """
    import nbformat

    release_nb = nbformat.read(str(release_notebook), as_version=4)
    source_nb = nbformat.read(str(source_notebook), as_version=4)
    written = {}
    for student, case in students.items():
        made = (case(release_nb, source_nb) if callable(case)
                else make_case(case, release_nb, source_nb))
        path = Path(root) / "submitted" / student / lesson / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(made, bytes):
            path.write_bytes(made)
        else:
            text = made if isinstance(made, str) else jupyterlab_json(made)
            path.write_bytes(text.encode("utf-8"))
        written[student] = path
    return written


def cohort_cases(n_students: int = 40, seed: int = 0) -> dict[str, str]:
    """Student id -> case: every malformed case once, the rest good or partly right.

    Raises:
        CourseArgumentError: fewer students than malformed cases.
    """
    bad = [c for c in SUBMISSION_CASES if c not in GOOD_CASES]
    if n_students < len(bad):
        raise CourseArgumentError(
            f"A cohort needs at least {len(bad)} students, got {n_students}.")
    rng = random.Random(seed)
    good = ["solution", "partial", "release"]
    cases = bad + [rng.choices(good, weights=[6, 3, 1])[0] for _ in range(n_students - len(bad))]
    rng.shuffle(cases)
    return {f"student{i + 1:03d}": case for i, case in enumerate(cases)}
