"""``course data summary`` and ``available_datasets``."""

from __future__ import annotations

import gzip
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

from course.data import available_datasets, label_distribution, summary_main, text_length_stats

QUERY = "query_id\tquery\tquery_class\n0\tred sofa\tSofas\n1\toak desk\tDesks\n"
LABEL = ("id\tquery_id\tproduct_id\tlabel\n"
         "0\t0\t10\tExact\n1\t0\t11\tIrrelevant\n2\t1\t11\tPartial\n3\t1\t11\tPartial\n")
RETAIL = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
    "536365,71053,WHITE LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom\n"
    "536366,71053,WHITE LANTERN,6,2010-12-01 08:26:00,3.39,,United Kingdom\n"
)


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "data"
    (root / "wands").mkdir(parents=True)
    (root / "wands" / "query.csv").write_text(QUERY)
    (root / "wands" / "label.csv").write_text(LABEL)
    (root / "online_retail").mkdir()
    (root / "online_retail" / "online_retail.csv.gz").write_bytes(gzip.compress(RETAIL.encode()))
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    return root


def test_available_datasets_says_what_is_where(data_dir):
    found = available_datasets()
    assert set(found) == {"minishop", "wands", "esci", "online_retail"}
    assert found["minishop"]["available"]
    assert found["wands"]["available"] and found["wands"]["missing"] == ["product.csv"]
    assert found["wands"]["where"] == str(data_dir / "wands")
    assert not found["esci"]["available"] and "esci-data" in found["esci"]["how"]
    assert found["online_retail"]["where"].endswith("online_retail.csv.gz")


def test_summary_prints_sets_and_missing(data_dir, capsys):
    assert summary_main(["--no-tokens", "--skip-minishop"]) == 0
    out = capsys.readouterr().out
    assert "== WANDS" in out and "labelled pairs 3" in out and "product.csv missing" in out
    assert "duplicate (query, product) rows" in out
    assert "== UCI Online Retail" in out and "customers 1" in out and "missing CustomerID" in out
    assert "== ESCI" not in out
    missing = out.split("== missing ==")[1]
    assert "esci: missing" in missing and "wands: missing product.csv" in missing
    assert "github.com/wayfair/WANDS" in missing


@pytest.mark.slow
def test_summary_with_minilm_tokens_and_the_minishop(data_dir, capsys):
    assert summary_main(["--sample", "200"]) == 0
    out = capsys.readouterr().out
    assert "== mini-shop (generated, seed 0)" in out
    assert out.count("MiniLM tokens") >= 4


def test_summary_on_an_empty_machine(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    assert summary_main(["--no-tokens", "--skip-minishop"]) == 0
    out = capsys.readouterr().out
    for name in ("wands", "esci", "online_retail"):
        assert f"{name}: missing" in out


def test_text_length_stats_words_and_tokens():
    class Whitespace:
        def __call__(self, texts, add_special_tokens=False, verbose=False):
            return {"input_ids": [t.split() + ["x"] for t in texts]}

    stats = text_length_stats(["a b", "a b c d", ""], Whitespace())
    assert stats.loc["words", "max"] == 4 and stats.loc["words", "median"] == 2
    assert stats.loc["MiniLM tokens", "mean"] == pytest.approx((3 + 5 + 1) / 3, abs=0.05)


def test_label_distribution_order():
    table = label_distribution(pd.Series(["Partial", "Exact", "Partial"]))
    assert list(table.index) == ["Exact", "Partial", "Irrelevant"]
    assert list(table["pairs"]) == [1, 2, 0]


def test_summary_on_the_real_data(capsys):
    root = os.environ.get("COURSE_DATA_DIR")
    if not root:
        pytest.skip("COURSE_DATA_DIR not set: the real data sets are not available here")
    found = available_datasets()
    print({k: (v["available"], v["where"]) for k, v in found.items()})
    assert all(found[name]["available"] for name in ("wands", "esci", "online_retail"))


def test_summary_lists_exactly_the_missing_files(data_dir, capsys):
    (data_dir / "wands" / "label.csv").unlink()
    (data_dir / "esci").mkdir()
    examples = data_dir / "esci" / "shopping_queries_dataset_examples.parquet"
    pd.DataFrame({"query_id": [1]}).to_parquet(examples)
    found = available_datasets()
    assert found["wands"]["missing"] == ["label.csv", "product.csv"]
    assert found["wands"]["where"] == str(data_dir / "wands")  # query.csv is still found there
    assert not found["wands"]["available"]
    assert found["esci"]["missing"] == ["shopping_queries_dataset_products.parquet"]
    assert not found["esci"]["available"]
    assert summary_main(["--no-tokens", "--skip-minishop"]) == 0
    missing = capsys.readouterr().out.split("== missing ==")[1]
    assert "wands: missing label.csv, product.csv." in missing
    assert "esci: missing shopping_queries_dataset_products.parquet." in missing


@pytest.mark.parametrize("make", ["missing", "file"])
def test_a_bad_course_data_dir_is_a_warning_in_the_summary(tmp_path, monkeypatch, capsys, make):
    target = tmp_path / "typo"
    if make == "file":
        target.write_text("")
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.warns(UserWarning, match="COURSE_DATA_DIR=.*typo"):
        assert not available_datasets()["wands"]["available"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the summary prints the warning, once
        assert summary_main(["--no-tokens", "--skip-minishop"]) == 0
    out = capsys.readouterr().out
    what = "does not exist" if make == "missing" else "is a file, not a folder"
    assert f"WARNING: COURSE_DATA_DIR={target} {what}" in out
    for name in ("wands", "esci", "online_retail"):
        assert f"{name}: missing" in out
