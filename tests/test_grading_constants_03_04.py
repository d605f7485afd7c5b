"""No graded test of lessons 03 and 04 gives points to a constant answer (issue 25, item 8).

Every answer cell of the release is replaced by code that returns a constant, chosen to pass
the visible assertions where it can (the expected value of the visible example); the
submission is saved as JupyterLab saves a notebook and autograded through nbgrader. It must
score 0 on every graded cell: the hidden tests' independent references (transformers'
collator, a step written out with torch, sklearn, pandas, ir_measures, faiss, hand-worked
cases) have to tell.
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
