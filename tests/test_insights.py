"""Derived numbers of the fitted law: values against analytic ones, intervals that cover, statuses not exceptions."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2rlib.law import derived as insights
from s2rlib.law import scaling
from s2rlib.law import trial_stats

NS = np.array([100, 300, 1000, 3000, 10000, 30000, 100000], dtype=float)


def law(n, D, alpha, C):
    return D * np.asarray(n, dtype=float) ** (-alpha) + C


def noisy_matrix(D, alpha, C, *, trials=10, noise=0.02, seed=0, ns=NS, baseline=None):
    rng = np.random.default_rng(seed)
    mat = pd.DataFrame({t: law(ns, D, alpha, C) * (1 + noise * rng.standard_normal(len(ns))) for t in range(trials)},
                       index=ns.astype(int))
    if baseline is not None:
        mat.loc[0] = baseline * (1 + noise * rng.standard_normal(trials))
        mat = mat.sort_index()
    return mat


@pytest.fixture(scope="module")
def noisy_fit():
    D, alpha, C = 1.5, 0.4, 0.08
    return (D, alpha, C), scaling.bootstrap_fit(noisy_matrix(D, alpha, C, seed=3), n_boot=200, seed=0)


# ---------------------------------------------------------------- required_n


def test_required_n_exact_law_is_analytic():
    D, alpha, C = 2.0, 0.5, 0.1
    fit = scaling.fit_law(NS, law(NS, D, alpha, C))
    target = 0.13
    r = insights.required_n(fit, target)
    assert r.status == "ok"
    assert r.value == pytest.approx((D / (target - C)) ** (1 / alpha), rel=1e-3)
    assert math.isnan(r.lo) and math.isnan(r.hi)  # no bootstrap draws -> no interval, no exception


def test_required_n_recovers_and_covers(noisy_fit):
    (D, alpha, C), fit = noisy_fit
    n_true = 3000.0
    target = float(law(n_true, D, alpha, C))
    r = insights.required_n(fit, target)
    assert r.status == "ok"
    assert r.value == pytest.approx(n_true, rel=0.25)
    assert 0.5 * n_true < r.lo < r.value < r.hi < 2 * n_true  # informative


def test_intervals_cover_the_truth_over_repetitions():
    """90% intervals of required_n and marginal_gain contain the analytic values in most repetitions."""
    D, alpha, C = 1.5, 0.4, 0.08
    n_true, reps = 3000.0, 10
    target = float(law(n_true, D, alpha, C))
    gain_true = law(3000, D, alpha, C) - law(4000, D, alpha, C)
    slope_true = -alpha * D * 3000 ** (-alpha - 1)
    hit_n = hit_g = hit_s = 0
    for s in range(reps):
        fit = scaling.bootstrap_fit(noisy_matrix(D, alpha, C, seed=100 + s), n_boot=100, seed=s)
        r = insights.required_n(fit, target)
        g = insights.marginal_gain(fit, 3000, 1000)
        hit_n += r.lo <= n_true <= r.hi
        hit_g += g.lo <= gain_true <= g.hi
        hit_s += g.slope_lo <= slope_true <= g.slope_hi
    assert min(hit_n, hit_g, hit_s) >= 6, (hit_n, hit_g, hit_s)


def test_required_n_below_floor_is_unreachable(noisy_fit):
    (D, alpha, C), fit = noisy_fit
    r = insights.required_n(fit, 0.5 * C)
    assert r.status == "unreachable"
    assert r.value == math.inf and r.hi == math.inf and r.lo == math.inf
    assert r.p_unreachable == 1.0


def test_required_n_interval_counts_unreachable_draws_as_inf():
    fit = scaling.Fit(1.0, 0.5, 0.1, "ok", 7, n=NS)
    # half the draws have their floor above the target 0.15: hi must be inf, lo finite
    boot = np.array([[1.0, 0.5, 0.1]] * 50 + [[1.0, 0.5, 0.2]] * 50 + [[np.nan] * 3] * 20)
    fit.boot = boot
    r = insights.required_n(fit, 0.15)
    assert r.status == "ok"
    assert r.value == pytest.approx(400.0)
    assert r.lo == pytest.approx(400.0)
    assert r.hi == math.inf
    assert r.p_unreachable == pytest.approx(0.5)  # NaN rows skipped, not counted


@pytest.mark.parametrize("n_inf,hi_is_inf", [(5, True), (4, False)])
def test_required_n_upper_percentile_interpolating_towards_inf(n_inf, hi_is_inf):
    # 100 draws: the 95th percentile interpolates between sorted draws 94 and 95 (numpy 'linear')
    floors = np.r_[np.linspace(0.0, 0.1, 100 - n_inf), np.full(n_inf, 0.2)]
    fit = scaling.Fit(1.0, 0.5, 0.05, "ok", 7, n=NS, boot=np.column_stack([np.ones(100), np.full(100, 0.5), floors]))
    r = insights.required_n(fit, 0.15)
    assert (r.hi == math.inf) is hi_is_inf
    assert np.isfinite(r.lo)


def test_required_n_already_reached():
    fit = scaling.fit_law(NS, law(NS, 2.0, 0.5, 0.1))
    r = insights.required_n(fit, 1.0)  # above R(100) = 0.3
    assert r.status == "already_reached"
    assert r.value < NS.min()


@settings(max_examples=60, deadline=None)
@given(D=st.floats(0.01, 100), alpha=st.floats(0.01, 3), C=st.floats(0, 1),
       t1=st.floats(0, 5), t2=st.floats(0, 5))
def test_required_n_is_monotone_decreasing_in_target(D, alpha, C, t1, t2):
    fit = scaling.Fit(D, alpha, C, "ok", 7, n=NS)
    lo_t, hi_t = min(t1, t2), max(t1, t2)
    n_lo, n_hi = insights.required_n(fit, lo_t).value, insights.required_n(fit, hi_t).value
    assert n_lo >= n_hi * (1 - 1e-12)
    if lo_t <= C:
        assert n_lo == math.inf


# ---------------------------------------------------------------- marginal_gain


def test_marginal_gain_exact_law():
    D, alpha, C = 2.0, 0.5, 0.1
    fit = scaling.fit_law(NS, law(NS, D, alpha, C))
    g = insights.marginal_gain(fit, 10000, 5000)
    assert g.value == pytest.approx(law(10000, D, alpha, C) - law(15000, D, alpha, C), rel=1e-3)
    assert g.slope == pytest.approx(-alpha * D * 10000 ** (-alpha - 1), rel=1e-3)
    assert g.value > 0 and g.slope < 0


def test_marginal_gain_noisy_is_close_with_ordered_interval(noisy_fit):
    (D, alpha, C), fit = noisy_fit
    g = insights.marginal_gain(fit, 3000, 1000)
    true = law(3000, D, alpha, C) - law(4000, D, alpha, C)
    assert g.value == pytest.approx(true, rel=0.1)
    assert g.lo < g.value < g.hi and g.slope_lo < g.slope < g.slope_hi < 0


# ---------------------------------------------------------------- extrapolation_check


def test_extrapolation_check_exact_law_has_no_error():
    mat = noisy_matrix(2.0, 0.5, 0.1, noise=0.0, trials=3, baseline=0.5)
    x = insights.extrapolation_check(mat, n_boot=20)
    assert x.status == "ok"
    assert x.n_max == 100000 and x.n_fit_max == 30000
    assert x.measured == pytest.approx(law(1e5, 2.0, 0.5, 0.1))
    assert abs(x.rel_error) < 1e-3


def test_extrapolation_check_change_of_slope_is_a_large_error():
    ns = NS
    R = law(ns, 2.0, 0.5, 0.1)
    R[-1] = 0.5 * R[-1]  # a second regime: the error halves at the largest database
    rng = np.random.default_rng(0)
    mat = pd.DataFrame({t: R * (1 + 0.01 * rng.standard_normal(len(ns))) for t in range(8)}, index=ns.astype(int))
    x = insights.extrapolation_check(mat, n_boot=100)
    assert x.rel_error > 0.5
    assert not x.within_interval
    assert x.lo > x.measured


def test_extrapolation_check_too_few_points_is_a_status():
    mat = noisy_matrix(2.0, 0.5, 0.1, ns=NS[:4], trials=3)
    x = insights.extrapolation_check(mat, n_boot=10)  # 3 points left for the fit
    assert x.status == "too_few_points"
    assert math.isnan(x.predicted) and math.isnan(x.error)
    assert insights.extrapolation_check(mat, holdout=0).status == "bad_input"
    assert insights.extrapolation_check(mat.iloc[:1], n_boot=10).status == "too_few_points"


# ---------------------------------------------------------------- failed fits never raise


def test_unusable_fit_gives_nan_and_status():
    fit = scaling.fit_law([100, 1000], [0.5, 0.4])
    assert not fit.usable
    r = insights.required_n(fit, 0.3)
    assert r.status == "unusable_fit" and math.isnan(r.value)
    g = insights.marginal_gain(fit, 1000, 100)
    assert g.status == "unusable_fit" and math.isnan(g.value) and math.isnan(g.slope)
    assert insights.required_n(fit, float("nan")).status == "bad_target"
    assert insights.marginal_gain(scaling.fit_law(NS, law(NS, 1, 0.5, 0.1)), -5, 10).status == "bad_input"
    assert insights.required_n(None, 0.3).status == "unusable_fit"


def test_all_nan_bootstrap_draws_give_nan_interval():
    fit = scaling.Fit(1.0, 0.5, 0.1, "ok", 7, n=NS, boot=np.full((50, 3), np.nan))
    r = insights.required_n(fit, 0.15)
    assert r.value == pytest.approx(400.0) and math.isnan(r.lo) and math.isnan(r.hi)
    assert math.isnan(insights.marginal_gain(fit, 1000, 100).lo)


# ---------------------------------------------------------------- summary row and normalised curve


def _case_fit(mat, case="syn"):
    fit = scaling.bootstrap_fit(mat, n_boot=60, seed=0)
    n_max = mat.index.max()
    return trial_stats.CaseFit(case, -1, fit, mat.mean(axis=1), mat.sem(axis=1), mat.shape[1],
                           float(mat.loc[0].mean()) if 0 in mat.index else float("nan"),
                           trial_stats.paired_gain(mat, n_max, 0), "eV")


def test_summary_row_and_normalised_curve():
    D, alpha, C = 1.5, 0.4, 0.08
    mat = noisy_matrix(D, alpha, C, trials=6, baseline=0.6, seed=5)
    cf = _case_fit(mat)
    row = insights.summary_row(cf, units="eV/atom")
    assert row["units"] == "eV/atom" and row["trials"] == 6
    assert row["n_min"] == 100 and row["n_max"] == 100000
    assert row["baseline"] == pytest.approx(0.6, rel=0.05)
    assert row["gain"] < 0 and row["gain_lo"] <= row["gain"] <= row["gain_hi"]
    assert row["alpha_lo"] <= row["alpha"] <= row["alpha_hi"]
    assert row["target"] == pytest.approx(0.9 * row["err_n_max"])
    assert row["req_n_status"] in ("ok", "unreachable")
    assert row["n_now"] == 100000 and row["delta"] == 10000
    assert row["mgain"] == pytest.approx(law(1e5, D, alpha, C) - law(1.1e5, D, alpha, C), rel=0.5)

    curve = insights.normalised_curve(cf)
    assert curve["reference"].iloc[0] == "baseline"
    assert curve.loc[curve["n"] == 0, "norm"].iloc[0] == pytest.approx(1.0)
    assert curve["norm"].iloc[-1] == pytest.approx(row["err_n_max"] / row["baseline"])
    assert curve.loc[curve["n"] > 0, "law"].notna().all()


def test_summary_row_of_unusable_case_does_not_raise():
    mat = noisy_matrix(1.5, 0.4, 0.08, ns=NS[:2], trials=3)
    cf = _case_fit(mat)
    row = insights.summary_row(cf, units="")
    assert row["status"] == "too_few_points"
    assert math.isnan(row["alpha"]) and math.isnan(row["baseline"]) and math.isnan(row["req_n"])
    assert row["req_n_status"] == "unusable_fit"
    curve = insights.normalised_curve(cf)
    assert curve["reference"].iloc[0] == "n_min" and curve["norm"].iloc[0] == pytest.approx(1.0)
    assert curve["law"].isna().all()
