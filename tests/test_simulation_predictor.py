"""The simulation itself as the predictor, beside every curve: paired per trial with the network."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from s2rlib.book import pages
from s2rlib.book import claim_check as claims
from s2rlib.law import simulation_baseline as sp
from s2rlib.book import simulation_words
from s2rlib.book.formatting import fmt
from synthetic import synthetic_table


def _with_simulation(t: pd.DataFrame, sim: float, network_minus_sim, drawn=None) -> pd.DataFrame:
    """``t`` plus the rows a grid point writes for the simulation baseline: per trial, the linear-corrected
    simulation's MAE (``sim`` + a per-trial split effect) and the network's on the same materials."""
    rng = np.random.default_rng(0)
    base = t[t["metric"] == "mae"].copy()
    split = dict(zip(range(base["trial"].max() + 1), 0.01 * rng.standard_normal(base["trial"].max() + 1)))
    rows = []
    for _, r in base.iterrows():
        s = sim + split[r["trial"]]  # a hard split is hard for both predictors: the pairing removes it
        net = s + network_minus_sim(r["n_source"]) + 0.001 * rng.standard_normal()
        for metric, value in (("sim_mae", s), ("mae_on_sim", net), ("n_test_sim", 200.0)):
            rows.append({**r.to_dict(), "metric": metric, "value": value})
    out = pd.concat([t, pd.DataFrame(rows)], ignore_index=True)
    if drawn:
        used = out["metric"] == "n_source_used"
        out.loc[used, "value"] = out.loc[used, "n_source"].map(lambda n: drawn.get(n, n))
    return out


def test_the_difference_is_paired_per_trial_and_put_in_words():
    t = _with_simulation(synthetic_table("formation_enthalpy", ns=(0, 1000, 10000), trials=20), 0.13,
                         lambda n: -0.04 if n == 10000 else 0.0, drawn={10000: 9650})
    rows = sp.compare(t)
    assert [r.n for r in rows] == [0, 1000, 9650]  # n as the fit reports it: the samples actually drawn
    top, zero = rows[-1], rows[0]
    assert top.difference.mean == pytest.approx(-0.04, abs=0.001) and top.verdict == "network"
    assert top.difference.hi - top.difference.lo < 0.005  # the split effect (sd 0.01) cancels in the pairing
    assert zero.verdict == "neither" and top.materials == 200 and top.test == 250
    from s2rlib.law.trial_stats import test_train_ratio

    assert top.difference.ratio == pytest.approx(test_train_ratio(t)) and top.difference.ratio > 0  # corrected
    text = simulation_words.sentence(rows, "eV/atom")
    assert text.startswith("On the 200 of 250 test materials that have a simulation, the simulation itself with a "
                           f"linear correction fitted on the training split has an MAE of {fmt(top.simulation)} eV/atom")
    assert top.simulation == pytest.approx(0.13, abs=0.005)
    assert "the network pretrained on n = 9,650 has" in text and ": the network is better;" in text
    assert "the network without pretraining (n = 0) has" in text and text.endswith("no detectable difference.")
    network_clause, zero_clause = [c for c in text.split("; ") if "the network " in c][-2:]
    assert "9,650" in network_clause and "(n = 0)" in zero_clause  # each comparison in its own clause
    assert claims.check_gain_sentence(network_clause, top.difference) == []
    assert claims.check_gain_sentence(zero_clause, zero.difference) == []
    assert claims.check_gain_sentence(zero_clause, top.difference) != []  # the checker does see the words
    tab = simulation_words.table(rows, "eV/atom")
    assert list(tab["n"]) == ["0", "1,000", "9,650"] and tab["test materials with a simulation"].iloc[0] == "200 of 250"


def test_the_simulation_can_win_and_rows_without_it_give_nothing():
    t = _with_simulation(synthetic_table("band_gap", ns=(0, 1000), trials=10), 0.30, lambda n: +0.05)
    rows = sp.compare(t)
    assert all(r.verdict == "simulation" for r in rows) and "the simulation is better" in simulation_words.sentence(rows)
    assert sp.compare(synthetic_table("band_gap", ns=(0, 1000), trials=4)) == []
    assert simulation_words.sentence([]) == ""


def test_the_summary_compares_every_case_with_its_simulation(tmp_path, capsys):
    from s2rlib.grid import results

    fe = _with_simulation(synthetic_table("formation_enthalpy", ns=(0, 100, 1000, 10000), trials=6), 0.13,
                          lambda n: -0.03 if n else -0.01)
    results.write_atomic(fe, tmp_path / "formation_enthalpy" / "results.csv")
    results.write_atomic(synthetic_table("band_gap", ns=(0, 100, 1000, 10000), trials=6),
                         tmp_path / "band_gap" / "results.csv")
    pages.SummaryPage(tmp_path, n_boot=20, cases=["formation_enthalpy", "band_gap"]).simulation_baseline()
    out = capsys.readouterr().out
    fe_row = next(line for line in out.splitlines() if line.startswith("| Formation enthalpy"))
    assert re.search(r"eV/atom \(−0\.030\d* \[", fe_row) and "at n = 10,000" in fe_row, fe_row
    assert re.search(r"\(−0\.010\d* \[", fe_row) and "| 200 of 250 " in fe_row
    assert next(line for line in out.splitlines() if line.startswith("| Band gap")).count("not recorded") == 1
