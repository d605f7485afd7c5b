"""The record scanner and the shared row helpers: physical lines, stray quotes, counts."""

from __future__ import annotations

import csv
import gzip
import io
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course import checksums, data, metrics, models
from course.data import download
from course.data.common import raise_if_empty, read_records, read_table
from course.data.records import (
    first_bad_row,
    first_duplicate,
    scan_records,
    table_rows,
)
from course.errors import CourseDataError


def write_rows(path: Path, header: list[str], rows: list[list[str]], blank_after=(),
               sep: str = ",", newline: str = "\n") -> list[int]:
    """Write a CSV with csv.writer; return the physical line where each data row starts."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=sep, lineterminator=newline)
    writer.writerow(header)
    line = 2
    starts = []
    for i, row in enumerate(rows):
        starts.append(line)
        before = buffer.tell()
        writer.writerow(row)
        line += buffer.getvalue()[before:].count("\n")
        if i in blank_after:
            buffer.write(newline)
            line += 1
    path.write_bytes(buffer.getvalue().encode())
    return starts


# Cells with quotes, delimiters and line breaks; no digits, so no line inside a cell
# starts with an id as every record here does (such a line would read as a record).
cell = st.text(alphabet=st.sampled_from(list('ab ,"\n\t')), max_size=8)


@given(st.lists(st.lists(cell, min_size=2, max_size=2), min_size=1, max_size=12),
       st.sets(st.integers(0, 11), max_size=3), st.sampled_from(["\n", "\r\n"]))
@settings(max_examples=60, deadline=None)
def test_scan_finds_the_physical_line_of_every_record(rows, blank_after, newline):
    rows = [[str(i)] + r for i, r in enumerate(rows)]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        starts = write_rows(path, ["a", "b", "c"], rows, blank_after, newline=newline)
        frame, found = read_records(path, ",", ["a", "b", "c"], dtype=str, keep_default_na=False)
    assert list(found.lines) == starts
    assert frame.values.tolist() == rows


@given(st.lists(st.sampled_from(list('ab,"\n \t') + ["\r\n", '""']), max_size=30).map("".join))
@settings(max_examples=300, deadline=None)
def test_scan_counts_the_records_pandas_reads(body):
    text = "x,y\n" + body
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed = len(pd.read_csv(io.StringIO(text), sep=",", index_col=False, dtype=str))
    except Exception:  # noqa: BLE001 - pandas rejects it; nothing to compare
        return
    try:
        rows = scan_records(text.encode(), ",", "t.csv")
    except CourseDataError as exc:
        assert "a quote" in str(exc)  # a quote that pandas let swallow a line
        return
    assert len(rows.lines) == parsed


PRODUCT_HEADER = ["product_id", "product_name", "product_description"]


def product_lines(descriptions: dict[int, str]) -> str:
    lines = ["\t".join(PRODUCT_HEADER)]
    for i in range(8):
        lines.append(f"{i}\tproduct {i}\t{descriptions.get(i, f'plain text {i}')}")
    return "\n".join(lines) + "\n"


def test_a_stray_quote_that_swallows_rows_names_its_line_and_column(tmp_path):
    path = tmp_path / "product.csv"
    path.write_text(product_lines({2: '"stray opening quote', 6: 'ends here"'}))
    # pandas alone reads it without complaint, and loses four products:
    assert len(pd.read_csv(path, sep="\t")) == 8 - 4
    with pytest.raises(CourseDataError, match=(
            r"product.csv, line 4: a quote \(\"\) opens column 'product_description' here and "
            r"closes only on line 8.*line 5 reads as a record")):
        read_table(path, "\t", PRODUCT_HEADER)


def test_an_unclosed_quote_names_its_line(tmp_path):
    path = tmp_path / "product.csv"
    path.write_text(product_lines({5: '"never closed'}))
    with pytest.raises(CourseDataError, match=r"product.csv, line 7: a quote .* is never closed"):
        read_table(path, "\t", PRODUCT_HEADER)


def test_quotes_inside_a_field_and_inches_are_kept(tmp_path):
    path = tmp_path / "product.csv"
    path.write_text(product_lines({1: 'a "quoted" word', 3: 'TV stand for 18"', 4: '12" x 18"'}))
    frame = read_table(path, "\t", PRODUCT_HEADER)
    text = frame.set_index("product_id")["product_description"]
    assert len(frame) == 8
    assert text[1] == 'a "quoted" word' and text[3] == 'TV stand for 18"' and text[4] == '12" x 18"'


def test_multi_line_fields_that_are_meant_load(tmp_path):
    path = tmp_path / "t.csv"
    rows = [["1", "one line"], ["2", "first line\nsecond, with, commas\nthird"], ["3", "x"]]
    starts = write_rows(path, ["id", "text"], rows, blank_after={0})
    frame, found = read_records(path, ",", ["id", "text"], dtype=str)
    assert list(found.lines) == starts == [2, 4, 7]
    assert frame["text"].tolist()[1] == rows[1][1]


def test_more_fields_than_the_header_names_the_physical_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('id,text\n1,"a\nb"\n\n2,x\n3,y,extra\n')
    with pytest.raises(CourseDataError, match=(
            r"t.csv, line 6 has 3 fields, but the header line has 2")):
        read_table(path, ",", ["id", "text"])


def test_a_parser_that_reads_other_records_than_the_scan_is_an_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,text\r\r, \r1,y\r")  # pandas eats the comma after a blank CR line
    with pytest.raises(CourseDataError, match=(
            r"the parser read 1 rows but the file holds 2 records")):
        read_table(path, ",", ["id", "text"])


def test_compressed_files_under_a_plain_name(tmp_path):
    text = b"id\ttext\n1\tx\n"
    (tmp_path / "gz.csv").write_bytes(gzip.compress(text))
    with pytest.raises(CourseDataError, match=(
            "this file is compressed.*name it .gz or decompress it")):
        read_table(tmp_path / "gz.csv", "\t", ["id"])
    with zipfile.ZipFile(tmp_path / "zip.csv", "w") as archive:
        archive.writestr("inner.csv", text)
    with pytest.raises(CourseDataError, match=r"this file is compressed \(a zip archive\)"):
        read_table(tmp_path / "zip.csv", "\t", ["id"])
    (tmp_path / "plain.csv.gz").write_bytes(gzip.compress(text))
    assert read_table(tmp_path / "plain.csv.gz", "\t", ["id"])["text"].tolist() == ["x"]


def test_first_bad_row_shows_the_cell_as_the_file_has_it(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,price\n1,2.5\n\n2,nan\n3,\n")
    frame, rows = read_records(path, ",", ["id", "price"])
    with pytest.raises(CourseDataError, match=r"t.csv, line 4: column 'price' holds 'nan', not"):
        first_bad_row(frame["price"].isna(), rows, "price", "holds {cell}, not a number",
                      "Fix it.", frame["price"])
    with pytest.raises(CourseDataError, match=r"t.csv, line 5: column 'price' is empty\. Fix it\."):
        first_bad_row(np.arange(3) == 2, rows, "price", "holds {cell}", "Fix it.")
    first_bad_row(np.zeros(3, dtype=bool), rows, "price", "holds {cell}", "Fix it.")  # no error


def test_first_bad_row_for_sources_without_lines():
    rows = table_rows("book.xlsx", first_row=2)
    values = pd.Series([1.0, float("nan"), float("inf")])
    with pytest.raises(CourseDataError, match=r"book.xlsx, row 4: column 'p' holds 'inf'"):
        first_bad_row(np.isinf(values), rows, "p", "holds {cell}", "Fix it.", values)
    with pytest.raises(CourseDataError, match=r"book.xlsx, row 3: column 'p' is empty"):
        first_bad_row(values.isna(), rows, "p", "holds {cell}", "Fix it.", values)


def test_first_duplicate_names_both_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('id,text\n7,"two\nlines"\n8,x\n\n7,again\n')
    frame, rows = read_records(path, ",", ["id", "text"])
    with pytest.raises(CourseDataError, match=r"t.csv, lines 2 and 6: id 7 appears twice"):
        first_duplicate(frame["id"], rows, "id", "Remove one.")


def test_raise_if_empty_gives_every_count_and_the_likely_cause():
    report = data.CleaningReport("f.csv", rows_in=5)
    report.add("rule a", 1)
    report.add("rule b", 4)
    with pytest.raises(CourseDataError, match=(
            r"f.csv: no rows are left after cleaning \(5 read; rule a: 1; rule b: 4\)\. "
            r"Likely cause: B explained")):
        raise_if_empty(report, {"rule b": "B explained"})
    report.rules.pop()
    raise_if_empty(report)  # 4 rows left: no error


def test_one_home_for_labels_gains_and_sha256(tmp_path):
    assert "LABELS" not in metrics.__all__ and "GAINS" not in metrics.__all__
    assert list(data.GAINS) == data.LABELS
    assert models.sha256_of is download.sha256_of is checksums.sha256_of
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert checksums.sha256_of(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


@given(st.lists(st.sampled_from(['a', ',', '"', '\n', '\r\n', '""', ' ']), max_size=25)
       .map(lambda parts: "x,y\n" + "".join(parts)))
@settings(max_examples=300, deadline=None)
def test_the_fast_quote_path_finds_what_the_quote_by_quote_scan_finds(text):
    from course.data.records import _quoted_regions, _regular_quotes

    raw = text.encode()
    fast = _regular_quotes(np.frombuffer(raw, dtype=np.uint8), 0, ord(","))
    if fast is None:  # an irregular quote: only the quote-by-quote scan applies
        return
    opens, closes, unclosed = _quoted_regions(raw, 0, ord(","))
    assert unclosed == -1
    assert (list(fast[0]), list(fast[1])) == (opens, closes)
