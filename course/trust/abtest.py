"""Statistics for A/B tests: the z-test, bootstrap intervals, sample size and peeking.

Everything takes plain counts or arrays, so it works on the output of
:mod:`course.trust.simulate` and on a real experiment's logs alike. The distributions come
from SciPy (``scipy.stats``); nothing here re-implements one.

* :func:`two_proportion_ztest`: difference of two rates, its p-value (pooled standard
  error) and its Wald confidence interval (unpooled); vectorised over arrays.
* :func:`bootstrap_diff_ci`: a bootstrap interval for a difference of means, by visit
  (``scipy.stats.bootstrap``) or by user (a cluster bootstrap).
* :func:`sample_size_two_proportions` and :func:`power_two_proportions`: plan the test
  **before** running it.
* :func:`peeking_false_positive_rates`: what checking the p-value every day does to
  the false-positive rate of A/A tests; :func:`peeking_threshold`: the per-look threshold
  that keeps it at alpha, calibrated on simulated A/A tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from course.errors import CourseArgumentError, CourseDataError


@dataclass
class ZTest:
    """A two-proportion z-test: every field is a float, or an array for many tests at once.

    ``diff`` is treatment minus control; ``relative`` is ``diff / control``.
    """

    control: np.ndarray | float
    treatment: np.ndarray | float
    diff: np.ndarray | float
    relative: np.ndarray | float
    ci_low: np.ndarray | float
    ci_high: np.ndarray | float
    z: np.ndarray | float
    p_value: np.ndarray | float

    def significant(self, alpha: float = 0.05) -> np.ndarray | bool:
        """True where ``p_value < alpha``."""
        return self.p_value < alpha

    def covers(self, truth: float) -> np.ndarray | bool:
        """True where the confidence interval contains ``truth``."""
        return (self.ci_low <= truth) & (truth <= self.ci_high)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise CourseArgumentError(f"alpha must lie in (0, 1); got {alpha}.")


def _scalar_or_array(value: np.ndarray) -> np.ndarray | float:
    return float(value) if np.ndim(value) == 0 else value


def two_proportion_ztest(successes_control, n_control, successes_treatment, n_treatment,
                         alpha: float = 0.05) -> ZTest:
    """Two-sided z-test of ``p_treatment - p_control`` and its ``1 - alpha`` interval.

    The test statistic uses the pooled rate (the null hypothesis says the rates are
    equal); the interval uses each arm's own rate (Wald). Arguments may be arrays of
    the same shape, e.g. one entry per simulated experiment.
    """
    _check_alpha(alpha)
    x_c, n_c = np.asarray(successes_control, float), np.asarray(n_control, float)
    x_t, n_t = np.asarray(successes_treatment, float), np.asarray(n_treatment, float)
    if (n_c <= 0).any() or (n_t <= 0).any():
        raise CourseDataError("Each arm needs at least one visit (n_control, n_treatment > 0).")
    if (x_c < 0).any() or (x_t < 0).any() or (x_c > n_c).any() or (x_t > n_t).any():
        raise CourseDataError("Successes must lie between 0 and the number of trials.")
    p_c, p_t = x_c / n_c, x_t / n_t
    diff = p_t - p_c
    pooled = (x_c + x_t) / (n_c + n_t)
    se_null = np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se_null > 0, diff / np.where(se_null > 0, se_null, 1.0), 0.0)
        relative = np.where(p_c > 0, diff / np.where(p_c > 0, p_c, 1.0), np.nan)
    p_value = 2 * stats.norm.sf(np.abs(z))
    half = stats.norm.ppf(1 - alpha / 2) * np.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    values = [p_c, p_t, diff, relative, diff - half, diff + half, z, p_value]
    return ZTest(*[_scalar_or_array(v) for v in values])


def mean_diff_ci(sum_c, sum_sq_c, n_c, sum_t, sum_sq_t, n_t,
                 alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two means and its normal (Welch) interval, from sums and sums of squares.

    For a metric such as revenue per visit, over many simulated experiments at once.
    Returns ``(diff, low, high)``.
    """
    _check_alpha(alpha)
    n_c, n_t = np.asarray(n_c, float), np.asarray(n_t, float)
    if (n_c < 2).any() or (n_t < 2).any():
        raise CourseDataError("Each arm needs at least two visits for a variance.")
    mean_c, mean_t = np.asarray(sum_c) / n_c, np.asarray(sum_t) / n_t
    var_c = (np.asarray(sum_sq_c) - n_c * mean_c**2) / (n_c - 1)
    var_t = (np.asarray(sum_sq_t) - n_t * mean_t**2) / (n_t - 1)
    half = stats.norm.ppf(1 - alpha / 2) * np.sqrt(var_c / n_c + var_t / n_t)
    diff = mean_t - mean_c
    return diff, diff - half, diff + half


def _cluster_bootstrap(control, treatment, clusters_c, clusters_t, n_resamples, alpha, rng):
    """Resample whole users: the difference of (sum of values / number of visits)."""
    def per_user(values, clusters):
        codes, _ = pd.factorize(np.asarray(clusters))
        return (np.bincount(codes, weights=values), np.bincount(codes).astype(float))

    (sum_c, cnt_c), (sum_t, cnt_t) = per_user(control, clusters_c), per_user(treatment, clusters_t)
    diffs = np.empty(n_resamples)
    for start in range(0, n_resamples, 100):
        stop = min(n_resamples, start + 100)
        pick_c = rng.integers(0, len(sum_c), (stop - start, len(sum_c)))
        pick_t = rng.integers(0, len(sum_t), (stop - start, len(sum_t)))
        diffs[start:stop] = (sum_t[pick_t].sum(1) / cnt_t[pick_t].sum(1)
                             - sum_c[pick_c].sum(1) / cnt_c[pick_c].sum(1))
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_diff_ci(control, treatment, *, clusters_control=None, clusters_treatment=None,
                      n_resamples: int = 2000, alpha: float = 0.05, seed: int = 0
                      ) -> tuple[float, float]:
    """Percentile bootstrap interval for ``mean(treatment) - mean(control)``.

    By visit, it calls ``scipy.stats.bootstrap`` (the two arms resampled independently).
    Give ``clusters_*`` (the user of each visit) to resample whole users instead: when
    users visit more than once, their visits are not independent, and only resampling
    the unit of randomisation keeps the interval honest.
    """
    _check_alpha(alpha)
    control, treatment = np.asarray(control, float), np.asarray(treatment, float)
    if len(control) < 2 or len(treatment) < 2:
        raise CourseDataError("Each arm needs at least two values to bootstrap.")
    rng = np.random.default_rng(seed)
    if clusters_control is not None or clusters_treatment is not None:
        if clusters_control is None or clusters_treatment is None:
            raise CourseArgumentError("Give clusters for both arms, or for neither.")
        return _cluster_bootstrap(control, treatment, clusters_control, clusters_treatment,
                                  n_resamples, alpha, rng)

    def difference(t, c, axis=-1):
        return np.mean(t, axis=axis) - np.mean(c, axis=axis)

    result = stats.bootstrap((treatment, control), difference, n_resamples=n_resamples,
                             confidence_level=1 - alpha, method="percentile", vectorized=True,
                             batch=50, random_state=rng)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def sample_size_two_proportions(p_control: float, mde: float, alpha: float = 0.05,
                                power: float = 0.8, relative: bool = False) -> int:
    """Visitors per arm needed to detect a change of ``mde`` in a rate (two-sided test).

    ``mde`` is absolute (0.005 = half a point) unless ``relative`` (0.05 = +5%).
    ``n = (z_{1-a/2} sqrt(2 p q) + z_{power} sqrt(p1 q1 + p2 q2))^2 / mde^2`` with ``p``
    the mean of the two rates; the normal quantiles come from ``scipy.stats.norm``.
    """
    _check_alpha(alpha)
    if not 0.0 < power < 1.0:
        raise CourseArgumentError(f"power must lie in (0, 1); got {power}.")
    if not 0.0 < p_control < 1.0:
        raise CourseArgumentError(f"p_control must lie in (0, 1); got {p_control}.")
    delta = mde * p_control if relative else mde
    p_t = p_control + delta
    if delta == 0 or not 0.0 < p_t < 1.0:
        raise CourseArgumentError(
            f"mde must be non-zero and keep the treatment rate in (0, 1); got {p_t:.4f}."
        )
    mean = (p_control + p_t) / 2
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    spread = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(
        p_control * (1 - p_control) + p_t * (1 - p_t))
    return int(math.ceil(spread**2 / delta**2))


def power_two_proportions(p_control: float, p_treatment: float, n_per_arm,
                          alpha: float = 0.05) -> np.ndarray | float:
    """Probability that the two-sided z-test detects the difference with ``n_per_arm`` each."""
    _check_alpha(alpha)
    n = np.asarray(n_per_arm, float)
    delta = abs(p_treatment - p_control)
    mean = (p_control + p_treatment) / 2
    z_a = stats.norm.ppf(1 - alpha / 2)
    spread = math.sqrt(p_control * (1 - p_control) + p_treatment * (1 - p_treatment))
    power = stats.norm.cdf((delta * np.sqrt(n) - z_a * math.sqrt(2 * mean * (1 - mean))) / spread)
    return _scalar_or_array(power)


def cumulative_ztests(successes: np.ndarray, visits: np.ndarray, alpha: float = 0.05) -> ZTest:
    """The z-test at the end of every day: ``successes`` and ``visits`` are ``[..., days, 2]``
    daily counts (arm 0 control); the result's fields are ``[..., days]``."""
    successes, visits = np.cumsum(successes, axis=-2), np.cumsum(visits, axis=-2)
    return two_proportion_ztest(successes[..., 0], visits[..., 0], successes[..., 1],
                                visits[..., 1], alpha=alpha)


def peeking_false_positive_rates(successes: np.ndarray, visits: np.ndarray,
                                 alpha: float = 0.05) -> dict[str, float]:
    """A/A tests looked at once at the end, or every day until the first ``p < alpha``.

    ``successes`` and ``visits`` are ``[n_experiments, days, 2]`` daily counts of A/A
    tests (no true difference). Every "significant" result is a false positive.

    Returns:
        ``one_look``: share significant at the final day; ``peeking``: share
        significant on any day; ``n_experiments``; ``days``.
    """
    if successes.ndim != 3 or successes.shape != visits.shape or successes.shape[-1] != 2:
        raise CourseDataError(
            f"Expected two [n_experiments, days, 2] arrays; got {successes.shape} "
            f"and {visits.shape}."
        )
    significant = np.asarray(cumulative_ztests(successes, visits, alpha).significant(alpha))
    return {"one_look": float(significant[:, -1].mean()),
            "peeking": float(significant.any(axis=1).mean()),
            "n_experiments": int(successes.shape[0]), "days": int(successes.shape[1])}


def peeking_threshold(pvalues, alpha: float = 0.05) -> float:
    """The largest per-look threshold ``c`` that keeps daily peeking at ``alpha``.

    ``pvalues`` is ``[n_tests, looks]``: the p-value of each A/A test at every look. A
    test stopped at the first look with ``p < c`` is a false positive; ``c`` is the
    largest threshold for which at most a share ``alpha`` of the tests are. Every larger
    threshold lets more than ``alpha`` through (a simulated Pocock-style boundary: one
    threshold for every look).
    """
    _check_alpha(alpha)
    pvalues = np.asarray(pvalues, dtype=float)
    if pvalues.ndim != 2 or pvalues.size == 0:
        raise CourseDataError(f"pvalues must be [n_tests, looks]; got shape {pvalues.shape}.")
    smallest = np.sort(pvalues.min(axis=1))
    allowed = int(np.floor(alpha * len(smallest) + 1e-9))  # tests that may come out significant
    return float(smallest[allowed]) if allowed < len(smallest) else 1.0


def summarise_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """Per arm: visitors, visits, CTR (visits with a click), conversion, revenue per visit."""
    missing = [c for c in ("arm", "visitor", "clicked", "purchased", "revenue") if c not in visits]
    if missing:
        raise CourseDataError(f"visits lacks columns {missing}; it has {list(visits.columns)}.")
    by = visits.groupby("arm")
    return pd.DataFrame({
        "visitors": by["visitor"].nunique(), "visits": by.size(),
        "ctr": by["clicked"].mean(), "conversion": by["purchased"].mean(),
        "revenue_per_visit": by["revenue"].mean(),
    })


def analyse_visits(visits: pd.DataFrame, alpha: float = 0.05, n_resamples: int = 2000,
                   seed: int = 0, by_user: bool = True) -> pd.DataFrame:
    """The read-out of one A/B test: each metric with its difference, interval and p-value.

    CTR and conversion: the z-test and its interval, beside a bootstrap interval.
    Revenue per visit: a bootstrap interval (revenue is skewed; no z-test). With
    ``by_user`` the bootstrap resamples visitors, the unit of randomisation (when every
    visitor came once, that is the same as resampling visits, and it does the latter).
    """
    rows = []
    arms = {arm: visits[visits["arm"] == arm] for arm in ("control", "treatment")}
    if any(len(frame) < 2 for frame in arms.values()):
        raise CourseDataError(
            "Both arms need visits: the 'arm' column must hold control and treatment."
        )
    c, t = arms["control"], arms["treatment"]
    # With one visit per user, resampling users is resampling visits: take the faster path.
    by_user = by_user and not (c["visitor"].is_unique and t["visitor"].is_unique)
    clusters = {"clusters_control": c["visitor"], "clusters_treatment": t["visitor"]}
    for metric, column in [("ctr", "clicked"), ("conversion", "purchased"),
                           ("revenue_per_visit", "revenue")]:
        low, high = bootstrap_diff_ci(c[column], t[column], n_resamples=n_resamples,
                                      alpha=alpha, seed=seed, **(clusters if by_user else {}))
        row = {"metric": metric, "control": c[column].mean(), "treatment": t[column].mean(),
               "diff": t[column].mean() - c[column].mean(), "boot_low": low, "boot_high": high}
        if metric != "revenue_per_visit":
            test = two_proportion_ztest(c[column].sum(), len(c), t[column].sum(), len(t), alpha)
            row.update(z_low=test.ci_low, z_high=test.ci_high, p_value=test.p_value)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("metric")
    table["relative"] = table["diff"] / table["control"]
    return table


__all__ = [
    "ZTest", "analyse_visits", "bootstrap_diff_ci", "cumulative_ztests", "mean_diff_ci",
    "peeking_false_positive_rates", "peeking_threshold", "power_two_proportions",
    "sample_size_two_proportions",
    "summarise_visits", "two_proportion_ztest",
]
