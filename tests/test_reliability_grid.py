"""The grid runner under interruption, concurrency and reruns; reproducibility and provenance.

Fast tests replace papermill by a stand-in that writes a point file (what the notebook's last cell
does), to check the locking, resume and atomic-write logic in-process. The slow tests run the real
``s2r grid formation_enthalpy`` command (papermill, the real notebook, a tiny recipe) as
subprocesses: one killed with SIGKILL in the middle and rerun, one uninterrupted, one with another
seed, and two at once on the same results directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2rlib.grid import runner as grid
from s2rlib.grid import results

ROOT = Path(__file__).resolve().parents[1]
TINY = {"finetune_max_epochs": 2, "pretrain_min_steps": 5, "pretrain_max_steps": 10, "hidden": [16]}
KEYS = ["case", "n_source", "m_target", "trial", "metric"]
VOLATILE = ["wall_s", "code_version", "point_sha256"]  # may differ between two runs of the same grid (the seal hashes wall_s)


# ------------------------------------------------------------------------------ in-process (fast)


class FakePapermill:
    """Stands in for papermill.execute_notebook: writes the point file like the notebook's last cell."""

    def __init__(self, delay: float = 0.0, fail_on: set | None = None):
        self.calls: list[int] = []
        self.delay = delay
        self.fail_on = fail_on or set()
        self.lock = threading.Lock()

    def __call__(self, notebook, out_nb, parameters, **kwargs):
        with self.lock:
            self.calls.append(parameters["n_source"])
        time.sleep(self.delay)
        n = parameters["n_source"]
        if n in self.fail_on:
            raise KeyboardInterrupt(f"killed while computing n={n}")
        rows = pd.DataFrame([{"trial": t, "seed": parameters["seed"] + t, "metric": "mae",
                              "value": 1.0 / (1 + n) + t, "selected_recipe": "x"} for t in range(parameters["trials"])])
        params = {"case": parameters["case"], "trials": parameters["trials"], "seed": parameters["seed"],
                  "recipe": json.loads(parameters["recipe_json"])}
        results.write_atomic(results.tidy(parameters["case"], n, None, rows, params, "ab" * 32, 0.1),
                             parameters["output_path"])


@pytest.fixture
def fake_pm(monkeypatch):
    import papermill

    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    return fake


def _points(out, ns, seed=0):
    return grid.plan("formation_enthalpy", ns, trials=2, seed=seed, out_dir=out, recipe=TINY, check_data=False)


def test_point_lock_lets_one_of_two_concurrent_callers_compute(tmp_path, fake_pm):
    fake_pm.delay = 0.5
    point = _points(tmp_path, [10])[0]
    got = []
    threads = [threading.Thread(target=lambda: got.append(grid._execute_point(point))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake_pm.calls == [10]
    assert sorted(ran for _, ran in got) == [False, True]
    assert {p for p, _ in got} == {str(point.point_path)}


def test_interrupted_grid_keeps_finished_points_and_redoes_the_rest(tmp_path, fake_pm):
    points = _points(tmp_path, [0, 5, 10, 20])
    fake_pm.fail_on = {10}
    with pytest.raises(KeyboardInterrupt):
        grid.run_grid(points, progress=False)
    done = sorted(p.name for p in (tmp_path / "points").glob("*.csv"))
    assert done == [points[0].point_path.name, points[1].point_path.name]
    assert not (tmp_path / "results.csv").exists()
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "points").glob("*.csv")}
    fake_pm.fail_on, fake_pm.calls = set(), []
    res = grid.run_grid(points, progress=False)
    assert fake_pm.calls == [10, 20]
    assert len(res.computed) == 2 and len(res.skipped) == 2
    assert {p: p.stat().st_mtime_ns for p in before} == before
    table = results.read_table(tmp_path / "results.csv")
    assert sorted(table.n_source.unique()) == [0, 5, 10, 20] and not table.duplicated(KEYS).any()


def test_results_table_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    good = pd.DataFrame({c: [1] for c in results.COLUMNS})
    results.write_atomic(good, path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # readable like any other file
    original = path.read_bytes()

    def dies_half_way(self, fh, **kwargs):
        fh.write("case,n_source,m_tar")  # a partial header, then the writer dies
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", dies_half_way)
    with pytest.raises(OSError, match="No space left"):
        results.write_atomic(good, path)
    assert path.read_bytes() == original  # readers never see the partial table
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # and no temporary file is left


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_merge_ignores_temporary_files_of_a_killed_writer(tmp_path, fake_pm):
    points = _points(tmp_path, [0, 5])
    grid.run_grid(points, progress=False)
    # what a writer killed between mkstemp and os.replace leaves behind
    (tmp_path / "points" / f".{points[1].point_path.name}.abc123.tmp").write_text("case,n_sou")
    table = grid.merge(tmp_path)
    assert list(table.columns) == results.COLUMNS and len(table) == 4
    pd.testing.assert_frame_equal(results.read_table(tmp_path / "results.csv"), table, check_dtype=False)


# ------------------------------------------------------------------------------ real subprocesses (slow)


@pytest.fixture(scope="module")
def fe_data():
    """Load formation_enthalpy once, which fills the (session) feature cache the notebooks read."""
    from s2rlib.cases import registry as cases

    return cases.load_case("formation_enthalpy")


def _s2r(out: Path, ns: str, *, seed: int = 0, log: Path | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "s2rlib.cli", "grid", "formation_enthalpy", "--ns", ns, "--ms", "all", "--trials", "2",
           "--seed", str(seed), "--recipe", json.dumps(TINY), "--threads", "1", "--workers", "1", "--out", str(out),
           "--quiet"]
    log = log or out.with_name(out.name + f".{time.monotonic_ns()}.log")
    fh = open(log, "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    proc.log = log
    fh.close()
    return proc


def _finish(proc: subprocess.Popen, timeout: float = 400) -> str:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        raise
    text = Path(proc.log).read_text()
    assert proc.returncode == 0, text
    return text


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the runner's process group and every descendant (jupyter kernels run in their own session)."""
    import psutil

    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)
    psutil.wait_procs(family, timeout=30)


def _wait_for(predicate, timeout: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _state(points_dir: Path) -> dict[str, tuple[int, str]]:
    return {p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(points_dir.glob("*.csv"))}


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=VOLATILE).sort_values(KEYS).reset_index(drop=True)


@pytest.fixture(scope="module")
def killed_and_clean(fe_data, tmp_path_factory):
    """Grid A: killed (SIGKILL, whole process group) after its first point, then rerun. Grid B: uninterrupted."""
    base = tmp_path_factory.mktemp("grids")
    a, b = base / "A", base / "B"
    ns = "0,5,10,20"
    proc = _s2r(a, ns)
    try:
        _wait_for(lambda: len(list((a / "points").glob("*.csv"))) >= 1 or proc.poll() is not None, 300,
                  "the first point file")
        assert proc.poll() is None, Path(proc.log).read_text()
        # the second point is in flight once its lock exists and its kernel has started
        _wait_for(lambda: len(list((a / "points").glob("*.lock"))) >= 2, 60, "the second point to start")
        time.sleep(1.0)
    finally:
        _kill_tree(proc)
    killed_at = time.time_ns()
    after_kill = _state(a / "points")
    leftovers = sorted(p.name for p in a.rglob("*") if p.is_file())
    results_after_kill = (a / "results.csv").exists()
    resumed = _finish(_s2r(a, ns))
    clean = _finish(_s2r(b, ns))
    return dict(a=a, b=b, after_kill=after_kill, killed_at=killed_at, leftovers=leftovers,
                results_after_kill=results_after_kill, resumed=resumed, clean=clean)


@pytest.mark.slow
def test_killed_grid_resumes_without_redoing_or_corrupting(killed_and_clean):
    r = killed_and_clean
    a = r["a"]
    finished = r["after_kill"]
    assert 1 <= len(finished) < 4, finished  # the first point (the second was in flight when killed)
    # nothing half-written is visible as a result: every *.csv left is a complete table
    assert not r["results_after_kill"]
    for name in r["leftovers"]:
        assert not name.endswith(".csv") or name in finished, r["leftovers"]
    # the rerun kept the finished point (same bytes, same mtime) and redid the interrupted one
    now = _state(a / "points")
    assert len(now) == 4
    for name, state in finished.items():
        assert now[name] == state
    redone = sorted(set(now) - set(finished))
    assert all(now[name][0] > r["killed_at"] for name in redone)
    assert f"{4 - len(finished)} point(s) computed, {len(finished)} already done" in r["resumed"]
    assert "4 point(s) computed, 0 already done" in r["clean"]
    # the merged table parses with the schema, each row once, and equals the uninterrupted run's
    ta = results.read_table(a / "results.csv")
    tb = results.read_table(r["b"] / "results.csv")
    assert list(ta.columns) == results.COLUMNS
    assert not ta.duplicated(KEYS).any() and sorted(ta.n_source.unique()) == [0, 5, 10, 20]
    pd.testing.assert_frame_equal(_comparable(ta), _comparable(tb))
    for f in (a / "points").glob("*.csv"):
        assert list(results.read_table(f).columns) == results.COLUMNS


@pytest.mark.slow
def test_same_seed_same_metrics_and_full_provenance(killed_and_clean, fe_data):
    ta = results.read_table(killed_and_clean["a"] / "results.csv")
    tb = results.read_table(killed_and_clean["b"] / "results.csv")
    va = ta.set_index(KEYS)["value"].sort_index()
    vb = tb.set_index(KEYS)["value"].sort_index()
    assert (va.to_numpy() == vb.to_numpy()).all()  # bit-identical, not merely close
    mae = tb[tb.metric == "mae"]
    assert len(mae) == 8 and (mae.value > 0).all()
    from s2rlib import __version__

    for _, row in tb.iterrows():
        params = json.loads(row.params)
        assert params["case"] == "formation_enthalpy" and params["trials"] == 2 and params["seed"] == 0
        assert params["recipe"]["hidden"] == [16] and params["recipe"]["pretrain_max_steps"] == 10
        assert row.seed == params["seed"] + row.trial
        assert row.params_id == results.params_id(params)
        assert row.data_sha256 == fe_data.data_sha256
        assert row.code_version.startswith(__version__)


@pytest.mark.slow
def test_different_seed_gives_different_values(killed_and_clean, tmp_path):
    out = tmp_path / "C"
    _finish(_s2r(out, "5", seed=1))
    tc = results.read_table(out / "results.csv")
    tb = results.read_table(killed_and_clean["b"] / "results.csv")
    mc = tc[(tc.metric == "mae")].sort_values("trial")["value"].to_numpy()
    mb = tb[(tb.metric == "mae") & (tb.n_source == 5)].sort_values("trial")["value"].to_numpy()
    assert len(mc) == len(mb) == 2 and not np.isclose(mc, mb).any()
    assert set(tc.seed) == {1, 2}


@pytest.mark.slow
def test_two_concurrent_runs_on_one_directory(killed_and_clean, tmp_path):
    out = tmp_path / "shared"
    first = _s2r(out, "0,5", log=tmp_path / "first.log")
    second = _s2r(out, "5,10", log=tmp_path / "second.log")
    logs = [_finish(first), _finish(second)]
    computed = sum(int(log.split(" point(s) computed")[0].split()[-1]) for log in logs)
    skipped = sum(int(log.split(" already done")[0].split()[-1]) for log in logs)
    assert (computed, skipped) == (3, 1), logs  # the shared point n=5 was computed once
    table = results.read_table(out / "results.csv")
    assert list(table.columns) == results.COLUMNS
    assert not table.duplicated(KEYS).any()
    assert sorted(table.n_source.unique()) == [0, 5, 10]
    assert len(list((out / "points").glob("*.csv"))) == 3
    # and the values are those of the sequential, uninterrupted run with the same seed
    tb = results.read_table(killed_and_clean["b"] / "results.csv")
    pd.testing.assert_frame_equal(_comparable(table), _comparable(tb[tb.n_source.isin([0, 5, 10])]))


@pytest.mark.slow
def test_one_grid_has_one_params_id_and_fits(killed_and_clean, capsys):
    from s2rlib import cli

    b = killed_and_clean["b"]
    table = results.read_table(b / "results.csv")
    assert table.params_id.nunique() == 1  # the same for every n of one grid (pretrain_steps left out)
    pid = table.params_id.iloc[0]
    assert all(f.stem.endswith(f"_{pid}") for f in (b / "points").glob("*.csv"))  # point files name their grid
    rc = cli.main(["fit", "formation_enthalpy", "--results", str(b / "results.csv"), "--n-boot", "10"])
    out = capsys.readouterr().out
    assert rc == 0 and "formation_enthalpy (m = all, 2 trials): status" in out


def test_threads_are_recorded_but_not_part_of_the_grid_identity(tmp_path):
    """A grid resumed with another thread count goes on (threads change float rounding only); a
    different recipe is a different grid."""
    kw = dict(trials=2, seed=0, out_dir=tmp_path, recipe=TINY, check_data=False)
    one = grid.plan("formation_enthalpy", [0, 5], threads=1, **kw)
    two = grid.plan("formation_enthalpy", [0, 5], threads=2, **kw)
    assert [p.params["threads"] for p in one + two] == [1, 1, 2, 2]
    assert [p.point_path for p in one] == [p.point_path for p in two]
    other = grid.plan("formation_enthalpy", [0, 5], threads=1, **{**kw, "recipe": {**TINY, "hidden": [8]}})
    assert other[0].pid != one[0].pid
    cpus = len(os.sched_getaffinity(0))
    assert grid.default_threads(1) == cpus and grid.default_threads(cpus * 2) == 1
    assert grid.default_threads(2) == max(1, cpus // 2)
