"""Lesson 03 glue: choose the relevance data, sample it by profile, compare models per family."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from course import data
from course.errors import CourseArgumentError, CourseDataError
from course.metrics import macro_f1

CHOICES = ("mini-shop", "wands", "esci", "auto")


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
    loaders = {"wands": lambda: data.load_wands(seed=seed), "esci": lambda: data.load_esci(seed=seed)}
    tries = ["wands", "esci"] if choice == "auto" else [choice]
    reasons = []
    for name in tries:
        try:
            return data.relevance_pairs(loaders[name]()), name
        except CourseDataError as exc:
            if choice != "auto":
                raise
            reasons.append(f"{name}: {exc}")
    warnings.warn("No real relevance data could be loaded, using mini-shop. " + " | ".join(reasons), stacklevel=2)
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


def macro_f1_by_family(frame: pd.DataFrame, predictions: np.ndarray, labels=data.LABELS) -> pd.Series:
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
