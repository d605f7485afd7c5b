"""course.deploy.peft_tuning: LoRA, AdaLoRA, merging, many adapters, the frozen head."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from toydata import LABELS, toy_pairs

from course.deploy.peft_tuning import (
    adalora_allocation,
    adalora_loss,
    adapter_parameters,
    add_adalora,
    add_lora,
    checkpoint_bytes,
    head_features,
    head_prefixes,
    load_adapters,
    lora_parameter_count,
    merge_lora,
    train_head,
)
from course.errors import CourseArgumentError, CourseDataError
from course.models import load_classifier, resolve_model
from course.text import DynamicPaddingCollator, PairDataset
from course.train import TrainConfig, fit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tokenizer):
    dataset = PairDataset.from_texts(tokenizer, *toy_pairs(48, 0), max_length=32)
    return dataset, DynamicPaddingCollator(tokenizer)


def tiny(seed: int = 0):
    return load_classifier(resolve_model("tiny"), LABELS, seed=seed)


def randomise_lora(model, seed: int = 1) -> None:
    """LoRA's B starts at zero (no change); give it values so that merging has work to do."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)


@pytest.mark.parametrize("targets", [("query", "value"), ("query", "key", "value", "dense")])
def test_lora_parameter_count_matches_peft(targets):
    model = tiny()
    expected = lora_parameter_count(model, r=4, targets=targets)
    wrapped = add_lora(copy.deepcopy(model), r=4, targets=targets)
    lora = sum(p.numel() for n, p in wrapped.named_parameters() if "lora_" in n)
    assert lora == expected == adapter_parameters(wrapped)
    # hidden 32, 2 layers: query and value are 32 -> 32, so 2 layers x 2 x r x (32 + 32)
    if targets == ("query", "value"):
        assert expected == 2 * 2 * 4 * 64


def test_lora_parameter_count_rejects_bad_arguments():
    with pytest.raises(CourseArgumentError):
        lora_parameter_count(tiny(), r=0)
    with pytest.raises(CourseArgumentError, match="No linear layer"):
        lora_parameter_count(tiny(), r=4, targets=("nothing",))


def test_lora_trains_only_adapters_and_the_head():
    wrapped = add_lora(tiny(), r=4)
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert all("lora_" in n or "classifier" in n for n in trainable)
    assert head_prefixes(wrapped) == ("base_model.model.classifier",)
    assert not any(p.requires_grad for n, p in wrapped.named_parameters() if "word_embeddings" in n)


def test_merged_lora_gives_the_same_outputs(data):
    dataset, collator = data
    wrapped = add_lora(tiny(), r=4)
    randomise_lora(wrapped)
    merged = merge_lora(wrapped)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    batch = collator([dataset[i] for i in range(8)])
    batch.pop("labels")
    wrapped.eval()
    merged.eval()
    with torch.no_grad():
        a, b = wrapped(**batch).logits, merged(**batch).logits
        base = tiny()(**batch).logits
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert (a - base).abs().max() > 1e-3, "the adapter changed nothing: the check would be empty"


def test_one_base_many_adapters(data, tmp_path):
    dataset, collator = data
    batch = collator([dataset[i] for i in range(6)])
    batch.pop("labels")
    outputs, folders = {}, {}
    for name, seed in [("shop_a", 1), ("shop_b", 2)]:
        wrapped = add_lora(tiny(), r=4)
        randomise_lora(wrapped, seed)
        with torch.no_grad():
            outputs[name] = wrapped.eval()(**batch).logits
        folders[name] = tmp_path / name
        size = checkpoint_bytes(wrapped, folders[name])
        assert 0 < size < 0.2 * checkpoint_bytes(tiny(), tmp_path / f"{name}-full")
    served = load_adapters(tiny(), folders)
    for name in folders:
        served.set_adapter(name)
        with torch.no_grad():
            torch.testing.assert_close(served(**batch).logits, outputs[name], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(outputs["shop_a"], outputs["shop_b"])
    with pytest.raises(CourseArgumentError):
        load_adapters(tiny(), {})


def test_adalora_prunes_rank_inside_fit(data):
    dataset, collator = data
    model = add_adalora(tiny(), total_steps=20, init_r=6, target_r=2)
    config = TrainConfig(max_steps=20, batch_size=8, lr=5e-3, progress=False, precision="fp32")
    with adalora_allocation(model):
        fit(model, dataset, config, collate_fn=collator, loss_fn=adalora_loss())
    pattern = model.peft_config["default"].rank_pattern
    assert pattern, "update_and_allocate never ran"
    kept = sum(int(np.sum(mask)) for mask in pattern.values())
    assert kept < 6 * len(pattern), "no rank was pruned"
    # outside the block the hook is gone: a plain optimizer step does not call AdaLoRA
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    opt.step()
    with pytest.raises(CourseArgumentError):
        add_adalora(tiny(), total_steps=2)


def test_adalora_loss_adds_the_orthogonality_penalty(data):
    dataset, collator = data
    model = add_adalora(tiny(), total_steps=20)
    batch = collator([dataset[i] for i in range(8)])
    weights = torch.tensor([1.0, 2.0, 0.5])
    torch.manual_seed(0)
    loss = adalora_loss(weights)(model, batch)
    model.eval()
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    weighted = torch.nn.functional.cross_entropy(logits, batch["labels"], weight=weights)
    assert loss.item() > weighted.item() + 1e-3  # the penalty is positive at initialisation


def test_frozen_encoder_features_and_head(data):
    dataset, collator = data
    model = tiny().eval()
    features = head_features(model, dataset, collator, batch_size=7)
    assert features.shape == (len(dataset), 32)
    batch = collator([dataset[i] for i in range(3)])
    batch.pop("labels")
    with torch.no_grad():
        cls = model.base_model(**batch).last_hidden_state[:, 0]
    torch.testing.assert_close(features[:3], cls, atol=1e-5, rtol=1e-5)
    # the frozen head starts as the model's own head: same logits
    head = train_head(model, features, dataset.labels, steps=0, lr=1e-3)
    with torch.no_grad():
        torch.testing.assert_close(head(features[:3]), model(**batch).logits, atol=1e-5, rtol=1e-5)
    # on separable features (labels from a fixed linear map) the head learns them
    generator = torch.Generator().manual_seed(0)
    toy = torch.randn(300, 32, generator=generator)
    labels = (toy @ torch.randn(32, 3, generator=generator)).argmax(dim=1)
    trained = train_head(model, toy, labels.tolist(), steps=300, lr=1e-2)
    with torch.no_grad():
        accuracy = (trained(toy).argmax(dim=1) == labels).float().mean().item()
    assert accuracy > 0.8


def test_head_features_of_an_empty_dataset_is_a_clear_error(data):
    dataset, collator = data
    empty = torch.utils.data.Subset(dataset, [])
    empty.lengths = []
    with pytest.raises(CourseDataError, match="empty dataset"):
        head_features(tiny(), empty, collator)


@pytest.mark.parametrize("method", ["full", "lora", "adalora", "head"])
def test_train_method_measures_every_method_at_one_budget(method, data, tmp_path):
    from course.deploy.peft_tuning import train_method

    dataset, collator = data
    base = tiny()
    run = train_method(
        method,
        base,
        dataset,
        dataset,
        collator,
        steps=6,
        lr=1e-3,
        batch_size=8,
        folder=tmp_path / method,
        class_weights=torch.ones(3),
        precision="fp32",
    )
    assert run.method == method and 0 <= run.valid_macro_f1 <= 1
    assert run.step_seconds > 0 and run.checkpoint_bytes > 0
    assert run.optimizer_state_bytes == 8 * run.trainable
    row = run.row()
    assert set(row) >= {"trainable_%", "optimizer_state_MB", "checkpoint_MB", "valid_macro_f1"}
    full_size = sum(p.numel() for p in base.parameters())
    if method == "full":
        assert run.trainable == run.total == full_size
    else:
        assert 0 < run.trainable < 0.1 * full_size
    assert isinstance(base.classifier, torch.nn.Linear)  # the base model is left untouched
    check_plain_classifier(run, base, data)
    with pytest.raises(CourseArgumentError):
        train_method(
            "prefix",
            base,
            dataset,
            dataset,
            collator,
            steps=2,
            lr=1e-3,
            batch_size=8,
            folder=tmp_path / "x",
        )


def check_plain_classifier(run, base, data) -> None:
    """plain_classifier gives a plain model with the run's own outputs."""
    from course.deploy.peft_tuning import plain_classifier

    dataset, collator = data
    batch = collator([dataset[i] for i in range(4)])
    batch.pop("labels")
    plain = plain_classifier(run, tiny()).eval()
    assert not any("lora" in name for name, _ in plain.named_parameters())
    with torch.no_grad():
        got = plain(**batch).logits
        if run.method == "head":  # the head runs on the frozen encoder's [CLS] vector
            want = run.model(base.base_model(**batch).last_hidden_state[:, 0])
        else:
            want = run.model.eval()(**batch).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    if run.method == "head":
        with pytest.raises(CourseArgumentError, match="fresh_classifier"):
            plain_classifier(run)



def test_lora_runs_do_not_depend_on_what_ran_before(data, tmp_path):
    from course.deploy.peft_tuning import train_method

    dataset, collator = data
    base = tiny()  # loaded once: loading seeds the generator, which would hide the bug

    def lora_run(folder):
        return train_method("lora", base, dataset, dataset, collator, steps=2, lr=1e-3,
                            batch_size=8, folder=folder, precision="fp32")

    first = lora_run(tmp_path / "a")
    torch.rand(1000)  # something else draws random numbers in between
    second = lora_run(tmp_path / "b")
    for (name, a), b in zip(first.model.named_parameters(), second.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
