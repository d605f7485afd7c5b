"""Parameter-efficient fine-tuning with Hugging Face ``peft``, and the frozen-encoder baseline.

Four ways to adapt a pretrained cross-encoder, compared in lesson 05 at one step budget:

* full fine-tuning: every weight trains (``course.train.fit`` on the bare model);
* :func:`add_lora`: LoRA (Hu et al., 2021) freezes every weight ``W`` and learns a
  low-rank update ``W + (alpha / r) B A`` with ``A: r x in`` and ``B: out x r``, in the
  attention projections; the classification head trains in full;
* :func:`add_adalora`: AdaLoRA (Zhang et al., 2023), LoRA whose rank budget moves during
  training to the layers that need it (:func:`adalora_allocation`, :func:`adalora_loss`);
* :func:`head_features` + :func:`train_head`: a frozen encoder whose [CLS] features are
  computed once, and only the head (pooler + classifier) trains.

:func:`lora_parameter_count` predicts LoRA's size from the config alone; :func:`merge_lora`
folds the adapter back into plain weights for serving; :func:`load_adapters` puts several
adapters on one base model, which is how one server hosts many fine-tuned variants.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course.errors import CourseArgumentError, CourseDataError, CourseModelError
from course.train.heads import FeatureHead, fit_head

__all__ = [
    "LORA_TARGETS",
    "METHODS",
    "MethodRun",
    "adalora_allocation",
    "adalora_loss",
    "adapter_parameters",
    "add_adalora",
    "add_lora",
    "checkpoint_bytes",
    "head_features",
    "head_prefixes",
    "load_adapters",
    "lora_parameter_count",
    "merge_lora",
    "plain_classifier",
    "train_head",
    "train_method",
]

LORA_TARGETS = ("query", "value")
# peft 0.21 still calls transformers 5's deprecated ``is_gradient_checkpointing`` on every
# wrap, merge and adapter load; the warning is about peft's code, not the trainee's.
warnings.filterwarnings(
    "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
)


def _linear_shapes(model: torch.nn.Module, targets: Sequence[str]) -> list[tuple[int, int]]:
    """(in, out) of every ``nn.Linear`` whose name ends with one of ``targets``."""
    return [
        (m.in_features, m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and name.split(".")[-1] in targets
    ]


def lora_parameter_count(
    model: torch.nn.Module, r: int, targets: Sequence[str] = LORA_TARGETS
) -> int:
    """Parameters LoRA adds: ``r x (in + out)`` for every targeted linear layer."""
    if r < 1:
        raise CourseArgumentError(f"LoRA rank r must be >= 1, got {r}.")
    shapes = _linear_shapes(model, targets)
    if not shapes:
        raise CourseArgumentError(f"No linear layer is named {list(targets)} in this model.")
    return sum(r * (n_in + n_out) for n_in, n_out in shapes)


def add_lora(
    model, r: int = 8, alpha: int = 16, dropout: float = 0.1, targets: Sequence[str] = LORA_TARGETS
):
    """Wrap a sequence classifier with LoRA adapters (``peft``); the head stays fully trainable."""
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets),
    )
    return get_peft_model(model, config)


def add_adalora(
    model,
    total_steps: int,
    init_r: int = 12,
    target_r: int = 8,
    alpha: int = 16,
    dropout: float = 0.1,
    targets: Sequence[str] = LORA_TARGETS,
):
    """Wrap a sequence classifier with AdaLoRA adapters (``peft``).

    AdaLoRA (Zhang et al., 2023) starts every adapter at rank ``init_r``, written as
    ``P diag(E) Q``, and during training prunes the least important singular values until
    the whole model holds ``target_r`` per adapter on average: layers that matter keep
    more rank. The pruning runs between step ``10 %`` and ``70 %`` of ``total_steps``; call
    it each step with :func:`adalora_allocation`.
    """
    from peft import AdaLoraConfig, TaskType, get_peft_model

    if total_steps < 3:
        raise CourseArgumentError(f"AdaLoRA needs a step budget of at least 3, got {total_steps}.")
    tinit, tfinal = max(1, total_steps // 10), max(1, (3 * total_steps) // 10)
    config = AdaLoraConfig(
        task_type=TaskType.SEQ_CLS,
        init_r=init_r,
        target_r=target_r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets),
        total_step=total_steps,
        tinit=tinit,
        tfinal=tfinal,
        deltaT=max(1, (total_steps - tinit - tfinal) // 10),
    )
    return get_peft_model(model, config)


@contextlib.contextmanager
def adalora_allocation(model):
    """Inside this block, every optimizer step is followed by AdaLoRA's rank re-allocation.

    AdaLoRA must see the gradients after each update (``update_and_allocate``) and before
    they are cleared; a post-step hook does that for any training loop, ``course.train.fit``
    included, without changing the loop.
    """
    steps = itertools.count()

    def after_step(optimizer, args, kwargs) -> None:
        model.base_model.update_and_allocate(next(steps))

    from torch.optim.optimizer import register_optimizer_step_post_hook

    handle = register_optimizer_step_post_hook(after_step)
    try:
        yield model
    finally:
        handle.remove()


def adalora_loss(class_weights: torch.Tensor | None = None):
    """A ``loss_fn``: (class-weighted) cross-entropy plus AdaLoRA's orthogonality penalty.

    With labels in the batch, peft adds ``orth_reg_weight * ||P^T P - I|| + ...`` to the
    model's plain cross-entropy; this keeps that penalty and swaps the plain cross-entropy
    for the weighted one.
    """

    def loss_fn(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = model(**batch)
        logits = out.logits.float()
        plain = torch.nn.functional.cross_entropy(logits, batch["labels"])
        weights = None if class_weights is None else class_weights.to(logits.device)
        weighted = torch.nn.functional.cross_entropy(logits, batch["labels"], weight=weights)
        return out.loss - plain + weighted

    return loss_fn


def head_prefixes(model) -> tuple[str, ...]:
    """Name prefixes of the classification head, for ``TrainConfig.head_prefixes``.

    peft keeps a trainable copy of the head under ``...classifier.modules_to_save``.
    """
    names = [
        name for name, p in model.named_parameters() if p.requires_grad and "classifier" in name
    ]
    if not names:
        raise CourseModelError("This model has no trainable parameter named 'classifier'.")
    return tuple(sorted({name.split("classifier")[0] + "classifier" for name in names}))


def adapter_parameters(model) -> int:
    """Trainable parameters outside the classification head (the adapter itself)."""
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if p.requires_grad and "classifier" not in name
    )


def checkpoint_bytes(model, folder: str | Path) -> int:
    """Save ``model`` with ``save_pretrained`` and return the bytes of the weight files.

    A peft model saves only its adapter and head; a plain model saves every weight.
    """
    folder = Path(folder)
    model.save_pretrained(folder)
    return sum(f.stat().st_size for f in folder.glob("*.safetensors"))


def merge_lora(peft_model):
    """A plain model with the LoRA update folded into its weights (``merge_and_unload``).

    Serving then costs exactly what the base model costs: no extra matrices per layer.
    The input model is left untouched.
    """
    return copy.deepcopy(peft_model).merge_and_unload()


def plain_classifier(run: MethodRun, fresh_classifier=None):
    """The run's model as a plain Hugging Face classifier, ready to quantize, export or serve.

    ``full`` is returned as it is; ``lora`` and ``adalora`` are merged into a copy
    (:func:`merge_lora`); ``head`` puts the trained pooler and classifier back on
    ``fresh_classifier`` (a newly loaded copy of the base classifier, required then).
    """
    if run.method == "full":
        return run.model
    if run.method in ("lora", "adalora"):
        return merge_lora(run.model)
    if fresh_classifier is None:
        raise CourseArgumentError("A 'head' run needs fresh_classifier: a new copy of the base.")
    head: Any = run.model  # train_head's Sequential: pooler dense, tanh, dropout, classifier
    if hasattr(fresh_classifier.base_model, "pooler") and fresh_classifier.base_model.pooler:
        fresh_classifier.base_model.pooler.dense.load_state_dict(head[0].state_dict())
    fresh_classifier.classifier.load_state_dict(head[3].state_dict())
    return fresh_classifier


def load_adapters(base_model, adapters: dict[str, str | Path]):
    """One base model carrying several saved adapters; switch with ``model.set_adapter(name)``."""
    from peft import PeftModel

    if not adapters:
        raise CourseArgumentError("load_adapters needs at least one adapter folder.")
    names = list(adapters)
    model = PeftModel.from_pretrained(base_model, str(adapters[names[0]]), adapter_name=names[0])
    for name in names[1:]:
        model.load_adapter(str(adapters[name]), adapter_name=name)
    return model.eval()


# ------------------------------------------------------------- frozen encoder


@torch.no_grad()
def head_features(model, dataset, collate_fn, batch_size: int = 64) -> torch.Tensor:
    """The frozen encoder's [CLS] vector of every example, computed once: ``[n, hidden]``."""
    encoder = model.base_model
    encoder.eval()
    order = np.argsort(dataset.lengths, kind="stable")
    features: torch.Tensor | None = None
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = collate_fn([dataset[int(i)] for i in rows])
        batch.pop("labels", None)
        cls = encoder(**batch, return_dict=True).last_hidden_state[:, 0]
        if features is None:
            features = torch.empty(len(order), cls.shape[1])
        features[torch.from_numpy(rows)] = cls.float()
    if features is None:
        raise CourseDataError("head_features got an empty dataset; it needs at least one example.")
    return features


def train_head(
    model,
    features: torch.Tensor,
    labels: Sequence[int],
    steps: int,
    lr: float,
    batch_size: int = 32,
    class_weights: torch.Tensor | None = None,
    seed: int = 42,
    log_dir: str | Path | None = None,
) -> torch.nn.Module:
    """Train a copy of ``model``'s head (pooler + dropout + classifier) on cached features.

    It trains with :func:`course.train.heads.fit_head` (the engine, as every other run):
    ``steps`` optimizer steps with a linear decay and no warmup, class-weighted.

    Returns the trained head: ``head(features) -> logits``.
    """
    base = model.base_model
    pooler: Any = (
        copy.deepcopy(base.pooler) if getattr(base, "pooler", None) else torch.nn.Identity()
    )
    head = torch.nn.Sequential(
        pooler.dense if hasattr(pooler, "dense") else pooler,
        torch.nn.Tanh() if hasattr(pooler, "dense") else torch.nn.Identity(),
        copy.deepcopy(model.dropout),
        copy.deepcopy(model.classifier),
    )
    if steps > 0:  # 0 steps: the model's own head, copied
        fit_head(FeatureHead(head, class_weights), features, np.asarray(labels), lr=lr,
                 batch_size=batch_size, steps=steps, warmup_ratio=0.0, seed=seed,
                 log_dir=str(log_dir) if log_dir else None)
    return head.eval()


# ------------------------------------------------------- one budget, four methods

METHODS = ("full", "lora", "adalora", "head")


@dataclass
class MethodRun:
    """One method trained at the shared budget, with what it cost and how well it did."""

    method: str
    lr: float
    model: torch.nn.Module
    trainable: int
    total: int
    step_seconds: float
    checkpoint_bytes: int
    valid_macro_f1: float

    @property
    def optimizer_state_bytes(self) -> int:
        """AdamW keeps two fp32 running averages per trained parameter."""
        return 8 * self.trainable

    def row(self) -> dict:
        """A table row (sizes in MB)."""
        return {
            "method": self.method,
            "lr": self.lr,
            "trainable": self.trainable,
            "trainable_%": 100 * self.trainable / self.total,
            "optimizer_state_MB": self.optimizer_state_bytes / 2**20,
            "step_s": self.step_seconds,
            "checkpoint_MB": self.checkpoint_bytes / 2**20,
            "valid_macro_f1": self.valid_macro_f1,
        }


def _wrap(method: str, base, steps: int, lora_r: int):
    model = copy.deepcopy(base)
    if method == "lora":
        return add_lora(model, r=lora_r)
    if method == "adalora":
        return add_adalora(model, total_steps=steps, init_r=lora_r + lora_r // 2, target_r=lora_r)
    return model


def train_method(
    method: str,
    base,
    train_ds,
    valid_ds,
    collate_fn,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    folder: str | Path,
    class_weights: torch.Tensor | None = None,
    head_lr: float | None = None,
    lora_r: int = 8,
    precision: str = "auto",
    seed: int = 42,
    log_dir: str | Path | None = None,
) -> MethodRun:
    """Train a copy of ``base`` with ``method`` for ``steps`` steps; measure it on ``valid_ds``.

    ``full``, ``lora`` and ``adalora`` train with ``course.train.fit`` (class-weighted
    cross-entropy, linear warmup and decay); ``head_lr`` is the head's rate (full
    fine-tuning only: the adapters' own rate is ``lr``). ``head`` computes the frozen
    encoder's features of the first ``steps x batch_size`` training examples once, then
    trains the head on them (:func:`train_head`). ``log_dir`` writes the run's curves as
    TensorBoard files (:mod:`course.train.tracking`).
    """
    from course import train
    from course.config import seed_everything
    from course.metrics import macro_f1

    if method not in METHODS:
        raise CourseArgumentError(f"method must be one of {METHODS}, got {method!r}.")
    folder = Path(folder)
    labels = np.asarray(valid_ds.labels)
    if method == "head":
        return _train_head_method(
            base, train_ds, valid_ds, collate_fn, steps, lr, batch_size, folder, class_weights,
            seed, log_dir,
        )
    seed_everything(seed)  # adapters start the same whatever ran before (init draws numbers)
    model = _wrap(method, base, steps, lora_r)
    config = train.TrainConfig(
        max_steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        head_lr=head_lr if method == "full" else None,
        precision=precision,
        progress=False,
        warmup_ratio=0.1,
        log_dir=str(log_dir) if log_dir else None,
    )
    loss_fn = (
        adalora_loss(class_weights)
        if method == "adalora"
        else train.class_weighted_loss(class_weights)
        if class_weights is not None
        else None
    )
    sampler = _sampler(train_ds, batch_size, seed)
    block = adalora_allocation(model) if method == "adalora" else contextlib.nullcontext()
    with block:
        result = train.fit(
            model, train_ds, config, collate_fn=collate_fn, loss_fn=loss_fn, sampler=sampler
        )
    probs = train.predict(model, valid_ds, collate_fn, batch_size=64, progress=False)
    counts = _counts(model)
    return MethodRun(
        method,
        lr,
        model,
        counts[1],
        counts[0],
        result.train_seconds / result.steps,
        checkpoint_bytes(model, folder),
        macro_f1(labels, probs.argmax(axis=1), labels=list(range(probs.shape[1]))),
    )


def _sampler(dataset, batch_size: int, seed: int):
    from course.text import LengthBucketSampler

    return LengthBucketSampler(dataset.lengths, batch_size, seed=seed, num_replicas=1, rank=0)


def _counts(model) -> tuple[int, int]:
    params = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _train_head_method(
    base, train_ds, valid_ds, collate_fn, steps, lr, batch_size, folder, class_weights, seed,
    log_dir=None,
) -> MethodRun:
    import time

    from safetensors.torch import save_file

    from course.metrics import macro_f1

    used = [i for batch in _sampler(train_ds, batch_size, seed) for i in batch][
        : steps * batch_size
    ]
    subset = torch.utils.data.Subset(train_ds, used)
    subset.lengths = [train_ds.lengths[i] for i in used]  # type: ignore[attr-defined]
    train_features = head_features(base, subset, collate_fn)
    valid_features = head_features(base, valid_ds, collate_fn)
    labels = [train_ds.labels[i] for i in used]
    start = time.perf_counter()
    head = train_head(base, train_features, labels, steps, lr, batch_size, class_weights, seed,
                      log_dir)
    seconds = (time.perf_counter() - start) / steps
    with torch.no_grad():
        predicted = head(valid_features).argmax(dim=1).numpy()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in head.state_dict().items()}, str(folder / "head.safetensors")
    )
    trainable = sum(p.numel() for p in head.parameters())
    score = macro_f1(
        np.asarray(valid_ds.labels), predicted, labels=list(range(base.config.num_labels))
    )
    return MethodRun(
        "head",
        lr,
        head,
        trainable,
        _counts(base)[0],
        seconds,
        (folder / "head.safetensors").stat().st_size,
        score,
    )
