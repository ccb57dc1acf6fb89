"""Materials caveats: computed from the real data, and the committed results/caveats/*.json match them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from s2rlib._core import paths
from s2rlib.book import caveats
from s2rlib.cases.registry import load_case
from s2rlib.datasets.case_data import CaseData


@pytest.fixture(scope="module")
def computed():
    """Both cases' caveats from the loaded data (loading takes ~30-60 s per case with a warm cache)."""
    return {case: caveats.compute(case, load_case(case)) for case in caveats.CASES}


def test_formula_key_reduces_and_refuses_what_it_cannot_parse():
    assert caveats.formula_key("K4Mn4O8") == caveats.formula_key("Mn1K1O2") == (("K", 1), ("Mn", 1), ("O", 2))
    assert caveats.formula_key("Si") == (("Si", 1),)
    assert caveats.formula_key("O2Si1O2") == (("O", 4), ("Si", 1))
    assert caveats.formula_key("Ag(AuS)2") is None and caveats.formula_key("Fe0.5O") is None
    assert caveats.formula_key("") is None


def _toy(y, sim, ids):
    n = len(y)
    return CaseData(case="formation_enthalpy", X_source=np.zeros((3, 1)), y_source=np.array([0.0, 1.0, 2.0]),
                    X_target=np.zeros((n, 1)), y_target=np.array(y), groups_target=np.array(ids), feature_names=["x"],
                    units="eV/atom", target_ids=np.array(ids), y_target_sim=np.array(sim))


def test_formation_enthalpy_caveats_on_a_toy_case():
    data = _toy([-1.0, -2.0, -0.5, 0.2], [-1.2, math.nan, 1.5, 0.1], ["A", "B", "C", "D"])
    fe = caveats.formation_enthalpy(data, threshold=1.5)
    assert fe["in_mp"] == 3 and fe["experimental"] == 4
    assert fe["mae"] == pytest.approx((0.2 + 2.0 + 0.1) / 3)
    assert fe["mean_difference"] == pytest.approx((-0.2 + 2.0 - 0.1) / 3)
    assert [o["formula"] for o in fe["outliers"]] == ["C"]  # |1.5 - (-0.5)| = 2.0 > 1.5; B has no MP value
    assert fe["outliers"][0]["difference"] == pytest.approx(2.0)


def test_real_caveats_are_what_the_data_say(computed):
    fe = computed["formation_enthalpy"]["formation_enthalpy"]
    # 2,135 pymatgen compounds, 1,712 of them also in MP (CaseData.notes["target_in_source"])
    assert fe["experimental"] == 2135 and fe["in_mp"] == 1712
    assert 0.05 < fe["mae"] < 0.3  # DFT vs experiment, eV/atom; a misread unit would give > 0.5
    assert 1 <= len(fe["outliers"]) <= 20
    assert all(abs(o["mp"] - o["experiment"]) > 1.5 for o in fe["outliers"])
    bg = computed["band_gap"]["band_gap"]
    assert bg["target_metals"] == pytest.approx(bg["target_metal_share"] * bg["experimental"])
    assert 0.4 < bg["target_metal_share"] < 0.6 and 0.3 < bg["source_metal_share"] < 0.6
    for case in caveats.CASES:
        p = computed[case]["polymorphs"]
        # the raw-file grouping reproduced the loader's merge, so the spread is of the same groups
        assert p["spread_checked"], f"{case}: formula_key grouping disagrees with the loader's"
        assert p["multi"] <= p["rows_merged"] < p["source_rows"]
        assert 0 <= p["spread_median"] <= p["spread_p90"]
    assert computed["band_gap"]["polymorphs"]["merge"] == "median"
    assert computed["formation_enthalpy"]["polymorphs"]["merge"] == "min"


def test_committed_caveats_are_current(computed):
    """The case pages read results/caveats/<case>.json: it must equal what the data give today."""
    for case in caveats.CASES:
        committed = caveats.load(case, paths.results_root())
        assert committed is not None, f"results/caveats/{case}.json is missing: run python -m s2rlib.book.caveats"
        assert _same(committed, computed[case]), (
            f"results/caveats/{case}.json is stale: run `python -m s2rlib.book.caveats {case}`")


def _same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_sentences_state_the_numbers(computed):
    fe_text = " ".join(caveats.sentences(computed["formation_enthalpy"]))
    fe = computed["formation_enthalpy"]["formation_enthalpy"]
    assert "circularity" in fe_text and f"{fe['in_mp']:,} also have an MP value" in fe_text
    assert all(o["formula"] in fe_text for o in fe["outliers"])
    assert "by the minimum" in fe_text
    bg_text = " ".join(caveats.sentences(computed["band_gap"]))
    assert f"{computed['band_gap']['band_gap']['target_metals']:,} of 4,604" in bg_text and "by the median" in bg_text
    with pytest.raises(ValueError, match="no materials caveats for case 'chi'"):
        caveats.compute("chi")
