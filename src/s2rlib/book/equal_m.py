"""Cases compared at equal experimental data: the paired gain of the largest database over none at the
same experimental size m in every case (:func:`equal_m_table`, the summary's table) and, where
experiments are scarce, in one sentence (:func:`scarce_data_sentence`, part of the conclusion)."""

from __future__ import annotations

from collections.abc import Mapping

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
