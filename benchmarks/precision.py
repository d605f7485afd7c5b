"""bf16 autocast against fp32 on the CPU: step time and validation macro-F1 over the same steps.

Full fine-tuning of the packaged MiniLM on the lesson 03/05 data (2,000-query mini-shop,
class-weighted loss, head LR 2e-3), the same seed, batches and steps in both precisions.
Runs are interleaved (fp32, bf16, fp32, bf16, ...) so that a change in machine load hits
both; each run reports wall seconds and CPU seconds per step (CPU time is less sensitive to
other jobs) and the validation macro-F1 after the last step.

``--ab BATCH LENGTH`` instead times single ``train_step`` calls on random tokens of a fixed
shape, alternating fp32 and bf16 step by step (the finest interleaving), and prints the median
CPU and wall seconds per step.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/precision.py --steps 40 --rounds 2
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/precision.py --ab 32 64 --steps 6
"""

from __future__ import annotations

import argparse
import json
import os
import time


def one_run(precision: str, args, data) -> dict:
    import torch

    from course import models, train

    train_ds, valid_ds, collator, weights = data
    model = models.load_classifier(
        models.resolve_model("minilm", quiet=True), ["E", "P", "I"], seed=args.seed
    )
    config = train.TrainConfig(
        max_steps=args.steps,
        batch_size=args.batch_size,
        lr=1e-4,
        head_lr=2e-3,
        precision=precision,
        seed=args.seed,
        progress=False,
    )
    cpu = time.process_time()
    result = train.fit(
        model, train_ds, config, collate_fn=collator, loss_fn=train.class_weighted_loss(weights)
    )
    cpu = time.process_time() - cpu
    scores = train.classification_evaluator(valid_ds, collator)(model)
    del model
    torch.manual_seed(0)
    return {
        "precision": precision,
        "wall_s_per_step": result.train_seconds / result.steps,
        "cpu_s_per_step": cpu / result.steps,
        "valid_macro_f1": scores["macro_f1"],
        "load": os.getloadavg()[0],
    }


def step_ab(batch_size: int, length: int, steps: int) -> None:
    """Alternate fp32 and bf16 ``train_step`` calls on the same batch; print median times."""
    import copy
    import statistics

    import torch

    from course import models, train

    torch.manual_seed(0)
    base = models.load_classifier(models.resolve_model("minilm", quiet=True), ["a", "b", "c"])
    batch = {
        "input_ids": torch.randint(1000, 20000, (batch_size, length)),
        "attention_mask": torch.ones(batch_size, length, dtype=torch.long),
        "labels": torch.randint(0, 3, (batch_size,)),
    }
    arms = {}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        model = copy.deepcopy(base)
        optimizer = train.make_optimizer(model, 1e-4, 0.01, fused=True)
        train.train_step(model, batch, optimizer, autocast_dtype=dtype)  # warm-up
        arms[name] = (model, optimizer, dtype, [], [])
    for _ in range(steps):
        for model, optimizer, dtype, cpu, wall in arms.values():
            c, w = time.process_time(), time.perf_counter()
            train.train_step(model, batch, optimizer, autocast_dtype=dtype)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
    medians = {name: (statistics.median(a[3]), statistics.median(a[4])) for name, a in arms.items()}
    for name, (cpu, wall) in medians.items():
        print(
            f"batch {batch_size} x {length}: {name} median CPU {cpu:.3f} s/step, "
            f"wall {wall:.3f} s/step"
        )
    print(
        f"fp32/bf16: CPU {medians['fp32'][0] / medians['bf16'][0]:.2f}, wall "
        f"{medians['fp32'][1] / medians['bf16'][1]:.2f} (> 1 means bf16 is faster), "
        f"load {os.getloadavg()[0]:.1f}"
    )


def load_data(args):
    from course import data, models, relevance, text, train

    shop = data.make_minishop(seed=args.seed, n_queries=2000)
    pairs = data.relevance_pairs(shop)
    train_df = relevance.sample_pairs(pairs[pairs.split == "train"], 8000, seed=args.seed)
    valid_df = relevance.sample_queries(
        pairs[pairs.split == "valid"], args.valid_pairs, seed=args.seed
    )
    tokenizer = models.load_tokenizer(models.resolve_model("minilm", quiet=True))

    def encode(frame):
        return text.PairDataset.from_texts(
            tokenizer,
            frame["query"].tolist(),
            frame["product_text"].tolist(),
            frame["label"].tolist(),
            label_names=data.LABELS,
            max_length=64,
        )

    train_ds, valid_ds = encode(train_df), encode(valid_df)
    weights = train.balanced_class_weights(train_ds.labels, 3)
    return train_ds, valid_ds, text.DynamicPaddingCollator(tokenizer), weights


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--valid-pairs", type=int, default=600)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--ab",
        type=int,
        nargs=2,
        metavar=("BATCH", "LENGTH"),
        default=None,
        help="time single train_step calls of this shape instead",
    )
    args = parser.parse_args(argv)
    if args.ab:
        step_ab(*args.ab, args.steps)
        return
    data = load_data(args)
    rows = []
    for round_ in range(1, args.rounds + 1):
        for precision in ("fp32", "bf16"):
            row = {"round": round_, **one_run(precision, args, data)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    for precision in ("fp32", "bf16"):
        mine = [r for r in rows if r["precision"] == precision]
        print(
            f"{precision}: best wall {min(r['wall_s_per_step'] for r in mine):.3f} s/step, "
            f"best CPU {min(r['cpu_s_per_step'] for r in mine):.3f} s/step, valid macro-F1 "
            f"{[round(r['valid_macro_f1'], 4) for r in mine]}"
        )
    fp32 = [r for r in rows if r["precision"] == "fp32"]
    bf16 = [r for r in rows if r["precision"] == "bf16"]
    ratios = [a["cpu_s_per_step"] / b["cpu_s_per_step"] for a, b in zip(fp32, bf16, strict=True)]
    walls = [a["wall_s_per_step"] / b["wall_s_per_step"] for a, b in zip(fp32, bf16, strict=True)]
    print(
        f"fp32/bf16 step time per round: CPU {[round(x, 3) for x in ratios]}, "
        f"wall {[round(x, 3) for x in walls]} (> 1 means bf16 is faster)"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
