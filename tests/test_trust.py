"""Fault injection for issue 29, "own data you can trust": data identity, verified stored state,
safe generated pages and one ``s2r: error`` line per failure.

In the style of :mod:`test_faults` (whose stand-ins it uses): each test breaks something a user can
break and asserts that the message names the file, parameter or point, that nothing computed is
lost, and that a rerun repairs it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import s2rlib.cases.registry
from s2rlib.grid import results
from s2rlib.grid import runner as grid
from s2rlib._core.errors import DataError

from test_cases import cases_dir  # noqa: F401
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


# ------------------------------------------------------------------------------ 2. verified stored state: point files


def _one_trial_point(tmp_path, n: int = 10, metrics: int = 14) -> Path:
    """A point file of one trial with ``metrics`` metric rows, as a notebook writes it."""
    rows = pd.DataFrame([{"trial": 0, "seed": 0, "metric": f"m{i:02d}", "value": 0.5 + i, "selected_recipe": "x"}
                         for i in range(metrics)])
    params = {"case": CASE, "trials": 1, "seed": 0, "m_target": -1, "recipe": {}, "threads": 1}
    table = results.tidy(CASE, n, -1, rows, params, "ab" * 32, 0.1)
    path = tmp_path / "points" / f"n{n:07d}_mall_{table['params_id'].iloc[0]}.csv"
    results.write_atomic(table, path)
    return path


def test_a_one_trial_point_cut_at_a_row_boundary_is_damaged(tmp_path, caplog):
    path = _one_trial_point(tmp_path)
    assert results.point_problem(path) is None
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:4]))  # the header and 3 of the trial's 14 metric rows
    with caplog.at_level(logging.WARNING):
        assert results.read_point(path) is None
    assert f"damaged point file {path}: its rows do not match the point_sha256 they carry" in caplog.text
    assert "a value, a row or a column was changed or lost after it was written" in caplog.text
    assert Path(f"{path}.damaged").is_file()


def test_a_changed_value_in_a_point_file_is_damaged(finished, fake_pm, capsys, caplog):
    out, _ = finished
    path = _point(out, 5)
    df = pd.read_csv(path)
    df.loc[0, "value"] = df.loc[0, "value"] * 0.5  # a better MAE, written by hand
    df.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING):
        rc, _, err = _grid(capsys, out)
    assert rc == 0 and fake_pm.calls == [5]
    assert f"damaged point file {path}: its rows do not match the point_sha256" in caplog.text


def test_a_changed_value_in_the_merged_table_is_rebuilt_from_the_points(finished, caplog):
    out, before = finished
    table_path = out / "results.csv"
    df = pd.read_csv(table_path)
    df.loc[3, "value"] = 99.0
    df.to_csv(table_path, index=False)
    with caplog.at_level(logging.WARNING):
        table = results.load_results(table_path)
    assert f"damaged results table {table_path}" in caplog.text and "point_sha256" in caplog.text
    assert 99.0 not in table["value"].tolist()


def test_results_table_lacking_the_n_all_rows_is_stale(tmp_path, caplog):
    out = tmp_path / "out"
    pts = {n: _rows(CASE, n, 2, 0, {}) for n in (0, 10, 50)}
    pid = pts[0]["params_id"].iloc[0]
    for n, df in pts.items():  # n = 50 is the whole source: its file is nall_*
        results.write_atomic(df, out / "points" / (f"nall_mall_{pid}.csv" if n == 50 else f"n{n:07d}_mall_{pid}.csv"))
    results.write_atomic(pd.concat([pts[0], pts[10]]), out / "results.csv")  # the n = all rows lost
    with caplog.at_level(logging.WARNING):
        table = results.load_results(out / "results.csv")
    assert f"results table {out / 'results.csv'} lacks 1 finished point(s)" in caplog.text
    assert "n_source=50, m_target=all" in caplog.text
    assert sorted(table["n_source"].unique()) == [0, 10, 50]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        results.load_results(out / "results.csv")
    assert caplog.text == ""  # merged again once, then current


def test_a_nan_metric_is_a_failed_point_never_a_sound_one(tmp_path):
    rows = pd.DataFrame([{"trial": 0, "seed": 0, "metric": k, "value": v, "selected_recipe": "x"}
                         for k, v in (("mae", np.nan), ("rmse", np.inf), ("sim_mae", np.nan))])
    params = {"case": CASE, "trials": 1, "seed": 0, "m_target": -1, "recipe": {}, "threads": 1}
    with pytest.raises(DataError) as err:
        results.tidy(CASE, 10, -1, rows, params, "ab" * 32, 0.1)
    assert str(err.value) == (f"point n_source=10, m_target=-1 of case {CASE}: non-finite metric(s): trial 0 mae = "
                              f"nan, trial 0 rmse = inf; a point with a non-finite metric is a failed point, it is "
                              f"not written")
    path = _one_trial_point(tmp_path, metrics=3)  # written before the check: a NaN mae in a point file
    df = pd.read_csv(path)
    df.loc[0, "value"] = np.nan
    results.write_atomic(results.seal(df), path)
    assert results.point_problem(path) == "non-finite metric(s): trial 0 m00 = nan"


# ------------------------------------------------------------------------------ 2. verified stored state: pretrained networks


@pytest.fixture
def pretrain(tmp_path, monkeypatch):
    """A first run that stores its pretrained network; returns (run, its rows, the cache entry)."""
    import dataclasses

    from s2rlib.training import pretrain_cache, transfer
    from test_transfer import FAST, synthetic_case

    data = synthetic_case(8, n_source=300, n_target=100)
    rec = dataclasses.replace(FAST, y_scale="source")
    monkeypatch.setenv(pretrain_cache.PRETRAIN_CACHE_ENV, str(tmp_path / "pre"))

    def run():
        return transfer.run_trials(data, 200, trials=1, seed=0, recipe=rec, progress=False)

    first = run()
    (entry,) = (tmp_path / "pre").glob("*.pt")
    return run, first, entry


def _rewrite(entry: Path, change) -> None:
    import torch

    stored = torch.load(entry, weights_only=True)
    change(stored)
    torch.save(stored, entry)  # a valid zip: only the content tells


@pytest.mark.parametrize("damage,message", [
    ("times3", "the weights were changed after they were stored"),
    ("nan", "non-finite weights in"),
    ("bytes", "damaged ("),
])
def test_a_damaged_pretrained_network_is_set_aside_recomputed_and_named(pretrain, caplog, damage, message):
    import torch

    from s2rlib.training import pretrain_cache

    run, first, entry = pretrain
    if damage == "times3":
        _rewrite(entry, lambda s: s["state"].update({k: v * 3 for k, v in s["state"].items()}))
    elif damage == "nan":  # NaN weights, hash made to match: the finiteness check catches them
        def poison(s):
            k = next(iter(s["state"]))
            s["state"][k] = torch.full_like(s["state"][k], float("nan"))
            s["sha256"] = pretrain_cache.state_hash(s["state"])
        _rewrite(entry, poison)
    else:
        entry.write_bytes(np.random.default_rng(0).bytes(entry.stat().st_size))
    with caplog.at_level(logging.WARNING):
        again = run()
    assert again.attrs["pretrain_reused"] == 0
    assert f"pretrained-network cache entry {entry} is damaged" in caplog.text and message in caplog.text
    assert Path(f"{entry}.damaged").is_file()
    np.testing.assert_array_equal(first["value"].to_numpy(), again["value"].to_numpy())
    assert run().attrs["pretrain_reused"] == 1  # the recomputed entry is sound


def test_a_cache_that_cannot_be_written_is_a_warning_not_a_failure(pretrain, tmp_path, monkeypatch, caplog):
    import errno

    from s2rlib.training import pretrain_cache

    run, first, entry = pretrain
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv(pretrain_cache.PRETRAIN_CACHE_ENV, str(blocker / "pre"))  # cannot be made: read-only
    with caplog.at_level(logging.WARNING):
        rows = run()
    assert f"pretrained-network cache {blocker / 'pre'} cannot be written" in caplog.text
    assert "going on without it" in caplog.text
    np.testing.assert_array_equal(first["value"].to_numpy(), rows["value"].to_numpy())

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    entry.unlink()
    monkeypatch.setenv(pretrain_cache.PRETRAIN_CACHE_ENV, str(entry.parent))
    monkeypatch.setattr(pretrain_cache, "atomic_write", full)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        rows = run()
    assert f"pretrained-network cache entry {entry} not stored (No space left on device)" in caplog.text
    np.testing.assert_array_equal(first["value"].to_numpy(), rows["value"].to_numpy())


# ------------------------------------------------------------------------------ 3. safe generated pages

INJECT = {
    "code cell": "x\n\n```{code-cell} ipython3\nopen('/tmp/pwned', 'w')\n```\n",
    "directive": ":::{raw} html\n<b>raw</b>\n:::",
    "role": "gap {eval-rst}`.. raw:: html` and {doc}`../intro`",
    "script": "<script>alert(1)</script> & <img src=x onerror=alert(2)>",
    "math and comment": "% hidden\n$\\\\input{/etc/passwd}$",
}


def _md_tokens(text: str):
    from markdown_it import MarkdownIt
    from mdit_py_plugins.colon_fence import colon_fence_plugin
    from myst_parser.parsers.mdit import create_md_parser
    from myst_parser.config.main import MdParserConfig
    from myst_parser.mdit_to_docutils.base import DocutilsRenderer

    md = create_md_parser(MdParserConfig(enable_extensions={"colon_fence", "dollarmath"}), DocutilsRenderer)
    return md.parse(text)


def _all_tokens(tokens):
    for t in tokens:
        yield t
        yield from _all_tokens(t.children or [])


def _page_for(cases_dir, tmp_path, capsys, **strings) -> str:
    from s2rlib.book import case_pages
    from s2rlib import cli
    from s2rlib.cases import registry
    from test_cases import OXIDES, TARGET, _rows as csv_rows

    (tmp_path / "sim.csv").write_text(csv_rows(zip(OXIDES, np.linspace(0.1, 3, 20))))
    (tmp_path / "exp.csv").write_text(csv_rows(zip(TARGET, np.linspace(0.2, 2.5, 15))))
    args = [f"--{k.replace('_', '-')}={v}" for k, v in strings.items()]
    rc = cli.main(["new-case", "inj", "--source", str(tmp_path / "sim.csv"), "--target", str(tmp_path / "exp.csv"),
                   "--kind", "composition", "--units", "eV", "--property", "band gap", *args])
    assert rc == 0, capsys.readouterr().err
    return case_pages.page_text(registry.get_case("inj"))


@pytest.mark.parametrize("what", list(INJECT))
def test_user_strings_reach_the_page_only_as_text(what, cases_dir, tmp_path, capsys):
    from s2rlib.grid import notebooks
    from s2rlib.cases import registry

    plain = _page_for(cases_dir, tmp_path, capsys, title="plain")
    (cases_dir / "inj.toml").unlink()
    hostile = INJECT[what]
    page = _page_for(cases_dir, tmp_path, capsys, title=hostile.replace("\n", " "),
                     source_description=hostile.replace("\n", " "), notes=hostile.replace("\n", " "))
    kinds = lambda text: sorted(t.type + ":" + (t.info or "") for t in _all_tokens(_md_tokens(text))
                                if t.type in ("fence", "colon_fence", "html_block", "html_inline", "math_inline",
                                              "math_block", "myst_role", "myst_line_comment"))
    assert kinds(page) == kinds(plain)  # no cell, directive, role, math, comment or HTML more than a plain title
    assert not re.search(r"(?<!\\)<(script|img)", page) and "```{code-cell} ipython3\nopen" not in page
    (heading,) = [t for t in _all_tokens(_md_tokens(page)) if t.type == "inline" and "plain" not in t.content
                  and t.map and page.splitlines()[t.map[0]].startswith("# ")]
    assert "".join(c.content for c in heading.children if c.type == "text") == " ".join(hostile.split())
    from s2rlib.book.display import to_markdown
    from s2rlib.book.run_tables import case_header_table

    header = to_markdown(case_header_table("inj", None, tmp_path), index=False)  # the page's first table
    assert kinds(header) == [] and not re.search(r"(?<!\\)<(script|img)", header)
    nb = notebooks.notebook_text(registry.get_case("inj"))
    assert not re.search(r"(?<!\\)<(script|img)", nb) and "```{code-cell} ipython3\\nopen" not in nb


def test_a_line_break_in_a_title_or_markup_in_property_and_units_is_refused(cases_dir, tmp_path, capsys):
    from s2rlib import cli
    from test_cases import OXIDES, TARGET, _rows as csv_rows

    (tmp_path / "sim.csv").write_text(csv_rows(zip(OXIDES, np.linspace(0.1, 3, 20))))
    (tmp_path / "exp.csv").write_text(csv_rows(zip(TARGET, np.linspace(0.2, 2.5, 15))))
    base = ["new-case", "inj", "--source", str(tmp_path / "sim.csv"), "--target", str(tmp_path / "exp.csv"),
            "--kind", "composition", "--property", "band gap"]
    for args, message in [
        (["--units", "eV", "--title", INJECT["code cell"]], 'title="x\\n\\n```{code-cell} ipython3'),
        (["--units", "eV", "--property", "gap {eval-rst}`x`"], "property='gap {eval-rst}`x`': expected plain text"),
        (["--units", "<script>eV"], "units='<script>eV': expected plain text"),
    ]:
        assert cli.main(base + args) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"s2r: error: case file {cases_dir / 'inj.toml'}: ") and message in err, err
        assert not (cases_dir / "inj.toml").exists()


# ------------------------------------------------------------------------------ 4. every failure an s2r: error line


@pytest.mark.parametrize("args,message", [
    (["--workers", "0"], "parameter --workers=0: must be >= 1"),
    (["--workers=-3"], "parameter --workers=-3: must be >= 1"),
    (["--seed", str(2**64)], f"parameter seed={2**64}: must be <= {2**32 - 1}"),
    (["--seed", str(2**32 - 1)], "seed + trials - 1 = 4294967296 must be <= 4294967295"),
])
def test_grid_ranges_are_named(small_data, tmp_path, capsys, args, message):
    from s2rlib import cli

    rc = cli.main(["grid", CASE, "--ns", "0,10", "--trials", "2", "--out", str(tmp_path / "o"), "--quiet", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("s2r: error: ") and message in err, err


def test_a_size_given_twice_is_refused_not_counted_as_done(small_data, tmp_path, capsys, fake_pm):
    rc, _, err = _grid(capsys, tmp_path / "o", ns="0,0,100")
    assert rc == 2 and "s2r: error: parameter ns: 0 given more than once; list each size once" in err
    assert fake_pm.calls == []


@pytest.mark.parametrize("sig,code,name", [("INT", 130, "SIGINT"), ("TERM", 143, "SIGTERM")])
def test_an_interrupted_grid_is_one_line_and_keeps_the_finished_points(finished, fake_pm, capsys, sig, code, name):
    import os
    import signal

    out, _ = finished
    _point(out, 20).unlink()
    fake_pm.fail_on = {20: KeyboardInterrupt()} if sig == "INT" else {}
    if sig == "TERM":

        class Killer(type(fake_pm)):
            def __call__(self, notebook, out_nb, parameters, **kw):
                os.kill(os.getpid(), signal.SIGTERM)

        import papermill
        papermill.execute_notebook = Killer()
    rc, _, err = _grid(capsys, out)
    assert rc == code
    assert err.strip().splitlines() == [
        f"s2r: error: s2r grid interrupted ({name}); every finished grid point is kept in its points/ folder "
        f"(results.csv is merged again when next read); rerun the same command to go on"]
    assert len(list((out / "points").glob("*.csv"))) == 3
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or sig == "INT"


def test_a_case_file_naming_a_loader_outside_the_package_is_left_out_unimported(tmp_path, monkeypatch):
    """A colleague's case file with ``loader = "this:s"`` never imports ``this``: it is left out when read,
    with the list of the package's loaders, and asking for it names the reason."""
    import sys

    from s2rlib.cases import case_file, registry
    from s2rlib._core.errors import ParameterError

    (tmp_path / "mine.toml").write_text(CASE_FILE.replace('grouping = "reduced formula"',
                                                          'grouping = "reduced formula"\nloader = "this:s"'))
    sys.modules.pop("this", None)
    monkeypatch.setenv(case_file.CASES_ENV, str(tmp_path))
    try:
        registry.reload()
        assert "mine" not in registry.CASES and "this" not in sys.modules
        assert "loader = 'this:s': expected one of the package's loaders" in " ".join(registry.PROBLEMS.values())
        with pytest.raises(ParameterError, match="loader = 'this:s'"):
            registry.get_case("mine")
    finally:
        monkeypatch.undo()
        registry.reload()


def test_cases_dir_pointing_to_a_file_is_refused(tmp_path, monkeypatch, capsys):
    from s2rlib import cli
    from s2rlib.cases import case_file, registry

    f = tmp_path / "cases.toml"
    f.write_text("")
    monkeypatch.setenv(case_file.CASES_ENV, str(f))
    try:
        registry.reload()
        assert f"${case_file.CASES_ENV}={f}: not a directory" in " ".join(registry.PROBLEMS.values())
        rc = cli.main(["new-case", "x", "--source", "a.csv", "--target", "b.csv", "--kind", "composition",
                       "--units", "eV", "--property", "band gap"])
        err = capsys.readouterr().err
        assert rc == 2 and f"s2r: error: ${case_file.CASES_ENV}={f}: not a directory ({f} is a file)" in err, err
    finally:
        monkeypatch.undo()
        registry.reload()


@pytest.mark.parametrize("values,message", [
    ([1.5] * 15, "every value in the target file's target column is 1.5: a constant cannot be learned"),
    ([1.0] * 14 + [1e300], "1 value(s) in the target file's target column beyond ±1e+15 (largest 1e+300, line(s) [16])"),
])
def test_a_constant_or_absurd_target_is_refused_by_new_case(cases_dir, tmp_path, capsys, values, message):
    from s2rlib import cli
    from test_cases import OXIDES, TARGET, _rows as csv_rows

    (tmp_path / "sim.csv").write_text(csv_rows(zip(OXIDES, np.linspace(0.1, 3, 20))))
    (tmp_path / "exp.csv").write_text(csv_rows(zip(TARGET, values)))
    rc = cli.main(["new-case", "c", "--source", str(tmp_path / "sim.csv"), "--target", str(tmp_path / "exp.csv"),
                   "--kind", "composition", "--units", "eV", "--property", "band gap"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"s2r: error: {tmp_path / 'exp.csv'}: ") and message in err, err
    assert list(cases_dir.iterdir()) == []


CASE_FILE = '''name = "mine"
title = "Mine"
kind = "composition"
property = "band gap"
units = "eV"
grouping = "reduced formula"

[source]
path = "/abs/sim.csv"
sha256 = "{z}"

[target]
path = "/abs/exp.csv"
sha256 = "{z}"

[grid]
ns = [0, 10]
ms = ["all"]
trials = 2
'''.replace("{z}", "0" * 64)


@pytest.mark.parametrize("change,message", [
    (("units = \"eV\"", "unitz = \"eV\"\nunits = \"eV\""), "unknown key 'unitz' (did you mean 'units'?)"),
    (("[grid]", "[page]\ntitel = \"x\"\n\n[grid]"), "unknown key [page] 'titel' (did you mean 'title'?)"),
    (("units = \"eV\"", "units = 5"), "units=5: expected a non-empty string"),
    (("title = \"Mine\"", "title = 3"), "title=3: expected a non-empty string"),
    (("trials = 2", "trials = true"), "[grid] trials=True: expected an integer >= 1"),
    (("path = \"/abs/sim.csv\"\n", "data = \"mp_gap\"\n"), "[source] data = 'mp_gap': a registry key is read by"),
    (("path = \"/abs/sim.csv\"", "path = \"sim.csv\""), "[source] path = 'sim.csv': expected an absolute path"),
])
def test_case_file_schema_errors_name_the_key(change, message):
    from s2rlib.cases import case_file
    from s2rlib._core.errors import ParameterError

    assert case_file.parse(CASE_FILE, "mine.toml")["name"] == "mine"
    text = CASE_FILE.replace(*change, 1)
    with pytest.raises(ParameterError) as err:
        case_file.parse(text, "mine.toml")
    assert str(err.value).startswith("case file mine.toml: ") and message in str(err.value), str(err.value)
