"""``course book``: gather each lesson's executed page, build the site, check it.

A lesson whose solution ``make course`` executed (and that ran to its end since the
solution last changed) gets its page from that run (:mod:`course.authoring.book.transplant`);
any other lesson's release is executed as Run All does (``course run --release``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from course.authoring.book.pages import course_map, lesson_page, write_sources
from course.authoring.book.site import (
    BookReport,
    broken_links,
    fix_anchors,
    leaked_solution_lines,
    mkdocs_config,
    run_mkdocs,
)
from course.authoring.book.transplant import fresh_solution_run, page_from_solution_run
from course.authoring.release import lesson_notebook
from course.authoring.runner import release_lessons, run_release, source_digest
from course.config import PROFILES, ROOT, ROOT_HELP, HelpFormatter, course_root
from course.errors import CourseError

__all__ = [
    "BOOK_OUT",
    "book_main",
    "book_notebooks",
    "build_book",
    "executed_releases",
]

BOOK_OUT = ROOT / "build" / "book"


def _ran_from(executed: Path) -> dict:
    try:
        return json.loads(executed.read_text(encoding="utf-8"))["metadata"].get("course_run", {})
    except (OSError, ValueError, KeyError):
        return {}


def executed_releases(
    profile: str = "cpu", release_dir: Path | None = None, execute: bool = True,
    lessons: list[str] | None = None, root: Path | str = ROOT,
) -> tuple[dict[str, Path], dict[str, str]]:
    """Every lesson's executed release, executing those missing or run from an older release.

    The executed copies are ``release_dir/<profile>/<lesson>.ipynb`` (``release_dir``
    defaults to ``root/build/release``). An executed copy is reused while its recorded
    sha256 is the release's (the library is not part of the key: ``course run --release``
    re-executes on demand).

    Returns:
        lesson -> executed notebook (lesson order), and lesson -> the error of a lesson
        whose run stopped before its end.

    Raises:
        CourseError: with ``execute=False``, when a lesson has no up-to-date executed copy.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    release_dir = Path(release_dir if release_dir is not None else root / "build" / "release")
    executed, stopped = {}, {}
    chosen = lessons or release_lessons(root)
    for lesson in tqdm(chosen, desc=f"releases ({profile})", unit="lesson"):
        path = release_dir / profile / f"{lesson}.ipynb"
        ran = _ran_from(path)
        if ran.get("source_sha256") != source_digest(lesson_notebook(lesson, "notebooks", root)):
            if not execute:
                raise CourseError(f"No up-to-date executed release of {lesson} in {path.parent}: "
                                  f"run `course run --release --profile {profile}`.")
            run = run_release(lesson, profile=profile, out_dir=release_dir, root=root)
            tqdm.write(f"{lesson}: executed in {run.seconds:.1f} s")
            ran = _ran_from(path)
        executed[lesson] = path
        if ran.get("error"):
            stopped[lesson] = ran["error"]
    return executed, stopped


def book_notebooks(
    profile: str = "cpu", out: Path | None = None, execute: bool = True,
    lessons: list[str] | None = None, solution_dir: Path | None = None,
    release_dir: Path | None = None, root: Path | str = ROOT, releases_only: bool = False,
) -> tuple[dict[str, Path], dict[str, str], dict[str, str]]:
    """Each lesson's executed notebook for the book, in lesson order.

    From the solution run in ``solution_dir/<profile>/`` (default ``root/build``) when it
    is fresh (see :func:`~course.authoring.book.transplant.fresh_solution_run`; the page is
    written to ``out/pages/<profile>/``, ``out`` defaulting to ``root/build/book``), else
    from :func:`executed_releases`. With ``releases_only``, every lesson comes from its
    executed release.

    Returns:
        lesson -> notebook, lesson -> the error of a release run that stopped early, and
        lesson -> where its outputs came from (``solution run`` or ``release run``).
    """
    root = Path(root)
    out = Path(out if out is not None else root / "build" / "book")
    solutions = Path(solution_dir if solution_dir is not None else root / "build")
    chosen = lessons or release_lessons(root)
    pages, origin = {}, {}
    for lesson in chosen:
        ran = None if releases_only else fresh_solution_run(lesson, profile, solutions, root)
        if ran is not None:
            pages[lesson] = page_from_solution_run(lesson, ran, out / "pages" / profile,
                                                   profile, root)
            origin[lesson] = "solution run"
    rest = [lesson for lesson in chosen if lesson not in pages]
    stopped: dict[str, str] = {}
    if rest:
        executed, stopped = executed_releases(profile, release_dir, execute, rest, root)
        pages.update(executed)
        origin.update(dict.fromkeys(executed, "release run"))
    return {lesson: pages[lesson] for lesson in chosen}, stopped, origin


def build_book(executed: dict[str, Path], out: Path = BOOK_OUT, profile: str = "cpu",
               root: Path = ROOT) -> BookReport:
    """Build the site from executed releases into ``out/site`` and check it.

    Raises:
        CourseError: when a line of a solution or hidden test is in the site (the site
            is deleted), or when MkDocs fails.
    """
    start = time.perf_counter()
    out = Path(out)
    docs, site = out / "src", out / "site"
    titles = write_sources(docs, executed, profile, root)
    config = mkdocs_config(docs, site, out / "cache", titles, course_map(root).root.label)
    run_mkdocs(config, out / "mkdocs.yml")
    fix_anchors(site)
    leaks = leaked_solution_lines(site, root)
    if leaks:
        shutil.rmtree(site)
        raise CourseError("The book holds solution code, so it was deleted:\n  "
                          + "\n  ".join(leaks[:20]))
    pages = {lesson: site / lesson_page(lesson).with_suffix(".html") for lesson in executed}
    return BookReport(site, pages, broken_links(site), {}, time.perf_counter() - start)


def book_main(argv: list[str] | None = None) -> int:
    """``course book [--root DIR] [--profile P] [--out DIR] [--build DIR] [--no-execute]``."""
    parser = argparse.ArgumentParser(prog="course book", formatter_class=HelpFormatter,
                                     description=("Build the course as a static website from "
                                                  "the executed lessons (no solutions)."))
    parser.add_argument("--root", default=".", help=ROOT_HELP)
    parser.add_argument("--profile", choices=PROFILES, default="cpu",
                        help="profile whose executed lessons the book shows")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the book goes: OUT/site/index.html "
                             "(default: build/book/ in the course directory)")
    parser.add_argument("--build", type=Path, default=None,
                        help="where `course run` left the executed lessons: BUILD/PROFILE/ and "
                             "BUILD/release/PROFILE/ (default: build/ in the course directory)")
    parser.add_argument("--no-execute", action="store_true",
                        help="fail instead of executing a release that has no executed copy")
    parser.add_argument("--releases-only", action="store_true",
                        help="execute the releases even where `course run` left fresh outputs")
    args = parser.parse_args(argv)
    root = course_root(args.root)
    out = args.out if args.out is not None else root / "build" / "book"
    build = args.build if args.build is not None else root / "build"
    executed, stopped, origin = book_notebooks(
        args.profile, out, not args.no_execute, solution_dir=build,
        release_dir=build / "release", root=root, releases_only=args.releases_only)
    for lesson, where in origin.items():
        print(f"book: {lesson}: outputs from its {where}")
    report = build_book(executed, out, args.profile, root)
    print(f"book: {len(report.pages)} lessons in {report.site / 'index.html'} "
          f"(built in {report.seconds:.1f} s)")
    for lesson, error in stopped.items():
        print(f"book: {lesson} stopped before its end: {error}", file=sys.stderr)
    for problem in report.broken:
        print(f"book: broken link: {problem}", file=sys.stderr)
    return 1 if stopped or report.broken else 0
