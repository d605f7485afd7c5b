"""Grading in a private copy of the course, and merging the scores back.

nbgrader keeps every score in one SQLite file, which does not tolerate two
writers. With ``--jobs N > 1`` each student is graded in a private course (the
lesson's source, that student's submission, a snapshot of the gradebook); the
parent merges that student's scores into the real gradebook one student at a
time, under a lock. A submission that the pre-check repaired (a BOM, lost
nbgrader metadata) is graded the same way, so the student's file is never
rewritten.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
import warnings
from pathlib import Path

from course.grading.gradebook import course_directory, gradebook_path, tools_on_path

__all__ = [
    "MERGE_LOCK",
    "merge_back",
    "private_course",
]

MERGE_LOCK = threading.Lock()


def private_course(root: Path, lesson: str, student: str, notebook=None) -> Path:
    """A throwaway course with this lesson's source, this student and a gradebook copy.

    Args:
        notebook: a NotebookNode to grade instead of the submitted file (a repaired copy).
    """
    import nbformat

    coursedir = course_directory(root)
    private = Path(tempfile.mkdtemp(prefix=f"grade-{student}-")) / "course"
    private.mkdir()
    shutil.copy2(root / "nbgrader_config.py", private / "nbgrader_config.py")
    source_dir = Path(coursedir.source_directory)
    shutil.copytree(root / source_dir / lesson, private / source_dir / lesson)
    submitted = private / "submitted" / student / lesson
    shutil.copytree(root / "submitted" / student / lesson, submitted)
    if notebook is not None:
        nbformat.write(notebook, submitted / f"{lesson}.ipynb")
    db = gradebook_path(root)
    with MERGE_LOCK, sqlite3.connect(db) as src, sqlite3.connect(private / db.name) as dest:
        src.backup(dest)
    return private


def merge_back(private: Path, root: Path, lesson: str, student: str) -> None:
    """Copy one student's autograde results from a private course into the real one."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with MERGE_LOCK, tools_on_path(), warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush noise
        src_dir, dst_dir = course_directory(private), course_directory(root)
        with Gradebook(src_dir.db_url, src_dir.course_id) as src, \
                Gradebook(dst_dir.db_url, dst_dir.course_id) as dst:
            _merge_scores(src, dst, lesson, student)
        for part in ("autograded", "feedback"):
            there = private / part / student / lesson
            if there.exists():
                here = root / part / student / lesson
                shutil.rmtree(here, ignore_errors=True)
                shutil.copytree(there, here)


def _merge_scores(src, dst, lesson: str, student: str) -> None:
    dst.update_or_create_student(student)
    theirs = src.find_submission(lesson, student)
    dst.update_or_create_submission(lesson, student, timestamp=theirs.timestamp)
    for nb in theirs.notebooks:
        mine_nb = dst.find_submission_notebook(nb.name, lesson, student)
        mine_nb.late_submission_penalty = nb.late_submission_penalty
        for grade in nb.grades:
            mine = dst.find_grade(grade.name, nb.name, lesson, student)
            mine.auto_score = grade.auto_score
            mine.needs_manual_grade = grade.needs_manual_grade
        for comment in nb.comments:
            mine = dst.find_comment(comment.name, nb.name, lesson, student)
            mine.auto_comment = comment.auto_comment
    dst.db.commit()
