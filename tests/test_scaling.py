"""The scaling-law fitter recovers known laws, reports failure with a status, and its CIs cover."""

import numpy as np
import pandas as pd
import pytest

from s2rlib import scaling

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


def test_paired_gain_interval():
    mat = pd.DataFrame({0: [0.10, 0.08], 1: [0.11, 0.085], 2: [0.105, 0.079]}, index=[0, 1000])
    g = scaling.paired_gain(mat, 1000, 0)
    assert g["mean"] == pytest.approx(-0.0237, abs=1e-3)
    assert g["hi"] < 0 < -g["lo"]


def test_flat_noisy_trials_are_unidentified_after_bootstrap():
    rng = np.random.default_rng(3)
    mat = pd.DataFrame({t: 0.4 + 0.02 * rng.standard_normal(len(NS)) for t in range(5)}, index=NS.astype(int))
    fit = scaling.bootstrap_fit(mat, n_boot=200, seed=0)
    assert fit.status in ("unidentified", "no_decrease", "alpha_at_bound")
    assert fit.status != "ok"
