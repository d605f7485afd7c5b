"""Active learning: which pairs should the annotators label next?

Uncertainty sampling asks for labels where the current model is least sure:

* :func:`entropy` of the predicted class distribution, ``-sum p log p``;
* :func:`margin`, the gap between the two most likely classes (small = unsure).

:func:`select_batch` picks the next batch from the unlabelled pool by one of
these, or at random; :func:`run_active_learning` repeats "fit, score the pool,
select, label" for several rounds, and :func:`compare_strategies` runs every
strategy over the same seeds at equal budgets, so the comparison is fair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from tqdm.auto import tqdm

from course.errors import CourseArgumentError
from course.metrics import macro_f1

__all__ = [
    "STRATEGIES",
    "FitFn",
    "compare_strategies",
    "entropy",
    "final_gain",
    "margin",
    "plot_active_learning",
    "run_active_learning",
    "select_batch",
    "uncertainty",
]

STRATEGIES = ("random", "entropy", "margin")

# fit(features, labels, seed) -> predict_proba(features) -> [n, classes]
FitFn = Callable[[np.ndarray, np.ndarray, int], Callable[[np.ndarray], np.ndarray]]


def _probabilities(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise CourseArgumentError(
            f"probs must be [n, classes] with at least 2 classes; got shape {probs.shape}."
        )
    return probs


def entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy (in nats) of each row of class probabilities; 0 means certain."""
    probs = _probabilities(probs)
    safe = np.clip(probs, 1e-12, 1.0)
    return -np.sum(np.where(probs > 0, probs * np.log(safe), 0.0), axis=1)


def margin(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of each row; 0 means a tie between two classes."""
    probs = _probabilities(probs)
    top2 = np.sort(probs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def uncertainty(probs: np.ndarray, method: str) -> np.ndarray:
    """How unsure the model is about each row (higher = label it sooner)."""
    if method == "entropy":
        return entropy(probs)
    if method == "margin":
        return -margin(probs)
    raise CourseArgumentError(f"Unknown uncertainty {method!r}; use 'entropy' or 'margin'.")


def select_batch(
    strategy: str,
    k: int,
    pool: ArrayLike,
    probs: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The ``k`` pool indices to label next.

    Args:
        strategy: ``random``, ``entropy`` or ``margin``.
        k: batch size (at most the pool size).
        pool: indices of the unlabelled examples.
        probs: the model's probabilities for the pool, row ``i`` for ``pool[i]``
            (needed by the uncertainty strategies).
        rng: random generator for ``random`` (and nothing else).

    Returns:
        ``k`` distinct indices taken from ``pool``, most uncertain first; ties keep pool order.
    """
    ids = np.asarray(pool, dtype=int)
    if strategy not in STRATEGIES:
        raise CourseArgumentError(f"Unknown strategy {strategy!r}; use one of {STRATEGIES}.")
    if not 0 < k <= len(ids):
        raise CourseArgumentError(f"k must be in 1..{len(ids)} (the pool size); got {k}.")
    if strategy == "random":
        rng = rng if rng is not None else np.random.default_rng(0)
        return rng.choice(ids, size=k, replace=False)
    if probs is None or len(probs) != len(ids):
        raise CourseArgumentError(
            f"{strategy} sampling needs probs with one row per pool index ({len(ids)} rows)."
        )
    order = np.argsort(-uncertainty(probs, strategy), kind="stable")
    return ids[order[:k]]


def run_active_learning(
    fit: FitFn,
    features: np.ndarray,
    labels: np.ndarray,
    valid_features: np.ndarray,
    valid_labels: np.ndarray,
    *,
    strategy: str,
    initial: int,
    batch: int,
    rounds: int,
    seed: int = 0,
) -> pd.DataFrame:
    """Label ``initial`` random pairs, then ``rounds`` batches chosen by ``strategy``.

    The initial set depends only on ``seed``, so every strategy starts from the
    same labels. After each round the model is refit on all labels so far and
    scored on the validation set.

    Returns:
        One row per round: ``strategy, seed, round, n_labelled, valid_macro_f1``.
    """
    n = len(labels)
    if initial < 1 or batch < 1 or rounds < 0 or initial + batch * rounds > n:
        raise CourseArgumentError(
            f"initial={initial} + batch={batch} x rounds={rounds} must fit in the pool of {n}."
        )
    classes = list(range(int(max(labels.max(), valid_labels.max())) + 1))
    rng = np.random.default_rng(seed)
    labelled = rng.choice(n, size=initial, replace=False)
    rows = []
    for step in range(rounds + 1):
        predict = fit(features[labelled], labels[labelled], seed)
        score = macro_f1(valid_labels, predict(valid_features).argmax(axis=1), labels=classes)
        rows.append({"strategy": strategy, "seed": seed, "round": step,
                     "n_labelled": len(labelled), "valid_macro_f1": score})
        if step == rounds:
            break
        pool = np.setdiff1d(np.arange(n), labelled)
        probs = None if strategy == "random" else predict(features[pool])
        labelled = np.concatenate([labelled, select_batch(strategy, batch, pool, probs, rng)])
    return pd.DataFrame(rows)


def compare_strategies(
    fit: FitFn,
    features: np.ndarray,
    labels: np.ndarray,
    valid_features: np.ndarray,
    valid_labels: np.ndarray,
    *,
    strategies: Sequence[str] = STRATEGIES,
    seeds: Sequence[int] = (0, 1),
    initial: int = 100,
    batch: int = 100,
    rounds: int = 5,
    progress: bool = True,
) -> pd.DataFrame:
    """:func:`run_active_learning` for every strategy and seed, stacked in one frame."""
    runs = [(s, seed) for seed in seeds for s in strategies]
    frames = [
        run_active_learning(fit, features, labels, valid_features, valid_labels, strategy=s,
                            initial=initial, batch=batch, rounds=rounds, seed=seed)
        for s, seed in tqdm(runs, desc="active learning", disable=not progress)
    ]
    return pd.concat(frames, ignore_index=True)


def final_gain(results: pd.DataFrame, baseline: str = "random") -> pd.DataFrame:
    """Each strategy's last-round validation macro-F1 minus the baseline's, per seed.

    Returns:
        One row per strategy: ``mean_gain``, ``std_gain`` (over seeds), ``n_seeds``,
        and the mean final macro-F1.
    """
    last = results[results["round"] == results["round"].max()]
    table = last.pivot_table(index="seed", columns="strategy", values="valid_macro_f1")
    if baseline not in table.columns:
        raise CourseArgumentError(f"No {baseline!r} runs in the results; it has {list(table)}.")
    gains = table.sub(table[baseline], axis=0).drop(columns=baseline)
    return pd.DataFrame({
        "final_macro_f1": table.drop(columns=baseline).mean(),
        "mean_gain": gains.mean(),
        "std_gain": gains.std(ddof=1) if len(gains) > 1 else 0.0,
        "n_seeds": gains.count(),
    })


def plot_active_learning(results: pd.DataFrame, ax=None):
    """Validation macro-F1 against labels used, one line per strategy with its seed range."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    for strategy, group in results.groupby("strategy", sort=False):
        stats = group.groupby("n_labelled")["valid_macro_f1"].agg(["mean", "min", "max"])
        ax.plot(stats.index, stats["mean"], marker="o", label=strategy)
        ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.2)
    ax.set(xlabel="labelled pairs", ylabel="validation macro-F1",
           title="Active learning: equal budgets, seed range shaded")
    ax.legend()
    ax.figure.tight_layout()
    return ax.figure
