"""Your own case in three commands and no Python: new-case -> grid -> fit, on the shipped example CSVs."""

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from s2rlib.grid import results

EXAMPLE = Path(str(resources.files("s2rlib") / "data" / "example"))
CHEAP = {"hidden": [32, 16], "pretrain_epochs": 2, "pretrain_min_steps": 20, "pretrain_max_steps": 60,
         "finetune_max_epochs": 4, "patience_epochs": 2}


def s2r(*args, cwd, env):
    done = subprocess.run([sys.executable, "-m", "s2rlib.cli", *args], capture_output=True, text=True, timeout=800,
                          cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_three_commands_on_the_example(tmp_path):
    # a directory outside the checkout: the kernels must still find the case (s2r grid exports the dir)
    env = dict(os.environ, S2R_CASES_DIR=str(tmp_path / "cases"))
    out = s2r("new-case", "example_gap", "--source", str(EXAMPLE / "sim_band_gap.csv"), "--target",
              str(EXAMPLE / "exp_band_gap.csv"), "--kind", "composition", "--units", "eV", "--property", "band gap", cwd=tmp_path, env=env)
    assert "wrote" in out and (tmp_path / "cases" / "example_gap.toml").is_file()
    out = s2r("grid", "example_gap", "--ns", "0,1000,all", "--trials", "2", "--out", "grid", "--recipe",
              json.dumps(CHEAP), "--quiet", cwd=tmp_path, env=env)
    assert "3 point(s) computed" in out
    table = results.read_table(tmp_path / "grid" / "results.csv")
    assert sorted(table.n_source.unique()) == [0, 1000, 1937]  # 'all' = the 1,937 merged compositions
    mae = table[table.metric == "mae"]
    assert len(mae) == 6 and (mae.value > 0).all() and (table.case == "example_gap").all()
    assert (table[table.metric == "n_test"].value == 60).all()  # 20% of the 300 experimental compositions
    out = s2r("fit", "example_gap", "--results", "grid/results.csv", "--n-boot", "50", cwd=tmp_path, env=env)
    assert out.startswith("example_gap (m = all, 2 trials)") and "n = 0 baseline" in out
