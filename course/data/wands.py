"""WANDS (Wayfair ANnotation DataSet, MIT licence): queries, products and graded labels.

Files (tab-separated, as in github.com/wayfair/WANDS ``dataset/``):

* ``query.csv``: query_id, query, query_class
* ``label.csv``: id, query_id, product_id, label (Exact / Partial / Irrelevant)
* ``product.csv``: product_id, product_name, product_class, category hierarchy,
  product_description, product_features, rating_count, average_rating, review_count

Duplicate policy: ``label.csv`` has 1,575 rows that repeat a (query, product)
pair, 14 of those pairs with conflicting labels. We keep one row per pair with the
*most frequent* label; a tie goes to the *less* relevant grade (Partial over
Exact, Irrelevant over Partial), because a grader who doubted is evidence against
the higher grade. Both counts are in the cleaning report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from course import config
from course.data.common import (
    LABELS,
    PAIR_COLUMNS,
    CleaningReport,
    check_labels,
    check_not_null,
    read_table,
    resolve_root,
)
from course.data.download import download_file
from course.data.splits import split_queries
from course.errors import CourseDataError

WANDS_URL = "https://raw.githubusercontent.com/wayfair/WANDS/main/dataset/"
# name: (sha256 or None when no value is pinned, size in bytes or None)
WANDS_FILES = {
    "query.csv": ("63b61660560fecc33ec490804c7e2b81402ee3e7c31a9cbb5e03736639f68e95", None),
    "label.csv": ("c11fe81ad62f17f56f316b0ec9630ebe8fbe1393578cb0ca4f05c17253a180ef", None),
    "product.csv": (None, 90_621_131),
}
QUERY_COLUMNS = ["query_id", "query", "query_class"]
LABEL_COLUMNS = ["id", "query_id", "product_id", "label"]
PRODUCT_COLUMNS = [
    "product_id", "product_name", "product_class", "category hierarchy", "product_description",
    "product_features", "rating_count", "average_rating", "review_count",
]
HOW_TO_GET = (
    "Get the WANDS files from https://github.com/wayfair/WANDS (folder dataset/) and put "
    "query.csv, label.csv and product.csv in $COURSE_DATA_DIR/wands/, or call "
    "load_wands(download=True) where a network exists."
)


@dataclass
class WandsData:
    """WANDS tables: ``pairs`` has one row per labelled (query, product) pair."""

    queries: pd.DataFrame
    labels: pd.DataFrame
    products: pd.DataFrame | None
    pairs: pd.DataFrame
    report: CleaningReport
    folder: Path


def wands_file(name: str, root=None, download: bool = True, base_url: str | None = None) -> Path:
    """Path of one WANDS file: local (root or COURSE_DATA_DIR), cached, or downloaded."""
    folder, _ = resolve_root("wands", root, "label.csv")
    for candidate in (folder / name, config.cache_dir() / "wands" / name):
        if candidate.is_file():
            return candidate
    if not download:
        raise CourseDataError(f"WANDS file {folder / name} is missing. {HOW_TO_GET}")
    sha256, size = WANDS_FILES[name]
    return download_file((base_url or WANDS_URL) + name, config.cache_dir() / "wands" / name, sha256, size=size)


def read_wands_queries(path: str | Path) -> pd.DataFrame:
    """``query.csv`` as a DataFrame (query_id as int)."""
    queries = read_table(path, "\t", QUERY_COLUMNS, dtype={"query": str, "query_class": str})
    check_not_null(queries, ["query_id", "query"], path)
    queries["query_id"] = _integers(queries["query_id"], path, "query_id")
    return queries


def read_wands_labels(path: str | Path) -> pd.DataFrame:
    """``label.csv`` as a DataFrame, every label checked against Exact/Partial/Irrelevant."""
    labels = read_table(path, "\t", LABEL_COLUMNS, dtype={"label": str})
    check_not_null(labels, ["query_id", "product_id", "label"], path)
    for column in ("query_id", "product_id"):
        labels[column] = _integers(labels[column], path, column)
    labels["label"] = labels["label"].str.strip()
    check_labels(labels["label"], LABELS, path, "label")
    return labels


def read_wands_products(path: str | Path) -> pd.DataFrame:
    """``product.csv`` as a DataFrame with a ``text`` column (name. class. description)."""
    required = [c for c in PRODUCT_COLUMNS if c != "category hierarchy"]
    products = read_table(path, "\t", required, dtype={"product_name": str})
    products = products.rename(columns={"category_hierarchy": "category hierarchy"})
    check_not_null(products, ["product_id", "product_name"], path)
    products["product_id"] = _integers(products["product_id"], path, "product_id")
    parts = [products[c].fillna("").astype(str).str.strip() for c in ("product_name", "product_class", "product_description")]
    text = parts[0]
    for part in parts[1:]:
        text = text.where(part == "", text + ". " + part)
    products["text"] = text
    return products


def _integers(values: pd.Series, path, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | (numbers % 1 != 0)
    if bad.any():
        position = int(bad.to_numpy().argmax())
        raise CourseDataError(
            f"File {path}, line {position + 2}: column {column!r} holds {values.iloc[position]!r}, "
            "not a whole number. Fix that line or download the file again."
        )
    return numbers.astype("int64")


def resolve_duplicates(labels: pd.DataFrame, report: CleaningReport | None = None) -> pd.DataFrame:
    """One row per (query_id, product_id): majority label, ties to the less relevant grade."""
    rank = {name: i for i, name in enumerate(LABELS)}  # larger = less relevant
    key = ["query_id", "product_id"]
    counts = labels.groupby(key + ["label"], sort=False).size().rename("votes").reset_index()
    counts["rank"] = counts["label"].map(rank)
    counts = counts.sort_values(key + ["votes", "rank"], ascending=[True, True, False, False])
    winners = counts.drop_duplicates(key, keep="first")[key + ["label"]]
    n_conflicts = int((counts.groupby(key).size() > 1).sum())
    first = labels.drop_duplicates(key, keep="first").drop(columns="label")
    kept = first.merge(winners, on=key, how="left")
    if report is not None:
        report.add("duplicate (query, product) rows", len(labels) - len(kept),
                   note="one row kept per pair")
        report.add("pairs with conflicting labels", n_conflicts, kind="fix",
                   note="majority label; a tie goes to the less relevant grade")
    return kept


def load_wands(
    root: str | Path | None = None,
    download: bool = True,
    products: bool = True,
    seed: int = 0,
    base_url: str | None = None,
) -> WandsData:
    """Load WANDS from ``root``, ``COURSE_DATA_DIR``, or the cache (downloading into it).

    Args:
        root: a folder with the three files (or with a ``wands/`` folder holding them).
        download: fetch missing files into the cache, checking their sha256.
        products: also load ``product.csv`` (90 MB) for the product text. With
            False, ``products`` is None and ``pairs.product_text`` is empty.
        seed: seed of the train/valid/test split by query.
        base_url: where to download from (tests point it at a local server).

    Raises:
        CourseDataError: a file is missing (and cannot be downloaded) or malformed.
    """
    query_path = wands_file("query.csv", root, download, base_url)
    label_path = wands_file("label.csv", root, download, base_url)
    queries = split_queries(read_wands_queries(query_path), seed=seed)
    raw = read_wands_labels(label_path)
    report = CleaningReport(str(label_path), rows_in=len(raw))
    labels = resolve_duplicates(raw, report)
    known = labels["query_id"].isin(queries["query_id"])
    report.add("labels of a query_id not in query.csv", int((~known).sum()))
    labels = labels[known]
    product_table = None
    if products:
        try:
            product_path = wands_file("product.csv", root, download, base_url)
        except CourseDataError as exc:
            raise CourseDataError(
                f"{exc} To work with queries and labels only, call load_wands(products=False)."
            ) from exc
        product_table = read_wands_products(product_path)
        known = labels["product_id"].isin(product_table["product_id"])
        report.add("labels of a product_id not in product.csv", int((~known).sum()))
        labels = labels[known]
    labels = labels.reset_index(drop=True)
    pairs = labels.merge(queries[["query_id", "query", "split"]], on="query_id", how="left")
    pairs["family"] = "unknown"
    if product_table is not None:
        text = product_table[["product_id", "text"]].rename(columns={"text": "product_text"})
        pairs = pairs.merge(text, on="product_id", how="left")
    else:
        pairs["product_text"] = None
    return WandsData(queries, labels, product_table, pairs[PAIR_COLUMNS], report, Path(label_path).parent)


__all__ = ["WANDS_FILES", "WandsData", "load_wands", "read_wands_labels", "read_wands_products",
           "read_wands_queries", "resolve_duplicates", "wands_file"]
