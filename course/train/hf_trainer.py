"""The Hugging Face ``Trainer`` set up for the same run as :func:`course.train.fit`.

Lesson 03 trains its model with the course engine, then runs the ``Trainer`` on the same
recipe, so that the two rows it shows side by side differ in the tool and nothing else:

* the same optimizer object: :func:`course.train.make_optimizer` (AdamW, no weight decay on
  1-D parameters, the head's own learning rate in its own parameter groups);
* the same schedule: :func:`course.train.linear_warmup_schedule`;
* the same loss: :func:`course.train.weighted_cross_entropy` as ``compute_loss_func``;
* the same steps, batch size, clipping, seed and precision.

What still differs is the batch order: the engine draws length buckets, the ``Trainer``
shuffles examples.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course import config as course_config
from course.errors import CourseArgumentError
from course.train.engine import (
    TrainConfig,
    linear_warmup_schedule,
    make_optimizer,
    weighted_cross_entropy,
)
from course.train.precision import resolve_precision

__all__ = [
    "trainer_for",
]


def trainer_for(model, train_dataset, config: TrainConfig, *, collate_fn: Callable,
                class_weights: torch.Tensor | None = None, output_dir: str):
    """A ``transformers.Trainer`` that runs ``config`` as :func:`course.train.fit` would.

    Args:
        model: the classifier to train (moved to the config's device here).
        train_dataset: the same dataset the engine trains on.
        config: the engine's ``TrainConfig``; ``max_steps`` must be set (the run is capped).
        collate_fn: the engine's collator.
        class_weights: per-class loss weights, or None for the plain cross-entropy.
        output_dir: where the ``Trainer`` may write (it saves no checkpoint here).
    """
    from transformers import Trainer, TrainingArguments

    if config.max_steps is None:
        raise CourseArgumentError("trainer_for needs config.max_steps: cap the Trainer run.")
    device = torch.device(course_config.device(config.device))
    precision = resolve_precision(config.precision, device)
    model.to(device)
    optimizer = make_optimizer(
        model, config.lr, config.weight_decay, fused=device.type in ("cuda", "cpu"),
        head_lr=config.head_lr, head_prefixes=config.head_prefixes)
    scheduler = linear_warmup_schedule(
        optimizer, round(config.warmup_ratio * config.max_steps), config.max_steps)

    def loss(outputs, labels, num_items_in_batch=None):
        return weighted_cross_entropy(outputs.logits, labels, class_weights)

    args = TrainingArguments(
        output_dir=output_dir, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, max_grad_norm=config.max_grad_norm,
        seed=config.seed, data_seed=config.seed, bf16=precision == "bf16",
        fp16=precision == "fp16", use_cpu=device.type == "cpu", report_to=[],
        save_strategy="no", logging_steps=max(1, config.log_every),
        dataloader_num_workers=config.num_workers, disable_tqdm=not config.progress,
    )
    return Trainer(model=model, args=args, train_dataset=train_dataset, data_collator=collate_fn,
                   optimizers=(optimizer, scheduler), compute_loss_func=loss)
