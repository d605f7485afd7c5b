"""``python -m course``: the ``course`` command (see :mod:`course.cli`)."""

import sys

from course.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
