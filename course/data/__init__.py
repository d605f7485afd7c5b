"""The course's data: the mini-shop generator and loaders for WANDS, ESCI and Online Retail.

Everything a lesson needs is importable from ``course.data``:

* ``make_minishop(seed)`` -> :class:`MiniShop` (products, queries, labels, purchases, users);
* ``load_wands()``, ``load_esci()``, ``load_online_retail()`` for the real data sets
  (root argument > ``COURSE_DATA_DIR`` > download cache);
* ``relevance_pairs(data, split)`` -> the same pair table for every relevance set;
* ``split_queries`` for query splits without leakage (purchase histories are split by
  ``course.recsys.leave_last_out``);
* ``to_dataset`` / ``to_dataset_dict`` with ``ClassLabel(names=LABELS)``;
* ``LABELS`` (the three grades, in class order) and ``GAINS`` (their NDCG gains):
  the one home of both;
* ``available_datasets()`` and ``summary_main()`` (``course data summary``);
"""

from course.data.common import (
    FAMILIES,
    GAINS,
    LABELS,
    PAIR_COLUMNS,
    SPLITS,
    CleaningReport,
    read_table,
    resolve_duplicates,
)
from course.data.download import download_file
from course.data.esci import DEFAULT_LABEL_MAP, EsciData, esci_label_map, load_esci
from course.data.minishop import MiniShop, grade, make_minishop
from course.data.retail import RetailData, clean_online_retail, load_online_retail
from course.data.splits import (
    check_no_leak,
    label_ids,
    relevance_pairs,
    split_queries,
    to_dataset,
    to_dataset_dict,
)
from course.data.summary import (
    available_datasets,
    label_distribution,
    summary_main,
    text_length_stats,
)
from course.data.wands import WandsData, load_wands

__all__ = [
    "DEFAULT_LABEL_MAP", "FAMILIES", "GAINS", "LABELS", "PAIR_COLUMNS", "SPLITS", "CleaningReport",
    "EsciData", "MiniShop", "RetailData", "WandsData", "available_datasets",
    "check_no_leak", "clean_online_retail", "download_file", "esci_label_map", "grade",
    "label_distribution",
    "label_ids", "load_esci", "load_online_retail", "load_wands",
    "make_minishop", "read_table", "relevance_pairs", "resolve_duplicates",
    "split_queries", "summary_main", "text_length_stats", "to_dataset", "to_dataset_dict",
]
