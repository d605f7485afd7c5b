"""The served model's card: every section is there, and lesson 06's figures when they exist."""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest

from course.deploy.card import (
    SECTIONS,
    CardFacts,
    card_sections,
    lesson06_metrics,
    write_model_card,
)
from course.errors import CourseDataError
from course.record import metric_bundle

METRICS = pd.DataFrame({"valid NDCG@10": [0.61, 0.5], "test NDCG@10": [0.6, 0.48]},
                       index=pd.Index(["all", "synonym"], name="family"))


def facts(**changes) -> CardFacts:
    base = dict(base_model="sentence-transformers/all-MiniLM-L6-v2", reranker="LoRA, 100 steps",
                bi_encoder="MiniLM, in-batch softmax", data="mini-shop (synthetic).",
                data_licence="Apache-2.0", metrics=METRICS, profile="smoke",
                limitations=["Trained on a synthetic catalogue."])
    return CardFacts(**{**base, **changes})


def test_the_card_has_every_section_in_order_and_its_metadata(tmp_path):
    path = write_model_card(tmp_path, facts())
    assert card_sections(path) == list(SECTIONS)
    text = path.read_text()
    assert text.startswith("---\n") and "license: apache-2.0" in text
    assert "| synonym | 0.500 | 0.480 |" in text  # the metrics per query family
    assert "course run 06-trust-business-value" in text  # where lesson 06's figures come from


def fake_lesson06(build, profile="cpu"):
    nb = nbformat.v4.new_notebook()
    out = {"output_type": "display_data", "metadata": {}, "data": {}}
    for name, value in [("fail_cross_typo_INV", 0.25), ("pop_item_knn_gini", 0.96),
                        ("model_origin", "lesson 03")]:
        cell = nbformat.v4.new_code_cell("")
        cell.outputs = [nbformat.from_dict({**out, "data": metric_bundle(name, value)})]
        nb.cells.append(cell)
    path = build / profile / "06-trust-business-value.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


def test_lesson06_figures_are_read_from_build_when_they_exist(tmp_path):
    assert lesson06_metrics(tmp_path) == (None, None)
    notebook = fake_lesson06(tmp_path)
    metrics, found = lesson06_metrics(tmp_path)
    assert found == notebook and metrics["fail_cross_typo_INV"] == 0.25
    path = write_model_card(tmp_path / "card", facts(lesson06=metrics), lesson06_source="cpu run")
    text = path.read_text()
    assert "| cross_typo_INV | 0.250 |" in text and "| item_knn_gini | 0.960 |" in text
    assert "lesson 03" in text  # which model lesson 06 tested


def test_a_card_without_metrics_is_refused(tmp_path):
    with pytest.raises(CourseDataError):
        write_model_card(tmp_path, facts(metrics=pd.DataFrame()))
