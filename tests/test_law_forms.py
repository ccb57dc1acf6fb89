"""The law against competing functional forms: each form wins on data drawn from it; too few points give NaN rows."""

import numpy as np
import pytest

from s2rlib.law import aic as aic_module
from s2rlib.law import forms as law_forms

NS_DENSE = np.geomspace(100, 100000, 12)


def _best(df):
    return df.loc[df["aic"].idxmin(), "form"]


def test_compare_forms_prefers_power_law_with_floor():
    rng = np.random.default_rng(1)
    R = (1.5 * NS_DENSE ** -0.4 + 0.08) * (1 + 0.005 * rng.standard_normal(len(NS_DENSE)))
    df = law_forms.compare_forms(NS_DENSE, R)
    assert list(df["form"]) == list(law_forms.FORMS)
    assert _best(df) == "power law + floor"
    assert (df.set_index("form").delta_aic.drop("power law + floor") > 4).all()
    assert df.set_index("form").loc["power law + floor", "extrap_error"] < 0.01


def test_compare_forms_prefers_exponential_saturation():
    rng = np.random.default_rng(2)
    R = (0.1 + 0.3 * np.exp(-NS_DENSE / 3000)) * (1 + 0.005 * rng.standard_normal(len(NS_DENSE)))
    df = law_forms.compare_forms(NS_DENSE, R)
    assert _best(df) == "exponential saturation"
    row = df.set_index("form").loc["exponential saturation"]
    assert "n0=" in row["params"] and row["status"] == "ok"


def test_compare_forms_few_points_gives_nan_rows():
    df = law_forms.compare_forms([100, 1000], [0.3, 0.2])
    assert len(df) == 4
    assert df.set_index("form").loc[["power law + floor", "pure power law", "exponential saturation"], "aic"].isna().all()
    assert law_forms.compare_forms([], []).shape[0] == 4


def test_forms_table_reports_the_same_aic_as_the_fit_status():
    """The forms table and the status criterion (aic.aic_table) fit the constant and the pure power
    law the same way, so their AIC differences agree: with standard errors (diagonal weights) and with
    the trials' covariance (a precision matrix)."""
    from s2rlib.law import scaling

    rng = np.random.default_rng(3)
    n = np.array([10, 30, 100, 300, 1000, 3000, 10000], dtype=float)
    T = 20
    trials = (0.6 * n ** -0.3 + 0.12)[:, None] + 0.01 * rng.standard_normal(T) \
        + np.linspace(0.004, 0.002, len(n))[:, None] * rng.standard_normal((len(n), T))
    R = trials.mean(axis=1)
    fit = scaling.fit_law(n, R)
    cov = aic_module.mean_covariance(trials, 0.25)
    se = np.sqrt(np.diag(cov))
    for kwargs, W in ((dict(se=se), 1 / se**2), (dict(trials=trials, ratio=0.25), aic_module.aic_weights(trials, 0.25))):
        assert W.ndim == (2 if "trials" in kwargs else 1)
        aic = aic_module.aic_table(fit, W)
        df = law_forms.compare_forms(n, R, **kwargs).set_index("form")["aic"]
        for form in ("constant", "pure power law"):
            assert abs((df[form] - df["power law + floor"]) - (aic[form] - aic["law"])) < 1e-6 * abs(aic[form])
        assert abs(df["power law + floor"] - aic["law"]) < 1e-6 * abs(aic["law"])  # the law too: one weighted fit


def test_pure_power_fit_recovers_known_parameters():

    n = np.geomspace(10, 1e5, 9)
    D, a = aic_module.fit_pure_power(n, 2.5 * n ** -0.37)
    assert abs(a - 0.37) < 1e-5 and abs(D - 2.5) < 1e-4


def test_pure_power_fit_with_vanishing_weights_is_unidentified_instead_of_dividing_by_zero():
    # 1/se^2 underflows to 0 when a point's spread overflows (a property test found a table with 1.34e163)
    n = np.geomspace(10, 3000, 4)
    D, a = aic_module.fit_pure_power(n, 0.4 * n ** -0.2, w=np.zeros(4))
    assert np.isnan(D)  # no information: unidentified, never an arbitrary D = 0
    D, a = aic_module.fit_pure_power(n, 0.4 * n ** -0.2, w=np.array([np.nan, 1.0, 1.0, 1.0]))
    assert np.isnan(D)  # a NaN weight (a point with one trial has no se) is not hidden either
    D, a = aic_module.fit_pure_power(n, 0.4 * n ** -0.2, w=np.array([0.0, 1.0, 1.0, 1.0]))  # one dropped point
    assert abs(a - 0.2) < 1e-4 and abs(D - 0.4) < 1e-4


def test_forms_table_and_status_agree_when_trials_are_missing():
    """Trials missing at some n: no trial is complete, so the covariance cannot be estimated; the
    forms table and the status then share the same fallback (each point's own trials)."""
    from s2rlib.law import scaling

    rng = np.random.default_rng(4)
    n = np.array([10, 30, 100, 300, 1000, 3000], dtype=float)
    trials = (0.5 * n ** -0.35 + 0.1)[:, None] + 0.01 * rng.standard_normal((len(n), 8))
    trials[np.arange(len(n)), np.arange(len(n))] = np.nan  # every trial misses one point
    R = np.nanmean(trials, axis=1)
    W = aic_module.aic_weights(trials, 0.2)
    assert W.ndim == 1 and np.isfinite(W).all()
    aic = aic_module.aic_table(scaling.fit_law(n, R), W)
    df = law_forms.compare_forms(n, R, trials=trials, ratio=0.2).set_index("form")["aic"]
    assert abs((df["constant"] - df["power law + floor"]) - (aic["constant"] - aic["law"])) < 1e-6 * aic["constant"]


def test_compare_forms_names_the_bad_argument():
    import pytest

    with pytest.raises(ValueError, match="n and R differ"):
        law_forms.compare_forms([1, 2, 3], [0.3, 0.2])
    with pytest.raises(ValueError, match="se has 2 values"):
        law_forms.compare_forms([1, 2, 3], [0.3, 0.2, 0.1], se=[0.1, 0.1])
    with pytest.raises(ValueError, match="trials has 2 rows"):
        law_forms.compare_forms([1, 2, 3], [0.3, 0.2, 0.1], trials=np.ones((2, 5)))


def test_law_gls_recovers_known_parameters_under_a_full_precision_matrix():
    n = np.geomspace(10, 1e5, 8)
    A = np.random.default_rng(7).standard_normal((8, 8))
    W = A @ A.T + 8 * np.eye(8)  # a dense positive-definite precision matrix
    D, a, C = aic_module.fit_law_gls(n, 0.9 * n ** -0.45 + 0.07, W)
    assert abs(a - 0.45) < 1e-4 and abs(D - 0.9) < 1e-3 and abs(C - 0.07) < 1e-5
    assert np.isnan(aic_module.fit_law_gls(n, 0.9 * n ** -0.45, np.zeros(8))[0])  # no information: NaN


def test_the_law_is_scored_at_its_weighted_optimum_so_the_forms_stay_nested():
    """The unweighted fit follows a wild first point that the weights discount; scored at that
    estimate, the law would lose to a pure power law by more than its extra parameter costs (2), which
    a nested form cannot honestly do. Scored at its weighted optimum it is never worse than the pure
    power law (C = 0) or the constant (D = 0) in chi^2."""
    from s2rlib.law import scaling

    n = np.array([10, 30, 100, 300, 1000, 3000, 10000], dtype=float)
    R = 0.5 * n ** -0.3 + 0.02
    R[0] += 0.2  # a first point far off the curve, with a huge standard error
    se = np.array([0.5, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001])
    fit = scaling.fit_law(n, R)
    W = 1 / se**2
    unweighted_ss = aic_module.weighted_ss(fit.predict(n) - R, W)
    D, a, C = aic_module.fit_law_gls(n, R, W)
    gls_ss = aic_module.weighted_ss(D * n ** -a + C - R, W)
    assert gls_ss < 0.01 * unweighted_ss  # the weighted optimum fits the trusted points
    assert abs(a - 0.3) < 0.01 and abs(C - 0.02) < 0.002
    table = aic_module.aic_table(fit, W)
    assert abs(table["law"] - (gls_ss + 6)) < 1e-6 * table["law"]
    assert table["law"] - 2 <= table["pure power law"] + 1e-9 and table["law"] - 4 <= table["constant"] + 1e-9
    assert unweighted_ss + 6 > table["pure power law"] + 2  # what scoring the unweighted estimate would have said
    rows = law_forms.compare_forms(n, R, se=se).set_index("form")
    assert abs(rows.loc["power law + floor", "aic"] - table["law"]) < 1e-6 * table["law"]
    assert "alpha=0.3" in rows.loc["power law + floor", "params"]


def test_law_gls_finds_the_weighted_optimum_on_noisy_points():
    """Noisy points and a dense precision matrix: the truth no longer minimises r'Wr, so a wrong whitening
    (L instead of L') finds another point. The GLS fit must match a general optimiser run from many starts."""
    from scipy import optimize

    rng = np.random.default_rng(11)
    n = np.geomspace(30, 1e5, 8)
    A = rng.standard_normal((8, 8))
    W = A @ A.T + 2 * np.eye(8)
    R = 0.6 * n ** -0.35 + 0.05 + 0.004 * rng.standard_normal(8)
    D, a, C = aic_module.fit_law_gls(n, R, W)
    got = aic_module.weighted_ss(D * n ** -a + C - R, W)

    def chi2(p):
        return aic_module.weighted_ss(p[0] * n ** -p[1] + p[2] - R, W)

    best = min(optimize.minimize(chi2, x0, bounds=[(0, None), (1e-3, 3), (0, None)], method="L-BFGS-B").fun
               for x0 in ([0.1, 0.1, 0.0], [1.0, 0.5, 0.05], [5.0, 1.0, 0.1], [0.5, 0.3, 0.02], [0.01, 2.0, 0.08]))
    assert got <= best * (1 + 1e-6) + 1e-12, (got, best)
    unweighted = optimize.least_squares(lambda p: p[0] * n ** -p[1] + p[2] - R, [0.5, 0.3, 0.05],
                                        bounds=([0, 1e-3, 0], [np.inf, 3, np.inf])).x
    assert got < chi2(unweighted)  # the weights matter: the unweighted fit is not the weighted optimum
    chi, params = aic_module.law_fit_weighted(n, R, W, start=unweighted)
    assert chi == pytest.approx(got) and params == pytest.approx((D, a, C))
