import json

import nbformat
import numpy as np
import pytest

from course.errors import CourseError
from course.record import MIME, choices_not_made_on_validation, metric_bundle, read_metrics


def _notebook_with(outputs):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data=d) for d in outputs]
    nb.cells = [nbformat.v4.new_markdown_cell("hi"), cell]
    return nb


def test_bundle_converts_numpy_and_formats_text():
    bundle = metric_bundle("f1", np.float32(0.5))
    assert bundle[MIME] == {"name": "f1", "value": 0.5}
    assert bundle["text/plain"] == "f1 = 0.5000"
    assert isinstance(bundle[MIME]["value"], float)


def test_bundle_rejects_nan_and_empty_name():
    with pytest.raises(CourseError, match="JSON"):
        metric_bundle("loss", float("nan"))
    with pytest.raises(CourseError, match="non-empty"):
        metric_bundle("", 1)


def test_read_metrics_round_trip(tmp_path):
    nb = _notebook_with([metric_bundle("a", 1), metric_bundle("b", "mini-shop"),
                         {"text/plain": "x"}, metric_bundle("a", 2)])
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    assert read_metrics(path) == {"a": 2, "b": "mini-shop"}
    assert read_metrics(json.loads(path.read_text())) == {"a": 2, "b": "mini-shop"}


def test_read_metrics_names_a_bad_file(tmp_path):
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{not json")
    with pytest.raises(CourseError, match="broken.ipynb"):
        read_metrics(bad)


def test_record_displays_the_bundle(monkeypatch):
    shown = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    from course.record import record

    assert record("ndcg", 0.25) == 0.25
    assert shown == [({MIME: {"name": "ndcg", "value": 0.25}, "text/plain": "ndcg = 0.2500"}, True)]


def test_choices_not_made_on_validation_finds_a_test_choice():
    metrics = {"selected_on": "valid", "loss_selected_on": "test", "lr_selected_on": "train",
               "test_macro_f1": 0.7, "notes": "selected_on test"}
    assert choices_not_made_on_validation(metrics) == {
        "loss_selected_on": "test", "lr_selected_on": "train"}


def test_choices_not_made_on_validation_is_empty_when_all_are_valid():
    assert choices_not_made_on_validation({"selected_on": "valid", "f1": 0.5}) == {}
