"""Shared pieces of the data layer: labels, root resolution, checked CSV reading, reports.

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
from course.errors import CourseDataError

LABELS = ["Exact", "Partial", "Irrelevant"]
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


def resolve_root(name: str, root: str | Path | None, marker: str) -> tuple[Path, str]:
    """Where a data set lives: explicit ``root`` > ``COURSE_DATA_DIR`` > the cache.

    ``root`` may be the data set folder itself (it holds ``marker``) or its parent
    (it holds ``name/marker``). Returns the folder and where it came from
    (``"argument"``, ``"COURSE_DATA_DIR"`` or ``"cache"``); the folder may not exist yet.
    """
    candidates: list[tuple[Path, str]] = []
    if root is not None:
        candidates.append((Path(root).expanduser(), "argument"))
    elif config.data_dir() is not None:
        candidates.append((config.data_dir(), "COURSE_DATA_DIR"))
    for base, origin in candidates:
        if (base / marker).exists():
            return base, origin
        if (base / name / marker).exists():
            return base / name, origin
    if root is not None:
        base = Path(root).expanduser()
        return (base if base.name == name else base / name), "argument"
    return config.cache_dir() / name, "cache"


def _open_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise CourseDataError(
            f"File {path} does not exist. Check the path, set COURSE_DATA_DIR to the folder "
            "that holds the data sets, or let the loader download it (download=True)."
        )
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise CourseDataError(
                f"File {path} is not a valid gzip file ({exc}). Delete it and download it again."
            ) from exc
    return raw


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
        if other != sep and len(header.split(other)) >= len(required) and len(columns) < len(required):
            raise CourseDataError(
                f"File {path} looks {other_name}-separated, but it must be {expected}-separated "
                f"(header line: {header[:120]!r}). Save it with {expected} delimiters or use "
                "the original file."
            )
    raise CourseDataError(
        f"File {path} lacks the column(s) {missing} (found: {columns}). Rename the column(s) "
        "in the header line, or use the original, unmodified file."
    )


def read_table(path: str | Path, sep: str, required: list[str], **read_csv_kwargs) -> pd.DataFrame:
    """Read a delimited UTF-8 text file (plain or .gz) and check its columns.

    Raises:
        CourseDataError: the file is missing, empty, not UTF-8, has the wrong
            delimiter, lacks a required column, or has a malformed line.
    """
    path = Path(path)
    text = decode_utf8(_open_bytes(path), path)
    if not text.strip():
        raise CourseDataError(
            f"File {path} is empty. Delete it and download it again, or point to the full file."
        )
    header = text.split("\n", 1)[0].rstrip("\r")
    _check_header(header, sep, required, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), sep=sep, index_col=False, **read_csv_kwargs)
    except pd.errors.ParserWarning as exc:
        raise CourseDataError(
            f"File {path}, line 2 has more fields than the header line. Fix that line (check for "
            "a stray delimiter), or download the file again."
        ) from exc
    except pd.errors.ParserError as exc:
        raise CourseDataError(
            f"File {path} could not be parsed: {exc}. Fix or remove that line (check for a "
            "stray delimiter or quote), or download the file again."
        ) from exc
    if frame.empty:
        raise CourseDataError(
            f"File {path} has a header but no data rows. Download it again or point to the full file."
        )
    return frame


def check_not_null(frame: pd.DataFrame, columns: list[str], path: Path | str) -> None:
    """Raise naming the first line where a required value is missing."""
    for column in columns:
        missing = frame[column].isna()
        if missing.any():
            position = int(missing.to_numpy().argmax())
            raise CourseDataError(
                f"File {path}, line {position + 2}: column {column!r} is empty. Fill it in or "
                "remove that line, or download the file again."
            )


def check_labels(
    values: pd.Series, allowed: list[str] | set[str], path: Path | str, column: str
) -> None:
    """Raise naming the line and value of the first label outside ``allowed``."""
    bad = ~values.isin(list(allowed))
    if bad.any():
        position = int(bad.to_numpy().argmax())
        raise CourseDataError(
            f"File {path}, line {position + 2}: column {column!r} has the unknown label "
            f"{values.iloc[position]!r}; expected one of {sorted(allowed)}. Correct that line, "
            "or pass a label_map that covers it."
        )
