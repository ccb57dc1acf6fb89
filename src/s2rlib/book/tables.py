"""The book's table builders: each ``*_table`` returns a pandas DataFrame of display strings.

Numbers are rounded (one format book-wide, :mod:`s2rlib.book.formatting`), intervals written ``[lo, hi]``,
statuses in code font; :func:`s2rlib.book.display.show` renders a table. The fitted law in words and as
math lives in :mod:`s2rlib.book.law_words` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from s2rlib.book import findings
from s2rlib.law import trial_stats
from s2rlib.book.case_results import case_words
from s2rlib.cases.registry import CASES
from s2rlib.law.ess import equivalent_sample_size
from s2rlib.book.formatting import DASH, DERIVED_SIG, code, fmt, fmt_ci, fmt_derived, fmt_diff, fmt_diff_cell, fmt_n, fmt_pct, fmt_pct_ci, fmt_signed, recipe_words, units_after, units_suffix
from s2rlib._core.units import pretty_units
from s2rlib.book.law_checks import NO_LAW_TO_EXTRAPOLATE
from s2rlib.law.forms import compare_forms
from s2rlib.law.fit_status import AIC_MARGIN, CI_LEVEL, FitStatus
from s2rlib.grid.selection import for_fit, main_m
from s2rlib.law.trial_stats import CaseFit

from s2rlib.law import derived as insights
from s2rlib.book.law_words import (
    law_parts, status_cell, status_text,
)
from s2rlib.book.run_tables import (
    m_name,
)


def params_table(case_fit: CaseFit, level: float = CI_LEVEL) -> pd.DataFrame:
    """The fitted D, alpha, C with their corrected intervals, status and diagnostics.

    Each of D, alpha, C is shown as :func:`s2rlib.book.findings.fit_parameters` decides for the fit's
    status: an estimate with its interval, a one-sided bound (``< x``, ``≥ x``) with the reason in the
    interval column, or the words that replace a number the data do not identify. The numbers
    themselves stay on the fit (``case_fit.fit``; ``s2r fit`` prints them)."""
    f = case_fit.fit
    shown = findings.fit_parameters(f, level)
    u = units_suffix(case_fit.units)
    pct = f"{int(round(level * 100))}% CI"

    def cells(name: str) -> dict:
        s = shown[name]
        return {"estimate": s.value, pct: f"{s.interval}: {s.detail}" if s.kind == findings.BOUND else s.interval}

    rows = [
        {"quantity": "D", "meaning": "amplitude: how much error pretraining can remove", **cells("D")},
        {"quantity": "alpha", "meaning": "scaling exponent: how fast the error falls with n", **cells("alpha")},
        {"quantity": f"C{u}", "meaning": "transfer gap: the error left with unlimited simulations", **cells("C")},
        {"quantity": "fit status", "meaning": status_text(f.status), "estimate": status_cell(f.status), pct: ""},
        {"quantity": "AIC: constant − law", "meaning": f"on the trial means with their corrected covariance, each form "
         f"fitted by that weighted least squares (the law too, so its D, alpha, C differ a little from those above); "
         f"the law must win by ≥ {AIC_MARGIN:g}", "estimate": fmt(f.aic_vs_constant, 2), pct: ""},
        {"quantity": "AIC: pure power law − law", "meaning": f"the floor C must win by ≥ {AIC_MARGIN:g}",
         "estimate": fmt(f.aic_vs_pure, 2), pct: ""},
        {"quantity": "points fitted", "meaning": "distinct n > 0 (each the mean over trials)",
         "estimate": str(f.n_points), pct: ""},
        {"quantity": "interval draws", "meaning": "share of the corrected draws (Nadeau-Bengio, n_test/n_pool = "
         f"{fmt(f.ratio, 2)}) whose fit succeeded",
         "estimate": DASH if not np.isfinite(f.boot_ok_fraction()) else f"{f.boot_ok_fraction():.0%}", pct: ""},
    ]
    return pd.DataFrame(rows)


def _curve(case_fit: CaseFit) -> tuple[str, Callable[[float], float]]:
    """What the points table compares the means with, named as the law box names it (:func:`law_parts`):
    the law, the constant a fit with no fall in n reduces to, or the fitted curve of an unidentified law."""
    f = case_fit.fit
    p = law_parts(f)
    if p.kind == "none":
        return "law", lambda n: float("nan")
    if p.kind == "constant":
        return "constant", lambda n: p.value
    return ("law" if p.kind == "law" else "fitted curve"), lambda n: float(f.predict(float(n)))


def results_table(case_fit: CaseFit, level: float = CI_LEVEL) -> pd.DataFrame:
    """Per n: trials, mean test error with its interval, the law's value and the residual (against the
    constant where the page shows the fit as a constant)."""
    u = units_suffix(case_fit.units)
    name, curve = _curve(case_fit)
    rows = []
    for n, mean in case_fit.mean.items():
        law = curve(n) if n > 0 else float("nan")
        rows.append({"n": "0 (no pretraining)" if n == 0 else fmt_n(n), f"mean MAE{u}": fmt(mean),
                     f"{int(round(level * 100))}% CI of the mean": fmt_ci(*case_fit.mean_interval(n, level)),
                     name: fmt(law), f"mean − {name}": fmt_signed(mean - law, 2) if np.isfinite(law) else DASH})
    return pd.DataFrame(rows)


def residual_sentence(case_fit: CaseFit, level: float = CI_LEVEL) -> str:
    """The residuals of the points table in words: their signs from small to large n, and how many means
    the curve misses by more than the mean's corrected interval (about 1 in 10 by chance at 90%)."""
    name, curve = _curve(case_fit)
    signs, outside, total = [], 0, 0
    for n, mean in case_fit.mean.items():
        c = curve(n) if n > 0 else float("nan")
        if not (np.isfinite(c) and np.isfinite(mean)):
            continue
        total += 1
        signs.append("+" if mean > c else "−")
        lo, hi = case_fit.mean_interval(n, level)
        outside += int(np.isfinite(lo) and not lo <= c <= hi)
    if total == 0:
        return ""
    pct = int(round(level * 100))
    runs = 1 + sum(a != b for a, b in zip(signs, signs[1:]))
    text = (f"Signs of mean − {name} from small to large n: {' '.join(signs)} ({runs} run{'s' if runs != 1 else ''} "
            f"over {total} points). The {name} lies outside the {pct}% interval of {outside} of the {total} means")
    expect = (1 - level) * total
    if outside > max(1.0, 2 * expect):
        return text + (f", more than the {fmt(expect, 2)} expected by chance: its shape does not follow these "
                       f"points.")
    return text + f" ({fmt(expect, 2)} expected by chance)."


def gain_table(case_fit: CaseFit, level: float = CI_LEVEL) -> pd.DataFrame:
    """The n = 0 baseline, the error at the largest n, and their paired difference with its corrected interval."""
    u = units_suffix(case_fit.units)
    g = case_fit.gain
    pct = f"{int(round(level * 100))}% CI"
    n_max = g.n
    rows = [{"quantity": f"baseline: MAE at n = 0{u}", "value": fmt(case_fit.baseline),
             pct: fmt_ci(*case_fit.mean_interval(0, level))}]
    if n_max is not None and np.isfinite(float(n_max)) and n_max in case_fit.mean.index:
        rows.append({"quantity": f"MAE at the largest n = {fmt_n(n_max)}{u}", "value": fmt(case_fit.mean.loc[n_max]),
                     pct: fmt_ci(*case_fit.mean_interval(n_max, level))})
    rows.append({"quantity": f"paired gain MAE(n = {fmt_n(n_max) if n_max is not None else '?'}) − MAE(0){u}",
                 "value": fmt_diff(g.mean, g.lo, g.hi)[0], pct: fmt_diff(g.mean, g.lo, g.hi)[1]})
    if np.isfinite(case_fit.baseline) and case_fit.baseline:
        b = case_fit.baseline
        rows.append({"quantity": "relative gain (gain / baseline)",
                     "value": fmt_pct(100 * g.mean / b, signed=True) if np.isfinite(g.mean) else DASH,
                     pct: fmt_pct_ci(100 * g.lo / b, 100 * g.hi / b)})
    rows.append({"quantity": "paired trials", "value": str(g.trials),
                 pct: f"corrected t: half width t × s √(1/J + n_test/n_pool), s = SD of the J = {g.trials} paired "
                      f"differences, n_test/n_pool = {fmt(g.ratio, 2)}"})
    return pd.DataFrame(rows)


def gain_sentence(case_fit: CaseFit) -> str:
    """One sentence: does pretraining on the largest database beat no pretraining, by how much?"""
    return findings.finding(case_fit).gain_sentence()


def _main_matrix(table: pd.DataFrame, m_target: int | None, metric: str) -> pd.DataFrame:
    """The (n x trial) matrix of the grid's fit at ``m_target`` (default: the chapter's main m)."""
    return trial_stats.trial_matrix(for_fit(table), metric, main_m(table) if m_target is None else m_target)


def extrapolation_of(table: pd.DataFrame, m_target: int | None = None, *, metric: str = "mae"):
    """The law fitted without the largest n, predicting it (:func:`s2rlib.law.derived.extrapolation_check`)."""
    return insights.extrapolation_check(_main_matrix(table, m_target, metric))


def forms_of(table: pd.DataFrame, m_target: int | None = None, *, metric: str = "mae") -> pd.DataFrame:
    """The law against simpler forms on the trial means at n > 0 (:func:`s2rlib.law.forms.compare_forms`)."""
    mat = _main_matrix(table, m_target, metric)
    mat = mat[mat.index > 0]
    vals = mat.to_numpy(dtype=float)
    return compare_forms(mat.index.to_numpy(dtype=float), mat.mean(axis=1).to_numpy(dtype=float),
                         trials=vals if mat.shape[1] > 1 else None, ratio=mat.attrs.get("test_train_ratio", 0.0))


def extrapolation_table(table: pd.DataFrame, m_target: int | None = None, *, metric: str = "mae") -> pd.DataFrame | None:
    """Fit without the largest n, predict it, compare with the measurement (``insights.extrapolation_check``)."""
    r = extrapolation_of(table, m_target, metric=metric)
    case = str(table["case"].iloc[0])
    u = units_suffix(CASES[case].units if case in CASES else "")
    if str(r.status) in NO_LAW_TO_EXTRAPOLATE:
        verdict = f"no law to test (the reduced fit is {status_cell(r.status)})"
    else:
        verdict = ("inside" if r.within_interval else "outside") if np.isfinite(r.lo) else DASH
    return pd.DataFrame([
        {"quantity": "held-out n (the largest)", "value": fmt_n(r.n_max), "detail": ""},
        {"quantity": "law fitted up to n", "value": fmt_n(r.n_fit_max),
         "detail": f"status {status_cell(r.status)}, {r.n_points} points"},
        {"quantity": f"predicted MAE{u}", "value": fmt(r.predicted),
         "detail": f"90% CI {fmt_ci(r.lo, r.hi)}"},
        {"quantity": f"measured MAE{u}", "value": fmt(r.measured), "detail": f"± {fmt(r.measured_sem, 2)} (corrected standard error)"},
        {"quantity": "prediction − measurement", "value": fmt_signed(r.error, 2),
         "detail": (f"{fmt_pct(100 * r.rel_error, signed=True)} of the measurement"
                    if np.isfinite(r.rel_error) else "")},
        {"quantity": "measurement inside the predicted interval?", "value": verdict, "detail": ""},
    ])


def forms_table(table: pd.DataFrame, m_target: int | None = None, *, metric: str = "mae",
                fit: CaseFit | None = None) -> pd.DataFrame:
    """Power law + floor against simpler forms, on the trial means (``law_forms.compare_forms``).

    The points are the means over trials at the number of source samples actually drawn
    (:func:`s2rlib.law.trial_stats.drawn_n`, as in the main fit), with their corrected covariance across n;
    AIC = chi^2 + 2k as for the fit status (:func:`s2rlib.law.aic.aic_table`), never per-trial points
    treated as independent; every form, the law included (its row says "weighted fit"), is fitted by that
    weighted least squares. RSS is the plain (unweighted) sum of squared residuals of the means, so a
    form can have the lower RSS and still the higher AIC: chi^2 weights the residuals by the inverse
    covariance of the paired means, which counts the fall *between* n (the same trials at every n)
    far more than the common level that the spread between trials hides.

    ``status`` is what each form's point fit alone shows (a search bound reached, no decrease): it
    has no intervals. With ``fit`` (the chapter's main :class:`~s2rlib.law.trial_stats.CaseFit` at the
    same m) the law's row shows the main fit's status instead, which also weighs AIC and the 90%
    intervals (e.g. a point fit with C = 0 is ``C_at_bound``, while its alpha interval reaching 3
    makes the main fit ``alpha_at_bound``): the same law never has two statuses on one page.
    """
    df = forms_of(table, m_target, metric=metric)
    status = df["status"].map(status_cell)
    if fit is not None:
        status = status.where(df["form"] != "power law + floor", status_cell(fit.fit.status) + " (main fit)")
    weighted = df["aic"].notna().any() and df["aicc"].isna().all()  # the AIC of chi^2 under the trials' covariance
    out = pd.DataFrame({
        "form": df["form"].where(~(weighted & (df["form"] == "power law + floor")), "power law + floor (weighted fit)"), "parameters": df["n_params"].astype(str),
        "RSS (unweighted)": df["rss"].map(lambda v: fmt(v, 3)),
        "AIC (corrected covariance)": df["aic"].map(lambda v: fmt(v, 3)), "ΔAIC": df["delta_aic"].map(lambda v: fmt(v, 3)),
        "error extrapolating to the largest n": df["extrap_error"].map(lambda v: fmt(v, 2)),
        "status (point fit)" if fit is None else "status": status,
    })
    return out


def derived_table(case_fit: CaseFit, targets: Iterable[float] | None = None, delta: float = 10000,
                  level: float = CI_LEVEL) -> pd.DataFrame | None:
    """Required database size for target errors, and what the next ``delta`` simulations buy.

    The numbers are printed only when the fit is ``ok``; otherwise each row gives the reason in words.
    """
    f = case_fit.fit
    u = units_suffix(case_fit.units)
    pos = case_fit.mean[case_fit.mean.index > 0].dropna()
    if pos.empty:
        return None
    n_max = float(pos.index.max())
    best = float(pos.loc[pos.index.max()])
    if targets is None:
        targets = [0.95 * best, 0.90 * best]
    pct = f"{int(round(level * 100))}% CI"
    rows = []

    def row(question, r, value, lo, hi, extra="", n=False):
        if not r.supported:
            return {"question": question, "answer": DASH, pct: DASH, "status": r.reason()}
        return {"question": question, "answer": fmt_n(value, DERIVED_SIG) if n else fmt_derived(value),
                pct: fmt_ci(lo, hi, DERIVED_SIG, n=n), "status": status_cell(r.status) + extra}

    for tgt in targets:
        r = insights.required_n(f, tgt, level=level)
        share = "" if not np.isfinite(r.p_unreachable) else f"; {r.p_unreachable:.0%} of the draws never reach it"
        if r.extrapolated and np.isfinite(r.value):
            share += "; beyond the largest n run (an extrapolation)"
        rows.append(row(f"n needed for MAE = {fmt(tgt)}{u} ({100 * (1 - tgt / best):.0f}% below the error at "
                        f"n = {fmt_n(n_max)})", r, r.value, r.lo, r.hi, share, n=True))
    g = insights.marginal_gain(f, n_max, delta, level=level)
    rows.append(row(f"error drop from the next {fmt_n(delta)} simulations at n = {fmt_n(n_max)}{u}", g, g.value,
                    g.lo, g.hi, f"; {fmt_pct(100 * g.rel)} of R(n)" if np.isfinite(g.rel) else ""))
    rows.append(row(f"slope dR/dn at n = {fmt_n(n_max)} (error change per simulation){u}", g, g.slope,
                    g.slope_lo, g.slope_hi))
    return pd.DataFrame(rows)


def derived_withheld(case_fit: CaseFit, delta: float = 10000) -> str | None:
    """Why no number is derived from the law, in one paragraph; ``None`` when the fit is ``ok``.

    The book shows this once instead of a table whose every row repeats the same reason.
    """
    status = case_fit.fit.status
    if status == FitStatus.ok:
        return None
    try:
        st = FitStatus(status)
        shown = findings.law_clauses(findings.fit_parameters(case_fit.fit), names=("alpha", "C", "D"),
                                     units=units_after(case_fit.units))
        why = f"the fit's status is {status_cell(st.value)}: {st.meaning} (as this page prints it: {shown})"
    except ValueError:
        why = f"no law was fitted ({status})"
    return (f"The law would answer three questions: the database size needed for a target error, what the next "
            f"{fmt_n(delta)} simulations buy, and the slope dR/dn at the largest n. None is printed here, because "
            f"{why}. A number derived from a law the data do not identify would carry the fit's artefact, not "
            f"the data (see the method chapter's status table).")


def recipes_table(table: pd.DataFrame, m_target: int | None = None) -> pd.DataFrame:
    """How often validation chose each fine-tuning recipe, per n (counts of trials)."""
    m = main_m(table) if m_target is None else m_target
    sub = table[(table["metric"] == "mae") & (table["m_target"] == m)]
    drawn = trial_stats.drawn_n(table[table["m_target"] == m])  # as the fits: samples actually drawn
    sub = sub.assign(n_source=[int(round(drawn.get(n, n))) for n in sub["n_source"]])
    ct = pd.crosstab(sub["n_source"], sub["selected_recipe"])
    ct = ct.reindex(sorted(ct.index))
    ct.columns = [recipe_words(c) for c in ct.columns]
    out = ct.astype(int).astype(str).replace("0", "·")
    out.insert(0, "n", [fmt_n(n) for n in ct.index])
    return out.reset_index(drop=True)


def two_way_table(fits: Mapping[int, CaseFit], level: float = CI_LEVEL) -> pd.DataFrame:
    """Per experimental size m: baseline, alpha and C with intervals where the fit's status identifies
    them (:func:`s2rlib.book.findings.fit_parameters`; words or a one-sided bound elsewhere), and the status."""
    pct = f"{int(round(level * 100))}% CI"
    rows = []
    for m, cf in fits.items():
        shown = findings.fit_parameters(cf.fit, level)
        rows.append({"m": m_name(m), "trials": str(cf.trials), "baseline (n = 0)": fmt(cf.baseline),
                     "alpha": shown["alpha"].value, f"alpha {pct}": shown["alpha"].interval,
                     "C": shown["C"].value, f"C {pct}": shown["C"].interval,
                     f"paired gain at largest n [{pct}]": fmt_diff_cell(cf.gain.mean, cf.gain.lo, cf.gain.hi),
                     "status": status_cell(cf.fit.status)})
    return pd.DataFrame(rows)


def ess_table(table: pd.DataFrame, *, n_boot: int = 200, fits: Mapping[int, CaseFit] | None = None
              ) -> pd.DataFrame | None:
    """Equivalent sample size: simulations worth one more experimental sample, per (n, m).

    With ``fits`` (the per-m fits), the ESS at m is printed only where the law in n at that m is
    ``ok``; elsewhere the cell says why not.
    """
    df = equivalent_sample_size(table, n_boot=n_boot)
    if df.empty:
        return None
    status = {int(m): cf.fit.status for m, cf in (fits or {}).items()}
    shown = [fits is None or status.get(int(m)) == FitStatus.ok for m in df["m"]]
    return pd.DataFrame({
        "n": df["n"].map(fmt_n), "m": df["m"].map(fmt_n), "mean MAE": df["R"].map(fmt),
        "simulations per experimental sample": [fmt(v, 2) if ok else f"not printed: law in n is {status_cell(status.get(int(m)))}"
                                                for v, m, ok in zip(df["ess"], df["m"], shown)],
        "90% CI": [fmt_ci(lo, hi, 2) if ok else DASH for lo, hi, ok in zip(df["ess_lo"], df["ess_hi"], shown)],
        "dR/dm from": df["method"].map(code), "status (n, m)": [f"{status_cell(a)}, {status_cell(b)}"
                                                               for a, b in zip(df["fit_status_n"], df["fit_status_m"])],
    })


def ess_withheld(ess: pd.DataFrame | None, fits: Mapping[int, CaseFit]) -> str | None:
    """Why the equivalent sample size is not printed at some m, once per status instead of once per row
    (``ess``: :func:`ess_table`'s rows); ``None`` when every row is printed."""
    if ess is None or not len(ess):
        return None
    by_cell = {fmt_n(m): m for m in fits}  # the table's m cells, as fmt_n wrote them
    ms = list(dict.fromkeys(by_cell.get(str(cell), cell) for cell in ess["m"]))
    status = {m: str(fits[m].fit.status.value if hasattr(fits[m].fit.status, "value") else fits[m].fit.status)
              if m in fits else "no fit" for m in ms}
    bad = {m: s for m, s in status.items() if s != FitStatus.ok.value}
    if not bad:
        return None
    groups: dict[str, list[int]] = {}
    for m, s in bad.items():
        groups.setdefault(s, []).append(m)

    def why(s: str) -> str:
        try:
            return f"{status_cell(s)} ({FitStatus(s).meaning})"
        except ValueError:
            return s

    ms_words = "; ".join(f"at m = {', '.join(fmt_n(m) for m in g)} it is {why(s)}" for s, g in groups.items())
    every = len(bad) == len(ms)
    return (f"{'No' if every else 'For the other m, no'} equivalent sample size is printed: it divides the error's slope in m "
            f"by the law's slope in n, which is read only where the law in n has the status {status_cell(FitStatus.ok.value)}, and {ms_words}."
            + (" A ratio of slopes of a law the data do not identify would carry the fit's artefact, not the data."
               if every else ""))


SUMMARY_PARTS = {
    "gain": ["case", "trials", "largest n", "baseline MAE (n = 0)", "gain at largest n [90% CI]", "relative gain",
             "status"],
    "law": ["case", "status", "alpha [90% CI]", "C [90% CI]", "C / baseline", "the law's shape",
            "next {delta} simulations buy [90% CI]"],
}


def summary_table(case_fits: Iterable[CaseFit], delta: float = 10000, level: float = CI_LEVEL,
                  part: str | None = None, shapes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The cross-case table: baseline, gain at the largest n, the law with intervals, its status.

    ``part`` selects a narrower view: ``"gain"`` (does pretraining help?) or ``"law"`` (the laws).
    ``shapes`` (by case, :func:`s2rlib.book.law_checks.shape_words`) fills "the law's shape": the
    checks it fails, "passes both checks", or a dash where no exponent is printed (or none was given).
    """
    rows = []
    for cf in case_fits:
        r = insights.summary_row(cf, units=cf.units, delta=delta, level=level)
        base = r.get("baseline", np.nan)
        units = pretty_units(r.get("units") or "")
        gain = r.get("gain", np.nan)
        shown = findings.fit_parameters(cf.fit, level)
        c_shown = shown["C"]
        rows.append({
            "case": case_words(cf.case, start=True) + (f" ({units})" if units and units != "dimensionless" else ""),
            "trials": str(r.get("trials")),
            "largest n": fmt_n(r.get("n_max")), "baseline MAE (n = 0)": fmt(base),
            "gain at largest n [90% CI]": fmt_diff_cell(gain, r.get("gain_lo", np.nan), r.get("gain_hi", np.nan)),
            "relative gain": fmt_pct(100 * gain / base, signed=True) if np.isfinite(base) and base else DASH,
            "alpha [90% CI]": shown["alpha"].cell(),
            "C [90% CI]": c_shown.cell(),
            "C / baseline": (DASH if not (c_shown.printed and np.isfinite(base) and base) else
                             f"{'< ' if c_shown.kind == findings.BOUND else ''}{fmt(c_shown.number / base, 2)}"),
            "the law's shape": (DASH if shapes is None or cf.case not in shapes or not shown["alpha"].printed
                                else shapes[cf.case] or "passes both checks"),
            f"next {fmt_n(delta)} simulations buy [90% CI]":
                (f"{fmt_derived(r.get('mgain'))} {fmt_ci(r.get('mgain_lo'), r.get('mgain_hi'), DERIVED_SIG)}"
                 if r.get("supported") else "not printed: law not identified"),
            "status": status_cell(r.get("status")),
        })
    df = pd.DataFrame(rows)
    if part is not None:
        df = df[[c.format(delta=fmt_n(delta)) for c in SUMMARY_PARTS[part]]]
    return df
