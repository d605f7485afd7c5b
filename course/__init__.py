"""BERT for e-commerce search and recommendation: the course library.

Notebooks import this package; the logic lives here and is unit-tested. Importing it
changes nothing in the environment (``PATH`` is set only for the child processes and
nbgrader calls that need it: see ``course.grading.gradebook``).
"""

from course.errors import (
    CourseArgumentError,
    CourseDataError,
    CourseError,
    CourseGradingError,
    CourseModelError,
)

__all__ = [
    "CourseArgumentError",
    "CourseDataError",
    "CourseError",
    "CourseGradingError",
    "CourseModelError",
]
__version__ = "0.1.0"
