"""nbgrader round trip for every lesson: release, submit, autograde, read the gradebook.

* the solution notebook scores full marks;
* the untouched release scores 0 on every autograded cell;
* a partly wrong answer (the first exercise left as released) scores in between.

Scores come from nbgrader's gradebook, never from a CLI exit code.
"""

import shutil

import nbformat
import pytest

from course.authoring.release import lesson_notebook, lessons
from course.config import ROOT
from course.grading import course_config, tools_on_path

pytestmark = pytest.mark.slow


def _autograde(root, lesson, submissions):
    """Submit each notebook under its student id, autograde, return {student: {grade_id: score}}."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    api = NbGraderAPI(config=course_config(root))
    with tools_on_path():
        released = api.generate_assignment(lesson, force=True, create=True)
    assert released["success"], released.get("log")
    scores = {}
    for student, nb in submissions.items():
        target = root / "submitted" / student / lesson / f"{lesson}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        result = api.autograde(lesson, student, force=True, create=True)
        assert result["success"], \
            f"autograde of {student} failed:\n{result.get('log')}\n{result.get('error')}"
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in submissions:
            # (notebook, assignment, student)
            notebook = gb.find_submission_notebook(lesson, lesson, student)
            scores[student] = {g.name: (g.score, g.max_score) for g in notebook.grades
                               if g.max_score}
    return scores


def _partly_wrong(solution, release):
    """The solution, with its first answer cell replaced by the released stub."""
    nb = nbformat.from_dict(solution)
    stubs = {c.id: c.source for c in release.cells
             if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            cell.source = stubs[cell.id]
            break
    return nb


@pytest.mark.parametrize("lesson", lessons())
def test_round_trip_scores(lesson, tmp_path):
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    shutil.copytree(lesson_notebook(lesson).parent, tmp_path / "solutions" / lesson)
    solution = nbformat.read(lesson_notebook(lesson), as_version=4)
    release = nbformat.read(lesson_notebook(lesson, "notebooks"), as_version=4)
    scores = _autograde(tmp_path, lesson, {
        "solution": solution, "untouched": release, "partial": _partly_wrong(solution, release),
    })
    full = sum(m for _, m in scores["solution"].values())
    assert full > 0
    lost = {k: v for k, v in scores["solution"].items() if v[0] != v[1]}
    assert not lost, f"the solution loses points on {lost}"
    earned = {k: v for k, v in scores["untouched"].items() if v[0] != 0}
    assert not earned, f"the untouched release earns points on {earned}"
    partial = sum(s for s, _ in scores["partial"].values())
    assert 0 < partial < full, f"partly wrong answer scored {partial} of {full}"
