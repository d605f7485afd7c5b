"""Rehearse lesson 04's ``full`` (GPU) profile on CPU, so that every cell of that path runs in CI.

Only what a CPU cannot afford is overridden: a tiny randomly initialised BERT on the
bert-base-uncased vocabulary instead of bert-base, and a few optimizer steps per loss.
Everything else is the ``full`` profile: the encoder is fine-tuned (no cached item
embeddings, one copy of the encoder per loss), the data is the real UCI Online Retail when
``COURSE_DATA_DIR`` is set (mini-shop otherwise), every customer is used, and all four
losses, the validation choice, the test table, retrieval, explanations and cold start run.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from course import models
from course.authoring.runner import run_lesson

pytestmark = [pytest.mark.rehearsal, pytest.mark.slow]

LESSON = "04-ranking-recommender"
REAL_DATA = bool(os.environ.get("COURSE_DATA_DIR"))
# Only these differ from the full profile's own parameters.
CPU_OVERRIDES = {"MODEL_NAME": "tiny", "MAX_STEPS": 3, "EVAL_EVERY": 3}


@pytest.fixture(scope="module")
def lesson04_full(tmp_path_factory):
    out = tmp_path_factory.mktemp("rehearsal04")
    with pytest.MonkeyPatch.context() as env:  # run_lesson sets COURSE_PROFILE for the kernel
        env.setenv("COURSE_PROFILE", "full")
        env.setenv("COURSE_CACHE_DIR", str(out / "cache"))  # nothing cached: nothing to reuse
        started, cpu = time.perf_counter(), os.times()
        run = run_lesson(LESSON, profile="full", out_dir=out, parameters=CPU_OVERRIDES)
        seconds, after = time.perf_counter() - started, os.times()
    children = after.children_user + after.children_system - cpu.children_user - cpu.children_system
    print(f"{LESSON} rehearsal in the full profile: {seconds:.0f} s wall "
          f"(kernel CPU {children:.0f} s), data {run.metrics.get('data_used')}")
    return run


def test_every_cell_of_the_full_profile_runs(lesson04_full):
    run = lesson04_full
    assert run.error is None, f"the full profile failed: {run.error} (see {run.output})"
    cells = json.loads(run.output.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    not_run = [c.get("id") for c in code if c.get("execution_count") is None]
    assert not not_run, f"cells that did not run: {not_run}"
    errors = [c.get("id") for c in code
              for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, f"cells with errors: {errors}"


def test_the_full_profile_used_its_own_path(lesson04_full):
    m = lesson04_full.metrics
    assert m["model_name"] == models.TINY
    assert m["profile"] == "full" and m["freeze_encoder"] is False  # fine-tuned item tower
    assert m["data_used"] == ("online_retail" if REAL_DATA else "mini-shop")
    if REAL_DATA:
        assert m["n_users"] > 4000 and m["n_items"] > 3500  # every customer, the whole catalog
    assert m["train_steps_per_loss"] == CPU_OVERRIDES["MAX_STEPS"]
    assert m["selected_on"] == "valid"
    assert m["selected_loss"] in {"bpr", "cosine", "softmax", "softmax_logq"}
    assert m["n_cold_items"] >= 50
    for name in ("two_tower_bpr", "two_tower_softmax_logq", "popularity", "item_knn", "bpr_mf"):
        assert 0 <= m[f"{name}_recall10"] <= 1
