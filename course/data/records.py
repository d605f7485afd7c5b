"""Where each record of a delimited text file starts, and errors that name that line.

The CSV parser (pandas' C engine) is fast but says little about where a row came
from. :func:`scan_records` reads the same bytes the way that parser's dialect
defines records (a quote opens a quoted field only at the start of a field; ``""``
inside a quoted field is a literal quote; lines holding only spaces or tabs are
skipped; ``\\n``, ``\\r\\n`` and a lone ``\\r`` end a line). It returns a
:class:`RowSource` with the physical line where each data record starts, so:

* every message names the physical line (blank lines and the extra lines of
  quoted multi-line fields count);
* the parsed row count can be cross-checked against the records in the file;
* a stray quote that would swallow the following rows into one field is caught.

:func:`first_bad_row` and :func:`first_duplicate` are the one place where a loader
turns "row *i* is bad" into a :class:`~course.errors.CourseDataError`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from course.errors import CourseDataError

QUOTE = ord('"')
BOM = b"\xef\xbb\xbf"


@dataclass
class RowSource:
    """Where the rows of a table came from, to name them in error messages.

    Attributes:
        path: the file.
        lines: for a text file, the physical line (from 1) where each data row's
            record starts; None for sources without lines (xlsx, parquet).
        unit: ``"line"`` for text files, ``"row"`` for the others.
        first_row: without ``lines``: the number of the first data row
            (2 for a spreadsheet whose row 1 is the header, 1 for parquet).
        raw: the file's bytes (text files), to show a cell as the file has it.
        offsets: byte offset in ``raw`` where each data row's record starts.
        sep: the delimiter.
        header: the column names of the header line.
        header_line: the physical line of the header.
    """

    path: Path
    lines: np.ndarray | None = None
    unit: str = "line"
    first_row: int = 1
    raw: bytes = b""
    offsets: np.ndarray | None = None
    sep: str = ","
    header: list[str] = field(default_factory=list)
    header_line: int = 1

    @property
    def starts(self) -> np.ndarray:
        """``offsets``, or no offsets at all for sources without text (xlsx, parquet)."""
        return self.offsets if self.offsets is not None else np.empty(0, dtype=np.int64)

    def number(self, position: int) -> int:
        """The line (or row) number of the data row at ``position`` (from 0)."""
        if self.lines is not None:
            return int(self.lines[position])
        return int(position) + self.first_row

    def place(self, position: int) -> str:
        """``"File X, line N"`` for the data row at ``position``."""
        return f"File {self.path}, {self.unit} {self.number(position)}"

    def cell(self, position: int, column: str, value=None) -> str:
        """The cell as the file has it (the raw text); ``value`` for sources without text."""
        if self.offsets is None or column not in self.header:
            return "" if value is None or _is_missing(value) else str(value)
        start = int(self.offsets[position])
        stop = int(self.offsets[position + 1]) if position + 1 < len(self.offsets) else None
        text = self.raw[start:stop].decode("utf-8", errors="replace")
        fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=self.sep), [])
        index = self.header.index(column)
        return fields[index] if index < len(fields) else ""


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def table_rows(path: str | Path, first_row: int = 1) -> RowSource:
    """A :class:`RowSource` for a source without lines: rows numbered from ``first_row``."""
    return RowSource(Path(path), None, unit="row", first_row=first_row)


def first_bad_row(bad, rows: RowSource, column: str, problem: str, fix: str, values=None) -> None:
    """Raise :class:`CourseDataError` naming the first row where ``bad`` is true.

    Row numbering, the same in every loader: a row is named by the physical line of
    the file where its record starts, counting from 1 (the header is line 1 unless
    blank lines precede it; blank lines and the extra lines of quoted multi-line
    fields are counted). Sources without lines (xlsx, parquet) give their own row
    number instead (the spreadsheet row; the parquet row counted from 1).

    Args:
        bad: a boolean mask aligned with the rows as read (same length and order).
        rows: where the rows came from (:func:`scan_records` or :func:`table_rows`).
        column: the column that holds the bad value.
        problem: what is wrong, e.g. ``"holds {cell}, not a number"``; ``{cell}``
            becomes the cell as the file has it. An empty cell reads "is empty".
        fix: what to do about it.
        values: the column's values, shown for sources without text.
    """
    mask = np.asarray(bad, dtype=bool)
    if not mask.any():
        return
    position = int(mask.argmax())
    value = None if values is None else values.iloc[position]
    cell = rows.cell(position, column, value)
    what = "is empty" if cell.strip() == "" else problem.format(cell=repr(cell))
    raise CourseDataError(f"{rows.place(position)}: column {column!r} {what}. {fix}")


def _plain(value):
    """A numpy scalar as the Python value it holds (so messages show 7, not np.int64(7))."""
    return value.item() if isinstance(value, np.generic) else value


def first_duplicate(values: pd.Series, rows: RowSource, column: str, fix: str) -> None:
    """Raise :class:`CourseDataError` naming the first repeated value and both of its lines."""
    repeated = values.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return
    second = int(repeated.argmax())
    first = int((values == values.iloc[second]).to_numpy().argmax())
    raise CourseDataError(
        f"File {rows.path}, {rows.unit}s {rows.number(first)} and {rows.number(second)}: "
        f"{column} {_plain(values.iloc[second])!r} appears twice; each {column} must be "
        f"unique. {fix}"
    )


def duplicate_note(values: pd.Series, rows: RowSource, column: str) -> str:
    """A short note naming the first repeated value and its first two lines ('' if none)."""
    repeated = values.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return ""
    second = int(repeated.argmax())
    first = int((values == values.iloc[second]).to_numpy().argmax())
    return (f"first kept; e.g. {column} {_plain(values.iloc[second])!r} on {rows.unit}s "
            f"{rows.number(first)} and {rows.number(second)}")


def _terminators(raw: bytes, arr: np.ndarray) -> np.ndarray:
    """Positions of the bytes that end a line: ``\\n``, or a ``\\r`` not followed by ``\\n``."""
    newlines = np.flatnonzero(arr == ord("\n"))
    if b"\r" not in raw:
        return newlines
    returns = np.flatnonzero(arr == ord("\r"))
    after = returns + 1
    followed = np.zeros(len(returns), dtype=bool)
    inside = after < len(arr)
    followed[inside] = arr[after[inside]] == ord("\n")
    lone = returns[~followed]
    return np.sort(np.concatenate([newlines, lone])) if len(lone) else newlines


def _regular_quotes(arr: np.ndarray, begin: int, sep: int):
    """Quoted fields, found at once when every quote is where a CSV writer puts it; else None.

    That is: quotes pair up in order, each pair opens at the start of a field and closes
    before a delimiter or the end of a line, or touches the next pair (a doubled quote).
    Then the result is the one :func:`_quoted_regions` finds quote by quote.
    """
    quotes = np.flatnonzero(arr[begin:] == QUOTE) + begin
    if len(quotes) % 2:
        return None
    if not len(quotes):
        return quotes, quotes
    opens, closes = quotes[0::2], quotes[1::2]
    joined = opens[1:] == closes[:-1] + 1  # "" inside a field: one region, not two
    before = arr[np.maximum(opens - 1, 0)]
    starts = (opens == begin) | (before == sep) | (before == ord("\n")) | (before == ord("\r"))
    after = arr[np.minimum(closes + 1, len(arr) - 1)]
    ends = (closes + 1 >= len(arr)) | (after == sep) | (after == ord("\n")) | (after == ord("\r"))
    if not (starts | np.append(False, joined)).all() or not (ends | np.append(joined, False)).all():
        return None
    return opens[np.append(True, ~joined)], closes[np.append(~joined, True)]


def _quoted_regions(raw: bytes, begin: int, sep: int) -> tuple[list[int], list[int], int]:
    """Quoted fields as (opening, closing) quote positions; the last int is an unclosed one (-1)."""
    opens: list[int] = []
    closes: list[int] = []
    starts = {sep, ord("\n"), ord("\r")}
    inside = False
    pos = raw.find(b'"', begin)
    while pos != -1:
        if not inside:
            if pos == begin or raw[pos - 1] in starts:
                inside = True
                opens.append(pos)
            pos = raw.find(b'"', pos + 1)
        elif pos + 1 < len(raw) and raw[pos + 1] == QUOTE:  # "" inside quotes: a literal quote
            pos = raw.find(b'"', pos + 2)
        else:
            inside = False
            closes.append(pos)
            pos = raw.find(b'"', pos + 1)
    return opens, closes, (opens[-1] if inside else -1)


def _line_of(terms: np.ndarray, position) -> np.ndarray:
    return np.searchsorted(terms, position, side="left") + 1


def _blank(raw: bytes, start: int, stop: int, sep: str) -> bool:
    strip = b" \t\r".replace(sep.encode(), b"")
    return raw[start:stop].strip(strip) == b""


def _records(raw: bytes, arr: np.ndarray, terms: np.ndarray, begin: int,
             regions: tuple[np.ndarray, np.ndarray], sep: str) -> np.ndarray:
    """Byte offsets where the non-blank records start (the header first)."""
    opens, closes = regions
    ends = terms
    if len(opens):
        index = np.searchsorted(opens, terms, side="right") - 1
        inside = (index >= 0) & (terms < closes[np.maximum(index, 0)])
        ends = terms[~inside]
    starts = np.concatenate([[begin], ends + 1])
    stops = np.concatenate([ends, [len(raw)]])
    length = stops - starts
    first = arr[np.minimum(starts, len(arr) - 1)] if len(arr) else np.zeros(0, np.uint8)
    maybe_blank = (length <= 0) | np.isin(first, list(b" \t\r"))
    keep = np.ones(len(starts), dtype=bool)
    for i in np.flatnonzero(maybe_blank):
        keep[i] = not _blank(raw, int(starts[i]), int(stops[i]), sep)
    return starts[keep]


def scan_records(raw: bytes, sep: str, path: str | Path) -> RowSource:
    """Find where each record of ``raw`` starts, as the CSV dialect defines records.

    Raises:
        CourseDataError: a quote opens a field and is never closed, or a quoted
            field spans lines that look like records of their own (a stray quote
            that would swallow rows).
    """
    path = Path(path)
    begin = len(BOM) if raw.startswith(BOM) else 0
    arr = np.frombuffer(raw, dtype=np.uint8)
    terms = _terminators(raw, arr)
    regular = _regular_quotes(arr, begin, ord(sep))
    opens, closes, unclosed = (*regular, -1) if regular else _quoted_regions(raw, begin, ord(sep))
    if unclosed >= 0:
        line = int(_line_of(terms, unclosed))
        raise CourseDataError(
            f"File {path}, line {line}: a quote (\") opens a field here and is never closed, so "
            "every line after it would be read into that one field. Remove the stray quote, "
            'double it ("") or close the field, or download the file again.'
        )
    regions = (np.asarray(opens, dtype=np.int64), np.asarray(closes, dtype=np.int64))
    starts = _records(raw, arr, terms, begin, regions, sep)
    header_end = starts[1] if len(starts) > 1 else len(raw)
    header_text = raw[starts[0]:header_end] if len(starts) else b""
    header_row = next(csv.reader(io.StringIO(header_text.decode("utf-8", "replace"), newline=""),
                                 delimiter=sep), [])
    header = [name.strip().strip('"') for name in header_row]
    rows = RowSource(path, _line_of(terms, starts[1:]), raw=raw, offsets=starts[1:], sep=sep,
                     header=header,
                     header_line=int(_line_of(terms, starts[0])) if len(starts) else 1)
    _check_swallowed(rows, terms, regions)
    return rows


def _check_swallowed(rows: RowSource, terms: np.ndarray, regions) -> None:
    """Raise when a quoted field that spans lines looks like a stray quote swallowing rows.

    A field that spans lines is suspect when its closing quote is followed by neither
    the delimiter nor the end of a line (broken quoting), or when one of its lines
    reads as a record of its own: parsed alone, it has exactly as many fields as the
    header and, where every record of the file starts with a whole number (an id),
    it starts with one too. The field's last line is read whole where records start
    with an id (a meant field there is never in the first column), else up to the
    closing quote. Prose in a multi-line field that is meant rarely does either.
    """
    opens, closes = regions
    if not len(opens) or len(rows.header) < 2:
        return
    first_inner = np.searchsorted(terms, opens, side="right")
    last_inner = np.searchsorted(terms, closes, side="left")
    multi = np.flatnonzero(last_inner > first_inner)
    if not len(multi):
        return
    arr = np.frombuffer(rows.raw, dtype=np.uint8)
    after = arr[np.minimum(closes[multi] + 1, len(arr) - 1)]
    sep = ord(rows.sep)
    broken = (closes[multi] + 1 < len(arr)) & (after != sep) & (after != ord("\n")) \
        & (after != ord("\r"))
    # Every line inside a multi-line field (region k of each), with its delimiter count,
    # so that only the lines long enough to be a record are parsed one by one.
    counts = last_inner[multi] - first_inner[multi]
    region = np.repeat(multi, counts)
    inner = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) \
        + np.repeat(first_inner[multi], counts)
    seps = np.flatnonzero(arr == sep)
    per_line = np.diff(np.searchsorted(seps, np.concatenate([terms, [len(arr)]])))
    candidate = per_line[inner] >= len(rows.header) - 1
    id_first = _records_start_with_id(rows) if candidate.any() else False
    first_broken = int(multi[int(broken.argmax())]) if broken.any() else len(opens)
    for k, t in zip(region[candidate], inner[candidate], strict=True):
        if k >= first_broken:  # the earlier problem is reported first
            break
        stop = int(terms[t + 1]) if t + 1 < len(terms) else len(rows.raw)
        if not (id_first and t == last_inner[k] - 1):  # the last line: up to the closing quote
            stop = min(stop, int(closes[k]))
        if _reads_as_record(rows.raw[int(terms[t]) + 1:stop], rows, id_first):
            _raise_swallowed(rows, terms, int(opens[k]), int(closes[k]),
                             f"line {t + 2} reads as a record of its own")
    if first_broken < len(opens):
        _raise_swallowed(rows, terms, int(opens[first_broken]), int(closes[first_broken]),
                         "its closing quote is not followed by a delimiter or the end of the line")


def _records_start_with_id(rows: RowSource, sample: int = 200) -> bool:
    pattern = re.compile(rb"\s*-?\d+\s*" + re.escape(rows.sep.encode()))
    offsets = rows.starts[:sample]
    return len(offsets) > 0 and all(pattern.match(rows.raw, int(o)) for o in offsets)


def _reads_as_record(line: bytes, rows: RowSource, id_first: bool) -> bool:
    if line.count(rows.sep.encode()) < len(rows.header) - 1:
        return False
    if id_first and not re.match(rb"\s*-?\d", line):
        return False
    text = line.decode("utf-8", "replace").rstrip("\r")
    fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=rows.sep), [])
    if len(fields) != len(rows.header):
        return False
    return not id_first or re.fullmatch(r"\s*-?\d+\s*", fields[0]) is not None


def _raise_swallowed(rows: RowSource, terms, opened: int, closed: int, why: str) -> None:
    starts = rows.starts
    start = int(starts[np.searchsorted(starts, opened, side="right") - 1]) \
        if len(starts) and opened >= starts[0] else opened
    prefix = rows.raw[start:opened].decode("utf-8", "replace")
    index = len(next(csv.reader(io.StringIO(prefix, newline=""), delimiter=rows.sep), [""]))
    index = max(index - 1, 0) if prefix else 0
    column = rows.header[index] if index < len(rows.header) else f"#{index + 1}"
    raise CourseDataError(
        f"File {rows.path}, line {int(_line_of(terms, opened))}: a quote (\") opens column "
        f"{column!r} here and closes only on line {int(_line_of(terms, closed))}, so the lines "
        f"between would be read into that one field, yet {why}. Remove the stray quote or "
        "double it (\"\"), or download the file again."
    )


def field_count_error(rows: RowSource) -> CourseDataError | None:
    """The first record with more fields than the header, as an error (None if there is none)."""
    starts = rows.starts
    if not len(starts):
        return None
    raw, arr = rows.raw, np.frombuffer(rows.raw, dtype=np.uint8)
    seps = np.flatnonzero(arr == ord(rows.sep))
    opens, closes, _ = _quoted_regions(raw, int(starts[0]), ord(rows.sep))
    if opens:
        opens_a, closes_a = np.asarray(opens), np.asarray(closes)
        index = np.searchsorted(opens_a, seps, side="right") - 1
        seps = seps[~((index >= 0) & (seps < closes_a[np.maximum(index, 0)]))]
    record = np.searchsorted(starts, seps, side="right") - 1
    counts = np.bincount(record[record >= 0], minlength=len(starts)) + 1
    too_many = np.flatnonzero(counts > len(rows.header))
    if not len(too_many):
        return None
    first = int(too_many[0])
    return CourseDataError(
        f"{rows.place(first)} has {int(counts[first])} fields, but the header line has "
        f"{len(rows.header)}. Fix that line (check for a stray delimiter or quote), or download "
        "the file again."
    )


def _spans_lines(rows: RowSource, i: int) -> bool:
    starts = rows.starts
    stop = int(starts[i + 1]) if i + 1 < len(starts) else len(rows.raw)
    body = rows.raw[int(starts[i]):stop].rstrip(b"\r\n \t")
    return b"\n" in body or b"\r" in body


def check_record_count(rows: RowSource, parsed: int) -> None:
    """Raise when the parser's row count differs from the records the scan found."""
    found = 0 if rows.lines is None else len(rows.lines)
    if parsed == found:
        return
    spans = [i for i in range(found) if _spans_lines(rows, i)] if found else []
    suspect = (f"the first record that spans several lines starts on line "
               f"{rows.number(spans[0])}" if spans else
               f"the first data record is on line {rows.number(0)}" if found else
               "no data record was found")
    raise CourseDataError(
        f"File {rows.path}: the parser read {parsed:,} rows but the file holds {found:,} records "
        f"(counted quote by quote); {suspect}. Check that line for a stray quote or an "
        "unusual line ending, or download the file again."
    )


__all__ = ["RowSource", "check_record_count", "duplicate_note", "field_count_error",
           "first_bad_row", "first_duplicate", "scan_records", "table_rows"]
