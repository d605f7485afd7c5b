"""Release notebooks are clean, parameterised, and in sync with solutions/."""

import json

import nbformat
import pytest

from course.authoring.release import MAY_FAIL_TAG, is_graded_test, lesson_notebook, lessons, release
from course.config import ROOT

LESSONS = lessons()


def test_there_are_lessons():
    assert "00-course-map" in LESSONS


@pytest.mark.parametrize("kind", ["solutions", "notebooks"])
@pytest.mark.parametrize("lesson", LESSONS)
def test_committed_notebook_has_no_outputs_and_a_parameters_cell(lesson, kind):
    path = lesson_notebook(lesson, kind)
    assert path.is_file(), f"{path} is missing: run `course release {lesson}`"
    nb = nbformat.read(path, as_version=4)
    dirty = [c.id for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path} has outputs in cells {dirty}; run `course release {lesson}`"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path} needs exactly one cell tagged 'parameters'"


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_follows_the_template(lesson):
    nb = nbformat.read(lesson_notebook(lesson), as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "a title comes first"
    opening = "\n".join(c.source for c in nb.cells[:4])
    assert "mindmap.show(" in opening, "the mind map opens the lesson"
    for heading in ("Learning objectives", "Summary"):
        assert heading in text, f"{lesson} lacks a '{heading}' section"
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert graded, f"{lesson} has no autograded test cell"
    assert any("BEGIN HIDDEN TESTS" in c.source for c in graded), f"{lesson} has no hidden tests"
    assert any("record(" in c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
def test_release_is_in_sync_with_solutions(tmp_path):
    fresh = release(LESSONS, out=tmp_path)
    stale = []
    for path in fresh:
        committed = ROOT / "notebooks" / path.parent.name / path.name
        same = committed.is_file() and (
            json.loads(committed.read_text()) == json.loads(path.read_text()))
        if not same:
            stale.append(path.parent.name)
    assert not stale, f"notebooks/ is stale for {stale}: run `course release` and commit the result"


@pytest.mark.parametrize("lesson", LESSONS)
def test_run_all_goes_on_past_the_graded_tests_of_the_release_only(lesson):
    """JupyterLab's Run All stops at an untagged failing cell; a release's failing tests are tagged.

    Solutions stay untagged, so papermill still fails on a solution whose test fails.
    """
    release_nb = nbformat.read(lesson_notebook(lesson, "notebooks"), as_version=4)
    untagged = [c.metadata["nbgrader"]["grade_id"] for c in release_nb.cells
                if is_graded_test(c) and MAY_FAIL_TAG not in c.metadata.get("tags", [])]
    assert not untagged, f"{lesson}: graded tests without {MAY_FAIL_TAG!r}: {untagged}; " \
        "run `course release`"
    source_nb = nbformat.read(lesson_notebook(lesson), as_version=4)
    tagged = [c.id for c in source_nb.cells if MAY_FAIL_TAG in c.metadata.get("tags", [])]
    assert not tagged, f"{lesson}: solution cells tagged {MAY_FAIL_TAG!r}: {tagged}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_prose_quotes_no_measured_figure_without_a_source(lesson):
    """Figures the run computes are printed by the run (course.authoring.prose)."""
    from course.authoring import prose

    flagged = prose.lesson_figures(lesson_notebook(lesson))
    assert not flagged, "\n".join(str(q) for q in flagged)
