"""The outcome of a grading batch: one row per submission, nothing left out."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import asdict, dataclass, field

from course.errors import CourseArgumentError

__all__ = [
    "GradeReport",
    "GradeRow",
]

GRADED, FLAGGED, FAILED = "graded", "flagged", "failed"


@dataclass
class GradeRow:
    """One student's outcome."""

    student: str
    score: float | None
    max_score: float | None
    status: str
    reason: str = ""
    seconds: float = 0.0


@dataclass
class GradeReport:
    """The outcome of a batch: one row per submission, nothing left out."""

    lesson: str
    rows: list[GradeRow] = field(default_factory=list)
    wall_s: float = 0.0

    def table(self):
        """Rows as a DataFrame (student, score, max_score, status, reason, seconds)."""
        import pandas as pd

        columns = ["student", "score", "max_score", "status", "reason", "seconds"]
        return pd.DataFrame([asdict(r) for r in self.rows], columns=columns)

    @property
    def failed(self) -> list[str]:
        """Students whose submission could not be graded."""
        return [r.student for r in self.rows if r.status == FAILED]

    @property
    def flagged(self) -> list[str]:
        """Students graded with something to review."""
        return [r.student for r in self.rows if r.status == FLAGGED]

    @property
    def ok(self) -> bool:
        """True when every submission was graded (flagged ones included)."""
        return not self.failed

    def row(self, student: str) -> GradeRow:
        """The row of one student (CourseArgumentError if absent)."""
        for r in self.rows:
            if r.student == student:
                return r
        raise CourseArgumentError(f"No row for student {student!r} in the {self.lesson} report.")

    def to_text(self) -> str:
        """The summary table and a count line, as printed by ``course grade``."""
        lines = [f"{'student':<20} {'score':>7} {'max':>6}  {'status':<8} reason"]
        for r in self.rows:
            score = "-" if r.score is None else f"{r.score:g}"
            top = "-" if r.max_score is None else f"{r.max_score:g}"
            lines.append(f"{r.student:<20} {score:>7} {top:>6}  {r.status:<8} {r.reason}")
        counts = Counter(r.status for r in self.rows)
        lines.append(
            f"{self.lesson}: {len(self.rows)} submissions, {counts[GRADED]} graded, "
            f"{counts[FLAGGED]} flagged, {counts[FAILED]} failed, in {self.wall_s:.1f} s"
        )
        if self.failed:
            lines.append("NOT GRADED (fix and re-run `course grade`): " + ", ".join(self.failed))
        return "\n".join(lines)

    def print(self, file=None) -> None:
        """Print ``to_text()``."""
        print(self.to_text(), file=file or sys.stdout)
