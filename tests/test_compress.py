"""Unit tests for course.compress: int8 dynamic quantization and ONNX Runtime, on the tiny BERT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course import data
from course.compress import (
    OnnxClassifier,
    classifier_logits,
    export_onnx,
    linear_layer_bytes,
    model_file_bytes,
    quantize_int8,
    quantize_onnx,
    weight_qschemes,
)
from course.errors import CourseArgumentError
from course.models import load_classifier, load_tokenizer, resolve_model

pytestmark = pytest.mark.usefixtures("one_thread")

QUERIES = ["red sofa", "oak dining table", "grey wool rug", "brass lamp"]
TEXTS = [
    "A red velvet sofa with oak legs.",
    "A solid oak table for six.",
    "A soft grey rug in wool.",
    "A lamp.",
]


@pytest.fixture(scope="module")
def tiny():
    resolved = resolve_model("tiny")
    return load_classifier(resolved, list(data.LABELS), seed=0).eval(), load_tokenizer(resolved)


def test_int8_replaces_every_linear_and_stays_close(tiny):
    model, tokenizer = tiny
    quantized = quantize_int8(model)
    kinds = {type(m).__module__ for m in quantized.modules() if type(m).__name__ == "Linear"}
    assert kinds and all("quantized" in k for k in kinds)
    assert isinstance(model.classifier, torch.nn.Linear), "the original model is left alone"
    a = classifier_logits(model, tokenizer, QUERIES, TEXTS, batch_size=3)
    b = classifier_logits(quantized, tokenizer, QUERIES, TEXTS, batch_size=3)
    assert a.shape == b.shape == (4, 3)
    assert np.abs(a - b).max() < 0.05 * (np.abs(a).max() + 1e-3) + 0.02


def test_the_default_int8_is_per_tensor_and_per_channel_is_one_scale_per_row(tiny):
    model, _ = tiny
    assert weight_qschemes(quantize_int8(model)) == {torch.per_tensor_affine}
    per_row = quantize_int8(model, per_channel=True)
    assert weight_qschemes(per_row) == {torch.per_channel_affine}
    layer = next(m for m in per_row.modules() if type(m).__name__ == "Linear")
    assert layer.weight().q_per_channel_scales().numel() == layer.weight().shape[0]
    with pytest.raises(CourseArgumentError):
        weight_qschemes(model)


def test_per_channel_int8_follows_rows_of_different_ranges_more_closely():
    torch.manual_seed(0)
    layer = torch.nn.Linear(32, 8)
    with torch.no_grad():
        layer.weight[0] *= 100  # one row with a range 100 times the others'
    errors = {}
    for per_channel in (False, True):
        quantized = quantize_int8(torch.nn.Sequential(layer), per_channel=per_channel)[0]
        error = (quantized.weight().dequantize() - layer.weight.detach()).abs()
        errors[per_channel] = float(error[1:].max())
    assert errors[True] < errors[False] / 10


def test_int8_linear_layers_are_about_four_times_smaller(tiny):
    model, _ = tiny
    quantized = quantize_int8(model)
    ratio = linear_layer_bytes(model) / linear_layer_bytes(quantized)
    # the tiny model's layers are 32 wide, so scales and biases weigh more than in MiniLM
    assert ratio > 1.8
    assert model_file_bytes(quantized) < model_file_bytes(model)
    with pytest.raises(CourseArgumentError):
        linear_layer_bytes(torch.nn.Sequential(torch.nn.ReLU()))


def test_onnx_export_matches_torch(tiny, tmp_path):
    model, tokenizer = tiny
    path = export_onnx(model, tokenizer, tmp_path / "m.onnx")
    session = OnnxClassifier(path, threads=1)
    a = classifier_logits(model, tokenizer, QUERIES, TEXTS, batch_size=3)
    b = classifier_logits(session, tokenizer, QUERIES, TEXTS, batch_size=3)
    np.testing.assert_allclose(a, b, atol=1e-4)
    int8 = OnnxClassifier(quantize_onnx(path), threads=1)
    c = classifier_logits(int8, tokenizer, QUERIES, TEXTS, batch_size=4)
    assert c.shape == (4, 3) and np.isfinite(c).all()


def test_classifier_logits_checks_lengths(tiny):
    model, tokenizer = tiny
    with pytest.raises(CourseArgumentError):
        classifier_logits(model, tokenizer, ["a"], ["b", "c"])
