"""The fit cache's key: a change to the rows or to either module a case fit runs through means a refit."""

import shutil

import pytest

from s2rlib.law import fit_cache
from s2rlib.law import scaling
from s2rlib.law import trial_stats
from synthetic import synthetic_table


@pytest.mark.parametrize("module", [scaling, trial_stats], ids=lambda m: m.__name__)
def test_key_changes_with_the_fitting_code(module, tmp_path, monkeypatch):
    table = synthetic_table("band_gap", trials=3)
    key = fit_cache._fit_key(table, -1, "mae", 50, "linear", "eV")
    assert fit_cache._fit_key(table, -1, "mae", 50, "linear", "eV") == key  # deterministic
    edited = tmp_path / "edited.py"
    shutil.copy(module.__file__, edited)
    with open(edited, "a") as fh:
        fh.write("\n# an edit\n")
    monkeypatch.setattr(module, "__file__", str(edited))
    assert fit_cache._fit_key(table, -1, "mae", 50, "linear", "eV") != key


def test_key_changes_with_the_rows():
    table = synthetic_table("band_gap", trials=3)
    key = fit_cache._fit_key(table, -1, "mae", 50, "linear", "eV")
    changed = table.copy()
    row = changed.index[(changed["metric"] == "mae") & (changed["n_source"] == 100)][0]
    changed.loc[row, "value"] += 1e-6
    assert fit_cache._fit_key(changed, -1, "mae", 50, "linear", "eV") != key
