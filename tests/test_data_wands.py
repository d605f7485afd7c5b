"""WANDS loader: generated schema-identical files, bad input, and the real query/label files."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course.data import (
    LABELS,
    PAIR_COLUMNS,
    load_wands,
    relevance_pairs,
    resolve_duplicates,
    to_dataset_dict,
)
from course.data.wands import PRODUCT_COLUMNS, read_wands_labels
from course.errors import CourseDataError

QUERY = "query_id\tquery\tquery_class\n0\tred sofa\tSofas\n1\toak desk\tDesks\n2\tblue rug\tRugs\n"
LABEL_ROWS = [(0, 10, "Exact"), (0, 11, "Irrelevant"), (1, 11, "Exact"), (1, 12, "Partial"),
              (2, 12, "Exact"), (2, 10, "Irrelevant"),
              (0, 10, "Exact"),                      # duplicate, same label
              (1, 12, "Exact"), (1, 12, "Exact"),    # conflict: Exact wins 2:1
              (2, 10, "Partial")]                    # conflict tie: the less relevant grade wins
LABEL_HEADER = "id\tquery_id\tproduct_id\tlabel\n"


def label_text(rows=LABEL_ROWS) -> str:
    return LABEL_HEADER + "".join(
        f"{i}\t{q}\t{p}\t{lab}\n" for i, (q, p, lab) in enumerate(rows))


def product_text() -> str:
    rows = [
        ["10", "red velvet sofa", "Sofas", "Furniture / Sofas", "a soft red sofa",
         "color:red|material:velvet", "3", "4.5", "2"],
        ["11", "oak writing desk", "Desks", "Furniture / Desks", "", "material:oak", "", "", ""],
        ["12", "blue wool rug", "Rugs", "Decor / Rugs", "warm wool",
         "color:blue", "10", "4.0", "7"],
    ]
    return "\t".join(PRODUCT_COLUMNS) + "\n" + "".join("\t".join(r) + "\n" for r in rows)


@pytest.fixture()
def wands_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "data" / "wands"
    folder.mkdir(parents=True)
    (folder / "query.csv").write_text(QUERY)
    (folder / "label.csv").write_text(label_text())
    (folder / "product.csv").write_text(product_text())
    return folder


def test_loads_generated_files_and_resolves_duplicates(wands_dir):
    data = load_wands(wands_dir, download=False)
    assert list(data.pairs.columns) == PAIR_COLUMNS
    assert len(data.labels) == 6
    labels = data.labels.set_index(["query_id", "product_id"])["label"]
    assert labels[(1, 12)] == "Exact" and labels[(0, 10)] == "Exact"
    assert labels[(2, 10)] == "Irrelevant"
    assert data.report.count("duplicate (query, product) rows") == 4
    assert data.report.count("pairs with conflicting labels") == 2
    assert data.report.rows_out == 6
    text = data.products.set_index("product_id")["text"]
    assert text[10] == "red velvet sofa. Sofas. a soft red sofa"
    assert text[11] == "oak writing desk. Desks"
    assert set(data.pairs["family"]) == {"unknown"}
    assert "duplicate" in str(data.report)


def test_parent_folder_and_course_data_dir_both_work(wands_dir, monkeypatch):
    assert len(load_wands(wands_dir.parent, download=False).labels) == 6
    monkeypatch.setenv("COURSE_DATA_DIR", str(wands_dir.parent))
    assert load_wands(download=False).folder == wands_dir


def test_relevance_pairs_and_datasets_for_wands(wands_dir):
    pairs = relevance_pairs(load_wands(wands_dir, download=False))
    assert (pairs.groupby("query_id")["split"].nunique() == 1).all()
    dd = to_dataset_dict(pairs)
    assert all(d.features["label"].names == LABELS for d in dd.values())


def test_without_product_csv(wands_dir):
    (wands_dir / "product.csv").unlink()
    data = load_wands(wands_dir, download=False, products=False)
    assert data.products is None and len(data.labels) == 6
    with pytest.raises(CourseDataError, match="product.csv"):
        relevance_pairs(data)
    with pytest.raises(CourseDataError, match=(
            r"product.csv is missing.*github.com/wayfair/WANDS.*products=False")):
        load_wands(wands_dir, download=False)


def test_labels_of_unknown_products_are_counted(wands_dir):
    rows = LABEL_ROWS + [(0, 99, "Partial")]
    (wands_dir / "label.csv").write_text(label_text(rows))
    data = load_wands(wands_dir, download=False)
    assert data.report.count("labels of a product_id not in product.csv") == 1
    assert 99 not in set(data.labels["product_id"])


@pytest.mark.parametrize("content, pattern", [
    ("", r"label.csv is empty"),
    (LABEL_HEADER, r"label.csv has a header but no data rows"),
    ("id,query_id,product_id,label\n0,0,10,Exact\n",
     r"label.csv looks comma-separated.*tab-separated"),
    ("id\tquery_id\tproduct\tlabel\n0\t0\t10\tExact\n",
     r"label.csv lacks the column\(s\) \['product_id'\]"),
    (LABEL_HEADER + "0\t0\t10\tExact\n1\t0\t11\tRelevant\n",
     r"label.csv, line 3: column 'label' has the unknown label 'Relevant'"),
    (LABEL_HEADER + "0\t0\tten\tExact\n", r"label.csv, line 2: column 'product_id' holds 'ten'"),
    (LABEL_HEADER + "0\t0\t10\tExact\n1\t\t11\tExact\n",
     r"label.csv, line 3: column 'query_id' is empty"),
    (LABEL_HEADER + "0\t0\t10\tExact\textra\tfield\n",
     r"label.csv, line 2 has 6 fields, but the header line has 4"),
    (LABEL_HEADER + "0\t0\t10\tExact\n1\t0\t11\tExact\tx\n",
     r"label.csv, line 3 has 5 fields, but the header line has 4"),
])
def test_bad_label_files_name_the_file_and_place(wands_dir, content, pattern):
    (wands_dir / "label.csv").write_text(content)
    with pytest.raises(CourseDataError, match=pattern):
        load_wands(wands_dir, download=False)


def test_non_utf8_byte_names_the_line(wands_dir):
    latin1_row = "3\tcaf\xe9 chair\tChairs\n".encode("latin-1")
    (wands_dir / "query.csv").write_bytes(QUERY.encode() + latin1_row)
    with pytest.raises(CourseDataError, match=(
            r"query.csv, line 5, character 6: byte 0xe9 is not valid UTF-8")):
        load_wands(wands_dir, download=False)


def test_missing_file_without_download(wands_dir):
    (wands_dir / "query.csv").unlink()
    with pytest.raises(CourseDataError, match=r"query.csv is missing.*COURSE_DATA_DIR"):
        load_wands(wands_dir, download=False)


def test_renamed_product_column(wands_dir):
    (wands_dir / "product.csv").write_text(product_text().replace("product_name", "name", 1))
    with pytest.raises(CourseDataError, match=(
            r"product.csv lacks the column\(s\) \['product_name'\]")):
        load_wands(wands_dir, download=False)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from(LABELS)),
                min_size=1, max_size=40))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_duplicate_policy_properties(rows):
    labels = pd.DataFrame(rows, columns=["query_id", "product_id", "label"])
    kept = resolve_duplicates(labels)
    assert not kept.duplicated(["query_id", "product_id"]).any()
    assert len(kept) == len(labels.drop_duplicates(["query_id", "product_id"]))
    for (q, p), group in labels.groupby(["query_id", "product_id"]):
        votes = group["label"].value_counts()
        best = votes[votes == votes.max()].index
        expected = max(best, key=LABELS.index)  # the tie goes to the less relevant grade
        assert kept[(kept.query_id == q) & (kept.product_id == p)]["label"].item() == expected


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from(LABELS)),
                min_size=1, max_size=30))
@settings(max_examples=40, deadline=None)
def test_label_parser_round_trip(rows):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "label.csv"
        path.write_text(label_text(rows))
        parsed = read_wands_labels(path)
    assert list(zip(parsed.query_id, parsed.product_id, parsed.label, strict=True)) == rows


@pytest.fixture(scope="module")
def real_wands():
    root = os.environ.get("COURSE_DATA_DIR")
    if not root:
        pytest.skip("COURSE_DATA_DIR not set: the real WANDS files are not available here")
    if not (Path(root) / "wands" / "label.csv").is_file():
        pytest.skip(f"COURSE_DATA_DIR={root} has no wands/label.csv")
    return load_wands(download=False, products=False)


def test_real_wands_counts(real_wands):
    report = real_wands.report
    print(report)
    assert report.rows_in == 233_448
    assert report.count("duplicate (query, product) rows") == 1_575
    assert report.count("pairs with conflicting labels") == 14
    assert len(real_wands.queries) == 480
    assert len(real_wands.labels) == 233_448 - 1_575
    share = real_wands.labels["label"].value_counts(normalize=True)
    assert abs(share["Exact"] - 0.110) < 0.002 and abs(share["Partial"] - 0.628) < 0.002
    no_exact = 480 - real_wands.labels[real_wands.labels.label == "Exact"]["query_id"].nunique()
    assert no_exact == 101
    assert (real_wands.pairs.groupby("query_id")["split"].nunique() == 1).all()


def test_category_hierarchy_with_underscore_is_accepted(wands_dir):
    renamed = product_text().replace("category hierarchy", "category_hierarchy")
    (wands_dir / "product.csv").write_text(renamed)
    data = load_wands(wands_dir, download=False)
    assert data.products["category hierarchy"].tolist()[0] == "Furniture / Sofas"


def test_repeated_query_id_is_rejected_with_both_lines(wands_dir):
    (wands_dir / "query.csv").write_text(QUERY + "\n1\toak writing desk\tDesks\n")
    with pytest.raises(CourseDataError, match=(
            r"query.csv, lines 3 and 6: query_id 1 appears twice; each query_id must be unique")):
        load_wands(wands_dir, download=False)


def test_repeated_product_id_keeps_the_first_row_and_is_counted(wands_dir):
    (wands_dir / "product.csv").write_text(
        product_text() + "\t".join(["12", "blue rug again", "Rugs", "", "", "", "", "", ""]) + "\n")
    data = load_wands(wands_dir, download=False)
    assert data.report.count("repeated product_id rows in product.csv") == 1
    assert "product_id 12 on lines 4 and 5" in str(data.report)
    assert len(data.products) == 3
    assert data.products.set_index("product_id").loc[12, "product_name"] == "blue wool rug"
    assert len(data.pairs) == 6  # no pair is multiplied


@pytest.mark.parametrize("swallowed, closing, reason", [
    (5, 'fits a tv of 18"', "line 3 reads as a record of its own"),
    (5, 'a 18" tv', "its closing quote is not followed by a delimiter"),
    (0, 'fits a tv of 18"', "line 3 reads as a record of its own"),  # one row swallowed
])
def test_a_stray_quote_in_product_csv_is_an_error_not_lost_products(
        wands_dir, swallowed, closing, reason):
    empty = ["", "", "", ""]
    rows = [["10", "red velvet sofa", "Sofas", "Furniture / Sofas", '"soft red sofa'] + empty]
    rows += [[str(p), f"product {p}", "Desks", "Furniture", "plain"] + empty
             for p in range(11, 11 + swallowed)]
    rows += [["16", "tv stand", "Stands", "Furniture", closing] + empty]
    (wands_dir / "product.csv").write_text(
        "\t".join(PRODUCT_COLUMNS) + "\n" + "".join("\t".join(r) + "\n" for r in rows))
    if swallowed == 0:  # pandas alone merges product 16 into product 10, without a word
        assert pd.read_csv(wands_dir / "product.csv", sep="\t")["product_id"].tolist() == [10]
    with pytest.raises(CourseDataError, match=(
            r"product.csv, line 2: a quote \(\"\) opens column 'product_description' here and "
            rf"closes only on line {3 + swallowed}.*{reason}")):
        load_wands(wands_dir, download=False)


def test_inches_and_inner_quotes_in_product_csv_load(wands_dir):
    empty = ["", "", "", ""]
    rows = [["10", 'TV stand for 18"', "Stands", "Furniture", 'a "solid" 18" x 24" top'] + empty,
            ["11", "oak desk", "Desks", "Furniture", 'width 30"'] + empty,
            ["12", "blue rug", "Rugs", "Decor", "wool"] + empty]
    (wands_dir / "product.csv").write_text(
        "\t".join(PRODUCT_COLUMNS) + "\n" + "".join("\t".join(r) + "\n" for r in rows))
    data = load_wands(wands_dir, download=False)
    text = data.products.set_index("product_id")["text"]
    assert text[10] == 'TV stand for 18". Stands. a "solid" 18" x 24" top'
    assert data.report.count("labels of a product_id not in product.csv") == 0


def test_line_numbers_count_blank_lines(wands_dir):
    (wands_dir / "label.csv").write_text(
        "id\tquery_id\tproduct_id\tlabel\n\n0\t0\t10\tExact\n\n\n1\t0\t11\tRelevant\n")
    with pytest.raises(CourseDataError, match=(
            r"label.csv, line 6: column 'label' has the unknown label 'Relevant'")):
        load_wands(wands_dir, download=False)


@pytest.mark.parametrize("cell", ["inf", "-inf", "nan", "1e400", "2.5"])
def test_ids_must_be_whole_finite_numbers_shown_as_written(wands_dir, cell):
    (wands_dir / "label.csv").write_text(f"id\tquery_id\tproduct_id\tlabel\n0\t0\t{cell}\tExact\n")
    with pytest.raises(CourseDataError, match=(
            rf"line 2: column 'product_id' holds '{cell}', (not a whole|read as a missing)")):
        load_wands(wands_dir, download=False)


def test_no_label_left_is_an_error_with_the_counts(wands_dir):
    (wands_dir / "label.csv").write_text(label_text([(7, 10, "Exact"), (8, 11, "Partial")]))
    with pytest.raises(CourseDataError, match=(
            r"no rows are left after cleaning \(2 read; duplicate \(query, product\) rows: 0; "
            r"labels of a query_id not in query.csv: 2.*same WANDS release")):
        load_wands(wands_dir, download=False, products=False)


def test_each_file_is_found_on_its_own(wands_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(wands_dir.parent))
    (wands_dir / "label.csv").unlink()
    with pytest.raises(CourseDataError) as caught:
        load_wands(download=False)
    message = str(caught.value)
    assert "WANDS file label.csv is missing" in message and "query.csv is missing" not in message
    assert str(wands_dir / "label.csv") in message
    assert str(tmp_path / "cache" / "wands" / "label.csv") in message
    fetched = []

    def fake_download(url, dest, sha256=None, **kwargs):
        fetched.append(Path(dest).name)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_text(label_text())
        return Path(dest)

    monkeypatch.setattr("course.data.wands.download_file", fake_download)
    data = load_wands(download=True)
    assert fetched == ["label.csv"]  # query.csv and product.csv were found in COURSE_DATA_DIR
    assert len(data.queries) == 3 and len(data.labels) == 6


@pytest.mark.parametrize("make", ["missing", "file"])
def test_a_bad_course_data_dir_is_an_error_for_a_loader(tmp_path, monkeypatch, make):
    target = tmp_path / "nowhere"
    if make == "file":
        target.write_text("not a folder")
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    what = "does not exist" if make == "missing" else "is a file, not a folder"
    with pytest.raises(CourseDataError, match=rf"COURSE_DATA_DIR=.*nowhere {what}"):
        load_wands(download=False)


def test_compressed_label_file_under_a_plain_name(wands_dir):
    import gzip

    (wands_dir / "label.csv").write_bytes(gzip.compress(label_text().encode()))
    with pytest.raises(CourseDataError, match=(
            "label.csv: this file is compressed.*name it .gz or decompress it")):
        load_wands(wands_dir, download=False)
