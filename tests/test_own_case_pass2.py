"""Own case, second pass (issue 29 item 5): each test breaks what a new user meets and checks what they now see.

``--property`` is required; source and target that look like different quantities are warned about (naming
both numbers); ``s2r book-page --results`` makes the page read a grid run with ``--out``; a user's recipe is
called theirs, not "earlier"; a grid with too few n says plainly that a law needs more; ``_toc.yml`` keeps the
cases of another cases directory; ``s2r grid --dry-run`` lists the missing points with a time estimated from
recorded ``wall_s`` and runs nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2rlib import cli
from s2rlib.book import case_pages
from s2rlib.book import case_results
from s2rlib.cases import case_file as casefile
from s2rlib.cases import registry as cases
from s2rlib.grid import estimate
from s2rlib.grid import results
from s2rlib.law.fit_status import MIN_POINTS

from synthetic import synthetic_table
from test_cases import OXIDES, TARGET, _rows as csv_rows
import test_faults

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cases_dir(tmp_path, monkeypatch):
    d = tmp_path / "my_cases"
    d.mkdir()
    monkeypatch.setenv(casefile.CASES_ENV, str(d))
    cases.reload()
    yield d
    monkeypatch.undo()
    cases.reload()


def _new_case(tmp_path, capsys, name="mine", source=None, target=None, extra=("--property", "band gap")):
    (tmp_path / "sim.csv").write_text(csv_rows(zip(OXIDES, source if source is not None else np.linspace(0.1, 3, 20))))
    (tmp_path / "exp.csv").write_text(csv_rows(zip(TARGET, target if target is not None else np.linspace(0.2, 2.5, 15))))
    rc = cli.main(["new-case", name, "--source", str(tmp_path / "sim.csv"), "--target", str(tmp_path / "exp.csv"),
                   "--kind", "composition", "--units", "eV", *extra])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# ------------------------------------------------------------------------------ new-case


def test_new_case_without_property_is_an_s2r_error_and_writes_nothing(cases_dir, tmp_path, capsys):
    rc, _, err = _new_case(tmp_path, capsys, extra=())
    assert rc == 2 and err.startswith("s2r: error: parameter --property: required") and "band gap" in err, err
    assert list(cases_dir.iterdir()) == []
    rc, _, err = _new_case(tmp_path, capsys, extra=("--property", "  "))
    assert rc == 2 and "parameter --property: required" in err
    rc, _, err = _new_case(tmp_path, capsys, extra=("--property", "band gap"))
    assert rc == 0, err
    assert cases.get_case("mine").property_name == "band gap"


def test_new_case_warns_when_the_shares_of_zeros_differ_and_names_both(cases_dir, tmp_path, capsys):
    source = np.where(np.arange(20) < 18, 0.0, 2.0)  # 18 of 20 zeros
    target = np.where(np.arange(15) < 6, 0.0, np.linspace(0.5, 2.5, 15))  # 6 of 15 zeros
    rc, _, err = _new_case(tmp_path, capsys, source=source, target=target)
    assert rc == 0, err  # a warning, not an error: the case is written
    assert (cases_dir / "mine.toml").is_file()
    lines = [line for line in err.splitlines() if line.startswith("s2r: warning:") and "zero values" in line]
    assert len(lines) == 1, err
    assert f"{np.mean(source == 0):.0%} zero values" in lines[0] and f"{np.mean(target == 0):.0%}" in lines[0]
    assert str(tmp_path / "sim.csv") in lines[0] and str(tmp_path / "exp.csv") in lines[0]


def test_new_case_warns_when_the_ranges_differ_tenfold_and_names_both(cases_dir, tmp_path, capsys):
    source = np.linspace(0.1, 3, 20)
    target = np.linspace(0.2, 2.5, 15) * 1000  # meV against eV
    rc, _, err = _new_case(tmp_path, capsys, source=source, target=target)
    assert rc == 0, err
    (line,) = [x for x in err.splitlines() if "range" in x]
    spans = (np.ptp(target), np.ptp(source))
    assert f"range {spans[0]:.4g}" in line and f"range {spans[1]:.4g}" in line
    assert f"{spans[0] / spans[1]:.3g} times the source's" in line
    assert "zero values" not in err  # no zeros on either side: that warning stays silent


def test_alike_source_and_target_give_no_warning(cases_dir, tmp_path, capsys):
    rc, _, err = _new_case(tmp_path, capsys)
    assert rc == 0 and "warning" not in err, err


# ------------------------------------------------------------------------------ pages


def _checkout(tmp_path) -> Path:
    root = tmp_path / "checkout"
    (root / "book" / "cases").mkdir(parents=True)
    shutil.copy(REPO / "_toc.yml", root / "_toc.yml")
    return root


def test_book_page_results_reads_a_grid_run_with_out(cases_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("S2R_RESULTS_ROOT", str(tmp_path / "no_results_here"))
    assert _new_case(tmp_path, capsys)[0] == 0
    grid_dir = tmp_path / "my_grid"
    results.write_atomic(synthetic_table("mine", trials=3), grid_dir / "results.csv")
    root = _checkout(tmp_path)
    assert cli.main(["book-page", "mine", "--root", str(root)]) == 0
    assert case_results.load_case_results("mine", announce=False) is None  # results/mine/ is empty: missing
    # a path that is not there, a built-in case: named errors, the case file untouched
    before = (cases_dir / "mine.toml").read_text()
    assert cli.main(["book-page", "mine", "--root", str(root), "--results", str(tmp_path / "nope")]) == 2
    assert f"{tmp_path / 'nope'} does not exist" in capsys.readouterr().err
    assert cli.main(["book-page", "band_gap", "--root", str(root), "--results", str(grid_dir)]) == 2
    assert "is built in" in capsys.readouterr().err
    assert (cases_dir / "mine.toml").read_text() == before
    # the --out folder (or its results.csv) is recorded in the case file, and the page reads it
    assert cli.main(["book-page", "mine", "--root", str(root), "--results", str(grid_dir)]) == 0, capsys.readouterr()
    spec = casefile.parse((cases_dir / "mine.toml").read_text(), "x")
    assert spec["page"]["results"] == str((grid_dir / "results.csv").resolve())
    assert case_results.results_path("mine") == (grid_dir / "results.csv").resolve()
    table = case_results.load_case_results("mine", announce=False)
    assert table is not None and len(table) == len(synthetic_table("mine", trials=3))
    # regenerating every page keeps it (the case file is the record, not the page)
    assert cli.main(["book-pages", "--root", str(root)]) == 0
    assert case_results.results_path("mine") == (grid_dir / "results.csv").resolve()


def test_a_users_recipe_is_called_its_own_not_earlier(cases_dir, tmp_path, capsys):
    assert _new_case(tmp_path, capsys)[0] == 0
    table = synthetic_table("mine", trials=5)  # its recipe: {"finetune_max_epochs": 5}
    own = case_results.grid_state("mine", table)
    assert own.recipe == "own" and "a recipe of its own" in own.words() and "earlier" not in own.words()
    assert any("of its own" in d for d in case_results.grid_currency("mine", table))
    assert not any("earlier" in d for d in case_results.grid_currency("mine", table))
    # a built-in case's table with the same recipe is history: still "earlier"
    builtin = synthetic_table("band_gap", trials=5)
    assert "an earlier recipe" in case_results.grid_state("band_gap", builtin).words()


def _page_text(capsys, case, root, *methods):
    from s2rlib.book import CasePage

    page = CasePage(case, root=root, n_boot=30)
    capsys.readouterr()
    out = {}
    for m in methods:
        getattr(page, m)()
        out[m] = capsys.readouterr().out
    return out


def test_a_grid_too_small_for_a_law_says_how_many_n_it_has_and_needs(tmp_path, capsys):
    ns = (0, 100, 1000)
    results.write_atomic(synthetic_table("band_gap", ns=ns), tmp_path / "band_gap" / "results.csv")
    out = _page_text(capsys, "band_gap", tmp_path, "fit_summary", "params", "extrapolation", "forms", "derived",
                     "key_result")
    have = len([n for n in ns if n > 0])
    assert f"needs at least {MIN_POINTS} distinct n > 0" in out["fit_summary"]
    assert f"this grid has {have} (n = 100 and 1,000)" in out["fit_summary"]
    for m in ("params", "extrapolation", "forms", "derived"):  # no empty tables of a law that is not there
        assert ":::{table}" not in out[m] and f"this grid has {have} distinct n > 0" in out[m], (m, out[m])
    assert f"needs at least {MIN_POINTS} distinct n > 0" in out["key_result"]
    # with enough n the law's sections are tables again
    results.write_atomic(synthetic_table("band_gap"), tmp_path / "band_gap" / "results.csv")
    out = _page_text(capsys, "band_gap", tmp_path, "fit_summary", "params")
    assert ":::{table}" in out["params"] and "needs at least" not in out["fit_summary"] + out["params"]


def test_the_toc_keeps_the_cases_of_another_cases_directory(cases_dir, tmp_path, capsys, monkeypatch):
    root = _checkout(tmp_path)
    assert _new_case(tmp_path, capsys, name="first")[0] == 0
    assert cli.main(["book-page", "first", "--root", str(root)]) == 0
    other = tmp_path / "other_cases"
    other.mkdir()
    monkeypatch.setenv(casefile.CASES_ENV, str(other))
    cases.reload()
    assert "first" not in cases.CASES
    (tmp_path / "b").mkdir()
    assert _new_case(tmp_path / "b", capsys, name="second")[0] == 0
    assert cli.main(["book-page", "second", "--root", str(root)]) == 0
    toc = (root / "_toc.yml").read_text()
    assert "- file: book/cases/first\n" in toc and "- file: book/cases/second\n" in toc
    assert toc.index("book/cases/chi\n") < toc.index("book/cases/second\n") < toc.index("book/summary")
    # a page removed is an entry removed
    (root / "book" / "cases" / "first.md").unlink()
    assert cli.main(["book-pages", "--root", str(root)]) == 0
    assert "book/cases/first" not in (root / "_toc.yml").read_text()


# ------------------------------------------------------------------------------ cost estimate


def test_dry_run_lists_the_missing_points_with_a_time_from_recorded_wall_s(tmp_path, monkeypatch, small_data,
                                                                          capsys):
    import papermill

    wall = {0: 30.0, 20: 300.0}
    calls = []

    def fake(notebook, out_nb, parameters, **kwargs):
        n = parameters["n_source"]
        calls.append(n)
        Path(out_nb).write_text("{}")
        table = test_faults._rows(parameters["case"], n, parameters["trials"], parameters["seed"],
                                  json.loads(parameters["recipe_json"]), parameters["m_target"])
        table["wall_s"] = wall[n]
        results.write_atomic(results.seal(table), parameters["output_path"])

    monkeypatch.setattr(papermill, "execute_notebook", fake)
    monkeypatch.setenv("S2R_RESULTS_ROOT", str(tmp_path / "committed"))  # no committed table: only what ran here
    out = tmp_path / "out"
    rc, _, err = test_faults._grid(capsys, out, ns="0,20")  # 2 trials
    assert rc == 0 and calls == [0, 20], err
    before = sorted(p.name for p in (out / "points").iterdir())
    rc = cli.main(["grid", test_faults.CASE, "--ns", "0,5,20,40", "--ms", "all", "--trials", "4", "--out", str(out),
                   "--threads", "1", "--quiet", "--dry-run"])
    text = capsys.readouterr().out
    assert rc == 0 and calls == [0, 20]  # nothing ran
    assert sorted(p.name for p in (out / "points").iterdir()) == before
    # 4 trials is another grid: every point is missing; n = 5 and 40 are nearest to n = 20 (log scale), n = 0 to 0
    expected = (wall[0] + wall[20] + wall[20] + wall[20]) * 4 / 2
    assert "4 of 4 grid point(s) to run (n=0 m=all, n=5 m=all, n=20 m=all, n=40 m=all)" in text, text
    assert f"estimated {estimate.duration(expected)}" in text and "2 recorded point(s)" in text
    assert "not a measurement" in text
    # the same trials: only the two new points are missing
    rc = cli.main(["grid", test_faults.CASE, "--ns", "0,5,20,40", "--ms", "all", "--trials", "2", "--out", str(out),
                   "--threads", "1", "--quiet", "--dry-run"])
    text = capsys.readouterr().out
    assert "2 of 4 grid point(s) to run (n=5 m=all, n=40 m=all)" in text
    assert f"estimated {estimate.duration(2 * wall[20])}" in text


def test_a_grid_with_nothing_recorded_says_so(tmp_path, small_data, capsys, monkeypatch):
    monkeypatch.setenv("S2R_RESULTS_ROOT", str(tmp_path / "committed"))
    rc = cli.main(["grid", test_faults.CASE, "--ns", "0,5", "--ms", "all", "--trials", "2", "--out",
                   str(tmp_path / "o"), "--threads", "1", "--quiet", "--dry-run"])
    text = capsys.readouterr().out
    assert rc == 0 and "2 of 2 grid point(s) to run" in text and "no recorded wall_s" in text
    assert "estimated" not in text and not (tmp_path / "o" / "points").exists()


small_data = test_faults.small_data
