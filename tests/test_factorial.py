"""The data x compute factorial (s2rlib.law.factorial): paired cells, effects and the compute share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2rlib._core.errors import ParameterError
from s2rlib.grid import results
from s2rlib.law import factorial

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 12


def _rows(cells: dict, recipe: dict, seed: int = 0, m: int = 100, steps_of=None) -> pd.DataFrame:
    """A tidy table: ``cells`` maps n -> per-trial MAE; fixed-schedule rows record their steps in params."""
    rows = []
    for n, maes in cells.items():
        params = {"case": "x", "trials": len(maes), "seed": seed, "recipe": recipe, "threads": 1}
        if steps_of is not None and n:
            params["pretrain_steps"] = steps_of(n)
        for t, v in enumerate(maes):
            for metric, value in (("mae", v), ("n_test", 100), ("n_pool", 400)):
                rows.append(dict(case="x", n_source=n, m_target=m, trial=t, seed=seed + t, metric=metric,
                                 value=value, selected_recipe="a", params_id=results.params_id(params),
                                 params=json.dumps(params, sort_keys=True), data_sha256="ab" * 32,
                                 code_version="t", wall_s=1.0))
    return pd.DataFrame(rows, columns=results.COLUMNS)


def _known():
    """err = 0.30 - 0.02 [n = big] - 0.06 [long schedule] + trial offset + noise: compute is 75% of the top gain."""
    rng = np.random.default_rng(1)
    off = rng.normal(0, 0.02, TRIALS)

    def e(shift):
        return off + shift + rng.normal(0, 0.002, TRIALS)

    grid_steps = {1000: 1000, 90000: 5000}  # the grid: short schedule at the small n, long at the big one
    grid = _rows({0: e(0.30), 1000: e(0.29), 90000: e(0.30 - 0.02 - 0.06)}, {}, steps_of=grid_steps.get)
    long_small = _rows({1000: e(0.29 - 0.06)}, {"pretrain_min_steps": 5000}, steps_of=lambda n: 5000)
    short_big = _rows({90000: e(0.30 - 0.02)}, {"pretrain_max_steps": 1000}, steps_of=lambda n: 1000)
    conv = _rows({1000: e(0.22), 90000: e(0.15)}, {"pretrain_schedule": "converge"})
    return grid, [long_small, short_big, conv]


def test_cells_pair_every_trial_and_label_lengths():
    grid, runs = _known()
    mat = factorial.cells(grid, runs, 100)
    assert set(mat.index) == {(0, "-"), (1000, "1,000 steps"), (1000, "5,000 steps"), (1000, "converged"),
                              (90000, "1,000 steps"), (90000, "5,000 steps"), (90000, "converged")}
    assert list(mat.columns) == list(range(TRIALS))
    assert mat.attrs["test_train_ratio"] == pytest.approx(0.25)
    assert mat.attrs["grid_length"] == {1000: "1,000 steps", 90000: "5,000 steps"}


def test_effects_and_compute_share_recover_the_known_split():
    grid, runs = _known()
    fac, table = factorial.analyse(factorial.cells(grid, runs, 100), 100)
    more = fac.compute[(90000, "5,000 steps", "1,000 steps")]
    assert more.mean == pytest.approx(-0.06, abs=0.003) and more.verdict == "lowers"
    data_short = fac.data[("1,000 steps", 90000, 1000)]
    assert data_short.mean == pytest.approx(0.30 - 0.02 - 0.29, abs=0.003)
    # the gain at the top is 0.30 -> 0.22 (-0.08), of which the schedule is 0.06: 75%
    assert fac.share_max.est == pytest.approx(0.75, abs=0.04)
    assert fac.share_max.lo < fac.share_max.est < fac.share_max.hi
    # the grid's last step 1,000 -> 90,000 drops 0.29 -> 0.22 (-0.07), of which 0.06 is compute
    assert fac.share_step.est == pytest.approx(0.06 / 0.07, abs=0.05)
    assert (fac.n_max, fac.n_below, fac.short) == (90000, 1000, "1,000 steps")
    assert fac.data[(factorial.CONVERGED, 90000, 1000)].mean == pytest.approx(-0.07, abs=0.003)
    assert set(table["effect"]) == {"compute", "data", "gain"}


def test_unpaired_seeds_are_refused():
    grid, runs = _known()
    runs[0] = _rows({1000: np.full(TRIALS, 0.2)}, {"pretrain_min_steps": 5000}, seed=7, steps_of=lambda n: 5000)
    with pytest.raises(ParameterError, match="not paired"):
        factorial.cells(grid, runs, 100)


def test_no_share_without_a_short_run_at_the_largest_n():
    grid, runs = _known()
    fac, _ = factorial.analyse(factorial.cells(grid, [runs[0], runs[2]], 100), 100)
    assert fac.share_max is None and fac.share_step is None


def test_the_committed_two_by_two_at_m_all():
    """The committed sensitivity reruns (formation enthalpy, m = all, 20 trials) are four cells of the
    factorial: at 1,000 steps more data does nothing detectable, at 5,580 it does."""
    grid = pd.read_csv(ROOT / "results" / "formation_enthalpy" / "results.csv")
    runs = [pd.read_csv(ROOT / "results" / "sensitivity" / "formation_enthalpy" / v / "results.csv")
            for v in ("fixed_steps", "more_steps")]
    fac, _ = factorial.analyse(factorial.cells(grid, runs, -1), -1)
    short, long = fac.data[("1,000 steps", 95118, 10000)], fac.data[("5,580 steps", 95118, 10000)]
    assert short.verdict == "no_effect" and long.verdict == "lowers"
    assert long.mean == pytest.approx(-0.0096, abs=5e-4)
    assert 0.5 < fac.share_max.est < 1.0 and fac.share_max.lo > 0.5


def _bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_factorial", ROOT / "benchmarks" / "factorial.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("case", ["formation_enthalpy", "band_gap"])
def test_the_committed_factorial_file_is_what_its_points_give(case):
    """results/factorial/<case>.json (what the book reads) is benchmarks/factorial.py's analysis
    of the committed points: a new point or a changed pairing shows here, not silently in the book."""
    if not (ROOT / "results" / "factorial" / f"{case}.json").is_file():
        pytest.skip("not run")
    fresh = json.loads(json.dumps(_bench().analyse(case), sort_keys=True))
    committed = json.loads((ROOT / "results" / "factorial" / f"{case}.json").read_text())
    assert fresh["schedule_choice"] == committed["schedule_choice"]
    assert fresh.keys() == committed.keys() and fresh["runs"] == committed["runs"]
    for m, b in committed["by_m"].items():
        assert b["mean"] == pytest.approx(fresh["by_m"][m]["mean"], rel=1e-12)
        assert [e["verdict"] for e in b["effects"]] == [e["verdict"] for e in fresh["by_m"][m]["effects"]]


def test_the_page_words_the_file_and_draws_every_length():
    from s2rlib.book import factorial_view, plotting

    res = factorial_view.load("formation_enthalpy", ROOT / "results")
    if res is None:
        pytest.skip("the factorial was not run")
    text = factorial_view.compute_sentences(res, "eV/atom")
    b = res["by_m"]["100"]
    share = round(100 * b["share_max"]["est"])
    assert text.startswith("With 100 experiments, ") and f"{share}%" in text.split("\n\n")[0]
    # every converged data step is quoted with its own verdict
    data = [e for e in b["effects"] if e["effect"] == "data" and e["length"] == "converged"]
    assert ("at every step" in text) == all(e["verdict"] == "lowers" for e in data)
    table = factorial_view.effects_table(res, 100)
    assert len(table) == sum(e["effect"] in ("compute", "data") for e in b["effects"])
    assert set(table["verdict"]) <= {"lower error", "higher error", "no detectable change"}
    fig = factorial_view.factorial_figure(res, "eV/atom")
    labels = {line.get_label() for line in fig.axes[0].get_lines()}
    assert {"pretrained 1,000 steps", "pretrained 5,580 steps", "pretrained converged", "no pretraining"} <= labels
    plotting.close(fig)


def test_a_damaged_factorial_file_is_refused_with_its_name(tmp_path):
    from s2rlib._core.errors import DataError
    from s2rlib.book import factorial_view

    (tmp_path / "factorial").mkdir()
    (tmp_path / "factorial" / "formation_enthalpy.json").write_text('{"case": "formation_enthalpy"}')
    with pytest.raises(DataError, match=r"formation_enthalpy\.json: missing field\(s\) \['by_m'\]"):
        factorial_view.load("formation_enthalpy", tmp_path)
    (tmp_path / "factorial" / "formation_enthalpy.json").write_text("{")
    with pytest.raises(DataError, match="not valid JSON"):
        factorial_view.load("formation_enthalpy", tmp_path)
    assert factorial_view.load("band_gap", tmp_path) is None


def test_the_converged_curve_is_worded_from_its_fits():
    from s2rlib.book import factorial_view, findings
    from s2rlib.book.formatting import fmt

    res = factorial_view.load("formation_enthalpy", ROOT / "results")
    if not res or not res.get("curve"):
        pytest.skip("no converged curve")
    text = factorial_view.curve_sentences(res)
    for m, c in res["curve"].items():
        law = c["fits"]["law"]
        assert f"$\\alpha$ = {fmt(law['alpha'], 2)}" in text and f"p = {fmt(law['p_value'], 2)}" in text
        assert findings.status_link(c["fits"][c["chosen"]]["status"]) in text  # the status in words, linked
        assert f"`{c['fits'][c['chosen']]['status']}`" not in text
        assert ("derived numbers follow" in text) == any(d["supported"] for cc in res["curve"].values()
                                                         for d in cc["decisions"].values())


def test_an_undetected_gain_gets_no_compute_share_and_validation_choice_is_counted():
    """Band gap with every experiment: the grid's gain at the whole database is not told apart from 0, so
    its compute share (a ratio over that gain) has no interval and the page says so instead of a percentage;
    the validation choice counts the cells whose lowest validation MAE is the converged length."""
    from s2rlib.book import factorial_view

    res = factorial_view.load("band_gap", ROOT / "results")
    if res is None or str(-1) not in res["by_m"]:
        pytest.skip("the band-gap factorial was not run")
    b = res["by_m"]["-1"]
    gain = next(e for e in b["effects"] if e["effect"] == "gain" and e["n"] == b["n_max"]
                and e["length"] == b["grid_length"][str(b["n_max"])])
    assert gain["lo"] < 0 < gain["hi"]
    every = factorial_view.compute_sentences(res, "eV").split("\n\n")[1]
    assert every.startswith("With every experiment, no compute share is given") and "nan" not in every
    assert "%" not in every.split(". ")[0]
    rows = res["schedule_choice"]
    for r in rows:  # the pick is the lowest mean validation error of the cell's lengths
        assert r["val"][r["picked"]] == min(r["val"].values())
    wins = sum(r["picked"] == "converged" for r in rows)
    assert f"in {wins} of {len(rows)} (m, n) cells" in factorial_view.choice_sentence(res)
