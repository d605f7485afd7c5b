"""Batch autograding with nbgrader that survives broken submissions.

``grade_lesson`` autogrades every ``submitted/<student>/<lesson>/`` folder of a
course through nbgrader's Python API. Each student is graded in a child
process with a wall-clock limit, so an infinite loop, ``os._exit()`` or a
kernel crash costs that student only. Before nbgrader runs, a pre-check reads
the submission and records what is wrong with it; after nbgrader runs, the
autograded notebook is read back to say what happened (timeouts, a dead
kernel, ``sys.exit()``, exceptions).

Policy, one line per case (the instructor guide repeats it):

* invalid JSON / not a notebook -> ``failed`` ("invalid notebook: ...");
  nbgrader is not run.
* a notebook from another lesson (no grade id of this lesson) -> ``failed``.
* a deleted autograded test cell -> nbgrader puts the cell back from the
  gradebook and runs it -> ``flagged``.
* a duplicated cell (same grade id, or same cell id) -> nbgrader keeps the
  last copy of a grade id -> ``flagged``.
* an edited read-only cell (visible tests) -> nbgrader restores it from the
  gradebook (checksum mismatch) and runs the original tests -> ``flagged``.
* an infinite loop -> the cell is interrupted after ``cell_timeout`` seconds
  and scores 0 -> ``flagged`` ("timeout ...").
* ``sys.exit()`` -> IPython turns it into an error in that cell -> ``flagged``.
* ``os._exit()`` or a kernel crash -> the cell and every later cell score 0
  -> ``flagged`` ("kernel died ...").
* an exception at import -> ``graded``; dependent cells score 0; the reason
  names the error.
* stored outputs over ``max_output_bytes`` -> nbgrader clears outputs before
  executing -> ``flagged`` ("... stripped"); outputs produced while grading
  are truncated at the same cap -> ``flagged``.
* anything else nbgrader cannot grade -> ``failed`` with its last log line.

Parallel grading (``jobs > 1``) grades each student in a private copy of the
course (its own ``gradebook.db``) and merges the scores into the real
gradebook in the parent, one student at a time: nbgrader's SQLite gradebook
is never written by two processes at once.

Workarounds for nbgrader 0.9.6, both in the autograde configuration:

* ``DropEmptyNbgraderMetadata``: with ``add_missing_cells`` on, a notebook
  with a duplicated grade cell fails with ``KeyError: 'grade_id'``.
* ``RestoreMissingCells``: a deleted grade cell whose preceding source cell is
  read-only (not a grade or solution cell) fails with a ``KeyError``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from course.errors import CourseGradingError

GRADED, FLAGGED, FAILED = "graded", "flagged", "failed"
TRUNCATED_MARK = "... output truncated by the course autograder"
KERNEL_DIED = "KernelDied"
SUBMISSION_CASES = (
    "solution",
    "release",
    "partial",
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
}


# --------------------------------------------------------------------------- report


@dataclass
class GradeRow:
    """One student's outcome."""

    student: str
    score: float | None
    max_score: float | None
    status: str
    reason: str = ""
    seconds: float = 0.0


@dataclass
class GradeReport:
    """The outcome of a batch: one row per submission, nothing left out."""

    lesson: str
    rows: list[GradeRow] = field(default_factory=list)
    wall_s: float = 0.0

    def table(self):
        """Rows as a DataFrame (student, score, max_score, status, reason, seconds)."""
        import pandas as pd

        columns = ["student", "score", "max_score", "status", "reason", "seconds"]
        return pd.DataFrame([asdict(r) for r in self.rows], columns=columns)

    @property
    def failed(self) -> list[str]:
        """Students whose submission could not be graded."""
        return [r.student for r in self.rows if r.status == FAILED]

    @property
    def flagged(self) -> list[str]:
        """Students graded with something to review."""
        return [r.student for r in self.rows if r.status == FLAGGED]

    @property
    def ok(self) -> bool:
        """True when every submission was graded (flagged ones included)."""
        return not self.failed

    def row(self, student: str) -> GradeRow:
        """The row of one student (CourseGradingError if absent)."""
        for r in self.rows:
            if r.student == student:
                return r
        raise CourseGradingError(f"No row for student {student!r} in the {self.lesson} report.")

    def to_text(self) -> str:
        """The summary table and a count line, as printed by ``course grade``."""
        lines = [f"{'student':<20} {'score':>7} {'max':>6}  {'status':<8} reason"]
        for r in self.rows:
            score = "-" if r.score is None else f"{r.score:g}"
            top = "-" if r.max_score is None else f"{r.max_score:g}"
            lines.append(f"{r.student:<20} {score:>7} {top:>6}  {r.status:<8} {r.reason}")
        counts = Counter(r.status for r in self.rows)
        lines.append(
            f"{self.lesson}: {len(self.rows)} submissions, {counts[GRADED]} graded, "
            f"{counts[FLAGGED]} flagged, {counts[FAILED]} failed, in {self.wall_s:.1f} s"
        )
        if self.failed:
            lines.append("NOT GRADED (fix and re-run `course grade`): " + ", ".join(self.failed))
        return "\n".join(lines)

    def print(self, file=None) -> None:
        """Print ``to_text()``."""
        print(self.to_text(), file=file or sys.stdout)


# --------------------------------------------------------------------------- nbgrader setup


def course_config(root: Path | str, **overrides: Any):
    """The traitlets Config of the course at ``root`` (its nbgrader_config.py), rooted there.

    ``overrides`` are ``"Section.name": value`` pairs set on top.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    _tools_on_path()
    root = Path(root).resolve()
    config = Config()
    config_file = root / "nbgrader_config.py"
    if config_file.exists():
        try:
            config.merge(PyFileConfigLoader(config_file.name, path=str(root)).load_config())
        except Exception as exc:  # a broken config file must say where it is
            raise CourseGradingError(f"Cannot load {config_file}: {exc}. Fix that file.") from exc
    config.CourseDirectory.root = str(root)
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        setattr(config[section], name, value)
    return config


def _tools_on_path() -> None:
    """nbgrader runs the ``alembic`` script by name: put this Python's scripts on PATH."""
    scripts = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if scripts not in parts:
        os.environ["PATH"] = os.pathsep.join([scripts, *parts])


def _coursedir(root: Path | str):
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=course_config(root))


def source_cells(root: Path | str, lesson: str) -> dict[str, Any]:
    """What the gradebook knows about the lesson's notebook.

    Returns a dict with ``grade_ids`` (all nbgrader cells, in order), ``tests``
    (autograded cells -> max score), ``solutions``, ``locked`` (grade id ->
    checksum) and ``max_score``.

    Raises:
        CourseGradingError: the lesson is not in the gradebook (release it first).
    """
    from nbgrader.api import Gradebook, MissingEntry

    coursedir = _coursedir(root)
    db = coursedir.db_url
    if db.startswith("sqlite:///") and not Path(db[len("sqlite:///"):]).exists():
        raise CourseGradingError(
            f"No gradebook at {db[len('sqlite:///'):]}. Release the lesson first "
            f"(`course release {lesson}`, i.e. nbgrader generate_assignment).")
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            notebook = gb.find_notebook(lesson, lesson)
        except MissingEntry:
            raise CourseGradingError(
                f"Lesson {lesson!r} (notebook {lesson}.ipynb) is not in {coursedir.db_url}. "
                f"Release it first (`course release {lesson}`, i.e. nbgrader generate_assignment)."
            ) from None
        return {
            "grade_ids": [c.name for c in notebook.source_cells],
            "tests": {c.name: float(c.max_score) for c in notebook.grade_cells
                      if c.name not in {s.name for s in notebook.solution_cells}},
            "solutions": [c.name for c in notebook.solution_cells],
            "locked": _release_checksums(coursedir, lesson)
            or {c.name: None for c in notebook.source_cells if c.locked},
            "max_score": float(notebook.max_score),
        }


def _release_checksums(coursedir, lesson: str) -> dict[str, str | None]:
    """Grade id -> checksum of each read-only cell as released (what students received)."""
    import nbformat

    path = Path(coursedir.format_path(coursedir.release_directory, ".", lesson)) / f"{lesson}.ipynb"
    if not path.exists():
        return {}
    nb = nbformat.read(path, as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader.get("checksum")
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("locked") and c.metadata.nbgrader.get("grade_id")}


# --------------------------------------------------------------------------- pre-check


@dataclass
class PreCheck:
    """What the pre-check found: fatal (do not grade) or notes (grade and flag)."""

    fatal: str = ""
    notes: list[str] = field(default_factory=list)
    code_cells: int = 0


def _cell_bytes(cell: dict) -> int:
    return len(json.dumps(cell.get("outputs", []), ensure_ascii=False).encode())


def precheck(path: Path, source: dict[str, Any], *, max_output_bytes: int) -> PreCheck:
    """Read one submitted notebook and list what is wrong with it (never raises)."""
    found = PreCheck()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or "cells" not in raw or not isinstance(raw["cells"], list):
            raise ValueError("no 'cells' list at the top level")
        major = raw.get("nbformat")
        if major != 4:
            raise ValueError(f"nbformat {major!r}, expected 4")
        _validate(raw)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        found.fatal = f"invalid notebook: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        return found
    try:
        _inspect_cells(raw["cells"], source, found, max_output_bytes)
    except Exception as exc:  # odd metadata that passed the schema: do not guess
        found.fatal = f"invalid notebook: unreadable nbgrader metadata ({type(exc).__name__}: {exc})"
    return found


def _validate(raw: dict) -> None:
    """nbformat's schema check on a copy (duplicate cell ids are repaired, not fatal)."""
    import warnings

    from nbformat.validator import ValidationError, validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            validate(copy.deepcopy(raw))
        except ValidationError as exc:
            raise ValueError(f"not a valid nbformat 4 notebook: {exc.message}") from None


def _inspect_cells(all_cells: list, source: dict[str, Any], found: PreCheck,
                   max_output_bytes: int) -> None:
    from nbformat import from_dict
    from nbgrader.utils import compute_checksum

    cells = [c for c in all_cells if isinstance(c, dict)]
    found.code_cells = sum(c.get("cell_type") == "code" for c in cells)
    ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells]
    ids = [i for i in ids if i]
    known = set(source["grade_ids"])
    if not known & set(ids):
        found.fatal = (
            "notebook from another lesson: none of its grade ids "
            f"({', '.join(sorted(set(ids))[:4]) or 'none'}) belong to this lesson"
        )
        return

    dup_grade = sorted(i for i, n in Counter(ids).items() if n > 1)
    cell_ids = [c.get("id") for c in cells if c.get("id")]
    dup_cell = sorted(i for i, n in Counter(cell_ids).items() if n > 1)
    if dup_grade:
        found.notes.append(f"duplicated grade id(s) {', '.join(dup_grade)}: the last copy is graded")
    if dup_cell:
        found.notes.append(f"duplicated cell id(s) {', '.join(dup_cell[:4])}: renumbered")

    missing_tests = [g for g in source["tests"] if g not in ids]
    if missing_tests:
        found.notes.append(
            f"deleted autograded cell(s) {', '.join(missing_tests)}: restored from the source and graded"
        )
    missing_solutions = [g for g in source["solutions"] if g not in ids]
    if missing_solutions:
        found.notes.append(f"deleted solution cell(s) {', '.join(missing_solutions)}")

    edited = []
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in source["locked"] and grade_id not in edited:
            expected = source["locked"][grade_id] or cell["metadata"]["nbgrader"].get("checksum")
            try:
                checksum = compute_checksum(from_dict(cell))
            except Exception:  # malformed metadata: nbgrader restores the cell anyway
                checksum = None
            if checksum != expected:
                edited.append(grade_id)
    if edited:
        found.notes.append(
            f"edited read-only cell(s) {', '.join(edited)}: restored from the source before grading"
        )

    stored = sum(_cell_bytes(c) for c in cells)
    if stored > max_output_bytes:
        found.notes.append(
            f"stored outputs of {stored / 1e6:.1f} MB (cap {max_output_bytes / 1e6:g} MB) "
            "stripped before grading"
        )


# --------------------------------------------------------------------------- nbgrader in a child


def _output_cap_class():
    """A preprocessor (created lazily: nbgrader imports are slow) that caps output bytes."""
    from nbgrader.preprocessors import NbGraderPreprocessor
    from traitlets import Integer

    class CapOutputBytes(NbGraderPreprocessor):
        """Truncate a code cell's outputs beyond ``max_bytes`` (after execution)."""

        max_bytes = Integer(1_000_000).tag(config=True)

        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type != "code" or _cell_bytes(cell) <= self.max_bytes:
                return cell, resources
            kept, used = [], 0
            for output in cell.outputs:
                size = len(json.dumps(output, ensure_ascii=False).encode())
                if used + size > self.max_bytes:
                    break
                kept.append(output)
                used += size
            kept.append({"output_type": "stream", "name": "stdout",
                         "text": f"{TRUNCATED_MARK} (over {self.max_bytes} bytes)\n"})
            cell.outputs = [_node(o) for o in kept]
            return cell, resources

    return CapOutputBytes


def _node(output: dict):
    from nbformat import from_dict

    return from_dict(output)


def _safe_execute_class():
    """nbgrader's Execute, but a dead kernel zeroes the remaining cells instead of failing."""
    from nbclient.exceptions import DeadKernelError
    from nbgrader.preprocessors import Execute

    class SafeExecute(Execute):
        """Execute that survives ``os._exit()`` and kernel crashes."""

        def preprocess(self, nb, resources=None, km=None):
            self._dead_at = None
            return super().preprocess(nb, resources, km)

        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type != "code":
                return cell, resources
            if self._dead_at is not None:
                cell.outputs = [_died_output("not run: the kernel died in an earlier cell")]
                return cell, resources
            try:
                return super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                self._dead_at = index
                cell.outputs.append(_died_output("the kernel died running this cell "
                                                 "(os._exit(), a crash or out of memory)"))
                return cell, resources

    return SafeExecute


def _died_output(message: str):
    return _node({"output_type": "error", "ename": KERNEL_DIED, "evalue": message,
                  "traceback": [f"{KERNEL_DIED}: {message}"]})


def _drop_empty_metadata_class():
    """Removes the empty ``nbgrader`` metadata DeduplicateIds leaves on a duplicate.

    Without it nbgrader 0.9.6's OverwriteCells (with ``add_missing_cells``)
    fails with ``KeyError: 'grade_id'`` on any notebook with a duplicated cell.
    """
    from nbgrader.preprocessors import NbGraderPreprocessor

    class DropEmptyNbgraderMetadata(NbGraderPreprocessor):
        """Delete ``metadata.nbgrader`` when it has no grade id."""

        def preprocess_cell(self, cell, resources, index):
            if "nbgrader" in cell.metadata and not cell.metadata.nbgrader.get("grade_id"):
                del cell.metadata["nbgrader"]
            return cell, resources

    return DropEmptyNbgraderMetadata


def _restore_cells_class():
    """nbgrader's OverwriteCells, with a sturdier way to put deleted grade cells back.

    nbgrader 0.9.6 re-inserts a deleted grade cell after the source cell just
    before it, and fails with a KeyError when that cell is a read-only cell
    that is neither a grade nor a solution cell. This version inserts it after
    the nearest earlier nbgrader cell still present (or first).
    """
    from nbgrader.preprocessors import OverwriteCells

    class RestoreMissingCells(OverwriteCells):
        """OverwriteCells whose add_missing_grade_cells never fails on the cell order."""

        def add_missing_grade_cells(self, nb, resources):
            source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
            cells = {c.name: c for c in source_nb.source_cells}
            order = [c.name for c in source_nb.source_cells]
            grades = {c.name: c for c in source_nb.grade_cells}
            solutions = {c.name for c in source_nb.solution_cells}
            for position, name in enumerate(order):
                present = {c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells)
                           if c.metadata.get("nbgrader", {}).get("grade_id")}
                if name not in grades or name in present:
                    continue
                self.log.warning("Missing grade cell %s encountered, adding to notebook", name)
                cell = self.missing_cell_transform(cells[name], grades[name].max_score,
                                                   is_solution=name in solutions)
                earlier = [present[p] for p in order[:position] if p in present]
                nb.cells.insert(max(earlier) + 1 if earlier else 0, cell)
            return nb, resources

    return RestoreMissingCells


def _grading_config(root: Path, cell_timeout: int, max_output_bytes: int):
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        OverwriteKernelspec,
        SaveAutoGrades,
    )

    config = course_config(root)
    config.Execute.timeout = cell_timeout
    config.SafeExecute.timeout = cell_timeout
    config.SafeExecute.interrupt_on_timeout = True
    config.CapOutputBytes.max_bytes = max_output_bytes
    config.RestoreMissingCells.add_missing_cells = True
    config.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateIds, _drop_empty_metadata_class(), OverwriteKernelspec,
        _restore_cells_class(), CheckCellMetadata,
    ]
    config.Autograde.autograde_preprocessors = [
        _safe_execute_class(), _output_cap_class(), IgnorePattern, ClearMetadataPreprocessor,
        LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    return config


def autograde_one(root: Path | str, lesson: str, student: str, *, cell_timeout: int = 60,
                  max_output_bytes: int = 1_000_000, feedback: bool = True) -> dict[str, Any]:
    """Autograde (and give feedback to) one student in this process. Used by the child.

    Returns ``{"success": bool, "error": str, "feedback": bool}``.
    """
    from nbgrader.apps import NbGraderAPI

    root = Path(root).resolve()
    api = NbGraderAPI(config=_grading_config(root, cell_timeout, max_output_bytes))
    result = api.autograde(lesson, student, force=True, create=True)
    ok = bool(result.get("success"))
    out = {"success": ok, "error": "" if ok else _last_error(result), "feedback": False}
    if out["success"] and feedback:
        fb = api.generate_feedback(lesson, student, force=True)
        out["feedback"] = bool(fb.get("success"))
        if not out["feedback"]:
            out["error"] = "feedback: " + _last_error(fb)
    return out


def _last_error(result: dict) -> str:
    """The most telling line of an nbgrader result: the last exception line, else the last line."""
    import re

    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    pattern = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt))\b")
    errors = [line for line in lines if pattern.match(line)]
    causes = [line for line in errors if "NbGraderException" not in line]
    picked = (causes or errors or lines or ["no log"])[-1]
    return picked[:300]


RESULT_MARK = "@@course-grading-result "


class GradingWorker:
    """A child Python that autogrades students one at a time (imports nbgrader once).

    Each request has a wall-clock limit; a child that overruns it, or dies, is
    killed with its process group and replaced for the next student.
    """

    def __init__(self, *, cell_timeout: int, max_output_bytes: int, feedback: bool):
        self.settings = [str(cell_timeout), str(max_output_bytes), "1" if feedback else "0"]
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.stderr = None

    def _start(self) -> None:
        _tools_on_path()
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "course.grading", "--_serve", *self.settings],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            start_new_session=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc.stdout, self.lines), daemon=True).start()

    def grade(self, root: Path, lesson: str, student: str, wall_timeout: float) -> dict[str, Any]:
        """Autograde one student in the child; a failure comes back as ``success: False``."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        request = json.dumps({"root": str(root), "lesson": lesson, "student": student})
        try:
            self.proc.stdin.write(request + "\n")
            self.proc.stdin.flush()
        except OSError:
            return self._crashed()
        deadline = time.monotonic() + wall_timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                return {"success": False, "feedback": False,
                        "error": f"autograde took over {wall_timeout:.0f} s (wall clock) and was killed"}
            if line is None:
                return self._crashed()
            if line.startswith(RESULT_MARK):
                return json.loads(line[len(RESULT_MARK):])

    def _crashed(self) -> dict[str, Any]:
        self.close()
        self.stderr.seek(0)
        tail = [t for t in self.stderr.read().splitlines() if t.strip()][-1:]
        code = self.proc.returncode if self.proc else None
        return {"success": False, "feedback": False,
                "error": f"autograde process died (exit {code}): {(tail or [''])[0][:300]}"}

    def close(self) -> None:
        """Stop the child and everything in its process group."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


# --------------------------------------------------------------------------- reading back


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
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") or f"#{index}"
        outputs = cell.get("outputs", [])
        if any(o.get("output_type") == "stream" and TRUNCATED_MARK in o.get("text", "") for o in outputs):
            notes.append(f"!output of cell {grade_id} over the cap, truncated")
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if any(o.get("ename") == "CellTimeoutError" for o in errors):  # drop its KeyboardInterrupt
            errors = [o for o in errors if o.get("ename") == "CellTimeoutError"]
        for out in errors:
            ename = out.get("ename", "")
            if ename == "CellTimeoutError":
                notes.append(f"!timeout in cell {grade_id} (interrupted, scored 0)")
            elif ename == KERNEL_DIED:
                if "earlier cell" not in out.get("evalue", ""):
                    notes.append(f"!kernel died in cell {grade_id} (os._exit or crash); later cells scored 0")
            elif ename == "SystemExit":
                notes.append(f"!sys.exit() called in cell {grade_id}")
            elif grade_id in source["tests"]:
                failing_tests.append(grade_id)
            else:
                notes.append(f"{ename} in cell {grade_id}")
    if failing_tests:
        notes.append("failing tests: " + ", ".join(dict.fromkeys(failing_tests)))
    return notes


def _scores(root: Path, lesson: str, student: str) -> tuple[float | None, float | None]:
    from nbgrader.api import Gradebook, MissingEntry

    coursedir = _coursedir(root)
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            submission = gb.find_submission(lesson, student)
        except MissingEntry:
            return None, None
        return float(submission.score), float(submission.max_score)


# --------------------------------------------------------------------------- the batch


def _students(root: Path, lesson: str, students: list[str] | None) -> list[str]:
    submitted = root / "submitted"
    found = sorted(p.parent.name for p in submitted.glob(f"*/{lesson}") if p.is_dir())
    if students is None:
        return found
    missing = [s for s in students if s not in found]
    if missing:
        raise CourseGradingError(
            f"No submission folder submitted/<student>/{lesson}/ for: {', '.join(missing)}. "
            "Collect them first or drop them from --students."
        )
    return list(students)


def _grade_student(worker: GradingWorker, root: Path, lesson: str, student: str,
                   source: dict[str, Any], *, cell_timeout: int, max_output_bytes: int,
                   feedback: bool, isolated_copy: bool) -> GradeRow:
    """Pre-check, autograde in the worker, read back; never raises."""
    started = time.perf_counter()
    row = GradeRow(student, None, None, FAILED)
    try:
        _grade_into(row, worker, root, lesson, student, source, cell_timeout=cell_timeout,
                    max_output_bytes=max_output_bytes, feedback=feedback, isolated_copy=isolated_copy)
    except Exception as exc:  # the batch goes on; the row says why
        row.status, row.reason = FAILED, f"grading error: {type(exc).__name__}: {exc}"[:400]
    row.seconds = round(time.perf_counter() - started, 2)
    return row


def _grade_into(row: GradeRow, worker: GradingWorker, root: Path, lesson: str, student: str, source: dict[str, Any], *,
                cell_timeout: int, max_output_bytes: int, feedback: bool, isolated_copy: bool) -> None:
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
    where = _private_course(root, lesson, student) if isolated_copy else root
    try:
        result = worker.grade(where, lesson, student, wall_timeout=wall)
        if isolated_copy and result["success"]:
            _merge_back(where, root, lesson, student)
    finally:
        if isolated_copy:
            shutil.rmtree(where.parent, ignore_errors=True)

    notes = list(check.notes)
    flagged = bool(check.notes)
    if not result["success"]:
        row.reason = "; ".join(notes + [f"nbgrader could not grade it: {result['error']}"])
        return
    graded_nb = root / "autograded" / student / lesson / f"{lesson}.ipynb"
    for note in inspect_autograded(graded_nb, source):
        flagged |= note.startswith("!")
        notes.append(note.lstrip("!"))
    if feedback and not result.get("feedback"):
        flagged = True
        notes.append(f"no feedback HTML: {result.get('error', '')}")
    row.score, row.max_score = _scores(root, lesson, student)
    row.status = FLAGGED if flagged else GRADED
    row.reason = "; ".join(notes)


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
        CourseGradingError: the lesson is unknown to the gradebook, or a named student
            has no submission folder.
    """
    from tqdm.auto import tqdm

    root = Path(root).resolve()
    if jobs < 1:
        raise CourseGradingError(f"--jobs must be 1 or more, got {jobs}.")
    source = source_cells(root, lesson)
    names = _students(root, lesson, students)
    started = time.perf_counter()
    report = GradeReport(lesson)
    settings = dict(cell_timeout=cell_timeout, max_output_bytes=max_output_bytes, feedback=feedback)
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
                                            isolated_copy=jobs > 1, **settings)
                bar.update()
        finally:
            worker.close()

    threads = [threading.Thread(target=work) for _ in range(min(jobs, max(1, len(names))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bar.close()
    report.rows = [rows[name] for name in names]
    report.wall_s = round(time.perf_counter() - started, 2)
    return report


# --------------------------------------------------------------------------- --jobs: private copies

_MERGE_LOCK = threading.Lock()


def _private_course(root: Path, lesson: str, student: str) -> Path:
    """A throwaway course with this lesson's source, this student and a gradebook copy."""
    coursedir = _coursedir(root)
    base = Path(tempfile.mkdtemp(prefix=f"grade-{student}-"))
    private = base / "course"
    private.mkdir()
    if (root / "nbgrader_config.py").exists():
        shutil.copy2(root / "nbgrader_config.py", private / "nbgrader_config.py")
    source_dir = Path(coursedir.source_directory)
    shutil.copytree(root / source_dir / lesson, private / source_dir / lesson)
    shutil.copytree(root / "submitted" / student / lesson, private / "submitted" / student / lesson)
    db = _db_path(root)
    with _merge_lock():
        _sqlite_copy(db, private / db.name)
    return private


def _db_path(root: Path) -> Path:
    url = _coursedir(root).db_url
    if not url.startswith("sqlite:///"):
        raise CourseGradingError(f"--jobs needs an SQLite gradebook; {url} is not one. Use --jobs 1.")
    path = Path(url[len("sqlite:///"):])
    return path if path.is_absolute() else root / path


def _sqlite_copy(src: Path, dest: Path) -> None:
    import sqlite3

    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
        a.backup(b)


def _merge_lock() -> threading.Lock:
    return _MERGE_LOCK


def _merge_back(private: Path, root: Path, lesson: str, student: str) -> None:
    """Copy one student's autograde results from a private course into the real one."""
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with _merge_lock(), warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush noise
        src_dir, dst_dir = _coursedir(private), _coursedir(root)
        with Gradebook(src_dir.db_url, src_dir.course_id) as src, \
                Gradebook(dst_dir.db_url, dst_dir.course_id) as dst:
            dst.update_or_create_student(student)
            theirs = src.find_submission(lesson, student)
            dst.update_or_create_submission(lesson, student, timestamp=theirs.timestamp)
            for nb in theirs.notebooks:
                dst.find_submission_notebook(nb.name, lesson, student).late_submission_penalty = (
                    nb.late_submission_penalty)
                for grade in nb.grades:
                    mine = dst.find_grade(grade.name, nb.name, lesson, student)
                    mine.auto_score = grade.auto_score
                    mine.needs_manual_grade = grade.needs_manual_grade
                for comment in nb.comments:
                    mine = dst.find_comment(comment.name, nb.name, lesson, student)
                    mine.auto_comment = comment.auto_comment
                dst.db.commit()
        for part in ("autograded", "feedback"):
            there = private / part / student / lesson
            if there.exists():
                here = root / part / student / lesson
                shutil.rmtree(here, ignore_errors=True)
                shutil.copytree(there, here)


# --------------------------------------------------------------------------- generated submissions


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


def make_case(case: str, release_nb, source_nb) -> Any:
    """One generated submission: a NotebookNode, or ``str`` for a file that is not one."""
    import nbformat

    if case not in SUBMISSION_CASES:
        raise CourseGradingError(f"Unknown submission case {case!r}; use one of {SUBMISSION_CASES}.")
    if case == "release":
        return copy.deepcopy(release_nb)
    if case == "partial":
        n = len(_graded_cells(release_nb)[0])
        return solved(release_nb, source_nb, which=list(range(0, n, 2)))
    nb = solved(release_nb, source_nb)
    solutions, tests = _graded_cells(nb)
    last = len(solutions) - 1
    if case == "deleted_test":
        del nb.cells[tests[0]]
    elif case == "duplicated_cell":
        nb.cells.insert(tests[0] + 1, copy.deepcopy(nb.cells[tests[0]]))
    elif case == "edited_test":
        nb = copy.deepcopy(release_nb)  # unsolved, so only edited tests could pass
        for index in tests:
            nb.cells[index].source = "# tests removed by the student\npass"
    elif case == "infinite_loop":
        inject(nb, "while True:\n    pass", 0)
    elif case == "sys_exit":
        inject(nb, "import sys\nsys.exit('student gave up')", 0)
    elif case == "os_exit":
        inject(nb, "import os\nos._exit(1)", last)
    elif case == "import_error":
        inject(nb, "import not_a_real_module_for_grading", 0)
    elif case == "huge_output":
        big = "x" * 999 + "\n"
        nb.cells[solutions[0]].outputs = [nbformat.v4.new_output(
            "stream", name="stdout", text=big * 50_000)]  # 50 MB
    elif case == "invalid_json":
        return nbformat.writes(nb)[:-200]  # a truncated upload
    elif case == "other_lesson":
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if meta and meta.get("grade_id"):
                meta["grade_id"] = "other-lesson-" + meta["grade_id"]
    return nb


def make_submissions(source_notebook: Path | str, release_notebook: Path | str,
                     root: Path | str, lesson: str,
                     students: dict[str, str | Callable[[Any, Any], Any]]) -> dict[str, Path]:
    """Write generated submissions to ``root/submitted/<student>/<lesson>/<lesson>.ipynb``.

    Args:
        source_notebook: the lesson's source (solutions) notebook.
        release_notebook: the released notebook (what students download).
        root: the course directory.
        lesson: the assignment id.
        students: student id -> a case from ``SUBMISSION_CASES`` or a callable
            ``(release_nb, source_nb) -> NotebookNode | str``.

    Returns:
        Student id -> path written.
    """
    import nbformat

    release_nb = nbformat.read(str(release_notebook), as_version=4)
    source_nb = nbformat.read(str(source_notebook), as_version=4)
    written = {}
    for student, case in students.items():
        made = case(release_nb, source_nb) if callable(case) else make_case(case, release_nb, source_nb)
        path = Path(root) / "submitted" / student / lesson / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(made, str):
            path.write_text(made, encoding="utf-8")
        else:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(made, handle, ensure_ascii=False)  # no validation: malformed on purpose
        written[student] = path
    return written


def cohort_cases(n_students: int = 40, seed: int = 0) -> dict[str, str]:
    """Student id -> case: every malformed case once (10), the rest good or partly right."""
    import random

    bad = [c for c in SUBMISSION_CASES if c not in ("solution", "release", "partial")]
    if n_students < len(bad):
        raise CourseGradingError(f"A cohort needs at least {len(bad)} students, got {n_students}.")
    good = ["solution", "partial", "release"]
    rng = random.Random(seed)
    cases = bad + [rng.choices(good, weights=[6, 3, 1])[0] for _ in range(n_students - len(bad))]
    rng.shuffle(cases)
    return {f"student{i + 1:03d}": case for i, case in enumerate(cases)}


# --------------------------------------------------------------------------- command line


def grade_main(argv: list[str] | None = None) -> int:
    """``course grade LESSON [--jobs N] [--timeout S] [--students ...] [--root DIR]``.

    Returns 0 when every submission was graded (flagged ones included), 1 when
    any could not be graded (each is listed), 2 on a usage or setup error.
    """
    parser = argparse.ArgumentParser(prog="course grade", description=grade_main.__doc__)
    parser.add_argument("lesson")
    parser.add_argument("--root", default=".", help="the nbgrader course directory")
    parser.add_argument("--jobs", type=int, default=1, help="students graded at once")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    parser.add_argument("--max-output-bytes", type=int, default=1_000_000)
    parser.add_argument("--students", nargs="+", default=None)
    parser.add_argument("--no-feedback", action="store_true")
    args = parser.parse_args(argv)
    try:
        report = grade_lesson(args.lesson, root=args.root, students=args.students, jobs=args.jobs,
                              cell_timeout=args.timeout, max_output_bytes=args.max_output_bytes,
                              feedback=not args.no_feedback)
    except CourseGradingError as exc:
        print(f"course grade: {exc}", file=sys.stderr)
        return 2
    report.print()
    for row in report.rows:
        if row.status == FAILED:
            print(f"NOT GRADED: {row.student}: {row.reason}", file=sys.stderr)
    return 0 if report.ok else 1


def _serve_main(argv: list[str]) -> int:
    """The child: read JSON requests on stdin, answer one result line each."""
    timeout, cap, feedback = argv
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            out = autograde_one(request["root"], request["lesson"], request["student"],
                                cell_timeout=int(timeout), max_output_bytes=int(cap),
                                feedback=feedback == "1")
        except Exception as exc:
            out = {"success": False, "feedback": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        sys.stdout.write("\n" + RESULT_MARK + json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_serve":
        sys.exit(_serve_main(sys.argv[2:]))
    sys.exit(grade_main(sys.argv[1:]))
