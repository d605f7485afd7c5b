import numpy as np
import pandas as pd
import pytest

from course import bi
from course.errors import CourseArgumentError, CourseDataError


def test_query_lengths_counts_words():
    assert bi.query_lengths(pd.Series(["red sofa", " oak  table set ", None])).tolist() == [2, 3, 0]


def test_concentration_curve_of_a_skewed_catalog():
    x, y = bi.concentration_curve(pd.Series([1, 1, 8]))
    assert x.tolist() == [0, 1 / 3, 2 / 3, 1]
    assert y.tolist() == [0, 0.8, 0.9, 1.0]


def test_lorenz_curve_is_the_mirror_and_its_area_gives_gini():
    x, y = bi.lorenz_curve([8, 1, 1])
    assert x.tolist() == [0, 1 / 3, 2 / 3, 1]
    assert y == pytest.approx([0, 0.1, 0.2, 1.0])
    amounts = np.random.default_rng(3).pareto(1.2, 500)
    x, y = bi.lorenz_curve(amounts)
    area_under = np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2)  # trapezoids, by hand
    assert 1 - 2 * area_under == pytest.approx(bi.gini(amounts), abs=1e-9)


@pytest.mark.parametrize("curve", [bi.concentration_curve, bi.lorenz_curve])
@pytest.mark.parametrize("bad", [[], [0, 0], [1, -1], [1, float("nan")]])
def test_curves_reject_what_has_no_share(curve, bad):
    with pytest.raises(CourseDataError, match="non-negative counts with a positive total"):
        curve(bad)


def test_gini_extremes_and_the_mean_difference_formula():
    assert bi.gini([3, 3, 3, 3]) == 0.0
    assert bi.gini([0, 0, 0, 10]) == pytest.approx(3 / 4)
    assert bi.gini([0, 0]) == 0.0
    rng = np.random.default_rng(0)
    x = rng.pareto(1.5, 300)
    mean_difference = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert bi.gini(x) == pytest.approx(mean_difference)
    with pytest.raises(CourseArgumentError, match="non-negative"):
        bi.gini([1, -1])




def test_repeat_purchase_rate():
    tx = pd.DataFrame({"user": [1, 1, 2, 3, 3], "order": ["a", "b", "c", "d", "d"]})
    assert bi.repeat_purchase_rate(tx, "user", "order") == pytest.approx(1 / 3)
    with pytest.raises(CourseDataError, match="order"):
        bi.repeat_purchase_rate(tx.drop(columns="order"), "user", "order")


def test_monthly_sums_and_counts():
    tx = pd.DataFrame({"t": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-03-01"]),
                       "v": [1.0, 2.0, 5.0]})
    assert bi.monthly(tx, "t", "v").tolist() == [3.0, 0.0, 5.0]
    assert bi.monthly(tx, "t").tolist() == [2, 0, 1]


def test_label_mix_rows_sum_to_one_in_label_order():
    labels = pd.DataFrame({"query_id": [1, 1, 1, 2],
                           "label": ["Exact", "Irrelevant", "Irrelevant", "Partial"]})
    mix = bi.label_mix(labels)
    assert list(mix.columns) == ["Exact", "Partial", "Irrelevant"]
    assert np.allclose(mix.sum(axis=1), 1.0)
    assert mix.loc[1, "Irrelevant"] == pytest.approx(2 / 3)


def test_dashboard_draws_four_panels():
    labels = pd.DataFrame({"query_id": [1, 1, 2], "label": ["Exact", "Partial", "Irrelevant"]})
    months = pd.Series([3.0, 4.0], index=pd.to_datetime(["2024-01-01", "2024-02-01"]),
                       name="revenue")
    fig = bi.dashboard(pd.Series(["a b", "c"]), labels, pd.Series([5, 1, 1]), months)
    assert len(fig.axes) == 4
    assert "top 20% of items = 71% of sales" in fig.axes[2].get_title()  # pareto_share: 5 / 7


def test_queries_without_exact_lists_the_content_gaps():
    labels = pd.DataFrame({"query_id": [3, 3, 1, 2, 2],
                           "label": ["Partial", "Irrelevant", "Irrelevant", "Exact", "Partial"]})
    assert bi.queries_without_exact(labels) == [1, 3]
    assert bi.queries_without_exact(labels[labels.query_id == 2]) == []


def test_pareto_share_takes_the_ceiling_of_the_top_fraction():
    assert bi.pareto_share(pd.Series([10, 0, 0, 0, 0]), 0.2) == 1.0
    assert bi.pareto_share(pd.Series([5, 1, 1]), 0.2) == pytest.approx(5 / 7)  # ceil(0.6) = 1
    assert bi.pareto_share(pd.Series({"a": 2, "b": 8}), 0.5) == pytest.approx(0.8)
    with pytest.raises(CourseArgumentError):
        bi.pareto_share([1, 2], 0)
    with pytest.raises(CourseDataError):
        bi.pareto_share([], 0.2)
