"""Lesson 03's training recipes, compared on the validation split, and recorded for the lesson.

The ``cpu`` profile cannot train five recipes inside its eight-minute budget, so it reads
this comparison (``COMPARE = "recorded"``). This script produces it by running the lesson
itself with ``COMPARE = "live"``: the same data, batches, steps and code as the lesson, and
nothing but the validation split decides. The lesson then goes on as usual (it trains the
chosen recipe and reads the test split once), so the executed notebook also holds the
lesson's own metrics.

Usage (the cpu profile: five recipes of 110 steps, then the lesson; about 20 minutes of 2 quiet
cores)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/lesson03_choices.py --profile cpu

It writes ``benchmarks/results/lesson03-choices-<profile>.json`` (the file the lesson reads)
and the executed notebook under ``build/lesson03-choices/``.

``--recorded`` runs the lesson as a learner does instead (it reads that file and trains the
recipe chosen there), e.g. with another ``--train-seed`` to measure the seed-to-seed noise of
the test macro-F1; its notebook and model go under ``build/lesson03-seed<N>/``::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/lesson03_choices.py --recorded --train-seed 7
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.authoring.runner import run_lesson  # noqa: E402
from course.relevance import load_comparison  # noqa: E402

LESSON = "03-relevance-finetuning"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("smoke", "cpu", "full"), default="cpu")
    parser.add_argument("--seed", type=int, default=42, help="the lesson's SEED (the data)")
    parser.add_argument("--train-seed", type=int, default=None, help="TRAIN_SEED (default: --seed)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the comparison")
    parser.add_argument("--recorded", action="store_true",
                        help="apply the recorded comparison instead of measuring it")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "benchmarks" / "results" / f"lesson03-choices-{args.profile}.json"
    train_seed = args.seed if args.train_seed is None else args.train_seed
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.recorded:
        build = ROOT / "build" / f"lesson03-seed{train_seed}"
        parameters = {"COMPARE": "recorded", "COMPARISON_FILE": str(out),
                      "OUTPUT_DIR": str(build / "model")}
    else:
        build = ROOT / "build" / "lesson03-choices"
        parameters = {"COMPARE": "live", "SAVE_COMPARISON": str(out)}
    started, cpu_before = time.perf_counter(), _cpu_seconds()
    run = run_lesson(LESSON, profile=args.profile, out_dir=build,
                     parameters={**parameters, "SEED": args.seed, "TRAIN_SEED": train_seed})
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    print(f"lesson {LESSON} ({args.profile}, {parameters['COMPARE']} comparison, seed {args.seed}, "
          f"train seed {train_seed}): {wall:.0f} s wall, {cpu:.0f} s CPU (this process and its "
          f"kernel), load average {os.getloadavg()[0]:.1f}")
    if run.error:
        print(f"FAILED: {run.error} (see {run.output})", file=sys.stderr)
        return 1
    table, meta = load_comparison(out)
    print(f"\ncomparison on {meta['split']} written to {out}:")
    print(table.to_string(index=False))
    keys = ("selected_recipe", "selected_valid_macro_f1", "best_valid_macro_f1", "test_macro_f1")
    print("\nthe lesson then recorded:", {k: run.metrics.get(k) for k in keys})
    return 0


def _cpu_seconds() -> float:
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    raise SystemExit(main())
