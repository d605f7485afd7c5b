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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from course.errors import CourseArgumentError, CourseModelError

LORA_TARGETS = ("query", "value")


def _linear_shapes(model: torch.nn.Module, targets: Sequence[str]) -> list[tuple[int, int]]:
    """(in, out) of every ``nn.Linear`` whose name ends with one of ``targets``."""
    return [(m.in_features, m.out_features) for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and name.split(".")[-1] in targets]


def lora_parameter_count(model: torch.nn.Module, r: int, targets: Sequence[str] = LORA_TARGETS) -> int:
    """Parameters LoRA adds: ``r x (in + out)`` for every targeted linear layer."""
    if r < 1:
        raise CourseArgumentError(f"LoRA rank r must be >= 1, got {r}.")
    shapes = _linear_shapes(model, targets)
    if not shapes:
        raise CourseArgumentError(f"No linear layer is named {list(targets)} in this model.")
    return sum(r * (n_in + n_out) for n_in, n_out in shapes)


def add_lora(model, r: int = 8, alpha: int = 16, dropout: float = 0.1,
             targets: Sequence[str] = LORA_TARGETS):
    """Wrap a sequence classifier with LoRA adapters (``peft``); the head stays fully trainable."""
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=r, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=list(targets))
    return get_peft_model(model, config)


def add_adalora(model, total_steps: int, init_r: int = 12, target_r: int = 8, alpha: int = 16,
                dropout: float = 0.1, targets: Sequence[str] = LORA_TARGETS):
    """Wrap a sequence classifier with AdaLoRA adapters (``peft``).

    AdaLoRA (Zhang et al., 2023) starts every adapter at rank ``init_r``, written as
    ``P diag(E) Q``, and during training prunes the least important singular values until
    the whole model holds ``target_r`` per adapter on average: layers that matter keep
    more rank. The pruning runs between step ``10 %`` and ``70 %`` of ``total_steps``; call
    it each step with :func:`adalora_allocation`.
    """
    from peft import AdaLoraConfig, TaskType, get_peft_model

    if total_steps < 5:
        raise CourseArgumentError(f"AdaLoRA needs a step budget of at least 5, got {total_steps}.")
    tinit, tfinal = max(1, total_steps // 10), max(1, (3 * total_steps) // 10)
    config = AdaLoraConfig(task_type=TaskType.SEQ_CLS, init_r=init_r, target_r=target_r,
                           lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                           total_step=total_steps, tinit=tinit, tfinal=tfinal,
                           deltaT=max(1, (total_steps - tinit - tfinal) // 10))
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
    names = [name for name, p in model.named_parameters() if p.requires_grad and "classifier" in name]
    if not names:
        raise CourseModelError("This model has no trainable parameter named 'classifier'.")
    return tuple(sorted({name.split("classifier")[0] + "classifier" for name in names}))


def adapter_parameters(model) -> int:
    """Trainable parameters outside the classification head (the adapter itself)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if p.requires_grad and "classifier" not in name)


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
    features = None
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = collate_fn([dataset[int(i)] for i in rows])
        batch.pop("labels", None)
        cls = encoder(**batch, return_dict=True).last_hidden_state[:, 0]
        if features is None:
            features = torch.empty(len(order), cls.shape[1])
        features[torch.from_numpy(rows)] = cls.float()
    return features


def train_head(model, features: torch.Tensor, labels: Sequence[int], steps: int, lr: float,
               batch_size: int = 32, class_weights: torch.Tensor | None = None,
               seed: int = 42) -> torch.nn.Module:
    """Train a copy of ``model``'s head (pooler + dropout + classifier) on cached features.

    Returns the trained head: ``head(features) -> logits``.
    """
    base = model.base_model
    pooler = copy.deepcopy(base.pooler) if getattr(base, "pooler", None) else torch.nn.Identity()
    head = torch.nn.Sequential(pooler.dense if hasattr(pooler, "dense") else pooler,
                               torch.nn.Tanh() if hasattr(pooler, "dense") else torch.nn.Identity(),
                               copy.deepcopy(model.dropout), copy.deepcopy(model.classifier))
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / max(1, steps)))
    head.train()
    for _ in range(steps):
        rows = torch.randint(len(labels_t), (batch_size,), generator=generator)
        logits = head(features[rows])
        loss = torch.nn.functional.cross_entropy(logits, labels_t[rows], weight=class_weights)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    return head.eval()
