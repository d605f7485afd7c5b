"""The course glossary: one English term, one Chinese translation, one line of definition.

The single source is ``mindmaps/glossary.md``: ``## Section / 中文`` headings, each
with a Markdown table of ``English | 中文 | definition | also``, where *also* lists
other English forms of the term (comma-separated). Lesson 00 shows it with
:func:`show`; every lesson links to the file.

:meth:`Glossary.check` holds the course to it: a bilingual label or heading
``English / 中文`` that names a term in its English half must use the term's
translation in its Chinese half. Terms are found longest first ("special token"
before "token"), ignoring case, with a space and a hyphen counted as the same
and an optional plural "s"/"es"; ``@k`` matches ``@10``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "GLOSSARY_FILE",
    "Glossary",
    "Term",
    "load",
    "notebook_headings",
    "parse",
    "show",
]

GLOSSARY_FILE = "glossary.md"
_ROW = re.compile(r"^\|(.*)\|\s*$")
_SECTION = re.compile(r"^##\s+(.+?)\s*$")
_SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


@dataclass(frozen=True)
class Term:
    """One glossary entry."""

    english: str
    chinese: str
    definition: str
    section: str = ""
    also: tuple[str, ...] = ()

    @property
    def forms(self) -> tuple[str, ...]:
        """Every English spelling that counts as this term."""
        return (self.english, *self.also)


def _pattern(form: str) -> str:
    words = [re.escape(w) for w in re.split(r"[\s-]+", form.strip()) if w]
    body = r"[\s-]+".join(words).replace("@k", r"@(?:k|\d+)")
    if form[-1].isalpha():
        body += "(?:s|es)?"
    return rf"(?<![\w-]){body}(?![\w-])"


def _squash(text: str) -> str:
    return "".join(text.split()).lower()


@dataclass
class Glossary:
    """The parsed glossary; ``source`` is the file it came from."""

    terms: list[Term]
    source: str = "<string>"
    _regex: Any = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.terms)

    def lookup(self, english: str) -> Term:
        """The term spelled ``english`` (any of its forms, any case).

        Raises:
            CourseArgumentError: no such term.
        """
        key = english.strip().lower()
        for term in self.terms:
            if key in (f.lower() for f in term.forms):
                return term
        raise CourseArgumentError(
            f"{english!r} is not in the glossary; add it to {self.source}."
        )

    def _compiled(self) -> tuple[Any, list[Term]]:
        if self._regex is None:
            forms = sorted(
                ((form, term) for term in self.terms for form in term.forms),
                key=lambda pair: -len(pair[0]),
            )
            alternation = "|".join(f"({_pattern(form)})" for form, _ in forms)
            self._regex = (re.compile(alternation, re.IGNORECASE), [term for _, term in forms])
        return self._regex

    def terms_in(self, english: str) -> list[tuple[Term, str]]:
        """The terms named in ``english``, longest match first, as ``(term, matched text)``."""
        regex, owners = self._compiled()
        found = []
        for match in regex.finditer(english):
            found.append((owners[match.lastindex - 1], match.group(0)))
        return found

    def check(self, label: str, where: str = "") -> list[str]:
        """Problems of one bilingual label: glossary terms whose translation it does not use.

        A label without a Chinese half has nothing to check and returns no problem.
        """
        from course.mindmap import split_label

        english, chinese = split_label(label)
        if not chinese:
            return []
        problems = []
        for term, seen in self.terms_in(english):
            if _squash(term.chinese) not in _squash(chinese):
                problems.append(
                    f"{where}{label!r}: '{seen}' is translated {term.chinese!r} in the glossary; "
                    f"use it in the Chinese half."
                )
        return problems

    def table(self) -> Any:
        """A pandas DataFrame: section, English, 中文, definition."""
        import pandas as pd

        rows = [
            {"section": t.section, "English": t.english, "中文": t.chinese,
             "definition": t.definition}
            for t in self.terms
        ]
        return pd.DataFrame(rows, columns=["section", "English", "中文", "definition"])

    def to_markdown(self) -> str:
        """The glossary as Markdown tables, one per section (without the *also* column)."""
        lines: list[str] = []
        header = ["| English | 中文 | definition |", "|---|---|---|"]
        for section in dict.fromkeys(t.section for t in self.terms):
            lines += ["", f"**{section}**", "", *header]
            lines += [
                f"| {t.english} | {t.chinese} | {t.definition} |"
                for t in self.terms if t.section == section
            ]
        return "\n".join(lines).strip() + "\n"


def _cells(row: str, source: str, lineno: int) -> list[str]:
    """The cells of a table row, given the text between its outer bars."""
    cells = [c.strip() for c in row.split("|")]
    if len(cells) != 4:
        raise CourseDataError(
            f"{source}, line {lineno}: {len(cells)} columns; a row is "
            f"'| English | 中文 | definition | also |' (also may be empty)."
        )
    if not all(cells[:3]):
        raise CourseDataError(
            f"{source}, line {lineno}: an empty English, 中文 or definition cell; fill it in."
        )
    return cells


def _no_duplicates(terms: list[tuple[Term, int]], source: str) -> None:
    seen: dict[str, int] = {}
    for term, lineno in terms:
        keys = [f.lower() for f in term.forms] + [f"中文:{_squash(term.chinese)}"]
        for key in keys:
            if key in seen:
                raise CourseDataError(
                    f"{source}, line {lineno}: {key.removeprefix('中文:')!r} is already on "
                    f"line {seen[key]}. One term, one translation: merge the two rows."
                )
            seen[key] = lineno


def parse(text: str, source: str = "<string>") -> Glossary:
    """Read the glossary's Markdown (see the module docstring).

    Raises:
        CourseDataError: a malformed row, an empty cell, or a term or translation given twice.
    """
    section, found = "", []
    for lineno, line in enumerate(text.splitlines(), start=1):
        heading = _SECTION.match(line)
        if heading:
            section = heading[1]
            continue
        row = _ROW.match(line)
        if not row or _SEPARATOR.match(line):
            continue
        english, chinese, definition, also = _cells(row[1], source, lineno)
        if english == "English":  # a table's header row
            continue
        forms = tuple(a.strip() for a in also.split(",") if a.strip())
        found.append((Term(english, chinese, definition, section, forms), lineno))
    if not found:
        raise CourseDataError(f"{source}: no glossary rows found.")
    _no_duplicates(found, source)
    return Glossary([term for term, _ in found], source=Path(source).name)


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Glossary:
    return parse(Path(path).read_text(encoding="utf-8"), source=path)


def load(path: str | Path | None = None) -> Glossary:
    """The course glossary (``mindmaps/glossary.md``), or the file at ``path``."""
    from course.mindmap import mindmap_dir

    file = Path(path) if path is not None else mindmap_dir() / GLOSSARY_FILE
    if not file.is_file():
        raise CourseDataError(f"{file.name}: no glossary file here; pass the path of one.")
    return _load(str(file), file.stat().st_mtime)


def show(path: str | Path | None = None) -> None:
    """Display the glossary in a notebook as Markdown tables, one per section."""
    from IPython.display import Markdown, display

    display(Markdown(load(path).to_markdown()))


def notebook_headings(notebook: str | Path) -> list[str]:
    """The Markdown headings of a notebook, cleaned: without ``#``, numbers and backticks."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    headings = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if re.match(r"^#{1,6}\s", line):
                text = re.sub(r"^#{1,6}\s+", "", line).replace("`", "")
                headings.append(re.sub(r"^(\d+\s*·|\d+(\.\d+)*\.?)\s*", "", text).strip())
    return headings
