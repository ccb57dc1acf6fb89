"""A tiny real grid end to end: papermill runs the case notebook per point, the table is tidy, it fits."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from s2rlib.grid import runner as grid
from s2rlib.grid import results
from s2rlib.law import scaling
from s2rlib.law import trial_stats

TINY = {"hidden": [32, 16], "pretrain_epochs": 2, "pretrain_min_steps": 20, "pretrain_max_steps": 60,
        "finetune_max_epochs": 4, "patience_epochs": 2}


@pytest.mark.slow
def test_tiny_grid_through_papermill_resumes_and_fits(tmp_path):
    out = tmp_path / "fe"
    points = grid.plan("formation_enthalpy", [0, 100, 300, 1000, 3000], trials=2, seed=0, out_dir=out, recipe=TINY)
    res = grid.run_grid(points, progress=False)
    assert len(res.computed) == 5 and not res.skipped
    table = results.read_table(out / "results.csv")
    assert list(table.columns) == results.COLUMNS
    assert sorted(table.n_source.unique()) == [0, 100, 300, 1000, 3000]
    mae = table[table.metric == "mae"]
    assert len(mae) == 10 and (mae.value > 0).all() and (mae.value < 1.0).all()
    row = table.iloc[0]
    params = json.loads(row.params)
    assert params["recipe"]["hidden"] == [32, 16] and params["trials"] == 2
    assert len(row.data_sha256) == 64 and row.code_version.startswith("0.")
    assert table.params_id.nunique() == 1
    # the same trial uses the same experimental test set at every n (paired design)
    n_test = table[table.metric == "n_test"].pivot(index="n_source", columns="trial", values="value")
    assert (n_test.nunique() == 1).all()
    # resume: nothing left to do
    again = grid.run_grid(points, progress=False)
    assert not again.computed and len(again.skipped) == 5
    pd.testing.assert_frame_equal(again.table, res.table)
    fit = trial_stats.fit_table(table, n_boot=50)
    # a tiny recipe with 2 trials: any verdict on the law is possible, but the fit itself must run
    assert fit.fit.status in set(scaling.FitStatus) - {scaling.FitStatus("failed"), scaling.FitStatus("too_few_points")}
    assert fit.trials == 2 and fit.baseline > 0


@pytest.mark.slow
def test_cli_grid_and_fit(tmp_path):
    out = tmp_path / "bg"
    # a relative --out is relative to where the user runs s2r, not to the notebook's directory
    cmd = [sys.executable, "-m", "s2rlib.cli", "grid", "band_gap", "--ns", "0,100", "--ms", "all", "--trials", "1",
           "--out", "bg", "--recipe", json.dumps(TINY), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 point(s) computed" in done.stdout
    assert len(list((out / "points").glob("*.csv"))) == 2
    bad = subprocess.run([sys.executable, "-m", "s2rlib.cli", "grid", "no_such_case"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown case 'no_such_case'" in bad.stderr
