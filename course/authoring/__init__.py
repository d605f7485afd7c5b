"""The authoring wing: what turns ``solutions/`` into a course.

* :mod:`~course.authoring.release`: the lesson list and ``course release`` (solutions to
  the trainee's notebooks);
* :mod:`~course.authoring.runner`: ``course run``, every lesson headless with papermill;
* :mod:`~course.authoring.book`: ``course book``, the course as a static website.
"""

__all__ = ["book", "release", "runner"]
