"""Lesson 03 glue: the relevance data by profile, choices made on validation, ESCI's task 2.

* :func:`load_relevance_pairs`, :func:`lesson_splits`: the pairs and their train/valid/test
  samples, the same for the lesson and for ``benchmarks/lesson03_choices.py``;
* :class:`Choice`, :func:`compare_on_validation`, :func:`select_on_validation`: train each
  candidate recipe, score it on the validation split only, pick one;
* :func:`save_comparison`, :func:`load_comparison`: a comparison recorded by the benchmark
  script, which the ``cpu`` profile reads instead of spending five training runs;
* :func:`esci_task2_pairs`: ESCI with its own four classes (KDD Cup 2022, task 2);
* lesson 08: :func:`recorded_recipe` (lesson 03's recipe, as its recorded comparison chose it),
  :func:`query_log` (unlabelled searches for pretraining), :func:`finetune_from_starts` (the
  same recipe from several starting weights and seeds) and :func:`paired_gain`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from course import config, data
from course.errors import CourseArgumentError, CourseDataError
from course.metrics import macro_f1

__all__ = [
    "CANDIDATES",
    "CHOICES",
    "ESCI_LABELS",
    "LESSON03_COMPARISON",
    "POOLER",
    "Choice",
    "compare_on_validation",
    "esci_task2_pairs",
    "finetune_from_starts",
    "paired_gain",
    "query_log",
    "recorded_recipe",
    "wands_texts",
    "lesson_splits",
    "load_comparison",
    "load_relevance_pairs",
    "macro_f1_by_family",
    "majority_macro_f1",
    "sample_pairs",
    "sample_queries",
    "save_comparison",
    "select_on_validation",
    "setup_differences",
]

CHOICES = ("mini-shop", "wands", "esci", "auto")
ESCI_LABELS = ["Exact", "Substitute", "Complement", "Irrelevant"]  # KDD Cup 2022 task 2


def load_relevance_pairs(
    choice: str = "mini-shop", seed: int = 42, shop_queries: int = 500
) -> tuple[pd.DataFrame, str]:
    """Labelled (query, product) pairs with a split column, and the name of the data used.

    ``auto`` tries WANDS (it needs ``product.csv``), then ESCI, then falls back to
    mini-shop with a warning that says why. ``shop_queries`` sets how many queries
    the generated mini-shop has (more queries, more variety to train on).
    """
    if choice not in CHOICES:
        raise CourseArgumentError(f"Unknown relevance data {choice!r}; use one of {CHOICES}.")
    if choice == "mini-shop":
        return _minishop_pairs(seed, shop_queries), "mini-shop"
    loaders = {"wands": lambda: data.load_wands(seed=seed),
               "esci": lambda: data.load_esci(seed=seed)}
    tries = ["wands", "esci"] if choice == "auto" else [choice]
    reasons = []
    for name in tries:
        try:
            return data.relevance_pairs(loaders[name]()), name
        except CourseDataError as exc:
            if choice != "auto":
                raise
            reasons.append(f"{name}: {exc}")
    warnings.warn("No real relevance data could be loaded, using mini-shop. "
                  + " | ".join(reasons), stacklevel=2)
    return _minishop_pairs(seed, shop_queries), "mini-shop"


def _minishop_pairs(seed: int, n_queries: int) -> pd.DataFrame:
    return data.relevance_pairs(data.make_minishop(seed=seed, n_queries=n_queries))


def sample_queries(pairs: pd.DataFrame, max_pairs: int | None, seed: int = 42) -> pd.DataFrame:
    """Keep whole queries (every candidate of each) until about ``max_pairs`` pairs; None keeps all.

    Whole queries keep candidate lists intact, which NDCG needs.
    """
    if max_pairs is None or len(pairs) <= max_pairs:
        return pairs.reset_index(drop=True)
    queries = pairs["query_id"].drop_duplicates().sample(frac=1.0, random_state=seed)
    sizes = pairs.groupby("query_id").size().loc[queries]
    keep = sizes.index[sizes.cumsum() <= max(max_pairs, int(sizes.iloc[0]))]
    return pairs[pairs["query_id"].isin(keep)].reset_index(drop=True)


def sample_pairs(pairs: pd.DataFrame, max_pairs: int | None, seed: int = 42) -> pd.DataFrame:
    """A random sample of ``max_pairs`` pairs (for training); None keeps all."""
    if max_pairs is None or len(pairs) <= max_pairs:
        return pairs.reset_index(drop=True)
    return pairs.sample(n=max_pairs, random_state=seed).reset_index(drop=True)


def lesson_splits(pairs: pd.DataFrame, max_train: int | None, max_valid: int | None,
                  max_test: int | None, seed: int = 42) -> dict[str, pd.DataFrame]:
    """The lesson's samples of each split: random training pairs, whole valid/test queries.

    Raises:
        CourseDataError: a query is in two splits, or a split is empty.
    """
    splits = {
        "train": sample_pairs(pairs[pairs["split"] == "train"], max_train, seed=seed),
        "valid": sample_queries(pairs[pairs["split"] == "valid"], max_valid, seed=seed),
        "test": sample_queries(pairs[pairs["split"] == "test"], max_test, seed=seed),
    }
    empty = [name for name, frame in splits.items() if frame.empty]
    if empty:
        raise CourseDataError(f"The split(s) {empty} have no pairs; the data has "
                              f"{pairs['split'].value_counts().to_dict()}.")
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        shared = set(splits[a]["query_id"]) & set(splits[b]["query_id"])
        if shared:
            raise CourseDataError(f"{len(shared)} queries are in both {a} and {b}, "
                                  f"e.g. {sorted(shared)[:3]}: the split leaks.")
    return splits


def macro_f1_by_family(frame: pd.DataFrame, predictions: np.ndarray,
                       labels=data.LABELS) -> pd.Series:
    """Macro-F1 of ``predictions`` (label names or ids) for each query family, plus ``all``."""
    predicted = pd.Series(np.asarray(predictions), index=frame.index)
    if pd.api.types.is_numeric_dtype(predicted):
        predicted = predicted.map(dict(enumerate(labels)))
    scores = {family: macro_f1(group["label"], predicted[group.index], labels=list(labels))
              for family, group in frame.groupby("family")}
    scores["all"] = macro_f1(frame["label"], predicted, labels=list(labels))
    return pd.Series(scores, name="macro_f1")


def majority_macro_f1(train: pd.DataFrame, test: pd.DataFrame, labels=data.LABELS) -> float:
    """Macro-F1 on ``test`` of always predicting the most common training label."""
    majority = train["label"].mode().iloc[0]
    return macro_f1(test["label"], [majority] * len(test), labels=list(labels))


# ------------------------------------------------------------- choices, made on validation


@dataclass(frozen=True)
class Choice:
    """One training recipe: the loss, and which parameters learn at the head's rate.

    ``head`` holds parameter-name prefixes; empty means one learning rate for all.
    """

    name: str
    weighted_loss: bool
    head: tuple[str, ...] = ()

    def config(self, base, head_lr: float | None):
        """``base`` (a ``TrainConfig``) with this choice's head learning rate."""
        if not self.head or head_lr is None:
            return replace(base, head_lr=None)
        return replace(base, head_lr=head_lr, head_prefixes=self.head)

    def loss_fn(self, class_weights):
        """The class-weighted loss, or None for the model's own (plain) cross-entropy."""
        from course import train

        return train.class_weighted_loss(class_weights) if self.weighted_loss else None


POOLER = ("classifier", "bert.pooler")
CANDIDATES = (  # simplest first: select_on_validation prefers earlier rows on a near-tie
    Choice("plain loss, one LR", False),
    Choice("weighted loss, one LR", True),
    Choice("plain loss, head LR", False, ("classifier",)),
    Choice("weighted loss, head LR", True, ("classifier",)),
    Choice("weighted loss, head LR on pooler too", True, POOLER),
)


def compare_on_validation(choices, make_model, train_dataset, base_config, *, head_lr,
                          class_weights, collate_fn, sampler, evaluate) -> pd.DataFrame:
    """Train each choice from the same start and score it with ``evaluate`` (validation only).

    Args:
        choices: :class:`Choice` objects, simplest first.
        make_model: a function returning a fresh model (the same initial weights each time).
        base_config: the ``TrainConfig`` every run shares (steps, batch, learning rate, seed).
        head_lr: the head's learning rate for the choices that have one.
        class_weights: per-class weights for the weighted loss.
        evaluate: ``evaluate(model) -> {"macro_f1": ..., "accuracy": ...}`` on the
            validation split; the test split is never passed here.

    Returns:
        One row per choice: its settings, the best validation macro-F1 and accuracy, and the
        step and seconds it took.
    """
    from course import train

    rows = []
    for choice in choices:
        model = make_model()
        result = train.fit(model, train_dataset, choice.config(base_config, head_lr),
                           collate_fn=collate_fn, loss_fn=choice.loss_fn(class_weights),
                           evaluate=evaluate, sampler=sampler)
        best = result.history.dropna(subset=["macro_f1"])
        best = best[best["step"] == result.best_step].iloc[-1]
        rows.append({
            "choice": choice.name, "weighted_loss": choice.weighted_loss,
            "head_lr": head_lr if choice.head else None, "head": " + ".join(choice.head) or "-",
            "valid_macro_f1": float(best["macro_f1"]), "valid_accuracy": float(best["accuracy"]),
            "best_step": int(best["step"]), "steps": int(result.steps),
            "train_seconds": round(result.train_seconds, 1),
        })
        del model
    return pd.DataFrame(rows)


def select_on_validation(table: pd.DataFrame, metric: str = "valid_macro_f1",
                         tolerance: float = 0.0) -> pd.Series:
    """The first (simplest) row whose ``metric`` is within ``tolerance`` of the best row's.

    A tolerance about the size of the seed-to-seed noise keeps a more complex recipe from
    winning on luck alone.
    """
    if metric not in table.columns or table.empty:
        raise CourseArgumentError(
            f"select_on_validation needs a non-empty table with a {metric!r} column; "
            f"got columns {list(table.columns)} and {len(table)} rows.")
    if not metric.startswith("valid"):
        raise CourseArgumentError(
            f"{metric!r} is not a validation metric: choose on the validation split, "
            "and read the test split once, at the end.")
    best = table[metric].max()
    return table[table[metric] >= best - tolerance].iloc[0]


def save_comparison(path: str | Path, table: pd.DataFrame, setup: dict[str, Any],
                    command: str) -> Path:
    """Write a comparison with the setup that produced it and the command that reruns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"split": "valid", "command": command, "setup": setup,
               "rows": json.loads(table.to_json(orient="records"))}
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def load_comparison(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A recorded comparison: the table and its metadata (split, setup, command).

    Raises:
        CourseDataError: the file is missing, or was not measured on the validation split.
    """
    path = Path(path)
    if not path.is_file():
        raise CourseDataError(f"No recorded comparison at {path}. Rerun it with "
                              "benchmarks/lesson03_choices.py, or set COMPARE='live'.")
    payload = json.loads(path.read_text())
    if payload.get("split") != "valid":
        raise CourseDataError(f"{path} was measured on {payload.get('split')!r}, not on 'valid'; "
                              "choices must be made on the validation split.")
    return pd.DataFrame(payload["rows"]), {k: v for k, v in payload.items() if k != "rows"}


def setup_differences(recorded: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple]:
    """The settings whose values differ: ``{name: (recorded, current)}``."""
    names = sorted(set(recorded) | set(current))
    return {n: (recorded.get(n), current.get(n)) for n in names
            if recorded.get(n) != current.get(n)}


# ------------------------------------------------------------------- ESCI, task 2


def esci_task2_pairs(esci) -> pd.DataFrame:
    """ESCI pairs labelled with ESCI's own classes (``ESCI_LABELS``), not the course's three.

    The split by query is the loader's (the data's own test split where it has one).
    """
    examples, pairs = esci.examples, esci.pairs
    if len(examples) != len(pairs) or not (
            examples["product_id"].to_numpy() == pairs["product_id"].to_numpy()).all():
        raise CourseDataError("ESCI examples and pairs are not row-aligned; reload with "
                              "course.data.load_esci().")
    names = {letter: name for name, letter in data.esci.LETTERS.items()}
    labels = examples["esci_label"].astype(str).str.strip()
    labels = labels.map(lambda v: names.get(v, v))
    unknown = sorted(set(labels) - set(ESCI_LABELS))
    if unknown:
        raise CourseDataError(f"ESCI labels {unknown} are not E, S, C or I.")
    return pairs.assign(label=labels.to_numpy())


# ------------------------------------------------------- lesson 08: the same recipe, other starts

LESSON03_COMPARISON = config.ROOT / "benchmarks" / "results" / "lesson03-choices-cpu.json"


def recorded_recipe(path: str | Path = LESSON03_COMPARISON,
                    tolerance: float = 0.01) -> tuple[Choice, dict[str, Any]]:
    """Lesson 03's recipe: the :class:`Choice` its recorded comparison selects on validation
    (the simplest within ``tolerance`` of the best), and the setup it ran with (learning
    rates, batch size, sequence length, data sizes and seeds)."""
    table, recorded = load_comparison(path)
    selected = select_on_validation(table, "valid_macro_f1", tolerance=tolerance)
    choice = next((c for c in CANDIDATES if c.name == selected["choice"]), None)
    if choice is None:
        raise CourseDataError(f"{path} selects {selected['choice']!r}, which is not one of "
                              f"{[c.name for c in CANDIDATES]}; rerun "
                              "benchmarks/lesson03_choices.py.")
    return choice, dict(recorded["setup"])


def query_log(seed: int, n_queries: int, exclude=()) -> list[str]:
    """Unlabelled searches: the queries of another draw of mini-shop's shoppers (``seed``).

    Every family is in it, the synonyms that no labelled training query uses included, as in
    a real search log; a query in ``exclude`` (the validation and test queries) is dropped.
    """
    shop = data.make_minishop(seed=seed, n_queries=n_queries, n_users=1)
    drop = set(exclude)
    return [q for q in dict.fromkeys(shop.queries["query"]) if q not in drop]


def wands_texts() -> tuple[dict[str, list[str]], str]:
    """WANDS text for pretraining, from ``COURSE_DATA_DIR`` only (never downloaded here).

    Returns ``({source: texts}, note)``: the 480 queries and their product classes from
    ``query.csv``, and the product texts when ``product.csv`` is there too; the note says what
    was found.
    """
    try:
        wands = data.load_wands(download=False, products=False)
    except CourseDataError:
        return {}, ("WANDS's query.csv was not found (set COURSE_DATA_DIR), so the corpus is "
                    "mini-shop's alone.")
    queries = wands.queries
    sources = {"WANDS queries": list(queries["query"]),
               "WANDS query classes": list(queries["query_class"].dropna().unique())}
    try:
        products = data.wands.load_wands_products(download=False)
    except CourseDataError:
        return sources, ("WANDS: query.csv is here, product.csv is not, so only its queries and "
                         "their product classes are used.")
    sources["WANDS products"] = list(products["text"])
    return sources, "WANDS: its queries, product classes and product texts are used."


def finetune_from_starts(starts: dict, seeds, *, recipe: Choice, base_config, head_lr: float,
                         train_dataset, valid_frame: pd.DataFrame, valid_dataset, collate_fn,
                         class_weights, log_root: str | None = None) -> pd.DataFrame:
    """Fine-tune lesson 03's classifier from each start with each seed; score on validation.

    Args:
        starts: name -> ``course.models.ResolvedModel`` (e.g. the original and the adapted).
        seeds: training seeds; with one seed, every start gets the same head initialisation,
            batch order and dropout, so the runs differ only in their starting weights.
        base_config: the ``TrainConfig`` every run shares (``max_steps``: the step budget).
        valid_frame, valid_dataset: the validation pairs (with ``family``) and their encoding.
        log_root: each run's curves go to ``log_root/<start>-seed<seed>`` (TensorBoard).

    Returns:
        One row per (start, seed): macro-F1 on validation for every family and ``all``,
        the steps and the training seconds.
    """
    from course import models, train
    from course.text import LengthBucketSampler

    labels = list(data.LABELS)
    rows = []
    for name, start in starts.items():
        for seed in seeds:
            model = models.load_classifier(start, labels, seed=seed)
            run_config = replace(recipe.config(base_config, head_lr), seed=seed,
                                 log_dir=log_root and f"{log_root}/{name}-seed{seed}")
            sampler = LengthBucketSampler(train_dataset.lengths, base_config.batch_size, seed=seed)
            result = train.fit(model, train_dataset, run_config, collate_fn=collate_fn,
                               loss_fn=recipe.loss_fn(class_weights), sampler=sampler)
            predicted = train.predict(model, valid_dataset, collate_fn, progress=False).argmax(1)
            scores = macro_f1_by_family(valid_frame, predicted, labels)
            rows.append({"start": name, "seed": seed, **scores.to_dict(), "steps": result.steps,
                         "train_seconds": round(result.train_seconds, 1)})
            del model
    return pd.DataFrame(rows)


def paired_gain(table: pd.DataFrame, column: str, treated: str, control: str) -> dict[str, float]:
    """The gain of ``treated`` over ``control`` in ``column``, paired by seed.

    Returns the mean gain, the standard deviation of the per-seed gains, their standard
    error (sd / sqrt(n)) and the number of seeds.
    """
    wide = table.pivot(index="seed", columns="start", values=column)
    if treated not in wide or control not in wide:
        raise CourseDataError(f"The table has starts {list(wide.columns)}; "
                              f"need {treated!r} and {control!r}.")
    gains = (wide[treated] - wide[control]).dropna().to_numpy(dtype=float)
    if len(gains) < 2:
        raise CourseDataError("A gain's noise needs at least two seeds run from both starts.")
    sd = float(np.std(gains, ddof=1))
    return {"gain": float(gains.mean()), "sd": sd, "se": sd / float(np.sqrt(len(gains))),
            "n_seeds": int(len(gains))}
