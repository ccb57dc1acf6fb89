"""Cases compared at equal experimental data: the paired gain of the largest database over none at the
same experimental size m in every case (:func:`equal_m_table`, the summary's table) and, where
experiments are scarce, in one sentence (:func:`scarce_data_sentence`, part of the conclusion)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from s2rlib.law.fit_status import CI_LEVEL
from s2rlib.book.formatting import fmt_n, join_words, signed_pct
from s2rlib._core.constants import ALL_M
from s2rlib.grid.selection import for_fit
from s2rlib.law.trial_stats import paired_gain, trial_matrix
from s2rlib.book.case_results import case_words

#: the experimental sizes every built-in case's grid is designed to run (its case file's ``ms``), compared across cases
EQUAL_MS = (100, 300, ALL_M)


def gain_at_m(table: pd.DataFrame, m: int, level: float = CI_LEVEL):
    """The paired gain of the largest database over none at experimental size ``m`` and the mean error
    without pretraining, or None where the grid lacks that m, n = 0 or an n > 0."""
    mat = trial_matrix(for_fit(table), "mae", m) if (table["m_target"] == m).any() else None
    g = paired_gain(mat, mat.index.max(), 0, level=level) if mat is not None and len(mat) else None
    if g is None or 0 not in mat.index or g.n == 0:
        return None
    return g, float(mat.loc[0].mean())


def equal_m_table(tables: Mapping[str, pd.DataFrame], ms=EQUAL_MS, level: float = CI_LEVEL) -> pd.DataFrame:
    """Cases compared at equal experimental data: per case (rows) and m (columns), the paired gain of
    the largest database over none, in percent of the no-pretraining error, with its corrected
    interval and the verdict's word; "not run yet" where the grid lacks that m, n = 0 or an n > 0."""
    rows = []
    for case, table in tables.items():
        row = {"case": case_words(case, start=True)}
        for m in ms:
            col = "all experiments" if m == ALL_M else f"m = {fmt_n(m)}"
            got = gain_at_m(table, m, level)
            if got is None:
                row[col] = "not run yet"
                continue
            g, b = got
            if not np.isfinite(g.lo):
                row[col] = f"{g.trials} trial(s): no interval"
                continue
            word = {"lowers": "lower", "raises": "higher", "no_effect": "no effect"}[g.verdict]
            row[col] = (f"{signed_pct(100 * g.mean / b)} [{signed_pct(100 * g.lo / b)}, "
                        f"{signed_pct(100 * g.hi / b)}] at n = {fmt_n(g.n)} ({word}; {g.trials} trials)")
        rows.append(row)
    return pd.DataFrame(rows)


def scarce_data_sentence(tables: Mapping[str, pd.DataFrame], m: int = EQUAL_MS[0], level: float = CI_LEVEL) -> str:
    """Where experiments are scarce: per verdict, the cases whose gain of the largest database over none
    at experimental size ``m`` (paired, corrected interval) lowers, raises or leaves the error, with the
    gain in % of the error without pretraining; "" when no case has run that m."""
    gains, no_interval = {}, []
    for case, table in tables.items():
        got = gain_at_m(table, m, level)
        if got is not None and np.isfinite(got[0].lo):
            gains[case] = got
        elif got is not None:
            no_interval.append(case)
    if not gains:
        return ""
    # the largest n of a case, as its trial matrices index it (the drawn n), over every m it ran
    largest = {}
    for c in gains:
        fitted = for_fit(tables[c])
        largest[c] = max(trial_matrix(fitted, "mae", mm).index.max() for mm in fitted["m_target"].unique())
    pct = {c: 100 * g.mean / base for c, (g, base) in gains.items()}  # the gain in % of the error without pretraining

    def named(cases):
        return join_words([f"{case_words(c)} {signed_pct(pct[c])}"
                           + ("" if gains[c][0].n >= largest[c] else f" (at n = {fmt_n(gains[c][0].n)}, the largest "
                                                                     f"run at m = {fmt_n(m)} so far)")
                           for c in sorted(cases, key=pct.get)])

    by = {v: [c for c, (g, _) in gains.items() if g.verdict == v] for v in ("lowers", "raises", "no_effect")}
    every = len(tables) > 1 and len(by["lowers"]) == len(tables)
    parts = []
    if by["lowers"]:
        parts.append(f"lowers the error detectably for {'every case: ' if every else ''}{named(by['lowers'])}")
    if by["no_effect"]:
        parts.append(f"has no detectable effect for {named(by['no_effect'])}")
    if by["raises"]:
        parts.append(f"raises the error for {named(by['raises'])}")
    text = (f"With only {fmt_n(m)} experiments (m = {fmt_n(m)}; gains in % of the error without pretraining), "
            "the largest database " + "; it ".join(parts))
    if no_interval:
        text += f"; {join_words([case_words(c) for c in no_interval])} {'has' if len(no_interval) == 1 else 'have'} " \
                "too few trials at m = " + fmt_n(m) + " for an interval"
    missing = [case_words(c) for c in tables if c not in gains and c not in no_interval]
    if missing:
        text += f"; {join_words(missing)} {'has' if len(missing) == 1 else 'have'} not run m = {fmt_n(m)} yet"
    return text + "."


#: the two experimental sizes the landing page's answer compares: scarce experiments and every experiment
ANSWER_MS = (100, ALL_M)


def answer_rows(tables: Mapping[str, pd.DataFrame], ms=ANSWER_MS, level: float = CI_LEVEL) -> pd.DataFrame:
    """Per case and m: the gain of the largest database over none in % of the no-pretraining error, with its
    corrected interval, verdict and n (the landing page's figure and sentences); cases lacking an m are left out."""
    rows = []
    for case, table in tables.items():
        for m in ms:
            got = gain_at_m(table, m, level)
            if got is None or not np.isfinite(got[0].lo):
                continue
            g, b = got
            rows.append({"case": case, "m": m, "pct": 100 * g.mean / b, "lo": 100 * g.lo / b, "hi": 100 * g.hi / b,
                         "verdict": g.verdict, "n": g.n, "trials": g.trials})
    return pd.DataFrame(rows, columns=["case", "m", "pct", "lo", "hi", "verdict", "n", "trials"])


def _size(pct: float) -> str:
    """The size of a percentage change in words' digits: 60%, 9.5%."""
    return f"{abs(pct):.0f}%" if abs(pct) >= 10 else f"{abs(pct):.1f}%"


def answer_sentences(rows: pd.DataFrame, identified: Sequence[str] = ()) -> str:
    """The landing page's answer in three plain sentences, from :func:`answer_rows`: the gain with scarce
    experiments, the gain with every experiment, and whether a law is identified (``identified``: the cases
    with an ``ok`` form). "" when no case has both m."""
    scarce, every = rows[rows["m"] == ANSWER_MS[0]], rows[rows["m"] == ALL_M]
    if scarce.empty or every.empty:
        return ""

    def listed(part, verdict):
        part = part[part["verdict"] == verdict].sort_values("pct")
        return join_words([f"{_size(p)} for {case_words(c)}" for c, p in zip(part["case"], part["pct"])])

    m = fmt_n(ANSWER_MS[0])
    lower = listed(scarce, "lowers")
    first = (f"With only {m} experiments, pretraining on the largest simulation database lowers the error on new "
             f"experiments by {lower}" if lower else
             f"With only {m} experiments, pretraining on the largest simulation database lowers the error of no case "
             "detectably")
    rest = [case_words(c) for c in scarce[scarce["verdict"] != "lowers"]["case"]]
    first += (f"; for {join_words(rest)} the change is not detectable" if lower and rest else "") + "."
    lower_all = listed(every, "lowers")
    none_all = [case_words(c) for c in every[every["verdict"] == "no_effect"]["case"]]
    second = "With every experiment, the gain " + (
        f"shrinks to {lower_all}" if lower_all else "is not detectable for any case")
    if lower_all and none_all:
        second += f" and is not detectable for {join_words(none_all)}"
    raised = [case_words(c) for c in every[every["verdict"] == "raises"]["case"]]
    if raised:
        second += f"; pretraining raises the error for {join_words(raised)}"
    second += ": simulations pay most where experiments are scarce."
    if identified:
        third = (f"The error's fall with the database size follows an identified law for "
                 f"{join_words([case_words(c) for c in identified])}, and the decisions it supports are in the summary.")
    else:
        third = ("How the error falls with the database size is not yet identified for any case, so the book "
                 "derives no database size for a target error.")
    return " ".join([first, second, third])
