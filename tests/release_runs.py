"""One smoke execution of each lesson's unsolved release per test session, and one book.

``tests/test_run_all.py`` (Run All reaches the end) and ``tests/test_book.py`` (the
book is built from executed releases) read the same executed copy: the first test
that asks for a lesson executes it, and the others, in any xdist worker, wait on a
file lock and read it. Likewise the book is built once, for test_book.py, test_cli.py and
the browser test, by the ``course book`` command itself (``--build`` names the folder
whose ``release/smoke/`` holds the executed releases). Every worker that needs the book
first executes the releases that no worker has started yet, so the executions the book
waits for run side by side instead of one after another while the other workers wait.
The folder is the session's pytest temporary folder, so a new test session always
executes afresh.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from filelock import FileLock, Timeout

from course.authoring.book import BookReport, broken_links
from course.authoring.book.pages import lesson_page
from course.authoring.runner import LessonRun, release_lessons, run_release
from course.cli import main
from course.config import ROOT
from course.record import read_metrics

PROFILE = "smoke"


def _execute(folder: Path, lesson: str) -> LessonRun:
    """Execute the release into ``folder/smoke/`` (the caller holds the lesson's lock)."""
    start = time.perf_counter()
    run = run_release(lesson, profile=PROFILE, out_dir=folder)
    print(f"{lesson}: release executed at {PROFILE} size in {time.perf_counter() - start:.1f} s")
    return run


def executed_release_in(build: Path, lesson: str) -> LessonRun:
    """The lesson's release executed at smoke size into ``build/release/smoke/`` (once)."""
    folder = build / "release"
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / PROFILE / f"{lesson}.ipynb"
    with FileLock(str(folder / f"{lesson}.lock")):
        if output.is_file():
            meta = json.loads(output.read_text(encoding="utf-8"))["metadata"]["course_run"]
            return LessonRun(lesson, output, 0.0, read_metrics(output), meta["error"])
        return _execute(folder, lesson)


def execute_unstarted_releases(build: Path) -> list[str]:
    """Execute every release that no worker has executed or started; returns those run here.

    A lesson whose lock another worker holds is left to it (its lock is tried, never waited on).
    """
    folder = build / "release"
    folder.mkdir(parents=True, exist_ok=True)
    ran = []
    for lesson in release_lessons():
        output = folder / PROFILE / f"{lesson}.ipynb"
        lock = FileLock(str(folder / f"{lesson}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        try:
            if not output.is_file():
                _execute(folder, lesson)
                ran.append(lesson)
        finally:
            lock.release()
    return ran


def built_book_in(folder: Path, build: Path, executed_release) -> BookReport:
    """The book built once per session by ``course book`` from the smoke-executed releases.

    ``folder/report.json`` also records the command's exit status (``exit_code``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    saved = folder / "report.json"
    if not saved.is_file():
        execute_unstarted_releases(build)
    with FileLock(str(folder / "book.lock")):
        if not saved.is_file():
            stopped = {}
            for lesson in release_lessons():
                run = executed_release(lesson)
                if run.error:
                    stopped[lesson] = run.error
            start = time.perf_counter()
            code = main(["book", "--root", str(ROOT), "--profile", PROFILE, "--build", str(build),
                         "--releases-only", "--no-execute", "--out", str(folder)])
            seconds = time.perf_counter() - start
            print(f"book built by `course book` in {seconds:.1f} s (exit {code})")
            site = folder / "site"
            pages = {lesson: str(site / lesson_page(lesson).with_suffix(".html"))
                     for lesson in release_lessons()}
            saved.write_text(json.dumps({
                "site": str(site), "pages": pages, "broken": broken_links(site),
                "stopped": stopped, "seconds": seconds, "exit_code": code}))
        data = json.loads(saved.read_text(encoding="utf-8"))
        return BookReport(Path(data["site"]), {k: Path(v) for k, v in data["pages"].items()},
                          data["broken"], data["stopped"], data["seconds"])
