"""nbgrader round trip for every lesson: release, submit, autograde, read the gradebook.

Two submissions per lesson, saved as JupyterLab saves a notebook. Each answers half of the
exercises with the solution and leaves the other half wrong (the first answers exercises
1, 3, 5, ..., the second 2, 4, 6, ...). A wrong answer is the released stub, or, for the
lessons of tests/test_grading_constants.py, a constant chosen to pass the visible checks.
Across the two every graded cell is checked twice:

* with its exercise solved it scores full marks, although other exercises are wrong (a
  wrong answer costs only its own points);
* with its exercise wrong it scores 0, although the others are solved (no stub or constant
  earns points, and no test passes on the work of another exercise).

Two executions per lesson check what a solution, an untouched release and a partly wrong
notebook would (three executions, four with the constants). Scores come from nbgrader's
gradebook, never from a CLI exit code.
"""

import copy
import shutil

import nbformat
import pytest
from test_grading_constants import CONSTANT_ANSWERS

from course.authoring.release import lesson_notebook, lessons
from course.config import ROOT
from course.grading import course_config, tools_on_path
from course.grading.cases import jupyterlab_json

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
        target.write_text(jupyterlab_json(nb), encoding="utf-8")
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


def _answer_cells(nb) -> list[str]:
    """The grade ids of the notebook's answer (solution) code cells, in order."""
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def graded_by_answer(nb) -> dict[str, str]:
    """Each graded cell's grade id -> the answer cell it checks (the nearest one above it)."""
    owner, answer = {}, None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answer = meta["grade_id"]
        if meta.get("grade"):
            owner[meta["grade_id"]] = meta["grade_id"] if meta.get("solution") else answer
    return owner


def half_wrong(solution, release, wrong: set[str], constants: dict[str, str]):
    """The solution with the answer cells in ``wrong`` replaced by a constant or the stub."""
    nb = copy.deepcopy(nbformat.from_dict(solution))
    stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in release.cells
             if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in wrong:
            cell.source = constants.get(grade_id, stubs[grade_id])
    return nb


def score_problems(scores: dict, owner: dict[str, str], wrong: set[str], name: str) -> list[str]:
    """Graded cells whose score is not 0 (answer wrong) or full marks (answer solved)."""
    problems = []
    for grade_id, (score, max_score) in sorted(scores.items()):
        if owner.get(grade_id) in wrong and score != 0:
            problems.append(f"{name}: {grade_id} earns {score}/{max_score} with "
                            f"{owner[grade_id]} wrong")
        elif owner.get(grade_id) not in wrong and score != max_score:
            problems.append(f"{name}: {grade_id} scores {score}/{max_score} with "
                            f"{owner.get(grade_id)} solved and {sorted(wrong)} wrong")
    return problems


def test_score_problems_names_what_went_wrong():
    owner = {"a-tests": "a", "b-tests": "b"}
    good = {"a-tests": (0, 2), "b-tests": (3, 3)}
    assert score_problems(good, owner, {"a"}, "odd") == []
    assert score_problems({"a-tests": (1, 2), "b-tests": (3, 3)}, owner, {"a"}, "odd") == [
        "odd: a-tests earns 1/2 with a wrong"]
    cascade = score_problems({"a-tests": (0, 2), "b-tests": (0, 3)}, owner, {"a"}, "odd")
    assert cascade == ["odd: b-tests scores 0/3 with b solved and ['a'] wrong"]


@pytest.mark.parametrize("lesson", lessons())
def test_round_trip_scores(lesson, tmp_path):
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    shutil.copytree(lesson_notebook(lesson).parent, tmp_path / "solutions" / lesson)
    solution = nbformat.read(lesson_notebook(lesson), as_version=4)
    release = nbformat.read(lesson_notebook(lesson, "notebooks"), as_version=4)
    answers, owner = _answer_cells(solution), graded_by_answer(solution)
    assert answers and owner, f"{lesson} has no graded exercise"
    constants = CONSTANT_ANSWERS.get(lesson, {})
    wrong = {"odd": set(answers[0::2]), "even": set(answers[1::2])}
    scores = _autograde(tmp_path, lesson, {
        name: half_wrong(solution, release, cells, constants) for name, cells in wrong.items()})
    for name, graded in scores.items():
        assert set(graded) == set(owner), f"{name}: graded {sorted(graded)}, not {sorted(owner)}"
        print(f"{lesson}, {name} answers wrong ({sorted(wrong[name])}): {graded}")
    problems = [problem for name, graded in scores.items()
                for problem in score_problems(graded, owner, wrong[name], name)]
    assert not problems, "\n".join(problems)
