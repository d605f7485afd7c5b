"""No graded test of lessons 03, 04, 06 and 07 gives points to a constant answer.

Every answer cell of the release is replaced by code that returns a constant, chosen to pass
the visible assertions where it can (the expected value of the visible example); the
submission is saved as JupyterLab saves a notebook and autograded through nbgrader. It must
score 0 on every graded cell: only the hidden tests' independent references (transformers'
collator, a step written out with torch, sklearn, pandas, ir_measures, faiss, statsmodels,
scipy, hand-worked cases, other catalogues) can tell, and they must. Lessons 05, 08 and 09
check the same in tests/test_lesson0N_exercises.py.
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

VISIBLE_BATCH = ('{"input_ids": torch.tensor([[101, 7, 102], [101, 102, 0]]), '
                 '"labels": torch.tensor([2, 0])}')

SIZE_CASE = ('pd.DataFrame({"query": ["small sofa"], '
             '"product_text": ["Large red sofa. The large size fits most rooms."]})')

# lesson -> answer cell (grade_id) -> the constant answer a student might try
CONSTANT_ANSWERS = {
    "03-relevance-finetuning": {
        "collate-answer": f"def pad_collate(features, pad_id):\n    return {VISIBLE_BATCH}\n",
        "train-step-answer": ("def training_step(model, batch, optimizer, scheduler, "
                              "max_grad_norm=1.0):\n    return 1.0\n"),
        "macro-f1-answer": "def macro_f1_score(y_true, y_pred, n_classes):\n    return 1.0\n",
        "ndcg-answer": "def ndcg_at_10(scores, gains):\n    return 1.0\n",
        "debug-answer": (
            "from sklearn.metrics import classification_report\n\n"
            "label2id = {label: i for i, label in enumerate(LABELS)}\n\n\n"
            "def encode_labels(labels):\n    return torch.tensor([1, 0])\n\n\n"
            "def predict_labels(logits):\n    return torch.tensor([1, 0])\n\n\n"
            "def report(true_batches, pred_batches):\n    return 'Exact Irrelevant'\n"),
    },
    "04-ranking-recommender": {
        "bpr-answer": ("import torch.nn.functional as F\n\n\n"
                       "def my_bpr_loss(pos_scores, neg_scores):\n"
                       "    return torch.tensor(0.6931472) + 0 * neg_scores.sum()\n"),
        "user-tower-answer": ("def my_recency_pool(history_vecs, history_mask, half_life):\n"
                              "    return torch.tensor([[1 / 3, 2 / 3]])\n"),
        "rank-metrics-answer": ("def my_recall_at_k(recs, targets, k=10):\n    return 0.5\n\n\n"
                                "def my_ndcg_at_k(recs, targets, k=10):\n"
                                "    return 0.5 / np.log2(3)\n"),
        "topk-answer": ("def my_top_k(user_vecs, item_vecs, k, exclude):\n"
                        "    return torch.tensor([[0, 2], [1, 2]])[:, :k]\n"),
    },
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
    print(f"{lesson}: constant answers scored {scores}")
    earned = {grade_id: score for grade_id, score in scores.items() if score[0] != 0}
    assert not earned, f"a constant answer earns points on {earned}"
