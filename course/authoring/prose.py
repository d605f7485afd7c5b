"""Figures in prose: find markdown sentences that quote a measured figure.

A lesson's prose must not quote a number its own run computes: the trainee's run may say
something else (another profile, another seed, lesson 03's saved model). Such figures are
printed from the run by a reading cell; the prose says what to look for and why. Figures
from papers and public leaderboards stay in prose, with their source.

A sentence is flagged when it holds a **figure** (a decimal such as ``0.73``, a percentage,
a ratio such as ``2.7×`` or ``2.7 times``) **and** a word that says it was measured (a
metric, a speed, a result: ``macro-F1``, ``NDCG``, ``faster``, ``reached``, ...), unless it
is marked as cited:

* it names its source: ``(Devlin et al., 2019)``, ``(Krichene & Rendle 2020)``, a link to a
  paper or page, or ``arXiv:...``;
* or it carries an invisible marker right after the sentence: ``<!-- cited: source -->``
  for a figure whose source is given elsewhere in the cell, or
  ``<!-- not measured: why -->`` for a figure that is a setting or a definition (a
  threshold, a gain, a significance level) rather than a result.

Code spans, LaTeX and link targets are ignored. ``python -m course.authoring.prose
[LESSON ...]`` lists every flagged sentence of the solution notebooks.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = [
    "FIGURE",
    "MEASURED",
    "QuotedFigure",
    "is_cited",
    "lesson_figures",
    "main",
    "quoted_figures",
]

FIGURE = re.compile(
    r"(?<![\w.@/#=-])(?:"
    r"\d+(?:\.\d+)?\s?%"                      # 96%, 6 %
    r"|\d+(?:\.\d+)?\s?(?:×|x\b|times\b)"     # 2.7×, 3x, 2.7 times
    r"|\d*\.\d+"                               # 0.73, .5
    r")"
)
MEASURED = re.compile(
    r"macro-?F1|micro-?F1|\bF1\b|NDCG|nDCG|recall|precision|accuracy|\bMRR\b|\bAUC\b|"
    r"Gini|coverage|Spearman|correlat|p50|p95|p99|latency|throughput|per second|/s\b|"
    r"faster|slower|speed-?up|smaller|larger|fewer|more\b|less\b|"
    r"reach(?:ed|es)|scor(?:ed|es)|gain(?:ed|s)?\b|dropp?(?:ed|s)|rose|fell|"
    r"improv|beat|lost|cost|saved|took|measured|conversions?|revenue|failure rate|"
    r"error rate|loss\b|perplexity|uplift|lift\b|overall|better|worse|higher|lower|"
    r"won\b|winner|picked|selected|in (?:our|the|this) runs?\b|seconds|minutes|\bms\b|"
    r"\bMB\b|\bGB\b|share\b",
    re.IGNORECASE,
)
CITATION = re.compile(
    r"\([A-Z][\w'’-]+(?: et al\.?| (?:and|&) [A-Z][\w'’-]+)?,? (?:19|20)\d\d[a-z]?\)"
    r"|\b[A-Z][\w'’-]+(?: et al\.?| (?:and|&) [A-Z][\w'’-]+)? \((?:19|20)\d\d[a-z]?\)"
    r"|arXiv:\d|<!--\s*(?:cited|not measured)\b|https?://",
)
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$", re.DOTALL)
_LINK_TARGET = re.compile(r"\]\((?!https?://)[^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=[A-Z*(\[])|\n\s*[-*|]\s|\n\n|\n#")


@dataclass(frozen=True)
class QuotedFigure:
    """One flagged sentence: where it is and the figures it quotes."""

    cell_id: str
    figures: tuple[str, ...]
    sentence: str

    def __str__(self) -> str:
        return f"cell {self.cell_id}: {', '.join(self.figures)}: {self.sentence}"


def is_cited(sentence: str) -> bool:
    """True when the sentence names a source or carries a ``cited`` / ``not measured`` marker."""
    return bool(CITATION.search(sentence))


def _sentences(markdown: str) -> list[str]:
    text = _LINK_TARGET.sub("]", _MATH.sub(" ", _CODE.sub(" ", markdown)))
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def quoted_figures(markdown: str, cell_id: str = "?") -> list[QuotedFigure]:
    """The sentences of one markdown text that quote a measured figure without a source."""
    found = []
    for sentence in _sentences(markdown):
        figures = tuple(m.group(0) for m in FIGURE.finditer(sentence))
        if figures and MEASURED.search(sentence) and not is_cited(sentence):
            found.append(QuotedFigure(cell_id, figures, " ".join(sentence.split())))
    return found


def lesson_figures(notebook: str | Path) -> list[QuotedFigure]:
    """Every flagged sentence of a notebook's markdown cells."""
    nb = nbformat.read(str(notebook), as_version=4)
    return [q for cell in nb.cells if cell.cell_type == "markdown"
            for q in quoted_figures(cell.source, str(cell.get("id", "?")))]


def main(argv: Iterable[str] | None = None) -> int:
    """List the flagged sentences of the given lessons (default: all); exit 1 if any."""
    from course.authoring.release import lesson_notebook, lessons

    chosen = list(argv if argv is not None else sys.argv[1:]) or lessons()
    total = 0
    for lesson in chosen:
        flagged = lesson_figures(lesson_notebook(lesson))
        total += len(flagged)
        for quoted in flagged:
            print(f"{lesson}: {quoted}")
    print(f"{total} sentence(s) quote a measured figure without a source", file=sys.stderr)
    return 1 if total else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
