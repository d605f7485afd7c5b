"""Error types. Every message says what went wrong and what to do.

Each subclass means one thing:

- ``CourseArgumentError``: a function was called with a bad argument (a value out of
  range, a wrong type or shape). It is also a ``ValueError``.
- ``CourseDataError``: a data file or table is missing, malformed or inconsistent; the
  message names the file, the line and the column where it can.
- ``CourseModelError``: a model could not be resolved, verified or loaded.
- ``CourseGradingError``: release, autograde or feedback went wrong.
- ``CourseHubError``: a class hub (``course hub``) could not be set up, started or reached.
"""

__all__ = [
    "CourseArgumentError",
    "CourseDataError",
    "CourseError",
    "CourseGradingError",
    "CourseHubError",
    "CourseModelError",
]


class CourseError(Exception):
    """Base class for every error the course raises on purpose."""


class CourseArgumentError(CourseError, ValueError):
    """A bad argument: a value out of range, a wrong type or shape."""


class CourseDataError(CourseError):
    """Bad, missing or corrupt data: names the file, row or column."""


class CourseModelError(CourseError):
    """A model could not be resolved, verified or loaded."""


class CourseGradingError(CourseError):
    """Release, autograde or feedback went wrong."""


class CourseHubError(CourseError):
    """A class hub could not be set up, started or reached (``course hub``)."""
