"""Grade every submission of a lesson: pre-check, autograde in a child, read the result back."""

from __future__ import annotations

import queue
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from course.errors import CourseArgumentError, CourseGradingError
from course.grading.gradebook import source_cells, student_scores
from course.grading.marks import KERNEL_DIED, TRUNCATED_MARK
from course.grading.parallel import merge_back, private_course
from course.grading.precheck import precheck
from course.grading.report import FAILED, FLAGGED, GRADED, GradeReport, GradeRow
from course.grading.worker import GradingWorker

__all__ = [
    "grade_lesson",
    "inspect_autograded",
]


def grade_lesson(lesson: str, *, root: Path | str = ".", students: list[str] | None = None,
                 jobs: int = 1, cell_timeout: int = 60, max_output_bytes: int = 1_000_000,
                 feedback: bool = True) -> GradeReport:
    """Autograde every submission of ``lesson`` and generate feedback; never stop on one.

    Args:
        lesson: assignment id, e.g. ``"00-course-map"``.
        root: the nbgrader course directory.
        students: grade only these (default: every ``submitted/*/<lesson>/``).
        jobs: students graded at once; each in a private course copy, merged serially.
        cell_timeout: seconds a cell may run before it is interrupted and scores 0.
        max_output_bytes: the cap on a cell's outputs.
        feedback: also write ``feedback/<student>/<lesson>/<lesson>.html``.

    Returns:
        A GradeReport with one row per submission folder.

    Raises:
        CourseArgumentError: ``jobs`` is below 1.
        CourseGradingError: the lesson is unknown to the gradebook, or a named student
            has no submission folder.
    """
    from tqdm.auto import tqdm

    root = Path(root).resolve()
    if jobs < 1:
        raise CourseArgumentError(f"--jobs must be 1 or more, got {jobs}.")
    source = source_cells(root, lesson)
    names = _students(root, lesson, students)
    started = time.perf_counter()
    settings: dict[str, Any] = dict(cell_timeout=cell_timeout,
                                    max_output_bytes=max_output_bytes, feedback=feedback)
    todo: queue.Queue = queue.Queue()
    for name in names:
        todo.put(name)
    rows: dict[str, GradeRow] = {}
    bar = tqdm(total=len(names), desc=f"grading {lesson}", unit="student")

    def work() -> None:
        worker = GradingWorker(**settings)
        try:
            while True:
                try:
                    name = todo.get_nowait()
                except queue.Empty:
                    return
                rows[name] = _grade_student(worker, root, lesson, name, source,
                                            isolated=jobs > 1, **settings)
                bar.update()
        finally:
            worker.close()

    threads = [threading.Thread(target=work) for _ in range(min(jobs, max(1, len(names))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bar.close()
    report = GradeReport(lesson, [rows[name] for name in names])
    report.wall_s = round(time.perf_counter() - started, 2)
    return report


def _students(root: Path, lesson: str, students: list[str] | None) -> list[str]:
    submitted = root / "submitted"
    found = sorted(p.parent.name for p in submitted.glob(f"*/{lesson}") if p.is_dir())
    if students is None:
        return found
    missing = [s for s in students if s not in found]
    if missing:
        raise CourseGradingError(
            f"No submission folder submitted/<student>/{lesson}/ for: {', '.join(missing)}. "
            "Collect them first or drop them from --students.")
    return list(students)


def _grade_student(worker: GradingWorker, root: Path, lesson: str, student: str,
                   source: dict[str, Any], *, cell_timeout: int, max_output_bytes: int,
                   feedback: bool, isolated: bool) -> GradeRow:
    """Pre-check, autograde in the worker, read back; never raises."""
    started = time.perf_counter()
    row = GradeRow(student, None, None, FAILED)
    try:
        _grade_into(row, worker, root, lesson, source, cell_timeout=cell_timeout,
                    max_output_bytes=max_output_bytes, feedback=feedback, isolated=isolated)
    except Exception as exc:  # the batch goes on; the row says why
        row.status, row.reason = FAILED, f"grading error: {type(exc).__name__}: {exc}"[:400]
    row.seconds = round(time.perf_counter() - started, 2)
    return row


def _grade_into(row: GradeRow, worker: GradingWorker, root: Path, lesson: str,
                source: dict[str, Any], *, cell_timeout: int, max_output_bytes: int,
                feedback: bool, isolated: bool) -> None:
    student = row.student
    folder = root / "submitted" / student / lesson
    notebook = folder / f"{lesson}.ipynb"
    if not notebook.exists():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        row.reason = f"missing {lesson}.ipynb in {folder}" + (
            f" (found {', '.join(others)}: rename it)" if others else "")
        return
    check = precheck(notebook, source, max_output_bytes=max_output_bytes)
    if check.fatal:
        row.reason = check.fatal
        return
    n_code = max(check.code_cells, len(source["grade_ids"]))
    wall = 120 + cell_timeout * (n_code + 2)
    private = isolated or check.repaired
    where = (private_course(root, lesson, student, check.notebook if check.repaired else None)
             if private else root)
    try:
        result = worker.grade(where, lesson, student, wall_timeout=wall)
        if private and result["success"]:
            merge_back(where, root, lesson, student)
    finally:
        if private:
            shutil.rmtree(where.parent, ignore_errors=True)
    _read_back(row, root, lesson, source, check.notes, check.info, result, feedback)


def _read_back(row: GradeRow, root: Path, lesson: str, source: dict[str, Any], notes: list[str],
               info: list[str], result: dict[str, Any], feedback: bool) -> None:
    """Fill the row from the worker's result and the autograded notebook."""
    flagged = bool(notes)
    said = list(notes) + list(info)
    if not result["success"]:
        row.reason = "; ".join(said + [f"nbgrader could not grade it: {result['error']}"])
        return
    graded_nb = root / "autograded" / row.student / lesson / f"{lesson}.ipynb"
    for note in inspect_autograded(graded_nb, source):
        flagged |= note.startswith("!")
        said.append(note.lstrip("!"))
    if feedback and not result.get("feedback"):
        flagged = True
        said.append(f"no feedback HTML: {result.get('error', '')}")
    row.score, row.max_score = student_scores(root, lesson, row.student)
    row.status = FLAGGED if flagged else GRADED
    row.reason = "; ".join(said)


def inspect_autograded(path: Path, source: dict[str, Any]) -> list[str]:
    """What happened while grading, read from the autograded notebook: timeouts, dead kernel...

    Returns reason strings; those starting with ``"!"`` make the submission flagged.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    notes: list[str] = []
    failing_tests = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"#{index}"
        outputs = cell.get("outputs", [])
        if any(o.get("output_type") == "stream" and TRUNCATED_MARK in o.get("text", "")
               for o in outputs):
            notes.append(f"!output of cell {name} over the cap, truncated")
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if any(o.get("ename") == "CellTimeoutError" for o in errors):  # drop its KeyboardInterrupt
            errors = [o for o in errors if o.get("ename") == "CellTimeoutError"]
        for out in errors:
            note = _error_note(out, name, name in source["tests"])
            if note is None:
                failing_tests.append(name)
            elif note:
                notes.append(note)
    if failing_tests:
        notes.append("failing tests: " + ", ".join(dict.fromkeys(failing_tests)))
    return notes


def _error_note(out: dict, name: str, is_test: bool) -> str | None:
    """The reason an error output gives ('' for none, None for a failing test)."""
    ename = out.get("ename", "")
    if ename == "CellTimeoutError":
        return f"!timeout in cell {name} (interrupted, scored 0)"
    if ename == KERNEL_DIED:
        if "earlier cell" in out.get("evalue", ""):
            return ""
        return f"!kernel died in cell {name} (os._exit or crash); later cells scored 0"
    if ename == "SystemExit":
        return f"!sys.exit() called in cell {name}"
    if is_test:
        return None
    return f"{ename} in cell {name}"
