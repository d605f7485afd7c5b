"""Amazon Shopping Queries (ESCI, Apache-2.0), mapped to the course's three grades.

ESCI grades each (query, product) pair as E (exact), S (substitute), C
(complement) or I (irrelevant). The course maps them, by default, to:

* E -> Exact;
* S -> Partial (a substitute partly meets the need: wrong brand, size, ...);
* C -> Irrelevant (a complement, such as a case for the phone asked for, does not
  meet the need itself; ESCI's own gains, E=1, S=0.1, C=0.01, I=0, also put C
  next to I);
* I -> Irrelevant.

Pass ``label_map`` (keys: letters or full names) to change any of these.

Files: either ``esci_sample.csv`` (every column inline, as in the course's
200-row sample) or the two parquet files of github.com/amazon-science/esci-data
(``shopping_queries_dataset_examples.parquet`` and ``..._products.parquet``).

Duplicate policy: rows that repeat a (query_id, product_id) pair are
**de-duplicated** with the WANDS rule (one row per pair, the majority grade, a tie
to the less relevant grade); the cleaning report counts the repeated rows and the
pairs whose grades conflict. ``product_locale`` is matched without regard to case
or surrounding spaces (ESCI's own values are ``us``, ``es`` and ``jp``); the report
counts the rows whose spelling differs. A load that keeps no row is an error that
gives the count of every filter and the locales the file does hold.
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
    check_not_null,
    data_root,
    raise_if_empty,
    read_records,
    resolve_duplicates,
)
from course.data.download import download_file
from course.data.records import RowSource, first_bad_row, table_rows
from course.data.splits import split_queries
from course.errors import CourseArgumentError, CourseDataError

ESCI_URL = "https://github.com/amazon-science/esci-data/raw/main/shopping_queries_dataset/"
EXAMPLES = "shopping_queries_dataset_examples.parquet"
PRODUCTS = "shopping_queries_dataset_products.parquet"
SAMPLE = "esci_sample.csv"
LETTERS = {"Exact": "E", "Substitute": "S", "Complement": "C", "Irrelevant": "I"}
DEFAULT_LABEL_MAP = {"E": "Exact", "S": "Partial", "C": "Irrelevant", "I": "Irrelevant"}
EXAMPLE_COLUMNS = ["query", "query_id", "product_id", "product_locale", "esci_label"]
TEXT_COLUMNS = ["product_title", "product_brand", "product_color", "product_description",
                "product_bullet_point"]
HOW_TO_GET = (
    "Get the ESCI parquet files from https://github.com/amazon-science/esci-data "
    "(folder shopping_queries_dataset/) into $COURSE_DATA_DIR/esci/, or call "
    "load_esci(download=True) where a network exists (about 1 GB)."
)


@dataclass
class EsciData:
    """ESCI rows (``examples``) and ``pairs`` in the course's shape."""

    examples: pd.DataFrame
    pairs: pd.DataFrame
    report: CleaningReport
    label_map: dict[str, str]
    source: Path


def esci_label_map(label_map: dict[str, str] | None = None) -> dict[str, str]:
    """The E/S/C/I -> course grade mapping, with ``label_map`` overriding the default."""
    merged = dict(DEFAULT_LABEL_MAP)
    for key, value in (label_map or {}).items():
        letter = LETTERS.get(key, key)
        if letter not in DEFAULT_LABEL_MAP or value not in LABELS:
            raise CourseArgumentError(
                f"label_map entry {key!r}: {value!r} is not valid. Keys are E, S, C, I (or "
                f"Exact, Substitute, Complement, Irrelevant); values are one of {LABELS}."
            )
        merged[letter] = value
    return merged


def find_esci(root: str | Path | None = None) -> Path | None:
    """The ESCI source found locally: the examples parquet, or ``esci_sample.csv``; else None."""
    bases = [Path(root).expanduser()] if root is not None else []
    folder = data_root() if root is None else None
    if folder is not None:
        bases.append(folder)
    bases.append(config.cache_dir())
    relative = [EXAMPLES, f"esci/{EXAMPLES}", SAMPLE, f"esci_sample/{SAMPLE}"]
    for base in bases:
        for rel in relative:
            if (base / rel).is_file():
                return base / rel
    return None


def strip_html(text: pd.Series) -> pd.Series:
    """Remove HTML tags and collapse white space."""
    text = text.fillna("").astype(str).str.replace(r"<[^>]+>", " ", regex=True)
    return text.str.replace(r"\s+", " ", regex=True).str.strip()


def product_text(frame: pd.DataFrame) -> pd.Series:
    """Title, brand, colour, description and bullet points as one clean string."""
    parts = [strip_html(frame[c]) for c in TEXT_COLUMNS if c in frame.columns]
    if not parts:
        raise CourseDataError(f"ESCI products need at least one of the columns {TEXT_COLUMNS}.")
    text = parts[0]
    for part in parts[1:]:
        text = text.where(part == "", text + ". " + part)
    return text.str.replace(r"\.\. ", ". ", regex=True)


def read_esci_sample(path: str | Path) -> tuple[pd.DataFrame, RowSource]:
    """The inline CSV (examples joined with products), columns checked, and its row lines."""
    frame, rows = read_records(path, ",", EXAMPLE_COLUMNS + ["product_title"],
                               dtype={"product_id": str, "query": str, "esci_label": str})
    check_not_null(frame, ["query", "query_id", "product_id", "esci_label"], rows)
    return frame, rows


def read_esci_parquet(examples_path: Path, products_path: Path) -> tuple[pd.DataFrame, RowSource]:
    """The two parquet files, joined on (product_id, product_locale)."""
    frames = []
    for path in (examples_path, products_path):
        if not path.is_file():
            raise CourseDataError(f"ESCI file {path} is missing. {HOW_TO_GET}")
        try:
            frames.append(pd.read_parquet(path))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds
            raise CourseDataError(
                f"ESCI file {path} is not readable parquet ({exc}). Download it again."
            ) from exc
    examples, products = frames
    missing = [c for c in EXAMPLE_COLUMNS if c not in examples.columns]
    if missing:
        raise CourseDataError(
            f"File {examples_path} lacks the column(s) {missing}. Download it again."
        )
    joined = examples.merge(products, on=["product_id", "product_locale"], how="left")
    return joined, table_rows(examples_path, first_row=1)


def load_esci(
    root: str | Path | None = None,
    download: bool = True,
    label_map: dict[str, str] | None = None,
    locale: str | None = "us",
    seed: int = 0,
    base_url: str | None = None,
) -> EsciData:
    """Load ESCI and map its grades to Exact/Partial/Irrelevant.

    Args:
        root: a folder with the parquet files or ``esci_sample.csv``.
        download: fetch the parquet files into the cache when nothing is found.
        label_map: overrides of the default E/S/C/I mapping (see the module doc).
        locale: keep rows of this ``product_locale`` (``us``, ``es``, ``jp``); None keeps all.
        seed: seed of the split by query (the data's own test split is kept when present).
        base_url: where to download from (tests point it at a local server).
    """
    mapping = esci_label_map(label_map)
    if locale is not None and not isinstance(locale, str):
        raise CourseArgumentError(f"locale must be a string such as 'us', or None; got {locale!r}.")
    source = find_esci(root)
    if source is None:
        if not download:
            raise CourseDataError(
                f"No ESCI data found (root={root}, COURSE_DATA_DIR={config.data_dir()}). "
                f"{HOW_TO_GET}"
            )
        folder = config.cache_dir() / "esci"
        for name in (EXAMPLES, PRODUCTS):
            download_file((base_url or ESCI_URL) + name, folder / name, None)
        source = folder / EXAMPLES
    if source.suffix == ".parquet":
        raw, rows = read_esci_parquet(source, source.with_name(PRODUCTS))
    else:
        raw, rows = read_esci_sample(source)
    report = CleaningReport(str(source), rows_in=len(raw))
    raw["esci_label"] = raw["esci_label"].astype(str).str.strip()
    letters = raw["esci_label"].map(lambda v: LETTERS.get(v, v))
    first_bad_row(~letters.isin(list(mapping)), rows, "esci_label",
                  "has the unknown label {cell}; expected E, S, C or I (or their full names)",
                  "Correct that row, or download the file again.", raw["esci_label"])
    keep = _locale_filter(raw, locale, report)
    examples = raw[keep].copy()
    examples["label"] = letters[keep].map(mapping)
    examples["product_text"] = product_text(examples)
    no_text = examples["product_text"] == ""
    report.add("product without any text", int(no_text.sum()))
    examples = examples[~no_text].reset_index(drop=True)
    kept_letters = letters[keep][~no_text.to_numpy()]
    if examples.duplicated(["query_id", "product_id"]).any():
        examples = resolve_duplicates(examples, report)
        kept_letters = examples["esci_label"].map(lambda v: LETTERS.get(v, v))
    else:  # the same two counts, without the cost of grouping
        report.add("duplicate (query, product) rows", 0, note="one row kept per pair")
        report.add("pairs with conflicting labels", 0, kind="fix")
    raise_if_empty(report, {_locale_rule(locale): lambda: _locale_hint(raw, locale)})
    for grade in "ESCI":
        report.add(f"ESCI {grade} -> {mapping[grade]}", int((kept_letters == grade).sum()),
                   kind="info")
    pairs = _esci_pairs(examples, seed)
    return EsciData(examples, pairs, report, mapping, source)


def _locale_rule(locale: str | None) -> str:
    return f"product_locale other than {locale!r}"


def _locale_filter(raw: pd.DataFrame, locale: str | None, report: CleaningReport) -> pd.Series:
    """Rows of ``locale`` (case and surrounding spaces ignored); every row when None."""
    if locale is None:
        return pd.Series(True, index=raw.index)
    values = raw["product_locale"]
    wanted = locale.strip().lower()
    keep = (values == wanted).fillna(False).to_numpy(dtype=bool)
    # Other spellings: fold the few distinct values of the other rows, not every row.
    others = pd.unique(values[~keep]) if not keep.all() else []
    respelled = [v for v in others if isinstance(v, str) and v.strip().lower() == wanted]
    if respelled:
        again = values.isin(respelled).to_numpy()
        keep = keep | again
        report.add("product_locale in another case or with spaces", int(again.sum()), kind="fix",
                   note=f"matched to {locale!r} regardless of case")
    report.add(_locale_rule(locale), int((~keep).sum()))
    return pd.Series(keep, index=raw.index)


def _locale_hint(raw: pd.DataFrame, locale: str | None) -> str:
    counts = raw["product_locale"].astype("string").fillna("<empty>").value_counts()
    found = ", ".join(f"{value!r} ({count:,})" for value, count in counts.head(5).items())
    return (f"no row has product_locale {locale!r}; found {found}. Pass one of those as "
            "locale=..., or locale=None to keep every locale")


def _esci_pairs(examples: pd.DataFrame, seed: int) -> pd.DataFrame:
    queries = examples[["query_id", "query"]].drop_duplicates("query_id")
    if "split" in examples.columns:  # the full data set has train/test by query
        original = examples.drop_duplicates("query_id").set_index("query_id")["split"]
        test_only = queries["query_id"].map(original).where(lambda s: s == "test")
        queries = queries.assign(split=test_only)
        queries = split_queries(queries, valid=0.15 / 0.85, test=0.0, seed=seed, keep_existing=True)
    else:
        queries = split_queries(queries, seed=seed)
    pairs = examples[["query_id", "product_id", "product_text", "label"]].merge(
        queries[["query_id", "query", "split"]], on="query_id", how="left")
    pairs["family"] = "unknown"
    return pairs[PAIR_COLUMNS]


__all__ = ["DEFAULT_LABEL_MAP", "EsciData", "esci_label_map", "find_esci", "load_esci",
           "product_text", "read_esci_sample", "strip_html"]
