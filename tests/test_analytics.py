"""Grade analytics: statistics against hand-computed values, flags on planted cohorts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from course.errors import CourseArgumentError, CourseDataError
from course.grading import analytics as A
from course.grading import irt

# nbgrader's own Gradebook.add_submission sets off SQLAlchemy autoflush warnings; not ours.
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

# Four students, one lesson, three exercises (ex3 always fails).
#            ex1 (max 1)  ex2 (max 2)  ex3 (max 1)   total
#   a            1            2            0            3
#   b            1            2            0            3
#   c            0            2            0            2
#   d            0            0            0            0
HAND = pd.DataFrame(
    [(s, "L", e, v, m)
     for s, row in {"a": (1, 2, 0), "b": (1, 2, 0), "c": (0, 2, 0), "d": (0, 0, 0)}.items()
     for e, v, m in zip(("ex1", "ex2", "ex3"), row, (1, 2, 1), strict=True)],
    columns=A.COLUMNS,
)


def test_item_statistics_match_hand_computation():
    st = A.item_statistics(HAND).set_index("exercise")
    assert st.loc["ex1", "mean_score"] == 0.5 and st.loc["ex1", "pass_rate"] == 0.5
    assert st.loc["ex1", "difficulty"] == 0.5
    assert st.loc["ex2", "mean_score"] == 1.5 and st.loc["ex2", "pass_rate"] == 0.75
    assert st.loc["ex2", "difficulty"] == 0.75
    # ex1 against rest (2, 2, 2, 0): cov 1.0 / sqrt(1.0 * 3.0)
    assert st.loc["ex1", "point_biserial"] == pytest.approx(1 / math.sqrt(3))
    # ex2 against rest (1, 1, 0, 0): the same value by symmetry
    assert st.loc["ex2", "point_biserial"] == pytest.approx(1 / math.sqrt(3))
    assert math.isnan(st.loc["ex3", "point_biserial"])
    assert (st["n"] == 4).all()


def test_pass_mark_counts_partial_credit():
    half = HAND.copy()
    half.loc[(half.student == "d") & (half.exercise == "ex2"), "score"] = 1.0
    st = A.item_statistics(half, pass_mark=0.5).set_index("exercise")
    assert st.loc["ex2", "pass_rate"] == 1.0
    assert A.item_statistics(half).set_index("exercise").loc["ex2", "pass_rate"] == 0.75


def test_upper_lower_index_by_hand():
    items = np.array([0, 0, 1, 1, 1, 0, 1, 1, 0, 1], float)
    rest = np.arange(10)
    # k = round(0.27 * 10) = 3: bottom (0, 0, 1) -> 1/3, top (1, 0, 1) -> 2/3
    assert A.upper_lower_index(items, rest) == pytest.approx(1 / 3)
    assert A.upper_lower_index(1 - items, rest) == pytest.approx(-1 / 3)


def test_point_biserial_agrees_with_scipy():
    rng = np.random.default_rng(3)
    item = rng.integers(0, 2, 50)
    rest = item * 2 + rng.normal(0, 1, 50)
    assert A.point_biserial(item, rest) == pytest.approx(sps.pointbiserialr(item, rest)[0])
    assert math.isnan(A.point_biserial(np.ones(5), np.arange(5)))


def test_rest_of_lesson_uses_only_that_lesson():
    two = pd.concat([HAND, HAND.assign(lesson="M", score=HAND.score[::-1].to_numpy())])
    by_lesson = A.item_statistics(two, rest="lesson").set_index(["lesson", "exercise"])
    assert by_lesson.loc[("L", "ex1"), "point_biserial"] == pytest.approx(1 / math.sqrt(3))
    by_course = A.item_statistics(two).set_index(["lesson", "exercise"])
    assert by_course.loc[("L", "ex1"), "point_biserial"] != pytest.approx(1 / math.sqrt(3))
    with pytest.raises(CourseArgumentError, match="rest must be"):
        A.item_statistics(two, rest="everything")


def test_lesson_distribution_and_summary():
    dist = A.lesson_distribution(HAND).set_index("student")
    assert dist.loc["a", "score"] == 3 and dist.loc["a", "max_score"] == 4
    assert dist["percent"].to_dict() == {"a": 75.0, "b": 75.0, "c": 50.0, "d": 0.0}
    summary = A.lesson_summary(HAND).set_index("lesson")
    assert summary.loc["L", "students"] == 4 and summary.loc["L", "mean"] == 50.0


def test_flag_items_on_a_hand_made_table():
    stats = pd.DataFrame({
        "exercise": ["ok", "hard", "easy", "neg", "low", "broken"],
        "n": [40] * 6,
        "mean_score": [0.5, 0.1, 0.98, 0.5, 0.5, 0.0],
        "difficulty": [0.5, 0.1, 0.98, 0.5, 0.5, 0.0],
        "point_biserial": [0.5, 0.4, 0.3, -0.3, 0.1, float("nan")],
    })
    flagged = A.flag_items(stats).set_index("exercise")
    assert flagged["flags"].to_dict() == {
        "ok": "", "hard": "too_hard", "easy": "too_easy", "neg": "negative_discrimination",
        "low": "low_discrimination", "broken": "always_failing",
    }
    assert "broken test" in flagged.loc["broken", "advice"]
    stricter = A.flag_items(stats, too_hard=0.6).set_index("exercise")
    assert stricter.loc["ok", "too_hard"]


def test_synthetic_cohort_shape_and_seed():
    df = A.synthetic_cohort(n_students=40, seed=0)
    assert list(df.columns) == A.COLUMNS
    assert df["student"].nunique() == 40 and df["exercise"].nunique() == len(irt.DEFAULT_ITEMS)
    assert df.equals(A.synthetic_cohort(n_students=40, seed=0))
    assert not df.equals(A.synthetic_cohort(n_students=40, seed=1))
    assert (df.loc[df.exercise == "recall_at_k", "score"] == 0).all()
    with pytest.raises(CourseArgumentError, match="neither broken nor flat"):
        A.synthetic_cohort(items=[irt.Item("coin", "00", 0.0, 0.0)])
    with pytest.raises(CourseArgumentError, match="at least 2 students"):
        A.synthetic_cohort(n_students=1)


def test_synthetic_cohort_scores_are_the_drawn_answers():
    """One 2PL draw: the gradebook table scores exactly what draw_answers says was right."""
    df = A.synthetic_cohort(n_students=30, seed=4)
    _, correct = irt.draw_answers(30, irt.DEFAULT_ITEMS, seed=4)
    for item in irt.DEFAULT_ITEMS:
        scores = df[df.exercise == item.name].set_index("student")["score"]
        expected = correct[item.name] * item.points * (not item.broken_test)
        assert scores.to_numpy() == pytest.approx(expected.to_numpy(dtype=float))


def _recovered(df: pd.DataFrame) -> dict[str, bool]:
    flagged = A.flag_items(A.item_statistics(df))
    planted = df.attrs["planted"]
    hit = {k: sorted(flagged.loc[flagged[k], "exercise"]) for k in A.FLAGS}
    return {
        "broken": hit["always_failing"] == [planted["broken"]],
        "easiest": hit["too_easy"] == [planted["easiest"]],
        "hardest": hit["too_hard"] == [planted["hardest"]],
        "flat": planted["flat"] in hit["low_discrimination"] + hit["negative_discrimination"],
    }


def test_flag_items_recovers_the_planted_exercises():
    assert _recovered(A.synthetic_cohort(40, seed=0)) == dict.fromkeys(
        ("broken", "easiest", "hardest", "flat"), True)


def test_recovery_rate_over_many_cohorts():
    runs = [_recovered(A.synthetic_cohort(40, seed=s)) for s in range(60)]
    rate = {k: np.mean([r[k] for r in runs]) for k in runs[0]}
    print("recovery over 60 cohorts of 40:", rate)
    assert rate["broken"] == 1.0
    assert rate["easiest"] == 1.0
    assert rate["hardest"] >= 0.85
    assert rate["flat"] >= 0.75


def test_bad_tables_raise_clear_errors():
    with pytest.raises(CourseDataError, match="lacks column"):
        A.item_statistics(HAND.drop(columns="max_score"))
    with pytest.raises(CourseDataError, match="empty"):
        A.item_statistics(HAND.iloc[0:0])
    with pytest.raises(CourseDataError, match="max_score <= 0"):
        A.item_statistics(HAND.assign(max_score=0))


def test_write_report_files(tmp_path):
    df = A.synthetic_cohort(40, seed=0)
    page = A.write_report(df, tmp_path / "out")
    assert page == tmp_path / "out" / "report.html"
    for name in ("report.md", "report.html", "items.csv", "items.png", "distribution.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    assert (tmp_path / "out" / "items.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    items = pd.read_csv(tmp_path / "out" / "items.csv")
    assert len(items) == len(irt.DEFAULT_ITEMS)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "recall_at_k | always_failing" in md and "bpr_loss | too_hard" in md
    assert "items.png" in page.read_text()


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory):
    """A course directory whose gradebook holds HAND (built once: nbgrader runs alembic)."""
    from nbgrader.api import Gradebook

    from course.grading import tools_on_path

    root = tmp_path_factory.mktemp("gradebook")
    (root / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "default_course"\n')
    with tools_on_path(), Gradebook(f"sqlite:///{root / 'gradebook.db'}", "default_course") as gb:
        gb.add_assignment("L")
        gb.add_notebook("L", "L")
        for name, points in (("ex1", 1), ("ex2", 2), ("ex3", 1)):
            gb.add_grade_cell(name, "L", "L", max_score=points, cell_type="code")
        hand = {"a": (1, 2, 0), "b": (1, 2, 0), "c": (0, 2, 0), "d": (0, 0, 0)}
        for student, scores in hand.items():
            gb.add_student(student)
            gb.add_submission("L", student)
            for name, score in zip(("ex1", "ex2", "ex3"), scores, strict=True):
                grade = gb.find_grade(name, "L", "L", student)
                grade.auto_score = score
            gb.db.commit()
    return root


def test_gradebook_table_reads_nbgrader(course_dir):
    table = A.gradebook_table(course_dir / "gradebook.db")
    pd.testing.assert_frame_equal(
        table, HAND.astype({"score": float, "max_score": float}).sort_values(
            A.COLUMNS[:3], ignore_index=True))


def test_gradebook_table_from_a_course_directory(course_dir, tmp_path):
    assert A.gradebook_table(course_dir).equals(A.gradebook_table(course_dir / "gradebook.db"))
    with pytest.raises(CourseDataError, match="No gradebook"):
        A.gradebook_table(tmp_path / "missing")


def test_analytics_main(tmp_path, capsys):
    assert A.analytics_main(["--synthetic", "40", "--out", str(tmp_path / "syn")]) == 0
    out = capsys.readouterr().out
    assert "04/recall_at_k: always_failing" in out
    assert (tmp_path / "syn" / "report.html").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert A.analytics_main(["--root", str(empty), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert f"{empty} is not a course directory" in err and "--root" in err
    (empty / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\n")
    assert A.analytics_main(["--root", str(empty), "--out", str(tmp_path / "x")]) == 1
    assert "course grade" in capsys.readouterr().err, "a course with nothing graded yet"
