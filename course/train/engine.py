"""One training engine for the course: fine-tune every weight of a BERT model.

Read it top to bottom after lesson 03. The pieces:

* :func:`train_step`: forward, backward, clip, update; the whole idea in ten lines;
* :func:`fit`: the same step in a loop, with what a real run needs around it:
  AdamW with linear warmup and decay, gradient accumulation and clipping, mixed
  precision (bf16 on CUDA, fp16 with a scaler where bf16 is missing), evaluation
  and early stopping with the best weights restored, a ``tqdm`` progress bar,
  checkpoints that resume exactly, and DDP under ``torchrun``/``accelerate launch``;
* :func:`predict`: class probabilities for a dataset.

Checkpoints (:mod:`course.train.checkpoints`) live in ``output_dir/checkpoint-<step>/``; the DDP
plumbing is in :mod:`course.train.distributed`. Their names are importable from here too.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from course import config as course_config
from course.errors import CourseArgumentError, CourseDataError
from course.text import LengthBucketSampler
from course.train.checkpoints import (
    BestWeights,
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from course.train.distributed import Distributed, setup_distributed
from course.train.inference import to_device
from course.train.precision import autocast_dtype, resolve_precision
from course.train.tracking import write_run

__all__ = [
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "balanced_class_weights",
    "class_weighted_loss",
    "compute_loss",
    "fit",
    "linear_warmup_schedule",
    "make_optimizer",
    "optimizer_step",
    "train_step",
    "weighted_cross_entropy",
]

LossFn = Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]


@dataclass
class TrainConfig:
    """Everything that shapes a training run. ``batch_size`` is per process."""

    epochs: float = 1
    max_steps: int | None = None  # optimizer steps; overrides epochs
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 5e-5
    head_lr: float | None = None  # learning rate of the new head; None = lr (see make_optimizer)
    head_prefixes: tuple[str, ...] = ("classifier",)
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    eval_every: int | None = None  # optimizer steps; None = once per epoch
    metric: str = "macro_f1"
    greater_is_better: bool = True
    patience: int | None = None  # evaluations without improvement before stopping
    precision: str = "auto"  # auto | bf16 | fp16 | fp32
    seed: int = 42
    output_dir: str | None = None
    save_every: int | None = None  # optimizer steps; None = at each evaluation and at the end
    resume: bool = True
    num_workers: int = 0
    progress: bool = True
    device: str | None = None
    keep_checkpoints: int = 2
    log_every: int = 1  # optimizer steps per history row (reading the loss syncs a GPU)
    log_dir: str | None = None  # the run's curves for TensorBoard (course.train.tracking)


@dataclass
class TrainResult:
    """What :func:`fit` returns: the curves, the best evaluation and some throughput facts."""

    history: pd.DataFrame
    best_metric: float | None = None
    best_step: int | None = None
    output_dir: str | None = None
    steps: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    samples: int = 0
    tokens: int = 0

    @property
    def samples_per_second(self) -> float:
        """Training examples per second in this process (evaluation time excluded)."""
        return self.samples / self.train_seconds if self.train_seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        """Real (non-pad) tokens per second in this process."""
        return self.tokens / self.train_seconds if self.train_seconds else 0.0

    def plot(self, metrics: list[str] | None = None):
        """Training loss per step and the validation curves, side by side; returns the Figure."""
        import matplotlib.pyplot as plt

        hist = self.history
        fixed = {"step", "epoch", "train_loss", "lr"}
        metrics = metrics or [c for c in hist.columns if c not in fixed]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
        left.plot(hist["step"], hist["train_loss"], alpha=0.35, label="per step")
        smooth = hist["train_loss"].rolling(max(1, len(hist) // 20), min_periods=1).mean()
        left.plot(hist["step"], smooth, label="smoothed")
        left.set(xlabel="optimizer step", ylabel="training loss", title="Training loss")
        left.legend()
        for name in metrics:
            points = hist[["step", name]].dropna()
            right.plot(points["step"], points[name], marker="o", label=name)
        if self.best_step is not None:
            right.axvline(self.best_step, color="grey", linestyle="--", label="best")
        right.set(xlabel="optimizer step", title="Validation")
        if metrics:
            right.legend()
        fig.tight_layout()
        return fig


# ----------------------------------------------------------------------------- the step


def compute_loss(model, batch: dict[str, torch.Tensor],
                 loss_fn: LossFn | None = None) -> torch.Tensor:
    """The scalar loss of one batch: ``loss_fn(model, batch)`` or the model's own loss."""
    return loss_fn(model, batch) if loss_fn is not None else model(**batch).loss


def optimizer_step(model, optimizer, scheduler=None, scaler=None,
                   max_grad_norm: float = 1.0) -> None:
    """Clip the gradients, update the weights, advance the schedule, clear the gradients."""
    if scaler is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)  # skips the update if fp16 overflowed
        scaler.update()
    else:
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def train_step(
    model,
    batch: dict[str, torch.Tensor],
    optimizer,
    scheduler=None,
    scaler=None,
    loss_fn: LossFn | None = None,
    max_grad_norm: float = 1.0,
    autocast_dtype: torch.dtype | None = None,
) -> float:
    """One optimizer step on one batch; returns the loss.

    1. forward pass to a scalar loss (under autocast when ``autocast_dtype`` is set);
    2. backward pass (scaled by ``scaler`` for fp16);
    3. clip the gradient norm, update the weights, step the learning-rate schedule.
    """
    model.train()
    device_type = next(model.parameters()).device.type
    amp = torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None)
    with amp:
        loss = compute_loss(model, batch, loss_fn)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    optimizer_step(model, optimizer, scheduler, scaler, max_grad_norm)
    return loss.item()


# ------------------------------------------------------------------ building blocks


def balanced_class_weights(labels, n_classes: int) -> torch.Tensor:
    """``n / (n_classes * count_c)`` per class, so that every class weighs the same in the loss.

    Raises:
        CourseDataError: if a class has no example (its weight would be infinite).
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)[:n_classes]
    if (counts == 0).any():
        missing = [int(c) for c in np.flatnonzero(counts == 0)]
        raise CourseDataError(
            f"Classes {missing} have no training example; cannot weight them. Use the plain "
            "loss, or sample the training set so that every class occurs.")
    return torch.tensor(counts.sum() / (n_classes * counts), dtype=torch.float32)


def weighted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                           weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` ``[batch, classes]``, each class weighted by ``weights``.

    PyTorch divides by the summed weights of the batch's labels, so with all weights 1 it is
    the plain mean; the Hugging Face ``Trainer`` and :func:`fit` both use this one function.
    """
    weight = None if weights is None else weights.to(logits.device)
    return torch.nn.functional.cross_entropy(logits.float(), labels, weight=weight)


def class_weighted_loss(weights: torch.Tensor) -> LossFn:
    """A ``loss_fn`` for :func:`fit`: cross-entropy of the model's logits with per-class weights.

    With macro-F1 as the goal, a rare class (*Exact*) should cost as much to get wrong
    as a common one; the model's own loss weighs every example the same.
    """

    def loss_fn(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        return weighted_cross_entropy(logits, batch["labels"], weights)

    return loss_fn


def make_optimizer(
    model,
    lr: float,
    weight_decay: float,
    fused: bool = False,
    head_lr: float | None = None,
    head_prefixes: tuple[str, ...] = ("classifier",),
) -> torch.optim.AdamW:
    """AdamW; biases and LayerNorm weights (1-D tensors) get no weight decay.

    With ``head_lr``, parameters whose names start with one of ``head_prefixes`` (the
    freshly initialised head) learn at ``head_lr`` and the pretrained body at ``lr``.
    """
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    parts = [(lr, [p for _, p in named])]
    if head_lr is not None:
        head = [p for name, p in named if name.startswith(tuple(head_prefixes))]
        if not head:
            raise CourseArgumentError(
                f"head_lr is set but no parameter name starts with {list(head_prefixes)}; "
                f"the first names are {[name for name, _ in named[:3]]}. Set head_prefixes."
            )
        head_ids = {id(p) for p in head}
        parts = [(lr, [p for _, p in named if id(p) not in head_ids]), (head_lr, head)]
    groups = []
    for part_lr, params in parts:
        groups.append({"params": [p for p in params if p.ndim >= 2],
                       "weight_decay": weight_decay, "lr": part_lr})
        groups.append({"params": [p for p in params if p.ndim < 2],
                       "weight_decay": 0.0, "lr": part_lr})
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, fused=fused or None)


def linear_warmup_schedule(optimizer, warmup_steps: int,
                           total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate rises linearly for ``warmup_steps``, then falls linearly to 0 at
    ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# --------------------------------------------------------------------------- fit


def _plan_steps(batches_per_epoch: int, config: TrainConfig) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps)."""
    if config.grad_accum < 1 or config.batch_size < 1:
        raise CourseArgumentError("batch_size and grad_accum must be at least 1.")
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total = (config.max_steps if config.max_steps is not None
             else math.ceil(config.epochs * steps_per_epoch))
    if total < 1:
        raise CourseArgumentError(
            f"The run has {total} optimizer steps; raise epochs or max_steps.")
    return steps_per_epoch, total


def _check_sampler(batches, ddp: Distributed) -> None:
    if not hasattr(batches, "set_epoch") or not hasattr(batches, "__len__"):
        raise CourseArgumentError(
            "sampler must be a batch sampler with set_epoch() and len(), got "
            f"{type(batches).__name__}; use course.text.LengthBucketSampler."
        )
    replicas = getattr(batches, "num_replicas", 1)
    if replicas != ddp.world:
        raise CourseArgumentError(
            f"The sampler splits batches for {replicas} process(es) but this run has "
            f"{ddp.world}. Create the sampler inside the script that torchrun starts "
            "(it reads WORLD_SIZE and RANK)."
        )


def _run_evaluation(evaluate, model, ddp: Distributed) -> dict[str, float]:
    """Rank 0 evaluates the bare model; every rank gets the same numbers."""
    metrics = None
    if ddp.main:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in evaluate(model).items()}
        model.train(was_training)
    return ddp.share(metrics)


def _improved(value: float, best: float | None, greater_is_better: bool) -> bool:
    if best is None:
        return True
    return value > best if greater_is_better else value < best


def _batch_size_of(batch: dict[str, torch.Tensor]) -> int:
    return len(batch["labels"]) if "labels" in batch else len(next(iter(batch.values())))


class _Clock:
    """Seconds spent training; evaluation is left out by pausing it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.started = time.perf_counter()

    def pause(self) -> None:
        self.seconds += time.perf_counter() - self.started

    def resume(self) -> None:
        self.started = time.perf_counter()


class _Run:
    """One call of :func:`fit`: what it builds, and the counters it keeps while it trains.

    ``state`` (a :class:`TrainState`) is what a checkpoint saves; the counters here
    (examples, tokens, the loss window, the clock) only describe this process's run.
    """

    def __init__(self, model, train_dataset, config: TrainConfig, collate_fn: Callable,
                 loss_fn: LossFn | None, evaluate, sampler) -> None:
        self.model, self.dataset, self.config = model, train_dataset, config
        self.collate_fn, self.loss_fn, self.evaluate = collate_fn, loss_fn, evaluate
        self.ddp, self.device = setup_distributed(config.device)
        course_config.seed_everything(config.seed)
        self.precision = resolve_precision(config.precision, self.device)
        self.amp_dtype = autocast_dtype(self.precision)
        model.to(self.device)
        model.train()
        self.batches = sampler or LengthBucketSampler.random(
            len(train_dataset), config.batch_size, seed=config.seed)
        _check_sampler(self.batches, self.ddp)
        self.steps_per_epoch, self.total_steps = _plan_steps(len(self.batches), config)
        self.optimizer = make_optimizer(
            model, config.lr, config.weight_decay, fused=self.device.type in ("cuda", "cpu"),
            head_lr=config.head_lr, head_prefixes=config.head_prefixes)
        self.scheduler = linear_warmup_schedule(
            self.optimizer, round(config.warmup_ratio * self.total_steps), self.total_steps)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.best = BestWeights(config.output_dir, self.ddp)
        self.checkpoint, self.state = self._resume_or_start()
        self.wrapped = model
        if self.ddp.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.samples = self.tokens = self.window_steps = 0
        self.window_loss = torch.zeros((), device=self.device)
        self.show = config.progress and self.ddp.main
        self.bar = tqdm(disable=True)  # replaced by the real bar in start()
        self.clock = _Clock()

    def _resume_or_start(self) -> tuple[Path | None, TrainState]:
        config = self.config
        checkpoint = None
        if config.output_dir and config.resume:
            checkpoint = latest_checkpoint(config.output_dir)
        if checkpoint is not None:
            return checkpoint, load_checkpoint(checkpoint, self.model, self.optimizer,
                                               self.scheduler, self.scaler, self.ddp, self.device)
        if config.output_dir and self.ddp.main:
            Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        return None, TrainState()

    @property
    def done(self) -> bool:
        """True once the planned steps are done or early stopping has fired."""
        return self.state.step >= self.total_steps or self.state.stopped_early

    def start(self) -> None:
        """Print what will run, open the progress bar, start the clock."""
        if self.show:
            resumed = f", resumed from {self.checkpoint.name}" if self.checkpoint else ""
            size = getattr(self.batches, "batch_size", self.config.batch_size)
            print(f"Training on {self.device} in {self.precision}, {self.ddp.world} process(es): "
                  f"{self.total_steps} steps of {size} x {self.config.grad_accum} x "
                  f"{self.ddp.world} examples{resumed}.")
        self.bar = tqdm(total=self.total_steps, initial=self.state.step, desc="train",
                        unit="step", disable=not self.show)
        self.clock = _Clock()

    def _epoch_loader(self) -> tuple[torch.utils.data.DataLoader, int]:
        """This epoch's batches, without those a resumed run has already trained on."""
        self.batches.set_epoch(self.state.epoch)
        epoch_batches = list(self.batches)
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=epoch_batches[self.state.batches_done:],
            collate_fn=self.collate_fn,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.config.seed + self.state.epoch),
        )
        return loader, len(epoch_batches)

    def train_epoch(self) -> None:
        """Train on the rest of the current epoch, or until the run is done."""
        loader, n = self._epoch_loader()
        accum = self.config.grad_accum
        for j, batch in enumerate(loader, start=self.state.batches_done):
            group_start = j - j % accum
            group_size = min(accum, n - group_start)
            last_in_group = j + 1 == group_start + group_size
            self._backward(batch, group_size, last_in_group)
            if not last_in_group:
                continue
            optimizer_step(self.model, self.optimizer, self.scheduler, self.scaler,
                           self.config.max_grad_norm)
            self._after_step(batches_done=j + 1, epoch_batches=n)
            if self.done:
                break

    def _backward(self, batch: dict[str, torch.Tensor], group_size: int, sync: bool) -> None:
        """Forward and backward on one batch; gradients add up until the group's last batch."""
        self.samples += _batch_size_of(batch)
        if "attention_mask" in batch:
            self.tokens += int(batch["attention_mask"].sum())  # real tokens, counted on the CPU
        batch = to_device(batch, self.device)
        # Under DDP, gradients are averaged over processes only on the group's last batch.
        no_sync = self.ddp.world > 1 and not sync
        with self.wrapped.no_sync() if no_sync else contextlib.nullcontext():
            with torch.autocast(self.device.type, dtype=self.amp_dtype,
                                enabled=self.amp_dtype is not None):
                loss = compute_loss(self.wrapped, batch, self.loss_fn) / group_size
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        self.window_loss += loss.detach()  # stays on the device: no sync per batch

    def _after_step(self, batches_done: int, epoch_batches: int) -> None:
        """Count the step, log it when due, evaluate and checkpoint when due."""
        state = self.state
        state.step += 1
        state.batches_done = batches_done
        epoch_done = batches_done == epoch_batches
        self.window_steps += 1
        if epoch_done:
            state.epoch, state.batches_done = state.epoch + 1, 0
        if self._log_due(epoch_done):
            self._log()
        self.bar.update(1)
        evaluated = self._evaluate_if_due(epoch_done)
        self._save_if_due(evaluated)

    def _every(self, steps: int | None) -> bool:
        return bool(steps and self.state.step % steps == 0)

    def _log_due(self, epoch_done: bool) -> bool:
        """A history row every ``log_every`` steps, and at every evaluation or checkpoint."""
        config = self.config
        return (self._every(config.log_every) or self.state.step >= self.total_steps
                or epoch_done or self._every(config.eval_every) or self._every(config.save_every))

    def _log(self) -> None:
        self.state.history.append({
            "step": self.state.step,
            "epoch": self.state.step / self.steps_per_epoch,
            "train_loss": self.ddp.mean(self.window_loss.item() / self.window_steps),
            "lr": float(self.scheduler.get_last_lr()[0]),
        })
        self.window_loss.zero_()
        self.window_steps = 0
        self.bar.set_postfix(loss=f"{self.state.history[-1]['train_loss']:.4f}")

    def _evaluate_if_due(self, epoch_done: bool) -> bool:
        """Evaluate when due: keep the best weights, count evaluations without improvement."""
        config, state = self.config, self.state
        finished = state.step >= self.total_steps
        due = self._every(config.eval_every) or (config.eval_every is None and epoch_done)
        if self.evaluate is None or not (due or finished):
            return False
        self.clock.pause()
        metrics = _run_evaluation(self.evaluate, self.model, self.ddp)
        self.clock.resume()
        if config.metric not in metrics:
            raise CourseArgumentError(
                f"evaluate() returned {sorted(metrics)} but config.metric is {config.metric!r}; "
                "return that metric or change config.metric."
            )
        state.history[-1].update(metrics)
        value = metrics[config.metric]
        if _improved(value, state.best_metric, config.greater_is_better):
            state.best_metric, state.best_step, state.bad_evals = value, state.step, 0
            self.best.save(self.model)
        else:
            state.bad_evals += 1
            state.stopped_early = bool(config.patience and state.bad_evals >= config.patience)
        self.bar.set_postfix(loss=state.history[-1]["train_loss"], **{config.metric: value})
        return True

    def _save_if_due(self, evaluated: bool) -> None:
        config, state = self.config, self.state
        finished = state.step >= self.total_steps
        due = (self._every(config.save_every) or (config.save_every is None and evaluated)
               or finished or state.stopped_early)
        if config.output_dir and due:
            save_checkpoint(config.output_dir, self.model, self.optimizer, self.scheduler,
                            self.scaler, state, self.ddp, config.keep_checkpoints)

    def finish(self) -> TrainResult:
        """Stop the clock, restore the best weights, and report."""
        self.bar.close()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # GPU work is asynchronous: wait before timing
        self.clock.pause()
        state = self.state
        if self.evaluate is not None and self.best.restore(self.model, self.device) and self.show:
            print(f"Restored the best weights: {self.config.metric}={state.best_metric:.4f} "
                  f"at step {state.best_step}.")
        self.model.eval()
        history = pd.DataFrame(state.history)
        if self.config.log_dir and self.ddp.main:
            write_run(self.config.log_dir, history, hparams=_hparams(self.config))
        return TrainResult(
            history=history, best_metric=state.best_metric,
            best_step=state.best_step, output_dir=self.config.output_dir, steps=state.step,
            stopped_early=state.stopped_early, train_seconds=self.clock.seconds,
            samples=self.samples, tokens=self.tokens,
        )


def _hparams(config: TrainConfig) -> dict[str, Any]:
    """The settings that tell runs apart, for TensorBoard's HParams tab."""
    keys = ("lr", "head_lr", "batch_size", "grad_accum", "max_steps", "epochs", "weight_decay",
            "warmup_ratio", "precision", "seed")
    return {k: getattr(config, k) for k in keys if getattr(config, k) is not None}


def fit(
    model,
    train_dataset,
    config: TrainConfig,
    *,
    collate_fn: Callable,
    loss_fn: LossFn | None = None,
    evaluate: Callable[[Any], dict[str, float]] | None = None,
    sampler: LengthBucketSampler | None = None,
) -> TrainResult:
    """Train ``model`` on ``train_dataset``; the same code in one process or under torchrun.

    Args:
        model: a ``torch.nn.Module``; every parameter with ``requires_grad`` is trained.
        train_dataset: a map-style dataset; ``collate_fn`` turns a list of items into a batch.
        config: a :class:`TrainConfig`.
        loss_fn: ``loss_fn(model, batch) -> scalar``; by default ``model(**batch).loss``.
        evaluate: ``evaluate(model) -> {name: value}``, run every ``eval_every`` steps (or each
            epoch) on rank 0; ``config.metric`` drives early stopping and the best weights,
            which are restored at the end.
        sampler: a batch sampler with ``set_epoch`` (e.g. :class:`LengthBucketSampler`);
            by default shuffled batches of ``config.batch_size``.

    Returns:
        A :class:`TrainResult` with the history, best metric and step, and throughput.
    """
    run = _Run(model, train_dataset, config, collate_fn, loss_fn, evaluate, sampler)
    run.start()
    while not run.done:
        run.train_epoch()
    return run.finish()
