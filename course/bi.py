"""Business-intelligence helpers for lesson 01: tables and plots a merchandiser reads.

Each function takes plain DataFrames (mini-shop or the real data sets) so the
same dashboard works on both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from course.data import LABELS
from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "concentration_curve",
    "dashboard",
    "gini",
    "label_mix",
    "lorenz_curve",
    "monthly",
    "pareto_share",
    "queries_without_exact",
    "query_lengths",
    "repeat_purchase_rate",
]


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CourseDataError(f"{what} needs the columns {missing}; it has {list(frame.columns)}.")


def query_lengths(queries: pd.Series) -> pd.Series:
    """Number of words in each query."""
    return queries.fillna("").astype(str).str.split().str.len()


def concentration_curve(counts: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Pareto view: share of items (most sold first) against their share of sales.

    Returns:
        ``(item_share, sales_share)``, both starting at 0 and ending at 1; the curve is
        concave, and "the top 20% of items make x% of sales" is read off at 0.2.
    """
    values = _amounts(counts, "concentration_curve()")[::-1]
    item_share = np.arange(values.size + 1) / values.size
    sales_share = np.r_[0.0, np.cumsum(values) / values.sum()]
    return item_share, sales_share


def lorenz_curve(amounts: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Lorenz curve: share of items (least sold first) against their share of the total.

    The mirror image of :func:`concentration_curve`: convex and below the diagonal; the area
    between it and the diagonal is half the :func:`gini` coefficient.
    """
    values = _amounts(amounts, "lorenz_curve()")
    cumulative = np.r_[0.0, np.cumsum(values)]
    return np.linspace(0, 1, values.size + 1), cumulative / cumulative[-1]


def gini(amounts: pd.Series | np.ndarray) -> float:
    """Gini coefficient of non-negative amounts: 0 when all are equal, near 1 when one has all.

    ``G = sum_i (2 i - n - 1) x_(i) / (n sum x)`` over the sorted amounts ``x_(1..n)``;
    all-zero amounts give 0.
    """
    x = np.sort(np.asarray(amounts, dtype=float).ravel())
    if len(x) == 0 or (x < 0).any() or not np.isfinite(x).all():
        raise CourseArgumentError("gini() needs a non-empty array of non-negative amounts.")
    total = x.sum()
    if total == 0:
        return 0.0
    n = len(x)
    return float(np.sum((2 * np.arange(1, n + 1) - n - 1) * x) / (n * total))


def _amounts(values: pd.Series | np.ndarray, what: str) -> np.ndarray:
    """Sorted (ascending) finite, non-negative amounts with a positive total, or an error."""
    x = np.sort(np.asarray(values, dtype=float).ravel())
    if x.size == 0 or (x < 0).any() or not np.isfinite(x).all() or x.sum() <= 0:
        raise CourseDataError(f"{what} needs non-negative counts with a positive total.")
    return x


def repeat_purchase_rate(transactions: pd.DataFrame, user: str, order: str) -> float:
    """Share of customers who placed two or more distinct orders."""
    _require(transactions, [user, order], "repeat_purchase_rate()")
    orders = transactions.groupby(user)[order].nunique()
    if orders.empty:
        raise CourseDataError("repeat_purchase_rate() got no transactions.")
    return float((orders >= 2).mean())


def monthly(transactions: pd.DataFrame, time: str, value: str | None = None) -> pd.Series:
    """Monthly total of ``value`` (or a row count when ``value`` is None)."""
    _require(transactions, [time] + ([value] if value else []), "monthly()")
    grouped = transactions.set_index(pd.to_datetime(transactions[time]))
    series = grouped[value] if value else grouped[time]
    monthly_series = series.resample("MS").sum() if value else series.resample("MS").count()
    return monthly_series.rename(value or "rows")


def label_mix(labels: pd.DataFrame) -> pd.DataFrame:
    """Per query: the share of each grade among its judged products (columns in LABELS order)."""
    _require(labels, ["query_id", "label"], "label_mix()")
    mix = pd.crosstab(labels["query_id"], labels["label"], normalize="index")
    return mix.reindex(columns=LABELS, fill_value=0.0)


def queries_without_exact(labels: pd.DataFrame) -> list:
    """The sorted query ids none of whose judged products is labelled Exact (content gaps)."""
    _require(labels, ["query_id", "label"], "queries_without_exact()")
    has_exact = (labels["label"] == "Exact").groupby(labels["query_id"]).any()
    return sorted(has_exact.index[~has_exact].tolist())


def pareto_share(item_counts: pd.Series | np.ndarray, top_fraction: float = 0.2) -> float:
    """Share of all sales made by the best-selling ``ceil(top_fraction × items)`` items."""
    if not 0 < top_fraction <= 1:
        raise CourseArgumentError(f"top_fraction must be in (0, 1], got {top_fraction}.")
    counts = np.sort(np.asarray(item_counts, dtype=float))[::-1]
    if counts.size == 0 or counts.sum() <= 0:
        raise CourseDataError("pareto_share() needs at least one positive count.")
    top = int(np.ceil(top_fraction * counts.size))
    return float(counts[:top].sum() / counts.sum())


def dashboard(
    query_text: pd.Series,
    labels: pd.DataFrame,
    item_counts: pd.Series,
    sales_by_month: pd.Series,
    title: str = "Search and recommendation dashboard",
) -> Any:
    """A 2×2 dashboard: query lengths, label mix per query, sales concentration, monthly sales."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    lengths = query_lengths(query_text)
    axes[0, 0].hist(lengths, bins=range(1, int(lengths.max()) + 2), color="#4C72B0", align="left")
    axes[0, 0].set(title="Query length", xlabel="words", ylabel="queries")

    mix = label_mix(labels).sort_values("Exact")
    axes[0, 1].stackplot(np.arange(len(mix)), *(mix[c] for c in LABELS), labels=LABELS,
                         colors=["#55A868", "#CCB974", "#C44E52"])
    axes[0, 1].set(title="Label mix per query (sorted by Exact share)", xlabel="queries",
                   ylabel="share")
    axes[0, 1].legend(loc="upper left", fontsize=8)

    x, y = concentration_curve(item_counts)
    axes[1, 0].plot(x, y, color="#8172B2")
    axes[1, 0].plot([0, 1], [0, 1], color="grey", linestyle=":")
    top20 = pareto_share(item_counts, 0.2)
    axes[1, 0].axvline(0.2, color="grey", linewidth=0.8)
    axes[1, 0].set(title=f"Sales concentration: top 20% of items = {top20:.0%} of sales",
                   xlabel="share of items (best sellers first)", ylabel="share of sales")

    axes[1, 1].bar(sales_by_month.index.strftime("%Y-%m"), sales_by_month.to_numpy(),
                   color="#DD8452")
    axes[1, 1].set(title="Sales per month", ylabel=sales_by_month.name)
    axes[1, 1].tick_params(axis="x", rotation=60, labelsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
