"""Protocol sensitivity: a variant's point pairs with the chapter's grid trial by trial, and says what it means."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from s2rlib.book import pages
from s2rlib.book import sensitivity_words
from s2rlib.book import claim_check as claims
from s2rlib.grid import results
from s2rlib.law import sensitivity
from s2rlib._core.errors import ParameterError
from s2rlib.book.formatting import fmt, fmt_signed
from synthetic import synthetic_table

N = 10000


def _variant_rows(main: pd.DataFrame, overrides: dict, shift, n: int = N) -> pd.DataFrame:
    """The main grid's rows at n with the recipe changed and the test error moved by ``shift`` per trial."""
    v = main[main["n_source"] == n].copy()
    params = json.loads(v["params"].iloc[0])
    params["recipe"] = {**params["recipe"], **overrides}
    v["params"] = json.dumps(params, sort_keys=True)
    v["params_id"] = results.params_id(params)
    mae = v["metric"] == "mae"
    v.loc[mae, "value"] = v.loc[mae, "value"].to_numpy() + np.asarray(shift)[v.loc[mae, "trial"].to_numpy()]
    return v


def test_a_known_shift_is_recovered_paired_and_put_in_words():
    main = synthetic_table("formation_enthalpy", ns=(0, 100, 1000, N), trials=20)
    rng = np.random.default_rng(1)
    shift = 0.02 + 0.002 * rng.standard_normal(20)  # capping the steps raises every trial's error by ~0.02
    c = sensitivity.compare(main, _variant_rows(main, {"pretrain_max_steps": 1000}, shift), "fixed_steps")
    assert c.n == N and c.trials == 20
    assert c.difference.mean == pytest.approx(shift.mean(), abs=1e-12)  # the per-trial noise of the grid cancels
    assert c.difference.lo < shift.mean() < c.difference.hi and c.difference.verdict == "raises"
    assert c.gain_variant.mean == pytest.approx(c.gain_default.mean + shift.mean(), abs=1e-12)
    assert c.share == pytest.approx(shift.mean() / c.gain_default.mean) and c.gain_default.verdict == "lowers"
    text = sensitivity_words.sentence(c, "eV/atom")
    lo, hi = c.share_range
    assert lo < c.share < hi < 0  # a rise of the error against a (negative) gain
    assert (f"the change raises the error; about {abs(c.share):.0%} ({abs(hi):.0%} to {abs(lo):.0%}) of the default gain at this n "
            "depends on the extra pretraining steps.") in text
    assert claims.check_gain_sentence(text, c.difference) == []
    tab = sensitivity_words.table([c], "eV/atom")
    row = tab.iloc[0]
    assert row["protocol"].startswith("fixed pretraining compute:") and row["n"] == "10,000" and row["trials"] == "20"
    assert row["MAE, changed (eV/atom)"] == fmt(c.changed) and row["change [90% CI]"].startswith(fmt_signed(c.difference.mean, 2))


def test_no_shift_is_no_detectable_effect_and_lookup_adds_to_the_gain():
    main = synthetic_table("formation_enthalpy", ns=(0, 1000, N), trials=20, seed=3)
    rng = np.random.default_rng(2)
    flat = sensitivity.compare(main, _variant_rows(main, {"pretrain_max_steps": 1000}, 0.001 * rng.standard_normal(20)),
                               "fixed_steps")
    assert flat.difference.verdict == "no_effect"
    text = sensitivity_words.sentence(flat)
    assert "no detectable effect; the interval allows a change of up to" in text
    assert claims.check_gain_sentence(text, flat.difference) == []
    look = sensitivity.compare(main, _variant_rows(main, {"withhold_test_sources": False}, np.full(20, -0.01)), "lookup")
    words = sensitivity_words.sentence(look, "eV/atom")
    assert look.difference.verdict == "lowers" and "the change lowers the error" in words
    assert "overstates what transfer gives for a new material" in words


def test_a_variant_that_is_not_the_grid_with_one_change_is_refused():
    main = synthetic_table("formation_enthalpy", ns=(0, 1000, N), trials=6)
    two = _variant_rows(main, {"pretrain_max_steps": 1000, "pretrain_epochs": 5}, np.zeros(6))
    with pytest.raises(ParameterError, match=r"^sensitivity fixed_steps of formation_enthalpy \(results/sensitivity/"
                                             r"formation_enthalpy/fixed_steps\): .*differs .* in \['pretrain_epochs'\]"):
        sensitivity.compare(main, two, "fixed_steps")
    reseeded = _variant_rows(main, {"pretrain_max_steps": 1000}, np.zeros(6))
    reseeded["seed"] += 100
    with pytest.raises(ParameterError, match="seeds are not the grid's"):
        sensitivity.compare(main, reseeded, "fixed_steps")
    other_code = _variant_rows(main, {"pretrain_max_steps": 1000}, np.zeros(6)).assign(code_version="0.1.0+gother")
    with pytest.raises(ParameterError, match="ran on other code .*gother.* rerun it on the grid's commit"):
        sensitivity.compare(main, other_code, "fixed_steps")
    elsewhere = _variant_rows(main, {"pretrain_max_steps": 1000}, np.zeros(6)).assign(n_source=5000)
    with pytest.raises(ParameterError, match="rows are at n = 5,000, but it reruns n = 10,000"):
        sensitivity.compare(main, elsewhere, "fixed_steps")
    with pytest.raises(ParameterError, match="unknown sensitivity variant 'bigger'"):
        sensitivity.compare(main, two, "bigger")
    # a bf16 rerun of an fp32 grid changes two things (README says it is refused)
    half = _variant_rows(main, {"pretrain_max_steps": 1000, "precision": "bf16"}, np.zeros(6))
    with pytest.raises(ParameterError, match=r"differs .* in \['precision'\]"):
        sensitivity.compare(main, half, "fixed_steps")


def test_variant_rows_are_read_from_their_directory_and_the_command_writes_there(tmp_path):
    assert sensitivity.load_variant("formation_enthalpy", "lookup", tmp_path) is None
    main = synthetic_table("formation_enthalpy", ns=(0, N), trials=4)
    rows = _variant_rows(main, {"withhold_test_sources": False}, np.zeros(4))
    d = sensitivity.variant_dir("formation_enthalpy", "lookup", tmp_path)
    results.write_atomic(rows, d / "results.csv")
    assert len(sensitivity.load_variant("formation_enthalpy", "lookup", tmp_path)) == len(rows)
    cmd = sensitivity.command("formation_enthalpy", "lookup")
    assert cmd.endswith("--out results/sensitivity/formation_enthalpy/lookup")
    assert "'{\"withhold_test_sources\": false}'" in cmd and "--ns all --ms all --trials 20" in cmd


def test_case_files_may_name_only_known_variants():
    """A case file's sensitivity list is a list of names (checked on reading), each a known variant
    (checked when its page is written: the variants are the law layer's, above the case files)."""
    from dataclasses import replace

    from s2rlib.book import case_pages
    from s2rlib.cases import case_file as casefile
    from s2rlib.cases.registry import get_case

    casefile.check_page({"sensitivity": ["lookup", "fixed_steps"]}, "mine.toml")
    for bad in ("lookup", [1], [""]):
        with pytest.raises(ParameterError, match=r"mine.toml: \[page\] sensitivity=.*expected a list of protocol"):
            casefile.check_page({"sensitivity": bad}, "mine.toml")
    case = get_case("formation_enthalpy")
    spec = {**case.spec, "page": {**case.spec.get("page", {}), "sensitivity": ["lookup", "bigger"]}}
    with pytest.raises(ParameterError, match=r"\[page\] sensitivity=.*expected a list of protocol variants"):
        case_pages.page_text(replace(case, spec=spec))


def test_the_chapter_shows_a_paired_variant_and_says_why_another_is_not_shown(tmp_path, capsys):

    main = synthetic_table("formation_enthalpy", ns=(0, 100, 300, 1000, 3000, N), trials=8)
    results.write_atomic(main, tmp_path / "formation_enthalpy" / "results.csv")
    fixed = _variant_rows(main, {"pretrain_max_steps": 1000}, 0.03 + 0.002 * np.random.default_rng(4).standard_normal(8))
    results.write_atomic(fixed, sensitivity.variant_dir("formation_enthalpy", "fixed_steps", tmp_path) / "results.csv")
    page = pages.CasePage("formation_enthalpy", tmp_path, n_boot=30)
    page.sensitivity()
    out = capsys.readouterr().out
    assert "fixed pretraining compute: pretraining capped at 1,000 steps" in out
    assert re.search(r"\| fixed pretraining compute: [^|]+\|[^|]+\|[^|]+\|[^|]+\| \+0\.0\d+ \[\+0\.0\d+, \+0\.0\d+\] +\|"
                     r"[^|]+\|[^|]+\| 8 +\|", out), out
    assert "the change raises the error" in out
    assert "look-up protocol: not run yet; it is run on this case's final grid" in out  # a synthetic recipe: not today's
    assert "In this chapter's grid the test materials' simulations are" in out
    page.trust()  # the chapter says that its n axis measures data and compute together; the reruns are the details'
    trust = capsys.readouterr().out
    assert "With fixed pretraining compute" not in trust
    from s2rlib.book import plotting

    fig = plotting.sensitivity_figure(page.fit, page.sensitivity_comparisons[0])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any(lab.startswith("fixed pretraining compute (paired change") for lab in labels)
    assert any(lab.startswith("no pretraining (n = 0)") for lab in labels)
    page.sensitivity_figure()  # on the page: shown once, closed
    pages.SummaryPage(tmp_path, n_boot=30, cases=["formation_enthalpy"]).sensitivity()  # the intro and summary
    assert "* **Formation enthalpy**: With fixed pretraining compute" in capsys.readouterr().out
    # a variant run on another grid (other seeds) is named, not paired and not shown
    lookup = _variant_rows(main, {"withhold_test_sources": False}, np.zeros(8)).assign(seed=lambda t: t["seed"] + 50)
    results.write_atomic(lookup, sensitivity.variant_dir("formation_enthalpy", "lookup", tmp_path) / "results.csv")
    pages.CasePage("formation_enthalpy", tmp_path, n_boot=30).sensitivity()
    assert "look-up protocol: not paired with this chapter's grid" in capsys.readouterr().out


def test_a_change_beyond_the_whole_gain_and_a_lookup_that_hurts_are_said_plainly():
    main = synthetic_table("formation_enthalpy", ns=(0, 1000, N), trials=12, seed=5)
    gain = -(main[(main["metric"] == "mae") & (main["n_source"] == N)]["value"].mean()
             - main[(main["metric"] == "mae") & (main["n_source"] == 0)]["value"].mean())
    worse = sensitivity.compare(main, _variant_rows(main, {"pretrain_max_steps": 1000}, np.full(12, 2 * gain)),
                                "fixed_steps")
    assert worse.share < -1 or worse.share > 1
    text = sensitivity_words.sentence(worse)
    assert "pretraining on this many samples is worse than none: the whole gain depends on the extra steps" in text
    assert "%" not in text.split("; ", 1)[1]  # no "438% of the gain"
    hurt = sensitivity.compare(main, _variant_rows(main, {"withhold_test_sources": False}, np.full(12, 0.01)), "lookup")
    assert "makes the error worse here" in sensitivity_words.sentence(hurt)


def test_mixed_runs_other_data_and_missing_trials_are_refused():
    main = synthetic_table("formation_enthalpy", ns=(0, 1000, N), trials=6)
    one = _variant_rows(main, {"pretrain_max_steps": 1000}, np.zeros(6))
    other = _variant_rows(main, {"pretrain_max_steps": 1000}, np.full(6, 0.5)).assign(params_id="second")
    with pytest.raises(ParameterError, match="several runs"):
        sensitivity.compare(main, pd.concat([one, other]), "fixed_steps")
    with pytest.raises(ParameterError, match="ran on other data"):
        sensitivity.compare(main, one.assign(data_sha256="cd" * 32), "fixed_steps")
    with pytest.raises(ParameterError, match="every trial must be paired"):
        sensitivity.compare(main, one[one["trial"] < 4], "fixed_steps")


def test_the_fixed_steps_variant_is_the_steps_todays_smallest_databases_get():
    from s2rlib.training.transfer import Recipe

    r = Recipe()
    assert sensitivity.FIXED_STEPS == r.pretrain_min_steps == r.pretrain_steps(100) == r.pretrain_steps(10000)
    knee = r.pretrain_min_steps * r.pretrain_batch / r.pretrain_epochs
    assert sensitivity.FIXED_STEPS_UP_TO == round(knee, -3) and r.pretrain_steps(int(knee) + 2000) > sensitivity.FIXED_STEPS
    assert sensitivity.VARIANTS["fixed_steps"].overrides == {"pretrain_max_steps": r.pretrain_min_steps}


def test_the_grid_protocol_is_read_from_its_rows():
    t = synthetic_table("formation_enthalpy", ns=(0, 1000, N), trials=3)
    steps = {0: 0, 1000: 1000, N: 4200}
    t["params"] = [json.dumps({**json.loads(p), "pretrain_steps": steps[n],
                               "recipe": {"withhold_test_sources": True}}) for p, n in zip(t["params"], t["n_source"])]
    assert sensitivity_words.grid_protocol(t) == ("In this chapter's grid the test materials' simulations are withheld from "
                                            "pretraining; pretraining runs 1,000 steps at n = 1,000 and 4,200 at the "
                                            "largest n.")
    t["params"] = t["params"].map(lambda p: json.dumps({**json.loads(p), "recipe": {}}))  # not recorded: drawn n says
    assert "allowed into pretraining" in sensitivity_words.grid_protocol(t)


def test_the_more_steps_variant_reruns_n_10000_with_the_steps_of_the_whole_database():
    from pathlib import Path

    t = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "formation_enthalpy" / "results.csv")
    top = t[t["n_source"] == t["n_source"].max()]["params"].map(lambda p: json.loads(p)["pretrain_steps"])
    assert top.median() == sensitivity.LONG_STEPS == top.min() == top.max()  # "what the whole database gets"
    v = sensitivity.VARIANTS["more_steps"]
    assert v.n == 10000 and f"{sensitivity.LONG_STEPS:,} steps" in v.words
    assert "--ns 10000 " in sensitivity.command("formation_enthalpy", "more_steps")
    main = synthetic_table("formation_enthalpy", ns=(0, 1000, N), trials=10)
    c = sensitivity.compare(main, _variant_rows(main, {"pretrain_min_steps": 5580}, np.full(10, -0.004)), "more_steps")
    text = sensitivity_words.sentence(c)
    assert "the error at n = 10,000 is" in text and "largest" not in text
    assert "compute alone buys part of the gain" in text


def test_the_sensitivity_readme_lists_the_variants_as_defined():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "results" / "sensitivity" / "README.md").read_text()
    rows = re.findall(r"\| `(\w+)/(\w+)/` \| ([^|]+) \| `([^`]+)` \| n = ([\d,]+|all), m = all, (\d+) trials \|", text)
    assert {r[1] for r in rows} == {"fixed_steps", "more_steps", "lookup"}, rows
    for case, name, title, change, n, trials in rows:
        v = sensitivity.VARIANTS[name]
        assert (title.strip(), json.loads(change), n) == (v.title, v.overrides, "all" if v.n is None else f"{v.n:,}")
        assert f"--trials {trials}" in sensitivity.command(case, name)


def test_a_grid_whose_steps_grow_with_n_says_so_and_a_fixed_one_does_not():
    t = synthetic_table("formation_enthalpy", ns=(0, 100, 1000, N), trials=3)
    steps = {0: 0, 100: 1000, 1000: 1000, N: 4200}
    t["params"] = [json.dumps({**json.loads(p), "pretrain_steps": steps[n]}) for p, n in zip(t["params"], t["n_source"])]
    assert sensitivity_words.steps_sentence(t) == ("Along this grid the pretraining steps grow with n (1,000 at n ≤ 1,000 and "
                                             "4,200 at n = 10,000), so the law's n axis measures more data and more "
                                             "pretraining compute together.")
    t["params"] = t["params"].map(lambda p: json.dumps({**json.loads(p), "pretrain_steps": 1000}))
    assert sensitivity_words.steps_sentence(t) == ""
    assert "at every n > 0" in sensitivity_words.grid_protocol(t)


def test_a_chapter_introduces_only_the_variants_its_case_file_declares():
    """Every variant has its words on the page (casepages.VARIANT_TEXT), and a chapter's intro names only its own:
    band gap (fixed_steps, lookup) never describes the more-steps rerun it does not have."""
    from s2rlib.book import case_pages as casepages

    assert set(casepages.VARIANT_TEXT) == set(sensitivity.VARIANTS)
    two = casepages.sensitivity_text(["fixed_steps", "lookup"])
    assert "look-up protocol" in two and "Fixed" in two and "More pretraining compute" not in " ".join(two.split())
    assert "More pretraining compute" in " ".join(casepages.sensitivity_text(list(sensitivity.VARIANTS)).split())


@pytest.mark.parametrize("default_gain,words", [
    ((-0.05, -0.07, -0.03), "the interval allows a change of up to"),
    ((-0.005, -0.02, 0.01), "the default gain over n = 0 is itself not detected, so its share cannot be estimated"),
    ((0.02, 0.01, 0.03), "by default pretraining makes the error worse here, so there is no gain to take a share of"),
    ((float("nan"),) * 3, None),
])
@pytest.mark.parametrize("variant", ["fixed_steps", "lookup", "more_steps"])
def test_a_change_not_detected_is_read_against_the_default_gain_as_it_stands(default_gain, words, variant):
    """A variant that splits the default gain says what an undetected change means for each state of that gain:
    detected (how much the interval allows), not detected, pretraining hurting, unknown (nothing added)."""
    from dataclasses import replace

    main = synthetic_table("formation_enthalpy", ns=(0, 1000, N), trials=20, seed=3)
    rng = np.random.default_rng(2)
    v = sensitivity.VARIANTS[variant]
    c = sensitivity.compare(main, _variant_rows(main, v.overrides, 0.001 * rng.standard_normal(20), n=v.n or N),
                            variant)
    assert c.difference.verdict == "no_effect"
    mean, lo, hi = default_gain
    c = replace(c, gain_default=replace(c.gain_default, mean=mean, lo=lo, hi=hi))
    text = sensitivity_words.sentence(c, "eV/atom")
    if "{share}" not in v.if_lowers + v.if_raises and words and "allows" not in words:
        words = None  # a variant that does not split the gain says nothing of an undetected or harmful one
    others = ["the interval allows a change of up to", "is itself not detected", "no gain to take a share of"]
    for phrase in others:
        assert (phrase in text) == (words is not None and phrase in words), (phrase, text)
    assert "no detectable effect" in text and claims.check_gain_sentence(text, c.difference) == []


def test_the_sensitivity_readme_says_every_listed_variant_has_run_only_when_it_has():
    from pathlib import Path

    from s2rlib.cases.registry import builtin_names, get_case

    text = (Path(__file__).resolve().parents[1] / "results" / "sensitivity" / "README.md").read_text()
    declared = [(c, v) for c in builtin_names() for v in get_case(c).prose["page"].get("sensitivity", [])]
    assert declared
    ran = all(sensitivity.load_variant(c, v) is not None for c, v in declared)
    assert ("Every variant the case files list has run." in " ".join(text.split())) == ran
