"""The ``course`` command line: one table of subcommands, each a real function.

Every entry of :data:`COMMANDS` is ``name -> (one line of help, main)``, where ``main``
takes the subcommand's arguments and returns the exit status. Each ``main`` owns its
argparse parser (``course NAME --help``). They are imported here like any other
function, so a rename fails ruff, mypy and the tests; the heavy libraries (torch,
transformers, fastapi, nbgrader, papermill, nbformat, matplotlib) are imported only
inside them, so ``course --help`` stays fast.

``--root`` means the same in every command that works on a course directory
(``release``, ``run``, ``grade``, ``analytics``, ``book``): the course directory, by
default the current one (see :func:`course.config.course_root`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from course.authoring.book.cli import book_main
from course.authoring.release import release_main
from course.authoring.runner import run_main
from course.data.summary import summary_main
from course.deploy.serve import serve_main
from course.errors import CourseError
from course.grading.analytics import analytics_main
from course.grading.cli import grade_main
from course.hub import hub_main
from course.mindmap.cli import cli_main as mindmap_main

__all__ = [
    "COMMANDS",
    "main",
    "version",
]

Main = Callable[[list[str]], int]

COMMANDS: dict[str, tuple[str, Main]] = {
    "release": ("regenerate notebooks/ from solutions/ (nbgrader)", release_main),
    "run": ("execute lessons headless with papermill and print their metrics", run_main),
    "grade": ("autograde every submission of a lesson", grade_main),
    "analytics": ("turn the gradebook into an item-analysis report", analytics_main),
    "data": ("summarise the data sets (course data summary)", summary_main),
    "mindmap": ("render, export or check the mind maps", mindmap_main),
    "serve": ("serve a saved search pipeline over HTTP (lesson 05)", serve_main),
    "book": ("build the course as a static website (make book)", book_main),
    "hub": ("set up and start a class on JupyterHub (make hub); course hub roster FILE.csv",
            hub_main),
}


def version() -> str:
    """The installed course's version (its package metadata), else ``course.__version__``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("course")
    except PackageNotFoundError:
        from course import __version__

        return __version__


def _usage() -> str:
    lines = ["usage: course [--version] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (help_text, _) in COMMANDS.items()]
    lines.append("\nRun 'course COMMAND --help' for a command's options and their defaults.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``course`` console script and of ``python -m course``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        print(f"course {version()}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"course: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if name == "data" and rest[:1] == ["summary"]:
        rest = rest[1:]
    try:
        return int(COMMANDS[name][1](rest) or 0)
    except CourseError as exc:
        print(f"course {name}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
