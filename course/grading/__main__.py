"""``python -m course.grading``: ``course grade`` (or, with ``--_serve``, the grading child)."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "--_serve":
    from course.grading.worker import serve_main

    sys.exit(serve_main(sys.argv[2:]))

from course.grading.cli import grade_main  # noqa: E402

sys.exit(grade_main(sys.argv[1:]))
