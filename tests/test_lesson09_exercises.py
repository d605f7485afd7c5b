"""Lesson 09's graded tests (hidden ones included) pass the solution and fail constant answers.

Each graded cell of the lesson is self-contained (it checks against faiss, PyTorch, LightGBM or
hand-worked cases, never the lesson's own state), so it can run here beside its answer cell,
without executing the lesson. A constant answer, the cheapest way to game a test, must fail
every one of them.
"""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from course.authoring.release import lesson_notebook

LESSON = "09-catalogue-scale-ranking"
pytest.importorskip("faiss")
pytest.importorskip("lightgbm")

# graded cell -> its answer cell, and constant answers that must not pass it
CONSTANTS = {
    "test-ann-recall": ("ann-recall-answer", [
        {"exact_top_k": lambda q, i, k: np.zeros((len(q), k), dtype=int),
         "recall_at_k": lambda a, e, k: 1.0},
        {"recall_at_k": lambda a, e, k: 0.25},
        {"exact_top_k": lambda q, i, k: np.tile(np.arange(k), (len(q), 1))},
    ]),
    "test-operating-point": ("operating-point-answer", [
        {"choose_setting": lambda curve, target, budget: 64},
        {"choose_setting": lambda curve, target, budget: curve.index[-1]},
        {"choose_setting": lambda curve, target, budget: curve["p95_ms"].idxmin()},
    ]),
    "test-margin-mse": ("margin-mse-answer", [
        {"margin_mse": lambda sp, sn, tp, tn: torch.tensor(0.04)},
        {"margin_mse": lambda sp, sn, tp, tn: ((sp - tp) ** 2).mean()},  # scores, not margins
    ]),
    "test-ltr-groups": ("ltr-groups-answer", [
        {"grouped_arrays": lambda frame, features: (
            frame[list(features)].to_numpy(float), frame["label"].to_numpy(),
            frame.groupby("query_id").size().to_numpy())},  # sizes of unsorted rows
        {"queries_in_both": lambda a, b: {3, 7}},
    ]),
    "test-tradeoff": ("tradeoff-answer", [
        {"pick_weight": lambda curve, drop: 1.0},
        {"pick_weight": lambda curve, drop: float(curve["margin"].idxmax())},  # ignores the rule
        {"decision": lambda: "a"},
    ]),
}


@pytest.fixture(scope="module")
def cells():
    nb = nbformat.read(lesson_notebook(LESSON), as_version=4)
    return {c.id: c.source for c in nb.cells}


def _namespace():
    import faiss

    return {"np": np, "pd": pd, "torch": torch, "faiss": faiss}


def test_every_graded_cell_is_covered(cells):
    nb = nbformat.read(lesson_notebook(LESSON), as_version=4)
    graded = {c.id for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get(
                  "solution")}
    assert graded == set(CONSTANTS)


@pytest.mark.parametrize("test_cell", sorted(CONSTANTS))
def test_the_solution_passes_and_constants_fail(cells, test_cell):
    answer_cell, constants = CONSTANTS[test_cell]
    solved = _namespace()
    exec(cells[answer_cell], solved)  # noqa: S102 - the lesson's own cells
    exec(cells[test_cell], solved)  # noqa: S102 - the solution passes, hidden tests included
    for constant in constants:
        gamed = _namespace()
        exec(cells[answer_cell], gamed)  # noqa: S102
        gamed.update(constant)
        with pytest.raises((AssertionError, ValueError, TypeError, IndexError)):
            exec(cells[test_cell], gamed)  # noqa: S102
