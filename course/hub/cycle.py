"""One lesson's whole cycle on a class hub, driven as its users would, with each step timed.

The instructor releases the lesson from the formgrader (generate, release); each student
fetches it from the Assignments tab, saves an answer as JupyterLab saves it, and submits;
the instructor collects, runs ``course grade`` in a terminal of the formgrader service and
releases the feedback; each student fetches their feedback. tests/test_hub.py asserts on
what :func:`run_cycle` returns; benchmarks/hub_load.py times it for many students.

Answers: ``right`` (the source notebook's solutions in the fetched release), ``blank`` (the
release as fetched) and ``malformed`` (a notebook file cut short: not JSON).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course.errors import CourseHubError

__all__ = [
    "ANSWERS",
    "MALFORMED",
    "Cycle",
    "answer_for",
    "run_cycle",
]

ANSWERS = ("right", "blank", "malformed")
MALFORMED = '{"cells": [{"cell_type": "code", "source": "x = 1"'  # a save cut short


@dataclass
class Cycle:
    """What one cycle left: per student, and the instructor's side."""

    lesson: str
    answers: dict[str, str]
    saved: dict[str, bytes] = field(default_factory=dict)
    grade_exit: int = -1
    grade_output: str = ""
    submissions: list[dict] = field(default_factory=list)
    feedback: dict[str, list[Path]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(cycle: Cycle, step: str):
    start = time.monotonic()
    yield
    cycle.seconds[step] = round(time.monotonic() - start, 2)


def answer_for(kind: str, fetched: dict, source: Path) -> tuple[str, Any]:
    """('notebook', nb) or ('text', str): what a student with this kind of answer saves."""
    import nbformat

    from course.grading import solved

    if kind == "right":
        return "notebook", solved(nbformat.from_dict(fetched), nbformat.read(source, 4))
    if kind == "blank":
        return "notebook", fetched
    if kind == "malformed":
        return "text", MALFORMED
    raise CourseHubError(f"unknown answer kind {kind!r}: use one of {ANSWERS}")


def _student_work(klass, student: str, kind: str, lesson: str, source: Path) -> bytes:
    """Fetch, save the answer, submit; the bytes the student's notebook file held."""
    course, notebook = klass.settings.course_id, f"{lesson}/{lesson}.ipynb"
    lab = klass.server(student)
    try:
        listed = {a["assignment_id"]: a["status"] for a in lab.assignments(course)}
        if listed.get(lesson) != "released":
            raise CourseHubError(f"{student} sees {listed}, not {lesson} released")
        lab.fetch(course, lesson)
        how, content = answer_for(kind, lab.get_notebook(notebook), source)
        if how == "notebook":
            lab.save_notebook(notebook, content)
        else:
            lab.save_text(notebook, content)
        saved = (Path(klass.settings.home_root) / student / notebook).read_bytes()
        lab.submit(course, lesson)
        return saved
    finally:
        lab.close()


def _fetch_feedback(klass, student: str, lesson: str) -> list[Path]:
    lab = klass.server(student)
    try:
        lab.fetch_feedback(klass.settings.course_id, lesson)
    finally:
        lab.close()
    folder = Path(klass.settings.home_root) / student / lesson / "feedback"
    return sorted(p for p in folder.rglob("*") if p.is_file())


def run_cycle(klass, answers: dict[str, str], lesson: str, instructor: str,
              workers: int = 4, grade_jobs: int = 1) -> Cycle:
    """The cycle for ``answers`` (student -> kind); servers must be running.

    ``workers`` students act at once (as a class does); ``grade_jobs`` is ``course grade
    --jobs``. Raises CourseHubError when a step fails outright.
    """
    cycle = Cycle(lesson, dict(answers))
    for name in [instructor, *answers]:
        klass.token(name)  # made one at a time, before the students act at once
    source = Path(klass.settings.course_dir) / "solutions" / lesson / f"{lesson}.ipynb"
    grader = klass.formgrader(instructor)
    try:
        with _timed(cycle, "release"):
            grader.formgrader("assign", lesson)
            grader.formgrader("release", lesson)
        with _timed(cycle, "fetch_save_submit"), ThreadPoolExecutor(workers) as pool:
            names = list(answers)
            saved = pool.map(lambda s: _student_work(klass, s, answers[s], lesson, source),
                             names)
            cycle.saved = dict(zip(names, saved, strict=True))
        with _timed(cycle, "collect"):
            grader.formgrader("collect", lesson)
        with _timed(cycle, "grade"):
            cycle.grade_exit, cycle.grade_output = grader.run_in_terminal(
                f"course grade {lesson} --jobs {grade_jobs}", timeout=3600)
        with _timed(cycle, "release_feedback"):
            grader.formgrader("release_feedback", lesson)
        with _timed(cycle, "fetch_feedback"), ThreadPoolExecutor(workers) as pool:
            cycle.feedback = dict(zip(answers, pool.map(
                lambda s: _fetch_feedback(klass, s, lesson), answers), strict=True))
        cycle.submissions = grader.submissions(lesson)
    finally:
        grader.close()
    cycle.seconds["total"] = round(sum(cycle.seconds.values()), 2)
    return cycle
