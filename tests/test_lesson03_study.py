"""benchmarks/lesson03_choices.py: the study that sets lesson 03's recipe and learning rates.

Run end to end with the tiny BERT and two optimizer steps per run, shared by two workers as
on a real machine: every stage trains each candidate with each seed, selects on the mean
validation score, and the file it writes is what the lesson reads.
"""

import importlib.util
import threading

import pytest

from course import models, relevance
from course.config import ROOT

pytestmark = pytest.mark.slow


def _study_module():
    spec = importlib.util.spec_from_file_location(
        "lesson03_choices", ROOT / "benchmarks" / "lesson03_choices.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_study_records_every_seed_of_every_candidate(tmp_path, monkeypatch):
    study = _study_module()
    monkeypatch.setattr(models, "default_model_name", lambda profile: "tiny")
    monkeypatch.setattr(study, "COMPARE_STEPS", 2)
    monkeypatch.setattr(study, "ROOT", tmp_path)
    out = tmp_path / "study.json"
    other = threading.Thread(target=study.study, args=("smoke", 42, out, 1, 2))
    other.start()  # worker 1 trains half of the runs; worker 0 waits for them and writes
    assert study.study("smoke", 42, out, 0, 2) == 0
    other.join(timeout=600)
    table, meta = relevance.load_comparison(out)
    stages = table.groupby("stage")["choice"].nunique().to_dict()
    assert stages["recipe"] == 5 and stages["lr"] == 3
    assert (table.groupby(["stage", "choice"])["train_seed"].nunique() == 3).all()
    assert set(meta["chosen"]) >= {"recipe", "lr", "head_lr"}
    assert meta["chosen"]["recipe"] == relevance.select_by_mean(
        table[table["stage"] == "recipe"]).choice
    assert len(meta["curves"]) == len(table)  # each run's curve, for TensorBoard
    assert meta["setup"]["train_seeds"] == list(study.SEEDS)
