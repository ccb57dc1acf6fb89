"""The book's helpers (s2rlib.book, s2rlib.book.plotting) on synthetic results tables: fast, no build."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from s2rlib.law import fit_cache
from s2rlib.grid import selection
from s2rlib.book import tables
from s2rlib.book import run_tables
from s2rlib.book import pages
from s2rlib.book import formatting
from s2rlib.book import display
from s2rlib.book import case_results
from s2rlib.book import findings
from s2rlib._core import units
from s2rlib.book import two_way_plot
from s2rlib._core.constants import ALL_M
from s2rlib.book import plotting  # noqa: E402
from synthetic import synthetic_table, write_synthetic_results  # noqa: E402


@pytest.fixture(autouse=True)
def _no_fit_cache(monkeypatch):
    monkeypatch.setenv(fit_cache.FIT_CACHE_ENV, "off")


@pytest.fixture(scope="module")
def table():
    return synthetic_table("band_gap", ns=(0, 100, 300, 1000, 3000, 10000), trials=5)


@pytest.fixture(scope="module")
def case_fit(table):
    return fit_cache.fit_case(table, n_boot=200)


def test_fit_recovers_the_synthetic_law(case_fit):
    f = case_fit.fit
    assert f.status == "ok"
    assert f.alpha == pytest.approx(0.30, abs=0.08)
    assert f.C == pytest.approx(0.30, abs=0.05)
    assert case_fit.units == "eV"


def test_params_table_shows_estimates_intervals_and_status(case_fit):
    df = tables.params_table(case_fit)
    assert list(df["quantity"][:3]) == ["D", "alpha", "C (eV)"]
    status = df.loc[df["quantity"] == "fit status", "estimate"].item()
    assert status == "{ref}`law identified <status-table>`"
    assert all(df["90% CI"][:3].str.match(r"^\[.+, .+\]$"))


def test_tables_render_as_markdown_tables(case_fit, table):
    for df in (tables.params_table(case_fit), tables.results_table(case_fit), tables.gain_table(case_fit),
               tables.recipes_table(table), run_tables.data_table(table), run_tables.provenance_table(table),
               tables.extrapolation_table(table), tables.forms_table(table), tables.derived_table(case_fit)):
        md = display.to_markdown(df)
        lines = md.splitlines()
        assert lines[0].startswith("|") and set(lines[1]) <= set("|:- "), md
        assert len(lines) == len(df) + 2


def test_markdown_cells_are_escaped():
    md = display.to_markdown(pd.DataFrame({"a|b": ["x|y", float("nan")]}))
    assert "a\\|b" in md and "x\\|y" in md and formatting.DASH in md


def test_fmt():
    assert formatting.fmt(float("nan")) == formatting.DASH
    assert formatting.fmt(float("inf")) == "∞"
    assert formatting.fmt(-0.01234) == "−0.0123"
    assert formatting.fmt(2.5e-7) == "2.50×10⁻⁷"
    assert formatting.fmt_n(45185.2) == "45,185"
    assert formatting.fmt_ci(1, float("nan")) == formatting.DASH


def test_provenance_lists_grid_seeds_and_hashes(table):
    df = run_tables.provenance_table(table).set_index("")
    col = df.columns[0]
    assert col.startswith("params_id `")
    assert df.loc["seeds (seed + t)", col] == "0–4"
    assert "ab" * 32 in df.loc["data sha256", col]
    assert "0.1.0+gsynthetic" in df.loc["code version", col]


def test_older_tables_with_per_point_params_ids_fit_as_one_grid(table):
    old = table.copy()
    old["params_id"] = old["n_source"].map(lambda n: f"pid{n}")  # one params_id per n, as older tables had
    cf = fit_cache.fit_case(old, n_boot=50)
    assert cf.fit.usable and len(selection.grids(old)) == 1


def test_missing_results_give_none_and_a_message(tmp_path, capsys):
    assert case_results.load_case_results("band_gap", tmp_path) is None
    out = capsys.readouterr().out
    assert "No results yet" in out and "s2r grid band_gap" in out
    page = pages.CasePage("band_gap", tmp_path)
    assert not page.available
    page.header()
    page.figure()
    page.params()
    out = capsys.readouterr().out
    assert "Results missing" in out and "No results yet" in out


def test_case_page_runs_every_piece(tmp_path, capsys):
    write_synthetic_results(tmp_path, ["chi"])
    page = pages.CasePage("chi", tmp_path, n_boot=50, n_boot_per_m=30)
    assert page.two_way and page.main_m == ALL_M
    for piece in ("header", "data", "fit_summary", "params", "points", "baseline_gain", "extrapolation", "forms",
                  "derived", "recipes", "provenance", "two_way_params"):
        getattr(page, piece)()
    page.equivalent_sample_size(n_boot=20)
    out = capsys.readouterr().out
    assert "Fitted parameters" in out and "Equivalent sample size" in out


def test_scaling_figure_draws_points_law_band_and_baseline(case_fit):
    fig = plotting.scaling_figure(case_fit)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "eV" in ax.get_ylabel() and "n" in ax.get_xlabel()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]  # the legend sits below the axes
    assert any("no pretraining" in t for t in labels) and any("band" in t for t in labels)
    assert any(t.startswith("fitted law:") for t in labels)
    assert len(ax.collections) >= 2  # the law's band and the baseline's band
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ticks, "the log y axis has no tick labels"
    plt.close(fig)


def test_scaling_figure_with_unusable_fit():
    t = synthetic_table("band_gap", ns=(0, 100, 300), trials=3)
    cf = fit_cache.fit_case(t, n_boot=20)
    assert cf.fit.status == "too_few_points"
    fig = plotting.scaling_figure(cf)
    assert any("no law" in t.get_text() or "mean of" in t.get_text() for t in fig.legends[0].get_texts())
    plt.close(fig)


def test_summary_and_two_way_figures(tmp_path):
    write_synthetic_results(tmp_path)
    fits = pages.summary_fits(tmp_path, n_boot=30)
    assert set(fits) == set(case_results.BOOK_CASES)
    fig = plotting.summary_figure(fits)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "linear"  # ratios near 1
    plt.close(fig)
    df = tables.summary_table(fits.values())
    assert len(df) == 4 and df["status"].isin([findings.status_link(s) for s in findings.STATUS_WORDS]).all()
    from s2rlib.book.case_results import case_words

    assert list(df["case"]) == [case_words(c, start=True) + (f" ({units.pretty_units(f.units)})"
                                                             if f.units != "dimensionless" else "")
                                for c, f in fits.items()]  # rows named as the chapters are, not by file name
    assert "Flory–Huggins χ" in list(df["case"])
    chi = case_results.load_case_results("chi", tmp_path)
    by_m = case_results.fits_by_m(chi, n_boot=30)
    from s2rlib.cases.registry import get_case

    assert list(by_m) == [*(m for m in get_case("chi").default_ms if m), -1]  # the case file's m grid
    fig = two_way_plot.two_way_figure(by_m, m_all=case_results.effective_m(chi))
    assert len(fig.axes) == 3
    plt.close(fig)
    assert np.isfinite(case_results.effective_m(chi))


def test_grid_currency_names_what_differs_from_the_default_grid():
    import json

    from s2rlib.book.case_results import grid_currency
    from s2rlib.cases.registry import get_case
    from s2rlib.training.transfer import Recipe

    c = get_case("band_gap")
    old = synthetic_table("band_gap", ns=(0, 100, 1000), trials=5)  # recipe {"finetune_max_epochs": 5}
    notes = grid_currency("band_gap", old)
    assert "finetune_max_epochs 5 → 400" in notes[0] and "not recorded" in notes[0] and "hidden" in notes[0]
    assert notes[1] == f"5 trials per point instead of the case file's {c.default_trials}"
    assert notes[2].startswith(f"grid points not run yet: {len(c.default_ns)} of {len(c.default_ns)} at m = 100")
    assert f"{len(c.default_ns) - 3} of {len(c.default_ns)} at all experiments" in notes[2]
    # which sizes, not how many: a grid with other n than the default ones still misses the default ones
    other_ns = synthetic_table("band_gap", ns=(0, 7, 70, 700, 7000, 70000, 200, 2000), trials=c.default_trials)
    assert f"{len(c.default_ns) - 2} of {len(c.default_ns)} at all experiments" in grid_currency("band_gap", other_ns)[-1]
    # the default grid, computed with today's recipe: nothing to say
    ns = [n if n != "all" else 78000 for n in c.default_ns]
    ms = [-1 if m is None else m for m in c.default_ms]
    cur = synthetic_table("band_gap", ns=ns, ms=ms, trials=c.default_trials)
    params = json.loads(cur["params"].iloc[0])
    cur["params"] = json.dumps({**params, "recipe": Recipe().to_dict()})
    assert grid_currency("band_gap", cur) == []


def test_grid_currency_reads_every_row_not_the_first():
    """A table whose first rows are today's recipe and default trials, but whose later rows are not,
    is still reported: mixed recipes by name, and the range of trials per point."""
    import json

    from s2rlib.book.case_results import grid_currency
    from s2rlib.cases.registry import get_case
    from s2rlib.training.transfer import Recipe

    c = get_case("band_gap")
    ns = [n if n != "all" else 78000 for n in c.default_ns]
    ms = [-1 if m is None else m for m in c.default_ms]
    cur = synthetic_table("band_gap", ns=ns, ms=ms, trials=c.default_trials)
    params = json.loads(cur["params"].iloc[0])
    cur["params"] = json.dumps({**params, "recipe": Recipe().to_dict()})
    late = cur["n_source"] == max(ns)
    cur.loc[late, "params"] = json.dumps({**params, "recipe": {**Recipe().to_dict(), "finetune_max_epochs": 7}})
    cur = cur[~(late & (cur["trial"] >= 3))]
    notes = grid_currency("band_gap", cur)
    assert notes[0].startswith("rows from 2 training recipes, only part of them today's default"), notes[0]
    assert "finetune_max_epochs 7 → " in notes[0]
    assert notes[1] == f"3 to {c.default_trials} trials per point instead of the case file's {c.default_trials}"
