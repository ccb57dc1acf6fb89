"""Claims test: a result sentence must agree with the numbers it stands on.

* the sentence generator (:mod:`s2rlib.book.findings`) on constructed gains and tables: "lowers" only
  when the whole corrected interval is below zero, "raises" only above, "no detectable effect"
  when it includes zero; the checker flags a sentence that says otherwise;
* the hand-written text (README.md, book/**/*.md) against the committed results: phrases such as
  "the error follows a power law with a floor" may appear only when the fits say so;
* the method chapter's status tables are the enums' own.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from s2rlib.law import fit_cache
from s2rlib.grid import selection
from s2rlib.book import tables
from s2rlib.book import pages
from s2rlib.book import law_checks
from s2rlib.book import formatting
from s2rlib.book import display
from s2rlib.book import claim_check
from s2rlib.book import case_results
from s2rlib.book import equal_m
from s2rlib.book import findings
from s2rlib.law import derived as insights
from s2rlib.law import scaling
from s2rlib.law import trial_stats
from s2rlib.book.formatting import signed_pct
from s2rlib.law.fit_status import FitStatus
from s2rlib.law.trial_stats import Gain
from synthetic import synthetic_table
import reading

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_fit_cache(monkeypatch):
    monkeypatch.setenv(fit_cache.FIT_CACHE_ENV, "off")


def _finding(gain: Gain, status=FitStatus.ok, C_upper_only=False) -> findings.Finding:
    return findings.Finding(case="band_gap", m_target=-1, units="eV", trials=gain.trials, baseline=0.40, gain=gain,
                            status=status, alpha=0.4, alpha_lo=0.2, alpha_hi=0.7, C=0.1, C_lo=0.0, C_hi=0.2,
                            C_upper_only=C_upper_only)


GAINS = {
    "lowers": Gain(78164, -0.04, -0.07, -0.01, 20),
    "raises": Gain(78164, 0.03, 0.005, 0.055, 20),
    "no_effect": Gain(78164, -0.01, -0.03, 0.01, 20),
    "no_effect_positive_mean": Gain(78164, 0.009, -0.033, 0.051, 5),
}


@pytest.mark.parametrize("name", list(GAINS))
def test_generated_gain_sentences_match_their_interval(name):
    g = GAINS[name]
    text = _finding(g).gain_sentence()
    assert claim_check.check_gain_sentence(text, g) == [], text
    expected = {"lowers": "lowers the error", "raises": "raises the error"}.get(g.verdict, "no detectable effect")
    assert expected in text
    if g.verdict == "lowers":  # the size in percent of the baseline, with the interval's ends
        assert "by 10% [2.5%, 18%]" in text, text


def test_checker_flags_words_the_interval_does_not_support():
    g = GAINS["no_effect"]
    assert claim_check.check_gain_sentence("Pretraining lowers the error by 2.5%.", g)
    assert claim_check.check_gain_sentence("Pretraining clearly helps here.", g)
    assert claim_check.check_gain_sentence("Pretraining has no detectable effect.", GAINS["lowers"])
    assert claim_check.check_gain_sentence("Pretraining has no detectable effect.", g) == []
    # past tense too: "it lowered the test error" is the same claim
    assert claim_check.check_gain_sentence("At n = all it lowered the test error from 0.41 to 0.38.", g)
    assert claim_check.check_gain_sentence("Pretraining hurt here.", g)
    assert claim_check.check_gain_sentence("The change was not detectable.", GAINS["raises"])


def test_law_sentence_says_what_is_not_identified():
    """Under constant_preferred the sentence prints neither alpha (0.4) nor C (0.1, C < 0.2): words instead."""
    g = GAINS["no_effect"]
    text = _finding(g, FitStatus.constant_preferred, C_upper_only=True).law_sentence()
    assert "no scaling law" in text and findings.status_link("constant_preferred") in text and "constant_preferred" not in text
    assert text.endswith("no fall with n; C not identified.")
    assert not re.search(r"0\.4\b|0\.1\b|C < 0\.2", text), text
    ok = _finding(g).law_sentence()
    assert "identified" in ok and "alpha = 0.400 [0.200, 0.700]" in ok and "C = 0.100 [0, 0.200] eV" in ok


#: a status code as the reading path must not print it: an identifier, or a one-word code in code font
_STATUS_CODE = re.compile(r"(?<![\w-])(" + "|".join(c for c in findings.STATUS_WORDS if "_" in c) + r")(?![\w-])|`("
                          + "|".join(c for c in findings.STATUS_WORDS if "_" not in c) + r")`")


def test_generator_on_constructed_tables():
    """A table with a real law and one with no effect of n: sentences, statuses and glance rows follow."""
    law = synthetic_table("formation_enthalpy", ns=(0, 100, 300, 1000, 3000, 10000, 30000), trials=20,
                          law=(0.9, 0.45, 0.080, 0.21, 0.003))
    flat = synthetic_table("band_gap", ns=(0, 100, 300, 1000, 3000, 10000, 30000), trials=5,
                           law=(0.0, 0.30, 0.40, 0.40, 0.010))
    fits = {c: trial_stats.fit_table(t, n_boot=300, units="eV") for c, t in (("formation_enthalpy", law),
                                                                           ("band_gap", flat))}
    fe, bg = (findings.finding(fits[c]) for c in ("formation_enthalpy", "band_gap"))
    assert fe.verdict == "lowers" and fe.status == FitStatus.ok
    assert bg.verdict == "no_effect" and bg.status in (FitStatus.constant_preferred, FitStatus.no_decrease)
    for cf in fits.values():
        for s in findings.case_findings(cf):
            assert claim_check.check_gain_sentence(s, cf.gain) == [] or "status" in s
    glance = findings.glance_table(fits).set_index("case")
    assert glance.loc["Band gap", "pretraining on the largest n"] == "no detectable effect"
    assert glance.loc["Band gap", "scaling law"].endswith("no fall with n; C not identified")
    assert glance.loc["Formation enthalpy", "pretraining on the largest n"] == "lowers the error"
    assert glance.loc["Formation enthalpy", "scaling law"].startswith(findings.status_link("ok") + ": alpha = ")
    text = findings.conclusion(fits)
    # what the landing page, the summary and the chapters print: statuses in words (linked to the method
    # chapter's table), never the code; the law as MyST math, never "R(n) = D n^-alpha + C"
    printed = [text, *glance["scaling law"], *(s for cf in fits.values() for s in findings.case_findings(cf)),
               *(findings.finding(cf).law_brief() for cf in fits.values())]
    for line in printed:
        assert not _STATUS_CODE.search(line), line
        assert not reading.plain_math(line), line
    assert "$R(n) = D\\,n^{-\\alpha} + C$" in text and findings.status_link(bg.status) in glance["scaling law"]["Band gap"]
    assert "lowers the error detectably for formation enthalpy" in text
    assert "no detectable effect for band gap" in text
    # the derived numbers are printed only for the ok fit; the other says why in words
    assert tables.derived_table(fits["band_gap"])["answer"].eq(formatting.DASH).all()
    assert tables.derived_table(fits["band_gap"])["status"].str.startswith("not printed").all()
    assert tables.derived_table(fits["formation_enthalpy"])["answer"].ne(formatting.DASH).all()
    # the page says it once, in words, for the fit that is not ok; nothing to say for the ok one
    withheld = tables.derived_withheld(fits["band_gap"])
    assert findings.status_link(fits['band_gap'].fit.status) in withheld and FitStatus(fits["band_gap"].fit.status).meaning in withheld
    assert tables.derived_withheld(fits["formation_enthalpy"]) is None


def test_scarce_data_sentence_says_each_cases_verdict_at_equal_m():
    """The conclusion's sentence at m = 100: every case named under the verdict of its own paired gain at
    m = 100, with the percentage the equal-m table prints; "every case" only when all lower the error; a
    case without m = 100 is named as not run."""
    ns = (0, 100, 300, 1000, 3000, 10000, 30000)
    law = synthetic_table("formation_enthalpy", ns=ns, ms=(100, -1), trials=20, law=(0.9, 0.45, 0.080, 0.21, 0.003))
    flat = synthetic_table("band_gap", ns=ns, ms=(100, -1), trials=20, law=(0.0, 0.30, 0.40, 0.40, 0.010))
    only_all = synthetic_table("chi", ns=ns, trials=20)
    tables = {"formation_enthalpy": law, "band_gap": flat, "chi": only_all}
    text = equal_m.scarce_data_sentence(tables)
    cells = equal_m.equal_m_table(tables).set_index("case")["m = 100"]
    fe_pct, bg_pct = (cells[c].split(" [")[0] for c in ("Formation enthalpy", "Band gap"))
    assert text.startswith("With only 100 experiments (m = 100; gains in % of the error without pretraining)")
    assert f"lowers the error detectably for formation enthalpy {fe_pct}" in text and "every case" not in text
    assert f"has no detectable effect for band gap {bg_pct}" in text
    assert text.endswith("Flory–Huggins χ has not run m = 100 yet.")
    # each clause agrees with its own case's gain (the claims checker reads them one by one)
    for clause, case in ((text.split(";")[1], "formation_enthalpy"), (text.split(";")[2], "band_gap")):
        g = equal_m.gain_at_m(tables[case], 100)[0]
        assert claim_check.check_gain_sentence(clause, g) == [], clause
    # both lower: "every case", ordered by the size of the gain
    steep = synthetic_table("band_gap", ns=ns, ms=(100,), trials=20, law=(0.5, 0.30, 0.10, 0.40, 0.005))
    both = equal_m.scarce_data_sentence({"band_gap": steep, "formation_enthalpy": law})
    assert "lowers the error detectably for every case: " in both
    # not "every case" while a case has not run m = 100; a one-trial case has no interval, and says so
    three = equal_m.scarce_data_sentence({"band_gap": steep, "formation_enthalpy": law, "chi": only_all})
    assert "every case" not in three and three.endswith("Flory–Huggins χ has not run m = 100 yet.")
    one_trial = synthetic_table("polymer_density", ns=ns, ms=(100,), trials=1)
    few = equal_m.scarce_data_sentence({"band_gap": steep, "formation_enthalpy": law, "polymer_density": one_trial})
    assert "every case" not in few and few.endswith("polymer density has too few trials at m = 100 for an interval.")
    # a partly run m line: the gain is at the largest n run so far, and the sentence names it
    part = law[(law["m_target"] == -1) | (law["n_source"] <= 3000)]
    partial = equal_m.scarce_data_sentence({"formation_enthalpy": part})
    assert "formation enthalpy −" in partial and "(at n = 3,000, the largest run at m = 100 so far)" in partial
    assert equal_m.scarce_data_sentence({"chi": only_all}) == ""
    # the conclusion carries it only when given the tables
    fits = {c: trial_stats.fit_table(t, n_boot=100, units="eV") for c, t in tables.items() if c != "chi"}
    assert text in findings.conclusion(fits, tables=tables) and "100 experiments" not in findings.conclusion(fits)


# ------------------------------------------------------------------ hand-written claims


def _committed_findings():
    fits = pages.summary_fits(REPO / "results", n_boot=200)
    main = {c: findings.finding(cf) for c, cf in fits.items()}
    chi = {}
    table = case_results.load_case_results("chi", REPO / "results", announce=False)
    if table is not None:
        chi = {m: findings.finding(cf) for m, cf in case_results.fits_by_m(selection.select_grid(table), n_boot=100).items()
               if m > 0}
    return main, chi


@pytest.fixture(scope="module")
def committed():
    if not (REPO / "results").is_dir():
        pytest.skip("no committed results")
    import os

    old = os.environ.get(fit_cache.FIT_CACHE_ENV)
    os.environ[fit_cache.FIT_CACHE_ENV] = "off"
    try:
        return _committed_findings()
    finally:
        if old is None:
            os.environ.pop(fit_cache.FIT_CACHE_ENV, None)
        else:
            os.environ[fit_cache.FIT_CACHE_ENV] = old


def _docs():
    return [REPO / "README.md", *sorted((REPO / "book").rglob("*.md"))]


def test_hand_written_claims_agree_with_the_committed_fits(committed):
    main, chi = committed
    problems = []
    for path in _docs():
        for p in claim_check.check_claims(path.read_text(), main, chi):
            problems.append(f"{path.relative_to(REPO)}: {p}")
    assert not problems, "\n".join(problems)


def test_the_claims_check_can_fail(committed):
    """The sentences the review found contradicting their tables are caught against the same fits."""
    main, chi = committed
    if all(f.status == FitStatus.ok for f in main.values()):
        pytest.skip("every committed fit is ok: the floor claim would be true")
    old = ("The error follows a power law with a floor. A case with a larger exponent gains more from each "
           "doubling. The transfer gap is below what these data can see. Shrink, in general.")
    assert len(claim_check.check_claims(old, main, chi)) >= 3
    fake_ok = {c: _finding(GAINS["lowers"]) for c in main}
    assert claim_check.check_claims("The error follows a power law with a floor.", fake_ok) == []


def test_generated_sentences_on_the_committed_fits_pass_the_checker(committed):
    main, _ = committed
    for fd in main.values():
        assert claim_check.check_gain_sentence(fd.gain_sentence(), fd.gain) == []


# ------------------------------------------------------------------ the status tables of the method chapter


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) + len(start):text.index(end)].strip()


def test_method_status_tables_are_the_enums():
    text = (REPO / "book" / "method.md").read_text()
    fit = _between(text, "<!-- status table: generated from s2rlib.law.fit_status.FitStatus -->", "<!-- end status table -->")
    # the table's label comes first (the reading path links each status's words to it), then the table
    assert fit.startswith(f"({findings.STATUS_TABLE})=\n")
    fit = fit.split("\n", 1)[1].strip()
    assert fit == display.to_markdown(findings.status_table(FitStatus)).strip()
    der = _between(text, "<!-- derived status table: generated from s2rlib.law.derived.DerivedStatus -->",
                   "<!-- end derived status table -->")
    assert der == display.to_markdown(findings.status_table(insights.DerivedStatus)).strip()
    # every status has its words, and no two statuses share them (a reader tells them apart by the words)
    codes = [s.value for s in FitStatus] + [d.value for d in insights.DerivedStatus]
    assert set(findings.STATUS_WORDS) == set(codes)
    assert len(set(findings.STATUS_WORDS.values())) == len(codes)
    for s in FitStatus:
        assert f"`{s.value}`" in fit
    assert re.search(r"`unidentified`", fit) and "`unreachable`" in der and "`n0_at_bound`" in fit
    assert np.isfinite(scaling.AIC_MARGIN)


def test_case_page_opens_with_its_key_result(tmp_path, capsys):
    """Three bullets: the gain with every experiment, with the fewest (m = 50 for chi), and the law in brief;
    each gain sentence says what its interval says; 'How far to trust the law' carries the rest, not the gain."""
    from synthetic import write_synthetic_results

    write_synthetic_results(tmp_path, ["chi"])
    page = pages.CasePage("chi", tmp_path, n_boot=50, n_boot_per_m=30)
    page.key_result()
    out = capsys.readouterr().out
    bullets = [line[2:] for line in out.splitlines() if line.startswith("* ")]
    assert len(bullets) == 3 and "Key result: Flory–Huggins χ" in out
    assert bullets[0].startswith("**With every experiment:** Pretraining on n = 1,000 simulations")
    m_all = case_results.effective_m(page.table)  # the mean experimental training + validation size at m = all
    assert bullets[1].startswith(f"**With 50 of the {m_all:,.0f} experiments:** Pretraining on n = 1,000 simulations "
                                 f"with m = 50 ")
    assert bullets[2].startswith("**The law:** ") and f"(status: {findings.status_link(page.fit.chosen_fit.status)})" in bullets[2]
    assert f"`{page.fit.chosen_fit.status}`" not in bullets[2]  # the words, never the code
    assert claim_check.check_gain_sentence(bullets[0].split(":** ", 1)[1], page.fit.gain) == []
    assert claim_check.check_gain_sentence(bullets[1].split(":** ", 1)[1], page.fits_by_m[50].gain) == []
    page.trust()
    trust = capsys.readouterr().out
    assert "Pretraining on n = " not in trust and trust.startswith("* ")
    assert "Flory–Huggins χ means better than the law" in trust


def test_equal_m_table_compares_cases_at_the_same_m():
    from synthetic import synthetic_table

    helps = synthetic_table("band_gap", ms=(100, -1), trials=6, law=(0.6, 0.3, 0.2, 0.5, 0.004))
    hurts = synthetic_table("chi", ms=(100, 300), trials=6, law=(0.1, 0.3, 0.6, 0.5, 0.004))
    tab = equal_m.equal_m_table({"band_gap": helps, "chi": hurts})
    assert list(tab.columns) == ["case", "m = 100", "m = 300", "all experiments"]
    bg, chi = tab.iloc[0], tab.iloc[1]
    assert bg["m = 300"] == "not run yet" and chi["all experiments"] == "not run yet"
    assert bg["m = 100"].endswith("at n = 10,000 (lower; 6 trials)") and chi["m = 300"].endswith("(higher; 6 trials)")
    # the number is the paired mean difference in % of the no-pretraining mean, computed here by hand
    sub = helps[(helps.metric == "mae") & (helps.m_target == -1)].pivot_table(index="n_source", columns="trial",
                                                                                values="value")
    d, base = sub.loc[10000] - sub.loc[0], sub.loc[0].mean()
    pct = 100 * d.mean() / base
    assert bg["all experiments"].startswith(f"−{abs(pct):.2g}%")
    # and the bracket is the corrected interval of the same differences, in % of the same baseline
    from s2rlib.law.trial_stats import paired_gain, trial_matrix

    g = paired_gain(trial_matrix(helps, "mae", -1), 10000, 0)
    assert f"[{signed_pct(100 * g.lo / base)}, {signed_pct(100 * g.hi / base)}]" in bg["all experiments"]
    # one trial: no interval, said so; an effect inside the noise: "no effect"
    one = equal_m.equal_m_table({"x": synthetic_table("band_gap", ms=(100,), trials=1)})
    assert one["m = 100"].iloc[0] == "1 trial(s): no interval"
    flat = equal_m.equal_m_table({"x": synthetic_table("band_gap", ms=(100,), trials=6, law=(0.0, 0.3, 0.5, 0.5, 0.05))})
    assert flat["m = 100"].iloc[0].endswith("(no effect; 6 trials)")


def test_size_words_and_the_old_lesson_sentences_are_caught(committed):
    """"lowers the error a lot" says a size without the number; the chi gains do not shrink at every m."""
    main, chi = committed
    old = ("With few experiments pretraining lowers the error a lot (about -35% at m = 50 and -40% at m = 100). "
           "The two-way design: the paired gain shrinks as $m$ grows.")
    problems = claim_check.check_claims(old, main, chi)
    assert any("a size in words" in p for p in problems), problems
    rel = [abs(chi[m].relative[0]) for m in sorted(chi)]
    assert any("must fall in size" in p for p in problems) == (not all(b < a for a, b in zip(rel, rel[1:]))), rel
    assert claim_check.check_claims("Pretraining lowers the error by 35% [26%, 43%].", main, chi) == []


def test_extrapolation_and_forms_sentences_say_what_the_numbers_say():
    """The law's extrapolation check and the best form by AIC in a case's findings: inside/outside
    and the direction come from the interval and the measured mean's standard error, the form from the
    lowest AIC by the AIC margin; nothing without numbers, nothing for a law that describes no fall."""
    import pandas as pd

    from s2rlib.law.derived import ExtrapolationCheck

    def check(measured, lo=0.0845, hi=0.0947, sem=0.001, status="C_at_bound"):
        return ExtrapolationCheck(94777, 30000, 0.0898, lo, hi, measured, sem, 0.0898 - measured,
                                  (0.0898 - measured) / measured, lo <= measured <= hi, status, 6)

    below = law_checks.extrapolation_sentence(check(0.0776), "eV/atom")
    assert "below that interval" in below and "lower than the law fitted up to n = 30,000 predicts" in below
    assert "0.0776 eV/atom ± 0.001" in below
    assert "above that interval" in law_checks.extrapolation_sentence(check(0.1), "eV/atom")
    inside = law_checks.extrapolation_sentence(check(0.09), "dimensionless")
    assert inside.endswith(", inside that interval.") and "dimensionless" not in inside
    assert law_checks.extrapolation_sentence(check(0.0835)).endswith("at the edge of that interval.")  # 1 SE out
    assert law_checks.extrapolation_sentence(check(0.09, lo=float("nan"))) == ""
    assert law_checks.extrapolation_sentence(check(0.0776, status="no_decrease")) == ""  # the held-out fit is flat
    forms = pd.DataFrame({"form": ["power law + floor", "pure power law", "exponential saturation", "constant"],
                          "aic": [24.7, 20.0, 7.8, 33.0], "delta_aic": [16.9, 12.2, 0.0, 25.2]})
    assert law_checks.forms_sentence(forms) == (
        "By AIC on the trial means (corrected covariance), an exponential saturation fits better than the law "
        "(the law's AIC is higher by 17; the table of functional forms gives every form).")
    assert law_checks.forms_sentence(forms.assign(aic=[1.0, 20.0, 7.8, 33.0])) == ""  # the law is best: nothing
    assert law_checks.forms_sentence(forms.assign(aic=[8.5, 20.0, 7.8, 33.0])) == ""  # within the AIC margin
    # the winning saturation's scale n0 against the largest n: beyond it, the curve is not flattening in the data
    sat = forms.assign(values=[{}, {}, {"D": 0.0356, "n0": 116809.0, "C": 0.0625}, {}])
    sat.attrs["n_max"] = 94777.0
    beyond = law_checks.forms_sentence(sat, "eV/atom")
    assert beyond.endswith("Its scale n0 ≈ 120,000 lies beyond the largest n measured (94,777); in that form the fall "
                           "per added simulation has slowed only to 44% of its initial rate at the largest n, and the "
                           "level it would approach (0.0625 eV/atom, a point fit without an interval) is an "
                           "extrapolation beyond the data."), beyond
    sat.loc[2, "values"]["n0"] = 20000.0
    within = law_checks.forms_sentence(sat, "eV/atom")
    assert "n0 ≈ 20,000 is within the measured range" in within and "levels off at about 0.0625 eV/atom" in within
    assert "1% of its initial rate" in within  # exp(-94777/20000) = 0.9%
    sat.loc[2, "values"]["n0"] = 30.0
    sat.attrs["n_min"] = 100.0
    assert law_checks.forms_sentence(sat).endswith("Its scale n0 ≈ 30 is below the smallest n measured (100); over the "
                                                 "measured range that form is effectively a constant at about 0.0625, "
                                                 "a point fit without an interval.")
    # a law with C = 0 under the weighted fit ties the pure power law at exactly the parameter's cost: not "better"
    assert law_checks.forms_sentence(forms.assign(aic=[22.0, 20.0, 30.0, 33.0])) == ""
    nan_aic = forms.assign(aic=[24.7, float("nan"), float("nan"), 20.0])
    assert "a constant fits better" in law_checks.forms_sentence(nan_aic) and "by 4.7" in law_checks.forms_sentence(nan_aic)
    # in the case findings: both sentences for a law that is written out, no extrapolation for a flat one
    falling = trial_stats.fit_table(synthetic_table("band_gap", law=(0.5, 0.4, 0.05, 0.40, 0.002), trials=6),
                                    n_boot=100)
    assert findings.fit_parameters(falling.fit)["D"].printed, falling.fit.status
    said = findings.case_findings(falling, check=check(0.0776), forms=forms)
    assert any(x.startswith("Held out") for x in said) and any(x.startswith("By AIC") for x in said)
    flat = trial_stats.fit_table(synthetic_table("band_gap", law=(0.0, 0.3, 0.40, 0.40, 0.01), trials=6), n_boot=50)
    assert flat.fit.status in ("constant_preferred", "no_decrease")
    assert not any("Held out" in x for x in findings.case_findings(flat, check=check(0.09), forms=forms))


def test_an_exponent_is_flagged_where_the_law_fails_its_checks():
    """glance and summary say "but <form> fits better" beside a printed alpha when the law's shape fails a
    check (law_check_sentences.shape_words on a saturating curve), and nothing beside an unprinted one."""
    from s2rlib.book import law_checks as law_check_sentences
    from s2rlib.book import tables

    ns = (0, 100, 300, 1000, 3000, 10000, 30000, 95000)
    sat = synthetic_table("formation_enthalpy", ns=ns, trials=20, law=(0.0, 0.3, 0.08, 0.08, 0.002))
    curve = 0.10 - 0.025 * (1 - np.exp(-np.asarray(ns, float) / 40000))  # exponential saturation, not a power law
    mae = sat["metric"] == "mae"
    noise = np.random.default_rng(0).normal(0, 0.0003, int(mae.sum()))
    sat.loc[mae, "value"] = [curve[ns.index(n)] + e for n, e in zip(sat.loc[mae, "n_source"], noise)]
    shape = law_check_sentences.shape_words(tables.extrapolation_of(sat), tables.forms_of(sat))
    assert "exponential saturation fits better" in shape, shape
    cf = trial_stats.fit_table(sat, n_boot=200, units="eV/atom")
    flat = trial_stats.fit_table(synthetic_table("band_gap", ns=ns[:-1], trials=5, law=(0.0, 0.3, 0.4, 0.4, 0.01)),
                                 n_boot=200, units="eV")
    fits, shapes = {"formation_enthalpy": cf, "band_gap": flat}, {"formation_enthalpy": shape, "band_gap": "x"}
    glance = findings.glance_table(fits, shapes=shapes).set_index("case")["scaling law"]
    law_tab = tables.summary_table(fits.values(), part="law", shapes=shapes).set_index("status")["the law's shape"]
    assert findings.finding(cf).shown()["alpha"].printed, cf.fit.status  # a curve that falls: alpha is printed
    assert glance["Formation enthalpy"].endswith(f"; but {shape}")
    # the paper's law on this saturating curve is rejected by its goodness of fit: no exponent, no shape words
    assert cf.fit.status == "misfit" and cf.fit.p_value < 0.05
    assert law_tab[findings.status_link(cf.fit.status)] == formatting.DASH
    assert "but" not in glance["Band gap"] and law_tab[findings.status_link(flat.fit.status)] == formatting.DASH
