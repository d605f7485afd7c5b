"""Unit tests for course.deploy.latency: nearest-rank percentiles, reports, timing and plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from course.deploy.latency import (
    latency_report,
    percentile,
    plot_latency,
    summary_table,
    time_calls,
)
from course.errors import CourseArgumentError


def test_nearest_rank_percentile_by_hand():
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 30) == 20  # ceil(0.3 * 5) = 2nd value
    assert percentile(values, 40) == 20
    assert percentile(values, 50) == 35
    assert percentile(values, 100) == 50
    assert percentile(values, 0) == 15
    assert percentile([7.0], 99) == 7.0


def test_percentile_matches_numpys_inverted_cdf_and_is_a_measured_value():
    rng = np.random.default_rng(0)
    for n in (1, 2, 9, 100, 1001):
        values = rng.lognormal(3, 0.5, n)
        for q in (1, 50, 95, 99, 99.9):
            got = percentile(values, q)
            assert got == np.percentile(values, q, method="inverted_cdf")
            assert got in values


def test_percentile_rejects_bad_input():
    with pytest.raises(CourseArgumentError):
        percentile([], 50)
    with pytest.raises(CourseArgumentError):
        percentile([1, 2], 101)
    with pytest.raises(CourseArgumentError):
        percentile([1, float("nan")], 50)
    with pytest.raises(CourseArgumentError):
        percentile([1, -2], 50)


def test_latency_report_uses_the_wall_clock_for_throughput():
    # 8 requests of 100 ms each, 4 at a time: 0.2 s of wall clock, not 0.8 s
    report = latency_report([100.0] * 8, wall_seconds=0.2, failed=1)
    assert report["requests_per_s"] == pytest.approx(40.0)
    assert report["p50_ms"] == report["p99_ms"] == 100.0
    assert report["requests"] == 9 and report["failed"] == 1
    with pytest.raises(CourseArgumentError):
        latency_report([1.0], wall_seconds=0)


def test_time_calls_counts_calls_and_skips_warmup():
    calls = []
    durations = time_calls(lambda: calls.append(1), repeats=5, warmup=3)
    assert len(calls) == 8 and durations.shape == (5,) and (durations >= 0).all()
    with pytest.raises(CourseArgumentError):
        time_calls(lambda: None, repeats=0)


def test_summary_table_and_plot():
    table = summary_table({"a": [0.01, 0.02, 0.03], "b": [0.1]}, items={"a": 32})
    assert table.loc["a", "p50_ms"] == pytest.approx(20.0)
    assert table.loc["a", "items_per_s"] == pytest.approx(32 / 0.02)
    assert np.isnan(table.loc["b", "items_per_s"])
    fig = plot_latency({"c=1": [1, 2, 3, 10], "c=8": [5, 6, 7]})
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 3  # p50, p95, p99
