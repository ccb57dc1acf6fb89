"""Every display of a fitted law follows its status (s2rlib.book.tables, s2rlib.book.plotting, s2rlib.book.findings).

A fit whose data show no fall with n is shown as the constant it reduces to, never as
``D n^-alpha + C``; a floor that is not resolved is ``C < x``, never ``+ 0``; alpha and C of a law
the data do not identify are not printed by any table (params, two-way, summary, glance, the law
sentence: one rule, ``findings.shown_parameters``); and the forms table gives the law the main fit's
status. Real fits of small synthetic trial matrices.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from s2rlib.book.formatting import units_after  # noqa: E402
from s2rlib.book import law_words
from s2rlib.law import fit_cache
from s2rlib.book import formatting
from s2rlib.book import case_results
from s2rlib.book import two_way_plot
from s2rlib.book import findings  # noqa: E402
from s2rlib.book import law_words as law_display
from s2rlib.book import plotting
from s2rlib.law import scaling
from s2rlib.book import tables
from s2rlib.law import trial_stats
from s2rlib.book.formatting import fmt, fmt_ci, units_suffix  # noqa: E402
from s2rlib._core.units import pretty_units
from synthetic import synthetic_table  # noqa: E402

NS = np.array([10, 30, 100, 300, 600, 970])


@pytest.fixture(autouse=True)
def _no_fit_cache(monkeypatch):
    monkeypatch.setenv(fit_cache.FIT_CACHE_ENV, "off")


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
        math_, text = law_words.law_math(f, "eV"), law_words.law_text(f, "eV")
        for shown in (math_, text):
            assert "n^" not in shown and "n^{" not in shown, shown
            assert shown.lower().startswith("no scaling law"), shown
        assert f"{const:.3g}" in text and f"\\approx {const:.3g}$ eV" in math_
        label = plotting.law_label(cf)
        assert "n$^" not in label and "fitted law" not in label and f"{const:.3g}" in label, label
    assert "D = 0" in law_words.law_text(flat_fit.fit) and "D = 0" not in law_words.law_text(constant_fit.fit)


def test_an_unresolved_floor_is_an_upper_bound_never_plus_zero(floorless_fit):
    f = floorless_fit.fit
    hi = f.ci()["C"][1]
    text, math_ = law_words.law_text(f, "eV"), law_words.law_math(f, "eV")
    assert "+ 0" not in text and f"C < {formatting.fmt(hi)} eV" in text, text
    assert "+ 0$" not in math_ and f"$C < {law_display._tex(hi)}$ eV" in math_, math_
    assert f"{f.D:.3g}" in plotting.law_label(floorless_fit)


def test_an_identified_law_is_printed_in_full():
    table = synthetic_table("band_gap", ns=(0, 100, 300, 1000, 3000, 10000), trials=5)
    cf = fit_cache.fit_case(table, n_boot=200)
    assert cf.fit.status == "ok"
    f = cf.fit
    assert law_words.law_text(f, "eV") == f"R(n) = {formatting.fmt(f.D)} n^-{formatting.fmt(f.alpha)} + {formatting.fmt(f.C)} eV"
    assert plotting.law_label(cf).startswith("fitted law: ")


def _law(D, alpha, C, ns, *, noise=0.002, shared=0.005, seed=0, trials=20) -> pd.DataFrame:
    """Trials of D n^-alpha + C with a per-trial offset shared across n (paired like the real grids)."""
    rng = np.random.default_rng(seed)
    ns = np.asarray(ns, dtype=float)
    offsets = rng.normal(0, shared, trials)
    return pd.DataFrame((D * ns ** -alpha + C)[:, None] + offsets[None, :]
                        + noise * rng.standard_normal((len(ns), trials)), index=ns)


STEP_NS = (10, 30, 100, 300, 600, 970)
SLOW_NS = (10, 100, 1000, 10_000, 100_000, 1_000_000)


@pytest.fixture(scope="module")
def step_fit():
    """A step: the error falls onto a plateau of 0.15 between the first two n (alpha at its upper bound)."""
    cf = _case_fit(_law(50, 3, 0.15, STEP_NS))
    lo, hi = cf.fit.ci()["alpha"]
    assert cf.fit.status == "alpha_at_bound" and hi == scaling.ALPHA_BOUNDS[1] and lo > 1
    return cf


@pytest.fixture(scope="module")
def slow_fit():
    """A fall too slow to tell from none over six decades (alpha at its lower bound 0.001)."""
    cf = _case_fit(_law(0.2, 0.001, 0.05, SLOW_NS, noise=0.001, shared=0.003))
    lo, hi = cf.fit.ci()["alpha"]
    assert cf.fit.status == "alpha_at_bound" and lo == scaling.ALPHA_BOUNDS[0] and hi < 1
    return cf


@pytest.fixture(scope="module")
def ok_fit():
    cf = fit_cache.fit_case(synthetic_table("band_gap", ns=(0, 100, 300, 1000, 3000, 10000), trials=5), n_boot=200)
    assert cf.fit.status == "ok"
    return cf


@pytest.fixture(scope="module")
def status_fits(ok_fit, floorless_fit, step_fit, slow_fit, constant_fit, flat_fit):
    """One real fit per status. ``unidentified`` (more than 5% of the draws without a decrease although the
    law beats a constant by AIC) is rare on smooth curves: it is the ok fit with that status, the numbers
    a wrong implementation would print being the ok fit's."""
    import dataclasses

    flagged = dataclasses.replace(ok_fit.fit, status=scaling.FitStatus.unidentified)
    unidentified = dataclasses.replace(ok_fit, fit=flagged)
    few = _case_fit(_law(1, 0.5, 0.1, (10, 100, 1000)))
    assert few.fit.status == "too_few_points"
    assert floorless_fit.fit.status == "C_at_bound"
    return {"ok": ok_fit, "C_at_bound": floorless_fit, "alpha_at_bound (upper)": step_fit,
            "alpha_at_bound (lower)": slow_fit, "constant_preferred": constant_fit, "no_decrease": flat_fit,
            "unidentified": unidentified, "too_few_points": few, "committed chi, m = all": _committed("chi")}


def _committed(case: str):
    """The book's main fit of a committed results table (today chi's is alpha_at_bound at the upper bound
    with its floor unresolved: the combination the synthetic curves above do not reach)."""
    from pathlib import Path

    table = case_results.load_case_results(case, Path(__file__).resolve().parents[1] / "results", announce=False)
    return fit_cache.fit_case(table, n_boot=400)


def _status_key(cf) -> str:
    f = cf.fit
    if f.status != "alpha_at_bound":
        return str(f.status)
    lo, hi = f.ci()["alpha"]
    return "alpha_at_bound (upper)" if lo > scaling.ALPHA_BOUNDS[0] * 1.1 else "alpha_at_bound (lower)"


#: what every table must show of D, alpha and C, per status: "estimate" (the number with its interval),
#: "< " / "≥ " / "≤ " (a one-sided bound at the interval's end), or the words that replace the number
EXPECTED = {
    "ok": ("estimate", "estimate", "estimate"),
    "C_at_bound": ("estimate", "estimate", "< "),
    "alpha_at_bound (upper)": ("not identified", "≥ ", "estimate"),  # C is the plateau's level
    "alpha_at_bound (lower)": ("not identified", "≤ ", "not identified"),  # D and C trade off
    "constant_preferred": ("no fall with n", "no fall with n", "not identified"),
    "no_decrease": ("no fall with n", "no fall with n", "not identified"),
    "unidentified": ("not identified",) * 3,
    "too_few_points": ("no law fitted",) * 3,
}


BOUNDS = ("< ", "≥ ", "≤ ")


def _number_in(number: str, text: str) -> bool:
    return re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d])", text) is not None


def _expected_cells(cf, name, how) -> tuple[str, str]:
    """(estimate cell, one-cell form) a right implementation prints for one parameter."""
    f = cf.fit
    x, (lo, hi) = getattr(f, name), f.ci()[name]
    if how == "estimate":
        return fmt(x), f"{fmt(x)} {fmt_ci(lo, hi)}"
    if how == "< ":
        return f"< {fmt(hi)}", f"< {fmt(hi)} (no floor resolved)"
    if how in ("≥ ", "≤ "):
        limit = lo if how == "≥ " else hi
        bound = scaling.ALPHA_BOUNDS[1 if how == "≥ " else 0]
        if findings._vacuous_alpha(limit, how == "≥ "):  # "alpha ≥ 0.0156" up to 3 says nothing: words instead
            return findings.NOT_IDENTIFIED, findings.NOT_IDENTIFIED
        return f"{how}{fmt(limit)}", f"{how}{fmt(limit)} (its 90% interval reaches the search bound {fmt(bound)})"
    return how, how


@pytest.mark.parametrize("which", [*EXPECTED, "committed chi, m = all"])
def test_every_table_shows_d_alpha_and_c_as_the_status_allows(status_fits, which):
    """params_table, two_way_table, summary_table, glance_table and the law sentence agree: a number only
    where the status identifies it; elsewhere a one-sided bound or words, and never the estimate."""
    cf = status_fits[which]
    f = cf.fit
    status = _status_key(cf)
    assert which in (status, "committed chi, m = all")
    params = tables.params_table(cf).set_index("quantity")
    two_way = tables.two_way_table({-1: cf}).iloc[0]
    summary = tables.summary_table([cf], part="law").iloc[0]
    glance = findings.glance_table({"band_gap": cf})["scaling law"].iloc[0]
    sentence = findings.finding(cf).law_sentence() if f.usable else ""
    assert params.loc["fit status", "estimate"] == findings.status_link(f.status)
    meaning = scaling.FitStatus(f.status).meaning
    for name, how in zip(("D", "alpha", "C"), EXPECTED[status]):
        if how == "estimate" and name == "C" and f.floor_at_bound():  # its interval reaches 0: an upper bound
            how = "< "
        cell, one_cell = _expected_cells(cf, name, how)
        row = params.loc[name if name != "C" else f"C{units_suffix(cf.units)}"]
        assert row["estimate"] == cell, (name, row.to_dict())
        if how == "estimate":
            assert row["90% CI"] == fmt_ci(*f.ci()[name])
        texts = [" ".join(row.astype(str))]
        if f.usable and not findings.shows_constant(f):  # the law box and the legend follow the same rule
            texts += [law_words.law_text(f, cf.units), law_words.law_math(f, cf.units), plotting.law_label(cf)]
        if name != "D":  # the other tables show alpha and C only
            assert two_way[name] == cell
            assert summary[f"{name} [90% CI]"] == one_cell
            if cf.chosen != "law":  # the glance row and the sentence report the finite-R(0) form
                shown = findings.form_parameters(cf)[name]
                text = findings.finding(cf).law_text()
                assert (shown.clause(units_after(cf.units) if name == "C" else "") if shown.printed else shown.value) in text
            elif (how == "estimate" or how in BOUNDS) and cell != findings.NOT_IDENTIFIED:
                u = f" {pretty_units(cf.units)}" if name == "C" and cf.units not in ("", "dimensionless") else ""
                in_words = (f"{name} = {one_cell}{u}" if not one_cell.startswith(BOUNDS)
                            else one_cell.replace(" (", f"{u} (", 1))
                assert in_words in glance, (in_words, glance)
            texts += ([glance, sentence.replace(meaning, "")] if cf.chosen == "law" else []) + [
                f"{two_way[name]} {two_way[f'{name} 90% CI']}"]
        if how != "estimate" and how not in BOUNDS and f.usable:
            wrong = fmt(getattr(f, name))  # the estimate a wrong implementation would print
            for text in texts:
                assert not _number_in(wrong, text), (name, wrong, text)
    if EXPECTED[status][1] in ("no fall with n", "not identified") and cf.chosen == "law":
        assert ("no fall with n" if EXPECTED[status][1] == "no fall with n" else "alpha and C not identified") in glance


def test_the_raw_fit_stays_available_with_what_the_tables_show(constant_fit, step_fit):
    """``s2r fit`` (trial_stats.describe) keeps the fitted numbers, machine-readable, and says beside each
    one the tables do not print how they show it instead."""
    text = findings.describe_fit(constant_fit)
    alpha_line = next(line for line in text.splitlines() if line.strip().startswith("alpha"))
    assert f"{constant_fit.fit.alpha:.4g}" in alpha_line and "the tables show: no fall with n" in alpha_line
    step = findings.describe_fit(step_fit).splitlines()
    d_line = next(line for line in step if line.strip().startswith("D "))
    c_line = next(line for line in step if line.strip().startswith("C "))
    assert "the tables show: not identified" in d_line and "the tables show" not in c_line


def test_at_the_upper_alpha_bound_c_is_measured_and_d_is_not_and_at_the_lower_neither(step_fit, slow_fit):
    """What FitStatus.alpha_at_bound says about C: raising the upper bound on alpha from 3 to 30 leaves C's
    interval where it is and sends D's upper end off; at the lower bound C's interval spans nearly the
    whole error (D and C trade off)."""
    rng = np.random.default_rng(1)
    pos = _law(50, 3, 0.15, STEP_NS)
    draws = scaling.corrected_draws(pos.to_numpy(), 0.25, 400, rng)
    c_iv, d_hi = [], []
    for hi in (3.0, 30.0):
        b = scaling.fit_many(pos.index.to_numpy(), draws, alpha_bounds=(1e-3, hi))
        c_iv.append(scaling.interval(b[:, 2]))
        d_hi.append(scaling.interval(b[:, 0])[1])
    assert np.allclose(c_iv[0], c_iv[1], atol=0.003) and 0.14 < c_iv[0][0] < c_iv[0][1] < 0.16
    assert d_hi[1] > 100 * d_hi[0]
    assert step_fit.fit.ci()["C"][0] > 0.1  # the status fit itself: C resolved at the plateau
    c_lo, c_hi = slow_fit.fit.ci()["C"]
    assert c_lo < 1e-6 and c_hi > 0.5 * float(np.mean(slow_fit.fit.R))
    assert "C is not identified either" in scaling.FitStatus.alpha_at_bound.reading


def test_the_alpha_search_bound_is_printed_as_it_is_described(flat_fit):
    """The status text says the bound is 0.001; a flat profile (D = 0) reports exactly that, not 0.00111."""
    lo, hi = scaling.ALPHA_BOUNDS
    assert "(0.001 or 3)" in scaling.FitStatus.alpha_at_bound.meaning and (lo, hi) == (0.001, 3.0)
    assert flat_fit.fit.alpha == lo
    assert flat_fit.fit.ci()["alpha"][0] == lo  # the draws without a decrease report the bound too
    flat = np.full((3, len(NS)), 0.05)
    assert np.allclose(scaling.fit_many(NS, flat)[:, 1], lo)


def test_forms_table_gives_the_law_the_main_fit_status_and_names_its_columns():
    """The law's row carries the main fit's status: one status for one law on one page. Its numbers are
    the law refitted under the AIC's weights (the row says "weighted fit"), whose point status is shown
    only without the main fit. Here the point fit alone is ok, but the draws make the main fit's status
    something else."""
    table = synthetic_table("chi", ns=(0, 10, 30, 100, 300, 1000), trials=20, law=(0.2, 0.05, 0.1, 0.31, 0.004))
    cf = fit_cache.fit_case(table, n_boot=200)
    plain = tables.forms_table(table)
    with_fit = tables.forms_table(table, fit=cf)
    assert "RSS (unweighted)" in plain and "AIC (corrected covariance)" in plain
    law = "power law + floor (weighted fit)"  # 20 trials: the AIC weighs the means by their covariance
    law_row = with_fit.set_index("form").loc[law]
    assert law_row["status"] == findings.status_link(cf.fit.status) + " (main fit)"
    point = tables.forms_of(table).set_index("form").loc["power law + floor", "status"]
    assert plain.set_index("form").loc[law, "status (point fit)"] == findings.status_link(point)
    other = with_fit.set_index("form").drop(index=law)["status"]
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
    from s2rlib.book.formatting import fmt

    assert "+ C" in law_words.law_text(flagged) and f"+ {fmt(fit.C)}" not in law_words.law_text(flagged)
    assert f"+ {fmt(fit.C)}" in law_words.law_text(dataclasses.replace(fit, status="ok"))


def test_a_pure_power_law_as_good_leaves_the_floor_unresolved_under_alpha_at_bound_too():
    """classify() decides alpha_at_bound before its pure-power-law test, so an alpha_at_bound fit whose C
    interval stays above 0 may still not resolve a floor by AIC: C is then an upper bound there too."""
    import dataclasses

    rng = np.random.default_rng(3)
    ns = np.array([100, 300, 1000, 3000, 10000, 30000], float)
    fit = scaling.fit_law(ns, 0.5 * ns ** -0.3 + 0.05 + rng.normal(0, 0.002, len(ns)))
    assert fit.usable and not fit.floor_at_bound()
    at_bound = dataclasses.replace(fit, status=scaling.FitStatus.alpha_at_bound.value)
    assert dataclasses.replace(at_bound, aic_vs_pure=0.5).floor_unresolved()
    assert not dataclasses.replace(at_bound, aic_vs_pure=25.0).floor_unresolved()
    assert dataclasses.replace(at_bound, aic_vs_pure=0.5).floor_reason() == \
        "a pure power law (C = 0) fits as well by AIC"
    assert dataclasses.replace(at_bound, aic_vs_pure=25.0).floor_reason() == ""  # a resolved floor has no reason


def test_two_way_panels_draw_what_the_tables_print(ok_fit, constant_fit, step_fit):
    """Panels b and c: an estimate is a marker; alpha as a one-sided limit is a bar without a marker; a
    parameter the tables give in words is those words on the axis, never the fitted number."""
    fig = two_way_plot.two_way_figure({100: ok_fit, 300: constant_fit, 1000: step_fit})
    ax_a, ax_c = fig.axes[1], fig.axes[2]

    def marker_ys(ax, x):
        return [float(y) for ln in ax.lines for xx, y in zip(ln.get_xdata(), ln.get_ydata())
                if ln.get_marker() not in ("None", "", None, "_") and float(xx) == x]

    assert marker_ys(ax_a, 100) == [pytest.approx(ok_fit.fit.alpha)]
    assert marker_ys(ax_a, 300) == [] and marker_ys(ax_c, 300) == []  # constant: no alpha, no C
    assert [t.get_text() for t in ax_a.texts if t.get_text() == "no fall with n"]
    assert [t.get_text() for t in ax_c.texts if t.get_text() == "not identified"]
    assert all(y != pytest.approx(step_fit.fit.alpha) for y in marker_ys(ax_a, 1000))  # "≥ x": no point
    assert marker_ys(ax_c, 1000)  # C is measured at the upper alpha bound: drawn
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_a_floor_at_zero_in_every_draw_is_words_never_less_than_zero():
    """Formation enthalpy's final grid: C = 0 in the fit and in every interval draw. "C < 0" would be false
    (C >= 0 by construction); the tables say "no floor resolved" and why."""
    shown = findings.shown_parameters("C_at_bound", {"D": 0.12, "alpha": 0.03, "C": 0.0},
                                      {"D": (0.107, 0.131), "alpha": (0.021, 0.038), "C": (0.0, 0.0)},
                                      floor_unresolved=True, floor_why="C at its bound 0")
    c = shown["C"]
    assert (c.kind, c.value, c.cell()) == (findings.WORDS, "no floor resolved", "no floor resolved")
    assert "throughout its 90% interval" in c.detail and "<" not in c.cell()
    above = findings.shown_parameters("C_at_bound", {"D": 0.12, "alpha": 0.03, "C": 0.0},
                                      {"D": (0.107, 0.131), "alpha": (0.021, 0.038), "C": (0.0, 0.02)},
                                      floor_unresolved=True)["C"]
    assert above.cell().startswith("< 0.02")


def test_law_box_legend_and_s2r_fit_never_say_C_below_zero():
    """The same fit in the law box (law_text, law_math), the figure legend and ``s2r fit``: with C = 0 in
    every interval draw, each says "no floor resolved"; with a positive upper end, "C < x"."""
    import dataclasses

    ns = np.array([100, 300, 1000, 3000, 10000, 30000], float)
    fit = scaling.fit_law(ns, 0.12 * ns ** -0.03)
    rng = np.random.default_rng(0)
    boot = np.column_stack([rng.normal(0.12, 0.005, 400), rng.normal(0.03, 0.004, 400), np.zeros(400)])
    at_zero = dataclasses.replace(fit, status=scaling.FitStatus.C_at_bound, boot=boot, method="corrected")
    assert at_zero.floor_unresolved() and not np.isfinite(at_zero.C_upper())
    cf = trial_stats.CaseFit("formation_enthalpy", -1, at_zero, pd.Series(0.1, index=ns), pd.Series(0.001, index=ns),
                             20, 0.1, None, "eV/atom")
    for text in (law_words.law_text(at_zero, "eV/atom"), law_words.law_math(at_zero, "eV/atom"), plotting.law_label(cf)):
        assert "no floor resolved" in text and "< 0" not in text and "C <" not in text, text
        assert "+ C" not in text and "+ 0" not in text, text  # no symbolic floor in a fitted law either
    # the derived-numbers note says what this fit prints, not the status table's generic "C < x"
    withheld = tables.derived_withheld(cf)
    assert "C < x" not in withheld and "C: no floor resolved" in withheld, withheld
    assert f"alpha = {fmt(at_zero.alpha)} [" in withheld and "] eV/atom" in withheld, withheld
    assert "C     = 0 in the fit and throughout its 90% interval" in findings.describe_fit(
        dataclasses.replace(cf, gain=trial_stats.Gain(30000, -0.01, -0.02, -0.005, 20)))
    above = dataclasses.replace(at_zero, boot=np.column_stack([boot[:, :2], np.linspace(0, 0.02, 400)]))
    assert law_words.law_text(above, "eV/atom").endswith(f"C < {fmt(above.ci()['C'][1])} eV/atom")


def test_points_table_compares_the_means_with_what_the_law_box_shows(constant_fit):
    """Under constant_preferred the points table's column is the constant (the mean of the trial means over
    n > 0), not the law the page set aside; the residual sentence counts signs and misses against it."""
    f = constant_fit
    tab = tables.results_table(f)
    assert "constant" in tab.columns and "law" not in tab.columns
    const = findings.fitted_constant(f.fit)
    assert set(tab["constant"].iloc[1:]) == {fmt(const)}
    text = tables.residual_sentence(f)
    signs = ["+" if m > const else "−" for n, m in f.mean.items() if n > 0]
    assert f"mean − constant from small to large n: {' '.join(signs)}" in text, text
    assert "does not follow" not in text


def test_residual_sentence_flags_a_shape_the_law_cannot_follow():
    """A sharp drop at the largest n (exponential saturation, tiny noise): a power law with a floor misses
    more means than chance allows, and the sentence says its shape does not follow them."""
    rng = np.random.default_rng(0)
    ns = np.array([100, 300, 1000, 3000, 10000, 30000, 95000])
    means = 0.10 - 0.025 * (1 - np.exp(-ns / 40000))
    cf = _case_fit(pd.DataFrame(means[:, None] + 0.0003 * rng.standard_normal((len(ns), 20)), index=ns))
    assert cf.fit.usable
    text = tables.residual_sentence(cf)
    missed = int(re.search(r"outside the 90% interval of (\d+) of the 7 means", text).group(1))
    assert missed >= 3 and "its shape does not follow these points" in text, text


def test_the_raw_fit_says_why_a_baseline_or_an_interval_is_missing(constant_fit):
    """No n = 0 rows: the text says so instead of 'baseline: nan ... +nan'; one trial: 'no interval', never
    '[+nan, +nan]'; and one trial is 'trial', not 'trials'."""
    import dataclasses

    no_base = dataclasses.replace(constant_fit, baseline=float("nan"))
    text = findings.describe_fit(no_base)
    assert "no n = 0 rows: no baseline and no paired gain" in text and "nan" not in text.split("\n")[-1]
    one = dataclasses.replace(constant_fit, trials=1,
                              gain=dataclasses.replace(constant_fit.gain, lo=float("nan"), hi=float("nan")))
    text = findings.describe_fit(one)
    assert "(m = all, 1 trial): status" in text and "(no interval: fewer than two trials)" in text
    assert "nan" not in text.split("\n")[-1]
    assert "[" in findings.describe_fit(constant_fit).split("\n")[-1]  # a full fit keeps its interval
