"""The simulation itself as the predictor: the baseline a scientist asks for beside every curve.

Every grid point also scores the simplest use of the database (:func:`s2rlib.transfer.simulation_baseline`):
the simulated value of the test material, with a linear correction ``a + b * simulated`` fitted on the
experimental training split, on the test materials that have a simulation (``sim_mae``), and the network
on exactly those materials (``mae_on_sim``). The two are paired per trial (same split, same materials),
so their difference gets the Nadeau-Bengio corrected interval of :func:`s2rlib.trial_stats.paired_gain`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .formatting import fmt, fmt_diff, fmt_n, units_after, units_suffix
from .results import ALL_M
from .trial_stats import Gain, drawn_n, paired_gain, test_train_ratio

__all__ = ["Versus", "compare", "table", "sentence", "cases_table"]


@dataclass(frozen=True)
class Versus:
    """The network at one n against the simulation with a linear correction, on the same test materials."""

    n: int
    network: float  # mean MAE of the network on the test materials that have a simulation
    simulation: float  # mean MAE of the linear-corrected simulation there
    materials: float  # mean number of such test materials per trial
    test: float  # mean number of test materials per trial
    difference: Gain  # network - simulation, paired per trial

    @property
    def verdict(self) -> str:
        """``network`` (its error is lower, the interval below 0), ``simulation``, ``neither`` or ``unknown``."""
        return {"lowers": "network", "raises": "simulation", "no_effect": "neither"}.get(self.difference.verdict,
                                                                                          "unknown")


def compare(table: pd.DataFrame, m: int = ALL_M) -> list[Versus]:
    """Per n of ``table`` (one grid) at experimental size ``m``: the network against the simulation; empty when
    the rows carry no simulation baseline (a case without matched simulations, or rows written before it).
    n is the number of source samples actually drawn, as in the law's fit (:func:`s2rlib.trial_stats.drawn_n`)."""
    sub = table[table["m_target"] == m]
    wide = sub.pivot_table(index=["n_source", "trial"], columns="metric", values="value", aggfunc="mean")
    if not {"sim_mae", "mae_on_sim"} <= set(wide.columns) or wide["sim_mae"].notna().sum() == 0:
        return []
    ratio = test_train_ratio(sub, m)
    drawn = drawn_n(sub)  # n as the law's fit reports it: the samples actually drawn
    out = []
    for n, g in wide.groupby(level="n_source"):
        g = g.droplevel("n_source")
        mat = pd.DataFrame({0: g["sim_mae"], 1: g["mae_on_sim"]}).T
        if mat.notna().all(axis=0).sum() == 0:
            continue
        n_used = int(round(drawn.get(n, n)))
        d = replace(paired_gain(mat, 1, 0, ratio=ratio), n=n_used)
        out.append(Versus(n_used, float(g["mae_on_sim"].mean()), float(g["sim_mae"].mean()),
                          float(g["n_test_sim"].mean()) if "n_test_sim" in g else np.nan,
                          float(g["n_test"].mean()) if "n_test" in g else np.nan, d))
    return out


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


def cases_table(tables, units: dict | None = None) -> pd.DataFrame:
    """Across cases (``tables``: case -> one grid's rows): at no pretraining and at the largest n, the network
    against the simulation on the same test materials; a case without the baseline says so."""
    from .book_results import case_words

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
