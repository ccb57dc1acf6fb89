"""The simulation baseline in words and tables: the network against the simulation itself (numbers: :mod:`s2rlib.law.simulation_baseline`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from s2rlib.book.case_results import case_words
from s2rlib.book.formatting import fmt, fmt_diff, fmt_n, units_after, units_suffix
from s2rlib.law.simulation_baseline import Versus, compare

def table(rows: list[Versus], units: str = "") -> pd.DataFrame:
    """One row per n: the network and the simulation on the same test materials, and their paired difference."""
    u = units_suffix(units)
    return pd.DataFrame([{
        "n": fmt_n(r.n), f"network MAE{u}": fmt(r.network), f"simulation + linear correction{u}": fmt(r.simulation),
        "network − simulation [90% CI]": " ".join(fmt_diff(r.difference.mean, r.difference.lo, r.difference.hi)),
        "test materials with a simulation": f"{r.materials:,.0f} of {r.test:,.0f}" if np.isfinite(r.test)
        else f"{r.materials:,.0f}",
    } for r in rows])


def _clause(r: Versus, u: str) -> str:
    mean, ci = fmt_diff(r.difference.mean, r.difference.lo, r.difference.hi)
    d = f"{mean}{u} {ci}"
    where = "without pretraining (n = 0)" if r.n == 0 else f"pretrained on n = {r.n:,}"
    verdict = {"network": "the network is better", "simulation": "the simulation is better",
               "neither": "no detectable difference"}.get(r.verdict, "no interval")
    return f"the network {where} has {fmt(r.network)}{u}, a difference of {d}: {verdict}"


def sentence(rows: list[Versus], units: str = "") -> str:
    """The comparison at n = 0 and at the largest n in one sentence; "" without a simulation baseline."""
    if not rows:
        return ""
    u = units_after(units)
    top = max(rows, key=lambda r: r.n)
    zero = next((r for r in rows if r.n == 0), None)
    of = f" of {top.test:,.0f}" if np.isfinite(top.test) else ""
    text = (f"On the {top.materials:,.0f}{of} test materials that have a simulation, the simulation itself with a "
            f"linear correction fitted on the training split has an MAE of {fmt(top.simulation)}{u}; "
            + _clause(top, u))
    if zero is not None and zero is not top:
        text += "; " + _clause(zero, u)
    return text + "."


def brief(rows: list[Versus], units: str = "", what: str = "value") -> str:
    """The comparison in a chapter's words (``what``: the property, "band gap"): the corrected simulation's
    error, then the network's with the largest database and without pretraining, each difference with its
    verdict; "" without a simulation baseline."""
    if not rows:
        return ""
    u = units_after(units)
    top = max(rows, key=lambda r: r.n)
    zero = next((r for r in rows if r.n == 0 and r is not top), None)
    verdict = {"network": "network better", "simulation": "simulation better", "neither": "no detectable difference"}

    def diff(r: Versus) -> str:
        mean, ci = fmt_diff(r.difference.mean, r.difference.lo, r.difference.hi)
        return f"{mean}{u} {ci}: {verdict.get(r.verdict, 'no interval')}"

    of = f" of the {top.test:,.0f}" if np.isfinite(top.test) else ""
    text = (f"On {top.materials:,.0f}{of} test materials, the simulated {what} with a linear correction errs by "
            f"{fmt(top.simulation)}{u}; the network pretrained on n = {top.n:,} by {fmt(top.network)}{u} ({diff(top)})")
    if zero is not None:
        text += f", without pretraining by {fmt(zero.network)}{u} ({diff(zero)})"
    return text + "."


def cases_table(tables, units: dict | None = None) -> pd.DataFrame:
    """Across cases (``tables``: case -> one grid's rows): at no pretraining and at the largest n, the network
    against the simulation on the same test materials; a case without the baseline says so."""
    out = []
    for case, t in tables.items():
        rows = compare(t)
        u = (units or {}).get(case, "")
        u = units_after(u)
        if not rows:
            out.append({"case": case_words(case, start=True), "test materials with a simulation": "",
                        "simulation + linear correction": "not recorded", "network, n = 0": "", "network, largest n": ""})
            continue
        zero = next((r for r in rows if r.n == 0), None)
        top = max(rows, key=lambda r: r.n)

        def cell(r):
            return f"{fmt(r.network)}{u} ({' '.join(fmt_diff(r.difference.mean, r.difference.lo, r.difference.hi))})" \
                if r is not None else ""
        of = f" of {top.test:,.0f}" if np.isfinite(top.test) else ""
        out.append({"case": case_words(case, start=True), "test materials with a simulation": f"{top.materials:,.0f}{of}",
                    "simulation + linear correction": f"{fmt(top.simulation)}{u}",
                    "network, n = 0": cell(zero), "network, largest n": f"{cell(top)} at n = {fmt_n(top.n)}"})
    return pd.DataFrame(out)
