"""UCI Online Retail: cleaning rules with counts, sequences, item texts, bad input, real data."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from course.data import load_online_retail
from course.errors import CourseDataError
from course.recsys import leave_last_out

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
# One CSV row per line, as in the original file. The first six rows and the last are kept (row
# 3's Description ends in a space, which is trimmed). Rows 7-14 each break one cleaning rule, in
# this order: no CustomerID, cancellation (C...), adjustment (A...), quantity <= 0, unit price
# <= 0, no Description, postage (POST), and an exact duplicate of row 2.
ROWS = """\
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER ,2,2010-12-02 09:00:00,2.55,17850.0,United Kingdom
536366,85123A,CREAM HANGING HEART T-LIGHT HOLDER,1,2010-12-03 09:00:00,2.55,13047.0,United Kingdom
536367,22752,SET 7 BABUSHKA NESTING BOXES,2,2010-12-01 08:34:00,7.65,13047.0,United Kingdom
536367,71053,WHITE METAL LANTERN,1,2010-12-04 08:34:00,3.39,13047.0,United Kingdom
536368,22752,SET 7 BABUSHKA NESTING BOXES,1,2010-12-01 10:00:00,7.65,,United Kingdom
C536369,71053,WHITE METAL LANTERN,-1,2010-12-01 11:00:00,3.39,17850.0,United Kingdom
A536370,B,Adjust bad debt,1,2010-12-01 11:00:00,11062.06,17850.0,United Kingdom
536371,22752,SET 7 BABUSHKA NESTING BOXES,-3,2010-12-01 12:00:00,7.65,13047.0,United Kingdom
536372,22752,SET 7 BABUSHKA NESTING BOXES,3,2010-12-01 12:00:00,0.0,13047.0,United Kingdom
536373,21000,,3,2010-12-01 12:00:00,1.0,13047.0,United Kingdom
536374,POST,POSTAGE,1,2010-12-01 12:00:00,18.0,12583.0,France
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536375,21730,GLASS STAR FROSTED T-LIGHT HOLDER,6,2010-12-05 08:26:00,4.25,17850.0,United Kingdom
""".splitlines()


def write(path: Path, rows=ROWS, header=HEADER) -> Path:
    text = header + "\n".join(rows) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture()
def retail_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "online_retail"
    folder.mkdir()
    write(folder / "online_retail.csv.gz")
    return folder


def test_every_rule_is_counted(retail_dir):
    data = load_online_retail(retail_dir)
    report = data.report
    expected = {
        "missing CustomerID": 1, "cancellation (InvoiceNo starts with C)": 1,
        "adjustment (InvoiceNo starts with A)": 1, "quantity <= 0": 1, "unit price <= 0": 1,
        "missing Description": 1, "non-product StockCode (postage, fees, manual)": 1,
        "exact duplicate row": 1,
    }
    for rule, count in expected.items():
        assert report.count(rule) == count, rule
    assert report.rows_in == len(ROWS)
    assert report.rows_out == len(ROWS) - 8 == len(data.transactions)
    assert report.count("Description white space trimmed") == 1
    assert report.count("StockCodes with several descriptions") == 1
    table = str(report)
    assert all(rule in table for rule in expected) and "rows kept" in table
    assert list(report.to_frame().columns) == ["rule", "kind", "rows", "note"]


def test_sequences_items_and_interactions(retail_dir):
    data = load_online_retail(retail_dir)
    assert data.sequences.to_dict() == {
        "13047": ["22752", "85123A", "71053"],
        "17850": ["85123A", "71053", "21730"],
    }
    text = data.items.set_index("product_id")["text"]
    assert text["85123A"] == "WHITE HANGING HEART T-LIGHT HOLDER"  # 2 of 3 rows, after trimming
    assert data.items.set_index("product_id").loc["85123A", "n_descriptions"] == 2
    assert data.report.count("repeat purchases of an item by a customer") == 1
    train, _, targets = leave_last_out(list(data.sequences))
    assert set(targets) == {"71053", "21730"}
    assert all(target not in history for history, target in zip(train, targets, strict=True))


def test_keeping_non_products_and_the_parsed_cache(retail_dir, tmp_path):
    kept = load_online_retail(retail_dir, drop_non_products=False)
    assert "12583" in kept.sequences.index
    cached = list((tmp_path / "cache" / "online_retail").glob("parsed-*.parquet"))
    assert len(cached) == 1
    again = load_online_retail(retail_dir, drop_non_products=False)
    pd.testing.assert_frame_equal(kept.transactions, again.transactions)


def test_plain_csv_and_explicit_path(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    path = write(tmp_path / "anything.csv")
    assert len(load_online_retail(path=path, cache=False).sequences) == 2


def test_xlsx_original(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    text_columns = {"CustomerID": str, "InvoiceNo": str, "StockCode": str}
    frame = pd.read_csv(write(tmp_path / "o.csv"), dtype=text_columns)
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame["CustomerID"] = pd.to_numeric(frame["CustomerID"])
    frame.to_excel(tmp_path / "Online Retail.xlsx", index=False)
    data = load_online_retail(path=tmp_path / "Online Retail.xlsx")
    assert data.report.rows_out == len(ROWS) - 8
    assert set(data.sequences.index) == {"13047", "17850"}


def _replace_in_row(index: int, old: str, new: str):
    """A mutation for test_bad_input: replace ``old`` by ``new`` in row ``index`` only."""
    def mutate(rows, header):
        return rows[:index] + [rows[index].replace(old, new)] + rows[index + 1:], header
    return mutate


@pytest.mark.parametrize("mutate, pattern", [
    (lambda rows, header: (rows, header.replace("Quantity", "Qty")),
     r"lacks the column\(s\) \['Quantity'\]"),
    (lambda rows, header: ([r.replace(",", ";") for r in rows], header.replace(",", ";")),
     "looks semicolon-separated"),
    (_replace_in_row(2, ",2,", ",two,"), r"line 4: column 'Quantity' holds 'two'"),
    (_replace_in_row(1, "2010-12-01 08:26:00", "yesterday"),
     r"line 3: column 'InvoiceDate' holds 'yesterday'"),
    (lambda rows, header: ([], ""), "is empty"),
])
def test_bad_input(tmp_path, monkeypatch, mutate, pattern):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    rows, header = mutate(list(ROWS), HEADER)
    path = tmp_path / "online_retail.csv"
    if header:
        write(path, rows, header)
    else:
        path.write_text("")
    with pytest.raises(CourseDataError, match=pattern):
        load_online_retail(path=path)


def test_non_utf8_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    path = tmp_path / "online_retail.csv.gz"
    latin1_row = "536380,1,CAF\xc9 SIGN,1,2010-12-01 08:26:00,1.0,1.0,UK"
    path.write_bytes(gzip.compress((HEADER + ROWS[0] + "\n" + latin1_row + "\n").encode("latin-1")))
    with pytest.raises(CourseDataError, match=(
            r"online_retail.csv.gz, line 3, character 13: byte 0xc9")):
        load_online_retail(path=path)
    with pytest.raises(CourseDataError, match="No Online Retail file found.*archive.ics.uci.edu"):
        load_online_retail(tmp_path / "nowhere")
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(CourseDataError, match="bad.csv.gz is not a valid gzip file"):
        load_online_retail(path=tmp_path / "bad.csv.gz")


@pytest.mark.slow
def test_real_online_retail(tmp_path, monkeypatch):
    root = os.environ.get("COURSE_DATA_DIR")
    if not root:
        pytest.skip("COURSE_DATA_DIR not set: the real Online Retail file is not available here")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    start = time.perf_counter()
    data = load_online_retail()
    elapsed = time.perf_counter() - start
    report = data.report
    print(report)
    lengths = data.sequences.map(len)
    print(f"loaded in {elapsed:.1f} s; customers {len(data.sequences)}, items {len(data.items)}, "
          f"interactions {len(data.interactions)}, median sequence {lengths.median()}")
    assert elapsed < 60
    assert report.rows_in == 541_909
    assert report.count("missing CustomerID") == 135_080
    assert report.count("cancellation (InvoiceNo starts with C)") == 8_905
    assert len(data.sequences) == 4_334 and len(data.items) == 3_660
    assert report.rows_in - report.dropped == len(data.transactions)
    assert not data.transactions["StockCode"].isin({"POST", "DOT", "M", "C2", "BANK CHARGES"}).any()
    assert lengths.median() == 35
    # Without the non-product rule the usual figures come back (this load uses the parsed cache).
    start = time.perf_counter()
    usual = load_online_retail(drop_non_products=False)
    print(f"second load (parsed cache) {time.perf_counter() - start:.1f} s")
    assert len(usual.sequences) == 4_338 and len(usual.items) == 3_665
    assert usual.report.rows_out == 397_884 - 5_192


@pytest.mark.parametrize("column, cell", [
    ("UnitPrice", "inf"), ("UnitPrice", "-inf"), ("UnitPrice", "nan"), ("UnitPrice", "1e999"),
    ("Quantity", "inf"), ("Quantity", "NaN"),
])
def test_numbers_must_be_finite_and_are_shown_as_written(tmp_path, monkeypatch, column, cell):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    rows = list(ROWS)
    fields = rows[4].split(",")
    fields[COLUMNS_INDEX[column]] = cell
    rows[4] = ",".join(fields)
    path = write(tmp_path / "online_retail.csv", rows)
    with pytest.raises(CourseDataError) as caught:
        load_online_retail(path=path)
    message = str(caught.value)
    assert f"online_retail.csv, line 6: column '{column}' holds '{cell}'" in message
    assert "np.float64" not in message


COLUMNS_INDEX = {name: i for i, name in enumerate(HEADER.strip().split(","))}


def test_an_empty_price_is_named_as_empty_on_its_physical_line(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    rows = list(ROWS)
    rows[2] = rows[2].replace(",2.55,", ",,")
    rows.insert(1, "")  # a blank line moves every later line down
    path = write(tmp_path / "online_retail.csv", rows)
    with pytest.raises(CourseDataError, match=(
            r"online_retail.csv, line 5: column 'UnitPrice' is empty")):
        load_online_retail(path=path)


def test_nothing_left_after_cleaning_is_an_error_with_every_count(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    rows = [ROWS[6], ROWS[7], ROWS[6]]  # no customer, a cancellation
    path = write(tmp_path / "online_retail.csv", rows)
    with pytest.raises(CourseDataError, match=(
            r"no rows are left after cleaning \(3 read; missing CustomerID: 2; "
            r"cancellation \(InvoiceNo starts with C\): 1;.*Likely cause: most rows were "
            r"dropped by the rule 'missing CustomerID'")):
        load_online_retail(path=path)


def test_gzip_under_a_csv_name(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "online_retail.csv"
    path.write_bytes(gzip.compress((HEADER + "\n".join(ROWS) + "\n").encode()))
    with pytest.raises(CourseDataError, match=(
            "this file is compressed.*name it .gz or decompress it")):
        load_online_retail(path=path)


def test_xlsx_rows_are_named_by_their_sheet_row(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    text_columns = {"CustomerID": str, "InvoiceNo": str, "StockCode": str}
    frame = pd.read_csv(write(tmp_path / "o.csv"), dtype=text_columns)
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame.loc[3, "UnitPrice"] = float("inf")
    frame.to_excel(tmp_path / "Online Retail.xlsx", index=False)
    with pytest.raises(CourseDataError, match=(
            r"Online Retail.xlsx, row 5: column 'UnitPrice' holds 'inf'")):
        load_online_retail(path=tmp_path / "Online Retail.xlsx")
