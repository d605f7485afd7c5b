"""UCI Online Retail: real transactions, cleaned into purchase sequences and item texts.

Cleaning rules, applied in this order; each row is counted under the first rule
that drops it, so the counts add up (see :class:`CleaningReport`):

1. missing CustomerID (guest checkouts cannot form a sequence);
2. cancellation: InvoiceNo starts with "C";
3. adjustment: InvoiceNo starts with "A" (bad-debt write-offs);
4. quantity <= 0 (returns and stock corrections);
5. unit price <= 0 (free samples and corrections);
6. missing Description;
7. non-product StockCode (postage, carriage, manual, bank charges, fees);
8. exact duplicate rows.

Quantity and UnitPrice must be finite numbers: ``inf``, ``-inf``, ``nan`` or an
empty cell is an error that names the line and shows the cell as the file has it.
A load that keeps no row is an error with the count of every rule.

Then descriptions are trimmed, and each StockCode gets one canonical text: its
most frequent description (ties: the alphabetically first). Sequences list each
customer's distinct items in the order of first purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course import config
from course.checksums import sha256_of
from course.data.common import CleaningReport, raise_if_empty, read_records, resolve_root
from course.data.records import RowSource, first_bad_row, table_rows
from course.errors import CourseDataError

COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
           "CustomerID", "Country"]
NON_PRODUCT_CODES = {"POST", "DOT", "C2", "M", "m", "BANK CHARGES", "AMAZONFEE", "D", "S", "B",
                     "CRUK"}
FILE_NAMES = ("online_retail.csv.gz", "online_retail.csv", "Online Retail.xlsx",
              "online_retail.xlsx")
HOW_TO_GET = (
    "Get it from the UCI repository (https://archive.ics.uci.edu/dataset/352/online+retail, "
    "'Online Retail.xlsx') or the R package onlineretail (csv), put it in "
    "$COURSE_DATA_DIR/online_retail/, or pass path=..."
)


@dataclass
class RetailData:
    """Clean Online Retail data for the recommender.

    Attributes:
        transactions: the clean rows, original columns plus ``Revenue``.
        interactions: one row per (user_id, product_id) first purchase, with timestamp.
        sequences: user_id -> list of product_ids in time order (a Series of lists).
        items: product_id -> canonical ``text``, number of description variants, buyers.
        report: the count for every cleaning rule.
    """

    transactions: pd.DataFrame
    interactions: pd.DataFrame
    sequences: pd.Series
    items: pd.DataFrame
    report: CleaningReport
    source: Path


def find_online_retail(root: str | Path | None = None, path: str | Path | None = None) -> Path:
    """The Online Retail file: ``path`` > ``root`` > ``COURSE_DATA_DIR`` (csv.gz, csv or xlsx)."""
    if path is not None:
        return Path(path).expanduser()
    for name in FILE_NAMES:
        folder, _ = resolve_root("online_retail", root, name)
        if (folder / name).is_file():
            return folder / name
    raise CourseDataError(
        f"No Online Retail file found (root={root}, COURSE_DATA_DIR={config.data_dir()}). "
        f"{HOW_TO_GET}"
    )


CACHE_VERSION = 2  # 2: non-finite numbers rejected; older caches are parsed again


def read_online_retail(path: str | Path, cache: bool = True) -> pd.DataFrame:
    """The raw rows, typed, from a csv(.gz) or the UCI xlsx; bad values name their line.

    With ``cache``, the typed rows are kept as parquet in the cache folder, keyed by
    the file's sha256, so the next load skips parsing.
    """
    path = Path(path)
    if not path.is_file():
        raise CourseDataError(f"File {path} does not exist. {HOW_TO_GET}")
    cached = None
    if cache:
        key = f"{sha256_of(path)[:20]}-v{CACHE_VERSION}"
        cached = config.cache_dir() / "online_retail" / f"parsed-{key}.parquet"
        if cached.is_file():
            return pd.read_parquet(cached)
    raw = _parse(path)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(cached.name + ".part")
        raw.to_parquet(tmp, index=False)
        tmp.replace(cached)
    return raw


def _parse(path: Path) -> pd.DataFrame:
    if path.suffix == ".xlsx":
        raw, rows = _read_xlsx(path)
    else:
        text_columns = ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country",
                        "InvoiceDate")
        raw, rows = read_records(path, ",", COLUMNS, dtype={c: str for c in text_columns})
    raw = raw[COLUMNS].copy()
    for column in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        raw[column] = raw[column].astype("string")
    raw["CustomerID"] = raw["CustomerID"].str.strip().str.replace(r"\.0$", "", regex=True)
    raw["StockCode"] = raw["StockCode"].str.strip()
    raw["InvoiceNo"] = raw["InvoiceNo"].str.strip()
    raw["Quantity"] = _numbers(raw["Quantity"], rows, "Quantity")
    raw["UnitPrice"] = _numbers(raw["UnitPrice"], rows, "UnitPrice")
    raw["InvoiceDate"] = _dates(raw["InvoiceDate"], rows)
    return raw


def _read_xlsx(path: Path) -> tuple[pd.DataFrame, RowSource]:
    try:
        raw = pd.read_excel(path, engine="openpyxl",
                            dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str})
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds
        raise CourseDataError(
            f"File {path} is not a readable xlsx workbook ({exc}). Download it again."
        ) from exc
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise CourseDataError(
            f"File {path} lacks the column(s) {missing} (found: {list(raw.columns)}). "
            "Use the original UCI workbook."
        )
    raw["InvoiceDate"] = pd.to_datetime(raw["InvoiceDate"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    for column in ("Description", "Country", "InvoiceNo", "StockCode", "CustomerID"):
        raw[column] = raw[column].astype("string")
    return raw, table_rows(path, first_row=2)  # row 1 of the sheet is the header


def _numbers(values: pd.Series, rows: RowSource, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=float, na_value=np.nan))
    first_bad_row(bad, rows, column, "holds {cell}, not a finite number",
                  "Fix that line or use the original file.", values)
    return numbers


def _dates(values: pd.Series, rows: RowSource) -> pd.Series:
    dates = pd.to_datetime(values, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    if dates.isna().any():  # other layouts, e.g. 12/1/2010 8:26
        retry = pd.to_datetime(values[dates.isna()], format="mixed", errors="coerce")
        dates = dates.fillna(retry)
    first_bad_row(dates.isna(), rows, "InvoiceDate",
                  "holds {cell}, not a date like 2010-12-01 08:26:00", "Fix that line.", values)
    return dates


def clean_online_retail(
    raw: pd.DataFrame, source: str = "online_retail", drop_non_products: bool = True
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the cleaning rules in order; return the clean rows and the report."""
    report = CleaningReport(source, rows_in=len(raw))
    frame = raw
    rules = [
        ("missing CustomerID",
         lambda f: f["CustomerID"].isna() | (f["CustomerID"].fillna("") == "")),
        ("cancellation (InvoiceNo starts with C)",
         lambda f: f["InvoiceNo"].fillna("").str.startswith("C")),
        ("adjustment (InvoiceNo starts with A)",
         lambda f: f["InvoiceNo"].fillna("").str.startswith("A")),
        ("quantity <= 0", lambda f: f["Quantity"] <= 0),
        ("unit price <= 0", lambda f: f["UnitPrice"] <= 0),
        ("missing Description",
         lambda f: f["Description"].isna() | (f["Description"].fillna("").str.strip() == "")),
    ]
    if drop_non_products:
        rules.append(("non-product StockCode (postage, fees, manual)",
                      lambda f: f["StockCode"].isin(NON_PRODUCT_CODES)))
    alive = pd.Series(True, index=frame.index)
    for name, rule in rules:
        drop = rule(frame).fillna(False).astype(bool) & alive
        report.add(name, int(drop.sum()))
        alive &= ~drop
    frame = frame[alive.to_numpy()]
    duplicate = frame.duplicated(keep="first").to_numpy()
    report.add("exact duplicate row", int(duplicate.sum()))
    frame = frame[~duplicate]
    raise_if_empty(report)
    frame = frame.copy()
    trimmed = frame["Description"].str.replace(r"\s+", " ", regex=True).str.strip()
    report.add("Description white space trimmed", int((trimmed != frame["Description"]).sum()),
               kind="fix")
    frame["Description"] = trimmed
    frame["Revenue"] = frame["Quantity"] * frame["UnitPrice"]
    return frame.reset_index(drop=True), report


def item_texts(transactions: pd.DataFrame) -> pd.DataFrame:
    """One canonical text per StockCode: its most frequent description (ties: alphabetical)."""
    counts = transactions.groupby(["StockCode", "Description"]).size().rename("n").reset_index()
    counts = counts.sort_values(["StockCode", "n", "Description"], ascending=[True, False, True])
    canonical = counts.drop_duplicates("StockCode")[["StockCode", "Description"]]
    variants = counts.groupby("StockCode").size().rename("n_descriptions")
    buyers = transactions.groupby("StockCode")["CustomerID"].nunique().rename("n_buyers")
    items = canonical.set_index("StockCode").join(variants).join(buyers).reset_index()
    return items.rename(columns={"StockCode": "product_id", "Description": "text"})


def make_sequences(interactions: pd.DataFrame) -> pd.Series:
    """user_id -> list of product_ids, in the (already time-sorted) order of ``interactions``."""
    users = interactions["user_id"].to_numpy()
    items = interactions["product_id"].astype(str).to_numpy()
    order = np.argsort(users, kind="stable")
    users, items = users[order], items[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    chunks = np.split(items, starts[1:])
    index = pd.Index(users[starts], name="user_id")
    return pd.Series([list(c) for c in chunks], index=index, name="items")


def load_online_retail(
    root: str | Path | None = None,
    path: str | Path | None = None,
    drop_non_products: bool = True,
    cache: bool = True,
) -> RetailData:
    """Load, clean and shape UCI Online Retail for the recommender.

    Args:
        root: a folder with ``online_retail.csv.gz`` (or an ``online_retail/`` folder).
        path: the file itself (csv, csv.gz, or the UCI ``Online Retail.xlsx``).
        drop_non_products: drop postage, fees and manual adjustments (rule 7).
        cache: keep the parsed file as parquet in the cache folder (keyed by sha256).

    Raises:
        CourseDataError: the file is missing or malformed.
    """
    source = find_online_retail(root, path)
    raw = read_online_retail(source, cache=cache)
    transactions, report = clean_online_retail(raw, str(source), drop_non_products)
    items = item_texts(transactions)
    report.add("StockCodes with several descriptions", int((items["n_descriptions"] > 1).sum()),
               kind="fix", note="most frequent description kept")
    interactions = (
        transactions.sort_values(["CustomerID", "InvoiceDate", "InvoiceNo"], kind="stable")
        .drop_duplicates(["CustomerID", "StockCode"], keep="first")
        .rename(columns={"CustomerID": "user_id", "StockCode": "product_id",
                         "InvoiceDate": "timestamp",
                         "Quantity": "quantity", "UnitPrice": "price"})
        [["user_id", "product_id", "timestamp", "quantity", "price"]]
        .reset_index(drop=True)
    )
    report.add("repeat purchases of an item by a customer", len(transactions) - len(interactions),
               kind="info", note="sequences keep the first purchase only")
    sequences = make_sequences(interactions)
    report.add("customers", len(sequences), kind="info")
    report.add("items", len(items), kind="info")
    return RetailData(transactions, interactions, sequences, items, report, source)


__all__ = ["NON_PRODUCT_CODES", "RetailData", "clean_online_retail", "find_online_retail",
           "item_texts", "load_online_retail", "read_online_retail"]
