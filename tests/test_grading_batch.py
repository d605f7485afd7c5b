"""Batch autograding: every malformed case of issue 7 on a throwaway nbgrader course.

One module-scoped course (three exercises, five points) is graded once, with one
generated submission per case; each test then asserts one student's row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from course import grading
from course.errors import CourseArgumentError, CourseGradingError

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "grading"))
import tiny_course  # noqa: E402

LESSON = tiny_course.LESSON
CELL_TIMEOUT = 5  # seconds; the infinite loop costs this much


def _print_flood(release_nb, source_nb):
    """Solved, but the first solution prints 2 MB while it is graded."""
    nb = grading.solved(release_nb, source_nb)
    return grading.inject(nb, "print('y' * 2_000_000)", 0, at_end=True)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    source, release = tiny_course.build_course(root)
    return root, source, release


@pytest.fixture(scope="module")
def batch(course):
    root, source, release = course
    students = {case: case for case in grading.SUBMISSION_CASES}
    students["print_flood"] = _print_flood
    grading.make_submissions(source, release, root, LESSON, students)
    report = grading.grade_lesson(LESSON, root=root, students=sorted(students),
                                  cell_timeout=CELL_TIMEOUT)
    report.print()
    return root, report


# ------------------------------------------------------------------ fast: no kernel


def test_source_cells_reads_the_gradebook(course):
    root, _, _ = course
    source = grading.source_cells(root, LESSON)
    assert source["tests"] == {"test_add": 1.0, "test_square": 2.0, "test_mean": 2.0}
    assert source["solutions"] == ["add", "square", "mean"]
    assert source["max_score"] == 5.0
    assert set(source["locked"]) == {"add_note", "test_add", "test_square", "test_mean"}
    assert all(source["locked"].values()), "release checksums missing"


def test_unknown_lesson_says_release_first(course):
    root, _, _ = course
    with pytest.raises(CourseGradingError, match="Release it first"):
        grading.grade_lesson("no-such-lesson", root=root)


def test_precheck_accepts_the_solution_and_rejects_garbage(course, tmp_path):
    root, source_path, release_path = course
    source = grading.source_cells(root, LESSON)
    written = grading.make_submissions(
        source_path, release_path, tmp_path, LESSON,
        {"good": "solution", "bad": "invalid_json", "foreign": "other_lesson",
         "tests": "edited_test"})
    good = grading.precheck(written["good"], source, max_output_bytes=10**6)
    assert (good.fatal, good.notes, good.code_cells) == ("", [], 6)
    assert grading.precheck(written["bad"], source, max_output_bytes=10**6).fatal.startswith(
        "invalid notebook")
    foreign = grading.precheck(written["foreign"], source, max_output_bytes=10**6)
    assert "another lesson" in foreign.fatal
    edited = grading.precheck(written["tests"], source, max_output_bytes=10**6)
    assert not edited.fatal
    assert "edited read-only cell(s) test_add, test_square, test_mean" in edited.notes[0]


def test_precheck_rejects_json_that_is_not_a_notebook(course, tmp_path):
    root, _, _ = course
    path = tmp_path / "list.ipynb"
    path.write_text(json.dumps([1, 2, 3]))
    found = grading.precheck(path, grading.source_cells(root, LESSON), max_output_bytes=10**6)
    assert found.fatal.startswith("invalid notebook") and "cells" in found.fatal


def test_precheck_rejects_a_notebook_that_breaks_the_schema(course, tmp_path):
    root, source_path, release_path = course
    written = grading.make_submissions(source_path, release_path, tmp_path, LESSON,
                                       {"s": "solution"})
    raw = json.loads(written["s"].read_text())
    del raw["cells"][1]["source"]
    written["s"].write_text(json.dumps(raw))
    found = grading.precheck(written["s"], grading.source_cells(root, LESSON),
                             max_output_bytes=10**6)
    assert found.fatal == "invalid notebook: ValueError: not a valid nbformat 4 notebook: " \
        "'source' is a required property"


def test_make_case_rejects_an_unknown_case(course):
    _, source, release = course
    nb = nbformat.read(release, as_version=4)
    with pytest.raises(CourseArgumentError, match="Unknown submission case"):
        grading.make_case("nonsense", nb, nbformat.read(source, as_version=4))


def test_cohort_cases_has_every_malformed_case_once():
    cases = grading.cohort_cases(40, seed=1)
    assert len(cases) == 40
    counts = {c: list(cases.values()).count(c) for c in grading.SUBMISSION_CASES}
    bad = [c for c in grading.SUBMISSION_CASES if c not in grading.GOOD_CASES]
    assert len(bad) == 14 and all(counts[c] == 1 for c in bad)
    assert sum(counts[c] for c in grading.GOOD_CASES) == 40 - 14


def test_grade_main_lists_ungradable_submissions(course, capsys):
    root, source, release = course
    grading.make_submissions(source, release, root, LESSON, {"zz_bad1": "invalid_json",
                                                             "zz_bad2": "other_lesson"})
    code = grading.grade_main([LESSON, "--root", str(root), "--students", "zz_bad1", "zz_bad2"])
    captured = capsys.readouterr()
    assert code == 1
    assert "NOT GRADED: zz_bad1: invalid notebook" in captured.err
    assert "NOT GRADED: zz_bad2: notebook from another lesson" in captured.err


def test_grade_main_usage_error_for_a_missing_student(course, capsys):
    root, _, _ = course
    assert grading.grade_main([LESSON, "--root", str(root), "--students", "nobody"]) == 2
    assert "nobody" in capsys.readouterr().err


# ------------------------------------------------------------------ slow: the graded batch


@pytest.mark.slow
@pytest.mark.parametrize("case", grading.SUBMISSION_CASES)
def test_each_case_gets_its_documented_outcome(batch, case):
    _, report = batch
    row = report.row(case)
    status, words = grading.EXPECTED_OUTCOME[case]
    assert row.status == status, row
    assert words in row.reason, row


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, score",
    [("solution", 5), ("release", 0), ("partial", 3), ("deleted_test", 5), ("duplicated_cell", 5),
     ("edited_test", 0), ("infinite_loop", 4), ("sys_exit", 4), ("os_exit", 3),
     ("import_error", 4), ("huge_output", 5), ("print_flood", 5), ("metadata_stripped", 5),
     ("bom", 5), ("crlf", 5)],
)
def test_scores_follow_the_policy(batch, case, score):
    _, report = batch
    row = report.row(case)
    assert (row.score, row.max_score) == (score, 5), row


@pytest.mark.slow
def test_reasons_name_the_cell(batch):
    _, report = batch
    assert "timeout in cell add" in report.row("infinite_loop").reason
    assert "kernel died in cell mean" in report.row("os_exit").reason
    assert "sys.exit() called in cell add" in report.row("sys_exit").reason
    assert "ModuleNotFoundError in cell add" in report.row("import_error").reason
    assert "deleted autograded cell(s) test_add" in report.row("deleted_test").reason
    assert "duplicated grade id(s) test_add" in report.row("duplicated_cell").reason
    assert "50.1 MB" in report.row("huge_output").reason


@pytest.mark.slow
def test_output_produced_while_grading_is_capped(batch):
    root, report = batch
    row = report.row("print_flood")
    assert row.status == grading.FLAGGED and "over the cap, truncated" in row.reason
    graded = root / "autograded" / "print_flood" / LESSON / f"{LESSON}.ipynb"
    assert graded.stat().st_size < 1_500_000


@pytest.mark.slow
def test_nothing_is_lost(batch):
    root, report = batch
    submitted = {p.parent.name for p in (root / "submitted").glob(f"*/{LESSON}")}
    graded = set(grading.SUBMISSION_CASES) | {"print_flood"}
    assert {r.student for r in report.rows} == graded
    assert graded <= submitted
    assert not report.ok
    assert sorted(report.failed) == ["empty_notebook", "invalid_json", "other_lesson"]
    table = report.table()
    assert list(table.columns[:5]) == ["student", "score", "max_score", "status", "reason"]
    assert len(table) == len(graded)
    assert "NOT GRADED" in report.to_text() and "invalid_json" in report.to_text()


@pytest.mark.slow
def test_feedback_and_gradebook_agree_with_the_report(batch):
    from nbgrader.api import Gradebook

    root, report = batch
    for row in report.rows:
        html = root / "feedback" / row.student / LESSON / f"{LESSON}.html"
        assert html.exists() == (row.status != grading.FAILED), row
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "tiny-course") as gb:
        for row in report.rows:
            if row.status != grading.FAILED:
                assert gb.find_submission(LESSON, row.student).score == row.score, row


@pytest.mark.slow
def test_parallel_jobs_merge_into_the_real_gradebook(course, batch, capsys):
    from nbgrader.api import Gradebook

    root, source, release = course
    grading.make_submissions(source, release, root, LESSON,
                             {"par_a": "solution", "par_b": "partial", "par_c": "os_exit"})
    code = grading.grade_main([LESSON, "--root", str(root), "--jobs", "2", "--timeout",
                               str(CELL_TIMEOUT), "--students", "par_a", "par_b", "par_c"])
    out = capsys.readouterr().out
    assert code == 0, out
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "tiny-course") as gb:
        scores = {s: gb.find_submission(LESSON, s).score for s in ("par_a", "par_b", "par_c")}
    assert scores == {"par_a": 5, "par_b": 3, "par_c": 3}
    for student in scores:
        assert (root / "feedback" / student / LESSON / f"{LESSON}.html").exists()
    assert "kernel died in cell mean" in out


@pytest.mark.slow
def test_a_worker_that_overruns_the_wall_clock_is_killed(course):
    root, source, release = course
    grading.make_submissions(source, release, root, LESSON, {"slowpoke": "solution"})
    worker = grading.GradingWorker(cell_timeout=CELL_TIMEOUT, max_output_bytes=10**6,
                                   feedback=False)
    try:
        result = worker.grade(root, LESSON, "slowpoke", wall_timeout=0.5)
    finally:
        worker.close()
    assert result["success"] is False
    assert "wall clock" in result["error"] and "killed" in result["error"]
    assert worker.proc.poll() is not None


def test_path_is_set_only_where_nbgrader_runs_its_tools(monkeypatch):
    import os
    import threading

    from course.config import ROOT

    scripts = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    grading.course_config(ROOT)  # nbgrader_config.py fixes PATH for a Jupyter server ...
    assert os.environ["PATH"] == "/usr/bin:/bin"  # ... but not for this process
    inside = []

    def nested() -> None:
        with grading.tools_on_path():
            inside.append(os.environ["PATH"].split(os.pathsep)[0])

    with grading.tools_on_path():
        threads = [threading.Thread(target=nested) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert os.environ["PATH"].split(os.pathsep)[0] == scripts
    assert inside == [scripts] * 4
    assert os.environ["PATH"] == "/usr/bin:/bin"
    assert grading.tools_env()["PATH"].split(os.pathsep)[0] == scripts
    assert os.environ["PATH"] == "/usr/bin:/bin"
