"""Paired gains over the same trials and their Nadeau-Bengio corrected intervals; the ratio read from the rows."""

import numpy as np
import pandas as pd
import pytest

from s2rlib.law import trial_stats


def test_paired_gain_interval_is_the_corrected_resampled_t():
    mat = pd.DataFrame({0: [0.10, 0.08], 1: [0.11, 0.085], 2: [0.105, 0.079]}, index=[0, 1000])
    d = np.array([-0.02, -0.025, -0.026])
    plain = trial_stats.paired_gain(mat, 1000, 0, ratio=0.0)
    g = trial_stats.paired_gain(mat, 1000, 0, ratio=0.25)
    assert g.mean == pytest.approx(d.mean())
    # Nadeau-Bengio: se = sd * sqrt(1/J + n_test/n_pool), t with J - 1 = 2 df (t_0.95,2 = 2.919986)
    half = 2.919986 * d.std(ddof=1) * np.sqrt(1 / 3 + 0.25)
    assert (g.lo, g.hi) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-5)
    assert (g.hi - g.lo) / (plain.hi - plain.lo) == pytest.approx(np.sqrt((1 / 3 + 0.25) / (1 / 3)))
    assert g.verdict == "lowers" and g.trials == 3


def test_gain_verdicts():
    assert trial_stats.Gain(100, -0.1, -0.2, 0.01, 5).verdict == "no_effect"
    assert trial_stats.Gain(100, 0.1, 0.02, 0.2, 5).verdict == "raises"
    assert trial_stats.Gain(100, -0.1, -0.2, -0.01, 5).verdict == "lowers"
    assert trial_stats.Gain(100, -0.1, np.nan, np.nan, 1).verdict == "unknown"


def test_gain_ratio_comes_from_the_rows():
    from synthetic import synthetic_table

    t = synthetic_table("band_gap", trials=5)  # n_test = 250, n_train + n_val = 1000 in every row
    mat = trial_stats.trial_matrix(t)
    assert mat.attrs["test_train_ratio"] == pytest.approx(250 / 1000)
    cf = trial_stats.fit_table(t, n_boot=50)
    assert cf.gain.ratio == pytest.approx(250 / 1000) and cf.fit.ratio == pytest.approx(250 / 1000)


def test_gain_ratio_at_small_m_uses_the_pool_not_m():
    """At m = 50 the trials draw 50 rows from the same 1,000-row pool: they overlap no more than at
    m = all, so the correction must not be n_test / n_train = 250 / 40 (an interval ~4x too wide)."""
    from synthetic import synthetic_table

    t = synthetic_table("chi", ms=(50, -1), trials=5)
    assert trial_stats.test_train_ratio(t, 50) == pytest.approx(250 / 1000)
    # with an explicit n_pool metric, that is used
    extra = t[(t.metric == "n_test") & (t.m_target == 50)].assign(metric="n_pool", value=2000.0)
    assert trial_stats.test_train_ratio(pd.concat([t, extra]), 50) == pytest.approx(250 / 2000)


def test_fieller_interval_of_a_paired_ratio_covers_90_percent_and_is_unbounded_without_a_gain():
    """paired_ratio (the share of a gain a protocol change accounts for): on independent paired trials
    (ratio = 0, so the plain paired model is right), the nominal 90% interval covers the true ratio of
    means 85-95% of the time; when the denominator's interval includes 0 the ratio has no interval."""
    from s2rlib.law.trial_stats import paired_ratio

    rng = np.random.default_rng(7)
    hits, reps, J = 0, 1000, 20
    for _ in range(reps):
        gain = -0.02 + 0.012 * rng.standard_normal(J)
        change = -0.6 * gain + 0.004 * rng.standard_normal(J)  # correlated with the gain, true ratio -0.6
        est, lo, hi = paired_ratio(change, gain)
        hits += lo <= -0.6 <= hi
    assert 0.85 <= hits / reps <= 0.95, hits / reps
    est, lo, hi = paired_ratio(0.01 + 0.001 * rng.standard_normal(J), 0.001 * rng.standard_normal(J) + 0.0001)
    assert np.isnan(lo) and np.isnan(hi)
    wider = paired_ratio(change, gain, ratio=0.25)
    assert wider[2] - wider[1] > paired_ratio(change, gain)[2] - paired_ratio(change, gain)[1]  # NB widens it
