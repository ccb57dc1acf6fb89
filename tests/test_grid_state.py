"""Whether a case's committed table is final or provisional (s2rlib.book.case_results.grid_state), and the
book's pieces that depend on it: the glance table, the method chapter's box, the two-way section of a
case with a single m, the equivalent sample size without a supported row, the interval's formula."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2rlib.book import case_results
from s2rlib.law import fit_cache
from s2rlib.grid import selection
from s2rlib.book import run_tables
from s2rlib.book import pages
from s2rlib._core.constants import ALL_M
from s2rlib.book import case_results as book_results
from s2rlib.book import equal_m
from s2rlib.book import findings
from s2rlib.book import findings
from s2rlib.grid import results
from s2rlib.book.case_results import grid_state, grid_states_markdown, case_words
from s2rlib.cases.registry import builtin_names, get_case
from s2rlib.grid.recipe_study import V1
from s2rlib.training.transfer import Recipe
from synthetic import synthetic_table

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_fit_cache(monkeypatch):
    monkeypatch.setenv(fit_cache.FIT_CACHE_ENV, "off")


def _grid(case, *, ms=(-1,), trials=20, recipe=None, withheld=True, law=None):
    """A table of the case file's n sizes at ``ms`` with ``recipe`` recorded in every row; with
    ``withheld`` the largest n draws fewer source samples than asked (the test materials' ones held back)."""
    c = get_case(case)
    ns = [n if n != "all" else 50_000 for n in c.default_ns]
    t = synthetic_table(case, ns=ns, ms=ms, trials=trials, law=law)
    params = json.loads(t["params"].iloc[0])
    t["params"] = json.dumps({**params, "recipe": Recipe().to_dict() if recipe is None else recipe})
    used = (t["metric"] == "n_source_used") & (t["n_source"] == max(ns))
    t.loc[used, "value"] = 40_000 if withheld else 50_000
    return t


def _first_recipe_as_recorded():
    """The first recipe as the first grids recorded it: before loss, nonneg, withhold_test_sources and
    y_scale existed, candidates without l2sp."""
    d = Recipe(**V1).to_dict()
    for k in ("loss", "nonneg", "withhold_test_sources", "y_scale"):
        d.pop(k)
    d["candidates"] = [{k: v for k, v in c.items() if k != "l2sp"} for c in d["candidates"]]
    return d


def test_a_first_recipe_five_trial_grid_is_provisional_and_says_why():
    st = grid_state("formation_enthalpy", _grid("formation_enthalpy", trials=5, recipe=_first_recipe_as_recorded(),
                                                withheld=False))
    assert st.state == "provisional" and st.recipe == "first" and st.withheld is False
    assert st.words() == ("provisional: the first recipe, 5 trials (not 20), test materials' simulations not "
                          "withheld from pretraining")
    # the same rows with the simulations withheld: that clause goes, the rest stays
    st = grid_state("formation_enthalpy", _grid("formation_enthalpy", trials=5, recipe=_first_recipe_as_recorded()))
    assert st.withheld is True and st.words() == "provisional: the first recipe, 5 trials (not 20)"


def test_todays_recipe_with_every_m_is_final_and_with_one_m_partly_final():
    full = grid_state("chi", _grid("chi", ms=(50, 100, 300, -1)))
    assert full.state == "final" and full.differences == ()
    assert full.words() == "final: today's recipe, 20 trials, every m (50, 100, 300 and all)"
    one = grid_state("polymer_density", _grid("polymer_density"))
    assert one.state == "partly final" and one.complete_ms == (ALL_M,) and one.missing_ms == (100, 300, 1000)
    assert one.words() == "final for all experiments (m = all), 20 trials; m = 100, 300 and 1,000 still to run"
    # an m line with some of its points run says how many; the untouched ones are still to run
    full_line = _grid("band_gap")
    some = _grid("band_gap", ms=(100,))
    part = pd.concat([full_line, some[some["n_source"] <= 3000]])
    st = grid_state("band_gap", part)
    assert st.state == "partly final" and st.missing_ms == (100, 300, 1000) and st.partly_run == ((100, 5),)
    assert st.words() == ("final for all experiments (m = all), 20 trials; m = 100 has 5 of 8 points, "
                          "m = 300 and 1,000 still to run")
    assert st.tag() == "final at m = all (20 trials); m = 100 has 5 of 8 points, m = 300 and 1,000 still to run"
    # the recipe field, where recorded, says whether the test materials' simulations were withheld
    assert grid_state("chi", _grid("chi", recipe={**Recipe().to_dict(), "withhold_test_sources": False})).withheld is False


def test_a_field_recorded_only_when_not_default_compares_as_its_default():
    """precision is recorded only when not fp32 (the final grids predate it): a recipe that records
    "fp32" explicitly is today's, and a bf16 grid says in its box what differs."""
    explicit = grid_state("chi", _grid("chi", ms=(50, 100, 300, -1), recipe={**Recipe().to_dict(), "precision": "fp32"}))
    assert explicit.recipe == "default" and explicit.state == "final"
    bf16 = grid_state("chi", _grid("chi", ms=(50, 100, 300, -1), recipe=Recipe(precision="bf16").to_dict()))
    assert bf16.state == "provisional" and any("precision bf16 → fp32" in d for d in bf16.differences), bf16.differences
    assert not any("did not exist yet" in d for d in bf16.differences)


def test_glance_table_marks_provisional_and_final_cases_in_words():
    tables = {"formation_enthalpy": _grid("formation_enthalpy", trials=5, recipe=_first_recipe_as_recorded(),
                                          withheld=False),
              "chi": _grid("chi", ms=(50, 100, 300, -1))}
    fits = {c: fit_cache.fit_case(t, n_boot=50) for c, t in tables.items()}
    states = {c: grid_state(c, t) for c, t in tables.items()}
    glance = findings.glance_table(fits, states).set_index("case")
    assert list(glance.index) == ["Formation enthalpy", "Flory–Huggins χ"]  # names in words, not file names
    assert glance.loc["Formation enthalpy", "results"].startswith("provisional: first recipe, 5 trials")
    assert "not withheld" in glance.loc["Formation enthalpy", "results"]
    assert glance.loc["Flory–Huggins χ", "results"] == "final (20 trials)"
    assert len(glance.columns) <= 5  # it has to fit the text column at 1,280 px
    # the conclusion marks the provisional case
    assert "formation enthalpy (provisional)" in findings.conclusion(fits, states)


def test_case_words():
    assert case_words("chi") == "Flory–Huggins χ" and case_words("band_gap") == "band gap"
    assert case_words("band_gap", start=True) == "Band gap"


def test_grid_cost_table_says_what_grid_state_says(tmp_path):
    """The rerun chapter's cost table reads each case's grid_state: the recipe, the trials and whether
    the case file's grid is complete come from there, and its rows are named in words."""
    tables = {"formation_enthalpy": _grid("formation_enthalpy", trials=5, recipe=_first_recipe_as_recorded()),
              "polymer_density": _grid("polymer_density"), "chi": _grid("chi", ms=(50, 100, 300, -1))}
    tables["chi"]["wall_s"] = 60.0
    for case, t in tables.items():
        results.write_atomic(t, tmp_path / case / "results.csv")
    cost = run_tables.grid_cost_table(tmp_path).set_index("case")
    assert list(cost.index) == [case_words(c, start=True) for c in book_results.BOOK_CASES]
    assert cost.loc["Formation enthalpy", "committed table"] == "an earlier recipe, 5 trials; 8 of 32 points (m = all)"
    assert cost.loc["Band gap", "committed table"] == "no results yet"
    assert cost.loc["Polymer density", "committed table"] == "today's recipe, 20 trials; 7 of 28 points (m = all)"
    assert cost.loc["Flory–Huggins χ", "committed table"] == "today's recipe, 20 trials; all 28 points"
    assert cost.loc["Flory–Huggins χ", "measured time of its points"] == "28 min (28 points × 20 trials)"  # 2-3 significant digits
    assert cost.loc["Flory–Huggins χ", "slowest point"] == "60 s (20 trials)"


def test_a_single_m_case_page_has_one_sentence_and_no_two_way_caption_or_ess(tmp_path, capsys):
    t = _grid("polymer_density")
    results.write_atomic(t, tmp_path / "polymer_density" / "results.csv")
    page = pages.CasePage("polymer_density", tmp_path, n_boot=30, n_boot_per_m=20)
    assert not page.two_way
    page.two_way_intro()
    intro = capsys.readouterr().out.strip()
    assert intro.startswith("The two-way design is not run yet for this case") and "m = 100, 300, 1,000" in intro
    assert intro.count(". ") == 0  # one sentence
    for piece in (page.two_way_figure, page.two_way_params, page.equivalent_sample_size):
        piece()
    assert capsys.readouterr().out == ""  # nothing that a figure caption could wrap
    # the page template: the figure's cell is one that prints nothing with a single m
    text = (REPO / "book" / "cases" / "polymer_density.md").read_text()
    section = text[text.index("## Polymer density with fewer experiments"):text.index("## Polymer density against the")]
    assert "### Equivalent sample size" not in section and "One law per experimental size" not in section
    assert section.index("page.two_way_intro()") < section.index("page.two_way_figure()")


def test_ess_without_a_supported_row_is_one_paragraph(tmp_path, capsys):
    flat = (0.0, 0.3, 0.40, 0.40, 0.01)  # no fall with n at any m: no law is ok
    t = _grid("chi", ms=(50, 100, 300, -1), trials=6, law=flat)
    results.write_atomic(t, tmp_path / "chi" / "results.csv")
    page = pages.CasePage("chi", tmp_path, n_boot=30, n_boot_per_m=20)
    assert page.two_way and all(cf.fit.status != "ok" for cf in page.fits_by_m.values())
    page.equivalent_sample_size(n_boot=10)
    out = capsys.readouterr().out
    assert "how many COSMO-RS samples buy" in out  # the case file's word for its simulations
    assert "Equivalent sample size: not printed" in out and "No equivalent sample size is printed" in out
    assert "not printed: law in n" not in out and "|" not in out  # no table, no row-by-row repetition
    # each status is named once, with the m it applies to
    for status in {str(cf.fit.status.value) for m, cf in page.fits_by_m.items() if m > 0}:
        assert out.count(findings.status_link(status)) == 1 and f"`{status}`" not in out  # in words, linked


def test_every_builtin_case_is_designed_for_the_equal_m_sizes():
    for c in builtin_names():
        ms = {ALL_M if m is None else m for m in get_case(c).default_ms}
        assert set(equal_m.EQUAL_MS) <= ms, c


# ------------------------------------------------------------------ the committed tables and the book's words


def test_method_box_states_per_case_which_recipe_made_the_committed_tables():
    text = (REPO / "book" / "method.md").read_text()
    start, end = "<!-- committed grids: generated from s2rlib.book.case_results.grid_states_markdown -->", \
        "<!-- end committed grids -->"
    box = text[text.index(start) + len(start):text.index(end)].strip()
    expected = grid_states_markdown(REPO / "results")
    assert box == expected, ("book/method.md's box is not the committed tables' state; paste:\n" + expected)


def test_polymer_density_page_says_the_test_polymers_are_withheld_only_if_they_are():
    text = get_case("polymer_density").prose["page"]["intro"]
    table = case_results.load_case_results("polymer_density", REPO / "results", announce=False)
    if table is None:
        pytest.skip("no committed polymer density results")
    st = grid_state("polymer_density", selection.select_grid(table))
    assert ("withholds from pretraining" in text) == (st.withheld is True)
    assert "the simulation has seen the same chemistry" not in text


def test_interval_formula_in_the_book_is_the_codes():
    """The corrected interval: variance (1/J + n_test/n_pool) s^2 (trial_stats.paired_gain), with J the
    number of trials everywhere; the ratio the book quotes is the committed tables' own."""
    from s2rlib.law.trial_stats import paired_gain, test_train_ratio, trial_matrix

    method = (REPO / "book" / "method.md").read_text()
    exercises = (REPO / "book" / "exercises.md").read_text()
    glossary = (REPO / "book" / "glossary.md").read_text()
    for name, text in (("method", method), ("exercises", exercises), ("glossary", glossary)):
        assert "n_\\text{train}" not in text, name
        assert not re.search(r"1/T\b|\\sqrt\{T\}|\bT trials\b", text), name
    assert "\\frac{n_\\text{test}}{n_\\text{pool}}" in method and "(1/J + n_\\text{test}/n_\\text{pool})" in exercises
    table = case_results.load_case_results("chi", REPO / "results", announce=False)
    if table is not None:
        r = test_train_ratio(table)
        assert f"{r:.2f}" in method and f"{r:.2f}" in exercises
    # the code: half width = t_{J-1} * sd(differences) * sqrt(1/J + ratio)
    from scipy import stats

    t = synthetic_table("band_gap", ns=(0, 1000), trials=7)
    mat = trial_matrix(t)
    g = paired_gain(mat, 1000, 0)
    d = (mat.loc[1000] - mat.loc[0]).to_numpy()
    r = mat.attrs["test_train_ratio"]
    assert r == pytest.approx(250 / 1000)  # n_test / (n_train + n_val): the pool, not the training rows
    half = stats.t.ppf(0.95, 6) * d.std(ddof=1) * np.sqrt(1 / 7 + r)
    assert (g.hi - g.lo) / 2 == pytest.approx(half)


def test_one_m_beside_all_is_already_a_two_way_page(tmp_path, capsys):
    """Polymer density's next state (m = 100 landed beside all): two curves and the two-way section, not
    the sentence that says the design has one experimental size."""
    t = _grid("polymer_density", ms=(100, -1), trials=6, law=(0.3, 0.3, 0.4, 0.5, 0.01))
    results.write_atomic(t, tmp_path / "polymer_density" / "results.csv")
    page = pages.CasePage("polymer_density", tmp_path, n_boot=30, n_boot_per_m=20)
    assert page.two_way
    page.two_way_intro()
    out = capsys.readouterr().out
    assert out.startswith("The largest database changes the polymer density error, against none, by")
    assert "not run yet" not in out
    assert "with m = 100" in out and out.count("%") >= 6  # each m: the change and its interval
    page.two_way_figure()  # draws (two curves) without raising
    page.equivalent_sample_size(n_boot=10)
    assert "Equivalent sample size" in capsys.readouterr().out


def test_a_params_cell_that_is_not_json_names_the_case_file_and_row():
    from s2rlib._core.errors import ParameterError

    t = _grid("polymer_density")
    t.loc[t.index[7], "params"] = "{not json"
    with pytest.raises(ParameterError, match=r"polymer_density: row 7 of .*results\.csv has a 'params' cell"):
        book_results.grid_state("polymer_density", t)
    with pytest.raises(ParameterError, match="no 'params' column"):
        book_results.grid_state("polymer_density", t.drop(columns="params"))
