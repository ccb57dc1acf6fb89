"""Fault injection for issue 29, "own data you can trust": data identity, verified stored state,
safe generated pages and one ``s2r: error`` line per failure.

In the style of :mod:`test_faults` (whose stand-ins it uses): each test breaks something a user can
break and asserts that the message names the file, parameter or point, that nothing computed is
lost, and that a rerun repairs it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import s2rlib.cases.registry
from s2rlib.grid import results
from s2rlib.grid import runner as grid
from s2rlib._core.errors import DataError

from test_faults import CASE, _fit, _grid, _point, _rows, _small_case, fake_pm, finished, small_data  # noqa: F401

# ------------------------------------------------------------------------------ 1. data identity


def _new_data(monkeypatch, version: str = "2"):
    """The case's data change (an edited CSV, a case made again under the same name)."""
    monkeypatch.setattr(s2rlib.cases.registry, "load_case", lambda name, **kw: _small_case(version=version))
    return _small_case(version=version).data_sha256


def test_points_of_old_data_are_set_aside_and_recomputed_never_merged(finished, fake_pm, capsys, caplog, monkeypatch):
    out, before = finished
    old = before["data_sha256"].iloc[0]
    extra = _rows(CASE, 40, 2, 0, {}, data=old)  # a point of the old data outside the rerun's ns
    results.write_atomic(extra.assign(params_id=before["params_id"].iloc[0]).pipe(results.seal),
                         out / "points" / f"n0000040_mall_{before['params_id'].iloc[0]}.csv")
    new = _new_data(monkeypatch)
    fake_pm.data = new
    with caplog.at_level(logging.WARNING):
        rc, stdout, err = _grid(capsys, out)
    assert rc == 0, err
    assert sorted(fake_pm.calls) == [0, 5, 10, 20]  # every point again, none "already done"
    assert "4 point(s) computed, 0 already done" in stdout
    assert f"was computed from other data (data_sha256 {old}; the case's data now have {new})" in caplog.text
    assert "n0000040_mall" in caplog.text  # the point outside this run's ns too
    table = results.read_table(out / "results.csv")
    assert table["data_sha256"].unique().tolist() == [new]
    assert len(list((out / "points").glob("*.damaged"))) == 5  # kept, not deleted


def test_fit_and_pages_refuse_a_table_that_mixes_data(finished, capsys, monkeypatch, tmp_path):
    out, before = finished
    pid = before["params_id"].iloc[0]
    other = _rows(CASE, 40, 2, 0, {}, data="f" * 64).assign(params_id=pid).pipe(results.seal)
    path = tmp_path / "mixed" / CASE / "results.csv"
    path.parent.mkdir(parents=True)
    pd.concat([before, other]).to_csv(path, index=False)
    rc, _, err = _fit(capsys, CASE, "--results", str(path), "--n-boot", "20")
    assert rc == 2
    mine = before["data_sha256"].iloc[0]
    assert err.startswith(f"s2r: error: {path}: the {CASE} rows come from 2 different data sets: ")
    assert f"data_sha256 {mine} (n = 0, 5, 10, 20)" in err and f"data_sha256 {'f' * 64} (n = 40)" in err
    from s2rlib.book.case_results import load_case_results

    with pytest.raises(DataError, match="come from 2 different data sets"):
        load_case_results(CASE, tmp_path / "mixed", announce=False)


def test_a_point_file_mixing_two_data_sets_is_damaged(finished, fake_pm, capsys, caplog):
    out, _ = finished
    path = _point(out, 10)
    df = results.read_table(path)
    df.loc[df.index[:2], "data_sha256"] = "e" * 64
    results.write_atomic(results.seal(df), path)
    with caplog.at_level(logging.WARNING):
        rc, _, err = _grid(capsys, out)
    assert rc == 0 and fake_pm.calls == [10]
    assert f"damaged point file {path}: its rows come from 2 different data sets" in caplog.text


def test_data_changed_while_the_grid_ran_is_a_failed_point(finished, fake_pm, capsys):
    out, _ = finished
    _point(out, 10).unlink()
    fake_pm.data = "d" * 64  # the notebook loads other data than the plan did
    rc, _, err = _grid(capsys, out)
    assert rc == 2
    assert "computed" in err and f"from data {'d' * 64}, but the grid was planned with data" in err
    assert "the case's data changed while the grid ran" in err
