"""Coverage test: do the book's nominal 90% intervals cover the truth 85-95% of the time?

Synthetic grids are drawn from a known law ``R(n) = D n^-alpha + C`` with the correlation the real
protocol has. The trials of one grid are re-splits of one data set, so besides each trial's own
noise (a per-trial offset common to all n, plus independent noise per n and trial) there is a
component *shared by all trials of one data set* (again an offset plus noise per n). One data set
cannot show the shared part (it is the same in all its trials); its size here is the one the
Nadeau-Bengio correction assumes, ``n_test/n_pool`` times the per-trial variance. The per-trial
magnitudes and ``n_test/n_pool`` are read from the committed formation-enthalpy table (the
numbers below are the fallback when it is absent).

Every interval the book prints is checked on 20 trials per point: the paired gain (corrected t),
the mean at each n, D, alpha and C, and the marginal value of more simulations (all from the
corrected draws). The same data also show that the uncorrected methods under-cover (plain t
interval of the gain, bootstrap over trials for the fit), so this test can fail: switch the book to
those methods and it does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2rlib.law import derived as insights
from s2rlib.law import scaling
from s2rlib.law import trial_stats

TRIALS = 20
REPS = 300  # coverage SE ~ 1.7 points: the 85-95% band is about +-3 SE around 90%
N_BOOT = 200
NS = np.array([100, 300, 1000, 3000, 10000, 30000, 95118], dtype=float)
TRUE = dict(D=0.3, alpha=0.5, C=0.075)  # falls from 0.105 at n = 100 to 0.076 at the largest n
BASELINE = 0.11  # true error without pretraining
FALLBACK = dict(sd_offset=0.0045, sd_noise=0.0025, ratio=0.31)  # formation enthalpy, 5 trials
RESULTS = Path(__file__).resolve().parents[1] / "results" / "formation_enthalpy" / "results.csv"


def real_magnitudes() -> dict:
    """Per-trial offset and noise SDs and n_test/n_pool from the committed table (fallback: FALLBACK)."""
    if not RESULTS.is_file():
        return FALLBACK
    table = pd.read_csv(RESULTS)
    mat = trial_stats.trial_matrix(table.assign(params_id="one"), "mae", -1)
    cov = np.cov(mat.to_numpy(dtype=float))  # n x n covariance over trials
    k = len(cov)
    off = (cov.sum() - np.trace(cov)) / (k * (k - 1))  # shared across n within a trial
    diag = np.trace(cov) / k
    return dict(sd_offset=math.sqrt(max(off, 0.0)), sd_noise=math.sqrt(max(diag - off, 0.0)),
                ratio=trial_stats.test_train_ratio(table))


def law(n):
    return TRUE["D"] * n ** (-TRUE["alpha"]) + TRUE["C"]


def draw_grid(rng, mag) -> pd.DataFrame:
    """One synthetic data set: (n x trial) errors at n = 0 and NS, with shared and per-trial parts."""
    ns = np.r_[0.0, NS]
    truth = np.r_[BASELINE, law(NS)]
    r, so, se = mag["ratio"], mag["sd_offset"], mag["sd_noise"]
    shared = math.sqrt(r) * (so * rng.standard_normal() + se * rng.standard_normal(len(ns)))
    trial = so * rng.standard_normal(TRIALS)[None, :] + se * rng.standard_normal((len(ns), TRIALS))
    mat = pd.DataFrame(truth[:, None] + shared[:, None] + trial, index=ns.astype(int))
    mat.attrs["test_train_ratio"] = r
    return mat


def covers(iv, truth) -> bool:
    return bool(np.isfinite(iv[0]) and iv[0] <= truth <= iv[1])


@pytest.fixture(scope="module")
def coverage():
    mag = real_magnitudes()
    rng = np.random.default_rng(2024)
    n_max = NS[-1]
    truths = dict(gain=law(n_max) - BASELINE, mean=law(NS[3]), D=TRUE["D"], alpha=TRUE["alpha"], C=TRUE["C"],
                  marginal=law(n_max) - law(n_max + 10000))
    hits = {k: 0 for k in truths} | {"gain_plain": 0, "C_trial_bootstrap": 0, "alpha_trial_bootstrap": 0}
    status = []
    for rep in range(REPS):
        mat = draw_grid(rng, mag)
        g = trial_stats.paired_gain(mat, int(n_max), 0)
        hits["gain"] += covers((g.lo, g.hi), truths["gain"])
        plain = trial_stats.paired_gain(mat, int(n_max), 0, ratio=0.0)
        hits["gain_plain"] += covers((plain.lo, plain.hi), truths["gain"])
        row = mat.loc[int(NS[3])]
        se = row.std(ddof=1) * math.sqrt(1 / TRIALS + mag["ratio"])
        hits["mean"] += covers(scaling.interval(mean=row.mean(), se=se, df=TRIALS - 1), truths["mean"])
        fit = scaling.bootstrap_fit(mat, n_boot=N_BOOT, seed=rep)
        status.append(str(fit.status))
        ci = fit.ci()
        for k in ("D", "alpha", "C"):
            hits[k] += covers(ci[k], truths[k])
        mg = insights.marginal_gain(fit, n_max, 10000)
        hits["marginal"] += covers((mg.lo, mg.hi), truths["marginal"])
        naive = scaling.bootstrap_fit(mat, n_boot=N_BOOT, seed=rep, method="trial_bootstrap").ci()
        hits["C_trial_bootstrap"] += covers(naive["C"], truths["C"])
        hits["alpha_trial_bootstrap"] += covers(naive["alpha"], truths["alpha"])
    return {k: v / REPS for k, v in hits.items()}, pd.Series(status).value_counts(normalize=True), mag


@pytest.mark.parametrize("quantity", ["gain", "mean", "D", "alpha", "C", "marginal"])
def test_nominal_90_percent_intervals_cover_85_to_95_percent(coverage, quantity):
    rates, _, mag = coverage
    assert 0.85 <= rates[quantity] <= 0.95, (quantity, rates, mag)


def test_uncorrected_methods_under_cover(coverage):
    """The plain t interval of the gain and the bootstrap over trials ignore what re-splits share: on
    these grids they cover "about half the time", as the method page says (0.51 and 0.46 when written)."""
    rates, _, _ = coverage
    method = " ".join((Path(__file__).resolve().parents[1] / "book" / "method.md").read_text().split())
    assert "the plain $t$ interval and the bootstrap over trials cover about half the time" in method
    assert 0.35 <= rates["gain_plain"] <= 0.65, rates
    assert 0.35 <= rates["C_trial_bootstrap"] <= 0.65, rates


def test_the_synthetic_law_is_identified_in_most_replications(coverage):
    """The test is about a law the data can see: most fits are ``ok`` (a few flag the floor or alpha)."""
    _, status, _ = coverage
    assert status.get("ok", 0) >= 0.5, status
