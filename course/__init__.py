"""BERT for e-commerce search and recommendation: the course library.

Notebooks import this package; the logic lives here and is unit-tested.
"""

from course.errors import CourseDataError, CourseError, CourseModelError

__all__ = ["CourseError", "CourseDataError", "CourseModelError"]
__version__ = "0.1.0"
