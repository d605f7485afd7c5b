"""Lesson 03's constants and training recipe, chosen on the validation split over three seeds.

The ``cpu`` profile cannot train dozens of runs inside its four minutes, so it reads the
comparison this script records (``COMPARE = "recorded"``), and so does ``smoke``. The study
uses the lesson's own data, splits, tokenizer, batches and engine (``course.relevance``,
``course.text``, ``course.train``), and only the validation split scores a run: the test
split is sampled (so that the other splits are the lesson's) but never encoded or read.

It answers three questions in turn, each over three training seeds (the head's initial
weights, the batch order and dropout), and each candidate list ordered simplest (or most
conservative) first. Each stage takes the candidate with the best mean validation macro-F1
over the seeds, unless a simpler one is within the noise of it
(``course.relevance.select_by_mean``: the seeds' typical standard deviation, at least 0.01):

1. ``recipe``: the five recipes (plain or class-weighted loss; one learning rate, a head
   learning rate on the classifier, or on the classifier and the pooler), at the learning
   rates the course started from (LR 1e-4, head LR 2e-3);
2. ``lr``: the encoder's learning rate for the chosen recipe, smallest first;
3. ``head_lr``: the head's learning rate for the chosen recipe and LR, smallest first
   (skipped if the recipe has no head learning rate).

Each run trains ``COMPARE_STEPS`` (60) steps: a short budget, so that 27 runs fit about an
hour of two cores. It ranks recipes by how fast they learn, which is not the final score.
One round of this coordinate search, not a full grid. The number of steps of the lesson's run
is its time budget (about 220 steps in four minutes); within it, the lesson's own run picks
the stopping step on validation (it evaluates every 110 steps and keeps the best).

Usage (27 runs of 60 steps: about half an hour on two quiet cores; ``--workers 2`` in two
shells, ``--worker 0`` and ``--worker 1``, shares the runs between two processes)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/lesson03_choices.py --profile cpu

It writes ``benchmarks/results/lesson03-choices-cpu.json`` (what the lesson reads; each
run's validation score and curve). Runs done are kept in ``build/lesson03-study/`` and an
interrupted study resumes from there.

``--recorded`` runs the lesson as a learner does instead (it trains the recorded choice and
reads the test split once), e.g. with another ``--train-seed``; its notebook and model go
under ``build/lesson03-seed<N>/``::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/lesson03_choices.py --recorded --train-seed 7
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

from course import data, models, relevance, text, train  # noqa: E402
from course.authoring.runner import run_lesson  # noqa: E402

LESSON = "03-relevance-finetuning"
SEEDS = (42, 7, 13)
PRIOR_LR, PRIOR_HEAD_LR = 1e-4, 2e-3  # where the course started; stages 2 and 3 re-measure them
LR_CANDIDATES = (5e-5, 1e-4, 2e-4)
HEAD_LR_CANDIDATES = (5e-4, 2e-3, 5e-3)
COMPARE_STEPS = 60
# The cpu profile's settings (solutions/03-relevance-finetuning, parameters cell); the
# lesson prints any difference between these and its own.
PROFILES = {
    "cpu": dict(shop_queries=2000, max_train=8000, max_valid=600, max_test=3600, max_length=64,
                batch_size=32),
    "smoke": dict(shop_queries=500, max_train=1600, max_valid=150, max_test=600, max_length=32,
                  batch_size=16),
}


class Study:
    """The lesson's data and model, and a cache of finished runs (one JSON file each)."""

    def __init__(self, profile: str, seed: int, cache: Path, worker: int = 0,
                 workers: int = 1) -> None:
        self.settings = PROFILES[profile]
        self.worker, self.workers = worker, workers
        self.seed = seed
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        s = self.settings
        pairs, self.data_used = relevance.load_relevance_pairs(
            "mini-shop", seed=seed, shop_queries=s["shop_queries"])
        splits = relevance.lesson_splits(pairs, s["max_train"], s["max_valid"], s["max_test"],
                                         seed=seed)
        self.resolved = models.resolve_model(models.default_model_name(profile))
        tokenizer = models.load_tokenizer(self.resolved)

        def encode(frame):
            return text.PairDataset.from_texts(
                tokenizer, frame["query"].tolist(), frame["product_text"].tolist(),
                frame["label"].tolist(), label_names=data.LABELS, max_length=s["max_length"])

        self.train_ds, self.valid_ds = encode(splits["train"]), encode(splits["valid"])
        self.n_train, self.n_valid = len(splits["train"]), len(splits["valid"])
        self.collator = text.DynamicPaddingCollator(tokenizer)
        self.evaluate = train.classification_evaluator(self.valid_ds, self.collator, batch_size=64)
        self.class_weights = train.balanced_class_weights(self.train_ds.labels, len(data.LABELS))

    def setup(self) -> dict:
        """What the lesson compares with its own settings."""
        s = self.settings
        return dict(model=self.resolved.name, data=self.data_used, shop_queries=s["shop_queries"],
                    n_train=self.n_train, n_valid=self.n_valid, max_length=s["max_length"],
                    batch_size=s["batch_size"], steps=COMPARE_STEPS, seed=self.seed,
                    train_seeds=list(SEEDS), precision=self._precision())

    def _precision(self) -> str:
        return train.resolve_precision("auto", models_device())

    def run(self, stage: str, name: str, recipe: relevance.Choice, lr: float,
            head_lr: float | None, steps: int, seed: int, mine: bool = True) -> dict:
        """One training run, scored on validation; cached on disk by its settings.

        A run that is not ``mine`` is another worker's: wait for its file.
        """
        head_lr = head_lr if recipe.head else None
        run = relevance.run_name(recipe.name, seed).replace("/", "-")
        key = f"{run}-lr{lr:g}-head{head_lr}-steps{steps}"
        path = self.cache / f"{key}.json"
        while not mine and not path.is_file():
            time.sleep(10)
        if path.is_file():
            done = json.loads(path.read_text())
        else:
            s = self.settings
            config = train.TrainConfig(
                epochs=1, max_steps=steps, eval_every=steps, batch_size=s["batch_size"],
                lr=lr, warmup_ratio=0.1, weight_decay=0.01, metric="macro_f1", patience=None,
                seed=seed, progress=False, log_every=5)
            config = recipe.config(config, head_lr)
            model = models.load_classifier(self.resolved, data.LABELS, seed=seed)
            started = time.perf_counter()
            result = train.fit(model, self.train_ds, config, collate_fn=self.collator,
                               loss_fn=recipe.loss_fn(self.class_weights), evaluate=self.evaluate,
                               sampler=text.LengthBucketSampler(self.train_ds.lengths,
                                                                s["batch_size"], seed=seed))
            curve = result.history[[c for c in ("step", "train_loss", "lr", "macro_f1", "accuracy")
                                    if c in result.history]]
            done = {"weighted_loss": recipe.weighted_loss, "head": " + ".join(recipe.head) or "-",
                    "lr": lr, "head_lr": head_lr, "train_seed": seed,
                    **relevance.best_evaluation(result),
                    "curve": json.loads(curve.round(5).to_json(orient="records"))}
            partial = path.with_suffix(".part")
            partial.write_text(json.dumps(done) + "\n")
            partial.rename(path)  # another worker never reads half a file
            print(f"  {name} seed {seed}: valid macro-F1 {done['valid_macro_f1']:.3f} "
                  f"(step {done['best_step']}), {time.perf_counter() - started:.0f} s, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        return {"stage": stage, "choice": name, **done}

    def stage(self, stage: str, candidates: list[tuple]):
        """Every candidate ``(name, recipe, lr, head_lr, steps)`` with every seed; the rows, and
        the choice made on their means."""
        print(f"stage {stage}: {len(candidates)} candidates x {len(SEEDS)} seeds", flush=True)
        runs = [(c, seed) for c in candidates for seed in SEEDS]
        for i, (c, seed) in enumerate(runs):  # this worker's runs first, then the others'
            if i % self.workers == self.worker:
                self.run(stage, *c, seed)
        rows = [self.run(stage, *c, seed, mine=False) for c, seed in runs]
        table = _table(rows)
        selection = relevance.select_by_mean(table)
        print(relevance.seed_summary(table).round(3).to_string())
        print(f"  -> {selection.sentence()}", flush=True)
        return rows, selection


def models_device():
    import torch

    from course import config

    return torch.device(config.device())


def _table(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame([{k: v for k, v in r.items() if k != "curve"} for r in rows])


def study(profile: str, seed: int, out: Path, worker: int = 0, workers: int = 1,
          stop_after: str = "head_lr") -> int:
    """Run the stages (up to ``stop_after``) and write what the lesson reads (worker 0 does)."""
    s = Study(profile, seed, ROOT / "build" / f"lesson03-study-{profile}", worker, workers)
    rows, selections = [], {}

    recipe_rows, pick = s.stage("recipe", [(r.name, r, PRIOR_LR, PRIOR_HEAD_LR, COMPARE_STEPS)
                                           for r in relevance.CANDIDATES])
    recipe = next(r for r in relevance.CANDIDATES if r.name == pick.choice)
    rows, selections["recipe"] = rows + recipe_rows, pick
    chosen: dict = {"recipe": recipe.name}
    if stop_after == "recipe":
        return _write(out, s, rows, selections, chosen, worker, profile, seed)

    names = [f"LR {v:g}" for v in LR_CANDIDATES]
    lr_rows, pick = s.stage("lr", [(n, recipe, v, PRIOR_HEAD_LR, COMPARE_STEPS)
                                   for n, v in zip(names, LR_CANDIDATES, strict=True)])
    lr = LR_CANDIDATES[names.index(pick.choice)]
    rows, selections["lr"] = rows + lr_rows, pick
    chosen["lr"] = lr
    if stop_after == "lr":
        return _write(out, s, rows, selections, chosen, worker, profile, seed)

    head_lr = None
    if recipe.head:
        names = [f"head LR {v:g}" for v in HEAD_LR_CANDIDATES]
        pairs = zip(names, HEAD_LR_CANDIDATES, strict=True)
        head_rows, pick = s.stage("head_lr", [(n, recipe, lr, v, COMPARE_STEPS) for n, v in pairs])
        head_lr = HEAD_LR_CANDIDATES[names.index(pick.choice)]
        rows, selections["head_lr"] = rows + head_rows, pick

    chosen["head_lr"] = head_lr
    return _write(out, s, rows, selections, chosen, worker, profile, seed)


def _write(out: Path, s: Study, rows: list[dict], selections: dict, chosen: dict, worker: int,
           profile: str, seed: int) -> int:
    """Worker 0 writes the stages done so far, with each run's curve."""
    if worker != 0:
        print(f"\nchosen on validation: {chosen} (worker 0 writes the file)")
        return 0
    curves = {f"{r['stage']}/{relevance.run_name(r['choice'], r['train_seed'])}": r["curve"]
              for r in rows}
    relevance.save_comparison(
        out, _table(rows), s.setup(),
        f"benchmarks/lesson03_choices.py --profile {profile} --seed {seed}",
        chosen=chosen, selections={k: _selection_json(v) for k, v in selections.items()},
        curves=curves)
    print(f"\nchosen on validation: {chosen}\nwritten to {out}")
    return 0


def _selection_json(selection: relevance.Selection) -> dict:
    return {"choice": selection.choice, "mean": selection.mean, "best": selection.best,
            "best_mean": selection.best_mean, "noise": selection.noise,
            "tolerance": selection.tolerance, "tied": list(selection.tied)}


def recorded(profile: str, seed: int, train_seed: int, out: Path) -> int:
    """Run the lesson as a learner does, with the recorded choice; report its figures."""
    build = ROOT / "build" / f"lesson03-seed{train_seed}"
    parameters = {"COMPARE": "recorded", "COMPARISON_FILE": str(out),
                  "OUTPUT_DIR": str(build / "model"), "SEED": seed, "TRAIN_SEED": train_seed}
    started, cpu_before = time.perf_counter(), _cpu_seconds()
    run = run_lesson(LESSON, profile=profile, out_dir=build, parameters=parameters)
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    print(f"lesson {LESSON} ({profile}, recorded comparison, seed {seed}, train seed "
          f"{train_seed}): {wall:.0f} s wall, {cpu:.0f} s CPU (this process and its kernel), "
          f"load average {os.getloadavg()[0]:.1f}")
    if run.error:
        print(f"FAILED: {run.error} (see {run.output})", file=sys.stderr)
        return 1
    keys = ("selected_recipe", "best_valid_macro_f1", "test_macro_f1", "synonym_macro_f1", "ndcg10")
    print("the lesson recorded:", {k: run.metrics.get(k) for k in keys})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=tuple(PROFILES), default="cpu")
    parser.add_argument("--seed", type=int, default=42, help="the lesson's SEED (the data)")
    parser.add_argument("--train-seed", type=int, default=None,
                        help="with --recorded: TRAIN_SEED (default: --seed)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the comparison")
    parser.add_argument("--worker", type=int, default=0, help="this process's share of the runs")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the runs")
    parser.add_argument("--stop-after", choices=("recipe", "lr", "head_lr"), default="head_lr",
                        help="write the file after this stage (the later ones stay unmeasured)")
    parser.add_argument("--recorded", action="store_true",
                        help="run the lesson with the recorded comparison instead of measuring it")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "benchmarks" / "results" / f"lesson03-choices-{args.profile}.json"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # no load report per run
    if args.recorded:
        train_seed = args.seed if args.train_seed is None else args.train_seed
        return recorded(args.profile, args.seed, train_seed, out)
    return study(args.profile, args.seed, out, args.worker, args.workers, args.stop_after)


def _cpu_seconds() -> float:
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    raise SystemExit(main())
