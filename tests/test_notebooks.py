"""Execute every solutions/ notebook at smoke size and check what it recorded.

The thresholds are ones a broken lesson (an untrained model, an empty data
set, a skipped section) would miss.
"""

import operator
import os

import pytest

from course.release import lessons
from course.runner import run_lesson

OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, ">": operator.gt, "<": operator.lt}

REAL_DATA = bool(os.environ.get("COURSE_DATA_DIR"))

# lesson -> metric -> (operator, value); "relations" are checks across metrics.
EXPECTED = {
    "00-course-map": {
        "profile": ("==", "smoke"),
        "model_source": ("==", "packaged"),
        "datasets_found": ("==", 4 if REAL_DATA else 1),  # mini-shop, plus WANDS, ESCI, Online Retail
        "exercise_precision_ok": ("==", True),
        "course_map_nodes": (">=", 20),
        "my_branch_children": (">=", 3),
    },
    "01-search-rec-bi": {
        "data_used": ("==", "wands+online_retail" if REAL_DATA else "mini-shop"),
        "n_queries": (">=", 400),
        "share_exact": ("<", 0.5),
        "pareto_top20_share": (">", 0.4),
        "repeat_purchase_rate": (">", 0.3),
        **({"share_queries_without_exact": ("==", 101 / 480)} if REAL_DATA else {}),
    },
    "02-tokenization": {
        "vocab_size": ("==", 30522),
        "chosen_max_len": (">=", 16),
        "truncated_share_at_max_len": ("<=", 0.02),
        "cjk_ideographs_in_vocab": ("==", 244),  # the bert-base-uncased vocabulary MiniLM shares
        "chinese_unk_share_english_vocab": (">", 0.3),
        "chinese_unk_share_trained_vocab_in_sample": ("==", 0),
        "wordpiece_matches_hf": ("==", True),
        "relations": [
            ("fixed padding wastes more than dynamic",
             lambda m: m["pad_waste_fixed_128"] > m["pad_waste_dynamic"] + 0.2),
            ("bucketing wastes less than dynamic", lambda m: m["pad_waste_bucketed"] < m["pad_waste_dynamic"]),
            # Measured on titles it was not trained on: unseen characters are [UNK] (0 would
            # mean the held-out titles leaked into training), far fewer than in English.
            ("the tiny Chinese WordPiece meets unseen characters on held-out titles",
             lambda m: m["chinese_unk_share_trained_vocab_held_out"] > 0),
            ("the tiny Chinese WordPiece beats the English vocabulary on held-out titles",
             lambda m: m["chinese_unk_share_trained_vocab_held_out"]
             < m["chinese_unk_share_english_vocab_held_out"] / 2),
        ],
    },
    "03-relevance-finetuning": {
        "model_name": ("==", "sentence-transformers/all-MiniLM-L6-v2"),
        "data_used": ("==", "mini-shop"),
        "train_steps": (">=", 50),
        "reload_max_abs_diff": ("<", 1e-4),
        "selected_on": ("==", "valid"),
        "comparison": ("==", "recorded"),  # smoke applies the cpu profile's recorded choice
        "n_recipes_compared": ("==", 5),
        "side_by_side_steps": ("==", 2),
        "seed_bugs_that_raise": ("==", 6),  # each bug of the seed's snippet raises for real
        "esci_used": ("==", "esci_sample.csv" if REAL_DATA else "none"),
        "relations": [
            # An untrained or broken model predicts one class: it scores the majority baseline.
            ("fine-tuned macro-F1 beats the majority class by 0.1",
             lambda m: m["test_macro_f1"] >= m["majority_macro_f1"] + 0.1),
            ("TF-IDF beats the majority class (the baseline works)",
             lambda m: m["tfidf_macro_f1"] >= m["majority_macro_f1"] + 0.1),
            ("ESCI micro-F1 is a share", lambda m: not REAL_DATA or 0 <= m["esci_test_micro_f1"] <= 1),
        ],
    },
    "04-ranking-recommender": {
        "data_used": ("==", "mini-shop"),
        "seed_sort_ranks_negative_first": ("==", True),
        "relations": [
            ("BPR training lifts recall@10 well above the untrained towers",
             lambda m: m["two_tower_bpr_recall10"] >= m["two_tower_untrained_recall10"] + 0.03),
            ("the best two-tower is far above chance (10 / items)",
             lambda m: m["best_two_tower_recall10"] >= 5 * 10 / m["n_items"]),
            ("item-kNN beats chance", lambda m: m["item_knn_recall10"] >= 5 * 10 / m["n_items"]),
        ],
    },
    "08-course-optimisation": {
        "n_students_graded": ("==", 6),
        "n_submissions_failed": ("==", 0),
        "n_feedback_files": ("==", 7),  # six students and the instructor's canary
        "grading_wall_s": ("<", 600),
        "broken_found": ("==", True),
        "flat_found": ("==", True),
        "easiest_found": ("==", True),
        "hardest_found": ("==", True),
        "n_flagged_items": (">=", 3),
        "skill_score_corr": (">", 0),
        "difficulty_matches_library": ("==", True),
        "discrimination_matches_library": ("==", True),
    },
}


def selection_problems(metrics: dict) -> list[str]:
    """How a lesson's recorded choices break "select on validation, report test once".

    A lesson records where it made its choices as ``selected_on`` (or ``selected_on_<what>``),
    and what it chose as ``selected_<what>`` (a named winner such as ``best_loss = "bpr"``
    counts as a choice too). Every ``selected_on*`` must be ``"valid"``, and a lesson that
    records a choice must say where it made it.
    """
    where = {name: value for name, value in metrics.items() if name.startswith("selected_on")}
    problems = [f"{name} = {value!r}: choices are made on the validation split, never on test"
                for name, value in where.items() if value != "valid"]
    chosen = sorted(n for n, v in metrics.items() if n not in where and (
        n.startswith("selected_") or (n.startswith("best_") and isinstance(v, str))))
    if chosen and not where:
        problems.append(f"records the choices {chosen} but not where it made them (selected_on)")
    return problems


def test_selection_problems_catches_test_selection_and_silence():
    assert selection_problems({"selected_on": "valid", "selected_loss": "bpr"}) == []
    assert selection_problems({"test_macro_f1": 0.7}) == []
    assert selection_problems({"selected_on": "test", "selected_loss": "bpr"})
    assert selection_problems({"selected_on_loss": "valid", "selected_on_k": "test"})
    assert selection_problems({"selected_loss": "bpr"})  # a choice without saying where
    assert selection_problems({"best_loss": "bpr", "best_recall10": 0.2})  # a named winner
    assert selection_problems({"best_recall10": 0.2}) == []  # a number is not a choice


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("executed")
    cache = {}

    def run(lesson):
        if lesson not in cache:
            cache[lesson] = run_lesson(lesson, profile="smoke", out_dir=out)
        return cache[lesson]

    return run


def test_every_lesson_has_expectations():
    missing = sorted(set(lessons()) - set(EXPECTED))
    assert not missing, f"add expected metrics for {missing} to tests/test_notebooks.py"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", lessons())
def test_lesson_runs_and_records_its_metrics(lesson, executed):
    run = executed(lesson)
    assert run.error is None, f"{lesson} failed: {run.error} (see {run.output})"
    expected = dict(EXPECTED.get(lesson, {}))
    for description, check in expected.pop("relations", []):
        assert check(run.metrics), f"{lesson}: {description} failed; metrics: {run.metrics}"
    for name, (op, value) in expected.items():
        assert name in run.metrics, f"{lesson} did not record {name!r}; it recorded {sorted(run.metrics)}"
        assert OPS[op](run.metrics[name], value), f"{lesson}: {name} = {run.metrics[name]!r}, expected {op} {value!r}"
    problems = selection_problems(run.metrics)
    assert not problems, f"{lesson} selects on test or does not say where: {problems}"
