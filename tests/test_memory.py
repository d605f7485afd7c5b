"""course.deploy.memory: the estimate, autograd's saved tensors, and a measured peak."""

from __future__ import annotations

import copy

import pytest
import torch

from course.deploy.memory import (
    activation_bytes_per_token,
    measure_training_peak,
    optimizer_state_bytes,
    parameter_counts,
    saved_activation_bytes,
    training_memory_estimate,
)
from course.deploy.peft_tuning import add_lora
from course.errors import CourseArgumentError
from course.models import load_classifier, resolve_model
from course.train import make_optimizer, train_step

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny():
    return load_classifier(resolve_model("tiny"), ["a", "b", "c"], seed=0)


def batch(rows: int, length: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(1000, 20000, (rows, length), generator=generator),
        "attention_mask": torch.ones(rows, length, dtype=torch.long),
        "labels": torch.randint(0, 3, (rows,), generator=generator),
    }


def test_estimate_adds_up_by_hand():
    parts = training_memory_estimate(1000, 100, tokens=10, activation_per_token=50.0)
    assert parts == {
        "weights": 4000.0,
        "gradients": 400.0,
        "adam_states": 800.0,
        "activations": 500.0,
        "total": 5700.0,
    }
    with pytest.raises(CourseArgumentError):
        training_memory_estimate(10, 20, 1, 1.0)


def test_parameter_counts_and_optimizer_state_are_eight_bytes_per_trained_parameter():
    model = add_lora(tiny(), r=4)
    counts = parameter_counts(model)
    assert counts["trainable"] < 0.1 * counts["total"]
    optimizer = make_optimizer(model, 1e-3, 0.01)
    train_step(model, batch(2, 8), optimizer)
    state = optimizer_state_bytes(optimizer)
    # exp_avg and exp_avg_sq in fp32, plus one 4-byte step counter per tensor
    n_tensors = sum(1 for p in model.parameters() if p.requires_grad)
    assert state == 8 * counts["trainable"] + 4 * n_tensors


@pytest.fixture(scope="module")
def minilm():
    return load_classifier(resolve_model("minilm"), ["a", "b", "c"], seed=0)


@pytest.mark.parametrize("length", [16, 64])
def test_formula_tracks_what_autograd_saves(minilm, length):
    model = minilm
    measured = saved_activation_bytes(model, batch(2, length)) / (2 * length)
    full = activation_bytes_per_token(model.config, length)
    assert full == pytest.approx(measured, rel=0.05)
    lora = add_lora(copy.deepcopy(model), r=8)
    measured_lora = saved_activation_bytes(lora, batch(2, length)) / (2 * length)
    estimate_lora = activation_bytes_per_token(
        model.config, length, frozen_weights=True, lora_modules=2
    )
    assert estimate_lora == pytest.approx(measured_lora, rel=0.08)
    assert measured_lora < measured, "frozen weights keep fewer activations"


def test_saved_activations_grow_with_tokens_and_exclude_weights():
    model = tiny()
    small = saved_activation_bytes(model, batch(2, 16))
    large = saved_activation_bytes(model, batch(4, 16))
    assert 1.8 < large / small < 2.2
    weights = sum(p.numel() * 4 for p in model.parameters())
    assert small < weights  # 32 tokens of a 32-wide model keep far less than its 1M weights
    with pytest.raises(CourseArgumentError):
        activation_bytes_per_token(model.config, 0)


@pytest.mark.slow
def test_measured_peak_in_a_child_process():
    full = measure_training_peak("full", model="tiny", batch=4, length=16, steps=1, threads=1)
    lora = measure_training_peak("lora", model="tiny", batch=4, length=16, steps=1, threads=1)
    assert full["trainable"] == full["total"] > lora["trainable"] > 0
    assert full["optimizer_state"] > 50 * lora["optimizer_state"]
    assert full["peak_rss"] >= full["after_model_rss"] >= full["baseline_rss"] > 0
    assert full["training_peak"] > 0
    with pytest.raises(CourseArgumentError):
        measure_training_peak("prefix")


@pytest.mark.slow
def test_child_peak_does_not_count_the_parents_memory():
    import numpy as np

    from course.deploy.memory import rss_bytes

    ballast = np.ones(800 * 2**20 // 8)  # 800 MB in this (parent) process
    parent = rss_bytes()
    report = measure_training_peak("lora", model="tiny", batch=2, length=8, steps=1, threads=1)
    assert report["peak_rss"] < parent - 200 * 2**20, (report["peak_rss"], parent)
    assert ballast[-1] == 1.0


def test_bert_base_activations_and_total_by_hand():
    from transformers import BertConfig

    # 12 layers x (18 h x 4 + a s x 13) + (2 h x 4 + h), h = 768, a = 12 (lesson 05's hidden test)
    per_token = activation_bytes_per_token(BertConfig(), 128)
    assert per_token == 12 * (55_296 + 19_968) + 6_912 == 910_080
    assert activation_bytes_per_token(BertConfig(), 512) == 1_628_928
    total = training_memory_estimate(110_000_000, 110_000_000, 64 * 128, 910_080)["total"]
    assert total == 9_215_375_360


def test_weights_gradients_and_adam_match_accelerates_estimate():
    from accelerate.commands.estimate import estimate_training_usage
    from accelerate.utils import calculate_maximum_sizes

    model = load_classifier(resolve_model("tiny"), ["a", "b", "c"], seed=0)
    n = sum(p.numel() for p in model.parameters())
    theirs = estimate_training_usage(calculate_maximum_sizes(model)[0], "float32")
    ours = training_memory_estimate(n, n, 0, 0.0)
    # accelerate leaves activations out (batch size 1) and sizes every tensor of the model,
    # buffers (position ids) included; on the parameters the two agree exactly
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    assert theirs["model"] - buffers == ours["weights"]
    assert theirs["gradients"] - buffers == ours["gradients"]
    assert theirs["optimizer"] - 2 * buffers == ours["adam_states"]
