"""Lesson 08's graded tests, run on their own: the solution passes, constant answers never do.

Each graded cell runs (hidden tests included) in a namespace holding what it reads from the
lesson: the libraries, and for the decision exercise a fine-tuning table and a DAPT cost like
the ones a run records. A constant answer, or one hard-coded to the visible example, must fail.
"""

from __future__ import annotations

import math
import types

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from course import models
from course.authoring.release import lesson_notebook

LESSON = "08-shop-pretraining"
NB = nbformat.read(lesson_notebook(LESSON), as_version=4)
CELLS = {c.id: c.source for c in NB.cells}


def _namespace(gain: float = 0.02) -> dict:
    """What the graded cells read from a run: a paired fine-tuning table and DAPT's cost."""
    seeds = [0, 1, 2]
    original = [0.40, 0.45, 0.42]
    rows = [{"start": "original", "seed": s, "synonym": v}
            for s, v in zip(seeds, original, strict=True)]
    rows += [{"start": "adapted", "seed": s, "synonym": v + gain + 0.001 * s}
             for s, v in zip(seeds, original, strict=True)]
    return {"np": np, "torch": torch, "pd": pd, "stats": stats, "models": models,
            "finetuned": pd.DataFrame(rows), "syn": "synonym",
            "dapt": types.SimpleNamespace(cpu_seconds=120.0),
            "CPU_SECONDS_PER_POINT_BUDGET": 3600}


def _passes(test_cell: str, answer_name: str, answer, **run) -> bool:
    namespace = _namespace(**run)
    namespace[answer_name] = answer
    try:
        exec(CELLS[test_cell], namespace)  # noqa: S102 - the lesson's own graded cell
    except Exception:  # noqa: BLE001 - any failure means the answer does not pass
        return False
    return True


def _solution(answer_cell: str, name: str, **run):
    namespace = _namespace(**run)
    exec(CELLS[answer_cell], namespace)  # noqa: S102
    return namespace[name]


EXERCISES = {  # answer cell, graded cell, function name
    "mask": ("mask-answer", "test-mask", "mask_tokens"),
    "decide": ("decide-answer", "test-decide", "should_pretrain"),
    "cloze": ("cloze-answer", "test-cloze", "my_cloze_for_last"),
    "ndcg": ("ndcg-answer", "test-ndcg", "full_ranking_ndcg"),
}

CONSTANTS = {
    "mask": [
        lambda ids, special, *a, **k: (ids.clone(), torch.full_like(ids, -100)),
        lambda ids, special, *a, **k: (ids.clone(), ids.clone()),
        lambda ids, special, mask_id, *a, **k: (torch.full_like(ids, mask_id), ids.clone()),
    ],
    "decide": [lambda *a, **k: True, lambda *a, **k: False],
    "cloze": [
        lambda *a, **k: {"input_ids": [0, 0, 5, 8, 21], "attention_mask": [0, 0, 1, 1, 1],
                         "labels": [-100, -100, -100, -100, 10]},  # the visible example
        lambda *a, **k: {"input_ids": [], "attention_mask": [], "labels": []},
    ],
    "ndcg": [lambda *a, **k: 1.0, lambda *a, **k: 0.0, lambda *a, **k: 1 / math.log2(3)],
}


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_the_solution_passes_its_graded_cell(exercise):
    answer_cell, test_cell, name = EXERCISES[exercise]
    for gain in (0.02, 0.0):  # the decision test passes whichever way the run went
        assert _passes(test_cell, name, _solution(answer_cell, name, gain=gain), gain=gain)


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_constant_answers_fail(exercise):
    _, test_cell, name = EXERCISES[exercise]
    for constant in CONSTANTS[exercise]:
        assert not _passes(test_cell, name, constant), f"{exercise}: a constant answer passed"


def test_the_decision_follows_the_run():
    """The same answer is checked against different runs: a rule that ignores them fails one."""
    solution = _solution("decide-answer", "should_pretrain")
    assert solution([0.5, 0.55, 0.52], [0.4, 0.45, 0.42], 120, 3600) is True
    assert _passes("test-decide", "should_pretrain", solution, gain=0.05)
    assert _passes("test-decide", "should_pretrain", solution, gain=-0.05)

    def ignores_noise(adapted, original, cpu, budget):
        gain = float(np.mean(adapted) - np.mean(original))
        return gain > 0 and cpu / (100 * gain) <= budget

    assert not _passes("test-decide", "should_pretrain", ignores_noise)
