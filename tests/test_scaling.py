"""The scaling-law fitter recovers known laws, reports failure with a status, and its CIs cover."""

import numpy as np
import pandas as pd
import pytest

from s2rlib.law import aic as aic_module
from s2rlib.law import scaling

NS = np.array([100, 300, 1000, 3000, 10000, 30000, 100000], dtype=float)


def law(n, D, alpha, C):
    return D * n ** (-alpha) + C


@pytest.mark.parametrize("D,alpha,C", [(2.0, 0.5, 0.1), (0.8, 0.3, 0.05), (5.0, 0.8, 0.3), (1.0, 0.2, 0.0)])
def test_recovers_exact_law(D, alpha, C):
    fit = scaling.fit_law(NS, law(NS, D, alpha, C))
    assert fit.alpha == pytest.approx(alpha, rel=1e-3)
    assert fit.D == pytest.approx(D, rel=1e-2)
    assert fit.C == pytest.approx(C, abs=1e-4)
    assert fit.status == ("C_at_bound" if C == 0 else "ok")


def test_recovers_law_from_noisy_trials_with_covering_interval():
    rng = np.random.default_rng(1)
    D, alpha, C = 1.5, 0.4, 0.08
    trials = 10
    mat = pd.DataFrame({t: law(NS, D, alpha, C) * (1 + 0.03 * rng.standard_normal(len(NS))) for t in range(trials)},
                       index=NS.astype(int))
    fit = scaling.bootstrap_fit(mat, n_boot=300, seed=0)
    ci = fit.ci()
    assert abs(fit.alpha - alpha) < 0.1
    assert abs(fit.C - C) < 0.02
    for name, true in (("alpha", alpha), ("C", C)):
        lo, hi = ci[name]
        assert lo <= true <= hi, f"{name}: {true} not in {ci[name]}"
        assert hi - lo < 0.5 * max(true, 0.1) + 0.2  # informative, not infinite
    assert fit.boot_ok_fraction() > 0.9


def test_noisy_recovery_is_unbiased_over_repetitions():
    rng = np.random.default_rng(7)
    D, alpha, C = 3.0, 0.6, 0.2
    alphas = [scaling.fit_law(NS, law(NS, D, alpha, C) + 0.002 * rng.standard_normal(len(NS))).alpha for _ in range(30)]
    assert np.median(alphas) == pytest.approx(alpha, abs=0.05)


def test_log_loss_recovers_too():
    fit = scaling.fit_law(NS, law(NS, 2.0, 0.5, 0.1), loss="log")
    assert fit.alpha == pytest.approx(0.5, rel=1e-2)
    assert fit.C == pytest.approx(0.1, rel=1e-2)


def test_too_few_points_is_a_status_not_an_exception():
    fit = scaling.fit_law([100, 1000, 10000], [0.5, 0.4, 0.35])
    assert fit.status == "too_few_points" and not fit.usable


def test_nans_zeros_and_infs_are_dropped_before_counting():
    n = [100, 300, 1000, 3000, 10000]
    fit = scaling.fit_law(n, [np.nan, 0.0, np.inf, 0.4, 0.3])
    assert fit.status == "too_few_points"
    assert fit.n_points == 2


def test_flat_curve_has_no_decrease_status():
    fit = scaling.fit_law(NS, np.full(len(NS), 0.4))
    assert fit.status in ("no_decrease", "alpha_at_bound")
    assert fit.predict(1e6) == pytest.approx(0.4, rel=1e-6)


def test_increasing_curve_is_flagged():
    fit = scaling.fit_law(NS, 0.3 + 0.01 * np.log(NS))
    assert fit.status == "no_decrease"


def test_alpha_at_bound_flag():
    fit = scaling.fit_law(NS, law(NS, 1.0, 2.99, 0.1), alpha_bounds=(1e-3, 1.0))
    assert fit.status == "alpha_at_bound"


def test_flat_noisy_trials_prefer_a_constant():
    rng = np.random.default_rng(3)
    mat = pd.DataFrame({t: 0.4 + 0.02 * rng.standard_normal(len(NS)) for t in range(5)}, index=NS.astype(int))
    fit = scaling.bootstrap_fit(mat, n_boot=200, seed=0)
    assert fit.status in ("constant_preferred", "no_decrease")
    assert not fit.ok


def _trials(D, alpha, C, trials=20, noise=0.003, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({t: law(NS, D, alpha, C) + noise * rng.standard_normal(len(NS)) for t in range(trials)},
                        index=NS.astype(int))


def test_a_well_measured_law_is_ok_and_a_missing_floor_is_C_at_bound():
    fit = scaling.bootstrap_fit(_trials(1.5, 0.5, 0.1), n_boot=400, seed=0, ratio=0.3)
    assert fit.status == "ok", fit.message
    assert fit.aic_vs_constant > scaling.AIC_MARGIN and fit.aic_vs_pure > scaling.AIC_MARGIN
    assert not fit.floor_at_bound()
    pure = scaling.bootstrap_fit(_trials(1.5, 0.5, 0.0), n_boot=400, seed=0, ratio=0.3)
    assert pure.status == "C_at_bound" and pure.floor_at_bound() and pure.ci()["C"][0] == 0


def test_too_flat_curve_within_noise_is_not_ok():
    fit = scaling.bootstrap_fit(_trials(0.002, 0.3, 0.1, trials=5, noise=0.01), n_boot=300, seed=0, ratio=0.3)
    assert fit.status in ("constant_preferred", "no_decrease", "alpha_at_bound", "unidentified")


def test_fit_status_members_explain_themselves():
    for s in scaling.FitStatus:
        assert s.meaning and s.reading, s
        assert s == s.value  # a str: tables, pickles and comparisons with plain strings work
    table = scaling.FitStatus.table()
    assert len(table) == len(scaling.FitStatus) and table["status"].iloc[0] == "`ok`"


def test_fit_many_matches_fit_law():
    rng = np.random.default_rng(5)
    R = law(NS, 1.2, 0.4, 0.1)[None, :] * (1 + 0.03 * rng.standard_normal((25, len(NS))))
    R[:5] = 0.3 + 0.01 * rng.standard_normal((5, len(NS)))  # flat rows: D = 0 or alpha at a bound
    many = scaling.fit_many(NS, R)
    for row, got in zip(R, many):
        f = scaling.fit_law(NS, row)
        rss = lambda p: np.sum((law(NS, *p) - row) ** 2)  # noqa: E731
        assert rss(got) <= rss((f.D, f.alpha, f.C)) * (1 + 1e-6) + 1e-15


def test_interval_helper_t_and_percentile():
    lo, hi = scaling.interval(mean=1.0, se=0.1, df=4)
    assert (lo, hi) == pytest.approx((1 - 0.213185, 1 + 0.213185), rel=1e-5)
    assert np.isnan(scaling.interval(mean=1.0, se=0.1, df=0)[0])
    d = np.r_[np.arange(95.0), [np.inf] * 5]
    assert scaling.interval(d)[1] == np.inf and scaling.interval(d)[0] == pytest.approx(4.95)
    assert np.isnan(scaling.interval(np.arange(5.0))[0])  # too few draws


def _paired_trials(curve, trials=20, offset=0.02, noise=0.002, seed=0):
    """Trials paired across n as in the real protocol: each trial's own offset (its split), common to
    every n, is ten times its noise per point."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(curve[:, None] + offset * rng.standard_normal(trials) + noise * rng.standard_normal(
        (len(curve), trials)), index=NS.astype(int))


def test_precision_is_the_debiased_inverse_covariance():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    cov = A @ A.T + 4 * np.eye(4)
    P = aic_module.precision(cov, trials=30)
    assert np.allclose(P @ cov, (30 - 4 - 2) / (30 - 1) * np.eye(4))
    assert aic_module.precision(cov, trials=6) is None  # T <= k + 2: not estimable, callers use the diagonal
    vals = rng.standard_normal((3, 25))
    assert np.allclose(aic_module.mean_covariance(vals, 0.25), np.cov(vals) * (1 / 25 + 0.25))


def test_a_fall_within_paired_trials_is_seen_through_large_trial_offsets():
    """The law's fall over n (0.012) is smaller than the spread of the trials' offsets (sd 0.02) but six
    times their noise per point (sd 0.002): the paired structure shows it. Points treated as independent
    (the diagonal of the covariance) would prefer a constant; the covariance-aware AIC does not."""
    mat = _paired_trials(law(NS, 0.08, 0.4, 0.185))
    fit = scaling.bootstrap_fit(mat, n_boot=300, seed=0, ratio=0.25)
    assert fit.aic_vs_constant > scaling.AIC_MARGIN and fit.status != "constant_preferred", fit.message
    vals = mat.to_numpy(dtype=float)
    diagonal = aic_module.aic_table(fit, 1 / np.diag(aic_module.mean_covariance(vals, 0.25)))
    assert diagonal["constant"] - diagonal["law"] < scaling.AIC_MARGIN  # what the diagonal would say


def test_flat_paired_trials_prefer_a_constant_in_most_replications():
    """No fall at all, the same paired offsets: the covariance-aware AIC finds a law in few replications."""
    found = [scaling.bootstrap_fit(_paired_trials(np.full(len(NS), 0.2), seed=s), n_boot=50, seed=s,
                                   ratio=0.25).aic_vs_constant > scaling.AIC_MARGIN for s in range(100)]
    assert np.mean(found) < 0.12, np.mean(found)


def test_mean_covariance_is_the_scale_of_the_corrected_draws():
    """The status criterion and the intervals use one model: the draws' covariance is
    (T - 1)/(T - 3) times mean_covariance (the t-like scale), per-point ratios included."""
    rng = np.random.default_rng(5)
    T = 12
    vals = rng.standard_normal((3, T)) * [[0.01], [0.02], [0.015]] + 0.03 * rng.standard_normal(T)
    ratio = np.array([0.2, 0.3, 0.25])
    draws = scaling.corrected_draws(vals, ratio, 200000, rng)
    expected = (T - 1) / (T - 3) * aic_module.mean_covariance(vals, ratio)
    assert np.allclose(np.cov(draws.T), expected, rtol=0.03, atol=0.03 * np.abs(expected).max())
