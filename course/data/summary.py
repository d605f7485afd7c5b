"""``course data summary``: what data is here, how big it is, and what is missing."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from course import config
from course.data import esci, retail, wands
from course.data.common import LABELS, data_dir_problem
from course.data.minishop import make_minishop
from course.data.splits import relevance_pairs
from course.errors import CourseDataError


def available_datasets(root: str | Path | None = None) -> dict[str, dict]:
    """Which data sets are present, where, and exactly which files are missing.

    A ``COURSE_DATA_DIR`` that is missing or not a folder is not an error here: it
    is reported with a warning, and its data sets count as missing.

    Returns:
        ``{name: {"available": bool, "where": str | None, "missing": [...], "how": str}}``
        for ``minishop``, ``wands``, ``esci`` and ``online_retail``.
    """
    problem = data_dir_problem() if root is None else None
    if problem:
        warnings.warn(problem, stacklevel=2)
    found: dict[str, dict] = {
        "minishop": {"available": True, "where": "generated in memory (course.data.make_minishop)",
                     "missing": [], "how": ""},
    }
    found["wands"] = _wands_status(root, problem)
    found["esci"] = _esci_status(root, problem)
    found["online_retail"] = _retail_status(root, problem)
    return found


def _how(how: str, problem: str | None) -> str:
    return f"{problem} {how}" if problem else how


def _wands_status(root, problem: str | None) -> dict:
    missing, where = [], None
    for name in wands.WANDS_FILES:
        path = None if problem else _local_wands(name, root)
        if path is None:
            missing.append(name)
        elif where is None:
            where = str(path.parent)
    available = "label.csv" not in missing and "query.csv" not in missing
    return {"available": available, "where": where, "missing": missing,
            "how": _how(wands.HOW_TO_GET, problem)}


def _esci_status(root, problem: str | None) -> dict:
    source = None if problem else esci.find_esci(root)
    missing = [esci.EXAMPLES, esci.PRODUCTS]
    if source is not None:
        pair = source.with_name(esci.PRODUCTS)
        missing = [] if source.suffix != ".parquet" or pair.is_file() else [esci.PRODUCTS]
    return {"available": source is not None and not missing,
            "where": str(source) if source else None, "missing": missing,
            "how": _how(esci.HOW_TO_GET, problem)}


def _retail_status(root, problem: str | None) -> dict:
    how = _how(retail.HOW_TO_GET, problem)
    try:
        if problem:
            raise CourseDataError(problem)
        path = retail.find_online_retail(root)
    except CourseDataError:
        return {"available": False, "where": None, "missing": [retail.FILE_NAMES[0]], "how": how}
    return {"available": True, "where": str(path), "missing": [], "how": how}


def _local_wands(name: str, root) -> Path | None:
    try:
        return wands.wands_file(name, root, download=False)
    except CourseDataError:
        return None


def text_length_stats(texts, tokenizer=None, sample: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Words (and tokens, with ``tokenizer``) per text: mean, median, p95, max.

    At most ``sample`` texts are measured (a seeded random sample).
    """
    texts = pd.Series(list(texts), dtype=object).fillna("").astype(str)
    if len(texts) > sample:
        texts = texts.sample(sample, random_state=seed)
    rows = {"words": texts.str.split().str.len().to_numpy()}
    if tokenizer is not None:
        encoded = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        rows["MiniLM tokens"] = np.array([len(ids) for ids in encoded])
    stats = {
        name: {"mean": float(v.mean()), "median": float(np.median(v)),
               "p95": float(np.percentile(v, 95)), "max": int(v.max())}
        for name, v in rows.items()
    }
    return pd.DataFrame(stats).T.round(1)


def label_distribution(labels: pd.Series) -> pd.DataFrame:
    """Count and share of each label, in ``LABELS`` order."""
    counts = labels.value_counts().reindex(LABELS, fill_value=0)
    return pd.DataFrame({"pairs": counts, "share": (counts / max(1, counts.sum())).round(3)})


def _section(title: str) -> None:
    print(f"\n== {title} ==")


def _lengths(name: str, texts, tokenizer, sample: int) -> None:
    print(f"{name} length:")
    print(text_length_stats(texts, tokenizer, sample).to_string())


def summarise_minishop(tokenizer, sample: int, seed: int = 0) -> None:
    """Print the mini-shop's sizes, labels and text lengths."""
    shop = make_minishop(seed)
    pairs = relevance_pairs(shop)
    _section(f"mini-shop (generated, seed {seed})")
    print(f"products {len(shop.products):,}  queries {len(shop.queries):,}  "
          f"labelled pairs {len(pairs):,}  "
          f"users {len(shop.users):,}  purchases {len(shop.purchases):,}")
    print(pd.crosstab(shop.queries["split"], shop.queries["family"]).to_string())
    print(label_distribution(pairs["label"]).to_string())
    _lengths("query", shop.queries["query"], tokenizer, sample)
    _lengths("product text", shop.products["text"], tokenizer, sample)


def summarise_wands(root, tokenizer, sample: int, has_products: bool) -> None:
    """Print WANDS sizes, cleaning and lengths (product text only when product.csv is here)."""
    data = wands.load_wands(root, download=False, products=has_products)
    _section(f"WANDS ({data.folder})")
    print(f"queries {len(data.queries):,}  labelled pairs {len(data.labels):,}  "
          f"products {len(data.products):,}" if data.products is not None else
          f"queries {len(data.queries):,}  labelled pairs {len(data.labels):,}  "
          "products: product.csv missing")
    print(label_distribution(data.labels["label"]).to_string())
    print(data.report)
    _lengths("query", data.queries["query"], tokenizer, sample)
    if data.products is not None:
        _lengths("product text", data.products["text"], tokenizer, sample)


def summarise_esci(root, tokenizer, sample: int) -> None:
    """Print ESCI sizes, the label mapping and lengths."""
    data = esci.load_esci(root, download=False)
    _section(f"ESCI ({data.source})")
    print(f"rows {len(data.examples):,}  queries {data.examples['query_id'].nunique():,}  "
          f"products {data.examples['product_id'].nunique():,}")
    print(label_distribution(data.pairs["label"]).to_string())
    print(data.report)
    _lengths("query", data.examples["query"].drop_duplicates(), tokenizer, sample)
    _lengths("product text", data.examples["product_text"], tokenizer, sample)


def summarise_online_retail(root, tokenizer, sample: int) -> None:
    """Print Online Retail users, items, interactions, sequence lengths and cleaning."""
    data = retail.load_online_retail(root)
    _section(f"UCI Online Retail ({data.source})")
    lengths = data.sequences.map(len)
    print(f"customers {len(data.sequences):,}  items {len(data.items):,}  "
          f"interactions {len(data.interactions):,}  transactions {len(data.transactions):,}")
    print(f"sequence length: median {float(lengths.median()):.0f}  "
          f"mean {float(lengths.mean()):.1f}  "
          f"max {int(lengths.max())}  customers with < 3 items {int((lengths < 3).sum()):,}")
    print(data.report)
    _lengths("item text", data.items["text"], tokenizer, sample)


def summary_main(argv: list[str] | None = None) -> int:
    """``course data summary``: print a summary of every available data set. Returns 0."""
    parser = argparse.ArgumentParser(prog="course data summary", description=summary_main.__doc__,
                                     formatter_class=config.HelpFormatter)
    parser.add_argument("--data-dir",
                        help="folder with the real data sets (default: COURSE_DATA_DIR, "
                             "else the download cache)")
    parser.add_argument("--no-tokens", action="store_true",
                        help="skip MiniLM token counts (faster)")
    parser.add_argument("--sample", type=int, default=2000,
                        help="texts measured per set")
    parser.add_argument("--skip-minishop", action="store_true",
                        help="do not summarise the mini-shop")
    args = parser.parse_args(argv)
    root = args.data_dir
    tokenizer = None
    if not args.no_tokens:
        from course.models import load_tokenizer, resolve_model

        tokenizer = load_tokenizer(resolve_model("minilm"))
    print(f"COURSE_DATA_DIR={config.data_dir()}  cache={config.cache_dir()}")
    problem = data_dir_problem() if root is None else None
    if problem:
        print(f"WARNING: {problem}")
    with warnings.catch_warnings():  # printed above, once
        warnings.simplefilter("ignore")
        found = available_datasets(root)
    if not args.skip_minishop:
        summarise_minishop(tokenizer, args.sample)
    if found["wands"]["available"]:
        has_products = "product.csv" not in found["wands"]["missing"]
        summarise_wands(root, tokenizer, args.sample, has_products)
    if found["esci"]["available"]:
        summarise_esci(root, tokenizer, args.sample)
    if found["online_retail"]["available"]:
        summarise_online_retail(root, tokenizer, args.sample)
    missing = {k: v for k, v in found.items() if v["missing"]}
    _section("missing")
    if not missing:
        print("nothing: every data set is here.")
    for name, info in missing.items():
        print(f"{name}: missing {', '.join(info['missing'])}. {info['how']}")
    return 0


__all__ = ["available_datasets", "label_distribution", "summary_main", "text_length_stats"]
