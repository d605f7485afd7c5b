"""Lesson 03 glue: the relevance data by profile, choices made on validation, ESCI's task 2.

* :func:`load_relevance_pairs`, :func:`lesson_splits`: the pairs and their train/valid/test
  samples, the same for the lesson and for ``benchmarks/lesson03_choices.py``;
* :class:`Choice`, :func:`compare_on_validation`: train each candidate recipe with several
  seeds, score it on the validation split only;
* :func:`select_by_mean` (over seeds, within the noise), :func:`select_on_validation` (one
  score each), :func:`seed_summary`, :func:`seed_table`, :func:`plot_seeds`: pick one, and
  show the seed spread it was picked from;
* :func:`save_comparison`, :func:`load_comparison`, :func:`write_recorded_runs`: a study
  recorded by ``benchmarks/lesson03_choices.py``, which the ``cpu`` profile reads instead of
  spending dozens of training runs, and its curves as TensorBoard runs;
* :func:`esci_task2_pairs`: ESCI with its own four classes (KDD Cup 2022, task 2);
* lesson 08: :func:`recorded_recipe` (lesson 03's recipe, as its recorded comparison chose it),
  :func:`query_log` (unlabelled searches for pretraining), :func:`finetune_from_starts` (the
  same recipe from several starting weights and seeds) and :func:`paired_gain`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
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
    "Selection",
    "best_evaluation",
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
    "run_name",
    "plot_seeds",
    "save_comparison",
    "seed_summary",
    "seed_table",
    "select_by_mean",
    "select_on_validation",
    "setup_differences",
    "write_recorded_runs",
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
                          class_weights, collate_fn, make_sampler, evaluate,
                          seeds: Sequence[int] = (42,), log_root: str | Path | None = None,
                          ) -> pd.DataFrame:
    """Train each choice with each seed from the same start, and score it with ``evaluate``.

    Args:
        choices: :class:`Choice` objects, simplest first.
        make_model: ``make_model(seed)`` returns a fresh model (the same weights for a seed).
        base_config: the ``TrainConfig`` every run shares (steps, batch, learning rate); its
            ``seed`` is replaced by each of ``seeds``.
        head_lr: the head's learning rate for the choices that have one.
        class_weights: per-class weights for the weighted loss.
        make_sampler: ``make_sampler(seed)`` returns the batch sampler of that seed.
        evaluate: ``evaluate(model) -> {"macro_f1": ..., "accuracy": ...}`` on the
            validation split; the test split is never passed here.
        seeds: training seeds (the head's initial weights, the batch order, dropout).
        log_root: a folder; each run's curves go to ``log_root/<choice>/seed<N>`` as
            TensorBoard files (:mod:`course.train.tracking`).

    Returns:
        One row per choice and seed: its settings, the best validation macro-F1 and accuracy,
        and the step and seconds it took.
    """
    from course import train

    rows = []
    for choice in choices:
        for seed in seeds:
            config = replace(choice.config(base_config, head_lr), seed=seed)
            if log_root is not None:
                config = replace(config, log_dir=str(Path(log_root) / run_name(choice.name, seed)))
            model = make_model(seed)
            result = train.fit(model, train_dataset, config, collate_fn=collate_fn,
                               loss_fn=choice.loss_fn(class_weights), evaluate=evaluate,
                               sampler=make_sampler(seed))
            rows.append({"choice": choice.name, "weighted_loss": choice.weighted_loss,
                         "head_lr": head_lr if choice.head else None,
                         "head": " + ".join(choice.head) or "-", "train_seed": seed,
                         **best_evaluation(result)})
            del model
    return pd.DataFrame(rows)


def run_name(choice: str, seed: int) -> str:
    """A folder name for one run: ``weighted-loss-head-lr/seed42``."""
    slug = "-".join("".join(c if c.isalnum() else " " for c in choice.lower()).split())
    return f"{slug}/seed{seed}"


def best_evaluation(result) -> dict[str, Any]:
    """The best validation evaluation of a ``TrainResult``: scores, its step, steps, seconds."""
    history = result.history.dropna(subset=["macro_f1"])
    best = history[history["step"] == result.best_step].iloc[-1]
    return {"valid_macro_f1": float(best["macro_f1"]), "valid_accuracy": float(best["accuracy"]),
            "best_step": int(best["step"]), "steps": int(result.steps),
            "train_seconds": round(result.train_seconds, 1)}


def select_on_validation(table: pd.DataFrame, metric: str = "valid_macro_f1",
                         tolerance: float = 0.0) -> pd.Series:
    """The first (simplest) row whose ``metric`` is within ``tolerance`` of the best row's.

    A tolerance about the size of the seed-to-seed noise keeps a more complex recipe from
    winning on luck alone.
    """
    _check_validation_metric(table, metric)
    best = table[metric].max()
    return table[table[metric] >= best - tolerance].iloc[0]


def _check_validation_metric(table: pd.DataFrame, metric: str) -> None:
    if metric not in table.columns or table.empty:
        raise CourseArgumentError(
            f"the selection needs a non-empty table with a {metric!r} column; "
            f"got columns {list(table.columns)} and {len(table)} rows.")
    if not metric.startswith("valid"):
        raise CourseArgumentError(
            f"{metric!r} is not a validation metric: choose on the validation split, "
            "and read the test split once, at the end.")


def seed_summary(table: pd.DataFrame, by: str = "choice",
                 metric: str = "valid_macro_f1") -> pd.DataFrame:
    """Mean, standard deviation, min and max of ``metric`` over seeds, one row per ``by``.

    Rows keep the table's order (simplest first). ``std`` is the sample standard deviation
    (NaN with one seed).
    """
    _check_validation_metric(table, metric)
    order = list(dict.fromkeys(table[by]))
    grouped = table.groupby(by, sort=False)[metric]
    summary = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1),
                            "min": grouped.min(), "max": grouped.max(),
                            "seeds": grouped.size()})
    return summary.loc[order]


@dataclass(frozen=True)
class Selection:
    """A choice made on the mean validation score over seeds, and how far noise reaches.

    ``noise`` is the typical seed-to-seed standard deviation of one candidate (the median
    over candidates); ``tolerance`` is the larger of it and a floor. ``tied`` lists every
    candidate whose mean is within ``tolerance`` of the best mean: when it holds more than
    one, the data cannot tell them apart, and the rule takes the first (simplest) of them.
    """

    choice: str
    mean: float
    best: str
    best_mean: float
    noise: float
    tolerance: float
    tied: tuple[str, ...]

    @property
    def within_noise(self) -> bool:
        """True when another candidate is within the tolerance of the best."""
        return len(self.tied) > 1

    def sentence(self) -> str:
        """One sentence a lesson can print."""
        if not self.within_noise:
            return (f"{self.choice} wins outside the noise: mean {self.mean:.3f}, the next "
                    f"candidate is more than {self.tolerance:.3f} below it.")
        others = ", ".join(c for c in self.tied if c != self.choice)
        return (f"within the noise ({self.tolerance:.3f}): {self.choice} (mean {self.mean:.3f}) "
                f"and {others} cannot be told apart on validation (best mean {self.best_mean:.3f}, "
                f"{self.best}); the rule takes the simplest of them, {self.choice}.")


def select_by_mean(table: pd.DataFrame, by: str = "choice", metric: str = "valid_macro_f1",
                   floor: float = 0.01) -> Selection:
    """The simplest candidate whose mean over seeds is within the noise of the best mean.

    Candidates are in the table's order, simplest (or cheapest) first.
    """
    summary = seed_summary(table, by, metric)
    noise = float(summary["std"].median()) if summary["std"].notna().any() else float("nan")
    tolerance = max(floor, noise) if noise == noise else floor
    best = summary["mean"].idxmax()
    tied = summary.index[summary["mean"] >= summary.loc[best, "mean"] - tolerance]
    return Selection(choice=str(tied[0]), mean=float(summary.loc[tied[0], "mean"]), best=str(best),
                     best_mean=float(summary.loc[best, "mean"]), noise=noise,
                     tolerance=tolerance, tied=tuple(str(c) for c in tied))


def seed_table(table: pd.DataFrame, by: str = "choice",
               metric: str = "valid_macro_f1") -> pd.DataFrame:
    """One row per candidate: its score with each seed, then the mean and standard deviation."""
    summary = seed_summary(table, by, metric)
    wide = table.pivot_table(index=by, columns="train_seed", values=metric, sort=False)
    wide.columns = [f"seed {seed}" for seed in wide.columns]
    return wide.loc[summary.index].join(summary[["mean", "std"]])


def plot_seeds(table: pd.DataFrame, selection: Selection, by: str = "choice",
               metric: str = "valid_macro_f1", title: str = "", ax=None):
    """Each candidate's seeds as dots, their mean as a bar, the noise band around the best mean.

    The selected candidate is orange. Returns the Axes.
    """
    import matplotlib.pyplot as plt

    summary = seed_summary(table, by, metric)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.5 * len(summary) + 1.2))
    names = list(summary.index)
    colors = ["tab:orange" if n == selection.choice else "tab:blue" for n in names]
    ax.barh(names, summary["mean"], color=colors, alpha=0.6)
    for i, name in enumerate(names):
        values = table.loc[table[by] == name, metric]
        ax.plot(values, [i] * len(values), "k.", markersize=8)
    ax.axvspan(selection.best_mean - selection.tolerance, selection.best_mean, color="grey",
               alpha=0.2, label=f"within the noise of the best mean ({selection.tolerance:.3f})")
    low = table[metric].min()
    ax.set(xlabel=f"{metric} (bar: mean; dots: seeds)", xlim=(max(0.0, low - 0.05), None),
           title=title)
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize="small")
    return ax


def write_recorded_runs(curves: dict[str, list[dict]], root: str | Path) -> Path:
    """Write a recorded study's curves as TensorBoard runs under ``root`` (one folder each)."""
    from course.train.tracking import write_run

    root = Path(root)
    for name, rows in curves.items():
        write_run(root / name, pd.DataFrame(rows))
    return root


def save_comparison(path: str | Path, table: pd.DataFrame, setup: dict[str, Any],
                    command: str, **extra: Any) -> Path:
    """Write a comparison with the setup that produced it and the command that reruns it.

    ``extra`` holds more plain-JSON metadata (e.g. what each stage of a study selected).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"split": "valid", "command": command, "setup": setup, **extra,
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


def recorded_recipe(path: str | Path = LESSON03_COMPARISON) -> tuple[Choice, dict[str, Any]]:
    """Lesson 03's recipe: the :class:`Choice` its recorded study chose on validation, and the
    setup it ran with (data sizes, batch size, sequence length, seeds) plus the chosen
    learning rates ``lr`` and ``head_lr``.

    The head's learning rate is the one the study chose, or, for a recipe without a head
    learning rate, the one its recipe stage ran with (unused by that recipe).

    Raises:
        CourseDataError: the file is missing, or names a recipe that is not a candidate.
    """
    table, recorded = load_comparison(path)
    chosen = recorded.get("chosen") or {}
    choice = next((c for c in CANDIDATES if c.name == chosen.get("recipe")), None)
    if choice is None:
        raise CourseDataError(f"{path} chose {chosen.get('recipe')!r}, which is not one of "
                              f"{[c.name for c in CANDIDATES]}; rerun "
                              "benchmarks/lesson03_choices.py.")
    recipe_rows = table[table["stage"] == "recipe"] if "stage" in table else table
    head_lr = chosen.get("head_lr")
    if head_lr is None and "head_lr" in recipe_rows:
        head_lr = recipe_rows["head_lr"].dropna().iloc[0] if recipe_rows["head_lr"].notna().any() \
            else None
    setup = dict(recorded.get("setup", {}), lr=chosen.get("lr"), head_lr=head_lr)
    return choice, setup


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
