"""BERT for e-commerce search and recommendation: the course library.

Notebooks import this package; the logic lives here and is unit-tested.
"""

from course.config import put_python_on_path
from course.errors import (
    CourseArgumentError,
    CourseDataError,
    CourseError,
    CourseGradingError,
    CourseModelError,
)

put_python_on_path()

__all__ = [
    "CourseArgumentError",
    "CourseDataError",
    "CourseError",
    "CourseGradingError",
    "CourseModelError",
]
__version__ = "0.1.0"
