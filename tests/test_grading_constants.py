"""The constant answers a student might try, for lessons 03, 04, 06 and 07.

Each constant is chosen to pass the visible assertions where it can (the expected value of the
visible example). tests/test_grading_roundtrip.py grades them: every answer cell of these
lessons is submitted once as its constant, with the other exercises solved, saved as JupyterLab
saves a notebook and autograded through nbgrader, and must score 0. Only the hidden tests'
independent references (transformers' collator, a step written out with torch, sklearn, pandas,
ir_measures, faiss, statsmodels, scipy, hand-worked cases, other catalogues) can tell, and they
must. Lessons 05, 08 and 09 check the same in tests/test_lesson0N_exercises.py.
"""

import nbformat
import pytest

from course.authoring.release import lesson_notebook

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


@pytest.mark.parametrize("lesson", sorted(CONSTANT_ANSWERS))
def test_every_answer_cell_has_a_constant(lesson):
    release = nbformat.read(lesson_notebook(lesson, "notebooks"), as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"] for c in release.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    assert cells == set(CONSTANT_ANSWERS[lesson]), (
        f"{lesson}: answer cells without a constant {sorted(cells - set(CONSTANT_ANSWERS[lesson]))}"
        f", constants for no cell {sorted(set(CONSTANT_ANSWERS[lesson]) - cells)}")
