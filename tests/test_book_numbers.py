"""Result numbers in the lecturer pages: generated from the rows, or recomputed here and compared.

* book/rerun.md: the time of one grid point of today's recipe is generated from the rows' ``wall_s``
  (:func:`s2rlib.book.run_tables.point_times_sentence`), read from ``results/<case>/`` or, while a case's
  m = all line is incomplete, from ``results/grids-v2/<case>/points/``; on constructed tables here,
  and on the committed rows against a computation straight from the CSV files;
* book/lesson.md: the chi gains quoted in the lesson plan are the paired corrected gains at the
  largest n (the helper the tables use), in % of the error without pretraining; the lesson's other
  statements about the chi chapter (final grid, no law `ok`) are the committed table's;
* book/exercises.md, exercise 8: what the solution says the chi two-way fits show (the baselines
  fall with m, no floor resolved, the upper bound of C at m = 100 above the one at m = 50) is what
  the chapter's own per-m fits give.
"""

from __future__ import annotations

import glob
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from s2rlib.book import case_results
from s2rlib.grid import selection
from s2rlib.book import pages
from s2rlib._core.constants import ALL_M
from s2rlib.book import case_results as book_results
from s2rlib.book import findings
from s2rlib.grid import results
from s2rlib.cases.registry import get_case
from s2rlib.book.formatting import fmt
from s2rlib.book.run_tables import STAGED_DIR, point_times_sentence, todays_point_times
from s2rlib.law.fit_status import FitStatus
from s2rlib.law.trial_stats import paired_gain, trial_matrix
from s2rlib.training.transfer import Recipe
from synthetic import synthetic_table

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"


# ------------------------------------------------------------------ rerun.md: the time of one point


def _with_recipe(t: pd.DataFrame, recipe: dict, walls) -> pd.DataFrame:
    """``t`` with ``recipe`` recorded in its params and ``walls[i]`` as the wall_s of its i-th n."""
    t = t.copy()
    params = json.loads(t["params"].iloc[0])
    t["params"] = json.dumps({**params, "recipe": recipe})
    ns = sorted(t["n_source"].unique())
    t["wall_s"] = t["n_source"].map(dict(zip(ns, walls)))
    return t


def _stage(root: Path, case: str, t: pd.DataFrame) -> Path:
    """Write ``t`` as the point files a grid leaves in ``<root>/grids-v2/<case>/points/``."""
    points = root / STAGED_DIR / case / "points"
    points.mkdir(parents=True)
    for (n, m, pid), g in t.groupby(["n_source", "m_target", "params_id"]):
        results.write_atomic(g, points / f"n{n:07d}_m{'all' if m == ALL_M else f'{m:05d}'}_{pid}.csv")
    return points


def _write(root: Path, case: str, t: pd.DataFrame) -> None:
    (root / case).mkdir(parents=True, exist_ok=True)
    results.write_atomic(t, root / case / "results.csv")


def test_point_times_come_from_the_rows_wherever_they_are(tmp_path):
    today = Recipe().to_dict()
    ns = (0, 100, 300, 1000)
    # chi: committed with today's recipe; its m = 100 points must not count (the sentence is about m = all)
    chi = _with_recipe(synthetic_table("chi", ns=ns, ms=(100, -1), trials=20), today, [379.2, 551.0, 1379.1, 900.0])
    chi.loc[chi["m_target"] == 100, "wall_s"] = 12.0
    # a second, smaller grid of today's recipe in the same table (another trial count): its times never mix in
    rerun = _with_recipe(synthetic_table("chi", ns=ns, trials=3, seed=2), today, [7.0, 8.0, 9.0, 10.0])
    rerun["params"] = rerun["params"].map(lambda p: json.dumps({**json.loads(p), "trials": 3}))
    rerun["params_id"] = "rerun3"
    _write(tmp_path, "chi", pd.concat([rerun, chi], ignore_index=True))
    # formation enthalpy: the committed table is an earlier recipe's; today's points are staged
    _write(tmp_path, "formation_enthalpy", _with_recipe(synthetic_table("formation_enthalpy", ns=ns, trials=5),
                                                        {"finetune_max_epochs": 5}, [20.0, 30.0, 40.0, 50.0]))
    staged = _with_recipe(synthetic_table("formation_enthalpy", ns=ns[:3], trials=20, seed=1), today,
                          [1520.2, 2134.7, 1746.1])
    points = _stage(tmp_path, "formation_enthalpy", staged)
    cases = ("formation_enthalpy", "band_gap", "chi")

    text = point_times_sentence(tmp_path, cases)
    assert "formation enthalpy, 3 points of 20 trials: 1,520–2,135 s each (staged in" in text
    assert f"`{points}/`" in text
    assert "Flory–Huggins χ, 4 points of 20 trials: 379–1,379 s each" in text and "12 s" not in text
    assert "7 s" not in text and "3 trials" not in text
    assert "20–50 s" not in text  # the earlier recipe's times are not today's
    assert text.endswith("No point of today's recipe at $m$ = all is recorded yet for band gap. Points like these "
                         "are far too slow for a live demonstration, which is what the classroom run below is for.")
    df = todays_point_times(tmp_path, cases)
    assert df.groupby("case")["staged"].all().to_dict() == {"chi": False, "formation_enthalpy": True}

    # the grid finishes: the case moves to results/<case>/ and the sentence reads its rows there, even
    # while the staged copies are still around (with other times, which must not be used)
    _write(tmp_path, "formation_enthalpy", _with_recipe(staged, today, [1600.0, 2000.0, 1700.0]))
    moved = point_times_sentence(tmp_path, cases)
    assert "formation enthalpy, 3 points of 20 trials: 1,600–2,000 s each;" in moved and "staged" not in moved
    # nothing of today's recipe anywhere: said so
    assert point_times_sentence(tmp_path, ("band_gap",)) == (
        "No grid point of today's recipe has been run at $m$ = all yet, so none is timed.")


def _csv_point_times(case: str) -> tuple[int, float, float] | None:
    """(points, fastest, slowest wall_s) of today's recipe at m = all, straight from the CSV files:
    the committed table when it has such rows, else the staged point files."""
    today = Recipe().to_dict()
    for files in ([RESULTS / case / "results.csv"], sorted(glob.glob(str(RESULTS / STAGED_DIR / case / "points" / "*.csv")))):
        frames = [pd.read_csv(f) for f in files if Path(f).is_file()]
        if not frames:
            continue
        t = pd.concat(frames)
        t = t[(t["m_target"] == -1) & t["params"].map(lambda p: json.loads(p).get("recipe") == today)]
        if len(t):
            wall = t.drop_duplicates("n_source")["wall_s"]
            return len(wall), float(wall.min()), float(wall.max())
    return None


def test_rerun_page_generates_its_point_times_and_they_are_the_rows():
    page = (REPO / "book" / "rerun.md").read_text()
    assert "book.point_times_sentence()" in page
    section = page.split("## The book's grids, and what they cost")[1].split("(classroom-run)=")[0]
    prose = re.sub(r"```.*?```", "", section, flags=re.S)
    assert not re.search(r"\d[\d,]*\s*(–\s*\d[\d,]*\s*)?(s|min|minutes) each", prose), \
        "a hand-written time per point is back in the rerun page: it is generated from the rows"
    whole = re.sub(r"```.*?```", "", page.split("(classroom-run)=")[0], flags=re.S)  # the classroom box: test_benchmark
    assert not re.search(r"\btook\s+(about\s+)?\d[\d,.]*\s*(s|min|minutes)\b", whole), \
        "a hand-written 'took N s' is back in the rerun page: grid times are generated from the rows"
    if not RESULTS.is_dir():
        pytest.skip("no committed results")
    text = point_times_sentence(RESULTS)
    found = 0
    for case in book_results.BOOK_CASES:
        got = _csv_point_times(case)
        if got is None:
            assert book_results.case_words(case) in text.split("recorded yet for")[-1], case
            continue
        k, lo, hi = got
        found += 1
        span = f"{lo:,.0f} s" if k == 1 else f"{lo:,.0f}–{hi:,.0f} s each"
        assert f"{book_results.case_words(case)}, {k} point" in text and span in text, (case, span, text)
    assert found, "no point of today's recipe in the committed results"


# ------------------------------------------------------------------ lesson.md and exercise 8: chi


@pytest.fixture(scope="module")
def chi_table():
    table = case_results.load_case_results("chi", RESULTS, announce=False) if RESULTS.is_dir() else None
    if table is None:
        pytest.skip("no committed chi results")
    return selection.select_grid(table)


def _gain_pct(table: pd.DataFrame, m: int):
    """The paired corrected gain at the largest n against n = 0 at ``m`` and it in % of the n = 0 error."""
    mat = trial_matrix(selection.for_fit(table), "mae", m)
    g = paired_gain(mat, mat.index.max(), 0)
    return g, 100 * g.mean / float(mat.loc[0].mean())


def _lesson_row(start: str) -> str:
    rows = [ln for ln in (REPO / "book" / "lesson.md").read_text().splitlines() if ln.startswith(f"| {start} |")]
    assert len(rows) == 1, f"lesson plan row {start} not found"
    return rows[0]


def test_lesson_chi_gains_are_the_paired_gains(chi_table):
    row = _lesson_row("0:35")
    quoted = re.findall(r"by (\d+(?:\.\d+)?)% at \$m\$ = ([\d,]+)", row)
    assert len(quoted) >= 2, row
    pct = {}
    for value, m in quoted:
        g, p = _gain_pct(chi_table, int(m.replace(",", "")))
        assert g.verdict == "lowers" and "lowers the error" in row, (m, g)
        assert value + "%" == findings._pct(p), f"lesson says {value}% at m = {m}, the table gives {p:.3g}%"
        pct[int(m.replace(",", ""))] = p
    everything = re.search(r"by only (\d+(?:\.\d+)?)% with all of them", row)
    assert everything, row
    g, p_all = _gain_pct(chi_table, ALL_M)
    assert g.verdict == "lowers" and everything.group(1) + "%" == findings._pct(p_all)
    assert all(abs(p_all) < abs(p) for p in pct.values())  # "only"
    # row 1:10: "larger with few experiments (m <= 100) than with all of them"
    assert "larger with few experiments ($m \\le 100$) than with all of them" in _lesson_row("1:10")
    small = [m for m in selection.m_values(chi_table) if 0 < m <= 100]
    assert small and all(abs(_gain_pct(chi_table, m)[1]) > abs(p_all) for m in small)


@pytest.fixture(scope="module")
def chi_fits():
    """The chi chapter's own per-m fits (CasePage.fits_by_m: the page's bootstrap draws)."""
    if not RESULTS.is_dir():
        pytest.skip("no committed results")
    page = pages.CasePage("chi", RESULTS)
    return page, {m: findings.finding(cf) for m, cf in page.fits_by_m.items()}


def test_lesson_statements_about_the_chi_chapter_hold(chi_table, chi_fits):
    row = _lesson_row("0:35")
    st = book_results.grid_state("chi", chi_table)
    assert "whose grid is final" in row and st.state == "final"
    assert f"({st.trials[1]} trials per point)" in row and st.trials[0] == st.trials[1]
    assert "none is printed, because no law's status is `ok`" in _lesson_row("1:10")
    _, fds = chi_fits
    assert all(fd.status != FitStatus.ok for fd in fds.values()), {m: fd.status for m, fd in fds.items()}


def _exercise_8_solution() -> str:
    text = (REPO / "book" / "exercises.md").read_text()
    ex8 = text.split("## Simulations against experiments")[1]
    return re.sub(r"\s+", " ", ex8.split("```{dropdown} Solution")[1].split("```")[0])


def test_exercise_8_solution_says_what_the_chi_fits_show(chi_fits):
    sol = _exercise_8_solution()
    page, fds = chi_fits
    ms = sorted(fds, key=lambda m: (m == ALL_M, m))  # 50, 100, 300, then all
    base = [page.fits_by_m[m].baseline for m in ms]
    assert "the error itself falls with $m$ (compare the baselines at $n = 0$)" in sol
    assert all(b < a for a, b in zip(base, base[1:])), dict(zip(ms, base))
    assert "every fitted floor lies below the error at its $m$" in sol
    for m in ms:
        fit = page.fits_by_m[m].fit
        assert fit.C < min(fit.R), (m, fit.C, min(fit.R))
    # the exercise is about the paper's law D n^-alpha + C (the finite-R(0) form resolves a plateau at m = 50
    # and 100: the summary's form table says so); its floors are read from that law's fits
    assert "no $m$ resolves a floor (every $C$ is an upper bound)" in sol
    law = {m: page.fits_by_m[m].fit for m in ms}
    assert all(f.floor_unresolved() for f in law.values()), {m: f.floor_unresolved() for m, f in law.items()}
    C_hi = {m: findings._display_ci(f)["C"][1] for m, f in law.items()}
    said = re.search(r"the bound at \$m = (\d+)\$ is (above|below) the one at \$m = (\d+)\$", sol)
    assert said and "do not even fall steadily with $m$" in sol, sol
    a, word, b = int(said.group(1)), said.group(2), int(said.group(3))
    ca, cb = C_hi[a], C_hi[b]
    assert (ca > cb) == (word == "above"), f"C < {ca:.3g} at m = {a}, C < {cb:.3g} at m = {b}"
    bounds = [C_hi[m] for m in ms]
    assert not all(y < x for x, y in zip(bounds, bounds[1:])), bounds  # "not steadily"


# ------------------------------------------------------------------ recipes.md: the study's trials and candidates


def test_recipe_chapter_counts_are_the_studys():
    from s2rlib.grid import recipe_study

    text = re.sub(r"\s+", " ", (REPO / "book" / "recipes.md").read_text())
    said = re.search(r"\((\w+) candidates for `finetune` and `nonneg`, (\w+) from `wide` on\)", text)
    assert said, "the recipe chapter no longer says how many fine-tuning candidates each step has"
    words = {"three": 3, "four": 4, "five": 5, "six": 6}
    rec = recipe_study.recipes()
    assert len(rec["finetune"].candidates) == len(rec["nonneg"].candidates) == words[said.group(1)]
    later = [s.name for s in recipe_study.STEPS][[s.name for s in recipe_study.STEPS].index("wide"):]
    assert {len(rec[s].candidates) for s in later} == {words[said.group(2)]}
    trials = re.search(r"The trials are few \((\d+)\)", text)
    assert trials
    study = recipe_study.load_all(RESULTS / "recipe_study") if (RESULTS / "recipe_study").is_dir() else pd.DataFrame()
    if study.empty:
        pytest.skip("no committed recipe study")
    per_point = study.groupby(["case", "step", "n_label"])["trial"].nunique()
    assert set(per_point) == {int(trials.group(1))}, per_point.to_dict()


def test_method_page_states_the_pretraining_schedule_of_todays_recipe():
    """The method page's pretraining-length paragraph is today's Recipe: epochs, batch, minimum steps, the n
    where the minimum stops binding, and the steps on the whole formation-enthalpy database (its rows)."""
    import math

    import pandas as pd

    from s2rlib.training.transfer import Recipe

    r = Recipe()
    text = " ".join((REPO / "book" / "method.md").read_text().split())
    assert r.pretrain_max_steps is None
    assert (f"pretrains for {r.pretrain_epochs} epochs over the $n$ samples, in batches of {r.pretrain_batch}, "
            f"and for at least {r.pretrain_min_steps:,} steps") in text
    knee = r.pretrain_min_steps * r.pretrain_batch / r.pretrain_epochs
    assert f"Below $n \\approx$ {round(knee, -3):,.0f} every $n$ therefore gets the same {r.pretrain_min_steps:,}" in text
    t = pd.read_csv(REPO / "results" / "formation_enthalpy" / "results.csv")
    steps = t.loc[t["n_source"] == t["n_source"].max(), "params"].map(lambda p: json.loads(p)["pretrain_steps"])
    assert f"about {round(steps.median(), -2):,.0f} on the whole formation-enthalpy database" in text
    assert r.pretrain_steps(int(t["n_source"].max())) == r.pretrain_epochs * math.ceil(t["n_source"].max() / 512)


def test_benchmarks_readme_thread_figure_is_the_measured_one():
    """benchmarks/README.md's threads-vs-workers speed-up is ``benchmarks/results.json``, part d."""
    text = " ".join((REPO / "benchmarks" / "README.md").read_text().split())
    d = json.loads((REPO / "benchmarks" / "results.json").read_text())["d"]
    assert d["faster"] == "sequential_2threads"
    assert f"2 threads with one worker was {1 / d['ratio_seq_over_par']:.1f}x faster than" in text


def test_exercise_9_uses_the_committed_sensitivity_numbers():
    """Exercise 9 quotes formation enthalpy's errors (default, capped, no pretraining at n = all; default at
    n = 10,000) and the share of the gain with its interval: each is recomputed from the committed rows."""
    from s2rlib.law import sensitivity

    text = " ".join((REPO / "book" / "exercises.md").read_text().split())
    ex = text[text.index("## Data or compute?"):]
    main = pd.read_csv(RESULTS / "formation_enthalpy" / "results.csv")
    c = sensitivity.compare(main, sensitivity.load_variant("formation_enthalpy", "fixed_steps"), "fixed_steps")
    mat = trial_matrix(main, "mae", -1)
    assert (f"the mean errors over the 20 trials are {c.default:.4f} eV/atom by default and {c.changed:.4f} eV/atom "
            "capped") in ex
    assert (f"and {c.baseline:.4f} eV/atom without pretraining (its baseline table rounds it to "
            f"{fmt(c.baseline)})") in ex
    assert f"The default error at $n$ = 10,000 (1,000 steps) is {mat.loc[10000].mean():.4f} eV/atom" in ex
    assert Recipe().pretrain_steps(10000) == 1000 and sensitivity.FIXED_STEPS == 1000
    gain, rise = c.default - c.baseline, c.changed - c.default
    assert f"${c.default:.4f} - {c.baseline:.4f} = {gain:.4f}$" in ex
    assert f"${c.changed:.4f} - {c.default:.4f} = {rise:.4f}$" in ex and f"\\approx {round(100 * rise / -gain)}\\%$" in ex
    lo, hi = sorted(abs(x) for x in c.share_range)
    assert f"runs from {round(100 * lo)}% to {round(100 * hi)}%" in ex
    assert f"only from {mat.loc[10000].mean():.4f} to {c.changed:.4f}" in ex
    capped = trial_matrix(sensitivity.load_variant("formation_enthalpy", "fixed_steps"), "mae", -1).iloc[0]
    pair = pd.DataFrame({0: mat.loc[10000], 1: capped}).T
    d = paired_gain(pair, 1, 0, ratio=mat.attrs["test_train_ratio"])
    assert d.verdict == "no_effect" and "a 90% interval that includes zero" in ex, d
    assert c.same_compute is not None and c.same_compute.mean == pytest.approx(d.mean)  # the chapter's own pairing
    assert f"allows up to about {max(abs(d.lo), abs(d.hi)):.3f} eV/atom either way" in ex


def test_benchmarks_readme_bf16_figures_are_the_precision_benchmark():
    """benchmarks/README.md's bf16 bullet quotes benchmarks/precision.json, and its reason to keep the grids in fp32 holds:
    the paired interval of bf16 - fp32 is wider than band gap's whole gain at m = all."""
    r = json.loads((REPO / "benchmarks" / "precision.json").read_text())
    text = " ".join((REPO / "benchmarks" / "README.md").read_text().split())
    a, d = r["a"], r["a"]["difference"]
    fp, bf = a["runs"]["fp32"], a["runs"]["bf16"]
    steps = {k: v["ms_per_step"]["fp32"] / v["ms_per_step"]["bf16"] for k, v in r["b"].items()}
    assert r["overrides"] == {} and r["bf16_native"] and (a["n"], a["trials"]) == (1000, 10)
    signed = lambda x: f"{x:+.4f}".replace("-", "−")
    assert (f"took {bf['wall_s'] / 60:.1f} instead of {fp['wall_s'] / 60:.1f} minutes, **{a['speedup']:.2f}x** (a "
            f"pretraining step {steps['pretrain']:.2f}x, a fine-tuning step {steps['fine-tune']:.2f}x)") in text
    assert f"moved by {signed(d['mean'])} eV [{signed(d['lo'])}, {signed(d['hi'])}]" in text
    assert d["verdict"] == "no_effect" and "no detectable difference with 10 trials" in text
    from s2rlib.book.pages import SummaryPage

    gain = SummaryPage(RESULTS).fits["band_gap"].gain
    assert d["hi"] - d["lo"] > abs(gain.mean), "benchmarks/README.md says the bf16 interval is wider than band gap's gain"


def test_benchmarks_readme_speed_figures_are_the_benchmarks():
    """benchmarks/README.md's speed bullet quotes benchmarks/results.json (the run REPORT.md renders)."""
    r = json.loads((REPO / "benchmarks" / "results.json").read_text())
    text = " ".join((REPO / "benchmarks" / "README.md").read_text().split())
    a, point = r["a"], r["a"]["points"][0]
    loop10 = next(x for x in r["b"]["pretrain_loop"] if x["members"] == 10)
    ceiling = r["b"]["ceiling"]["matmul_1024"]
    g = r["c"]["default_grid"]
    assert r["config"]["recipe_overrides"] == {} and r["config"]["trials"] == 10 and point["n_label"] == "1000"
    assert (f"the batched fast path took {a['fast_total_s'] / 60:.1f} minutes against {a['naive_total_s'] / 60:.1f} for "
            f"one network at a time, **{a['speedup_total']:.2f}x**") in text
    assert f"runs at **{100 * loop10['gflops'] / ceiling:.0f}%** of `torch.matmul`'s {ceiling:.0f} GFLOP/s (MKL" in text
    assert f"{100 * point['gflops_end_to_end'] / ceiling:.0f}% end to end" in text
    assert (f"Papermill adds {r['c']['overhead_per_point_s']:.1f} s per point, **{100 * g['overhead_fraction']:.1f}%** of "
            f"the {g['compute_s'] / 60:.0f} minutes that the {g['points']} finished final points (of "
            f"{g['default_points']}) took") in text
