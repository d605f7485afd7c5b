"""course.grading.cohort: the quiz, the latent model, planted items, a real graded cohort."""

from __future__ import annotations

import pandas as pd
import pytest

from course.errors import CourseArgumentError
from course.grading import analytics, cohort, irt

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

TRUTH = irt.planted(cohort.QUIZ)


def _passes(code: str, answer: str) -> bool:
    namespace: dict = {}
    exec(answer, namespace)
    try:
        exec(code, namespace)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("item", cohort.QUIZ, ids=lambda i: i.name)
def test_answers_pass_or_fail_as_planted(item):
    right, wrong = item.answer(True), item.answer(False)
    assert _passes(item.tests, right), "the solution must pass the visible tests"
    assert _passes(item.hidden, right) is not item.broken_test, \
        "only the broken test fails the solution"
    assert not (_passes(item.tests, wrong) and _passes(item.hidden, wrong)), \
        "the mistake must fail a test"


def test_planted_names():
    assert TRUTH == {"broken": "clamp", "flat": "is_palindrome", "easiest": "total",
                     "hardest": "median"}
    truth = cohort.latent_table()
    assert truth.loc["is_palindrome", "discrimination_a"] == 0
    assert truth["broken_test"].sum() == 1


def test_draw_answers_is_seeded_and_follows_the_model():
    skill, correct = irt.draw_answers(4000, cohort.QUIZ, seed=1)
    again = irt.draw_answers(4000, cohort.QUIZ, seed=1)[1]
    assert correct.equals(again)
    assert not correct.equals(irt.draw_answers(4000, cohort.QUIZ, seed=2)[1])
    assert list(correct.index[:2]) == ["student001", "student002"]
    rates = correct.mean()
    live = rates.drop(["is_palindrome", "clamp"])
    assert live.idxmax() == "total" and live.idxmin() == "median"
    corr = correct.astype(float).corrwith(skill)
    assert abs(corr["is_palindrome"]) < 0.05, "the flat item must not depend on skill"
    assert (corr.drop("is_palindrome") > 0.2).all()


def test_draw_answers_needs_two_students():
    with pytest.raises(CourseArgumentError, match="at least 2"):
        irt.draw_answers(1, cohort.QUIZ)


def test_quiz_notebook_has_an_answer_and_a_test_per_item():
    nb = cohort.quiz_notebook()
    meta = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    assert [m["grade_id"] for m in meta if m["solution"]] == [i.name for i in cohort.QUIZ]
    assert sum(m.get("points", 0) for m in meta if m["grade"]) == sum(i.points for i in cohort.QUIZ)
    assert all("BEGIN HIDDEN TESTS" in c.source for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade"))


def test_answer_sheet_writes_right_and_wrong_answers():
    nb = cohort.quiz_notebook()
    made = cohort.answer_sheet({"total": True, "median": False})(nb, nb)
    cells = {c.metadata["nbgrader"]["grade_id"]: c.source for c in made.cells
             if c.metadata.get("nbgrader", {}).get("solution")}
    items = {i.name: i for i in cohort.QUIZ}
    assert cells["total"] == items["total"].answer(True)
    assert cells["median"] == items["median"].answer(False)
    assert cells["clamp"] == items["clamp"].answer(False), "an exercise not named is answered wrong"
    assert "BEGIN SOLUTION" in nb.cells[1].source, "the input notebook is not modified"


def _big_flagged(n: int = 400, seed: int = 0) -> pd.DataFrame:
    big = analytics.synthetic_cohort(n, items=cohort.QUIZ, seed=seed)
    return analytics.flag_items(analytics.item_statistics(big))


@pytest.mark.parametrize("seed", [0, 7])
def test_a_large_cohort_recovers_every_planted_item(seed):
    found = cohort.planted_found(_big_flagged(seed=seed), TRUTH)
    assert found == {"broken_found": True, "flat_found": True, "easiest_found": True,
                     "hardest_found": True}


def test_planted_found_can_say_no():
    flagged = _big_flagged()
    flat = flagged["exercise"] == TRUTH["flat"]
    flagged.loc[flat, ["low_discrimination", "negative_discrimination"]] = False
    flagged.loc[flagged["exercise"] == "median", "always_failing"] = True
    found = cohort.planted_found(flagged, TRUTH)
    assert not found["flat_found"] and not found["broken_found"]


def test_the_canary_tells_a_broken_test_from_a_hard_one():
    flagged = _big_flagged()
    # hard AND broken look alike
    flagged.loc[flagged["exercise"] == "median", "always_failing"] = True
    canary = pd.DataFrame({"score": [0.0, 2.0, 1.0], "max_score": [1.0, 2.0, 1.0]},
                          index=["test_clamp", "test_median", "test_total"])
    assert cohort.broken_by_canary(canary) == ["clamp"]
    assert not cohort.planted_found(flagged, TRUTH)["broken_found"]
    assert cohort.planted_found(flagged, TRUTH, canary=canary)["broken_found"]
    healthy = canary.assign(score=canary["max_score"])
    assert not cohort.planted_found(flagged, TRUTH, canary=healthy)["broken_found"]


def test_recommendations_come_from_the_flags_most_urgent_first():
    flagged = _big_flagged()
    lines = cohort.recommendations(flagged, broken_tests=["clamp"])
    assert len(lines) == int((flagged["flags"] != "").sum())
    assert lines[0].startswith("clamp: always_failing") and "FIX THE TEST" in lines[0]
    flat = [line for line in lines if line.startswith("is_palindrome:")]
    assert flat and "unrelated to skill" in flat[0], "a near-zero r is not 'misleading'"
    flagged.loc[flagged["exercise"] == "is_palindrome", "point_biserial"] = -0.5
    strong = [x for x in cohort.recommendations(flagged) if x.startswith("is_palindrome:")]
    assert "strong students do worse" in strong[0]
    assert cohort.recommendations(flagged.assign(flags="")) == []


def test_figures_do_not_touch_the_pyplot_backend():
    import matplotlib

    before = matplotlib.get_backend()
    fig = analytics.items_figure(_big_flagged())
    assert fig.axes and matplotlib.get_backend() == before
    two_lessons = analytics.lesson_distribution(analytics.synthetic_cohort(30))
    assert len(analytics.distribution_figure(two_lessons).axes) == two_lessons["lesson"].nunique()
    with pytest.raises(CourseArgumentError, match="axes"):
        analytics.draw_distribution(two_lessons, fig.axes)


@pytest.mark.slow
def test_a_real_cohort_is_graded_as_answered(tmp_path):
    run = cohort.grade_cohort(3, seed=3, jobs=1, cell_timeout=20, root=tmp_path / "quiz",
                              feedback=False)
    assert run.report.ok and len(run.report.rows) == 4, run.report.to_text()
    assert cohort.broken_by_canary(run.canary) == ["clamp"]
    assert set(run.seconds) == {"release", "submissions", "grading", "gradebook"}
    points = {i.name: i.points for i in cohort.QUIZ}
    for row in run.table.itertuples():
        name = cohort.exercise_name(row.exercise)
        answered = bool(run.correct.loc[row.student, name])
        expected = points[name] if answered and name != TRUTH["broken"] else 0.0
        assert row.score == expected, f"{row.student}/{name}: {row.score}, expected {expected}"
    assert sorted(run.table["student"].unique()) == ["student001", "student002", "student003"]
    run.cleanup()
    assert not run.root.exists()


def test_the_cohort_benchmark_catches_a_wrong_outcome():
    """benchmarks/grading_cohort.py's oracle: right rows pass, a lost or misgraded row fails."""
    import sys

    from course.config import ROOT
    from course.grading import FAILED, FLAGGED, GRADED, GradeReport, GradeRow

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import grading_cohort as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    points = bench.points_per_exercise(ROOT / "solutions" / "00-course-map" / "00-course-map.ipynb")
    assert points == [3.0, 3.0]
    cases = {"s1": "solution", "s2": "partial", "s3": "os_exit", "s4": "invalid_json"}
    rows = [GradeRow("s1", 6.0, 6.0, GRADED), GradeRow("s2", 3.0, 6.0, GRADED),
            GradeRow("s3", 3.0, 6.0, FLAGGED, "kernel died in cell x"),
            GradeRow("s4", None, None, FAILED, "invalid notebook: JSONDecodeError")]
    assert bench.mismatches(GradeReport("00-course-map", rows), cases, points) == []
    wrong = [rows[0], GradeRow("s2", 6.0, 6.0, GRADED), rows[2]]
    problems = bench.mismatches(GradeReport("00-course-map", wrong), cases, points)
    assert any("lost ['s4']" in p for p in problems)
    assert any("s2 (partial): score 6.0" in p for p in problems)
