"""Splits without leakage, relevance pairs, and conversion to Hugging Face datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from course.data.common import LABELS, PAIR_COLUMNS, SPLITS
from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "check_no_leak",
    "label_ids",
    "relevance_pairs",
    "split_queries",
    "to_dataset",
    "to_dataset_dict",
]


def split_queries(
    queries: pd.DataFrame,
    valid: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    query_col: str = "query",
    keep_existing: bool = False,
) -> pd.DataFrame:
    """Assign every query to train/valid/test, so that no query is in two splits.

    Queries are grouped by their normalised text (lower case, single spaces), so
    two ids with the same text land in the same split. Before returning, the split
    is checked: a query text or a ``query_id`` in two splits raises (leakage).

    Args:
        queries: one row per query, with ``query_col``.
        valid: share of query texts for validation.
        test: share of query texts for test.
        seed: random seed (the assignment is deterministic).
        query_col: the column with the query text.
        keep_existing: keep a ``split`` column that is already there; a row whose
            split is missing takes the split of the same text where one is set,
            else a random one.

    Returns:
        A copy of ``queries`` with a ``split`` column.

    Raises:
        CourseArgumentError: ``query_col`` is missing or the shares are not valid.
        CourseDataError: a query text or ``query_id`` would be in two splits.
    """
    if query_col not in queries.columns:
        raise CourseArgumentError(
            f"split_queries needs a {query_col!r} column; found {list(queries.columns)}."
        )
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise CourseArgumentError(
            f"valid ({valid}) and test ({test}) must be shares that sum below 1."
        )
    out = queries.copy()
    key = out[query_col].astype(str).str.lower().str.split().str.join(" ")
    if keep_existing and "split" in out.columns and out["split"].notna().all():
        check_no_leak(out, key)
        return out
    texts = np.array(sorted(key.unique()))
    order = np.random.default_rng(seed).permutation(len(texts))
    n_test = int(round(len(texts) * test))
    n_valid = int(round(len(texts) * valid))
    assignment = np.full(len(texts), "train", dtype=object)
    assignment[order[:n_test]] = "test"
    assignment[order[n_test:n_test + n_valid]] = "valid"
    split = key.map(dict(zip(texts, assignment, strict=True)))
    if keep_existing and "split" in out.columns:
        check_no_leak(out[out["split"].notna()], key[out["split"].notna()])
        same_text = key.map(out.groupby(key)["split"].first())  # first set split of the text
        out["split"] = out["split"].fillna(same_text).fillna(split)
    else:
        out["split"] = split
    check_no_leak(out, key)
    return out


def check_no_leak(queries: pd.DataFrame, key: pd.Series | None = None) -> None:
    """Raise when a query (its normalised text ``key``, or its ``query_id``) is in two splits.

    Raises:
        CourseDataError: names the query and its splits.
    """
    if key is None:
        key = queries["query"].astype(str).str.lower().str.split().str.join(" ")
    checks = [("query text", key)]
    if "query_id" in queries.columns:
        checks.append(("query_id", queries["query_id"]))
    split_codes, split_names = pd.factorize(queries["split"])
    for what, values in checks:
        codes, _ = pd.factorize(values)
        pairs = np.unique(codes.astype(np.int64) * (len(split_names) + 1) + split_codes)
        if len(pairs) == len(np.unique(codes)):  # one split per value: no leak
            continue
        per_value = queries["split"].groupby(values.to_numpy()).nunique()
        leaking = per_value[per_value > 1]
        if len(leaking):
            value = leaking.index[0]
            value = value.item() if isinstance(value, np.generic) else value
            splits = sorted(queries["split"][(values == value).to_numpy()].dropna().unique())
            splits = [str(s) for s in splits]
            raise CourseDataError(
                f"The {what} {value!r} is in the splits {splits}: its pairs would leak from "
                f"training into evaluation ({len(leaking)} such {what}s). Give each query one "
                "id and one split (for an existing split column, make it agree per query)."
            )


def relevance_pairs(data, split: str | None = None) -> pd.DataFrame:
    """One row per labelled (query, product) pair, the same shape for every data set.

    Args:
        data: a ``MiniShop``, ``WandsData`` or ``EsciData`` (anything with a
            ``pairs`` DataFrame or mini-shop tables).
        split: keep only ``train``, ``valid`` or ``test``; None keeps all.

    Returns:
        Columns ``query_id, query, family, product_id, product_text, label, split``.
    """
    pairs = _pairs_of(data)
    if split is not None:
        if split not in SPLITS:
            raise CourseArgumentError(f"Unknown split {split!r}; use one of {SPLITS} or None.")
        pairs = pairs[pairs["split"] == split]
    return pairs.reset_index(drop=True)


def _pairs_of(data) -> pd.DataFrame:
    if hasattr(data, "products") and hasattr(data, "users"):  # a MiniShop
        text = data.products[["product_id", "text"]].rename(columns={"text": "product_text"})
        pairs = data.labels[["query_id", "product_id", "label"]]
        pairs = pairs.merge(data.queries[["query_id", "query", "family", "split"]], on="query_id")
        pairs = pairs.merge(text, on="product_id", how="left")
        return pairs[PAIR_COLUMNS]
    pairs = getattr(data, "pairs", None)
    if pairs is None:
        raise CourseDataError(
            f"{type(data).__name__} has no relevance pairs. For WANDS, load it with "
            "products=True (product.csv is needed for the product text)."
        )
    if pairs["product_text"].isna().any():
        raise CourseDataError(
            f"{type(data).__name__}: {int(pairs['product_text'].isna().sum())} pairs have no "
            "product text. Load the products (WANDS: product.csv) before asking for relevance "
            "pairs."
        )
    return pairs[PAIR_COLUMNS]


def label_ids(labels: pd.Series) -> np.ndarray:
    """Labels as integers in ``LABELS`` order (Exact=0, Partial=1, Irrelevant=2)."""
    mapping = {name: i for i, name in enumerate(LABELS)}
    ids = labels.map(mapping)
    if ids.isna().any():
        bad = labels[ids.isna()].iloc[0]
        raise CourseDataError(
            f"Unknown label {bad!r} in column 'label' (row {int(ids.isna().to_numpy().argmax())}); "
            f"expected one of {LABELS}."
        )
    return ids.astype(int).to_numpy()


def to_dataset(df: pd.DataFrame):
    """A ``datasets.Dataset`` with ``label`` as ``ClassLabel(names=LABELS)`` in that order."""
    import datasets

    if "label" not in df.columns:
        raise CourseArgumentError(
            f"to_dataset needs a 'label' column; found {list(df.columns)}."
        )
    frame = df.reset_index(drop=True).copy()
    frame["label"] = label_ids(frame["label"])
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype).startswith("str"):
            frame[column] = frame[column].astype(str)
    dataset = datasets.Dataset.from_pandas(frame, preserve_index=False)
    return dataset.cast_column("label", datasets.ClassLabel(names=list(LABELS)))


def to_dataset_dict(df: pd.DataFrame, split_col: str = "split"):
    """A ``datasets.DatasetDict`` with one ``Dataset`` per value of ``split_col``."""
    import datasets

    if split_col not in df.columns:
        raise CourseArgumentError(
            f"to_dataset_dict needs a {split_col!r} column; found {list(df.columns)}."
        )
    present = list(df[split_col].unique())
    order = [s for s in SPLITS if s in present] + sorted(s for s in present if s not in SPLITS)
    return datasets.DatasetDict({s: to_dataset(df[df[split_col] == s]) for s in order})
