"""``course grade``: autograde every submission of a lesson from the shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course.config import ROOT_HELP, HelpFormatter, course_root
from course.errors import CourseError
from course.grading.batch import grade_lesson
from course.grading.gradebook import course_config
from course.grading.report import FAILED

__all__ = [
    "grade_main",
    "released_lessons",
]


def released_lessons(root: Path | str) -> list[str]:
    """The lessons released in the course directory (nbgrader's release folder), sorted."""
    section = course_config(root).CourseDirectory
    folder = Path(root) / section.get("release_directory", "release")
    return sorted({p.parent.name for p in folder.glob("*/*.ipynb")})


def grade_main(argv: list[str] | None = None) -> int:
    """``course grade LESSON [--jobs N] [--timeout S] [--students ...] [--root DIR]``.

    Returns 0 when every submission was graded (flagged ones included), 1 when
    any could not be graded (each is listed), 2 on a usage or setup error (with no
    lesson named, the lessons there are to grade are listed and nothing is graded).
    """
    parser = argparse.ArgumentParser(prog="course grade", description=grade_main.__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument("lesson", nargs="?",
                        help="the lesson to grade, e.g. 00-course-map (default: none; "
                             "the lessons are listed)")
    parser.add_argument("--root", default=".", help=ROOT_HELP)
    parser.add_argument("--jobs", type=int, default=1, help="students graded at once")
    parser.add_argument("--timeout", type=int, default=60,
                        help="seconds a cell may run before it is interrupted and scores 0")
    parser.add_argument("--max-output-bytes", type=int, default=1_000_000,
                        help="cap on a cell's outputs; longer ones are truncated and flagged")
    parser.add_argument("--students", nargs="+", default=None,
                        help="grade only these students (default: every submitted/STUDENT/)")
    parser.add_argument("--no-feedback", action="store_true",
                        help="skip the HTML feedback in feedback/STUDENT/LESSON/")
    args = parser.parse_args(argv)
    try:
        root = course_root(args.root, solutions=False)
        if not args.lesson:
            known = ", ".join(released_lessons(root)) or "none released yet (course release)"
            print(f"course grade: name the lesson to grade (make grade LESSON=ID, or "
                  f"course grade ID). Lessons of {root}: {known}.", file=sys.stderr)
            return 2
        report = grade_lesson(args.lesson, root=root, students=args.students,
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
