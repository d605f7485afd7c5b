"""The authoring wing: what turns ``solutions/`` into a course.

* :mod:`~course.authoring.release`: the lesson list and ``course release`` (solutions to
  the trainee's notebooks);
* :mod:`~course.authoring.runner`: ``course run``, every lesson headless with papermill;
* :mod:`~course.authoring.book`: ``course book``, the course as a static website;
* :mod:`~course.authoring.environment`: ``environment.yml`` from the project's pins
  (``make lock``).
"""

__all__ = ["book", "environment", "release", "runner"]
