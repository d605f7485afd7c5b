"""Training memory you can predict: weights, gradients, Adam states and activations.

For a model with ``P`` parameters of which ``T`` are trained with AdamW in fp32:

* weights: ``4 P`` bytes;
* gradients: ``4 T`` (only trained parameters get one);
* Adam states: ``8 T`` (two running averages per trained parameter);
* activations: what the forward pass keeps for the backward pass, about
  ``tokens x bytes per token`` (:func:`activation_bytes_per_token`), and it does **not**
  shrink with LoRA: the backward pass still runs through every layer.

:func:`training_memory_estimate` adds them up; :func:`saved_activation_bytes` counts the
tensors autograd really saves; :func:`measure_training_peak` trains a few steps in a child
process and reports its peak resident memory (RSS) above the runtime's own, to check the
estimate against. ``python -m course.deploy.memory --method lora`` is that child.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
from collections.abc import Sequence

import torch

from course.errors import CourseArgumentError, CourseError

__all__ = [
    "ADAM_STATES",
    "activation_bytes_per_token",
    "main",
    "measure_training_peak",
    "optimizer_state_bytes",
    "parameter_counts",
    "peak_rss_bytes",
    "rss_bytes",
    "saved_activation_bytes",
    "training_memory_estimate",
]

ADAM_STATES = 2  # exp_avg and exp_avg_sq


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """``{"total": P, "trainable": T}``; tensors shared between modules count once."""
    seen, total, trainable = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return {"total": total, "trainable": trainable}


def activation_bytes_per_token(
    config,
    seq_len: int,
    frozen_weights: bool = False,
    lora_modules: int = 0,
    bytes_per_value: int = 4,
) -> float:
    """Bytes autograd keeps per token to run the backward pass through a BERT encoder.

    Per layer and token, counted on the modules of a BERT layer (after Korthikanti et al.,
    2022):

    * about ``18 h`` values when every weight trains: the layer input, Q, K and V, the
      attention output before and after its reshape, two LayerNorm inputs and outputs,
      the ``4 h``-wide FFN activation before and after GELU, and 1-byte dropout masks;
    * about ``12 h`` when the linear weights are frozen (LoRA, a frozen encoder): a frozen
      ``y = x W`` needs only ``W`` for the backward pass, not ``x``, so the inputs of the
      frozen projections (the ``4 h`` GELU output among them) are not kept;
    * each LoRA-adapted projection adds its dropped-out input: ``h`` values and an
      ``h``-byte mask;
    * the attention probabilities: ``a s`` scores, probabilities and dropped
      probabilities, and an ``a s``-byte dropout mask (``a`` heads, ``s`` tokens per sequence).

    Args:
        config: a BERT config (``hidden_size``, ``num_attention_heads``, ``num_hidden_layers``).
        seq_len: tokens per sequence (padding included).
        frozen_weights: the linear weights of the layers are frozen (LoRA or a frozen encoder).
        lora_modules: LoRA-adapted projections per layer.
        bytes_per_value: 4 in fp32, 2 for 16-bit activations.
    """
    if seq_len < 1:
        raise CourseArgumentError(f"seq_len must be >= 1, got {seq_len}.")
    h, a = config.hidden_size, config.num_attention_heads
    per_layer = (12 if frozen_weights else 18) * h * bytes_per_value
    per_layer += lora_modules * h * (bytes_per_value + 1)
    per_layer += a * seq_len * (3 * bytes_per_value + 1)
    embeddings = 2 * h * bytes_per_value + h  # the embedding sum, LayerNorm, dropout mask
    return float(config.num_hidden_layers * per_layer + embeddings)


def training_memory_estimate(
    total_params: int,
    trainable_params: int,
    tokens: int,
    activation_per_token: float,
    bytes_per_param: int = 4,
) -> dict[str, float]:
    """Bytes of a training step with AdamW: weights, gradients, Adam states, activations, total."""
    if trainable_params > total_params or min(total_params, trainable_params, tokens) < 0:
        raise CourseArgumentError("Need 0 <= trainable_params <= total_params and tokens >= 0.")
    parts = {
        "weights": float(bytes_per_param * total_params),
        "gradients": float(bytes_per_param * trainable_params),
        "adam_states": float(ADAM_STATES * bytes_per_param * trainable_params),
        "activations": float(tokens * activation_per_token),
    }
    parts["total"] = sum(parts.values())
    return parts


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held by the optimizer's state tensors (after at least one step)."""
    return sum(
        t.numel() * t.element_size()
        for state in optimizer.state.values()
        for t in state.values()
        if torch.is_tensor(t)
    )


def saved_activation_bytes(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Bytes of the tensors autograd saves for backward in one forward pass of ``model(**batch)``.

    Each storage counts once, and the model's own parameters (which the backward pass also
    reads) are not activations, so they are left out.
    """
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(**batch).loss
    del loss
    return sum(n for ptr, n in storages.items() if ptr not in params)


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``; max RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize()
    except OSError:  # pragma: no cover - not Linux
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The largest resident memory this process has had (Linux: ``VmHWM`` of ``/proc``).

    Not ``ru_maxrss`` on Linux: after ``exec`` it still counts the parent's memory at the
    time of the fork, so a child started from a large Jupyter kernel would report the kernel.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


# ------------------------------------------------------------- the child run


def _child(args) -> dict:
    """Train ``args.steps`` steps of one method on random tokens; report memory facts.

    The model is built from its config with random weights: memory does not depend on the
    values, and loading a checkpoint leaves the loader's temporary copies in RSS.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from course import models, train
    from course.deploy.peft_tuning import add_lora

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    resolved = models.resolve_model(args.model, quiet=True)
    config = AutoConfig.from_pretrained(resolved.path, num_labels=3)
    if resolved.source == "tiny":
        config.update(resolved.tiny_config)
    # a throwaway miniature imports every module the run needs before the baseline is read
    small = copy.deepcopy(config)
    small.update(
        {
            "hidden_size": 16,
            "num_attention_heads": 2,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "vocab_size": 100,
        }
    )
    warm = add_lora(AutoModelForSequenceClassification.from_config(small), r=args.rank)
    train.train_step(
        warm,
        {
            "input_ids": torch.ones(1, 4, dtype=torch.long),
            "labels": torch.zeros(1, dtype=torch.long),
        },
        train.make_optimizer(warm, 1e-4, 0.01, fused=True),
    )
    del warm
    baseline = rss_bytes()
    model = AutoModelForSequenceClassification.from_config(config)
    if args.method == "lora":
        model = add_lora(model, r=args.rank)
    counts = parameter_counts(model)
    after_model = rss_bytes()
    batch = {
        "input_ids": torch.randint(1000, 20000, (args.batch, args.length)),
        "attention_mask": torch.ones(args.batch, args.length, dtype=torch.long),
        "labels": torch.randint(0, 3, (args.batch,)),
    }
    optimizer = train.make_optimizer(model, 1e-4, 0.01, fused=True)
    for _ in range(args.steps):
        train.train_step(model, batch, optimizer, max_grad_norm=1.0)
    return {
        "method": args.method,
        "baseline_rss": baseline,
        "after_model_rss": after_model,
        "peak_rss": peak_rss_bytes(),
        "optimizer_state": optimizer_state_bytes(optimizer),
        "tokens": args.batch * args.length,
        **counts,
    }


def measure_training_peak(
    method: str = "full",
    model: str = "minilm",
    batch: int = 32,
    length: int = 64,
    steps: int = 2,
    rank: int = 8,
    threads: int = 2,
    timeout: float = 300,
) -> dict:
    """Peak RSS of ``steps`` fp32 training steps in a fresh child process.

    Returns the child's report: ``baseline_rss`` (after imports, before the model),
    ``after_model_rss``, ``peak_rss``, ``optimizer_state`` bytes, parameter counts and
    ``tokens`` per step; ``training_peak`` is ``peak_rss - baseline_rss``, the memory the
    training itself needed.
    """
    if method not in ("full", "lora"):
        raise CourseArgumentError(f"method must be 'full' or 'lora', got {method!r}.")
    command = [
        sys.executable,
        "-m",
        "course.deploy.memory",
        "--method",
        method,
        "--model",
        model,
        "--batch",
        str(batch),
        "--length",
        str(length),
        "--steps",
        str(steps),
        "--rank",
        str(rank),
        "--threads",
        str(threads),
    ]
    # glibc keeps freed blocks below a moving size threshold for reuse, so RSS would also
    # count memory already freed; a fixed threshold returns every large tensor on free.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise CourseError(f"The memory run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["training_peak"] = report["peak_rss"] - report["baseline_rss"]
    return report


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the child process (prints one JSON line)."""
    parser = argparse.ArgumentParser(description="One training-memory measurement.")
    parser.add_argument("--method", choices=["full", "lora"], default="full")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    print(json.dumps(_child(parser.parse_args(argv))))


if __name__ == "__main__":  # pragma: no cover - run by measure_training_peak
    main()
