"""Labels from clicks: position bias, propensities, and inverse-propensity weighting.

The simulator (:mod:`course.trust.simulate`) writes a click log in which shoppers look at
lower positions less often. This module turns such a log into training labels:

* :func:`ipw_weights`: ``1 / theta_position`` for every impression, capped so that a
  click far down the page cannot dominate (the bias-variance trade of clipping);
* :func:`click_labels`: one row per shown (query, product) with its impressions, its
  naive click-through rate and its inverse-propensity-weighted (IPW) rate, an unbiased
  estimate of P(click | examined) when the propensities are right;
* :func:`label_sources`: the shown pairs with naive, IPW and human labels side by side;
* :func:`fit_rankers`: ridge regressions from pair features to those targets, and
  :func:`ranking_quality` to compare them by NDCG@10 on human labels;
* :func:`plot_propensities`: estimated against true propensities.

References: Joachims, Swaminathan & Schnabel 2017, *Unbiased Learning-to-Rank with
Biased Feedback*; Wang et al. 2016, *Learning to Rank with Selection Bias in Personal Search*.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from course.data.common import GAINS
from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "click_labels",
    "fit_rankers",
    "ipw_weights",
    "label_sources",
    "plot_propensities",
    "ranking_quality",
]


def _propensity_lookup(propensities: Mapping | pd.Series | pd.DataFrame) -> pd.Series:
    """Position -> relative propensity, from a Series, a dict or estimate_propensities()."""
    if isinstance(propensities, pd.DataFrame):
        if not {"position", "propensity"} <= set(propensities.columns):
            raise CourseDataError(
                "A propensity table needs columns 'position' and 'propensity' "
                f"(simulate.estimate_propensities makes one); it has {list(propensities.columns)}."
            )
        propensities = propensities.set_index("position")["propensity"]
    series = pd.Series(propensities, dtype=float)
    if series.empty or (series <= 0).any() or series.isna().any():
        raise CourseArgumentError(
            f"Propensities must be positive numbers for each position; got {series.to_dict()}."
        )
    return series


def ipw_weights(
    positions: np.ndarray | pd.Series,
    propensities: Mapping | pd.Series | pd.DataFrame,
    max_weight: float = 10.0,
) -> np.ndarray:
    """Inverse-propensity weight of each impression: ``min(1 / theta[position], max_weight)``.

    Args:
        positions: 1-based position of each impression.
        propensities: ``theta`` per position (relative to position 1), e.g. the output
            of ``simulate.estimate_propensities``.
        max_weight: cap on a weight (clipping); ``np.inf`` for none.
    """
    if max_weight < 1:
        raise CourseArgumentError(f"max_weight must be >= 1; got {max_weight}.")
    theta = _propensity_lookup(propensities)
    positions = np.asarray(positions)
    missing = sorted(set(positions.tolist()) - set(theta.index.tolist()))
    if missing:
        raise CourseDataError(f"No propensity for positions {missing}; estimate them first.")
    weights = 1.0 / theta.reindex(positions).to_numpy()
    return np.minimum(weights, max_weight)


def click_labels(
    log: pd.DataFrame,
    propensities: Mapping | pd.Series | pd.DataFrame | None = None,
    max_weight: float = 10.0,
) -> pd.DataFrame:
    """One row per shown (query, product): impressions, clicks and the two click labels.

    ``naive_ctr`` is clicks / impressions: it mixes relevance with where the product
    was shown. ``ipw_ctr`` is the mean of ``clicked * weight`` over the impressions,
    with :func:`ipw_weights`; with true propensities and no cap its expectation is
    P(click | examined), whatever the positions were.

    Returns:
        Columns ``query_id, product_id, impressions, clicks, mean_position, naive_ctr``
        and, when ``propensities`` is given, ``ipw_ctr``.
    """
    needed = ["query_id", "product_id", "position", "clicked"]
    missing = [c for c in needed if c not in log.columns]
    if missing:
        raise CourseDataError(f"The click log lacks columns {missing}; it has {list(log.columns)}.")
    if log.empty:
        raise CourseDataError("The click log is empty.")
    frame = log[needed].assign(clicked=log["clicked"].astype(float))
    if propensities is not None:
        frame["weighted"] = frame["clicked"] * ipw_weights(frame["position"], propensities,
                                                           max_weight)
    groups = frame.groupby(["query_id", "product_id"], sort=True)
    table = pd.DataFrame({
        "impressions": groups.size(),
        "clicks": groups["clicked"].sum().astype(int),
        "mean_position": groups["position"].mean(),
    })
    table["naive_ctr"] = table["clicks"] / table["impressions"]
    if propensities is not None:
        table["ipw_ctr"] = groups["weighted"].sum() / table["impressions"]
    return table.reset_index()


def label_sources(
    log: pd.DataFrame,
    pairs: pd.DataFrame,
    propensities: Mapping | pd.Series | pd.DataFrame,
    max_weight: float = 10.0,
) -> pd.DataFrame:
    """The shown pairs with three labels each: naive clicks, IPW clicks and the human grade.

    Args:
        log: a click log (``course.trust.simulate.simulate_clicks``).
        pairs: the labelled pairs the log was drawn from (``query_id, product_id, label``
            and whatever else should come along, such as ``query`` and ``product_text``).
        propensities: ``theta`` per position, for :func:`click_labels`.

    Returns:
        :func:`click_labels` joined with ``pairs``, plus ``human`` (the grade as a gain:
        Exact 1, Partial 0.5, Irrelevant 0).
    """
    table = click_labels(log, propensities, max_weight)
    joined = table.merge(pairs, on=["query_id", "product_id"], how="left", validate="1:1")
    if joined["label"].isna().any():
        missing = joined.loc[joined["label"].isna(), ["query_id", "product_id"]].head(3)
        raise CourseDataError(
            f"{int(joined['label'].isna().sum())} shown pairs have no human label in pairs "
            f"(first: {missing.to_dict('records')}); pass the pairs the log was drawn from."
        )
    return joined.assign(human=joined["label"].map(GAINS))


def fit_rankers(
    features: np.ndarray, targets: pd.DataFrame, alpha: float | Sequence[float] = 1000.0
) -> Callable[[np.ndarray], pd.DataFrame]:
    """One ridge regression per target column, on standardised features, in one fit.

    Pointwise rankers: each predicts its target (a click rate or a human gain), and a
    query's candidates are sorted by the prediction. ``alpha`` is one strength for all
    targets or one per column.

    Returns:
        ``score(features) -> DataFrame`` with one column of scores per target.
    """
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(features) != len(targets) or len(targets) == 0:
        raise CourseArgumentError(
            f"features ({len(features)} rows) and targets ({len(targets)}) must match and be > 0."
        )
    alphas = np.broadcast_to(np.asarray(alpha, dtype=float), (targets.shape[1],)).copy()
    model = make_pipeline(StandardScaler(), Ridge(alpha=alphas))
    model.fit(features, targets.to_numpy(dtype=float))
    names = list(targets.columns)

    def score(x: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(np.asarray(model.predict(x)).reshape(len(x), -1), columns=names)

    return score


def ranking_quality(frame: pd.DataFrame, scores: pd.DataFrame, k: int = 10) -> pd.Series:
    """NDCG@k of each score column on ``frame``'s human labels (``course.metrics``)."""
    from course.metrics import mean_ndcg_of_frame

    return pd.Series({name: mean_ndcg_of_frame(frame.assign(score=scores[name].to_numpy()), k=k)
                      for name in scores.columns}, name=f"ndcg@{k}")


def plot_propensities(table: pd.DataFrame, ax=None):
    """Estimated propensity per position, with the truth when the table has it."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(table["position"], table["propensity"], marker="o", label="estimated (swap)")
    if "true_propensity" in table.columns:
        ax.plot(table["position"], table["true_propensity"], linestyle="--", label="true")
    ax.set(xlabel="position", ylabel="propensity (position 1 = 1)",
           title="Position bias: who looks at which position")
    ax.legend()
    ax.figure.tight_layout()
    return ax.figure
