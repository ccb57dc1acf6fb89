"""The decision table of the summary: per case and m, the law's form and status, its goodness of fit, and
the three decisions (:mod:`s2rlib.law.decisions`) with their 90% intervals, or which number is missing and why.

Numbers come from :func:`s2rlib.law.decisions.case_decisions`; this module only writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from s2rlib._core.constants import ALL_M
from s2rlib.book import findings
from s2rlib.book.case_results import case_words
from s2rlib.book.formatting import DASH, DERIVED_SIG, fmt, fmt_ci, fmt_derived, fmt_n, units_after
from s2rlib.law.decisions import DELTA, TARGET_FRACTION, Decision, Decisions
from s2rlib.law.fit_status import FitStatus
from s2rlib.law.trial_stats import CaseFit

__all__ = ["missing_words", "decision_table", "form_table", "decision_note"]

_NUMBER_WORDS = {"required_n": "n for the target", "next_gain": f"the next {fmt_n(DELTA)} simulations",
                 "experiments": "experiments per simulations"}


def missing_words(d: Decision) -> str:
    """Why one decision is not printed, in words ('' when it is)."""
    if d.supported:
        return ""
    if d.missing == "status":  # the linked words say what the status means (the method chapter's table)
        return f"the form's status is {findings.status_link(d.status)}, not {findings.status_link(FitStatus.ok)}"
    return {
        "no_fit": "no form was fitted",
        "unreachable": "the target lies at or below the floor C: no database size reaches it",
        "no_two_way": "no slope in m here: the equivalent sample size needs m values on both sides (not m = all)",
        "ess_form": "the equivalent sample size is read from the paper's law in n, and this row reports the "
                    "finite-R(0) form",
    }.get(d.missing, d.missing)


def _cell(d: Decision, n: bool = False) -> str:
    if not d.supported:
        return DASH
    if n:
        return f"{fmt_n(d.value, DERIVED_SIG)} {fmt_ci(d.lo, d.hi, DERIVED_SIG, n=True)}"
    return f"{fmt_derived(d.value)} {fmt_ci(d.lo, d.hi, DERIVED_SIG)}"


def _missing_cell(ds: Decisions) -> str:
    """The decisions not printed, grouped by reason: "n for the target, ...: the form is `x`, not ok (...)"."""
    groups: dict[str, list[str]] = {}
    for d in (ds.required_n, ds.next_gain, ds.experiments):
        why = missing_words(d)
        if why:
            groups.setdefault(why, []).append(_NUMBER_WORDS[d.name])
    if not groups:
        return "none: all three are printed"
    return "; ".join(f"{', '.join(names)}: {why}" for why, names in groups.items())


def _m_words(m: int) -> str:
    return "all" if int(m) == ALL_M else fmt_n(m)


def decision_table(rows: Iterable[tuple[CaseFit, Decisions]]) -> pd.DataFrame:
    """One row per (case, m): form and status, the target, the three decisions [90% CI], what is missing."""
    out = []
    for cf, ds in rows:
        u = units_after(cf.units)
        out.append({
            "case": case_words(cf.case, start=True), "m": _m_words(ds.m_target),
            "form [status]": f"{findings.FORM_WORDS.get(ds.form, ds.form)} [{findings.status_link(ds.status)}]",
            "target error": f"{fmt(ds.target)}{u} ({100 * (1 - TARGET_FRACTION):.0f}% below n = {fmt_n(ds.n_now)})",
            "n for the target [90% CI]": _cell(ds.required_n, n=True),
            f"next {fmt_n(ds.delta)} simulations buy [90% CI]": _cell(ds.next_gain),
            f"experiments worth the next {fmt_n(ds.delta)} simulations [90% CI]": _cell(ds.experiments),
            "not printed, and why": _missing_cell(ds),
        })
    return pd.DataFrame(out)


def form_table(fits: Mapping[tuple[str, int], CaseFit]) -> pd.DataFrame:
    """Per (case, m): both forms' statuses and goodness of fit, the form the row reports, its alpha and C as
    every table shows them (:func:`s2rlib.book.findings.form_parameters`), and the paired gain's verdict."""
    out = []
    for (case, m), cf in fits.items():
        shown = findings.form_parameters(cf)
        f, ff = cf.fit, cf.finite
        u = units_after(cf.units)
        out.append({
            "case": case_words(case, start=True), "m": _m_words(m),
            "paper's law $D\\,n^{-\\alpha} + C$ (n > 0)": f"{findings.status_link(f.status)}, p = {fmt(f.p_value, 2)}",
            "finite-R(0) form (n ≥ 0)": (f"{findings.status_link(ff.status)}, p = {fmt(ff.p_value, 2)}" if ff is not None else DASH),
            "reported": "paper's law" if cf.chosen == "law" else "finite-R(0)",
            "alpha [90% CI]": shown["alpha"].cell(), "C [90% CI]": shown["C"].cell(u),
            "paired gain at the largest n": {"lowers": "lowers the error", "raises": "raises the error",
                                             "no_effect": "no detectable effect"}.get(cf.gain.verdict, DASH),
        })
    return pd.DataFrame(out)


def decision_note(rows: Iterable[tuple[CaseFit, Decisions]]) -> str:
    """One sentence over the table: how many rows print the decisions, and the reason most rows lack them."""
    rows = list(rows)
    printed = [ds for _, ds in rows if ds.next_gain.supported]
    if len(printed) == len(rows):
        return (f"Every row's form has the status {findings.status_link(FitStatus.ok)}: the three decisions are printed "
                "throughout.")
    by: dict[str, int] = {}
    for _, ds in rows:
        if not ds.next_gain.supported:
            by[ds.status] = by.get(ds.status, 0) + 1
    common = ", ".join(f"{findings.status_link(s)} ({k})" for s, k in sorted(by.items(), key=lambda x: -x[1]))
    head = (f"No row's form has the status {findings.status_link(FitStatus.ok)}, so no decision is printed" if not printed else
            f"{len(printed)} of {len(rows)} rows print the decisions")
    return (f"{head}: the statuses that withhold them are {common}. A number derived from a law the data do not "
            f"identify would carry the fit's artefact, not the data.")
