"""WANDS (Wayfair ANnotation DataSet, MIT licence): queries, products and graded labels.

Files (tab-separated, as in github.com/wayfair/WANDS ``dataset/``):

* ``query.csv``: query_id, query, query_class
* ``label.csv``: id, query_id, product_id, label (Exact / Partial / Irrelevant)
* ``product.csv``: product_id, product_name, product_class, category hierarchy,
  product_description, product_features, rating_count, average_rating, review_count

Duplicate policy, per file:

* ``query.csv``: a repeated ``query_id`` is **rejected** (a :class:`CourseDataError`
  naming the id and both lines): one id with two rows cannot say which query its
  labels belong to, and its pairs would be counted twice.
* ``product.csv``: a repeated ``product_id`` is **de-duplicated**: the first row is
  kept, and the cleaning report counts the others (rule "repeated product_id rows").
* ``label.csv`` has 1,575 rows that repeat a (query, product) pair, 14 of those
  pairs with conflicting labels. We keep one row per pair with the *most frequent*
  label; a tie goes to the *less* relevant grade (Partial over Exact, Irrelevant
  over Partial), because a grader who doubted is evidence against the higher
  grade. Both counts are in the cleaning report.

Each file is found on its own (root > ``COURSE_DATA_DIR`` > cache), so a missing
``label.csv`` never sends ``query.csv`` to the cache; the error names the missing
file and every place it looked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course import config
from course.data.common import (
    LABELS,
    PAIR_COLUMNS,
    CleaningReport,
    candidate_paths,
    check_labels,
    check_not_null,
    raise_if_empty,
    read_records,
    resolve_duplicates,
)
from course.data.download import download_file
from course.data.records import RowSource, duplicate_note, first_bad_row, first_duplicate
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
UNKNOWN_QUERY = "labels of a query_id not in query.csv"
UNKNOWN_PRODUCT = "labels of a product_id not in product.csv"
REPEATED_PRODUCT = "repeated product_id rows in product.csv"
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
    """Path of one WANDS file: local (root or COURSE_DATA_DIR), cached, or downloaded.

    Each file is resolved on its own. Without ``download``, a missing file raises
    an error that names it and every place searched.
    """
    places = candidate_paths("wands", root, name) + [config.cache_dir() / "wands" / name]
    for candidate in places:
        if candidate.is_file():
            return candidate
    if not download:
        looked = ", ".join(str(p) for p in places)
        raise CourseDataError(f"WANDS file {name} is missing (looked in: {looked}). {HOW_TO_GET}")
    sha256, size = WANDS_FILES[name]
    url = (base_url or WANDS_URL) + name
    return download_file(url, config.cache_dir() / "wands" / name, sha256, size=size)


def read_wands_queries(path: str | Path) -> pd.DataFrame:
    """``query.csv`` as a DataFrame (query_id as int); a repeated query_id is rejected."""
    queries, rows = read_records(path, "\t", QUERY_COLUMNS,
                                 dtype={"query": str, "query_class": str})
    check_not_null(queries, ["query_id", "query"], rows)
    queries["query_id"] = _integers(queries["query_id"], rows, "query_id")
    first_duplicate(queries["query_id"], rows, "query_id",
                    "Remove or renumber one of the two rows, or download the file again.")
    return queries


def read_wands_labels(path: str | Path) -> pd.DataFrame:
    """``label.csv`` as a DataFrame, every label checked against Exact/Partial/Irrelevant."""
    labels, rows = read_records(path, "\t", LABEL_COLUMNS, dtype={"label": str})
    check_not_null(labels, ["query_id", "product_id", "label"], rows)
    for column in ("query_id", "product_id"):
        labels[column] = _integers(labels[column], rows, column)
    labels["label"] = labels["label"].str.strip()
    check_labels(labels["label"], LABELS, rows, "label")
    return labels


def read_wands_products(path: str | Path, report: CleaningReport | None = None) -> pd.DataFrame:
    """``product.csv`` with a ``text`` column (name. class. description), one row per product_id.

    A repeated product_id keeps its first row; ``report`` counts the others.
    """
    required = [c for c in PRODUCT_COLUMNS if c != "category hierarchy"]
    products, rows = read_records(path, "\t", required, dtype={"product_name": str})
    products = products.rename(columns={"category_hierarchy": "category hierarchy"})
    check_not_null(products, ["product_id", "product_name"], rows)
    products["product_id"] = _integers(products["product_id"], rows, "product_id")
    repeated = products["product_id"].duplicated(keep="first")
    if report is not None:
        report.add(REPEATED_PRODUCT, int(repeated.sum()), kind="info",
                   note=duplicate_note(products["product_id"], rows, "product_id"))
    if repeated.any():
        products = products[~repeated.to_numpy()].reset_index(drop=True)
    columns = ("product_name", "product_class", "product_description")
    parts = [products[c].fillna("").astype(str).str.strip() for c in columns]
    text = parts[0]
    for part in parts[1:]:
        text = text.where(part == "", text + ". " + part)
    products["text"] = text
    return products


def _integers(values: pd.Series, rows: RowSource, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers) | (numbers % 1 != 0)
    first_bad_row(bad, rows, column, "holds {cell}, not a whole number",
                  "Fix that line or download the file again.", values)
    return numbers.astype("int64")


def load_wands_products(root=None, download: bool = True, base_url: str | None = None,
                        report: CleaningReport | None = None) -> pd.DataFrame:
    """``product.csv`` found like the other files (see :func:`wands_file`) and read."""
    try:
        product_path = wands_file("product.csv", root, download, base_url)
    except CourseDataError as exc:
        raise CourseDataError(
            f"{exc} To work with queries and labels only, call load_wands(products=False)."
        ) from exc
    return read_wands_products(product_path, report)


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
    report.add(UNKNOWN_QUERY, int((~known).sum()))
    labels = labels[known]
    product_table = None
    if products:
        product_table = load_wands_products(root, download, base_url, report)
        known = labels["product_id"].isin(product_table["product_id"])
        report.add(UNKNOWN_PRODUCT, int((~known).sum()))
        labels = labels[known]
    raise_if_empty(report, {
        UNKNOWN_QUERY: f"no label's query_id is in {query_path}: are query.csv and label.csv "
                       "from the same WANDS release?",
        UNKNOWN_PRODUCT: "no label's product_id is in product.csv: are product.csv and "
                         "label.csv from the same WANDS release?",
    })
    labels = labels.reset_index(drop=True)
    pairs = labels.merge(queries[["query_id", "query", "split"]], on="query_id", how="left")
    pairs["family"] = "unknown"
    if product_table is not None:
        text = product_table[["product_id", "text"]].rename(columns={"text": "product_text"})
        pairs = pairs.merge(text, on="product_id", how="left")
    else:
        pairs["product_text"] = None
    folder = Path(label_path).parent
    return WandsData(queries, labels, product_table, pairs[PAIR_COLUMNS], report, folder)


__all__ = ["WANDS_FILES", "WandsData", "load_wands", "read_wands_labels", "read_wands_products",
           "load_wands_products", "read_wands_queries", "resolve_duplicates", "wands_file"]
