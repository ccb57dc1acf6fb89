"""The simulation itself as the predictor: the baseline a scientist asks for beside every curve.

Every grid point also scores the simplest use of the database (:func:`s2rlib.training.metrics.simulation_baseline`):
the simulated value of the test material, with a linear correction ``a + b * simulated`` fitted on the
experimental training split, on the test materials that have a simulation (``sim_mae``), and the network
on exactly those materials (``mae_on_sim``). The two are paired per trial (same split, same materials),
so their difference gets the Nadeau-Bengio corrected interval of :func:`s2rlib.law.trial_stats.paired_gain`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from s2rlib._core.constants import ALL_M
from s2rlib.law.trial_stats import Gain, drawn_n, paired_gain, test_train_ratio

__all__ = ["Versus", "compare"]


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
    n is the number of source samples actually drawn, as in the law's fit (:func:`s2rlib.law.trial_stats.drawn_n`)."""
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
