"""CPU and wall seconds per training step of lesson 08's sequence models, per torch thread count.

A CPU-time budget (``course.recsys.sequential.fit_within_budget``) counts every thread's
time, so the thread count decides how many steps a budget buys and how long it takes. This
times ``sequential.step_seconds`` at the lesson's `cpu` sizes (hidden 64, 30 items, batch 64,
lr 3e-3) on Online Retail when ``COURSE_DATA_DIR`` has it, else mini-shop.

Usage (on a quiet machine: about a minute)::

    COURSE_DATA_DIR=... HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/sequence_threads.py \\
        --threads 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from course import recsys  # noqa: E402
from course.recsys import sequential  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="online_retail")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=21)
    args = parser.parse_args(argv)
    raw, item_text, used = recsys.load_sequences(args.data, seed=42, shop_users=3000,
                                                 shop_products=1200)
    ids = recsys.build_id_maps(raw, items=list(item_text))
    splits = recsys.leave_last_out_splits(ids.encode(raw), ids.num_items, 0.05, 42)
    windows = sequential.SequenceWindows(splits.train, 30)
    config = sequential.SequenceConfig(max_len=30, hidden=64, mask_prob=0.2)
    print(f"{used}: {len(windows):,} training windows, {ids.num_items:,} items")
    for kind in sequential.KINDS:
        for threads in args.threads:
            model = sequential.SequenceModel(ids.num_items, config, kind, seed=42)
            collate = (sequential.ClozeCollator(ids.num_items, 30, 0.2, seed=42)
                       if kind == "bert4rec" else sequential.NextItemCollator(30))
            torch.set_num_threads(threads)
            started = time.perf_counter()
            cpu = sequential.step_seconds(model, windows, collate, 64, lr=3e-3,
                                          steps=args.steps, precision="fp32")
            wall = (time.perf_counter() - started) / args.steps
            print(f"{kind:8s} threads={threads}: {cpu:.4f} CPU s per step, "
                  f"about {wall:.4f} wall s per step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
