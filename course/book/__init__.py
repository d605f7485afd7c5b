"""The course as a static book: the executed releases, as one website with search.

``make book`` (``course book``) builds ``build/book/site/`` from the trainee's release
notebooks (``notebooks/``), executed with the ``cpu`` profile as Run All does
(``course run --release``, outputs in ``build/release/cpu/``): no solution is in its
sources, and the site is checked for solution text before it is kept.

The tool is MkDocs with the mkdocs-jupyter plugin and the Material theme: pure-Python
wheels from PyPI (no Node.js and no theme download while building, which Jupyter Book 2's
mystmd needs), executed notebooks rendered as they are, client-side full-text search, and
a site with no request to the network (its pages open from ``file://`` too; search
needs a web server, such as ``python -m http.server``).

The package, one job per module:

* :mod:`~course.book.links`: where each course file lives in the book, and link rewriting;
* :mod:`~course.book.pages`: the book's sources (lessons, index, glossary, map outlines);
* :mod:`~course.book.site`: MkDocs, heading anchors, and the checks of the built site;
* :mod:`~course.book.cli`: ``course book``.
"""

from course.book.cli import BOOK_OUT, book_main, build_book, executed_releases
from course.book.links import book_file, rewrite_link
from course.book.pages import prepare_notebook, write_sources
from course.book.site import (
    BookReport,
    broken_links,
    leaked_solution_lines,
    page_anchors,
    solution_lines,
)

__all__ = [
    "BOOK_OUT",
    "BookReport",
    "book_file",
    "book_main",
    "broken_links",
    "build_book",
    "executed_releases",
    "leaked_solution_lines",
    "page_anchors",
    "prepare_notebook",
    "rewrite_link",
    "solution_lines",
    "write_sources",
]
