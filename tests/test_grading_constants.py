"""No graded test of lessons 06 and 07 gives points to a constant answer (issue 25, item 8).

Every answer cell of the release is replaced by a function that returns a constant, chosen
to pass the visible assertions where one can (the expected value of the visible example);
the submission is saved as JupyterLab saves a notebook and autograded through nbgrader.
It must score 0 on every graded cell: only the hidden tests' independent references
(statsmodels, scipy, hand-worked cases, other catalogues) can tell, and they must.
"""

import copy
import shutil

import nbformat
import pytest
from test_grading_roundtrip import _autograde

from course.authoring.release import lesson_notebook
from course.config import ROOT
from course.grading.cases import jupyterlab_json

pytestmark = pytest.mark.slow

SIZE_CASE = ('pd.DataFrame({"query": ["small sofa"], '
             '"product_text": ["Large red sofa. The large size fits most rooms."]})')

# lesson -> answer cell (grade_id) -> the constant answer a student might try
CONSTANT_ANSWERS = {
    "06-trust-business-value": {
        "deletion-answer": "def deletion_score(curves, ks=(1, 2, 3)):\n    return 0.2\n",
        "invariance-answer": "def invariance_failure_rate(probs_a, probs_b):\n    return 0.5\n",
        "size-test-answer": (
            "def size_test(products, n, seed=0):\n"
            "    return behaviour.BehaviourTest('size mismatch', 'MFT', 'size', 'one case',\n"
            f"                                   {SIZE_CASE}, forbidden=('Exact',))\n"),
        "sample-size-answer": ("from scipy.stats import norm\n\n\n"
                               "def visitors_per_arm(p_control, relative_mde, alpha=0.05, "
                               "power=0.8):\n    return 3841\n"),
        "ztest-answer": ("def ztest_with_ci(x_c, n_c, x_t, n_t, alpha=0.05):\n"
                         "    return 0.03, 0.04, 0.001, 0.059\n"),
        "aa-answer": "def peeking_threshold(pvalues, alpha=0.05):\n    return 0.03\n",
    },
    "07-labels-and-drift": {
        "ipw-answer": ("def ipw_weights(positions, propensity, max_weight):\n"
                       "    return np.array([1.0, 2.0, 4.0])\n"),
        "entropy-answer": ("def select_by_entropy(probs, pool_ids, k):\n"
                           "    return np.array([11, 12])\n"),
        "psi-answer": ("def population_stability_index(expected, actual, bins=10, eps=1e-4):\n"
                       "    return 0.0\n"),
        "ratio-answer": "def choose_ratio(table, before_old, max_old_drop):\n    return 0.5\n",
    },
}


def constant_submission(lesson: str):
    """The release with every answer cell replaced by its constant, as JupyterLab saves it."""
    release = nbformat.read(lesson_notebook(lesson, "notebooks"), as_version=4)
    nb = copy.deepcopy(release)
    answers = CONSTANT_ANSWERS[lesson]
    answered = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            assert meta["grade_id"] in answers, f"no constant answer for {meta['grade_id']}"
            cell.source = answers[meta["grade_id"]]
            answered.add(meta["grade_id"])
    missing = set(answers) - answered
    assert not missing, f"answers for cells the lesson lacks: {missing}"
    return nbformat.reads(jupyterlab_json(nb), as_version=4)


@pytest.mark.parametrize("lesson", sorted(CONSTANT_ANSWERS))
def test_constant_answers_score_nothing(lesson, tmp_path):
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    shutil.copytree(lesson_notebook(lesson).parent, tmp_path / "solutions" / lesson)
    scores = _autograde(tmp_path, lesson, {"constant": constant_submission(lesson)})["constant"]
    assert scores, "the autograder found no graded cells"
    earned = {grade_id: score for grade_id, score in scores.items() if score[0] != 0}
    assert not earned, f"a constant answer earns points on {earned}"
