"""Fault injection: damaged state is detected, named, set aside and repaired; every failure is an ``s2r: error:``.

Each test breaks something a real user can break (a truncated point file, a corrupt feature cache,
a foreign grid's point in ``--out``, a dead kernel, a killed runner, a bad table given to
``s2r fit``) and asserts three things: the message names the file, parameter or point (exit code 2
where it reaches the command line), nothing already computed is lost, and a rerun repairs it.

The fast tests stand papermill in with :class:`FakePapermill` (it writes a point file the way the
notebooks' last cell does) and serve a small stand-in for the case data. The tests marked slow run
real papermill on a tiny notebook that writes a point file, and kill its kernel or its runner.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2rlib._core import paths
from s2rlib.law import fit_cache
from s2rlib.grid import selection
from s2rlib._core.constants import ALL_M
from s2rlib import cli
from s2rlib.grid import runner as grid
from s2rlib.grid import results
from s2rlib.datasets.case_data import CaseData
from s2rlib._core.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1]
CASE = "polymer_density"
METRICS = ("mae", "rmse", "n_train")
KEYS = ["case", "n_source", "m_target", "trial", "metric"]


# ------------------------------------------------------------------------------ stand-ins


def _rows(case: str, n: int, trials: int, seed: int, recipe: dict, m: int = ALL_M, data: str = "") -> pd.DataFrame:
    """What a notebook writes for one point: every trial, every metric (values depend on n and trial)."""
    rows = pd.DataFrame([{"trial": t, "seed": seed + t, "metric": k, "value": (1.0 + t) / (1.0 + n) + i,
                          "selected_recipe": "full_lr3e-4"} for t in range(trials) for i, k in enumerate(METRICS)])
    params = {"case": case, "trials": trials, "seed": seed, "m_target": m, "recipe": recipe, "threads": 1}
    return results.tidy(case, n, m, rows, params, data or _small_case().data_sha256, 0.1)


class FakePapermill:
    """Stands in for papermill.execute_notebook; ``fail_on`` maps n to the exception its point raises."""

    def __init__(self):
        self.calls: list[int] = []
        self.fail_on: dict[int, BaseException] = {}
        self.data = ""  # the data sha256 the points are computed from ("": the small case's)
        self.lock = threading.Lock()

    def __call__(self, notebook, out_nb, parameters, **kwargs):
        n = parameters["n_source"]
        with self.lock:
            self.calls.append(n)
        Path(out_nb).write_text("{}")  # papermill writes the executed notebook as it goes
        if n in self.fail_on:
            raise self.fail_on[n]
        table = _rows(parameters["case"], n, parameters["trials"], parameters["seed"],
                      json.loads(parameters["recipe_json"]), parameters["m_target"], self.data)
        results.write_atomic(table, parameters["output_path"])


@pytest.fixture
def fake_pm(monkeypatch):
    import papermill

    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    return fake


def _small_case(n_source: int = 50, n_target: int = 60, version: str = "1") -> CaseData:
    rng = np.random.default_rng(0)
    files = [{"key": "small_source", "sha256": version * 64, "location": "memory"}]
    return CaseData(CASE, rng.normal(size=(n_source, 3)), rng.normal(size=n_source), rng.normal(size=(n_target, 3)),
                    rng.normal(size=n_target), np.array([f"g{i}" for i in range(n_target)]), ["a", "b", "c"], "u",
                    files=files)


@pytest.fixture
def small_data(monkeypatch):
    import s2rlib.cases.registry

    monkeypatch.setattr(s2rlib.cases.registry, "load_case", lambda name, **kw: _small_case())


def _grid(capsys, out: Path, *args: str, ns: str = "0,5,10,20", seed: int = 0) -> tuple[int, str, str]:
    rc = cli.main(["grid", CASE, "--ns", ns, "--ms", "all", "--trials", "2", "--seed", str(seed), "--out", str(out),
                   "--quiet", "--threads", "1", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _fit(capsys, *args: str) -> tuple[int, str, str]:
    rc = cli.main(["fit", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["wall_s", "code_version", "point_sha256"]).sort_values(KEYS).reset_index(drop=True)


@pytest.fixture
def finished(tmp_path, fake_pm, small_data, capsys):
    """A finished grid of four points (2 trials x 3 metrics each) and its merged table."""
    out = tmp_path / "out"
    rc, _, err = _grid(capsys, out)
    assert rc == 0, err
    fake_pm.calls.clear()
    table = results.read_table(out / "results.csv")
    assert len(table) == 4 * 2 * len(METRICS)
    return out, table


def _point(out: Path, n: int) -> Path:
    (path,) = (out / "points").glob(f"n{n:07d}_*.csv")
    return path


def _rerun_repairs_one_point(finished, fake_pm, capsys, caplog, n: int) -> tuple[str, str]:
    """Rerun the finished grid after damaging point ``n``: it succeeds, recomputes only that point and gives
    back the same merged table. Returns the warnings logged and the command's stdout."""
    out, before = finished
    with caplog.at_level(logging.WARNING):
        rc, stdout, err = _grid(capsys, out)
    assert rc == 0, err
    assert fake_pm.calls == [n]  # only the damaged point is recomputed
    pd.testing.assert_frame_equal(_comparable(results.read_table(out / "results.csv")), _comparable(before))
    return caplog.text, stdout


# ------------------------------------------------------------------------------ 1. truncated point files


def test_point_file_cut_to_header_and_three_rows_is_named_set_aside_and_recomputed(finished, fake_pm, capsys, caplog):
    out, _ = finished
    path = _point(out, 10)
    original = path.read_text()
    lines = original.splitlines(keepends=True)
    path.write_text("".join(lines[:4]))  # header + 3 rows: trial 0 complete, trial 1 gone
    warning, stdout = _rerun_repairs_one_point(finished, fake_pm, capsys, caplog, 10)
    assert f"damaged point file {path}" in warning
    assert "rows for trial(s) [0] of the 2 trials its parameters name" in warning
    assert f"set aside as {path}.damaged" in warning
    assert "1 point(s) computed, 3 already done" in stdout
    assert Path(f"{path}.damaged").read_text() == "".join(lines[:4])  # nothing is thrown away
    assert path.read_text().count("\n") == original.count("\n")


def test_point_file_cut_inside_a_quoted_field_is_named_and_recomputed(finished, fake_pm, capsys, caplog):
    out, _ = finished
    path = _point(out, 5)
    text = path.read_text()
    cut = text.index('"{""case""', text.index("\n", text.index("\n") + 1)) + 20  # inside row 2's params field
    path.write_text(text[:cut])
    warning, _ = _rerun_repairs_one_point(finished, fake_pm, capsys, caplog, 5)
    assert f"damaged point file {path}: not a readable CSV" in warning


def test_point_file_missing_its_last_row_is_detected(finished, fake_pm, capsys, caplog):
    out, _ = finished
    path = _point(out, 20)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    warning, _ = _rerun_repairs_one_point(finished, fake_pm, capsys, caplog, 20)
    assert f"damaged point file {path}: trial 1 lacks metric(s) ['rmse'" in warning or \
           f"damaged point file {path}: trial 1 lacks metric(s) ['n_train']" in warning, warning


def test_point_file_whose_content_belongs_to_another_point_is_damaged(finished, fake_pm, capsys, caplog):
    out, _ = finished
    _point(out, 10).write_bytes(_point(out, 5).read_bytes())  # a copy under the wrong name
    warning, _ = _rerun_repairs_one_point(finished, fake_pm, capsys, caplog, 10)
    assert f"damaged point file {_point(out, 10)}: its rows are for n_source=5, its name says n_source=10" in warning


def test_a_damaged_merged_table_is_rebuilt_from_the_point_files(finished, capsys, caplog):
    out, before = finished
    table_path = out / "results.csv"
    table_path.write_text("".join(table_path.read_text().splitlines(keepends=True)[:9]))  # header + 8 rows
    with caplog.at_level(logging.WARNING):
        table = results.load_results(table_path)
    assert f"damaged results table {table_path}" in caplog.text and "rebuilt from" in caplog.text
    assert Path(f"{table_path}.damaged").is_file()
    pd.testing.assert_frame_equal(_comparable(table), _comparable(before))
    pd.testing.assert_frame_equal(_comparable(results.read_table(table_path)), _comparable(before))


def test_a_damaged_merged_table_without_point_files_is_an_error_naming_it(finished, capsys):
    out, _ = finished
    lone = out.parent / "lone.csv"
    lone.write_text("".join((out / "results.csv").read_text().splitlines(keepends=True)[:9]))
    rc, _, err = _fit(capsys, CASE, "--results", str(lone))
    assert rc == 2
    assert err.startswith(f"s2r: error: {lone}: damaged results table")
    assert "n_source=5" in err and "rows for trial(s) [0] of the 2 trials" in err


def test_committed_results_all_verify():
    """The committed point files and merged tables pass the checks (no false alarm on real data)."""
    checked = 0
    for table_path in sorted((ROOT / "results").glob("*/results.csv")):
        table = results.read_table(table_path)
        assert results.table_problems(table) == [], table_path
        for path in sorted((table_path.parent / "points").glob("*.csv")):
            assert results.point_problem(path) is None, path
            checked += 1
    assert checked >= 50


# ------------------------------------------------------------------------------ 2. feature cache


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_feature_cache_entry_is_named_set_aside_and_recomputed(tmp_path, monkeypatch, caplog, damage):
    from s2rlib.features import cache

    monkeypatch.setenv(cache.FEATURE_CACHE_ENV, str(tmp_path / "features"))
    calls = []

    def compute():
        calls.append(1)
        return {"X": np.arange(20000, dtype=float).reshape(1000, 20), "names": np.array(["a", "b"])}

    good = cache.cached_arrays("k1", compute)
    entry = tmp_path / "features" / "k1.npz"
    blob = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(blob[: len(blob) // 2])  # what a full disk or a killed copy leaves: BadZipFile
    else:
        mid = len(blob) // 2
        entry.write_bytes(blob[:mid] + bytes([blob[mid] ^ 0xFF]) + blob[mid + 1:])  # a CRC error inside
    with caplog.at_level(logging.WARNING):
        again = cache.cached_arrays("k1", compute)
    assert len(calls) == 2
    assert f"damaged feature cache {entry}" in caplog.text and f"set aside as {entry}.damaged" in caplog.text
    assert Path(f"{entry}.damaged").read_bytes() != blob
    assert np.array_equal(good["X"], again["X"]) and list(good["names"]) == list(again["names"])
    third = cache.cached_arrays("k1", compute)  # repaired: read from the cache again
    assert len(calls) == 2 and np.array_equal(third["X"], good["X"])


# ------------------------------------------------------------------------------ 3. a foreign grid's point in --out


def test_a_foreign_grid_point_is_named_and_fit_asks_which_grid(finished, fake_pm, capsys, caplog):
    out, before = finished
    foreign = _rows(CASE, 7, 2, 99, {"pretrain_epochs": 3})  # another seed and recipe: another params_id
    fid = foreign["params_id"].iloc[0]
    results.write_atomic(foreign, out / "points" / f"n0000007_mall_{fid}.csv")
    with caplog.at_level(logging.WARNING):
        rc, _, err = _grid(capsys, out)
    assert rc == 0, err
    mine = before["params_id"].iloc[0]
    assert f"{out / 'points'} also holds 1 point(s) of another grid (params_id {fid})" in caplog.text
    table = results.read_table(out / "results.csv")
    assert sorted(table["params_id"].unique()) == sorted([mine, fid])  # nothing is dropped
    rc, stdout, err = _fit(capsys, CASE, "--results", str(out / "results.csv"), "--n-boot", "20")
    assert rc == 2
    assert f"s2r: error: {out / 'results.csv'}: the {CASE} rows mix 2 grids (parameter sets)" in err
    assert f"{mine} (4 n, 24 rows)" in err and f"{fid} (1 n, 6 rows)" in err and "--grid" in err
    rc, stdout, err = _fit(capsys, CASE, "--results", str(out / "results.csv"), "--n-boot", "20", "--grid", mine)
    assert rc == 0, err
    assert f"grid {mine}" in stdout and "status" in stdout
    rc, _, err = _fit(capsys, CASE, "--results", str(out / "results.csv"), "--grid", "nope")
    assert rc == 2 and "parameter --grid='nope': not a grid of" in err and mine in err


# ------------------------------------------------------------------------------ 4. --ns "" and other grid arguments


@pytest.mark.parametrize("args,message", [
    (["--ns", ""], "parameter ns: the grid needs at least one source size"),
    (["--ns", "0,10", "--ms", ""], "parameter ms: the grid needs at least one experimental size"),
    (["--ns=-1"], "parameter n_source=-1: must be >= 0"),
    (["--ns", "0,10", "--recipe", '{"candidates": "abc"}'],
     "parameter recipe.candidates='abc': expected a list of fine-tuning candidates"),
    (["--ns", "0,10", "--recipe", '{"candidates": [1, 2]}'],
     "parameter recipe.candidates[0]=1: expected an object with fields"),
    (["--ns", "0,10", "--recipe", '{"hidden": [1e9]}'], "parameter recipe.hidden[]=1000000000: must be <= 16384"),
    (["--ns", "0,10", "--recipe", '{"hidden": [4096, 4096, 4096, 4096]}'],
     "parameter recipe.hidden=[4096, 4096, 4096, 4096]: 50,331,648 weights between hidden layers"),
    (["--ns", "0,10", "--recipe", '{"pretrain_min_steps": 500, "pretrain_max_steps": 100}'],
     "parameter recipe.pretrain_min_steps=500: must be <= recipe.pretrain_max_steps=100"),
])
def test_bad_grid_arguments_are_named(small_data, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    rc = cli.main(["grid", CASE, *args, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("s2r: error: ") and message in err, err
    assert not out.exists()


def test_cache_at_the_filesystem_root_is_refused(monkeypatch, tmp_path, capsys):
    from s2rlib.datasets import registry as datasets

    monkeypatch.setenv(paths.CACHE_ENV, "/")
    monkeypatch.delenv("S2R_FEATURE_CACHE", raising=False)
    with pytest.raises(ParameterError, match=r"S2R_CACHE='/': the filesystem root is not a cache directory"):
        paths.cache_dir()
    rc = cli.main(["grid", CASE, "--ns", "0,10", "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and "S2R_CACHE='/'" in capsys.readouterr().err
    assert not Path("/features").exists() or Path("/features").stat().st_mtime < time.time() - 3600


def test_version(capsys):
    from s2rlib import __version__

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"s2r (s2rlib {__version__}") and results.code_version() in out


# ------------------------------------------------------------------------------ 5. which notebook runs


def test_a_notebook_in_the_working_directory_is_not_trusted(tmp_path, monkeypatch, small_data, fake_pm, capsys):
    decoy = tmp_path / "cwd"
    (decoy / "notebooks").mkdir(parents=True)
    (decoy / "_toc.yml").write_text("root: x\n")
    (decoy / "notebooks" / f"{CASE}.ipynb").write_text("{}")
    monkeypatch.chdir(decoy)
    expected = (ROOT / "notebooks" / f"{CASE}.ipynb").resolve()
    assert grid.default_notebook(CASE) == expected
    rc, stdout, err = _grid(capsys, tmp_path / "out", ns="0")
    assert rc == 0, err
    assert f"notebook: {expected}" in stdout
    # the grid says what it computes with, from the recipe it validated
    assert "device: cpu (" in stdout and "precision fp32, matmul blas, pretraining schedule fixed" in stdout
    rc, stdout, err = _grid(capsys, tmp_path / "out2", "--notebook", str(decoy / "notebooks" / f"{CASE}.ipynb"),
                            ns="0")
    assert rc == 0 and f"notebook: {(decoy / 'notebooks' / f'{CASE}.ipynb').resolve()}" in stdout


# ------------------------------------------------------------------------------ 6. failures of a point are merged, named


def test_a_failed_point_is_named_and_the_finished_ones_are_merged(tmp_path, fake_pm, small_data, capsys):
    from nbclient.exceptions import DeadKernelError

    out = tmp_path / "out"
    fake_pm.fail_on = {10: DeadKernelError("Kernel died")}
    rc, _, err = _grid(capsys, out)
    assert rc == 2
    stem = next(p for p in grid.plan(CASE, [10], trials=2, seed=0, out_dir=out, threads=1, check_data=False)).stem
    assert err.startswith("s2r: error: 1 of 4 grid point(s) failed")
    assert f"the 3 finished point(s) are merged into {out / 'results.csv'}" in err
    assert f"n=10 m=all ({out / 'points' / stem}.csv): the kernel died (DeadKernelError: Kernel died)" in err
    assert f"executed notebook: {out / 'executed' / stem}.ipynb" in err
    assert "Traceback" not in err
    table = results.read_table(out / "results.csv")
    assert sorted(table["n_source"].unique()) == [0, 5, 20]
    fake_pm.fail_on, fake_pm.calls = {}, []
    rc, stdout, err = _grid(capsys, out)
    assert rc == 0 and fake_pm.calls == [10] and "1 point(s) computed, 3 already done" in stdout
    assert sorted(results.read_table(out / "results.csv")["n_source"].unique()) == [0, 5, 10, 20]


def test_a_notebook_error_is_named_with_its_exception(tmp_path, fake_pm, small_data, capsys):
    from papermill.exceptions import PapermillExecutionError

    fake_pm.fail_on = {5: PapermillExecutionError(3, 1, "validate()", "ParameterError", "parameter x=1: bad", [])}
    rc, _, err = _grid(capsys, tmp_path / "out")
    assert rc == 2 and "n=5 m=all" in err and "the notebook raised ParameterError: parameter x=1: bad" in err


# ------------------------------------------------------------------------------ 6/7. s2r fit on bad tables


def _table(tmp_path, rows) -> Path:
    path = tmp_path / "t.csv"
    rows.to_csv(path, index=False)
    return path


@pytest.fixture
def good_table(tmp_path):
    parts = [_rows(CASE, n, 3, 0, {}) for n in (0, 10, 30, 100, 300, 1000)]
    for p in parts:  # a law the fit can find: value = 0.1 + n^-0.5, trial noise
        p.loc[p["metric"] == "mae", "value"] = 0.1 + np.maximum(p["n_source"], 1) ** -0.5 + 0.01 * p["trial"]
    return results.seal(pd.concat(parts, ignore_index=True))  # values edited: sealed again


@pytest.mark.parametrize("content,message", [
    ("", "is empty"),
    ("\x00\x01garbage\n\"unclosed,\n", "not a results table"),
    ("a,b\n1,2\n", "not a results table, missing column(s)"),
])
def test_fit_on_an_unusable_file_names_it(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    rc, _, err = _fit(capsys, CASE, "--results", str(path))
    assert rc == 2 and err.startswith(f"s2r: error: {path}") and message in err, err
    assert "Traceback" not in err


def test_fit_on_string_values_names_the_rows(tmp_path, capsys, good_table):
    t = good_table.astype({"value": object})
    t.loc[5, "value"] = "abc"
    rc, _, err = _fit(capsys, CASE, "--results", str(_table(tmp_path, t)))
    assert rc == 2 and "column value: non-numeric value(s) at line(s) [7]: ['abc']" in err, err


def test_fit_refuses_mixed_cases_and_selects_by_the_case_argument(tmp_path, capsys, good_table):
    chi = good_table.assign(case="chi", value=good_table["value"] * 10)
    chi["params_id"] = "c" * 10
    chi = results.seal(chi)
    path = _table(tmp_path, pd.concat([good_table, chi]))
    rc, stdout, err = _fit(capsys, CASE, "--results", str(path), "--n-boot", "20")
    assert rc == 0, err
    assert stdout.startswith(f"{CASE} (m = all, 3 trials)")
    assert f"s2r: warning: {path} also holds rows of case(s) ['chi']; fitting the {CASE} rows" in err
    alone = _table(tmp_path, chi)
    rc, _, err = _fit(capsys, CASE, "--results", str(alone))
    assert rc == 2 and f"{alone} has no rows for case '{CASE}' (it holds: ['chi'])" in err


def test_fit_unknown_metric_lists_the_known_ones(tmp_path, capsys, good_table):
    rc, _, err = _fit(capsys, CASE, "--results", str(_table(tmp_path, good_table)), "--metric", "maee")
    assert rc == 2 and "parameter --metric='maee': not in the table; known metrics: ['mae', 'n_train', 'rmse']" in err


def test_fit_bad_n_boot(tmp_path, capsys, good_table):
    rc, _, err = _fit(capsys, CASE, "--results", str(_table(tmp_path, good_table)), "--n-boot", "-5")
    assert rc == 2 and "parameter --n-boot=-5: must be >= 1" in err


def test_fit_reports_non_finite_cells(tmp_path, capsys, good_table):
    t = good_table.copy()
    mae = t.index[(t["metric"] == "mae") & (t["n_source"] == 100) & (t["trial"] == 1)][0]
    inf = t.index[(t["metric"] == "mae") & (t["n_source"] == 300) & (t["trial"] == 2)][0]
    t.loc[mae, "value"] = np.nan
    t.loc[inf, "value"] = np.inf
    t = results.seal(t)  # a table made by hand, sealed: the fit still leaves non-finite cells out
    rc, stdout, err = _fit(capsys, CASE, "--results", str(_table(tmp_path, t)), "--n-boot", "20")
    assert rc == 0, err
    assert "2 non-finite mae value(s) left out of the fit: n=100 trial 1 (nan), n=300 trial 2 (inf)" in err
    assert "nan, nan" not in stdout


def test_fit_uses_the_book_path_and_its_cache(tmp_path, capsys, good_table, monkeypatch, caplog):

    assert fit_cache.fit_case is fit_cache.fit_case and selection.select_grid.__module__ == "s2rlib.grid.selection"
    monkeypatch.setenv("S2R_FIT_CACHE", str(tmp_path / "fits"))
    path = _table(tmp_path, good_table)
    rc, first, err = _fit(capsys, CASE, "--results", str(path), "--n-boot", "20")
    assert rc == 0, err
    (entry,) = (tmp_path / "fits").glob("*.pkl")
    entry.write_bytes(b"\x80\x04garbage")  # a damaged fitted-law cache entry
    with caplog.at_level(logging.WARNING):
        rc, second, err = _fit(capsys, CASE, "--results", str(path), "--n-boot", "20")
    assert rc == 0 and second == first
    assert f"damaged fit cache {entry}" in caplog.text and Path(f"{entry}.damaged").is_file()
    with open(entry, "rb") as fh:
        assert pickle.load(fh).fit.status == fit_cache.fit_case(good_table, n_boot=20).fit.status


# ------------------------------------------------------------------------------ real papermill: kill the kernel, the runner


NOTEBOOK = """\
import os, signal, json
from pathlib import Path
import pandas as pd
from s2rlib.cases import registry
from s2rlib.grid import results

fault = os.environ.get("S2R_TEST_FAULT", "")
marker = Path(output_path).parent.parent / ("fault-done-" + str(n_source))
if fault and int(fault.split(":")[1]) == n_source and not marker.exists():
    marker.write_text("x")
    if fault.startswith("kill_kernel"):
        os.kill(os.getpid(), signal.SIGKILL)
    else:  # kill the runner (the kernel's parent), then this kernel
        os.kill(os.getppid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
rows = pd.DataFrame([{"trial": t, "seed": seed + t, "metric": k, "value": (1.0 + t) / (1.0 + n_source) + i,
                      "selected_recipe": "x"} for t in range(trials) for i, k in enumerate(["mae", "rmse"])])
params = {"case": case, "trials": trials, "seed": seed, "recipe": json.loads(recipe_json), "threads": threads}
# a point records the data it came from (points of other data are set aside); the in-process tests plan on a small case
sha = os.environ.get("S2R_TEST_DATA_SHA") or registry.load_case(case).data_sha256
results.write_atomic(results.tidy(case, n_source, m_target, rows, params, sha, 0.1), output_path)
"""


@pytest.fixture
def tiny_notebook(tmp_path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('case = "x"\nn_source = 0\nm_target = -1\ntrials = 1\nseed = 0\n'
                                       'recipe_json = "{}"\nthreads = 1\noutput_path = ""\nprogress = False')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(NOTEBOOK)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_a_killed_kernel_is_named_finished_points_merged_and_rerun_repairs(tmp_path, tiny_notebook, small_data,
                                                                        capsys, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("S2R_TEST_FAULT", "kill_kernel:5")
    monkeypatch.setenv("S2R_TEST_DATA_SHA", _small_case().data_sha256)
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "src"))
    rc, _, err = _grid(capsys, out, "--notebook", str(tiny_notebook), ns="0,5,10")
    assert rc == 2, err
    assert "s2r: error: 1 of 3 grid point(s) failed" in err
    assert "n=5 m=all" in err and "the kernel died (DeadKernelError" in err and "Traceback" not in err
    assert sorted(results.read_table(out / "results.csv")["n_source"].unique()) == [0, 10]
    before = {p.name: p.read_bytes() for p in (out / "points").glob("*.csv")}
    rc, stdout, err = _grid(capsys, out, "--notebook", str(tiny_notebook), ns="0,5,10")
    assert rc == 0, err
    assert "1 point(s) computed, 2 already done" in stdout
    assert all((out / "points" / k).read_bytes() == v for k, v in before.items())
    assert sorted(results.read_table(out / "results.csv")["n_source"].unique()) == [0, 5, 10]


@pytest.mark.slow
def test_a_killed_runner_loses_only_the_point_in_flight(tmp_path, tiny_notebook):
    out = tmp_path / "out"
    env = {**os.environ, "S2R_TEST_FAULT": "kill_runner:10", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "s2rlib.cli", "grid", CASE, "--ns", "0,5,10,20", "--trials", "2", "--out", str(out),
           "--notebook", str(tiny_notebook), "--threads", "1", "--ms", "all", "--quiet"]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    names = sorted(p.name for p in (out / "points").glob("*.csv"))
    assert [n[:8] for n in names] == ["n0000000", "n0000005"]  # finished points kept, the one in flight absent
    kept = {n: (out / "points" / n).read_bytes() for n in names}
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 point(s) computed, 2 already done" in rerun.stdout
    assert all((out / "points" / n).read_bytes() == b for n, b in kept.items())
    table = results.read_table(out / "results.csv")
    assert sorted(table["n_source"].unique()) == [0, 5, 10, 20] and not table.duplicated(KEYS).any()


def test_an_unexpected_exception_is_one_error_line_not_a_traceback(monkeypatch, tmp_path, capsys):
    def boom(*args, **kwargs):
        raise TypeError("boom")

    monkeypatch.setattr(grid, "plan", boom)
    monkeypatch.delenv("S2R_TRACEBACK", raising=False)
    rc = cli.main(["grid", CASE, "--ns", "0", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert err.startswith("s2r: error: internal error in s2r grid (TypeError: boom); this is a bug")
