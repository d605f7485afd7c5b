"""One training engine for the course: fine-tune every weight of a BERT model.

Read it top to bottom after lesson 03. The pieces:

* :func:`train_step`: forward, backward, clip, update; the whole idea in ten lines;
* :func:`fit`: the same step in a loop, with what a real run needs around it:
  AdamW with linear warmup and decay, gradient accumulation and clipping, mixed
  precision (bf16 on CUDA, fp16 with a scaler where bf16 is missing), evaluation
  and early stopping with the best weights restored, a ``tqdm`` progress bar,
  checkpoints that resume exactly, and DDP under ``torchrun``/``accelerate launch``;
* :func:`predict`: class probabilities for a dataset.

Checkpoints live in ``output_dir/checkpoint-<step>/``: the weights in safetensors,
the optimizer, scheduler and scaler states, every process's random number
generators, and ``state.json`` (step, epoch, position in the epoch, best metric,
history). ``best/model.safetensors`` holds the best weights so far.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from course import config as course_config
from course.errors import CourseError
from course.text import LengthBucketSampler

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
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


def compute_loss(model, batch: dict[str, torch.Tensor], loss_fn: LossFn | None = None) -> torch.Tensor:
    """The scalar loss of one batch: ``loss_fn(model, batch)`` or the model's own loss."""
    return loss_fn(model, batch) if loss_fn is not None else model(**batch).loss


def optimizer_step(model, optimizer, scheduler=None, scaler=None, max_grad_norm: float = 1.0) -> None:
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
        CourseError: if a class has no example (its weight would be infinite).
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)[:n_classes]
    if (counts == 0).any():
        missing = [int(c) for c in np.flatnonzero(counts == 0)]
        raise CourseError(f"Classes {missing} have no training example; cannot weight them.")
    return torch.tensor(counts.sum() / (n_classes * counts), dtype=torch.float32)


def class_weighted_loss(weights: torch.Tensor) -> LossFn:
    """A ``loss_fn`` for :func:`fit`: cross-entropy of the model's logits with per-class weights.

    With macro-F1 as the goal, a rare class (*Exact*) should cost as much to get wrong
    as a common one; the model's own loss weighs every example the same.
    """

    def loss_fn(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        return torch.nn.functional.cross_entropy(
            logits.float(), batch["labels"], weight=weights.to(logits.device)
        )

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
            raise CourseError(
                f"head_lr is set but no parameter name starts with {list(head_prefixes)}; "
                f"the first names are {[name for name, _ in named[:3]]}. Set head_prefixes."
            )
        head_ids = {id(p) for p in head}
        parts = [(lr, [p for _, p in named if id(p) not in head_ids]), (head_lr, head)]
    groups = []
    for part_lr, params in parts:
        groups.append({"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay, "lr": part_lr})
        groups.append({"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr": part_lr})
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, fused=fused or None)


def linear_warmup_schedule(optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rises linearly for ``warmup_steps``, then falls linearly to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# bf16 autocast on a CPU with native bf16: measured by benchmarks/precision.py (BENCHMARKS.md,
# "Lesson 05"). False: ``auto`` keeps fp32 on CPUs until the measurement says bf16 wins.
BF16_ON_CPU = False


def cpu_bf16_flags() -> list[str]:
    """The CPU's native bfloat16 instruction sets (``avx512_bf16``, ``amx_bf16``); [] if none.

    Read from ``/proc/cpuinfo`` (Linux); elsewhere the list is empty and bf16 is never automatic.
    """
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle
                          if line.startswith("flags")), [])
    except OSError:
        return []
    return [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags]


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` becomes bf16 on a CUDA GPU that has it, fp16 on older GPUs, fp32 elsewhere.

    On a CPU with native bf16 (:func:`cpu_bf16_flags`) ``auto`` is bf16 when
    ``BF16_ON_CPU`` says the measurement found it faster at the same quality.
    """
    if precision not in PRECISIONS:
        raise CourseError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}.")
    if precision == "auto":
        if device.type == "cpu":
            return "bf16" if BF16_ON_CPU and cpu_bf16_flags() else "fp32"
        if device.type != "cuda":
            return "fp32"
        return "bf16" if course_config.bf16_supported() else "fp16"
    if precision == "fp16" and device.type != "cuda":
        raise CourseError("fp16 training needs a CUDA GPU; use precision='fp32' (or 'bf16').")
    return precision


def _autocast_dtype(precision: str) -> torch.dtype | None:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


# --------------------------------------------------------------------- distributed


@dataclass
class Distributed:
    """This process's place in a DDP run (world 1, rank 0 without torchrun)."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the process that prints and saves (rank 0)."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every process (no-op in a single process)."""
        if self.world > 1:
            dist.barrier()

    def mean(self, value: float) -> float:
        """Average a number over the processes."""
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return tensor.item() / self.world

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def setup_distributed(device_name: str | None = None) -> tuple[Distributed, torch.device]:
    """Join the process group when launched by torchrun/accelerate; pick this process's device.

    ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` come from the launcher. The backend is
    nccl on CUDA and gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    name = course_config.device(device_name)
    if world > 1 and name == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device(name)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(world, rank, local_rank), device


# --------------------------------------------------------------------- checkpoints


@dataclass
class TrainState:
    """Where the run is; saved in ``state.json`` with every checkpoint."""

    step: int = 0
    epoch: int = 0
    batches_done: int = 0  # batches of the current epoch already trained on
    best_metric: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


def _rng_state() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoint-*`` folder in ``output_dir``, or None."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if (p / "state.json").is_file()]
    return max(folders, key=lambda p: int(p.name.split("-")[1]), default=None)


def save_checkpoint(output_dir, model, optimizer, scheduler, scaler, state: TrainState,
                    ddp: Distributed, keep: int = 2) -> Path:
    """Write a checkpoint atomically (a temporary folder, then a rename); prune old ones."""
    from safetensors.torch import save_model

    root = Path(output_dir)
    final = root / f"checkpoint-{state.step}"
    tmp = root / f".tmp-checkpoint-{state.step}"
    if ddp.main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / "scaler.pt")
    ddp.barrier()
    torch.save(_rng_state(), tmp / f"rng-rank{ddp.rank}.pt")  # every process has its own
    ddp.barrier()
    if ddp.main:
        (tmp / "state.json").write_text(json.dumps(asdict(state), indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        checkpoints = sorted(root.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        for old in checkpoints[: max(0, len(checkpoints) - keep)]:
            shutil.rmtree(old, ignore_errors=True)
    ddp.barrier()
    return final


def load_checkpoint(folder: Path, model, optimizer, scheduler, scaler, ddp: Distributed,
                    device: torch.device) -> TrainState:
    """Restore everything :func:`save_checkpoint` wrote; returns the saved state."""
    from safetensors.torch import load_model

    load_model(model, str(folder / "model.safetensors"), device=str(device))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=device))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt"))
    if scaler is not None and (folder / "scaler.pt").is_file():
        scaler.load_state_dict(torch.load(folder / "scaler.pt"))
    rng_file = folder / f"rng-rank{ddp.rank}.pt"
    if not rng_file.is_file():
        raise CourseError(
            f"{rng_file} is missing: the checkpoint was written by a run with fewer processes. "
            "Resume with the same number of processes, or set resume=False."
        )
    _set_rng_state(torch.load(rng_file))
    return TrainState(**json.loads((folder / "state.json").read_text()))


class BestWeights:
    """The best weights so far: on disk in ``output_dir/best/`` when there is one, else in memory."""

    def __init__(self, output_dir: str | None, ddp: Distributed):
        self.path = Path(output_dir) / "best" / "model.safetensors" if output_dir else None
        self.ddp = ddp
        self.memory: dict[str, torch.Tensor] | None = None

    def save(self, model) -> None:
        """Keep a copy of ``model``'s current weights."""
        if self.path is None:
            self.memory = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            return
        from safetensors.torch import save_model

        if self.ddp.main:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            save_model(model, str(self.path) + ".tmp")
            os.replace(str(self.path) + ".tmp", self.path)
        self.ddp.barrier()

    def restore(self, model, device: torch.device) -> bool:
        """Load the kept weights into ``model``; False when there are none."""
        if self.path is None:
            if self.memory is None:
                return False
            model.load_state_dict(self.memory)
            return True
        from safetensors.torch import load_model

        self.ddp.barrier()
        if not self.path.is_file():
            return False
        load_model(model, str(self.path), device=str(device))
        return True


# --------------------------------------------------------------------------- fit


def _plan_steps(batches_per_epoch: int, config: TrainConfig) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps)."""
    if config.grad_accum < 1 or config.batch_size < 1:
        raise CourseError("batch_size and grad_accum must be at least 1.")
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total = config.max_steps if config.max_steps is not None else math.ceil(config.epochs * steps_per_epoch)
    if total < 1:
        raise CourseError(f"The run has {total} optimizer steps; raise epochs or max_steps.")
    return steps_per_epoch, total


def _check_sampler(batches, ddp: Distributed) -> None:
    if not hasattr(batches, "set_epoch") or not hasattr(batches, "__len__"):
        raise CourseError(
            f"sampler must be a batch sampler with set_epoch() and len(), got {type(batches).__name__}; "
            "use course.text.LengthBucketSampler."
        )
    replicas = getattr(batches, "num_replicas", 1)
    if replicas != ddp.world:
        raise CourseError(
            f"The sampler splits batches for {replicas} process(es) but this run has {ddp.world}. "
            "Create the sampler inside the script that torchrun starts (it reads WORLD_SIZE and RANK)."
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
        train_dataset: a map-style dataset; ``collate_fn`` turns a list of items into a batch dict.
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
    ddp, device = setup_distributed(config.device)
    course_config.seed_everything(config.seed)
    precision = resolve_precision(config.precision, device)
    amp_dtype = _autocast_dtype(precision)
    model.to(device)
    model.train()

    batches = sampler or LengthBucketSampler.random(len(train_dataset), config.batch_size, seed=config.seed)
    _check_sampler(batches, ddp)
    steps_per_epoch, total_steps = _plan_steps(len(batches), config)
    optimizer = make_optimizer(model, config.lr, config.weight_decay, fused=device.type in ("cuda", "cpu"),
                               head_lr=config.head_lr, head_prefixes=config.head_prefixes)
    scheduler = linear_warmup_schedule(optimizer, round(config.warmup_ratio * total_steps), total_steps)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    best = BestWeights(config.output_dir, ddp)

    state = TrainState()
    checkpoint = latest_checkpoint(config.output_dir) if config.output_dir and config.resume else None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler, scaler, ddp, device)
    elif config.output_dir and ddp.main:
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)

    wrapped = model
    if ddp.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    if config.progress and ddp.main:
        resumed = f", resumed from {checkpoint.name}" if checkpoint else ""
        print(f"Training on {device} in {precision}, {ddp.world} process(es): {total_steps} steps "
              f"of {getattr(batches, 'batch_size', config.batch_size)} x {config.grad_accum} x "
              f"{ddp.world} examples{resumed}.")
    bar = tqdm(total=total_steps, initial=state.step, desc="train", unit="step",
               disable=not (config.progress and ddp.main))
    samples = tokens = window_steps = 0
    window_loss = torch.zeros((), device=device)
    train_seconds = 0.0
    started = time.perf_counter()

    def log_due(epoch_done: bool) -> bool:
        """A history row every ``log_every`` steps, and at every evaluation or checkpoint."""
        return (state.step % config.log_every == 0 or state.step >= total_steps or epoch_done
                or bool(config.eval_every and state.step % config.eval_every == 0)
                or bool(config.save_every and state.step % config.save_every == 0))

    def evaluate_and_save(epoch_done: bool) -> None:
        """Evaluate when due (early stopping, best weights); checkpoint when due."""
        nonlocal train_seconds, started
        finished = state.step >= total_steps
        due = (config.eval_every and state.step % config.eval_every == 0) or (
            config.eval_every is None and epoch_done) or finished
        evaluated = False
        if evaluate is not None and due:
            train_seconds += time.perf_counter() - started
            metrics = _run_evaluation(evaluate, model, ddp)
            started = time.perf_counter()
            if config.metric not in metrics:
                raise CourseError(
                    f"evaluate() returned {sorted(metrics)} but config.metric is {config.metric!r}; "
                    "return that metric or change config.metric."
                )
            state.history[-1].update(metrics)
            if _improved(metrics[config.metric], state.best_metric, config.greater_is_better):
                state.best_metric, state.best_step, state.bad_evals = metrics[config.metric], state.step, 0
                best.save(model)
            else:
                state.bad_evals += 1
                state.stopped_early = bool(config.patience and state.bad_evals >= config.patience)
            bar.set_postfix(loss=state.history[-1]["train_loss"], **{config.metric: metrics[config.metric]})
            evaluated = True
        save_due = (config.save_every and state.step % config.save_every == 0) or (
            config.save_every is None and evaluated) or finished or state.stopped_early
        if config.output_dir and save_due:
            save_checkpoint(config.output_dir, model, optimizer, scheduler, scaler, state, ddp,
                            config.keep_checkpoints)

    while state.step < total_steps and not state.stopped_early:
        batches.set_epoch(state.epoch)
        epoch_batches = list(batches)
        loader = torch.utils.data.DataLoader(
            train_dataset,
            batch_sampler=epoch_batches[state.batches_done :],  # skip what a resumed run has seen
            collate_fn=collate_fn,
            num_workers=config.num_workers,
            pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(config.seed + state.epoch),
        )
        n = len(epoch_batches)
        for j, batch in enumerate(loader, start=state.batches_done):
            group_start = j - j % config.grad_accum
            group_size = min(config.grad_accum, n - group_start)
            last_in_group = j + 1 == group_start + group_size
            samples += len(batch["labels"]) if "labels" in batch else len(next(iter(batch.values())))
            if "attention_mask" in batch:
                tokens += int(batch["attention_mask"].sum())  # real tokens, counted on the CPU
            batch = _to_device(batch, device)
            # Under DDP, gradients are averaged over processes only on the group's last batch.
            sync = contextlib.nullcontext() if last_in_group or ddp.world == 1 else wrapped.no_sync()
            with sync:
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = compute_loss(wrapped, batch, loss_fn) / group_size
                (scaler.scale(loss) if scaler is not None else loss).backward()
            window_loss += loss.detach()  # stays on the device: no sync per batch
            if not last_in_group:
                continue

            optimizer_step(model, optimizer, scheduler, scaler, config.max_grad_norm)
            state.step += 1
            state.batches_done = j + 1
            epoch_done = state.batches_done == n
            window_steps += 1
            if epoch_done:
                state.epoch, state.batches_done = state.epoch + 1, 0
            if log_due(epoch_done):
                state.history.append({
                    "step": state.step,
                    "epoch": state.step / steps_per_epoch,
                    "train_loss": ddp.mean(window_loss.item() / window_steps),
                    "lr": scheduler.get_last_lr()[0],
                })
                window_loss.zero_()
                window_steps = 0
                bar.set_postfix(loss=f"{state.history[-1]['train_loss']:.4f}")
            bar.update(1)
            evaluate_and_save(epoch_done)
            if state.step >= total_steps or state.stopped_early:
                break
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # GPU work is asynchronous: wait for it before reading the clock
    train_seconds += time.perf_counter() - started

    if evaluate is not None and best.restore(model, device):
        if config.progress and ddp.main:
            print(f"Restored the best weights: {config.metric}={state.best_metric:.4f} "
                  f"at step {state.best_step}.")
    model.eval()
    return TrainResult(
        history=pd.DataFrame(state.history),
        best_metric=state.best_metric,
        best_step=state.best_step,
        output_dir=config.output_dir,
        steps=state.step,
        stopped_early=state.stopped_early,
        train_seconds=train_seconds,
        samples=samples,
        tokens=tokens,
    )


# ----------------------------------------------------------------------- predict


@torch.no_grad()
def predict(model, dataset, collate_fn: Callable, batch_size: int = 64, progress: bool = True,
            device: str | torch.device | None = None) -> np.ndarray:
    """Class probabilities ``[len(dataset), classes]``, in the dataset's order.

    Examples are batched by length (when the dataset has ``lengths``) so that
    little padding is computed; bf16 autocast is used on a CUDA GPU that has it.
    """
    device = torch.device(device) if device else next(model.parameters()).device
    model.to(device).eval()
    lengths = getattr(dataset, "lengths", None)
    order = np.argsort(lengths, kind="stable") if lengths is not None else np.arange(len(dataset))
    index_batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=index_batches, collate_fn=collate_fn,
                                         generator=torch.Generator())  # leaves the global RNG alone
    amp_dtype = torch.bfloat16 if device.type == "cuda" and course_config.bf16_supported() else None
    probs: np.ndarray | None = None
    for indices, batch in zip(index_batches, tqdm(loader, desc="predict", disable=not progress), strict=True):
        batch.pop("labels", None)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(**_to_device(batch, device)).logits
        chunk = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        if probs is None:
            probs = np.empty((len(dataset), chunk.shape[1]), dtype=np.float32)
        probs[indices] = chunk
    if probs is None:
        raise CourseError("predict() got an empty dataset.")
    return probs


def classification_evaluator(dataset, collate_fn: Callable, batch_size: int = 64) -> Callable:
    """An ``evaluate(model)`` for :func:`fit`: accuracy and macro-F1 on a labelled dataset."""
    from course.metrics import accuracy, macro_f1

    labels = np.asarray(dataset.labels)

    def evaluate(model) -> dict[str, float]:
        probs = predict(model, dataset, collate_fn, batch_size, progress=False)
        predictions = probs.argmax(axis=1)
        return {
            "accuracy": accuracy(labels, predictions),
            "macro_f1": macro_f1(labels, predictions, labels=list(range(probs.shape[1]))),
        }

    return evaluate
