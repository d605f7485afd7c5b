"""One smoke execution of each lesson's unsolved release per test session, shared.

``tests/test_run_all.py`` (Run All reaches the end) and ``tests/test_book.py`` (the
book is built from executed releases) read the same executed copy: the first test
that asks for a lesson executes it, and the others, in any xdist worker, wait on a
file lock and read it. The folder is the session's pytest temporary folder, so a new
test session always executes afresh.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from filelock import FileLock

from course.record import read_metrics
from course.runner import LessonRun, run_release

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
