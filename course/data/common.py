"""Shared pieces of the data layer: labels, gains, root resolution, checked reading, reports.

Every reader here turns bad input into a :class:`~course.errors.CourseDataError`
whose message names the file, the line or column, and what to do about it.
"""

from __future__ import annotations

import gzip
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from course import config
from course.data.records import (
    RowSource,
    check_record_count,
    field_count_error,
    first_bad_row,
    scan_records,
)
from course.errors import CourseDataError

__all__ = [
    "DELIMITER_NAMES",
    "FAMILIES",
    "GAINS",
    "GZIP_MAGIC",
    "LABELS",
    "PAIR_COLUMNS",
    "SPLITS",
    "ZIP_MAGIC",
    "CleaningReport",
    "candidate_paths",
    "check_labels",
    "check_not_null",
    "data_dir_problem",
    "data_root",
    "decode_utf8",
    "open_bytes",
    "raise_if_empty",
    "read_records",
    "read_table",
    "resolve_duplicates",
    "resolve_root",
]

# The course's three relevance grades, most relevant first (the class order of every
# model), and the gain of each grade for NDCG. The one home of both: import them.
LABELS = ["Exact", "Partial", "Irrelevant"]
GAINS = {"Exact": 1.0, "Partial": 0.5, "Irrelevant": 0.0}
FAMILIES = ("lexical", "synonym", "paraphrase", "typo")
SPLITS = ("train", "valid", "test")
PAIR_COLUMNS = ["query_id", "query", "family", "product_id", "product_text", "label", "split"]

DELIMITER_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}


@dataclass
class CleaningReport:
    """What a loader did to the raw rows: one entry per rule, with its count.

    ``rows_in - sum(dropped) == rows_out`` holds for the rules of kind ``drop``;
    rules of kind ``fix`` or ``info`` change or describe rows without dropping them.
    """

    source: str
    rows_in: int = 0
    rules: list[tuple[str, str, int, str]] = field(default_factory=list)

    def add(self, rule: str, count: int, kind: str = "drop", note: str = "") -> None:
        """Record a rule (``kind`` is ``drop``, ``fix`` or ``info``) and its count."""
        self.rules.append((rule, kind, int(count), note))

    @property
    def dropped(self) -> int:
        """Rows removed by all ``drop`` rules together."""
        return sum(count for _, kind, count, _ in self.rules if kind == "drop")

    @property
    def rows_out(self) -> int:
        """Rows left after every ``drop`` rule."""
        return self.rows_in - self.dropped

    def count(self, rule: str) -> int:
        """The count recorded for ``rule``."""
        for name, _, value, _ in self.rules:
            if name == rule:
                return value
        raise KeyError(rule)

    def to_frame(self) -> pd.DataFrame:
        """The rules as a table: rule, kind, rows, note."""
        return pd.DataFrame(self.rules, columns=["rule", "kind", "rows", "note"])

    def __str__(self) -> str:
        width = max([len(r[0]) for r in self.rules] + [24])
        lines = [f"Cleaning report: {self.source}", f"  {'rows read':<{width}} {self.rows_in:>10,}"]
        for rule, kind, value, note in self.rules:
            sign = "-" if kind == "drop" else " "
            extra = f"  ({kind}{': ' + note if note else ''})"
            lines.append(f"  {rule:<{width}} {sign}{value:>9,}{extra}")
        lines.append(f"  {'rows kept':<{width}} {self.rows_out:>10,}")
        return "\n".join(lines)


def data_dir_problem() -> str | None:
    """What is wrong with ``COURSE_DATA_DIR`` (it is missing or not a folder), or None."""
    folder = config.data_dir()
    if folder is None or folder.is_dir():
        return None
    what = "is a file, not a folder" if folder.exists() else "does not exist"
    return (
        f"COURSE_DATA_DIR={folder} {what}. Point it at the folder that holds wands/, "
        "esci_sample/ and online_retail/, or unset it to use the download cache."
    )


def data_root() -> Path | None:
    """The folder named by ``COURSE_DATA_DIR``, checked; None when it is not set.

    Raises:
        CourseDataError: ``COURSE_DATA_DIR`` is set but missing or not a folder.
    """
    problem = data_dir_problem()
    if problem:
        raise CourseDataError(problem)
    return config.data_dir()


def candidate_paths(name: str, root: str | Path | None, filename: str) -> list[Path]:
    """Where ``filename`` of data set ``name`` may be, in order of preference.

    An explicit ``root`` (the data set folder itself or its parent) wins; otherwise
    ``COURSE_DATA_DIR`` is searched (checked by :func:`data_root`). The download
    cache is not included.
    """
    base = Path(root).expanduser() if root is not None else data_root()
    if base is None:
        return []
    return [base / filename, base / name / filename]


def resolve_root(name: str, root: str | Path | None, marker: str) -> tuple[Path, str]:
    """Where a data set lives: explicit ``root`` > ``COURSE_DATA_DIR`` > the cache.

    ``root`` may be the data set folder itself (it holds ``marker``) or its parent
    (it holds ``name/marker``). Returns the folder and where it came from
    (``"argument"``, ``"COURSE_DATA_DIR"`` or ``"cache"``); the folder may not exist yet.
    """
    origin = "argument" if root is not None else "COURSE_DATA_DIR"
    for path in candidate_paths(name, root, marker):
        if path.exists():
            return path.parent, origin
    if root is not None:
        base = Path(root).expanduser()
        return (base if base.name == name else base / name), "argument"
    return config.cache_dir() / name, "cache"


GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


def open_bytes(path: Path) -> bytes:
    """The bytes of a data file, decompressed when it is named ``.gz``.

    Raises:
        CourseDataError: the file is missing, not valid gzip, or compressed under a
            plain name.
    """
    if not path.is_file():
        raise CourseDataError(
            f"File {path} does not exist. Check the path, set COURSE_DATA_DIR to the folder "
            "that holds the data sets, or let the loader download it (download=True)."
        )
    raw = path.read_bytes()
    if path.suffix == ".gz":
        return _gunzip(raw, path)
    if raw.startswith(GZIP_MAGIC):
        raise CourseDataError(
            f"File {path}: this file is compressed (gzip data under a plain name); name it .gz "
            f"or decompress it (gunzip -c {path.name} > plain.csv)."
        )
    if raw.startswith(ZIP_MAGIC):
        raise CourseDataError(
            f"File {path}: this file is compressed (a zip archive); decompress it (unzip) and "
            "point to the file inside."
        )
    return raw


def _gunzip(raw: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        hint = " (it is a zip archive: unzip it)" if raw.startswith(ZIP_MAGIC) else ""
        raise CourseDataError(
            f"File {path} is not a valid gzip file{hint} ({exc}). Delete it and download it "
            "again."
        ) from exc


def decode_utf8(raw: bytes, path: Path) -> str:
    """Decode ``raw`` as UTF-8 (a BOM is allowed) or raise naming the line and byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CourseDataError(
            f"File {path}, line {line}, character {column}: byte 0x{raw[exc.start]:02x} is not "
            "valid UTF-8. Re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8) or "
            "download a fresh copy."
        ) from exc


def _check_header(header: str, sep: str, required: list[str], path: Path) -> None:
    columns = [c.strip().strip('"') for c in header.split(sep)]
    missing = [c for c in required if c not in columns]
    if not missing:
        return
    expected = DELIMITER_NAMES.get(sep, repr(sep))
    for other, other_name in DELIMITER_NAMES.items():
        fits_other = len(header.split(other)) >= len(required)
        if other != sep and fits_other and len(columns) < len(required):
            raise CourseDataError(
                f"File {path} looks {other_name}-separated, but it must be {expected}-separated "
                f"(header line: {header[:120]!r}). Save it with {expected} delimiters or use "
                "the original file."
            )
    raise CourseDataError(
        f"File {path} lacks the column(s) {missing} (found: {columns}). Rename the column(s) "
        "in the header line, or use the original, unmodified file."
    )


def read_records(
    path: str | Path, sep: str, required: list[str], **read_csv_kwargs
) -> tuple[pd.DataFrame, RowSource]:
    """Read a delimited UTF-8 text file (plain or .gz), check it, and say where each row starts.

    The parsed row count is cross-checked against a quote-aware count of the
    file's records, so a stray quote cannot swallow rows unnoticed.

    Returns:
        The frame and a :class:`RowSource` with the physical line of every row.

    Raises:
        CourseDataError: the file is missing, empty, compressed under a plain name,
            not UTF-8, has the wrong delimiter, lacks a required column, has a
            malformed line, or its records do not match the parsed rows.
    """
    path = Path(path)
    raw = open_bytes(path)
    text = decode_utf8(raw, path)
    if not text.strip():
        raise CourseDataError(
            f"File {path} is empty. Delete it and download it again, or point to the full file."
        )
    header = text.lstrip("\r\n").split("\n", 1)[0].rstrip("\r")
    _check_header(header, sep, required, path)
    rows = scan_records(raw, sep, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), sep=sep, index_col=False, **read_csv_kwargs)
    except (pd.errors.ParserWarning, pd.errors.ParserError) as exc:
        raise field_count_error(rows) or CourseDataError(
            f"File {path} could not be parsed: {exc}. Fix or remove that line (check for a "
            "stray delimiter or quote), or download the file again."
        ) from exc
    if frame.empty:
        raise CourseDataError(
            f"File {path} has a header but no data rows. Download it again or point to the "
            "full file."
        )
    check_record_count(rows, len(frame))
    return frame, rows


def read_table(path: str | Path, sep: str, required: list[str], **read_csv_kwargs) -> pd.DataFrame:
    """Read a delimited UTF-8 text file (plain or .gz) and check it (see :func:`read_records`).

    Raises:
        CourseDataError: the file is missing, empty, not UTF-8, has the wrong
            delimiter, lacks a required column, or has a malformed line.
    """
    return read_records(path, sep, required, **read_csv_kwargs)[0]


def check_not_null(frame: pd.DataFrame, columns: list[str], rows: RowSource) -> None:
    """Raise naming the first line where a required value is missing."""
    for column in columns:
        first_bad_row(frame[column].isna(), rows, column, "holds {cell}, read as a missing value",
                      "Fill it in or remove that line, or download the file again.")


def check_labels(
    values: pd.Series, allowed: list[str] | set[str], rows: RowSource, column: str
) -> None:
    """Raise naming the line and value of the first label outside ``allowed``."""
    first_bad_row(
        ~values.isin(list(allowed)), rows, column,
        f"has the unknown label {{cell}}; expected one of {sorted(allowed)}",
        "Correct that line, or pass a label_map that covers it.", values,
    )


def resolve_duplicates(labels: pd.DataFrame, report: CleaningReport | None = None) -> pd.DataFrame:
    """One row per (query_id, product_id): majority label, ties to the less relevant grade.

    The other columns come from the pair's first row; the column order is kept.
    Both counts (repeated rows, pairs with conflicting labels) go into ``report``.
    """
    rank = {name: i for i, name in enumerate(LABELS)}  # larger = less relevant
    key = ["query_id", "product_id"]
    counts = labels.groupby(key + ["label"], sort=False).size().rename("votes").reset_index()
    counts["rank"] = counts["label"].map(rank)
    counts = counts.sort_values(key + ["votes", "rank"], ascending=[True, True, False, False])
    winners = counts.drop_duplicates(key, keep="first")[key + ["label"]]
    n_conflicts = int((counts.groupby(key).size() > 1).sum())
    first = labels.drop_duplicates(key, keep="first").drop(columns="label")
    kept = first.merge(winners, on=key, how="left")[list(labels.columns)]
    if report is not None:
        report.add("duplicate (query, product) rows", len(labels) - len(kept),
                   note="one row kept per pair")
        report.add("pairs with conflicting labels", n_conflicts, kind="fix",
                   note="majority label; a tie goes to the less relevant grade")
    return kept


def raise_if_empty(report: CleaningReport, hints: dict | None = None) -> None:
    """Raise when no row is left after the loader's filters, with the count of every filter.

    The likely cause is the filter that removed the most rows; ``hints`` maps a
    rule to a sentence that explains it, or to a function that returns one (called
    only when the error is raised).
    """
    if report.rows_out > 0:
        return
    drops = [(rule, count) for rule, kind, count, _ in report.rules if kind == "drop"]
    counts = "; ".join(f"{rule}: {count:,}" for rule, count in drops)
    cause = max(drops, key=lambda item: item[1])[0] if drops else ""
    hint = (hints or {}).get(cause, f"most rows were dropped by the rule {cause!r}")
    hint = hint() if callable(hint) else hint
    raise CourseDataError(
        f"{report.source}: no rows are left after cleaning ({report.rows_in:,} read; {counts}). "
        f"Likely cause: {hint}."
    )
