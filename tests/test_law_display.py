"""Every display of a fitted law follows its status (s2rlib.tables, s2rlib.plotting, s2rlib.findings).

A fit whose data show no fall with n is shown as the constant it reduces to, never as
``D n^-alpha + C``; a floor that is not resolved is ``C < x``, never ``+ 0``; alpha and C of a law
the data do not identify are "not identified" in the summary table as in the glance table; and the
forms table gives the law the main fit's status. Real fits of small synthetic trial matrices.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from s2rlib import findings, plotting, report, scaling, tables, trial_stats  # noqa: E402
from synthetic import synthetic_table  # noqa: E402

NS = np.array([10, 30, 100, 300, 600, 970])


@pytest.fixture(autouse=True)
def _no_fit_cache(monkeypatch):
    monkeypatch.setenv(report.FIT_CACHE_ENV, "off")


def _flat(seed: int) -> pd.DataFrame:
    """Noise around 0.05 at every n (seed 0 gives D = 0: no_decrease; seed 1 a tiny D > 0: constant_preferred)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(0.05 + 0.001 * rng.standard_normal((len(NS), 20)), index=NS)


def _case_fit(mat: pd.DataFrame, ratio: float = 0.25) -> trial_stats.CaseFit:
    mat = pd.concat([pd.DataFrame([mat.iloc[0].to_numpy()], index=[0]), mat])  # an n = 0 baseline
    mat.attrs["test_train_ratio"] = ratio
    fit = scaling.bootstrap_fit(mat, n_boot=200, seed=0)
    return trial_stats.CaseFit("band_gap", -1, fit, mat.mean(axis=1), mat.sem(axis=1), mat.shape[1],
                               float(mat.loc[0].mean()), trial_stats.paired_gain(mat, mat.index.max(), 0), "eV",
                               ratio=ratio)


@pytest.fixture(scope="module")
def constant_fit():
    cf = _case_fit(_flat(1))
    assert cf.fit.status == "constant_preferred" and cf.fit.D > 0 and cf.fit.C > 0
    return cf


@pytest.fixture(scope="module")
def flat_fit():
    cf = _case_fit(_flat(0))
    assert cf.fit.status == "no_decrease" and cf.fit.D == 0
    return cf


@pytest.fixture(scope="module")
def floorless_fit():
    rng = np.random.default_rng(0)
    ns = np.array([100, 300, 1000, 3000, 10000, 30000])
    mat = pd.DataFrame((1.5 * ns ** -0.5)[:, None] + 0.002 * rng.standard_normal((len(ns), 20)), index=ns)
    cf = _case_fit(mat)
    assert cf.fit.floor_at_bound() and cf.fit.C < 1e-3
    return cf


def test_a_constant_fit_is_shown_as_its_constant_not_as_a_law(constant_fit, flat_fit):
    for cf in (constant_fit, flat_fit):
        f = cf.fit
        const = float(np.mean(f.R))  # the mean of the trial means over n > 0
        math_, text = tables.law_math(f, "eV"), tables.law_text(f, "eV")
        for shown in (math_, text):
            assert "n^" not in shown and "n^{" not in shown, shown
            assert shown.lower().startswith("no scaling law"), shown
        assert f"{const:.3g}" in text and f"\\approx {const:.3g}$ eV" in math_
        label = plotting.law_label(cf)
        assert "n$^" not in label and "fitted law" not in label and f"{const:.3g}" in label, label
    assert "D = 0" in tables.law_text(flat_fit.fit) and "D = 0" not in tables.law_text(constant_fit.fit)


def test_an_unresolved_floor_is_an_upper_bound_never_plus_zero(floorless_fit):
    f = floorless_fit.fit
    hi = f.ci()["C"][1]
    text, math_ = tables.law_text(f, "eV"), tables.law_math(f, "eV")
    assert "+ 0" not in text and f"C < {tables.fmt(hi)} eV" in text, text
    assert "+ 0$" not in math_ and f"$C < {tables._tex(hi)}$ eV" in math_, math_
    assert f"{f.D:.3g}" in plotting.law_label(floorless_fit)


def test_an_identified_law_is_printed_in_full():
    table = synthetic_table("band_gap", ns=(0, 100, 300, 1000, 3000, 10000), trials=5)
    cf = report.fit_case(table, n_boot=200)
    assert cf.fit.status == "ok"
    f = cf.fit
    assert tables.law_text(f, "eV") == f"R(n) = {tables.fmt(f.D)} n^-{tables.fmt(f.alpha)} + {tables.fmt(f.C)} eV"
    assert plotting.law_label(cf).startswith("fitted law: ")


def test_summary_table_says_not_identified_where_the_glance_table_does(constant_fit, flat_fit, floorless_fit):
    fits = {"band_gap": constant_fit, "polymer_density": flat_fit, "formation_enthalpy": floorless_fit}
    law = tables.summary_table(fits.values(), part="law").set_index("status")
    glance = findings.glance_table(fits)["scaling law"]
    for cf in fits.values():
        key = f"`{cf.fit.status}`"
        identified = cf.fit.status in ("ok", "C_at_bound")
        assert (law.loc[key, "alpha [90% CI]"] == "not identified") == (not identified)
        cell = glance[glance.str.startswith(key)].iloc[0]
        assert ("alpha and C not identified" in cell) == (not identified)
        assert (law.loc[key, "C [90% CI]"] == "not identified") == (not identified)
    assert law.loc["`C_at_bound`", "C [90% CI]"].startswith("< ")


def test_the_alpha_search_bound_is_printed_as_it_is_described(flat_fit):
    """The status text says the bound is 0.001; a flat profile (D = 0) reports exactly that, not 0.00111."""
    lo, hi = scaling.ALPHA_BOUNDS
    assert "(0.001 or 3)" in scaling.FitStatus.alpha_at_bound.meaning and (lo, hi) == (0.001, 3.0)
    assert flat_fit.fit.alpha == lo
    assert flat_fit.fit.ci()["alpha"][0] == lo  # the draws without a decrease report the bound too
    flat = np.full((3, len(NS)), 0.05)
    assert np.allclose(scaling.fit_many(NS, flat)[:, 1], lo)


def test_forms_table_gives_the_law_the_main_fit_status_and_names_its_columns():
    """The law's row is the main fit (same means, same point estimate): one status for one law.
    Here the point fit alone is ok, but the draws make the main fit's status something else."""
    table = synthetic_table("chi", ns=(0, 10, 30, 100, 300, 1000), trials=20, law=(0.2, 0.05, 0.1, 0.31, 0.004))
    cf = report.fit_case(table, n_boot=200)
    plain = tables.forms_table(table)
    with_fit = tables.forms_table(table, fit=cf)
    assert "RSS (unweighted)" in plain and "AIC (corrected covariance)" in plain
    law_row = with_fit.set_index("form").loc["power law + floor"]
    assert law_row["status"] == f"`{cf.fit.status}` (main fit)"
    point = scaling.fit_law(cf.fit.n, cf.fit.R).status
    assert plain.set_index("form").loc["power law + floor", "status (point fit)"] == f"`{point}`"
    other = with_fit.set_index("form").drop(index="power law + floor")["status"]
    assert not other.str.contains("main fit").any()



def test_a_floor_unresolved_by_aic_alone_is_reported_as_an_upper_bound():
    """C_at_bound also when a pure power law fits as well by AIC while C's interval stays above 0: the
    law is then written with "C < x" (FitStatus.C_at_bound.reading), never as an estimate."""
    import dataclasses

    rng = np.random.default_rng(3)
    ns = np.array([100, 300, 1000, 3000, 10000, 30000], float)
    fit = scaling.fit_law(ns, 0.5 * ns ** -0.3 + 0.05 + rng.normal(0, 0.002, len(ns)))
    assert fit.usable and not fit.floor_at_bound() and fit.C > 0.01  # the point fit sees a floor
    assert not dataclasses.replace(fit, status="ok").floor_unresolved()
    flagged = dataclasses.replace(fit, status=scaling.FitStatus.C_at_bound.value)
    assert flagged.floor_unresolved()
    from s2rlib.formatting import fmt

    assert "+ C" in tables.law_text(flagged) and f"+ {fmt(fit.C)}" not in tables.law_text(flagged)
    assert f"+ {fmt(fit.C)}" in tables.law_text(dataclasses.replace(fit, status="ok"))
