"""Issue 7 target: grade a cohort of 40 generated submissions of lesson 00, 14 malformed.

The submissions are written the way JupyterLab saves a notebook (nbformat JSON,
each source a list of lines, indent 1, a trailing newline: ``jupyterlab_json``,
which ``tests/test_grading_real_files.py`` checks against a real Jupyter server).

The course is copied into a temporary directory (its own ``gradebook.db``,
``submitted/``, ``autograded/`` and ``feedback/``), so the repository's
instructor state is never touched. Every row of the report is checked against
the outcome its case should have:

* good cases (solution, partial, release) -> ``graded`` with the score the
  solved exercises are worth;
* malformed cases -> the status and reason words of ``EXPECTED_OUTCOME``, and,
  where the notebook can be graded, the score of the exercises left intact;
* one row per submission: nothing lost.

Usage::

    HF_HUB_OFFLINE=1 COURSE_PROFILE=smoke .venv/bin/python benchmarks/grading_cohort.py --jobs 2

Exits 1 on any mismatch (each one is printed), 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from course.config import ROOT
from course.errors import CourseGradingError
from course.grading import (
    EXPECTED_OUTCOME,
    FAILED,
    GOOD_CASES,
    GradeReport,
    cohort_cases,
    course_directory,
    grade_lesson,
    make_submissions,
)
from course.grading.gradebook import generate_assignment

LESSON = "00-course-map"
# Exercises (0-based, in order of answer cells) whose tests fail in each case;
# "all" = every exercise, None = the notebook is not graded at all.
FAILING_EXERCISES = {
    "solution": set(), "release": "all", "partial": "odd",
    "deleted_test": set(), "duplicated_cell": set(), "edited_test": "all",
    "infinite_loop": {0}, "sys_exit": {0}, "import_error": {0}, "os_exit": "last",
    "huge_output": set(), "invalid_json": None, "other_lesson": None,
    "empty_notebook": None, "metadata_stripped": set(), "bom": set(), "crlf": set(),
}


def points_per_exercise(source_notebook: Path) -> list[float]:
    """Points of the test cells that follow each answer cell, in exercise order."""
    nb = nbformat.read(source_notebook, as_version=4)
    points: list[float] = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            points.append(0.0)
        elif meta.get("grade") and not meta.get("solution"):
            if not points:
                raise CourseGradingError(
                    f"{source_notebook}: a test cell comes before any answer cell.")
            points[-1] += float(meta.get("points", 0))
    return points


def expected_score(case: str, points: list[float]) -> float | None:
    """The score a submission of ``case`` should get (None: not graded)."""
    failing = FAILING_EXERCISES[case]
    if failing is None:
        return None
    n = len(points)
    named = {"all": set(range(n)), "odd": set(range(1, n, 2)), "last": {n - 1}}
    lost = named[failing] if isinstance(failing, str) else failing
    return sum(p for i, p in enumerate(points) if i not in lost)


def build_course(where: Path, lesson: str) -> tuple[Path, Path]:
    """Copy the config and the lesson's source into ``where`` and release it there."""
    shutil.copy2(ROOT / "nbgrader_config.py", where / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / lesson, where / "solutions" / lesson)
    db = course_directory(where).db_url
    if str(where.resolve()) not in db:
        raise CourseGradingError(f"The copied course would use {db}, outside {where}: refusing.")
    generate_assignment(where, lesson)
    return (where / "solutions" / lesson / f"{lesson}.ipynb",
            where / "notebooks" / lesson / f"{lesson}.ipynb")


def mismatches(report: GradeReport, cases: dict[str, str], points: list[float]) -> list[str]:
    """Every way the report differs from what each case should give (empty: all correct)."""
    problems = []
    seen = [r.student for r in report.rows]
    lost = sorted(set(cases) - set(seen))
    extra = sorted(set(seen) - set(cases))
    if lost or extra or len(seen) != len(set(seen)):
        problems.append(f"rows lost {lost}, unexpected {extra}, "
                        f"duplicated: {len(seen) != len(set(seen))}")
    for row in report.rows:
        case = cases.get(row.student)
        if case is None:
            continue
        status, words = EXPECTED_OUTCOME[case]
        want = expected_score(case, points)
        if row.status != status:
            problems.append(f"{row.student} ({case}): status {row.status}, expected {status}; "
                            f"{row.reason}")
        if words and words not in row.reason:
            problems.append(f"{row.student} ({case}): reason {row.reason!r} lacks {words!r}")
        if want is not None and row.score != want:
            problems.append(f"{row.student} ({case}): score {row.score}, expected {want}")
        if want is None and row.status != FAILED:
            problems.append(f"{row.student} ({case}): should not have been graded")
    return problems


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (kernels too)."""
    import resource

    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Build, submit, grade, check; print the table, the wall time and any mismatch."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary course")
    args = parser.parse_args(argv)
    os.environ.setdefault("COURSE_PROFILE", "smoke")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    where = Path(tempfile.mkdtemp(prefix="grading-cohort-"))
    try:
        source, release = build_course(where, LESSON)
        cases = cohort_cases(args.students, seed=args.seed)
        make_submissions(source, release, where, LESSON, cases)
        points = points_per_exercise(source)
        started, cpu_before = time.perf_counter(), _cpu_seconds()
        report = grade_lesson(LESSON, root=where, jobs=args.jobs, cell_timeout=args.timeout)
        wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
        report.print()
        table = report.table().assign(case=lambda t: t["student"].map(cases))
        print(table.groupby(["case", "status"]).size().rename("n").to_string())
        problems = mismatches(report, cases, points)
        malformed = sum(c not in GOOD_CASES for c in cases.values())
        print(f"\n{len(cases)} submissions ({malformed} malformed), "
              f"--jobs {args.jobs}, cell timeout {args.timeout} s: wall {wall:.1f} s, "
              f"{wall / len(cases):.1f} s per submission, CPU {cpu:.1f} s (this process and "
              f"its children); load average {os.getloadavg()[0]:.2f}; "
              f"mismatches: {len(problems)}")
        for problem in problems:
            print("MISMATCH:", problem)
        return 1 if problems else 0
    finally:
        if args.keep:
            print(f"kept {where}")
        else:
            shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
