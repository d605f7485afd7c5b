"""Where each course file lives in the book, and relative links rewritten to match.

Lessons and mind maps link to notebooks (``../02-tokenization/02-tokenization.ipynb#...``)
and to the glossary (``../../mindmaps/glossary.md``), relative to where they sit in the
repository. In the book a lesson is ``<lesson>/<lesson>.ipynb`` (built as ``.html``) and
the glossary is ``glossary.md``; a link to a lesson not written yet has no page and
becomes plain text. Heading anchors are JupyterLab's (the heading text with ``-`` for
spaces); :mod:`course.authoring.book.site` maps them to the book's heading ids after the build.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from pathlib import PurePosixPath

__all__ = [
    "GLOSSARY",
    "MARKDOWN_LINK",
    "book_file",
    "is_relative",
    "rewrite_link",
    "rewrite_markdown",
]

# [label](target "title"), with one level of parentheses allowed inside the target.
MARKDOWN_LINK = re.compile(r'(!?)\[([^\]]*)\]\(((?:[^()\s]|\([^()\s]*\))+)(\s+"[^"]*")?\)')
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)
GLOSSARY = PurePosixPath("mindmaps/glossary.md")


def book_file(repo_path: PurePosixPath, lessons: Iterable[str]) -> PurePosixPath | None:
    """The book source that a repository file becomes, or None when the book has no page for it.

    ``notebooks/<lesson>/<lesson>.ipynb`` becomes ``<lesson>/<lesson>.ipynb`` and
    ``mindmaps/glossary.md`` becomes ``glossary.md``.
    """
    parts = repo_path.parts
    if len(parts) == 3 and parts[0] == "notebooks" and parts[2] == f"{parts[1]}.ipynb":
        return PurePosixPath(parts[1], parts[2]) if parts[1] in set(lessons) else None
    if repo_path == GLOSSARY:
        return PurePosixPath("glossary.md")
    return None


def is_relative(link: str) -> bool:
    """True for a link to another file of the course (not a URL, an anchor or an absolute path)."""
    return bool(link) and not _SCHEME.match(link) and not link.startswith(("#", "/"))


def rewrite_link(
    link: str,
    source: PurePosixPath,
    page: PurePosixPath,
    lessons: Iterable[str],
    html: bool = False,
) -> str | None:
    """A link written in the repository file ``source``, as the book page ``page`` writes it.

    Args:
        link: the link as written (relative to ``source``'s folder).
        source: the repository path of the file that holds the link.
        page: the book path of the page the link ends up in.
        lessons: the lessons the book has.
        html: point at the built ``.html`` file (for notebook content, which MkDocs does
            not rewrite); otherwise at the book source, which MkDocs rewrites and checks.

    Returns:
        The rewritten link (URLs and anchors unchanged), or None when the target has no
        page in the book.
    """
    if not is_relative(link):
        return link
    target, _, anchor = link.partition("#")
    repo_path = PurePosixPath(posixpath.normpath(str(source.parent / target)))
    destination = book_file(repo_path, lessons)
    if destination is None:
        return None
    if html:
        destination = destination.with_suffix(".html")
    relative = posixpath.relpath(str(destination), str(page.parent))
    return relative + (f"#{anchor}" if anchor else "")


def rewrite_markdown(
    text: str, source: PurePosixPath, page: PurePosixPath, lessons: Iterable[str],
    html: bool = False,
) -> tuple[str, list[str]]:
    """Every relative Markdown link of ``text`` rewritten with :func:`rewrite_link`.

    Returns:
        The new text, and the links whose target has no page (now plain text).
    """
    lessons = list(lessons)
    dropped: list[str] = []

    def replace(match: re.Match) -> str:
        bang, label, link, title = match.groups()
        if bang or not is_relative(link):
            return match.group(0)
        new = rewrite_link(link, source, page, lessons, html=html)
        if new is None:
            dropped.append(link)
            return label
        return f"[{label}]({new}{title or ''})"

    return MARKDOWN_LINK.sub(replace, text), dropped
