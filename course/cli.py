"""The ``course`` command line: release, run, grade, analytics, data, mindmap, serve."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from course.errors import CourseError

__all__ = [
    "COMMANDS",
    "main",
]


def _delegate(module: str, function: str) -> Callable[[list[str]], int]:
    """A subcommand implemented by ``module.function(argv) -> int``."""

    def run(argv: list[str]) -> int:
        return int(getattr(importlib.import_module(module), function)(argv) or 0)

    return run


def _release(argv: list[str]) -> int:
    from course.authoring.release import release

    parser = argparse.ArgumentParser(prog="course release", description=(
        "Regenerate notebooks/ (trainee release) from solutions/ with nbgrader, outputs stripped."))
    parser.add_argument("lessons", nargs="*", help="lesson ids, e.g. 00-course-map (default: all)")
    parser.add_argument("--root", default=".",
                        help="the course directory (default: the current directory)")
    args = parser.parse_args(argv)
    for path in release(args.lessons or None, root=args.root):
        print(f"released {path}")
    return 0


COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {
    "release": ("regenerate notebooks/ from solutions/", _release),
    "run": ("execute lessons headless with papermill and print their metrics",
            _delegate("course.authoring.runner", "run_main")),
    "grade": ("autograde every submission of a lesson", _delegate("course.grading", "grade_main")),
    "analytics": ("turn the gradebook into an item-analysis report",
                  _delegate("course.grading.analytics", "analytics_main")),
    "data": ("summarise the data sets (course data summary)",
             _delegate("course.data", "summary_main")),
    "mindmap": ("render or export a mind map", _delegate("course.mindmap", "cli_main")),
    "serve": ("serve a saved search pipeline over HTTP (lesson 05)",
              _delegate("course.deploy.serve", "serve_main")),
    "book": ("build the course as a static website (make book)",
             _delegate("course.authoring.book", "book_main")),
    "hub": ("set up and start a class on JupyterHub (make hub); course hub roster FILE.csv",
            _delegate("course.hub", "hub_main")),
}


def _usage() -> str:
    lines = ["usage: course COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (help_text, _) in COMMANDS.items()]
    lines.append("\nRun 'course COMMAND --help' for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``course`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"course: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if name == "data" and rest[:1] == ["summary"]:
        rest = rest[1:]
    try:
        return COMMANDS[name][1](rest)
    except CourseError as exc:
        print(f"course {name}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
