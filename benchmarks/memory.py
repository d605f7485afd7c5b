"""Training memory: the estimate of ``course.deploy.memory`` against the measured peak.

For full fine-tuning and LoRA, a fresh child process trains a few fp32 steps of
``--batch x --length`` tokens and reports its peak resident memory (``VmHWM``) above the
runtime's own; the estimate is weights + gradients + Adam states + activations
(``course.deploy.memory.training_memory_estimate``), with the activations per token from
``activation_bytes_per_token`` and, as a check, from autograd's saved tensors.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/memory.py --batch 32 --length 64
"""

from __future__ import annotations

import argparse

import pandas as pd


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoConfig

    from course import models
    from course.deploy import memory
    from course.deploy.peft_tuning import add_lora

    resolved = models.resolve_model(args.model, quiet=True)
    config = AutoConfig.from_pretrained(resolved.path)
    rows = {}
    for method in ("full", "lora"):
        report = memory.measure_training_peak(
            method,
            model=args.model,
            batch=args.batch,
            length=args.length,
            steps=args.steps,
            rank=args.rank,
            threads=args.threads,
        )
        lora = method == "lora"
        per_token = memory.activation_bytes_per_token(
            config, args.length, frozen_weights=lora, lora_modules=2 if lora else 0
        )
        model = models.load_classifier(resolved, ["a", "b", "c"])
        model = add_lora(model, r=args.rank) if lora else model
        probe = {
            "input_ids": torch.randint(1000, 20000, (2, args.length)),
            "attention_mask": torch.ones(2, args.length, dtype=torch.long),
            "labels": torch.tensor([0, 1]),
        }
        autograd = memory.saved_activation_bytes(model, probe) / (2 * args.length)
        estimate = memory.training_memory_estimate(
            report["total"], report["trainable"], report["tokens"], per_token
        )
        rows[method] = {
            **{k: v / 2**20 for k, v in estimate.items()},
            "measured_MB": report["training_peak"] / 2**20,
            "estimate/measured": estimate["total"] / report["training_peak"],
            "act B/token formula": per_token,
            "act B/token autograd": autograd,
            "optimizer_state_MB": report["optimizer_state"] / 2**20,
        }
    print(
        f"{args.model}, batch {args.batch} x {args.length} tokens, {args.steps} fp32 steps, "
        f"{args.threads} thread(s); sizes in MB"
    )
    print(pd.DataFrame(rows).T.round(3).to_string())


if __name__ == "__main__":
    main()
