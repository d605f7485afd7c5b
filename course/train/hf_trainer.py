"""The Hugging Face ``Trainer`` set up for the same run as :func:`course.train.fit`.

Lesson 03 trains its model with the course engine, then runs the ``Trainer`` on the same
recipe, so that the two rows it shows side by side differ in the tool and nothing else:

* the same batches in the same order: the engine's batch sampler (length buckets), handed
  to the ``Trainer``'s data loader (a ``Trainer`` subclass overrides ``get_train_dataloader``);
* the same optimizer object: :func:`course.train.make_optimizer` (AdamW, no weight decay on
  1-D parameters, the head's own learning rate in its own parameter groups);
* the same schedule: :func:`course.train.linear_warmup_schedule`;
* the same loss: the model's own cross-entropy, or :func:`course.train.weighted_cross_entropy`
  with class weights, as ``compute_loss_func``; divided by the accumulation steps as the engine
  divides it;
* the same steps, batch size, clipping, seed (so the same dropout masks) and precision.

Each side's per-step losses are recorded (``trainer.step_losses``, the engine's history with
``log_every=1``), so a test can check that they agree within bf16's tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from course import config as course_config
from course.errors import CourseArgumentError
from course.text import LengthBucketSampler
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


def _trainer_class():
    from transformers import Trainer

    class _SameBatches(Trainer):
        """A ``Trainer`` that draws the engine's batches and keeps each step's loss."""

        def __init__(self, *args, batch_sampler, generator_seed: int, **kwargs):
            super().__init__(*args, **kwargs)
            self.batch_sampler = batch_sampler
            self.generator_seed = generator_seed
            self.step_losses: list[float] = []

        def get_train_dataloader(self):
            dataset: Any = self.train_dataset  # a map-style dataset, as the engine's
            loader = torch.utils.data.DataLoader(
                dataset, batch_sampler=self.batch_sampler,
                collate_fn=self.data_collator, num_workers=self.args.dataloader_num_workers,
                pin_memory=self.args.dataloader_pin_memory,
                # As in the engine: the loader draws its seed from its own generator, not
                # from the global one that the dropout masks come from.
                generator=torch.Generator().manual_seed(self.generator_seed))
            return self.accelerator.prepare(loader)

        def training_step(self, model, inputs, num_items_in_batch=None):
            loss = super().training_step(model, inputs, num_items_in_batch)
            self.step_losses.append(float(loss) * self.args.gradient_accumulation_steps)
            return loss

    return _SameBatches


def trainer_for(model, train_dataset, config: TrainConfig, *, collate_fn: Callable,
                class_weights: torch.Tensor | None = None, output_dir: str,
                sampler: LengthBucketSampler | None = None, logging_dir: str | None = None):
    """A ``transformers.Trainer`` that runs ``config`` as :func:`course.train.fit` would.

    Args:
        model: the classifier to train (moved to the config's device here).
        train_dataset: the same dataset the engine trains on.
        config: the engine's ``TrainConfig``; ``max_steps`` must be set (the run is capped).
        collate_fn: the engine's collator.
        class_weights: per-class loss weights, or None for the plain cross-entropy.
        output_dir: where the ``Trainer`` may write (it saves no checkpoint here).
        sampler: the engine's batch sampler; by default the engine's own default
            (shuffled batches of ``config.batch_size`` from ``config.seed``).
        logging_dir: a folder for TensorBoard files (``report_to="tensorboard"``); None logs
            nowhere.
    """
    from transformers import TrainingArguments

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
    batches = sampler or LengthBucketSampler.random(len(train_dataset), config.batch_size,
                                                    seed=config.seed)
    accum = config.grad_accum

    def loss(outputs, labels, num_items_in_batch=None):
        # The mean over the batch (plain, or class-weighted), as the engine computes it.
        return weighted_cross_entropy(outputs.logits, labels, class_weights) / accum

    args = TrainingArguments(
        output_dir=output_dir, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=accum, max_grad_norm=config.max_grad_norm,
        seed=config.seed, data_seed=config.seed, bf16=precision == "bf16",
        fp16=precision == "fp16", use_cpu=device.type == "cpu",
        report_to=["tensorboard"] if logging_dir else [],
        save_strategy="no", logging_steps=max(1, config.log_every),
        dataloader_num_workers=config.num_workers, disable_tqdm=not config.progress,
    )
    trainer = _trainer_class()(model=model, args=args, train_dataset=train_dataset,
                               data_collator=collate_fn, optimizers=(optimizer, scheduler),
                               compute_loss_func=loss, batch_sampler=batches,
                               generator_seed=config.seed)
    if logging_dir:
        _log_to(trainer, logging_dir)
    if not config.progress:  # without a progress bar the Trainer prints every log line instead
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


def _log_to(trainer, logging_dir: str) -> None:
    """Point the ``Trainer``'s TensorBoard callback at ``logging_dir`` (transformers 5 reads
    it from ``TENSORBOARD_LOGGING_DIR`` otherwise)."""
    from transformers.integrations import TensorBoardCallback

    callbacks = [c for c in trainer.callback_handler.callbacks
                 if isinstance(c, TensorBoardCallback)]
    if not callbacks:
        raise CourseArgumentError("report_to='tensorboard' added no TensorBoard callback; "
                                  "is the tensorboard package installed?")
    for callback in callbacks:
        callback.logging_dir = str(logging_dir)
