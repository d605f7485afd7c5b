"""Latency and throughput: time calls, summarise timings, draw them.

A service is judged by its slow requests, not by its average, so everything here
reports percentiles (p50, p95, p99) next to the mean:

* :func:`percentile`: the nearest-rank percentile, the definition load testers use;
* :func:`latency_report`: p50/p95/p99 in milliseconds and requests per second, where
  the throughput comes from the wall clock (with concurrency, many requests overlap);
* :func:`time_calls`: run a function repeatedly and keep each call's duration;
* :func:`plot_latency`: a histogram with the percentiles marked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from course.errors import CourseArgumentError

__all__ = [
    "PERCENTILES",
    "latency_report",
    "percentile",
    "plot_latency",
    "summary_table",
    "time_calls",
]

PERCENTILES = (50, 95, 99)


def _as_timings(values: Sequence[float] | np.ndarray, name: str = "timings") -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise CourseArgumentError(f"{name} is empty; time at least one call.")
    if not np.isfinite(array).all() or (array < 0).any():
        raise CourseArgumentError(f"{name} must hold finite, non-negative durations.")
    return array


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` % of values at or below it.

    ``sorted(values)[ceil(q / 100 * n) - 1]`` (the first value for ``q = 0``). Unlike an
    interpolated percentile it is always one of the measured values.
    """
    if not 0 <= q <= 100:
        raise CourseArgumentError(f"q must be between 0 and 100, got {q}.")
    ordered = np.sort(_as_timings(values, "values"))
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def latency_report(
    latencies_ms: Sequence[float], wall_seconds: float, failed: int = 0
) -> dict[str, float]:
    """p50/p95/p99 and mean latency (ms), and requests per second over the wall clock.

    Args:
        latencies_ms: one duration per completed request, in milliseconds.
        wall_seconds: time from the first request sent to the last answer received.
        failed: requests that got no successful answer (counted, not timed).
    """
    timings = _as_timings(latencies_ms, "latencies_ms")
    if wall_seconds <= 0:
        raise CourseArgumentError(f"wall_seconds must be positive, got {wall_seconds}.")
    report = {f"p{q}_ms": percentile(timings, q) for q in PERCENTILES}
    report.update(
        {
            "mean_ms": float(timings.mean()),
            "max_ms": float(timings.max()),
            "requests": int(timings.size + failed),
            "failed": int(failed),
            "requests_per_s": float(timings.size / wall_seconds),
        }
    )
    return report


def time_calls(fn: Callable[[], object], repeats: int = 20, warmup: int = 2) -> np.ndarray:
    """Durations in seconds of ``repeats`` calls of ``fn()``, after ``warmup`` untimed calls."""
    if repeats < 1 or warmup < 0:
        raise CourseArgumentError("repeats must be >= 1 and warmup >= 0.")
    for _ in range(warmup):
        fn()
    durations = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        durations[i] = time.perf_counter() - start
    return durations


def summary_table(
    timings_s: Mapping[str, Sequence[float]], items: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """One row per name: p50/p95/p99 and mean in ms, and items per second at the median.

    Args:
        timings_s: name -> durations in seconds (e.g. from :func:`time_calls`).
        items: name -> items handled per call (the batch size), for a throughput column.
    """
    rows = {}
    for name, values in timings_s.items():
        ms = _as_timings(values, f"timings_s[{name!r}]") * 1000
        row = {f"p{q}_ms": percentile(ms, q) for q in PERCENTILES}
        row["mean_ms"] = float(ms.mean())
        if items and name in items:
            row["items_per_s"] = items[name] / (row["p50_ms"] / 1000)
        rows[name] = row
    return pd.DataFrame(rows).T


def plot_latency(
    latencies_ms: Mapping[str, Sequence[float]], title: str = "Request latency", bins: int = 40
):
    """Histograms of latencies (one per name) with p50/p95/p99 marked; returns the Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(latencies_ms), figsize=(5.5 * len(latencies_ms), 3.4), squeeze=False
    )
    for ax, (name, values) in zip(axes[0], latencies_ms.items(), strict=True):
        ms = _as_timings(values, name)
        ax.hist(ms, bins=bins, color="tab:blue", alpha=0.75)
        for q, style in zip(PERCENTILES, (":", "--", "-"), strict=True):
            ax.axvline(percentile(ms, q), color="black", linestyle=style, label=f"p{q}")
        ax.set(xlabel="latency (ms)", ylabel="requests", title=f"{title}: {name}")
        ax.legend()
    fig.tight_layout()
    return fig
