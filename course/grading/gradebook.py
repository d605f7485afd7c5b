"""The nbgrader side of a course: its configuration, its gradebook and what the release holds.

nbgrader runs the ``alembic`` script by name when it creates a gradebook, so
that script must be on ``PATH`` even when the course's environment is not
activated (``.venv/bin/course grade``, a notebook kernel). ``tools_on_path``
sets ``PATH`` for the duration of such a call only; ``tools_env`` is the
environment for a child process. Importing the course changes nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from course.errors import CourseGradingError

__all__ = [
    "SQLITE",
    "course_config",
    "course_directory",
    "generate_assignment",
    "gradebook_path",
    "release_cells",
    "source_cells",
    "student_scores",
    "tools_env",
    "tools_on_path",
    "tools_path",
]

SQLITE = "sqlite:///"


def tools_path(path: str | None = None) -> str:
    """``path`` (default: the current ``PATH``) with this interpreter's scripts folder first."""
    scripts = str(Path(sys.executable).parent)
    parts = (os.environ.get("PATH", "") if path is None else path).split(os.pathsep)
    return os.pathsep.join([scripts, *[p for p in parts if p and p != scripts]])


def tools_env(**extra: str) -> dict[str, str]:
    """A copy of this process's environment for a child: scripts first on PATH, plus ``extra``."""
    return {**os.environ, "PATH": tools_path(), **extra}


def _set_path(value: str | None) -> None:
    if value is None:
        os.environ.pop("PATH", None)
    else:
        os.environ["PATH"] = value


class _ScopedPath:
    """Reference-counted ``PATH`` change, safe when several grading threads nest it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved: str | None = None

    def enter(self) -> None:
        with self.lock:
            if self.users == 0:
                self.saved = os.environ.get("PATH")
                os.environ["PATH"] = tools_path()
            self.users += 1

    def leave(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                _set_path(self.saved)


_SCOPED_PATH = _ScopedPath()


@contextmanager
def tools_on_path() -> Iterator[None]:
    """Within the block, this interpreter's scripts come first on ``PATH`` (then it is restored).

    Wrap every nbgrader call that may create a gradebook (it runs ``alembic``).
    """
    _SCOPED_PATH.enter()
    try:
        yield
    finally:
        _SCOPED_PATH.leave()


def course_config(root: Path | str, **overrides: Any):
    """The traitlets Config of the course at ``root`` (its nbgrader_config.py), rooted there.

    ``overrides`` are ``"Section.name": value`` pairs set on top.

    Raises:
        CourseGradingError: ``root`` has no ``nbgrader_config.py``, or it cannot be loaded.
    """
    from traitlets.config import Config

    root = Path(root).resolve()
    config_file = root / "nbgrader_config.py"
    if not config_file.is_file():
        raise CourseGradingError(
            f"No nbgrader_config.py in {root}: run this from the course directory "
            "(the repository root) or pass --root DIR.")
    config = Config()
    try:
        config.merge(_load_config_file(config_file))
    except Exception as exc:  # a broken config file must say where it is
        raise CourseGradingError(f"Cannot load {config_file}: {exc}. Fix that file.") from exc
    config.CourseDirectory.root = str(root)
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        setattr(config[section], name, value)
    return config


def _load_config_file(config_file: Path):
    """Load a config file; ``PATH`` is left as it was (the file may fix it for a Jupyter server).

    The lock keeps a concurrent ``tools_on_path`` from being undone.
    """
    from traitlets.config.loader import PyFileConfigLoader

    with _SCOPED_PATH.lock:
        saved = os.environ.get("PATH")
        try:
            return PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
        finally:
            _set_path(saved)


def course_directory(root: Path | str):
    """nbgrader's ``CourseDirectory`` for the course at ``root`` (paths, db_url, course_id)."""
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=course_config(root))


def gradebook_path(root: Path | str) -> Path:
    """The SQLite file of the course's gradebook.

    Raises:
        CourseGradingError: the gradebook is not an SQLite file.
    """
    url = course_directory(root).db_url
    if not url.startswith(SQLITE):
        raise CourseGradingError(f"{url} is not an SQLite gradebook; use --jobs 1.")
    path = Path(url[len(SQLITE):])
    return path if path.is_absolute() else Path(root) / path


def source_cells(root: Path | str, lesson: str) -> dict[str, Any]:
    """What the gradebook and the release know about the lesson's notebook.

    Returns a dict with ``grade_ids`` (all nbgrader cells, in order), ``tests``
    (autograded cells -> max score), ``solutions``, ``locked`` (grade id -> the
    checksums a read-only cell may have: as released, and as in the source, hidden
    tests included), ``release`` (every cell of the release notebook:
    ``id``, ``cell_type``, ``source``, ``nbgrader``; empty if it is missing) and
    ``max_score``.

    Raises:
        CourseGradingError: the lesson is not in the gradebook (release it first).
    """
    from nbgrader.api import Gradebook, MissingEntry

    coursedir = course_directory(root)
    db = coursedir.db_url
    if db.startswith(SQLITE) and not Path(db[len(SQLITE):]).exists():
        raise CourseGradingError(
            f"No gradebook at {db[len(SQLITE):]}. Release the lesson first "
            f"(`course release {lesson}`, i.e. nbgrader generate_assignment).")
    release = release_cells(coursedir, lesson)
    with tools_on_path(), Gradebook(db, coursedir.course_id) as gb:
        try:
            notebook = gb.find_notebook(lesson, lesson)
        except MissingEntry:
            raise CourseGradingError(
                f"Lesson {lesson!r} (notebook {lesson}.ipynb) is not in {db}. Release it first "
                f"(`course release {lesson}`, i.e. nbgrader generate_assignment).") from None
        solutions = [c.name for c in notebook.solution_cells]
        released = {c["nbgrader"]["grade_id"]: c["nbgrader"].get("checksum") for c in release
                    if c["nbgrader"] and c["nbgrader"].get("locked")}
        return {
            "grade_ids": [c.name for c in notebook.source_cells],
            "tests": {c.name: float(c.max_score) for c in notebook.grade_cells
                      if c.name not in solutions},
            "solutions": solutions,
            "locked": {c.name: [s for s in (released.get(c.name), c.checksum) if s]
                       for c in notebook.source_cells if c.locked},
            "release": release,
            "max_score": float(notebook.max_score),
        }


def release_cells(coursedir, lesson: str) -> list[dict[str, Any]]:
    """Every cell of the lesson's release notebook (what students received), or [] if absent."""
    import nbformat

    folder = coursedir.format_path(coursedir.release_directory, ".", lesson)
    path = Path(folder) / f"{lesson}.ipynb"
    if not path.exists():
        return []
    nb = nbformat.read(path, as_version=4)
    return [{"id": c.get("id"), "cell_type": c.cell_type, "source": c.source,
             "nbgrader": dict(c.metadata.get("nbgrader", {})) or None} for c in nb.cells]


def student_scores(root: Path | str, lesson: str,
                   student: str) -> tuple[float | None, float | None]:
    """(score, max score) of a student's submission in the gradebook; (None, None) if absent."""
    from nbgrader.api import Gradebook, MissingEntry

    coursedir = course_directory(root)
    with tools_on_path(), Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            submission = gb.find_submission(lesson, student)
        except MissingEntry:
            return None, None
        return float(submission.score), float(submission.max_score)


def generate_assignment(course_root: Path | str, lesson: str) -> None:
    """Run nbgrader's generate_assignment for one lesson inside ``course_root``.

    Raises:
        CourseGradingError: nbgrader could not release it (the message holds its log).
    """
    from nbgrader.apps import NbGraderAPI

    logging.getLogger("traitlets").setLevel(logging.WARNING)
    with tools_on_path():
        api = NbGraderAPI(config=course_config(course_root))
        result = api.generate_assignment(lesson, force=True, create=True)
    if not result.get("success"):
        raise CourseGradingError(
            f"nbgrader could not release lesson {lesson!r} from "
            f"{Path(course_root) / 'solutions' / lesson}:\n{result.get('log', '')}\n"
            f"{result.get('error', '')}"
        )
