"""Rehearse lesson 03's ``full`` (GPU) profile on CPU, so that every cell of that path runs in CI.

Only what a CPU cannot afford is overridden: a tiny randomly initialised BERT on the
bert-base-uncased vocabulary instead of bert-base, a few optimizer steps, and WANDS- and
ESCI-shaped files with generated product text (``tests/fixtures/shop_files.py``) instead of
the real downloads. Everything else is the ``full`` profile: data auto-selection and the
loaders, the live comparison of recipes on validation, analysis cells on data without query
families, the Trainer cell, save and reload, the ESCI task.
"""

from __future__ import annotations

import json
import time

import pytest
from fixtures.shop_files import write_course_data
from test_notebooks import selection_problems

from course import models
from course.authoring.runner import run_lesson

pytestmark = [pytest.mark.rehearsal, pytest.mark.slow]

LESSON = "03-relevance-finetuning"
# Only these differ from the full profile's own parameters.
CPU_OVERRIDES = {"MODEL_NAME": "tiny", "MAX_STEPS": 4, "COMPARE_STEPS": 2, "TRAINER_STEPS": 2,
                 "ESCI_STEPS": 2}


def test_the_tiny_model_uses_the_bert_base_uncased_vocabulary():
    tokenizer = models.load_tokenizer(models.resolve_model("tiny"))
    assert tokenizer.vocab_size == 30522 and tokenizer.do_lower_case
    # Ids every bert-base-uncased tutorial shows: [CLS] hello world [SEP], and [PAD], [UNK], [MASK].
    assert tokenizer("Hello World")["input_ids"] == [101, 7592, 2088, 102]
    ids = tokenizer.convert_tokens_to_ids(["[PAD]", "[UNK]", "[MASK]", "the"])
    assert ids == [0, 100, 103, 1996]
    model = models.load_classifier(models.resolve_model("tiny"), ["a", "b", "c"])
    assert model.config.vocab_size == tokenizer.vocab_size


def test_lesson03_full_profile_runs_every_cell_on_its_own_path(tmp_path):
    """One test, so that pytest-xdist never runs the lesson twice (once per worker)."""
    root = write_course_data(tmp_path / "course_data")
    with pytest.MonkeyPatch.context() as env:  # run_lesson sets COURSE_PROFILE for the kernel
        env.setenv("COURSE_PROFILE", "full")
        env.setenv("COURSE_DATA_DIR", str(root))
        env.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached to reuse
        started = time.perf_counter()
        run = run_lesson(LESSON, profile="full", out_dir=tmp_path,
                         parameters={**CPU_OVERRIDES, "OUTPUT_DIR": str(tmp_path / "model")})
        print(f"{LESSON} rehearsal in the full profile: {time.perf_counter() - started:.0f} s wall")
    assert run.error is None, f"the full profile failed: {run.error} (see {run.output})"

    code = [c for c in json.loads(run.output.read_text())["cells"] if c["cell_type"] == "code"]
    not_run = [c.get("id") for c in code if c.get("execution_count") is None]
    assert not not_run, f"cells that did not run: {not_run}"
    errors = [c.get("id") for c in code
              for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, f"cells with errors: {errors}"

    m = run.metrics
    assert m["model_name"] == models.TINY
    assert m["data_used"] == "wands"  # auto-selection: WANDS first, with its product.csv
    assert m["comparison"] == "live" and m["n_recipes_compared"] == 5
    assert m["n_seeds_compared"] == 3 and m["runs_logged"] >= 18
    assert m["side_by_side_max_loss_diff"] < 1e-3
    assert m["train_steps"] == CPU_OVERRIDES["MAX_STEPS"]
    assert m["side_by_side_steps"] == CPU_OVERRIDES["TRAINER_STEPS"]
    assert m["esci_used"] == "esci_sample.csv" and 0 <= m["esci_test_micro_f1"] <= 1
    assert m["reload_max_abs_diff"] < 1e-4
    assert "synonym_macro_f1" not in m  # WANDS has no query families
    assert m["seed_bugs_that_raise"] == 6
    assert not selection_problems(m), selection_problems(m)
