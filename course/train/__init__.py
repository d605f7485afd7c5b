"""The training wing: one engine for every lesson that trains a model.

``from course import train`` gives the whole public surface (``train.fit``,
``train.TrainConfig``, ``train.predict``, ...). The modules:

* :mod:`~course.train.engine`: :func:`fit`, :func:`train_step`, the optimizer and schedule;
* :mod:`~course.train.checkpoints`: save and resume a run exactly;
* :mod:`~course.train.distributed`: DDP under ``torchrun`` / ``accelerate launch``;
* :mod:`~course.train.inference`: :func:`predict` and the validation evaluator;
* :mod:`~course.train.precision`: bf16 / fp16 / fp32, chosen for the device;
* :mod:`~course.train.heads`: a head trained on frozen features, with the same engine;
* :mod:`~course.train.pretraining`: domain-adaptive pretraining (lesson 08): masked-word
  batches with transformers' collator, the MLM loss, a head warm-up, then every weight
  (``from course.train import pretraining``);
* :mod:`~course.train.tracking`: each run's curves as TensorBoard files (``log_dir``);
* :mod:`~course.train.hf_trainer`: the Hugging Face ``Trainer`` set up for the same run.
"""

from course.train.checkpoints import (
    BestWeights,
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from course.train.distributed import Distributed, setup_distributed
from course.train.engine import (
    LossFn,
    TrainConfig,
    TrainResult,
    balanced_class_weights,
    class_weighted_loss,
    compute_loss,
    fit,
    linear_warmup_schedule,
    make_optimizer,
    optimizer_step,
    train_step,
    weighted_cross_entropy,
)
from course.train.inference import classification_evaluator, predict, to_device
from course.train.precision import (
    PRECISIONS,
    autocast_dtype,
    cpu_bf16_flags,
    resolve_precision,
)

__all__ = [
    "PRECISIONS",
    "BestWeights",
    "Distributed",
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "autocast_dtype",
    "balanced_class_weights",
    "class_weighted_loss",
    "classification_evaluator",
    "compute_loss",
    "cpu_bf16_flags",
    "fit",
    "latest_checkpoint",
    "linear_warmup_schedule",
    "load_checkpoint",
    "make_optimizer",
    "optimizer_step",
    "predict",
    "resolve_precision",
    "save_checkpoint",
    "setup_distributed",
    "to_device",
    "train_step",
    "weighted_cross_entropy",
]
