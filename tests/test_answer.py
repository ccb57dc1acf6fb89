"""The landing page's answer: the gain with scarce experiments against every experiment, in numbers and words."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from s2rlib.book import equal_m, plotting
from s2rlib.grid.selection import for_fit, select_grid
from synthetic import synthetic_table

ROOT = Path(__file__).resolve().parents[1]


def _committed(case: str) -> pd.DataFrame:
    return select_grid(pd.read_csv(ROOT / "results" / case / "results.csv"))


def _by_hand(table: pd.DataFrame, m: int) -> float:
    """The gain of the largest n over n = 0 in % of the n = 0 error, computed without the library's matrices."""
    t = for_fit(table)
    t = t[(t["metric"] == "mae") & (t["m_target"] == m)]
    top = t["n_source"].max()
    a = t[t["n_source"] == top].set_index("trial")["value"]
    b = t[t["n_source"] == 0].set_index("trial")["value"]
    return 100 * float((a - b).mean() / b.mean())


def test_answer_rows_are_the_paired_gains_of_the_committed_grids():
    tables = {c: _committed(c) for c in ("formation_enthalpy", "polymer_density")}
    rows = equal_m.answer_rows(tables)
    assert sorted(zip(rows["case"], rows["m"])) == [("formation_enthalpy", -1), ("formation_enthalpy", 100),
                                                      ("polymer_density", -1), ("polymer_density", 100)]
    for r in rows.itertuples():
        assert r.pct == pytest.approx(_by_hand(tables[r.case], r.m), abs=1e-9)
        assert r.lo < r.pct < r.hi and r.trials == 20
    # with 100 experiments the gain is larger than with every experiment, for both cases
    wide = rows.pivot(index="case", columns="m", values="pct")
    assert (wide[100] < wide[-1]).all()


def test_answer_sentences_sort_cases_by_verdict_and_say_no_law_is_identified():
    tables = {c: _committed(c) for c in ("formation_enthalpy", "band_gap", "polymer_density")}
    rows = equal_m.answer_rows(tables)
    text = equal_m.answer_sentences(rows)
    first, second, third = text.split(". ", 2)
    fe100 = -rows[(rows.case == "formation_enthalpy") & (rows.m == 100)]["pct"].iloc[0]
    assert first.startswith("With only 100 experiments") and f"{fe100:.0f}% for formation enthalpy" in first
    # band gap and polymer density: no detectable effect with every experiment; formation enthalpy lowers
    assert "shrinks to" in second and "formation enthalpy" in second.split("is not detectable")[0]
    assert "band gap and polymer density" in second.split("is not detectable for")[1]
    assert "not yet identified for any case" in third
    named = equal_m.answer_sentences(rows, ["formation_enthalpy"])
    assert "identified law for formation enthalpy" in named and "not yet identified" not in named


def test_answer_needs_both_sizes():
    only_all = {"formation_enthalpy": synthetic_table("formation_enthalpy", ms=(-1,))}
    assert equal_m.answer_sentences(equal_m.answer_rows(only_all)) == ""


def test_answer_figure_has_one_row_per_case_and_two_markers_each():
    tables = {c: _committed(c) for c in ("formation_enthalpy", "chi")}
    fig = plotting.answer_figure(equal_m.answer_rows(tables))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["formation enthalpy", "Flory–Huggins χ"]
    assert len(ax.containers) == 4  # errorbar containers: 2 cases x (100 experiments, every experiment)
    plotting.close(fig)
