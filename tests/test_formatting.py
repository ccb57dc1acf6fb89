"""One number format book-wide (s2rlib.book.formatting), and the tables that use it."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from s2rlib.law import fit_cache
from s2rlib.book import tables
from s2rlib.book import run_tables
from s2rlib.book import case_results
from s2rlib.book import formatting as F
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
from synthetic import synthetic_table


@pytest.mark.parametrize("x, sig, text", [
    (0.123456, 3, "0.123"),
    (-0.01234, 3, "−0.0123"),
    (-0.0, 3, "0"),           # never "-0" or "−0"
    (-1e-13, 2, "0"),         # numerically zero
    (2.5e-7, 3, "2.50×10⁻⁷"),  # never "2.5e-07"
    (999.7, 3, "1,000"),      # rounding up across a power of ten
    (0.0952, 2, "0.095"),
    (float("nan"), 3, "–"),
    (float("inf"), 3, "∞"),
    (-float("inf"), 3, "−∞"),
])
def test_fmt(x, sig, text):
    assert F.fmt(x, sig) == text


def test_derived_sample_sizes_have_two_significant_figures():
    assert F.fmt_n(888838, 2) == "890,000"
    assert F.fmt_ci(206552, 1.18e7, 2, n=True) == "[210,000, 12,000,000]"
    assert F.fmt_n(3.4e9, 2) == "3.4×10⁹"
    assert F.fmt_n(45185.2) == "45,185"  # a measured size stays exact
    assert F.fmt_n(float("inf"), 2) == "∞"


def test_percentages_never_negative_zero_or_scientific():
    assert F.fmt_pct(-0.0) == "0%"
    assert F.fmt_pct(3.8e-08) == "< 0.1%"
    assert F.fmt_pct(-3.8e-08) == "> −0.1%"
    assert F.fmt_pct(-12.345) == "−12%"
    assert F.fmt_pct(7.25, signed=True) == "+7.2%"
    assert F.fmt_pct(150.4) == "150%"
    assert F.fmt_pct_ci(-12.3, -0.04) == "[−12%, > −0.1%]"


def test_signed_and_intervals():
    assert F.fmt_signed(0.0123) == "+0.0123"
    assert F.fmt_signed(-0.0) == "0"
    assert F.fmt_ci(-0.0, 0.5) == "[0, 0.500]"  # never "[..., -0]"
    assert F.fmt_ci(1.0, 1.5) == "[1.00, 1.50]" and F.fmt_ci(1.0, 2.0) == "[1, 2]" and F.fmt_ci(-2.0, 0.25) == "[−2.00, 0.250]"
    assert F.fmt_ci(float("nan"), 1) == F.DASH


def test_recipe_words():
    assert F.recipe_words("full_lr1e-3") == "whole network, learning rate 0.001"
    assert F.recipe_words("head_lr3e-3") == "last layer only, learning rate 0.003"
    assert F.recipe_words("something_new") == "`something_new`"
    assert F.recipe_words("body1e-4_head1e-3") == "slow body: learning rate 0.0001 for the body, 0.001 for the last layer"
    assert F.recipe_words("l2sp1e-3_lr3e-4") == ("whole network, learning rate 0.0003, pulled toward the pretrained "
                                                 "weights (L2-SP 0.001)")


def test_every_candidate_of_the_code_reads_in_words_with_its_own_rates():
    """Table headers name fine-tuning candidates in words: every candidate the code defines (today's
    default and the recipe study's) has words, and they state its own learning rates and L2-SP weight."""
    from s2rlib.grid import recipe_study
    from s2rlib.training import transfer

    for c in {*transfer.Recipe().candidates, *recipe_study.V1_CANDIDATES, *recipe_study.FT_CANDIDATES}:
        words = F.recipe_words(c.name)
        assert "`" not in words and "_" not in words, c.name
        numbers = {float(x) for x in re.findall(r"\d+(?:\.\d+)?", words)}
        assert c.head_lr in numbers and (c.body_lr in (0, c.head_lr) or c.body_lr in numbers), (c, words)
        assert (c.l2sp in numbers) == bool(c.l2sp), (c, words)
        assert ("last layer only" in words) == (c.body_lr == 0), (c, words)


def _committed_candidates() -> tuple[set, set]:
    """(every fine-tuning candidate recorded in the committed results, as (name, body_lr, head_lr, l2sp);
    every candidate code chosen in them): the results tables' ``params`` recipes and the recipe study's."""
    import glob
    import json

    from s2rlib._core.paths import repo_root

    root = repo_root() / "results"
    defined, chosen = set(), set()
    for path in [*glob.glob(str(root / "*" / "results.csv")), *glob.glob(str(root / "grids-v2" / "*" / "points" / "*.csv")),
                 *glob.glob(str(root / "recipe_study" / "*.csv"))]:
        head = pd.read_csv(path, nrows=0).columns
        col = "params" if "params" in head else "recipe"
        df = pd.read_csv(path, usecols=[col, "selected_recipe"])
        chosen |= set(df["selected_recipe"].dropna().astype(str))
        for cell in df[col].dropna().unique():
            recipe = json.loads(cell)
            recipe = recipe.get("recipe", {}) if col == "params" else recipe
            for c in recipe.get("candidates", []):
                defined.add((c["name"], c["body_lr"], c["head_lr"], c.get("l2sp", 0.0)))
    return defined, chosen


def test_one_vocabulary_reads_every_candidate_the_code_and_the_committed_results_name():
    """recipe_words is the one place a candidate code becomes words (the recipe chapter's "what it
    trains" and the grid tables' headers): it must read every candidate the code defines and every
    candidate recorded in results/ back to that candidate's own rates, so the words cannot drift from
    the definitions. A new code form, or a name whose rates disagree with its definition, fails here."""
    from s2rlib.book import recipe_report
    from s2rlib.grid import recipe_study
    from s2rlib.training import transfer

    defined, chosen = _committed_candidates()
    assert len(defined) >= 7 and len(chosen) >= 4, (defined, chosen)  # the results were found and read
    in_code = {*transfer.Recipe().candidates, *recipe_study.V1_CANDIDATES, *recipe_study.FT_CANDIDATES,
               *recipe_study.WIDE_CANDIDATES}
    for name, body_lr, head_lr, l2sp in defined | {(c.name, c.body_lr, c.head_lr, c.l2sp) for c in in_code}:
        assert F.recipe_rates(name) == {"body_lr": body_lr, "head_lr": head_lr, "l2sp": l2sp}, name
    for name in chosen | {d[0] for d in defined}:
        words = F.recipe_words(name)
        assert "`" not in words and "_" not in words, (name, words)
    # the recipe chapter's candidate table says it with the same words
    tab = pd.DataFrame({"candidate": ["head_lr1e-3", "l2sp1e-3_lr1e-3"], "val_mae": [0.2, 0.1], "mae": [0.3, 0.2],
                        "chosen": [1, 3]})
    shown = recipe_report.candidates_display(tab, trials=4)["what it trains"]
    assert list(shown) == ["last layer only, learning rate 0.001",
                           "whole network, learning rate 0.001, pulled toward the pretrained weights (L2-SP 0.001)"]


def test_a_candidate_code_of_no_known_form_is_shown_as_code():
    assert F.recipe_rates("full_lr") is None and F.recipe_rates("body1e-4") is None
    assert F.recipe_words("body1e-4") == "`body1e-4`"


def test_the_book_has_one_number_format():
    """No module of the book defines its own fmt/fmt_n/fmt_ci/fmt_signed: they all use book.formatting's."""
    import ast

    own = {"fmt", "fmt_n", "fmt_ci", "fmt_signed", "units_suffix", "code", "pretty_units"}
    for path in (REPO / "src" / "s2rlib").rglob("*.py"):
        if path.name in ("formatting.py", "units.py"):
            continue
        defined = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        assert not defined & own, (path, defined & own)


BAD = [re.compile(p) for p in (r"(?<![\w.])[-−]0(?![.,\d])", r"\d[eE][+-]?\d", r"\d\.\d{4,}\s*%")]


@pytest.fixture(scope="module")
def table():
    return synthetic_table("band_gap", ns=(0, 100, 300, 1000, 3000, 10000), trials=5)


@pytest.fixture(scope="module")
def case_fit(table):
    import os

    os.environ[fit_cache.FIT_CACHE_ENV] = "off"
    return fit_cache.fit_case(table, n_boot=200)


def _cells(df: pd.DataFrame) -> list[str]:
    return [str(c) for c in df.columns] + [str(v) for v in df.to_numpy().ravel()]


def test_no_table_shows_negative_zero_or_e_notation(case_fit, table):
    frames = [tables.params_table(case_fit), tables.results_table(case_fit), tables.gain_table(case_fit),
              tables.recipes_table(table), run_tables.data_table(table), tables.extrapolation_table(table),
              tables.forms_table(table), tables.derived_table(case_fit), tables.summary_table([case_fit])]
    for df in frames:
        for cell in _cells(df):
            if cell.startswith("`") and cell.endswith("`"):
                continue  # code: hashes, statuses
            for bad in BAD:
                assert not bad.search(cell), f"{bad.pattern!r} in {cell!r}"


def test_recipes_table_names_recipes_in_words(table):
    cols = list(tables.recipes_table(table).columns)
    assert "whole network, learning rate 0.001" in cols and "last layer only, learning rate 0.003" in cols
    assert not any(re.match(r"^(full|head)_lr", c) for c in cols)


def test_derived_table_rounds_required_n_to_two_significant_figures(case_fit):
    df = tables.derived_table(case_fit)
    for answer in df["answer"][:2]:
        if answer in ("∞", F.DASH):
            continue
        digits = re.sub(r"[^\d]", "", answer.split("×")[0]).lstrip("0")
        assert len(digits.rstrip("0")) <= 2, answer


def test_grid_table_states_constant_columns_once(table):
    df, const = run_tables.split_constant_columns(run_tables.data_table(table))
    assert {"trials", "seeds", "exp. test"} <= set(const)
    assert const["trials"] == "5" and const["seeds"] == "0–4"
    assert "trials" not in df.columns and list(df.columns[:2]) == ["m", "n"]
    assert len(df) == 6  # one row per grid point is kept
    assert run_tables.constant_caption(const).startswith("the same at every point: trials 5, seeds 0–4")
    (only, caption), = run_tables.grid_tables(table)
    assert list(only.columns) == ["n", "simulations used"] and "m = all" in caption and "trials 5" in caption


def test_two_way_grid_table_has_a_row_per_m_and_a_row_per_n():
    table = synthetic_table("chi", ns=(0, 100, 300, 1000), ms=(50, 100, -1), trials=3)
    (per_m, cap_m), (per_n, cap_n) = run_tables.grid_tables(table)
    assert list(per_m["m"]) == ["50", "100", "all"] and "exp. train" in per_m.columns
    assert list(per_n["n"]) == ["0", "100", "300", "1,000"] and "simulations used" in per_n.columns
    assert "n = 0, 100, 300, 1,000" in cap_m


def test_grid_command_matches_the_case_registry_and_wraps():
    from s2rlib.cases.registry import get_case

    for case in case_results.BOOK_CASES:
        cmd = run_tables.grid_command(case, width=60)
        assert all(len(line) <= 60 for line in cmd.splitlines()), cmd
        flat = cmd.replace(" \\\n    ", " ")
        ns = ",".join(str(n) for n in get_case(case).default_ns)
        assert f"--ns {ns}" in flat and f"--trials {get_case(case).default_trials}" in flat
    assert "--ms 50,100,300,all" in run_tables.grid_command("chi").replace(" \\\n    ", " ")


def test_round_sig():
    assert F.round_sig(888838, 2) == 890000
    assert F.round_sig(0.0012345, 3) == pytest.approx(0.00123)
    assert math.isnan(F.round_sig(float("nan"), 2))


def test_a_rounded_value_keeps_its_trailing_zeros():
    """0.09999 at 3 figures is 0.100: "0.1" would read as one figure of precision. Every number that is not
    whole shows all its figures, so both ends of an interval read alike; a whole number stays short."""
    from s2rlib.book.formatting import fmt

    assert [fmt(0.09999), fmt(-0.09999), fmt(1.9999), fmt(0.0010001), fmt(0.09999, 2)] == \
        ["0.100", "−0.100", "2.00", "0.00100", "0.10"]
    assert [fmt(0.25), fmt(2.0), fmt(0.1), fmt(1234.4), fmt(99.99)] == ["0.250", "2", "0.100", "1,230", "100"]
    assert [fmt(0.000997, 2), fmt(0.000994, 2)] == ["0.0010", "9.9×10⁻⁴"]  # the threshold reads the rounded value


def test_the_formatting_examples_in_the_docstrings_hold():
    import doctest

    from s2rlib.book import formatting

    result = doctest.testmod(formatting)
    assert result.attempted >= 2 and result.failed == 0
