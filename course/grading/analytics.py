"""Grade analytics: which exercises are too hard, too easy, undiscriminating or broken.

The input is a long table, one row per (student, lesson, exercise): the shape
``gradebook_table`` reads from nbgrader's gradebook and ``synthetic_cohort``
generates. Definitions (classical test theory):

* **difficulty** (facility): mean score / max score, in [0, 1]; higher is easier.
* **pass rate**: share of students with at least ``pass_mark`` of the points.
* **point-biserial**: Pearson correlation of the item score with the
  *rest* score (the student's total on every other exercise of the table, or
  of the lesson with ``rest="lesson"``), so an item is not correlated with
  itself. NaN when either has no variance.
* **upper-lower index**: mean item fraction in the top 27% of students (by
  rest score) minus that in the bottom 27%.
"""

from __future__ import annotations

import argparse
import html
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from course.config import ROOT_HELP, HelpFormatter, course_root
from course.errors import CourseArgumentError, CourseDataError, CourseError
from course.grading.irt import DEFAULT_ITEMS, LatentItem, draw_answers, planted

__all__ = [
    "ADVICE",
    "COLUMNS",
    "FLAGS",
    "analytics_main",
    "distribution_figure",
    "draw_distribution",
    "draw_items",
    "flag_items",
    "gradebook_table",
    "item_statistics",
    "items_figure",
    "lesson_distribution",
    "lesson_summary",
    "plot_distribution",
    "plot_items",
    "point_biserial",
    "score_matrix",
    "synthetic_cohort",
    "upper_lower_index",
    "write_report",
]

COLUMNS = ["student", "lesson", "exercise", "score", "max_score"]
FLAGS = ["always_failing", "too_hard", "too_easy", "negative_discrimination", "low_discrimination"]
ADVICE = {
    "always_failing": "nobody scores: check the test (broken test or impossible task)",
    "too_hard": "few succeed: add a hint or split the exercise",
    "too_easy": "almost everyone succeeds: make it harder or drop it",
    "negative_discrimination": "strong students do worse: the test or the wording misleads",
    "low_discrimination": "score unrelated to skill: guessable, or a flaky test",
}


# --------------------------------------------------------------------------- reading


def gradebook_table(db_path_or_root: Path | str) -> pd.DataFrame:
    """One row per (student, lesson, exercise) from nbgrader's gradebook.

    Args:
        db_path_or_root: a ``gradebook.db`` file, or a course directory (its
            ``nbgrader_config.py`` names the database and course id).

    Returns:
        Columns ``student, lesson, exercise, score, max_score`` (exercise is the
        grade id), sorted; empty when nothing has been graded.

    Raises:
        CourseDataError: the path does not exist.
    """
    from nbgrader.api import Gradebook

    from course.grading.gradebook import course_directory, tools_on_path

    path = Path(db_path_or_root)
    if not path.exists():
        raise CourseDataError(
            f"No gradebook at {path}: pass a gradebook.db or the course directory.")
    if path.is_dir():
        if not (path / "nbgrader_config.py").is_file():
            raise CourseDataError(f"No nbgrader_config.py in {path}: pass the course directory "
                                  "(after `course grade LESSON`) or a gradebook.db.")
        coursedir = course_directory(path)
        url, course_id = coursedir.db_url, coursedir.course_id
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
            raise CourseDataError(f"No gradebook.db in {path}: run `course grade LESSON` first.")
    else:
        url, course_id = f"sqlite:///{path.resolve()}", "default_course"
    rows = []
    with tools_on_path(), Gradebook(url, course_id) as gb:
        for assignment in gb.assignments:
            for notebook in assignment.notebooks:
                for submission in gb.notebook_submissions(notebook.name, assignment.name):
                    for grade in submission.grades:
                        rows.append((submission.student.id, assignment.name, grade.name,
                                     float(grade.score), float(grade.max_score)))
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(COLUMNS[:3], ignore_index=True)


def _check(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise CourseDataError(
            f"Grade table lacks column(s) {missing}; expected {COLUMNS} (use gradebook_table).")
    if df.empty:
        raise CourseDataError("The grade table is empty: grade some submissions first.")
    if (df["max_score"] <= 0).any():
        bad = df.loc[df["max_score"] <= 0, "exercise"].unique().tolist()
        raise CourseDataError(f"Exercises {bad} have max_score <= 0: they cannot be analysed.")
    return df


def score_matrix(df: pd.DataFrame, lesson: str | None = None) -> pd.DataFrame:
    """Students x (lesson, exercise) scores, of one lesson or all (a missing grade counts 0)."""
    part = df if lesson is None else df[df["lesson"] == lesson]
    return part.pivot_table(index="student", columns=["lesson", "exercise"], values="score",
                            aggfunc="sum", fill_value=0.0)


# --------------------------------------------------------------------------- statistics


def point_biserial(item: np.ndarray, rest: np.ndarray) -> float:
    """Pearson correlation of an item's scores with the rest-of-test scores (NaN if constant)."""
    item, rest = np.asarray(item, float), np.asarray(rest, float)
    if len(item) < 2 or item.std() == 0 or rest.std() == 0:
        return float("nan")
    return float(np.corrcoef(item, rest)[0, 1])


def upper_lower_index(item_fraction: np.ndarray, rest: np.ndarray, share: float = 0.27) -> float:
    """Mean item fraction of the top ``share`` minus the bottom ``share`` (by rest score)."""
    item_fraction, rest = np.asarray(item_fraction, float), np.asarray(rest, float)
    k = max(1, int(round(share * len(rest))))
    if len(rest) < 2:
        return float("nan")
    order = np.argsort(rest, kind="stable")
    return float(item_fraction[order[-k:]].mean() - item_fraction[order[:k]].mean())


def item_statistics(df: pd.DataFrame, pass_mark: float = 1.0, rest: str = "course") -> pd.DataFrame:
    """Per exercise: n, max_score, mean_score, pass_rate, difficulty, point_biserial, upper_lower.

    Args:
        df: the long grade table (``gradebook_table`` or ``synthetic_cohort``).
        pass_mark: the share of an exercise's points that counts as passing it.
        rest: ``"course"`` (default): the rest score is the student's total on every
            other exercise of the table; ``"lesson"``: on the other exercises of the
            same lesson only (needs several exercises per lesson to mean much).
    """
    df = _check(df)
    if rest not in ("course", "lesson"):
        raise CourseArgumentError(f"rest must be 'course' or 'lesson', got {rest!r}.")
    top = df.groupby(["lesson", "exercise"])["max_score"].max()
    blocks = [score_matrix(df)] if rest == "course" else [
        score_matrix(df, lesson) for lesson in sorted(df["lesson"].unique())]
    out = []
    for matrix in blocks:
        total = matrix.sum(axis=1)
        for key in matrix.columns:
            scores = matrix[key].to_numpy()
            others = (total - matrix[key]).to_numpy()
            best = float(top[key])
            out.append({
                "lesson": key[0], "exercise": key[1], "n": len(scores), "max_score": best,
                "mean_score": float(scores.mean()),
                "pass_rate": float((scores >= pass_mark * best - 1e-9).mean()),
                "difficulty": float(scores.mean() / best),
                "point_biserial": point_biserial(scores, others),
                "upper_lower": upper_lower_index(scores / best, others),
            })
    return pd.DataFrame(out).sort_values(["lesson", "exercise"], ignore_index=True)


def lesson_distribution(df: pd.DataFrame) -> pd.DataFrame:
    """Each student's total per lesson: lesson, student, score, max_score, percent."""
    df = _check(df)
    totals = df.groupby(["lesson", "student"], as_index=False)[["score", "max_score"]].sum()
    totals["percent"] = 100.0 * totals["score"] / totals["max_score"]
    return totals


def lesson_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per lesson: students, mean, median, std and quartiles of the percent score."""
    dist = lesson_distribution(df)
    summary = dist.groupby("lesson")["percent"].describe()
    return summary.rename(columns={"count": "students"}).reset_index()


def flag_items(stats: pd.DataFrame, too_hard: float = 0.2, too_easy: float = 0.95,
               min_discrimination: float = 0.2) -> pd.DataFrame:
    """Add a boolean column per flag, plus ``flags`` and ``advice`` text.

    ``always_failing`` (no student scored) supersedes ``too_hard`` and the
    discrimination flags: such an item usually has a broken test. A constant
    item (NaN point-biserial) is ``low_discrimination``.
    """
    out = stats.copy()
    never = (out["mean_score"] <= 0) & (out["n"] > 0)
    r = out["point_biserial"]
    out["always_failing"] = never
    out["too_hard"] = (out["difficulty"] < too_hard) & ~never
    out["too_easy"] = out["difficulty"] > too_easy
    out["negative_discrimination"] = (r < 0) & ~never
    out["low_discrimination"] = (r.isna() | ((r >= 0) & (r < min_discrimination))) & ~never
    out["flags"] = out[FLAGS].apply(lambda row: ", ".join(f for f in FLAGS if row[f]), axis=1)
    out["advice"] = out[FLAGS].apply(lambda row: "; ".join(ADVICE[f] for f in FLAGS if row[f]),
                                     axis=1)
    return out


# --------------------------------------------------------------------------- synthetic cohort


def synthetic_cohort(n_students: int = 40, items: Sequence[LatentItem] = DEFAULT_ITEMS,
                     seed: int = 0, lesson: str = "quiz") -> pd.DataFrame:
    """A gradebook-shaped table drawn from the 2PL model of :mod:`course.grading.irt`.

    A correctly answered exercise scores all its points, else 0; an exercise with a
    broken test always scores 0.

    Args:
        n_students: students to simulate.
        items: the exercises (default :data:`course.grading.irt.DEFAULT_ITEMS`, with one
            broken and one flat exercise planted); an item without a ``lesson`` gets ``lesson``.
        seed: seeds the skills and the answers.

    Returns:
        Columns ``student, lesson, exercise, score, max_score``; ``attrs["planted"]``
        names the broken, flat, easiest and hardest exercises.
    """
    _, correct = draw_answers(n_students, items, seed)
    rows = []
    for item in items:
        passed = correct[item.name].to_numpy() & (not item.broken_test)
        lesson_of = getattr(item, "lesson", lesson)
        rows += [(student, lesson_of, item.name, item.points * float(ok), float(item.points))
                 for student, ok in zip(correct.index, passed, strict=True)]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["planted"] = planted(items)
    return df


# --------------------------------------------------------------------------- report


def _markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.{digits}g}"
        return str(value).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def draw_items(flagged: pd.DataFrame, ax, title: str = "Exercises: difficulty vs discrimination"):
    """Scatter difficulty against point-biserial on ``ax``, flagged items named; returns ax."""
    bad = flagged["flags"] != ""
    ax.scatter(flagged.loc[~bad, "difficulty"], flagged.loc[~bad, "point_biserial"].fillna(0),
               label="ok", color="tab:blue")
    ax.scatter(flagged.loc[bad, "difficulty"], flagged.loc[bad, "point_biserial"].fillna(0),
               label="flagged", color="tab:red")
    for row in flagged[bad].itertuples():
        r = 0.0 if np.isnan(row.point_biserial) else row.point_biserial
        ax.annotate(f"{row.exercise} ({row.flags})", (row.difficulty, r), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel="difficulty (mean score / max; higher = easier)",
           ylabel="point-biserial with the rest score", xlim=(-0.05, 1.05), ylim=(-1.05, 1.05),
           title=title)
    ax.legend(loc="lower left")
    return ax


def draw_distribution(dist: pd.DataFrame, axes) -> None:
    """One histogram of percent scores per lesson, on ``axes`` (one per lesson, sorted)."""
    lessons = sorted(dist["lesson"].unique())
    axes = list(np.ravel(axes))
    if len(axes) != len(lessons):
        raise CourseArgumentError(
            f"{len(lessons)} lessons need {len(lessons)} axes, got {len(axes)}.")
    for ax, lesson in zip(axes, lessons, strict=True):
        ax.hist(dist.loc[dist["lesson"] == lesson, "percent"], bins=np.linspace(0, 100, 11),
                color="tab:green", edgecolor="white")
        ax.set(title=f"lesson {lesson}", xlabel="score %")
    axes[0].set_ylabel("students")


def items_figure(flagged: pd.DataFrame, title: str = "Exercises: difficulty vs discrimination"):
    """``draw_items`` on a new matplotlib Figure, built without pyplot (no backend needed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5))
    draw_items(flagged, fig.subplots(), title)
    fig.tight_layout()
    return fig


def distribution_figure(dist: pd.DataFrame):
    """``draw_distribution`` on a new matplotlib Figure, built without pyplot."""
    from matplotlib.figure import Figure

    n = dist["lesson"].nunique()
    fig = Figure(figsize=(3 * n, 3))
    draw_distribution(dist, fig.subplots(1, n, squeeze=False, sharey=True))
    fig.tight_layout()
    return fig


def plot_items(flagged: pd.DataFrame, path: Path) -> Path:
    """Save ``items_figure`` as a PNG."""
    items_figure(flagged).savefig(path, dpi=100)
    return path


def plot_distribution(dist: pd.DataFrame, path: Path) -> Path:
    """Save ``distribution_figure`` as a PNG."""
    distribution_figure(dist).savefig(path, dpi=100)
    return path


def write_report(df: pd.DataFrame, out_dir: Path | str, **thresholds: float) -> Path:
    """Write report.md, report.html, items.csv, items.png and distribution.png.

    Args:
        df: the long grade table.
        out_dir: created if needed.
        thresholds: passed to ``flag_items`` (too_hard, too_easy, min_discrimination).

    Returns:
        The path of report.html.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    flagged = flag_items(item_statistics(df), **thresholds)
    flagged.to_csv(out / "items.csv", index=False)
    summary = lesson_summary(df)
    plot_items(flagged, out / "items.png")
    plot_distribution(lesson_distribution(df), out / "distribution.png")

    columns = ["lesson", "exercise", "n", "mean_score", "max_score", "pass_rate", "difficulty",
               "point_biserial", "upper_lower", "flags"]
    to_fix = flagged[flagged["flags"] != ""][["lesson", "exercise", "flags", "advice"]]
    md = [
        "# Grade analytics",
        "",
        f"{df['student'].nunique()} students, {len(flagged)} exercises, "
        f"{len(to_fix)} flagged.",
        "",
        "## Exercises to fix",
        "",
        _markdown_table(to_fix) if len(to_fix) else "None flagged.",
        "",
        "## All exercises",
        "",
        _markdown_table(flagged[columns]),
        "",
        "![difficulty vs discrimination](items.png)",
        "",
        "## Score distribution per lesson",
        "",
        _markdown_table(summary),
        "",
        "![score distribution](distribution.png)",
        "",
        "Difficulty is mean score / max (higher is easier). Point-biserial correlates the "
        "exercise with the student's score on all other exercises; upper_lower is the "
        "top-27% minus bottom-27% share.",
    ]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    page = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>Grade analytics</title></head><body>",
        "<h1>Grade analytics</h1>",
        f"<p>{df['student'].nunique()} students, {len(flagged)} exercises, "
        f"{len(to_fix)} flagged.</p>",
        "<h2>Exercises to fix</h2>",
        to_fix.to_html(index=False, escape=True) if len(to_fix) else "<p>None flagged.</p>",
        "<h2>All exercises</h2>",
        flagged[columns].to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep=""),
        "<img src='items.png' alt='difficulty vs discrimination'>",
        "<h2>Score distribution per lesson</h2>",
        summary.to_html(index=False, float_format=lambda v: f"{v:.3g}"),
        "<img src='distribution.png' alt='score distribution'>",
        f"<p>{html.escape(md[-1])}</p></body></html>",
    ]
    (out / "report.html").write_text("\n".join(page), encoding="utf-8")
    return out / "report.html"


def analytics_main(argv: list[str] | None = None) -> int:
    """``course analytics [--root DIR | --gradebook FILE | --synthetic N] [--out DIR]``.

    Turns the gradebook into an item-analysis report. Returns 0 when a report was
    written, 1 when there were no grades to analyse or the course directory is wrong.
    """
    parser = argparse.ArgumentParser(prog="course analytics", description=analytics_main.__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--root", default=".",
                        help=ROOT_HELP + "; its gradebook (after `course grade`) is read")
    parser.add_argument("--gradebook", type=Path, default=None, metavar="FILE",
                        help="read this gradebook.db instead of the course directory's")
    parser.add_argument("--out", default="analytics",
                        help="where the report goes (report.html, report.md, items.csv)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="analyse a synthetic cohort of N students instead (a demo); "
                             "0 reads the gradebook")
    args = parser.parse_args(argv)
    try:
        if args.synthetic:
            df = synthetic_cohort(args.synthetic)
        else:
            df = gradebook_table(args.gradebook or course_root(args.root, solutions=False))
        report = write_report(df, args.out)
    except CourseError as exc:
        print(f"course analytics: {exc}", file=sys.stderr)
        return 1
    flagged = pd.read_csv(Path(args.out) / "items.csv", dtype={"lesson": str, "exercise": str})
    flagged = flagged.fillna({"flags": ""})
    for row in flagged[flagged["flags"] != ""].itertuples():
        print(f"{row.lesson}/{row.exercise}: {row.flags}")
    print(f"report: {report} (and report.md, items.csv)")
    return 0
