"""Lesson 05's graded tests tell a right answer from a constant one.

Each exercise's answer cell (the solution, or a constant answer) and its test cell, hidden
tests included, run in a fresh namespace, as the autograder runs them; the solution passes
and every constant answer fails.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from course.authoring.release import lesson_notebook

LESSON = "05-efficient-deployment"
# exercise: (answer cell, test cell, a constant answer that passes as much as it can)
CONSTANTS = {
    "lora": ("lora-count-answer", "test-lora-count",
             "def lora_added_parameters(hidden_size, num_layers, r, targets_per_layer):\n"
             "    return 73_728\n"
             "def lora_share(model, r, targets_per_layer):\n    return 0.003\n"),
    "memory, always fits": ("memory-answer", "test-memory", "FITS = True"),
    "memory, never fits": ("memory-answer", "test-memory", "FITS = False"),
    "latency": ("latency-answer", "test-latency",
                "def latency_summary(latencies_ms, wall_seconds):\n"
                "    return {'p50': 50, 'p95': 100, 'p99': 100, 'requests_per_s': 5.0}\n"),
    "rrf": ("rrf-answer", "test-rrf",
            "def rrf(rankings, k=60):\n    return ['b', 'a', 'd', 'c']\n"),
    "depth": ("depth-answer", "test-depth",
              "def choose_depth(curve, budget_ms):\n    return 20\n"),
}
SETUP = """
import numpy as np
import pandas as pd
from course import data, models, search
from course.deploy import latency, memory, peft_tuning
LORA_RANK = 8
curve = pd.DataFrame({"ndcg10": [0.5, 0.6], "p95_ms": [10, 20]}, index=[5, 10])
"""


@pytest.fixture(scope="module")
def cells():
    nb = nbformat.read(lesson_notebook(LESSON), as_version=4)
    return {c.get("id"): c.source for c in nb.cells}


@pytest.fixture(scope="module")
def base():
    from course import data, models

    resolved = models.resolve_model(models.default_model_name("smoke"))
    return models.load_classifier(resolved, list(data.LABELS), seed=0)


def run(answer: str, test: str, base) -> None:
    namespace: dict = {"base": base}
    exec(SETUP, namespace)  # noqa: S102
    exec(answer, namespace)  # noqa: S102
    exec(test, namespace)  # noqa: S102


def constant_answer(solution: str, constant: str) -> str:
    if not constant.startswith("FITS"):
        return constant
    # keep the right training_memory_mb; fits_in_gpu answers the same whatever it is asked
    head = solution.split("def fits_in_gpu")[0]
    value = constant.split("= ")[1]
    return head + ("def fits_in_gpu(model_config, total_params, batch, length, gpu_gb):\n"
                   f"    return {value}\n")


@pytest.mark.parametrize("exercise", sorted({v[:2] for v in CONSTANTS.values()}))
def test_the_solution_passes(exercise, cells, base):
    answer, test = exercise
    run(cells[answer], cells[test], base)


@pytest.mark.parametrize("name", list(CONSTANTS))
def test_a_constant_answer_fails(name, cells, base):
    answer, test, constant = CONSTANTS[name]
    with pytest.raises(AssertionError):
        run(constant_answer(cells[answer], constant), cells[test], base)


def test_the_memory_exercise_asks_configurations_with_both_answers(cells):
    hidden = cells["test-memory"].split("### BEGIN HIDDEN TESTS")[1]
    answers = re.findall(r", (True|False)\)", hidden)
    assert {"True", "False"} <= set(answers), answers
