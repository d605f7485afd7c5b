"""One smoke execution of each lesson's unsolved release per test session, and one book.

``tests/test_run_all.py`` (Run All reaches the end) and ``tests/test_book.py`` (the
book is built from executed releases) read the same executed copy: the first test
that asks for a lesson executes it, and the others, in any xdist worker, wait on a
file lock and read it. Likewise the book is built once, for test_book.py and the
browser test. The folder is the session's pytest temporary folder, so a new test
session always executes afresh.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from filelock import FileLock

from course.authoring.book import BookReport, build_book
from course.authoring.runner import LessonRun, release_lessons, run_release
from course.record import read_metrics

PROFILE = "smoke"


def executed_release_in(folder: Path, lesson: str) -> LessonRun:
    """The lesson's release executed at smoke size under ``folder`` (executed once)."""
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / PROFILE / f"{lesson}.ipynb"
    with FileLock(str(folder / f"{lesson}.lock")):
        if output.is_file():
            meta = json.loads(output.read_text(encoding="utf-8"))["metadata"]["course_run"]
            return LessonRun(lesson, output, 0.0, read_metrics(output), meta["error"])
        start = time.perf_counter()
        run = run_release(lesson, profile=PROFILE, out_dir=folder)
        print(f"{lesson}: release executed at {PROFILE} size in "
              f"{time.perf_counter() - start:.1f} s")
        return run


def built_book_in(folder: Path, executed_release) -> BookReport:
    """The book built once per session from the smoke-executed releases, under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = folder / "report.json"
    with FileLock(str(folder / "book.lock")):
        if saved.is_file():
            data = json.loads(saved.read_text(encoding="utf-8"))
            return BookReport(Path(data["site"]), {k: Path(v) for k, v in data["pages"].items()},
                              data["broken"], data["stopped"], data["seconds"])
        executed, stopped = {}, {}
        for lesson in release_lessons():
            run = executed_release(lesson)
            executed[lesson] = run.output
            if run.error:
                stopped[lesson] = run.error
        report = build_book(executed, folder, PROFILE)
        report.stopped = stopped
        print(f"book built in {report.seconds:.1f} s")
        saved.write_text(json.dumps({
            "site": str(report.site), "pages": {k: str(v) for k, v in report.pages.items()},
            "broken": report.broken, "stopped": report.stopped, "seconds": report.seconds}))
        return report
