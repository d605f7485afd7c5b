"""``course grade``: autograde every submission of a lesson from the shell."""

from __future__ import annotations

import argparse
import sys

from course.errors import CourseError
from course.grading.batch import grade_lesson
from course.grading.report import FAILED

__all__ = [
    "grade_main",
]


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
        report = grade_lesson(args.lesson, root=args.root, students=args.students,
                              jobs=args.jobs, cell_timeout=args.timeout,
                              max_output_bytes=args.max_output_bytes,
                              feedback=not args.no_feedback)
    except CourseError as exc:
        print(f"course grade: {exc}", file=sys.stderr)
        return 2
    report.print()
    for row in report.rows:
        if row.status == FAILED:
            print(f"NOT GRADED: {row.student}: {row.reason}", file=sys.stderr)
    return 0 if report.ok else 1
