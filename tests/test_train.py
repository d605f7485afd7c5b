"""Unit tests for course.train with the tiny random BERT on CPU."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from toydata import LABELS, toy_pairs

from course.errors import CourseArgumentError, CourseDataError, CourseError
from course.models import load_classifier, resolve_model
from course.text import DynamicPaddingCollator, LengthBucketSampler, PairDataset
from course.train import (
    TrainConfig,
    balanced_class_weights,
    class_weighted_loss,
    classification_evaluator,
    cpu_bf16_flags,
    fit,
    latest_checkpoint,
    linear_warmup_schedule,
    make_optimizer,
    predict,
    resolve_precision,
    train_step,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tokenizer):
    train = PairDataset.from_texts(tokenizer, *toy_pairs(64, 0), max_length=32)
    val = PairDataset.from_texts(tokenizer, *toy_pairs(24, 1), max_length=32)
    return train, val, DynamicPaddingCollator(tokenizer)


def tiny_model(seed: int = 0, dropout: bool = True):
    model = load_classifier(resolve_model("tiny"), LABELS, seed=seed)
    if not dropout:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    return model


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=atol, rtol=1e-5, msg=name)


def test_train_step_lowers_the_loss_on_one_batch(data):
    train, _, collate = data
    model = tiny_model(dropout=False)
    batch = collate([train[i] for i in range(16)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    losses = [train_step(model, batch, optimizer) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_train_step_uses_loss_fn_and_scheduler(data):
    train, _, collate = data
    model = tiny_model()
    batch = collate([train[i] for i in range(4)])
    optimizer = make_optimizer(model, lr=1e-3, weight_decay=0.01)
    scheduler = linear_warmup_schedule(optimizer, warmup_steps=2, total_steps=10)
    calls = []

    def loss_fn(m, b):
        calls.append(1)
        return torch.nn.functional.cross_entropy(m(input_ids=b["input_ids"]).logits, b["labels"])

    before = scheduler.get_last_lr()[0]
    train_step(model, batch, optimizer, scheduler, loss_fn=loss_fn)
    assert calls == [1]
    assert scheduler.get_last_lr()[0] > before


def test_make_optimizer_gives_the_head_its_own_learning_rate():
    model = tiny_model()
    optimizer = make_optimizer(model, lr=1e-4, weight_decay=0.01, head_lr=2e-3)
    head = {id(p) for p in model.classifier.parameters()}
    seen = []
    for group in optimizer.param_groups:
        ids = {id(p) for p in group["params"]}
        seen.extend(ids)
        if ids & head:
            assert ids <= head and group["lr"] == 2e-3
        else:
            assert group["lr"] == 1e-4
        assert group["weight_decay"] == (0.0 if all(p.ndim < 2 for p in group["params"]) else 0.01)
    assert sorted(seen) == sorted(id(p) for p in model.parameters())  # each parameter exactly once
    scheduler = linear_warmup_schedule(optimizer, warmup_steps=2, total_steps=10)
    optimizer.step()  # no gradients yet: changes nothing, but keeps the step order PyTorch expects
    scheduler.step()
    low, high = sorted(set(scheduler.get_last_lr()))  # the schedule scales both rates alike
    assert low < 1e-4 and high == pytest.approx(20 * low)


def test_make_optimizer_without_head_lr_uses_one_rate():
    optimizer = make_optimizer(tiny_model(), lr=1e-4, weight_decay=0.01)
    assert {g["lr"] for g in optimizer.param_groups} == {1e-4}


def test_make_optimizer_names_missing_head():
    with pytest.raises(CourseArgumentError, match="no parameter name starts with.*'head'"):
        make_optimizer(tiny_model(), lr=1e-4, weight_decay=0.0, head_lr=1e-3,
                       head_prefixes=("head",))


def test_fit_with_head_lr_moves_the_head_faster(data):
    train, _, collate = data

    def head_change(head_lr):
        model = tiny_model(dropout=False)
        before = weights(model)
        cfg = TrainConfig(max_steps=3, batch_size=8, lr=1e-4, head_lr=head_lr, warmup_ratio=0.0,
                          progress=False)
        fit(model, train, cfg, collate_fn=collate)
        after = weights(model)
        return {k: (after[k] - before[k]).abs().max().item()
                for k in ("classifier.weight", "bert.pooler.dense.weight")}

    plain, fast = head_change(None), head_change(1e-2)
    assert fast["classifier.weight"] > 10 * plain["classifier.weight"]
    pooler = "bert.pooler.dense.weight"
    assert fast[pooler] == pytest.approx(plain[pooler], rel=0.5)


def test_balanced_class_weights():
    w = balanced_class_weights([0, 1, 1, 1, 2, 2], 3)
    assert torch.allclose(w, torch.tensor([2.0, 2 / 3, 1.0]))
    counts = torch.tensor([1.0, 3.0, 2.0])
    assert torch.allclose(w * counts, torch.full((3,), 2.0))  # every class weighs the same
    with pytest.raises(CourseDataError, match=r"Classes \[2\]"):
        balanced_class_weights([0, 1, 1], 3)


def test_class_weighted_loss(data):
    train, _, collate = data
    model = tiny_model(dropout=False).eval()
    batch = collate([train[i] for i in range(8)])
    with torch.no_grad():
        own = model(**batch).loss
        equal = class_weighted_loss(torch.ones(3))(model, batch)
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        heavy = class_weighted_loss(torch.tensor([5.0, 1.0, 1.0]))(model, batch)
    torch.testing.assert_close(equal, own)
    per_example = torch.nn.functional.cross_entropy(logits, batch["labels"], reduction="none")
    w = torch.tensor([5.0, 1.0, 1.0])[batch["labels"]]
    torch.testing.assert_close(heavy, (w * per_example).sum() / w.sum())


def test_linear_warmup_schedule_shape():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = linear_warmup_schedule(optimizer, warmup_steps=4, total_steps=12)
    lrs = []
    for _ in range(12):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert lrs[4] == pytest.approx(1.0)
    assert np.all(np.diff(lrs[4:]) < 0) and lrs[-1] == pytest.approx(1 / 8)


def test_resolve_precision():
    cpu = torch.device("cpu")
    native = bool(cpu_bf16_flags())  # bf16 is automatic only where the CPU computes it natively
    assert resolve_precision("auto", cpu) == ("bf16" if native else "fp32")
    assert resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(CourseError, match="CUDA"):
        resolve_precision("fp16", cpu)
    with pytest.raises(CourseError, match="not one of"):
        resolve_precision("fp8", cpu)


def test_grad_accumulation_equals_the_big_batch(data):
    train, _, collate = data
    eight = torch.utils.data.Subset(train, range(8))
    runs = []
    for batch_size, accum in [(8, 1), (4, 2)]:
        model = tiny_model(dropout=False)
        # fp32: in bf16 the two ways of splitting the batch round differently (not exact)
        cfg = TrainConfig(max_steps=1, batch_size=batch_size, grad_accum=accum, lr=1e-2,
                          warmup_ratio=0, progress=False, precision="fp32")
        result = fit(model, eight, cfg, collate_fn=collate)
        runs.append((weights(model), result.history["train_loss"].item()))
    assert_same_weights(runs[0][0], runs[1][0], atol=1e-6)
    assert runs[0][1] == pytest.approx(runs[1][1], rel=1e-5)
    untrained = weights(tiny_model())
    assert not torch.allclose(untrained["classifier.weight"], runs[0][0]["classifier.weight"])


@pytest.mark.slow
def test_fit_learns_and_records_history(data):
    train, val, collate = data
    model = tiny_model()
    cfg = TrainConfig(epochs=6, batch_size=8, lr=3e-3, eval_every=None, progress=False)
    sampler = LengthBucketSampler(train.lengths, 8, bucket_size_multiplier=2, seed=0)
    result = fit(model, train, cfg, collate_fn=collate, sampler=sampler,
                 evaluate=classification_evaluator(val, collate))
    hist = result.history
    assert list(hist.columns[:4]) == ["step", "epoch", "train_loss", "lr"]
    assert len(hist) == 6 * 8 and hist["step"].tolist() == list(range(1, 49))
    assert hist["macro_f1"].notna().sum() == 6  # once per epoch
    assert hist["epoch"].iloc[-1] == pytest.approx(6.0)
    assert hist["train_loss"].tail(8).mean() < hist["train_loss"].head(8).mean()
    assert result.best_metric == hist["macro_f1"].max()
    assert result.samples == 6 * 64 and result.tokens == 6 * sum(train.lengths)
    fig = result.plot()
    assert len(fig.axes) == 2 and fig.axes[1].get_lines()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_fit_logs_its_curves_for_tensorboard(data, tmp_path):
    from course.train import tracking

    train, val, collate = data
    cfg = TrainConfig(max_steps=6, batch_size=8, lr=3e-3, eval_every=3, progress=False,
                      log_dir=str(tmp_path / "runs" / "lr-3e-3"))
    result = fit(tiny_model(), train, cfg, collate_fn=collate,
                 evaluate=classification_evaluator(val, collate))
    runs = tracking.read_runs(tmp_path / "runs")
    loss = runs[runs.tag == "train_loss"].sort_values("step")
    assert loss["step"].tolist() == result.history["step"].tolist()
    assert loss["value"].to_numpy() == pytest.approx(result.history["train_loss"].to_numpy())
    f1 = runs[runs.tag == "valid/macro_f1"]
    assert f1["step"].tolist() == [3, 6]


class Crash(RuntimeError):
    pass


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_result(data, tmp_path):
    """Crash inside step 5, resume from the step-3 checkpoint (mid-epoch), compare with one run."""
    train, val, collate = data
    # 64 examples / batch 8 = 8 batches = 4 steps per epoch with grad_accum 2; 3 epochs = 12 steps
    base = dict(epochs=3, batch_size=8, grad_accum=2, lr=2e-3, eval_every=2, save_every=3,
                progress=False, seed=7)
    evaluate = classification_evaluator(val, collate)

    def sampler():
        return LengthBucketSampler(train.lengths, 8, bucket_size_multiplier=2, seed=3)

    model = tiny_model()
    full = fit(model, train, TrainConfig(**base, output_dir=str(tmp_path / "full")),
               collate_fn=collate, evaluate=evaluate, sampler=sampler())
    expected = weights(model)

    calls = {"n": 0}

    def crashing_loss(m, batch):
        calls["n"] += 1
        if calls["n"] == 9:  # first batch of step 5
            raise Crash("power cut")
        return m(**batch).loss

    run_dir = tmp_path / "interrupted"
    with pytest.raises(Crash):
        fit(tiny_model(), train, TrainConfig(**base, output_dir=str(run_dir)),
            collate_fn=collate, loss_fn=crashing_loss, evaluate=evaluate, sampler=sampler())
    assert latest_checkpoint(run_dir).name == "checkpoint-3"

    fresh = tiny_model(seed=99)  # other initial weights: everything must come from the checkpoint
    resumed = fit(fresh, train, TrainConfig(**base, output_dir=str(run_dir)),
                  collate_fn=collate, evaluate=evaluate, sampler=sampler())
    assert resumed.steps == full.steps == 12
    assert resumed.best_step == full.best_step and resumed.best_metric == full.best_metric
    np.testing.assert_allclose(resumed.history["train_loss"], full.history["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.history["macro_f1"], full.history["macro_f1"], rtol=1e-6)
    assert_same_weights(weights(fresh), expected, atol=1e-6)


def test_resume_false_starts_over(data, tmp_path):
    train, _, collate = data
    cfg = TrainConfig(max_steps=2, batch_size=16, progress=False, output_dir=str(tmp_path))
    fit(tiny_model(), train, cfg, collate_fn=collate)
    assert latest_checkpoint(tmp_path).name == "checkpoint-2"
    again = fit(tiny_model(), train,
                TrainConfig(**{**cfg.__dict__, "max_steps": 4, "resume": False}),
                collate_fn=collate)
    assert again.history["step"].tolist() == [1, 2, 3, 4]
    resumed = fit(tiny_model(), train, TrainConfig(**{**cfg.__dict__, "max_steps": 6}),
                  collate_fn=collate)
    assert resumed.history["step"].tolist() == list(range(1, 7))
    assert resumed.samples == 2 * 16  # only steps 5 and 6 were trained in this call


@pytest.mark.parametrize("on_disk", [False, True])
def test_early_stopping_restores_the_best_weights(data, tmp_path, on_disk):
    train, _, collate = data
    script = [0.50, 0.90, 0.60, 0.40, 0.95]  # best at the 2nd evaluation; patience 2 stops at 4th
    seen = []

    def evaluate(model):
        seen.append(weights(model))
        return {"macro_f1": script[len(seen) - 1]}

    model = tiny_model()
    cfg = TrainConfig(epochs=10, batch_size=8, lr=1e-2, eval_every=2, patience=2, progress=False,
                      output_dir=str(tmp_path) if on_disk else None)
    result = fit(model, train, cfg, collate_fn=collate, evaluate=evaluate)
    assert len(seen) == 4 and result.stopped_early
    assert result.best_step == 4 and result.best_metric == 0.90 and result.steps == 8
    assert_same_weights(weights(model), seen[1])
    assert not torch.allclose(seen[1]["classifier.weight"], seen[3]["classifier.weight"])
    if on_disk:
        assert (tmp_path / "best" / "model.safetensors").is_file()


def test_fit_rejects_a_missing_metric(data):
    train, _, collate = data
    cfg = TrainConfig(max_steps=1, batch_size=8, progress=False, metric="ndcg")
    with pytest.raises(CourseArgumentError, match="ndcg"):
        fit(tiny_model(), train, cfg, collate_fn=collate, evaluate=lambda m: {"macro_f1": 0.5})


def test_predict_returns_probabilities_in_dataset_order(data):
    train, _, collate = data
    model = tiny_model().eval()
    probs = predict(model, train, collate, batch_size=5, progress=False)
    assert probs.shape == (64, 3)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    with torch.no_grad():
        inputs = {k: v for k, v in collate([train[10]]).items() if k != "labels"}
        one = torch.softmax(model(**inputs).logits, -1)
    np.testing.assert_allclose(probs[10], one[0].numpy(), atol=1e-5)


def test_bf16_autocast_on_cpu_trains(data):
    train, _, collate = data
    cfg = TrainConfig(max_steps=2, batch_size=8, precision="bf16", progress=False)
    result = fit(tiny_model(), train, cfg, collate_fn=collate)
    assert np.isfinite(result.history["train_loss"]).all()


def test_fit_rejects_a_sampler_it_cannot_resume_or_shard(data):
    train, _, collate = data
    cfg = TrainConfig(max_steps=1, batch_size=8, progress=False)
    with pytest.raises(CourseArgumentError, match="batch sampler"):
        fit(tiny_model(), train, cfg, collate_fn=collate,
            sampler=torch.utils.data.RandomSampler(train))
    two_ranks = LengthBucketSampler(train.lengths, 8, num_replicas=2, rank=0)
    with pytest.raises(CourseArgumentError, match="2 process"):
        fit(tiny_model(), train, cfg, collate_fn=collate, sampler=two_ranks)


@pytest.mark.parametrize("precision,weighted", [("bf16", True), ("bf16", False),
                                                 ("fp32", True)])
def test_the_trainer_twin_is_the_same_run_as_fit(data, tmp_path, precision, weighted):
    """Dropout on, length-bucketed batches, several batches per epoch: the Trainer draws the
    engine's batches and dropout masks, so every step's loss is the engine's (to 1e-4, well
    inside bf16's 8-bit mantissa: 4e-3 relative) and so are the weights at the end."""
    from course.train import tracking
    from course.train.hf_trainer import trainer_for

    train, _, collate = data
    class_weights = torch.tensor([3.0, 1.0, 0.5]) if weighted else None
    loss_fn = class_weighted_loss(class_weights) if weighted else None
    config = TrainConfig(max_steps=6, batch_size=8, lr=1e-3, head_lr=5e-3, warmup_ratio=0.34,
                         seed=3, progress=False, precision=precision)
    sampler = LengthBucketSampler(train.lengths, 8, bucket_size_multiplier=4, seed=3)
    engine = tiny_model(seed=3)
    history = fit(engine, train, config, collate_fn=collate, loss_fn=loss_fn,
                  sampler=sampler).history
    twin = tiny_model(seed=3)
    trainer = trainer_for(twin, train, config, collate_fn=collate, class_weights=class_weights,
                          output_dir=str(tmp_path / "hf"), sampler=sampler,
                          logging_dir=str(tmp_path / "runs" / "trainer"))
    assert trainer.train().global_step == 6
    np.testing.assert_allclose(trainer.step_losses, history["train_loss"], atol=1e-4)
    assert_same_weights(weights(twin), weights(engine), atol=1e-4)
    logged = tracking.read_runs(tmp_path / "runs")
    assert len(logged[logged["tag"] == "train/loss"]) == 6  # report_to="tensorboard"
    other = tiny_model(seed=3)  # another batch order moves the weights elsewhere
    fit(other, train, config, collate_fn=collate, loss_fn=loss_fn,
        sampler=LengthBucketSampler(train.lengths, 8, bucket_size_multiplier=4, seed=4))
    with pytest.raises(AssertionError):
        assert_same_weights(weights(other), weights(engine), atol=1e-4)


def test_trainer_twin_needs_a_step_cap(data, tmp_path):
    from course.train.hf_trainer import trainer_for

    train, _, collate = data
    with pytest.raises(CourseArgumentError, match="max_steps"):
        trainer_for(tiny_model(), train, TrainConfig(epochs=1), collate_fn=collate,
                    output_dir=str(tmp_path))
