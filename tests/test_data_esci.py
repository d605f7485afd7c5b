"""ESCI loader: the 200 real sample rows, generated files, the label mapping and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from course.data import (
    DEFAULT_LABEL_MAP,
    LABELS,
    PAIR_COLUMNS,
    esci_label_map,
    load_esci,
    relevance_pairs,
)
from course.data.esci import EXAMPLES, PRODUCTS, strip_html
from course.errors import CourseArgumentError, CourseDataError

COLUMNS = ["example_id", "query", "query_id", "product_id", "product_locale", "esci_label",
           "small_version", "large_version", "product_title", "product_description",
           "product_bullet_point", "product_brand", "product_color", "product_text", "language"]


def sample_frame() -> pd.DataFrame:
    rows = []
    labels_and_locales = [("E", "us"), ("S", "us"), ("C", "us"), ("I", "us"),
                          ("Exact", "us"), ("Substitute", "es"), ("I", "us"), ("E", "jp")]
    for i, (label, locale) in enumerate(labels_and_locales):
        rows.append({
            "example_id": i, "query": f"query {i // 2}", "query_id": i // 2,
            "product_id": f"B0{i:08d}",
            "product_locale": locale, "esci_label": label, "small_version": 1, "large_version": 1,
            "product_title": f"Product <b>{i}</b>",
            "product_description": "Line one<br/>line   two",
            "product_bullet_point": "fast, cheap", "product_brand": "Acme", "product_color": "red",
            "product_text": "ignored", "language": "en",
        })
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.fixture()
def esci_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "esci_sample"
    folder.mkdir()
    sample_frame().to_csv(folder / "esci_sample.csv", index=False)
    return folder


def test_default_mapping_and_locale_filter(esci_dir):
    data = load_esci(esci_dir, download=False)
    assert list(data.pairs.columns) == PAIR_COLUMNS
    assert data.report.count("product_locale other than 'us'") == 2
    assert list(data.examples["label"]) == [
        "Exact", "Partial", "Irrelevant", "Irrelevant", "Exact", "Irrelevant"]
    assert data.report.count("ESCI C -> Irrelevant") == 1
    assert data.label_map == DEFAULT_LABEL_MAP
    first_text = data.examples["product_text"].iloc[0]
    assert first_text == "Product 0. Acme. red. Line one line two. fast, cheap"
    assert (data.pairs.groupby("query_id")["split"].nunique() == 1).all()


def test_label_map_is_configurable(esci_dir):
    label_map = {"Complement": "Partial", "S": "Irrelevant"}
    data = load_esci(esci_dir, download=False, label_map=label_map, locale=None)
    assert list(data.examples["label"][:4]) == ["Exact", "Irrelevant", "Partial", "Irrelevant"]
    assert len(data.examples) == 8
    with pytest.raises(CourseArgumentError, match="label_map entry 'X'"):
        esci_label_map({"X": "Exact"})
    with pytest.raises(CourseArgumentError, match="'Relevant' is not valid"):
        esci_label_map({"E": "Relevant"})


@pytest.mark.parametrize("multi_line, row, line", [
    (False, 3, 5),
    # header 1, row 0: 2, row 1: lines 3-5, row 2: lines 6-8, row 3: 9, row 4: 10, row 5: 11
    (True, 5, 11),
])
def test_unknown_label_names_the_physical_line(esci_dir, multi_line, row, line):
    frame = sample_frame()
    if multi_line:
        frame.loc[1, "product_description"] = "first line\nsecond line\nthird line"
        frame.loc[2, "product_bullet_point"] = "a\n\nb"
    frame.loc[row, "esci_label"] = "Maybe"
    frame.to_csv(esci_dir / "esci_sample.csv", index=False)
    with pytest.raises(CourseDataError, match=(
            rf"esci_sample.csv, line {line}: column 'esci_label' has the unknown label 'Maybe'")):
        load_esci(esci_dir, download=False)


def test_missing_column_and_wrong_delimiter(esci_dir):
    sample_frame().drop(columns="esci_label").to_csv(esci_dir / "esci_sample.csv", index=False)
    with pytest.raises(CourseDataError, match=r"lacks the column\(s\) \['esci_label'\]"):
        load_esci(esci_dir, download=False)
    sample_frame().to_csv(esci_dir / "esci_sample.csv", index=False, sep="\t")
    with pytest.raises(CourseDataError, match=(
            "looks tab-separated, but it must be comma-separated")):
        load_esci(esci_dir, download=False)


def test_nothing_found_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(CourseDataError, match="No ESCI data found.*esci-data"):
        load_esci(tmp_path, download=False)


def test_parquet_pair_with_original_split(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    frame = sample_frame()
    frame["split"] = ["train", "train", "train", "train", "test", "test", "train", "train"]
    product_cols = ["product_id", "product_locale", "product_title", "product_description",
                    "product_bullet_point", "product_brand", "product_color"]
    frame.drop(columns=product_cols[2:]).to_parquet(tmp_path / EXAMPLES)
    frame[product_cols].to_parquet(tmp_path / PRODUCTS)
    data = load_esci(tmp_path, download=False)
    assert data.source.name == EXAMPLES
    split = data.pairs.set_index("query_id")["split"]
    assert set(split[[2]]) == {"test"}
    assert set(split[split.index != 2]) <= {"train", "valid"}


def test_strip_html():
    got = strip_html(pd.Series(["<p>Hello<br/> world</p>", None]))
    assert list(got) == ["Hello world", ""]


def test_real_esci_sample():
    root = os.environ.get("COURSE_DATA_DIR")
    if not root:
        pytest.skip("COURSE_DATA_DIR not set: the real ESCI sample is not available here")
    data = load_esci(download=False)
    print(data.report)
    assert len(data.examples) == 200 and data.report.rows_in == 200
    counts = data.examples["label"].value_counts().to_dict()
    assert counts == {"Exact": 138, "Partial": 49, "Irrelevant": 13}
    assert set(data.pairs["label"]) <= set(LABELS)
    assert not data.pairs["product_text"].str.contains("<br").any()
    pairs = relevance_pairs(data, "train")
    assert 0 < len(pairs) < 200


def test_locale_matching_ignores_case_and_spaces(esci_dir):
    frame = sample_frame()
    frame["product_locale"] = ["US", "us ", "Us", "US", "US", "ES", "US", "JP"]
    frame.to_csv(esci_dir / "esci_sample.csv", index=False)
    data = load_esci(esci_dir, download=False)
    assert len(data.examples) == 6
    assert data.report.count("product_locale other than 'us'") == 2
    assert data.report.count("product_locale in another case or with spaces") == 6
    assert len(load_esci(esci_dir, download=False, locale="Jp").examples) == 1


def test_no_row_of_the_locale_is_an_error_that_says_what_is_there(esci_dir):
    frame = sample_frame()
    frame["product_locale"] = "es"
    frame.loc[7, "product_locale"] = "jp"
    frame.to_csv(esci_dir / "esci_sample.csv", index=False)
    with pytest.raises(CourseDataError, match=(
            r"no rows are left after cleaning \(8 read; product_locale other than 'us': 8; "
            r".*Likely cause: no row has product_locale 'us'; found 'es' \(7\), 'jp' \(1\)")):
        load_esci(esci_dir, download=False)
    with pytest.raises(CourseArgumentError, match="locale must be a string"):
        load_esci(esci_dir, download=False, locale=1)


def test_repeated_rows_are_counted_and_resolved(esci_dir):
    frame = sample_frame()
    repeat = frame.iloc[[0, 1, 1]].copy()
    repeat.iloc[2, repeat.columns.get_loc("esci_label")] = "I"  # pair 1: S, S, I -> Partial wins
    pd.concat([frame, repeat]).to_csv(esci_dir / "esci_sample.csv", index=False)
    data = load_esci(esci_dir, download=False)
    assert data.report.rows_in == 11
    assert data.report.count("duplicate (query, product) rows") == 3
    assert data.report.count("pairs with conflicting labels") == 1
    assert len(data.examples) == 6
    assert not data.examples.duplicated(["query_id", "product_id"]).any()
    assert list(data.examples.columns) == list(load_esci(esci_dir, download=False).examples.columns)
    assert data.examples.set_index("product_id").loc["B000000001", "label"] == "Partial"


def test_the_split_never_puts_one_query_on_both_sides(tmp_path):
    from course.data import check_no_leak, split_queries

    queries = pd.DataFrame({"query_id": [1, 2, 3, 4],
                            "query": ["Red Sofa", "red  sofa", "desk", "rug"],
                            "split": ["test", None, None, None]})
    out = split_queries(queries, keep_existing=True, seed=3)
    assert out.loc[1, "split"] == "test"  # the same text takes the split already set
    conflicting = queries.assign(split=["test", "train", None, None])
    with pytest.raises(CourseDataError, match=(
            r"query text 'red sofa' is in the splits \['test', 'train'\]")):
        split_queries(conflicting, keep_existing=True)
    two_texts = pd.DataFrame({"query_id": [1, 1], "query": ["sofa", "desk"],
                              "split": ["train", "test"]})
    with pytest.raises(CourseDataError, match=r"query_id 1 is in the splits \['test', 'train'\]"):
        check_no_leak(two_texts)
