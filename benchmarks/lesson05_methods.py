"""Lesson 05's method comparison over several training seeds, recorded for the lesson.

One training seed cannot name a winner at 100 steps: the same LoRA run scored 0.369 or 0.475
on validation depending only on its adapter's initialisation (BENCHMARKS.md, lesson 05). This
script runs the lesson's comparison (every method at every learning rate of its grid) once per
training seed, on the same data, batches and code as the lesson: it executes the lesson's own
``parameters`` and set-up cells, then calls ``peft_tuning.train_method`` as the lesson does,
varying only the seed (the new head's initialisation, the adapters', the batch order and
dropout). Only the validation split is read.

Usage (the cpu profile: 3 seeds x 11 runs of 100 steps; about 15 minutes of 2 quiet cores)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/lesson05_methods.py --profile cpu

It writes ``benchmarks/results/lesson05-methods-<profile>.json``, which the lesson reads
(``SEEDS_FILE``) when its setup matches the one recorded there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LESSON = "05-efficient-deployment"
SETUP_CELLS = ("parameters", "code-005")


def lesson_namespace(profile: str) -> dict:
    """Run the lesson's parameters and set-up cells in ``profile``; return their variables."""
    os.environ["COURSE_PROFILE"] = profile
    notebook = json.loads((ROOT / "solutions" / LESSON / f"{LESSON}.ipynb").read_text())
    cells = {c.get("id"): "".join(c["source"]) for c in notebook["cells"]}
    namespace: dict = {"__name__": "lesson05"}
    for cell in SETUP_CELLS:
        exec(compile(cells[cell], f"{LESSON}:{cell}", "exec"), namespace)  # noqa: S102
    return namespace


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("smoke", "cpu", "full"), default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 1234])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or ROOT / "benchmarks" / "results" / f"lesson05-methods-{args.profile}.json"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started, cpu_before = time.perf_counter(), _cpu_seconds()
    ns = lesson_namespace(args.profile)

    import pandas as pd

    from course import models
    from course.deploy import choice, peft_tuning

    rows = []
    for seed in args.seeds:
        base = models.load_classifier(ns["resolved"], ns["LABELS"], seed=seed)
        for method, grid in ns["LR_GRID"].items():
            for lr in grid:
                run = peft_tuning.train_method(
                    method, base, ns["train_ds"], ns["valid_ds"], ns["collator"],
                    steps=ns["STEPS"], lr=lr, batch_size=ns["BATCH_SIZE"],
                    folder=ns["out"] / f"{method}-{lr:g}-{seed}", class_weights=ns["class_weights"],
                    head_lr=ns["HEAD_LR"], lora_r=ns["LORA_RANK"], seed=seed)
                rows.append({"method": method, "lr": lr, "seed": seed,
                             "valid_macro_f1": run.valid_macro_f1, "trainable": run.trainable})
                print(f"seed {seed} {method:8s} lr={lr:<7g} "
                      f"valid macro-F1 {run.valid_macro_f1:.3f}",
                      flush=True)
    table = pd.DataFrame(rows)
    trainable = table.groupby("method", sort=False)["trainable"].first()
    setup = choice.comparison_setup(ns) | {"trainable": {m: int(n) for m, n in trainable.items()}}
    choice.save_seed_runs(out, table, setup)
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    spread = choice.seed_spread(table)
    print(spread.round(3).to_string())
    print(choice.choose_within_noise(spread, setup["trainable"]))
    print(f"\n{len(rows)} runs ({args.profile}, seeds {args.seeds}): {wall:.0f} s wall, "
          f"{cpu:.0f} s "
          f"CPU, load average {os.getloadavg()[0]:.1f}; written to {out.relative_to(ROOT)}")
    return 0


def _cpu_seconds() -> float:
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    raise SystemExit(main())
