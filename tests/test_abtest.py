"""Tests for course.trust.abtest: z-test, intervals, sample size, power and peeking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from course.errors import CourseArgumentError, CourseDataError
from course.trust import abtest
from course.trust import simulate as sim


def test_ztest_matches_the_chi_square_test_and_a_hand_computed_interval():
    test = abtest.two_proportion_ztest(100, 1000, 130, 1000)
    chi2, p, _, _ = chi2_contingency([[100, 900], [130, 870]], correction=False)
    assert test.p_value == pytest.approx(p, rel=1e-9)
    assert test.z**2 == pytest.approx(chi2, rel=1e-9)
    assert test.diff == pytest.approx(0.03) and test.relative == pytest.approx(0.3)
    half = 1.959964 * np.sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000)
    assert (test.ci_low, test.ci_high) == pytest.approx((0.03 - half, 0.03 + half), rel=1e-5)
    assert test.covers(0.03) and not test.covers(0.0) and test.significant(0.05)
    assert test.control == pytest.approx(0.1) and test.treatment == pytest.approx(0.13)


def test_ztest_is_vectorised_and_checks_its_input():
    tests = abtest.two_proportion_ztest(np.array([10, 50]), 100, np.array([10, 70]), 100)
    assert tests.p_value.shape == (2,)
    assert tests.p_value[0] == pytest.approx(1.0) and tests.p_value[1] < 0.01
    zero = abtest.two_proportion_ztest(0, 10, 0, 10)
    assert zero.p_value == 1.0 and zero.z == 0.0
    with pytest.raises(CourseDataError, match="at least one visit"):
        abtest.two_proportion_ztest(1, 0, 1, 10)
    with pytest.raises(CourseDataError, match="between 0"):
        abtest.two_proportion_ztest(11, 10, 1, 10)
    with pytest.raises(CourseArgumentError, match="alpha"):
        abtest.two_proportion_ztest(1, 10, 1, 10, alpha=1.5)


def test_wald_interval_covers_a_known_difference_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    n, p_c, p_t = 4000, 0.05, 0.06
    x_c, x_t = rng.binomial(n, p_c, 2000), rng.binomial(n, p_t, 2000)
    coverage = abtest.two_proportion_ztest(x_c, n, x_t, n).covers(p_t - p_c).mean()
    assert 0.935 <= coverage <= 0.965
    narrow = abtest.two_proportion_ztest(x_c, n, x_t, n, alpha=0.5).covers(p_t - p_c).mean()
    assert 0.45 <= narrow <= 0.55


def test_sample_size_matches_the_textbook_formula_and_delivers_the_power():
    assert abtest.sample_size_two_proportions(0.1, 0.02) == 3841
    assert abtest.sample_size_two_proportions(0.1, 0.2, relative=True) == 3841
    n = abtest.sample_size_two_proportions(0.05, 0.01, power=0.8)
    assert abtest.power_two_proportions(0.05, 0.06, n) == pytest.approx(0.8, abs=0.01)
    rng = np.random.default_rng(1)
    x_c, x_t = rng.binomial(n, 0.05, 3000), rng.binomial(n, 0.06, 3000)
    tests = abtest.two_proportion_ztest(x_c, n, x_t, n)
    assert tests.significant().mean() == pytest.approx(0.8, abs=0.03)
    assert abtest.sample_size_two_proportions(0.05, 0.005) > 3 * n, "half the effect, 4x the users"
    with pytest.raises(CourseArgumentError, match="mde"):
        abtest.sample_size_two_proportions(0.5, 0.6)
    with pytest.raises(CourseArgumentError, match="power"):
        abtest.sample_size_two_proportions(0.5, 0.1, power=1.0)


def test_power_grows_with_the_sample():
    powers = abtest.power_two_proportions(0.05, 0.055, np.array([1000, 10_000, 100_000]))
    assert np.all(np.diff(powers) > 0) and powers[0] < 0.2 and powers[-1] > 0.9


def test_bootstrap_by_visit_agrees_with_the_wald_interval_on_binary_data():
    rng = np.random.default_rng(2)
    control, treatment = rng.random(5000) < 0.1, rng.random(5000) < 0.12
    low, high = abtest.bootstrap_diff_ci(control, treatment, n_resamples=2000, seed=0)
    test = abtest.two_proportion_ztest(control.sum(), 5000, treatment.sum(), 5000)
    assert low == pytest.approx(test.ci_low, abs=0.002)
    assert high == pytest.approx(test.ci_high, abs=0.002)


def test_cluster_bootstrap_widens_the_interval_when_users_repeat_themselves():
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(1000), 5)  # five visits per user, all with the same outcome
    control = np.repeat(rng.random(1000) < 0.2, 5).astype(float)
    treatment = np.repeat(rng.random(1000) < 0.2, 5).astype(float)
    naive = abtest.bootstrap_diff_ci(control, treatment, n_resamples=1000, seed=0)
    by_user = abtest.bootstrap_diff_ci(control, treatment, clusters_control=users,
                                       clusters_treatment=users + 1000, n_resamples=1000, seed=0)
    ratio = (by_user[1] - by_user[0]) / (naive[1] - naive[0])
    assert 1.8 < ratio < 2.7, ratio  # sqrt(5) = 2.24
    with pytest.raises(CourseArgumentError, match="both arms"):
        abtest.bootstrap_diff_ci(control, treatment, clusters_control=users)


def test_mean_diff_ci_from_sums():
    rng = np.random.default_rng(4)
    a, b = rng.exponential(10, 3000), rng.exponential(11, 3000)
    diff, low, high = abtest.mean_diff_ci(a.sum(), (a**2).sum(), len(a),
                                          b.sum(), (b**2).sum(), len(b))
    assert diff == pytest.approx(b.mean() - a.mean())
    half = 1.959964 * np.sqrt(a.var(ddof=1) / 3000 + b.var(ddof=1) / 3000)
    assert (low, high) == pytest.approx((diff - half, diff + half), rel=1e-5)


def test_peeking_inflates_the_false_positive_rate_of_aa_tests():
    rng = np.random.default_rng(5)
    visits = np.full((2000, 14, 2), 500.0)
    successes = rng.binomial(500, 0.08, size=(2000, 14, 2)).astype(float)
    rates = abtest.peeking_false_positive_rates(successes, visits)
    assert 0.035 <= rates["one_look"] <= 0.065
    assert rates["peeking"] > 2 * rates["one_look"]
    assert rates["n_experiments"] == 2000 and rates["days"] == 14
    daily = abtest.cumulative_ztests(successes, visits)
    assert daily.p_value.shape == (2000, 14)
    totals = successes.sum(axis=1)
    last = abtest.two_proportion_ztest(totals[:, 0], 7000, totals[:, 1], 7000)
    assert np.allclose(daily.p_value[:, -1], last.p_value)
    with pytest.raises(CourseDataError, match="n_experiments, days, 2"):
        abtest.peeking_false_positive_rates(successes[0], visits[0])


def test_analyse_visits_reads_out_a_simulated_test():
    frame = pd.DataFrame({
        "query_id": np.repeat(np.arange(20), 8), "product_id": np.arange(160),
        "label": np.tile(["Exact", "Partial", "Partial", "Irrelevant"] * 2, 20),
        "score": np.tile(np.arange(8, 0, -1), 20).astype(float),
    })
    good = sim.rank_results(frame)
    bad = sim.rank_results(frame.assign(score=-frame["score"]))
    shoppers = sim.Shoppers(np.ones((4, 160)), np.full(160, 20.0), np.arange(160))
    visits = sim.run_experiment(shoppers, bad, good, experiment=sim.Experiment(n_visitors=20_000))
    summary = abtest.summarise_visits(visits)
    assert summary["visits"].sum() == 20_000
    table = abtest.analyse_visits(visits, n_resamples=300)
    truth_c, truth_t = sim.expected_metrics(shoppers, bad), sim.expected_metrics(shoppers, good)
    pairs = [("ctr", "ctr"), ("conversion", "conversion"), ("revenue_per_visit", "revenue")]
    for metric, key in pairs:
        row = table.loc[metric]
        true_diff = truth_t[key] - truth_c[key]
        assert row["boot_low"] < true_diff < row["boot_high"], metric
        assert row["diff"] > 0
    assert table.loc["conversion", "p_value"] < 0.01
    assert np.isnan(table.loc["revenue_per_visit", "p_value"])
    with pytest.raises(CourseDataError, match="Both arms"):
        abtest.analyse_visits(visits[visits["arm"] == "control"])
    by_visit = abtest.analyse_visits(visits, n_resamples=300, by_user=False)
    pd.testing.assert_frame_equal(by_visit, table)  # one visit per user: the same resampling


def test_analyse_visits_resamples_users_who_come_back():
    frame = pd.DataFrame({"query_id": np.repeat(np.arange(5), 4), "product_id": np.arange(20),
                          "label": ["Exact", "Partial", "Irrelevant", "Irrelevant"] * 5,
                          "score": np.tile([4.0, 3, 2, 1], 5)})
    lists = sim.rank_results(frame)
    shoppers = sim.Shoppers(np.ones((2, 20)), np.full(20, 10.0), np.arange(20))
    design = sim.Experiment(n_visitors=3000, visits_per_visitor=4.0)
    visits = sim.run_experiment(shoppers, lists, lists, experiment=design, seed=2)
    by_user = abtest.analyse_visits(visits, n_resamples=300, by_user=True)
    by_visit = abtest.analyse_visits(visits, n_resamples=300, by_user=False)
    assert not np.allclose(by_user["boot_low"], by_visit["boot_low"])


# ------------------------------------------- independent references: statsmodels (issue 26)


def test_ztest_and_interval_agree_with_statsmodels():
    """statsmodels' proportions_ztest pools the rates under the null, as the course does;
    its Wald interval for a difference of two independent proportions is the course's."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    rng = np.random.default_rng(7)
    for _ in range(20):
        n_c, n_t = rng.integers(200, 20_000, 2)
        x_c, x_t = rng.binomial(n_c, 0.08), rng.binomial(n_t, 0.09)
        for alpha in (0.05, 0.1):
            ours = abtest.two_proportion_ztest(x_c, n_c, x_t, n_t, alpha=alpha)
            z, p = proportions_ztest([x_t, x_c], [n_t, n_c])
            low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald",
                                                   compare="diff", alpha=alpha)
            assert ours.z == pytest.approx(z, rel=1e-9, abs=1e-12)
            assert ours.p_value == pytest.approx(p, rel=1e-9, abs=1e-15)
            assert (ours.ci_low, ours.ci_high) == pytest.approx((low, high), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("p", "mde", "alpha", "power"), [
    (0.1, 0.2, 0.05, 0.8), (0.05, 0.05, 0.05, 0.8), (0.3, -0.1, 0.01, 0.9), (0.02, 0.5, 0.1, 0.5),
    (0.0325, 0.05, 0.05, 0.8),
])
def test_sample_size_agrees_with_statsmodels_through_cohens_h(p, mde, alpha, power):
    """statsmodels sizes the test on Cohen's h = 2 asin(sqrt p2) - 2 asin(sqrt p1), the
    difference on the variance-stabilised arcsine scale: n = 2 ((z_a + z_b) / h)^2 per arm
    (NormalIndPower with ratio 1). The course uses the difference of rates with each arm's
    binomial variance. The two agree where h ~ (p2 - p1) / sqrt(p (1 - p)), the first-order
    conversion (the arcsine's derivative): within 2% for these effects (the gap grows with
    the effect: 0.1% at +5%, 1.2% at +50%), and exactly after the conversion."""
    from scipy.stats import norm
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    p2 = p * (1 + mde)
    h = proportion_effectsize(p2, p)
    reference = NormalIndPower().solve_power(effect_size=abs(h), alpha=alpha, power=power,
                                             ratio=1.0, alternative="two-sided")
    ours = abtest.sample_size_two_proportions(p, mde, alpha, power, relative=True)
    assert ours == pytest.approx(reference, rel=0.02 if abs(mde) > 0.2 else 0.005)
    # the documented conversion: statsmodels' n is 2 ((z_a + z_b) / h)^2 (it also counts the
    # small chance of rejecting in the wrong tail: 0.15% of n at power 0.5, less above)
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    assert reference == pytest.approx(2 * (z / h) ** 2, rel=2e-3)


def test_peeking_threshold_on_a_hand_worked_case():
    pvalues = np.array([[0.5, 0.01, 0.2], [0.3, 0.4, 0.04], [0.9, 0.8, 0.7], [0.03, 0.2, 0.3]])
    # each test's smallest p-value: 0.01, 0.04, 0.7, 0.03; sorted 0.01, 0.03, 0.04, 0.7
    assert abtest.peeking_threshold(pvalues, alpha=0.2) == 0.01  # no test may come out
    assert abtest.peeking_threshold(pvalues, alpha=0.25) == 0.03  # one test may
    assert abtest.peeking_threshold(pvalues, alpha=0.5) == 0.04  # two may
    assert abtest.peeking_threshold(pvalues, alpha=0.99) == 0.7
    with pytest.raises(CourseDataError, match="n_tests, looks"):
        abtest.peeking_threshold(np.zeros(3))


def test_peeking_threshold_keeps_simulated_aa_tests_at_alpha():
    rng = np.random.default_rng(3)
    visits = np.full((2000, 10, 2), 1000.0)
    successes = rng.binomial(1000, 0.05, size=visits.shape).astype(float)
    pvalues = abtest.cumulative_ztests(successes, visits).p_value
    c = abtest.peeking_threshold(pvalues, alpha=0.05)
    peeking = (pvalues < c).any(axis=1).mean()
    assert peeking <= 0.05 < (pvalues <= c).any(axis=1).mean()
    # ten looks: Pocock's nominal level is 0.0106 (Pocock 1977, table 1); Bonferroni 0.005
    assert 0.005 < c < 0.02
