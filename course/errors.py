"""Error types. Every message says what went wrong and what to do."""


class CourseError(Exception):
    """Base class for every error the course raises on purpose."""


class CourseDataError(CourseError):
    """Bad, missing or corrupt data: names the file, row or column."""


class CourseModelError(CourseError):
    """A model could not be resolved, verified or loaded."""


class CourseGradingError(CourseError):
    """Release, autograde or feedback went wrong."""
