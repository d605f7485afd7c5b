"""Lesson 08's sequence models trained far longer than the lesson can afford, for its curves.

The lesson gives BERT4Rec and SASRec a few CPU minutes each at most, which shows where they
start, not where they go (Petrov & Macdonald 2022: BERT4Rec needs far longer than its usual
defaults). This script trains them with the lesson's own code (``course.recsys.sequential``,
lesson 04's splits, the same loss and settings) on a much larger CPU budget, evaluates on
validation along the way, and reads the test split once for the run chosen on validation.
The lesson draws the recorded curves beside its own.

Usage (Online Retail needs ``COURSE_DATA_DIR``; about 2 x budget x learning rates of CPU time)::

    COURSE_DATA_DIR=... HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/lesson08_sequences.py \\
        --data online_retail --budget 900 --lrs 5e-3

It writes ``benchmarks/results/lesson08-sequences-<data>.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course import recsys, train  # noqa: E402
from course.recsys import sequential  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("mini-shop", "online_retail"), default="online_retail")
    parser.add_argument("--budget", type=float, default=900, help="CPU seconds per run")
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-3])
    parser.add_argument("--kinds", nargs="+", default=list(sequential.KINDS))
    parser.add_argument("--max-len", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--mask-prob", type=float, default=0.2)
    parser.add_argument("--evaluations", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shop-users", type=int, default=3000)
    parser.add_argument("--shop-products", type=int, default=1200)
    parser.add_argument("--cold-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or ROOT / "benchmarks" / "results" / f"lesson08-sequences-{args.data}.json"
    raw, item_text, used = recsys.load_sequences(args.data, seed=args.seed,
                                                 shop_users=args.shop_users,
                                                 shop_products=args.shop_products)
    ids = recsys.build_id_maps(raw, items=list(item_text))
    num_items = ids.num_items
    splits = recsys.leave_last_out_splits(ids.encode(raw), num_items, args.cold_fraction,
                                          args.seed)
    windows = sequential.SequenceWindows(splits.train, args.max_len)
    evaluate = sequential.make_sequence_evaluate_fn(splits.valid_histories, splits.valid_targets)
    config = sequential.SequenceConfig(max_len=args.max_len, hidden=args.hidden,
                                       mask_prob=args.mask_prob)
    runs, models = [], {}
    for kind in args.kinds:
        for lr in args.lrs:
            model = sequential.SequenceModel(num_items, config, kind, seed=args.seed)
            collate = (sequential.ClozeCollator(num_items, args.max_len, args.mask_prob,
                                                seed=args.seed)
                       if kind == "bert4rec" else sequential.NextItemCollator(args.max_len))
            run_config = train.TrainConfig(batch_size=args.batch, lr=lr, weight_decay=0.0,
                                           warmup_ratio=0.05, metric="ndcg@10", precision="fp32",
                                           seed=args.seed, progress=False)
            start = time.process_time()
            result, per_step = sequential.fit_within_budget(
                model, windows, collate, run_config, args.budget, evaluate=evaluate,
                evaluations=args.evaluations)
            curve = result.history.dropna(subset=["ndcg@10"])
            runs.append({"model": kind, "lr": lr, "steps": result.steps,
                         "seconds_per_step": per_step,
                         "cpu_seconds": round(time.process_time() - start, 1),
                         "best_valid_ndcg10": result.best_metric, "best_step": result.best_step,
                         "curve": [{"step": int(r.step), "cpu_seconds": r.step * per_step,
                                    "ndcg@10": float(r["ndcg@10"]),
                                    "recall@10": float(r["recall@10"])}
                                   for _, r in curve.iterrows()]})
            models[(kind, lr)] = model
            print(f"{kind} lr {lr:g}: {result.steps} steps, best valid NDCG@10 "
                  f"{result.best_metric:.4f} at step {result.best_step}", flush=True)
    chosen = {}
    for kind in args.kinds:
        best = max((r for r in runs if r["model"] == kind), key=lambda r: r["best_valid_ndcg10"])
        chosen[kind] = best["lr"]
    test = recsys.evaluate_models(
        {"popularity": recsys.PopularityRecommender().fit(splits.train_plus_valid, num_items),
         **{kind: sequential.SequenceRecommender(models[(kind, lr)])
            for kind, lr in chosen.items()}},
        splits.test_histories, splits.test_targets, k=10)
    payload = {
        "split": "valid", "data": used, "command": "benchmarks/lesson08_sequences.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "setup": {k: v for k, v in vars(args).items() if k != "out"},
        "chosen_on_valid": chosen, "runs": runs,
        "test_once": {name: {k: float(v) for k, v in row.items()} for name, row in test.items()},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
