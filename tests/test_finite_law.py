"""The finite-R(0) form, goodness of fit, the reconciled status and the decisions, on synthetic trials with
the project's paired structure (a per-trial offset shared by every n, as re-splits of one data set)."""

import numpy as np
import pandas as pd
import pytest

from s2rlib.book import decision_words, findings
from s2rlib.law import decisions, finite, scaling, trial_stats
from s2rlib.law.fit_status import ALPHA_BOUNDS, FitStatus, goodness_of_fit

NS = np.array([0, 10, 30, 100, 300, 1000, 3000, 10000], dtype=float)


def paired_matrix(curve, ns=NS, trials=20, shared=0.004, noise=0.002, seed=0, ratio=0.25):
    """(n x trial) matrix: curve(n) + a per-trial offset + independent noise."""
    rng = np.random.default_rng(seed)
    off = rng.normal(0, shared, trials)
    vals = curve(ns)[:, None] + off[None, :] + rng.normal(0, noise, (len(ns), trials))
    mat = pd.DataFrame(vals, index=ns.astype(int), columns=range(trials))
    mat.attrs["test_train_ratio"] = ratio
    return mat


def truth(n, R0=0.30, C=0.10, n_s=200.0, alpha=0.8):
    return finite.finite_law(n, R0, C, n_s, alpha)


def test_finite_law_shape():
    assert finite.finite_law(0.0, 0.3, 0.1, 200, 0.8) == pytest.approx(0.3)
    assert finite.finite_law(200.0, 0.3, 0.1, 200, 0.8) == pytest.approx(0.1 + 0.2 * 2 ** -0.8)
    assert finite.finite_law(1e12, 0.3, 0.1, 200, 0.8) == pytest.approx(0.1, abs=1e-4)


def test_recovers_exact_parameters_without_noise():
    p, chi2, _ = finite.fit_finite(NS, truth(NS))
    assert p == pytest.approx([0.30, 0.10, 200.0, 0.8], rel=2e-3)
    assert chi2 == pytest.approx(0, abs=1e-10)


def test_recovers_known_law_from_paired_trials_with_covering_intervals():
    ff = finite.bootstrap_finite(paired_matrix(truth, shared=0.003, noise=0.0015), n_boot=400)
    assert ff.status == FitStatus.ok, ff.message
    assert ff.C == pytest.approx(0.10, abs=0.01) and ff.alpha == pytest.approx(0.8, rel=0.3)
    ci = ff.ci()
    assert ci["C"][0] < 0.10 < ci["C"][1] and ci["alpha"][0] < 0.8 < ci["alpha"][1]
    assert ff.dof == len(NS) - 4 and ff.p_value > 0.05
    assert ff.floor_resolved() and ff.aic_vs_no_floor > 2


def test_goodness_of_fit_rejects_a_shape_the_data_do_not_follow():
    """A curve that steepens in log n (error ~ 1 - c log(1 + n/3000)^2): the paper's law cannot follow it."""
    def steep(n):
        return 0.30 - 0.012 * np.log1p(n / 30.0) ** 1.6
    mat = paired_matrix(steep, shared=0.004, noise=0.001)
    fit = scaling.bootstrap_fit(mat, n_boot=300)
    assert fit.status == FitStatus.misfit and fit.p_value < 0.05 and fit.dof == len(NS) - 1 - 3
    g = goodness_of_fit(fit.chi2, fit.dof)
    assert g.p_value == pytest.approx(fit.p_value) and not g.fits


def test_goodness_of_fit_p_value_is_the_chi2_tail():
    g = goodness_of_fit(9.4877, 4)  # the 95% point of chi^2 with 4 dof
    assert g.p_value == pytest.approx(0.05, abs=1e-4)
    assert np.isnan(goodness_of_fit(1.0, 0).p_value) and goodness_of_fit(1.0, 0).fits


def test_step_onto_a_plateau_reports_C_though_alpha_is_at_its_bound():
    """A fall onto a plateau steeper than the search allows (alpha = 8 > 3), on chi's n grid and noise."""
    ns = np.array([0, 10, 30, 100, 300, 600, 1000], dtype=float)
    mat = paired_matrix(lambda n: truth(n, 0.30, 0.12, 400.0, 8.0), ns=ns, shared=0.01, noise=0.006, seed=1)
    ff = finite.bootstrap_finite(mat, n_boot=400)
    assert ff.status == FitStatus.alpha_at_bound and ff.alpha == pytest.approx(ALPHA_BOUNDS[1])
    assert ff.floor_resolved() and ff.p_value > 0.05
    lo, hi = ff.ci()["C"]
    assert lo < 0.12 < hi and hi - lo < 0.03
    shown = findings.finite_parameters(ff, floor_ceiling=0.11)
    assert shown["C"].kind == findings.ESTIMATE and shown["C"].number == pytest.approx(ff.C)


def test_a_flat_curve_beside_a_detected_gain_is_shape_unresolved():
    gain = trial_stats.Gain(1000, -0.01, -0.02, -0.001, 20)
    st, _ = trial_stats.reconcile(FitStatus.constant_preferred, "", gain)
    assert st == FitStatus.shape_unresolved
    none = trial_stats.Gain(1000, -0.01, -0.02, 0.001, 20)
    assert trial_stats.reconcile(FitStatus.constant_preferred, "", none)[0] == FitStatus.constant_preferred


def test_no_vacuous_bounds():
    lo, hi = ALPHA_BOUNDS
    shown = findings.shown_parameters(FitStatus.alpha_at_bound, {"alpha": 0.5, "C": 0.1},
                                      {"alpha": (0.0156, hi), "C": (0.0, 0.30)}, floor_unresolved=True,
                                      floor_ceiling=0.25)
    assert shown["alpha"].value == findings.NOT_IDENTIFIED  # "alpha >= 0.0156" says nothing
    assert not shown["C"].printed  # "C < 0.30" above the lowest measured error says nothing
    shown = findings.shown_parameters(FitStatus.alpha_at_bound, {"alpha": 2.0, "C": 0.1},
                                      {"alpha": (0.6, hi), "C": (0.0, 0.2)}, floor_unresolved=True,
                                      floor_ceiling=0.25)
    assert shown["alpha"].value == "≥ 0.600" and shown["C"].value == "< 0.200"


def test_decisions_match_the_closed_forms():
    P = np.array([0.30, 0.10, 200.0, 0.8])
    n = decisions._n_for("finite", 0.15, P)[0]
    assert finite.finite_law(n, *P) == pytest.approx(0.15, rel=1e-9)
    assert decisions._n_for("finite", 0.09, P)[0] == np.inf and decisions._n_for("finite", 0.31, P)[0] == 0
    L = np.array([0.9, 0.45, 0.08])
    n = decisions._n_for("law", 0.1, L)[0]
    assert n == pytest.approx((0.9 / 0.02) ** (1 / 0.45))
    v, lo, hi = decisions.next_gain("law", L, np.tile(L, (20, 1)), 1000.0, 10000.0)
    assert v == pytest.approx(0.9 * (1000 ** -0.45 - 11000 ** -0.45)) and lo == pytest.approx(v) == hi


def _case_fit(mat):
    fit = scaling.bootstrap_fit(mat, n_boot=300)
    gain = trial_stats.paired_gain(mat, mat.index.max(), 0)
    ff = finite.bootstrap_finite(mat, n_boot=300)
    return trial_stats.CaseFit("chi", -1, fit, mat.mean(axis=1), mat.sem(axis=1), mat.shape[1],
                               float(mat.loc[0].mean()), gain, "", ratio=0.25, finite=ff)


def test_an_ok_finite_form_prints_decisions_with_intervals_around_the_truth():
    cf = _case_fit(paired_matrix(truth, shared=0.003, noise=0.0015))
    assert cf.chosen == "finite" and cf.finite.ok
    ds = decisions.case_decisions(cf, target=0.12)
    true_n = 200.0 * ((0.20 / 0.02) ** (1 / 0.8) - 1)
    assert ds.required_n.supported and ds.required_n.lo < true_n < ds.required_n.hi
    true_gain = truth(10000.0) - truth(20000.0)
    assert ds.next_gain.supported and ds.next_gain.lo < true_gain < ds.next_gain.hi
    assert not ds.experiments.supported and ds.experiments.missing in ("no_two_way", "ess_form")
    table = decision_words.decision_table([(cf, ds)])
    assert table["n for the target [90% CI]"].iloc[0] != "–"


def test_a_flat_curve_prints_no_decision_and_says_why():
    cf = _case_fit(paired_matrix(lambda n: 0.2 + 0 * n, shared=0.004, noise=0.002, seed=3))
    ds = decisions.case_decisions(cf)
    assert not any(d.supported for d in (ds.required_n, ds.next_gain, ds.experiments))
    assert all(np.isnan(d.value) for d in (ds.required_n, ds.next_gain, ds.experiments))
    why = decision_words.decision_table([(cf, ds)])["not printed, and why"].iloc[0]
    assert findings.status_link(ds.status) in why and f"not {findings.status_link('ok')}" in why
    assert f"`{ds.status}`" not in why  # the status in words, linked to the method chapter's table
