"""The course as a static book: the executed releases, as one website with search.

``make book`` (``course book``) builds ``build/book/site/`` from the trainee's release
notebooks (``notebooks/``) with the outputs of the ``cpu`` profile: a lesson's page takes
them from the solution run ``make course`` left in ``build/cpu/`` where the two notebooks
share a cell, and shows exercises, graded tests and cells that use an answer without
output (:mod:`~course.authoring.book.transplant`); a lesson with no fresh solution run has its
release executed as Run All does (``course run --release``, into ``build/release/cpu/``).
No solution is in the sources, and the site is checked for solution text before it is kept.

The tool is MkDocs with the mkdocs-jupyter plugin and the Material theme: pure-Python
wheels from PyPI (no Node.js and no theme download while building, which Jupyter Book 2's
mystmd needs), executed notebooks rendered as they are, client-side full-text search, and
a site with no request to the network (its pages open from ``file://`` too; search
needs a web server, such as ``python -m http.server``).

The package, one job per module:

* :mod:`~course.authoring.book.links`: where each course file lives in the book, and link rewriting;
* :mod:`~course.authoring.book.pages`: the book's sources (lessons, index, glossary, map outlines);
* :mod:`~course.authoring.book.site`: MkDocs, heading anchors, and the checks of the built site;
* :mod:`~course.authoring.book.transplant`: a page from an executed solution, without its answers;
* :mod:`~course.authoring.book.cli`: ``course book``.
"""

from course.authoring.book.cli import (
    BOOK_OUT,
    book_main,
    book_notebooks,
    build_book,
    executed_releases,
)
from course.authoring.book.links import book_file, rewrite_link
from course.authoring.book.pages import prepare_notebook, write_sources
from course.authoring.book.site import (
    BookReport,
    broken_links,
    leaked_solution_lines,
    page_anchors,
    solution_lines,
)
from course.authoring.book.transplant import fresh_solution_run, transplant

__all__ = [
    "BOOK_OUT",
    "BookReport",
    "book_file",
    "book_main",
    "book_notebooks",
    "broken_links",
    "build_book",
    "executed_releases",
    "fresh_solution_run",
    "leaked_solution_lines",
    "page_anchors",
    "prepare_notebook",
    "rewrite_link",
    "solution_lines",
    "transplant",
    "write_sources",
]
