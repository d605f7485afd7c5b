"""A synthetic cohort that is autograded for real: the support code of the instructors' lesson.

The lesson builds a tiny nbgrader course (a quiz of short pure-Python
exercises), generates one submission per simulated student, grades them with
:func:`course.grading.grade_lesson` and analyses the gradebook with
:mod:`course.grading.analytics`.

The latent model is the 2PL item-response model of :mod:`course.grading.irt`
(``b``: difficulty, ``a``: discrimination), with each quiz exercise's parameters
in its :class:`QuizItem`. A correct answer is the exercise's solution; a wrong one is a plausible
mistake. Two exercises are planted:

* ``clamp`` has a **broken hidden test** (it expects the wrong value), so
  every submission fails it, correct or not;
* ``is_palindrome`` has ``a = 0``: passing it has nothing to do with skill.

The instructor's own solution is submitted too, as a *canary*: an exercise the
solution itself loses points on has a broken test, not a hard task.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from course.grading.irt import draw_answers

__all__ = [
    "CANARY",
    "FLAG_PRIORITY",
    "QUIZ",
    "QUIZ_CONFIG",
    "QUIZ_LESSON",
    "SOLUTION_MARKERS",
    "CohortRun",
    "QuizItem",
    "answer_sheet",
    "broken_by_canary",
    "build_quiz_course",
    "exercise_name",
    "grade_cohort",
    "latent_table",
    "planted_found",
    "quiz_notebook",
    "recommendations",
]

QUIZ_LESSON = "quiz"
CANARY = "instructor-canary"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
FLAG_PRIORITY = ["always_failing", "negative_discrimination", "too_hard", "low_discrimination",
                 "too_easy"]


@dataclass(frozen=True)
class QuizItem:
    """One quiz exercise: its code, its tests and its latent 2PL parameters."""

    name: str
    signature: str          # "def total(xs):"
    solution: str           # the body of a correct answer (indented)
    mistake: str            # the body of a plausible wrong answer (indented)
    tests: str              # visible asserts
    hidden: str             # hidden asserts
    difficulty: float       # b: the skill at which half the students get it right
    discrimination: float   # a: how sharply skill matters (0 = not at all)
    points: int = 1
    broken_test: bool = False  # planted: the hidden test is wrong

    def answer(self, correct: bool) -> str:
        """The code a student submits: the solution or the mistake."""
        return f"{self.signature}\n{self.solution if correct else self.mistake}"

    def test_source(self) -> str:
        """The test cell of the source notebook (visible and hidden asserts)."""
        return f"{self.tests}\n### BEGIN HIDDEN TESTS\n{self.hidden}\n### END HIDDEN TESTS"


QUIZ: tuple[QuizItem, ...] = (
    QuizItem("total", "def total(xs):", "    return sum(xs)", "    return sum(xs[1:])",
             "assert total([1, 2, 3]) == 6", "assert total([]) == 0\nassert total([-1, 1]) == 0",
             difficulty=-2.0, discrimination=1.5),
    QuizItem("count_vowels", "def count_vowels(text):",
             "    return sum(ch in 'aeiou' for ch in text.lower())",
             "    return sum(ch in 'aeiou' for ch in text)",
             "assert count_vowels('sofa') == 2", "assert count_vowels('Armchair') == 3",
             difficulty=-0.5, discrimination=2.0),
    QuizItem("reverse_words", "def reverse_words(text):",
             "    return ' '.join(text.split()[::-1])", "    return text[::-1]",
             "assert reverse_words('red sofa') == 'sofa red'",
             "assert reverse_words('a b c') == 'c b a'",
             difficulty=0.0, discrimination=2.0),
    QuizItem("median", "def median(xs):",
             "    s = sorted(xs)\n    m = len(s) // 2\n"
             "    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2",
             "    return sorted(xs)[len(xs) // 2]",
             "assert median([3, 1, 2]) == 2", "assert median([4, 1, 3, 2]) == 2.5",
             difficulty=1.2, discrimination=2.5, points=2),
    QuizItem("is_palindrome", "def is_palindrome(text):",
             "    kept = [ch.lower() for ch in text if ch.isalnum()]\n"
             "    return kept == kept[::-1]",
             "    return text == text[::-1]",
             "assert is_palindrome('level')", "assert is_palindrome('Step on no pets')",
             difficulty=-0.3, discrimination=0.0),
    QuizItem("clamp", "def clamp(x, low, high):", "    return max(low, min(high, x))",
             "    return min(low, max(high, x))",
             "assert clamp(5, 0, 10) == 5\nassert clamp(-1, 0, 10) == 0",
             "assert clamp(15, 0, 10) == 15  # the planted bug: should be 10",
             difficulty=-1.0, discrimination=1.8, broken_test=True),
)

QUIZ_CONFIG = '''c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "quiz-course"
c.CourseDirectory.root = {root!r}
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.db_url = "sqlite:///" + {db!r}
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.Execute.timeout = 30
'''


# --------------------------------------------------------------------------- the latent model


def latent_table(items: tuple[QuizItem, ...] = QUIZ) -> pd.DataFrame:
    """The planted truth, one row per exercise: difficulty b, discrimination a, points, broken."""
    return pd.DataFrame([{"exercise": i.name, "difficulty_b": i.difficulty,
                          "discrimination_a": i.discrimination, "points": i.points,
                          "broken_test": i.broken_test} for i in items]).set_index("exercise")


# --------------------------------------------------------------------------- the quiz course


def quiz_notebook(items: tuple[QuizItem, ...] = QUIZ):
    """The quiz's nbgrader source notebook: per exercise, an answer cell and a test cell."""
    import nbformat

    from course.grading.cases import nbgrader_cell, python_notebook

    cells = [nbformat.v4.new_markdown_cell("# Quiz: six small functions")]
    begin, end = SOLUTION_MARKERS
    for item in items:
        body = f"{item.signature}\n    {begin}\n{item.solution}\n    {end}"
        cells.append(nbgrader_cell("answer", body, item.name))
        cells.append(nbgrader_cell("tests", item.test_source(), f"test_{item.name}", item.points))
    return python_notebook(cells)


def build_quiz_course(root: Path | str, items: tuple[QuizItem, ...] = QUIZ,
                      lesson: str = QUIZ_LESSON) -> tuple[Path, Path]:
    """Write a quiz course at ``root`` and release it with nbgrader.

    Returns:
        ``(source, release)`` notebook paths.

    Raises:
        CourseGradingError: nbgrader could not release the quiz.
    """
    import nbformat

    from course.grading.gradebook import generate_assignment

    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        QUIZ_CONFIG.format(root=str(root), db=str(root / "gradebook.db")), encoding="utf-8")
    source = root / "source" / lesson / f"{lesson}.ipynb"
    source.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(quiz_notebook(items), source)
    generate_assignment(root, lesson)
    return source, root / "release" / lesson / f"{lesson}.ipynb"


def answer_sheet(correct: dict[str, bool],
                 items: tuple[QuizItem, ...] = QUIZ) -> Callable[[Any, Any], Any]:
    """A submission maker for ``grading.make_submissions``: right or wrong answer per exercise."""
    by_name = {i.name: i for i in items}

    def make(release_nb, source_nb):
        import copy

        nb = copy.deepcopy(release_nb)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in by_name:
                cell.source = by_name[grade_id].answer(bool(correct.get(grade_id, False)))
        return nb

    return make


# --------------------------------------------------------------------------- grade a cohort


class _Stopwatch:
    """Named laps of wall time, in seconds."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 2)
        self._last = now


@dataclass
class CohortRun:
    """A graded synthetic cohort: where it lives, the latent truth and what grading said."""

    root: Path
    skill: pd.Series
    correct: pd.DataFrame
    report: Any                      # course.grading.GradeReport
    table: pd.DataFrame              # gradebook_table, the canary left out
    canary: pd.DataFrame             # the instructor solution's score per test cell
    items: tuple[QuizItem, ...] = field(default=QUIZ)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase

    def feedback_file(self, student: str) -> Path:
        """The feedback HTML nbgrader wrote for ``student``."""
        return self.root / "feedback" / student / QUIZ_LESSON / f"{QUIZ_LESSON}.html"

    def cleanup(self) -> None:
        """Delete the temporary course."""
        shutil.rmtree(self.root, ignore_errors=True)


def grade_cohort(n_students: int, items: tuple[QuizItem, ...] = QUIZ, *, seed: int = 0,
                 jobs: int = 1, cell_timeout: int = 20, root: Path | str | None = None,
                 feedback: bool = True) -> CohortRun:
    """Simulate ``n_students``, write their quiz submissions, autograde them for real.

    The instructor's solution is graded too, as student ``instructor-canary``;
    it is kept out of ``table`` (the analytics input) and returned as ``canary``.

    Args:
        n_students: simulated students (plus the canary).
        items: the quiz.
        seed: seeds the skills and the answers.
        jobs: students graded at once (``grade_lesson``'s ``jobs``).
        cell_timeout: seconds per cell.
        root: where the course goes (default: a new temporary directory).
        feedback: also write feedback HTML.
    """
    from course.grading.analytics import gradebook_table
    from course.grading.batch import grade_lesson
    from course.grading.cases import make_submissions

    root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="course-quiz-"))
    clock = _Stopwatch()
    skill, correct = draw_answers(n_students, items, seed)
    source, release = build_quiz_course(root, items)
    clock.lap("release")
    students: dict[str, Any] = {s: answer_sheet(correct.loc[s].to_dict(), items)
                                for s in correct.index}
    students[CANARY] = "solution"
    make_submissions(source, release, root, QUIZ_LESSON, students)
    clock.lap("submissions")
    report = grade_lesson(QUIZ_LESSON, root=root, jobs=jobs, cell_timeout=cell_timeout,
                          feedback=feedback)
    clock.lap("grading")
    full = gradebook_table(root)
    table = full[full["student"] != CANARY].reset_index(drop=True)
    canary = full[full["student"] == CANARY].set_index("exercise")[["score", "max_score"]]
    clock.lap("gradebook")
    return CohortRun(root, skill, correct, report, table, canary, items, clock.laps)


# --------------------------------------------------------------------------- reading the results


def exercise_name(grade_id: str) -> str:
    """``test_clamp`` -> ``clamp`` (the gradebook names test cells by grade id)."""
    return grade_id[len("test_"):] if grade_id.startswith("test_") else grade_id


def broken_by_canary(canary: pd.DataFrame) -> list[str]:
    """Exercises whose tests the instructor's own solution fails: broken tests."""
    lost = canary[canary["score"] < canary["max_score"]]
    return sorted(exercise_name(g) for g in lost.index)


def planted_found(flagged: pd.DataFrame, truth: dict[str, str | None],
                  canary: pd.DataFrame | None = None) -> dict[str, bool]:
    """Did the analysis recover the planted exercises?

    * ``broken_found``: the always-failing items are exactly the broken one; with
      a ``canary`` (the instructor's solution graded), the solution fails exactly
      the broken one and it is always failing. In a small cohort a very hard
      item can also be always failing: only the canary tells it from a broken test;
    * ``flat_found``: the flat item is flagged for low or negative discrimination;
    * ``easiest_found`` / ``hardest_found``: the highest / lowest difficulty among
      items that are not always failing.
    """
    named = flagged.assign(name=flagged["exercise"].map(exercise_name))
    failing = set(named.loc[named["always_failing"], "name"])
    if canary is None:
        broken_found = failing == {truth["broken"]}
    else:
        broken_found = truth["broken"] in failing and broken_by_canary(canary) == [truth["broken"]]
    flat = named[named["name"] == truth["flat"]]
    flat_found = bool(len(flat)) and bool(
        (flat["low_discrimination"] | flat["negative_discrimination"]).iloc[0])
    live = named[~named["always_failing"]].sort_values("difficulty")
    return {
        "broken_found": bool(broken_found),
        "flat_found": bool(flat_found),
        "easiest_found": bool(len(live)) and live["name"].iloc[-1] == truth["easiest"],
        "hardest_found": bool(len(live)) and live["name"].iloc[0] == truth["hardest"],
    }


def recommendations(flagged: pd.DataFrame, broken_tests: list[str] | None = None,
                    min_discrimination: float = 0.2) -> list[str]:
    """One line of advice per flagged exercise, the most urgent first (from the flags).

    An exercise the instructor's solution fails (``broken_tests``) is told to fix
    its test. A negative discrimination closer to 0 than ``min_discrimination``
    is read as "unrelated to skill", not as "misleads strong students".
    """
    from course.grading.analytics import ADVICE

    broken_tests = broken_tests or []
    lines = []
    rows = flagged[flagged["flags"] != ""].copy()
    rows["rank"] = rows["flags"].map(
        lambda f: min(FLAG_PRIORITY.index(x.strip()) for x in f.split(",")))
    for row in rows.sort_values(["rank", "difficulty"]).itertuples():
        name = exercise_name(row.exercise)
        first = row.flags.split(",")[0].strip()
        if name in broken_tests:
            action = "FIX THE TEST: the instructor's solution fails it too"
        elif first == "negative_discrimination" and row.point_biserial > -min_discrimination:
            action = ADVICE["low_discrimination"]
        else:
            action = ADVICE[first]
        r = "n/a" if pd.isna(row.point_biserial) else f"{row.point_biserial:+.2f}"
        lines.append(f"{name}: {row.flags} (difficulty {row.difficulty:.2f}, r_pb {r}) -> {action}")
    return lines
