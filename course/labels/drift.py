"""Drift: next season's products, the statistics that warn before accuracy drops, and replay.

* :func:`season_pairs` splits mini-shop into the season the model was trained on and
  "next season": queries about product types held out of the first;
* :func:`weekly_traffic` streams queries week by week while next season's share grows;
* three label-free warnings, each compared with a threshold set on reference weeks:
  :func:`oov_rate` (query words the training data never had), :func:`label_shift`
  (how far the predicted-label mix moved) and :func:`psi` (population stability index of
  the model's scores);
* :func:`replay_mix` and :func:`replay_tradeoff` measure forgetting when a model is
  fine-tuned on new data only, and how much a replay sample of old data brings back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from tqdm.auto import tqdm

from course.baselines import tokenize_words
from course.data.common import LABELS
from course.errors import CourseArgumentError, CourseDataError
from course.metrics import macro_f1

# Held out of the first season by default: three categories whose words the others lack.
NEW_SEASON_TYPES = ("cushion", "curtain", "throw", "lamp", "rug", "mirror")


@dataclass
class Seasons:
    """Relevance pairs of the season the model knows (``old``) and of next season (``new``)."""

    old: pd.DataFrame
    new: pd.DataFrame
    new_types: tuple[str, ...]
    dropped_old_candidates: int

    def __repr__(self) -> str:
        return (f"Seasons(old={len(self.old)} pairs, new={len(self.new)} pairs, "
                f"new_types={list(self.new_types)})")


def season_pairs(shop, new_types: Sequence[str] = NEW_SEASON_TYPES) -> Seasons:
    """Split a mini-shop into this season and next by product type.

    Old season: queries about the other types, with candidates of the other types
    only (next season's products are not in the catalog yet). New season: queries
    about ``new_types``, with every candidate. Both keep mini-shop's split by query.

    Returns:
        :class:`Seasons`; each frame has the pair columns plus ``query_type`` and
        ``product_type``. ``dropped_old_candidates`` counts the old queries' candidates
        removed because their product is new.
    """
    new_types = tuple(new_types)
    unknown = sorted(set(new_types) - set(shop.products["product_type"]))
    if unknown or not new_types:
        raise CourseArgumentError(
            f"new_types must be product types of the shop; {unknown or 'none'} given is not. "
            f"Known: {sorted(shop.products['product_type'].unique())}."
        )
    from course.data import relevance_pairs

    pairs = relevance_pairs(shop)
    pairs = pairs.merge(shop.queries[["query_id", "q_type"]], on="query_id", how="left")
    pairs = pairs.merge(shop.products[["product_id", "product_type"]], on="product_id", how="left")
    pairs = pairs.rename(columns={"q_type": "query_type"})
    new_query = pairs["query_type"].isin(new_types)
    new_product = pairs["product_type"].isin(new_types)
    old = pairs[~new_query & ~new_product].reset_index(drop=True)
    new = pairs[new_query].reset_index(drop=True)
    if old.empty or new.empty:
        raise CourseDataError(
            f"Splitting by {list(new_types)} left {len(old)} old and {len(new)} new pairs; "
            "make a larger shop or hold out other types."
        )
    dropped = int((~new_query & new_product).sum())
    return Seasons(old, new, new_types, dropped)


def weekly_traffic(
    old: pd.DataFrame,
    new: pd.DataFrame,
    new_share: Sequence[float],
    queries_per_week: int,
    seed: int = 0,
) -> pd.DataFrame:
    """A stream of whole queries, week by week, with next season's share growing.

    Week ``w`` has ``queries_per_week`` queries drawn without replacement within the week,
    ``round(new_share[w] * queries_per_week)`` of them from ``new`` and the rest from ``old``.

    Returns:
        The pairs of every week's queries with a ``week`` column (0, 1, ...), and ``season``.
    """
    shares = np.asarray(new_share, dtype=float)
    if shares.ndim != 1 or len(shares) == 0 or shares.min() < 0 or shares.max() > 1:
        raise CourseArgumentError(f"new_share must be a list of shares in [0, 1]; got {shares}.")
    rng = np.random.default_rng(seed)
    old_ids, new_ids = old["query_id"].unique(), new["query_id"].unique()
    frames = []
    for week, share in enumerate(shares):
        n_new = round(share * queries_per_week)
        n_old = queries_per_week - n_new
        if n_new > len(new_ids) or n_old > len(old_ids):
            raise CourseArgumentError(
                f"Week {week} needs {n_old} old and {n_new} new queries; there are "
                f"{len(old_ids)} and {len(new_ids)}. Lower queries_per_week."
            )
        draws = (("old", old, old_ids, n_old), ("new", new, new_ids, n_new))
        for season, frame, ids, count in draws:
            chosen = rng.choice(ids, size=count, replace=False)
            frames.append(frame[frame["query_id"].isin(chosen)].assign(week=week, season=season))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------ the statistics


def vocabulary(texts: Iterable[str]) -> set[str]:
    """The set of words (as ``course.baselines.tokenize_words`` splits them) in ``texts``."""
    return {word for text in texts for word in tokenize_words(text)}


def oov_rate(texts: Iterable[str], known: set[str]) -> float:
    """Share of the words in ``texts`` that are not in ``known`` (0 when there are no words)."""
    words = [word for text in texts for word in tokenize_words(text)]
    if not words:
        return 0.0
    return float(np.mean([word not in known for word in words]))


def label_shares(predicted: ArrayLike, labels: Sequence = LABELS) -> np.ndarray:
    """Share of each label among ``predicted`` (names or ids), in ``labels`` order."""
    values = np.asarray(predicted)
    if values.size == 0:
        raise CourseArgumentError("label_shares needs at least one prediction.")
    keys = labels if values.dtype.kind in "OUS" else range(len(labels))
    return np.array([np.mean(values == key) for key in keys])


def label_shift(reference: ArrayLike, current: ArrayLike, labels: Sequence = LABELS) -> float:
    """Total variation distance between two predicted-label mixes: ``0.5 * sum |p - q|``.

    It is the share of predictions that would have to change label to turn one mix
    into the other: 0 when the mixes are equal, 1 when they share nothing.
    """
    p, q = label_shares(reference, labels), label_shares(current, labels)
    return float(0.5 * np.abs(p - q).sum())


def psi(expected: ArrayLike, actual: ArrayLike, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``actual`` scores against ``expected`` (the reference).

    Bin edges are the deciles (for ``bins=10``) of ``expected``, with open ends, so each
    bin holds about the same share of the reference. With ``e_i`` and ``a_i`` the shares
    of each sample in bin ``i`` (floored at ``eps`` so empty bins do not divide by zero),
    ``PSI = sum (a_i - e_i) * ln(a_i / e_i)``. Rules of thumb: < 0.1 stable, 0.1-0.25 a
    moderate shift, > 0.25 a large one.
    """
    ref, cur = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    if ref.size == 0 or cur.size == 0:
        raise CourseArgumentError("psi needs non-empty expected and actual samples.")
    if bins < 2:
        raise CourseArgumentError(f"psi needs at least 2 bins; got {bins}.")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=len(inner) + 1)
    a = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=len(inner) + 1)
    e = np.maximum(e / ref.size, eps)
    a = np.maximum(a / cur.size, eps)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class Monitor:
    """What the monitor compares each week with: the reference period's words, labels, scores."""

    known_words: set[str]
    reference_predictions: np.ndarray
    reference_scores: np.ndarray
    bins: int = 10

    def statistics(self, queries: Sequence[str], predictions: ArrayLike,
                   scores: ArrayLike) -> dict[str, float]:
        """OOV rate of the queries, label shift and score PSI against the reference."""
        return {
            "oov_rate": oov_rate(queries, self.known_words),
            "label_shift": label_shift(self.reference_predictions, predictions),
            "score_psi": psi(self.reference_scores, scores, bins=self.bins),
        }


def weekly_statistics(
    monitor: Monitor, traffic: pd.DataFrame, predictions: np.ndarray, scores: np.ndarray
) -> pd.DataFrame:
    """The monitor's statistics for every week of ``traffic`` (row-aligned with the arrays)."""
    if not len(traffic) == len(predictions) == len(scores):
        raise CourseArgumentError(
            f"traffic ({len(traffic)} rows), predictions ({len(predictions)}) and scores "
            f"({len(scores)}) must be row-aligned."
        )
    predictions, scores = np.asarray(predictions), np.asarray(scores)
    rows = []
    for week, idx in traffic.groupby("week").indices.items():
        queries = traffic["query"].iloc[idx].drop_duplicates()
        rows.append({"week": week, **monitor.statistics(queries, predictions[idx], scores[idx])})
    return pd.DataFrame(rows).set_index("week")


def drift_free_weeks(reference: pd.DataFrame, queries_per_week: int, n_weeks: int = 200,
                     seed: int = 0) -> list[np.ndarray]:
    """Row indices of ``n_weeks`` simulated weeks without drift (a bootstrap by query).

    Each week draws ``queries_per_week`` queries of ``reference`` *with replacement*, with
    all their rows, so a week varies as much as a fresh sample of that size would.
    """
    groups = reference.groupby("query_id").indices
    if not groups or queries_per_week < 1:
        raise CourseArgumentError(
            f"Need a non-empty reference and queries_per_week >= 1; got {len(groups)} queries "
            f"and {queries_per_week}."
        )
    ids = np.array(list(groups))
    rng = np.random.default_rng(seed)
    return [np.concatenate([groups[q] for q in rng.choice(ids, size=queries_per_week)])
            for _ in range(n_weeks)]


def reference_thresholds(
    monitor: Monitor,
    reference: pd.DataFrame,
    predictions: np.ndarray,
    scores: np.ndarray,
    queries_per_week: int,
    n_weeks: int = 200,
    quantile: float = 0.99,
    seed: int = 0,
) -> pd.Series:
    """Alarm thresholds: the ``quantile`` of each statistic over :func:`drift_free_weeks`.

    ``reference`` is a held-out sample of the period the model was trained for (not the
    monitor's own reference), with the model's ``predictions`` and ``scores`` on it. A
    threshold is what normal week-to-week noise exceeds once in ``1 / (1 - quantile)`` weeks.
    """
    predictions, scores = np.asarray(predictions), np.asarray(scores)
    rows = []
    for idx in drift_free_weeks(reference, queries_per_week, n_weeks, seed):
        queries = reference["query"].iloc[idx].drop_duplicates()
        rows.append(monitor.statistics(queries, predictions[idx], scores[idx]))
    return pd.DataFrame(rows).quantile(quantile).rename("threshold")


def weekly_macro_f1(traffic: pd.DataFrame, predictions: ArrayLike) -> pd.Series:
    """Macro-F1 of ``predictions`` (label names or ids) against ``traffic["label"]``, per week."""
    predicted = np.asarray(predictions)
    truth = traffic["label"].to_numpy()
    if predicted.dtype.kind not in "OUS":
        truth = np.array([LABELS.index(label) for label in truth])
    keys = list(LABELS) if predicted.dtype.kind in "OUS" else list(range(len(LABELS)))
    scores = {week: macro_f1(truth[idx], predicted[idx], labels=keys)
              for week, idx in traffic.groupby("week").indices.items()}
    return pd.Series(scores, name="macro_f1").rename_axis("week")


def accuracy_floor(reference: pd.DataFrame, predictions: ArrayLike, queries_per_week: int,
                   n_weeks: int = 200, quantile: float = 0.01, seed: int = 0) -> float:
    """The macro-F1 that only ``quantile`` of drift-free weeks fall below: "accuracy dropped"."""
    predicted = np.asarray(predictions)
    weeks = drift_free_weeks(reference, queries_per_week, n_weeks, seed)
    frames = [reference.iloc[idx].assign(week=i) for i, idx in enumerate(weeks)]
    stacked = pd.concat(frames, ignore_index=True)
    scores = weekly_macro_f1(stacked, np.concatenate([predicted[idx] for idx in weeks]))
    return float(scores.quantile(quantile))


def first_week_above(values: pd.Series, threshold: float) -> int | None:
    """The first week (index label) whose value exceeds ``threshold``; None if none does."""
    above = values[values > threshold]
    return None if above.empty else above.index[0]


def first_week_below(values: pd.Series, threshold: float) -> int | None:
    """The first week (index label) whose value is below ``threshold``; None if none is."""
    below = values[values < threshold]
    return None if below.empty else below.index[0]


def plot_monitor(weekly: pd.DataFrame, thresholds: pd.Series, accuracy: str = "macro_f1",
                 accuracy_floor: float | None = None):
    """One panel per statistic over the weeks, its threshold dashed, and the accuracy panel."""
    import matplotlib.pyplot as plt

    names = [n for n in thresholds.index if n in weekly.columns]
    panels = names + ([accuracy] if accuracy in weekly.columns else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.2), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, panels, strict=True):
        ax.plot(weekly.index, weekly[name], marker="o")
        line = thresholds.get(name, accuracy_floor if name == accuracy else None)
        if line is not None:
            ax.axhline(line, color="red", linestyle="--", label="threshold")
            ax.legend(loc="best", fontsize=8)
        ax.set(title=name, xlabel="week")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------- forgetting and replay


def replay_mix(new: pd.DataFrame, old: pd.DataFrame, ratio: float, seed: int = 0) -> pd.DataFrame:
    """New-season training pairs plus ``ratio * len(new)`` old pairs drawn at random.

    ``ratio=0`` is fine-tuning on new data only; ``ratio=1`` adds as many old pairs as
    new ones. The draw is capped at ``len(old)`` and the result is shuffled.
    """
    if ratio < 0:
        raise CourseArgumentError(f"ratio must be >= 0; got {ratio}.")
    n_old = min(len(old), round(ratio * len(new)))
    replay = old.sample(n=n_old, random_state=seed)
    mixed = pd.concat([new, replay], ignore_index=True)
    return mixed.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def replay_tradeoff(
    finetune: Callable[[pd.DataFrame, int], object],
    evaluate: Callable[[object], dict[str, float]],
    new: pd.DataFrame,
    old: pd.DataFrame,
    ratios: Sequence[float],
    seeds: Sequence[int] = (0, 1),
    progress: bool = True,
) -> pd.DataFrame:
    """Fine-tune on :func:`replay_mix` at each ratio and seed; evaluate every model.

    Args:
        finetune: ``finetune(train_pairs, seed) -> model``, starting from the old model.
        evaluate: ``evaluate(model) -> {"old": score, "new": score}`` on validation pairs.

    Returns:
        One row per (ratio, seed) with ``n_train`` and each score that ``evaluate`` returns.
    """
    rows = []
    runs = [(ratio, seed) for ratio in ratios for seed in seeds]
    for ratio, seed in tqdm(runs, desc="replay ratios", disable=not progress):
        mixed = replay_mix(new, old, ratio, seed=seed)
        model = finetune(mixed, seed)
        rows.append({"ratio": ratio, "seed": seed, "n_train": len(mixed), **evaluate(model)})
    return pd.DataFrame(rows)


def recovery(tradeoff: pd.DataFrame, before: dict[str, float]) -> pd.DataFrame:
    """Per ratio: mean scores, the share of the old loss recovered and of the new gain kept.

    ``before`` holds the old model's ``old`` and ``new`` scores. The loss and the gain are
    those of ratio 0 (new data only): ``recovered = (old_r - old_0) / (before_old - old_0)``
    and ``kept = (new_r - before_new) / (new_0 - before_new)``.
    """
    if 0 not in set(tradeoff["ratio"]):
        raise CourseArgumentError("The trade-off needs ratio 0 (fine-tuning on new data only).")
    means = tradeoff.groupby("ratio")[["old", "new"]].mean()
    spread = tradeoff.groupby("ratio")[["old", "new"]].std(ddof=1).add_suffix("_std")
    old0, new0 = means.loc[0, "old"], means.loc[0, "new"]
    loss, gain = before["old"] - old0, new0 - before["new"]
    table = means.join(spread)
    table["recovered"] = (table["old"] - old0) / loss if loss > 0 else np.nan
    table["kept"] = (table["new"] - before["new"]) / gain if gain > 0 else np.nan
    return table


def choose_replay_ratio(table: pd.DataFrame, old_floor: float) -> float:
    """The ratio with the best new-season score among those whose old score >= ``old_floor``.

    Ties go to the smaller ratio (less old data to keep and train on). When no ratio meets
    the floor, the one with the best old score is returned.
    """
    if table.empty:
        raise CourseArgumentError("The trade-off table is empty.")
    ok = table[table["old"] >= old_floor]
    if ok.empty:
        return float(table["old"].idxmax())
    best = ok["new"].max()
    return float(min(r for r in ok.index[ok["new"] == best]))


def plot_tradeoff(table: pd.DataFrame, before: dict[str, float], chosen: float | None = None):
    """Old- and new-season scores against the replay ratio, with the old model's as lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, colour in (("old", "tab:blue"), ("new", "tab:orange")):
        ax.errorbar(table.index, table[name], yerr=table.get(f"{name}_std"), marker="o",
                    color=colour, capsize=3, label=f"{name} season (after fine-tuning)")
        ax.axhline(before[name], color=colour, linestyle=":", label=f"{name} season, old model")
    if chosen is not None:
        ax.axvline(chosen, color="grey", linestyle="--", label=f"chosen ratio {chosen:g}")
    ax.set(xlabel="replay ratio (old pairs per new pair)", ylabel="validation macro-F1",
           title="Forgetting and replay")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ = [
    "NEW_SEASON_TYPES", "Monitor", "Seasons", "accuracy_floor", "choose_replay_ratio",
    "drift_free_weeks", "first_week_above", "weekly_macro_f1",
    "first_week_below", "label_shares", "label_shift", "oov_rate", "plot_monitor",
    "plot_tradeoff", "psi", "recovery", "reference_thresholds", "replay_mix", "replay_tradeoff",
    "season_pairs", "vocabulary", "weekly_statistics", "weekly_traffic",
]
