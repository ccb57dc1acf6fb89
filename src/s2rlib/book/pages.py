"""The book's pages: :class:`CasePage` (one case-study chapter) and :class:`SummaryPage` (across cases).

The pages narrate; :mod:`s2rlib.book.tables` builds their tables and :mod:`s2rlib.book.case_results` loads
their results. A case whose results table is missing still gets a page that says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

import numpy as np

from s2rlib.book import two_way_plot
from s2rlib.book import simulation_words
from s2rlib.book import sensitivity_words
from s2rlib._core.constants import ALL_M
from s2rlib.book import findings
from s2rlib.law import sensitivity
from s2rlib.law import simulation_baseline as simulation_predictor
from s2rlib.book.case_results import N_BOOT_PER_M, case_words, effective_m, folds_words, grid_state, load_case_results, fits_by_m as fit_every_m, missing_message, results_path, states_markdown
from s2rlib.law.fit_cache import N_BOOT
from s2rlib.cases.registry import get_case
from s2rlib.cases.registry import names as case_names
from s2rlib.book.display import note, show, show_figure, show_markdown
from s2rlib.book.equal_m import answer_rows, answer_sentences, equal_m_table
from s2rlib._core.errors import ParameterError
from s2rlib.law.fit_cache import fit_case
from s2rlib.book.formatting import code, fmt, join_words, signed_pct
from s2rlib.grid.selection import grids, m_values, main_m, select_grid
from s2rlib.book.law_checks import better_form, extrapolation_sentence, shape_words
from s2rlib.book.tables import derived_table, derived_withheld, ess_table, ess_withheld, extrapolation_of, extrapolation_table, forms_of, forms_table, gain_sentence, gain_table, params_table, residual_sentence, recipes_table, results_table, summary_table, two_way_table
from s2rlib.book.run_tables import case_header_table, grid_tables, provenance_table
from s2rlib.book.law_words import law_math
from s2rlib.law.trial_stats import CaseFit
from s2rlib.book import plotting
from s2rlib.book import caveats
from s2rlib.book import decision_words
from s2rlib.law import decisions as law_decisions
from s2rlib.law.ess import equivalent_sample_size


# one chapter


def _article(words: str) -> str:
    return "an" if words[:1].lower() in "aeiou" else "a"



class CasePage:
    """The steps of one case-study chapter; every method displays its piece and returns None.

    ``CasePage("band_gap")`` reads ``results/band_gap/results.csv`` (or ``$S2R_RESULTS_ROOT``);
    when the table is missing every method shows a short "no results yet" line instead.
    """

    def __init__(self, case: str, root: str | Path | None = None, *, n_boot: int = N_BOOT,
                 n_boot_per_m: int = N_BOOT_PER_M, metric: str = "mae"):
        self.case = get_case(case)
        self.root = root
        self.n_boot = n_boot
        self.n_boot_per_m = n_boot_per_m
        self.metric = metric
        table = load_case_results(self.case.name, root, announce=False)
        self.all_grids = grids(table) if table is not None else None
        self.table = select_grid(table) if table is not None else None

    # ---- state
    @property
    def available(self) -> bool:
        return self.table is not None

    @cached_property
    def main_m(self) -> int:
        return main_m(self.table)

    @cached_property
    def fit(self) -> CaseFit:
        """The chapter's main fit (all experimental data, or the largest m)."""
        return fit_case(self.table, self.main_m, metric=self.metric, n_boot=self.n_boot)

    @cached_property
    def fits_by_m(self) -> dict[int, CaseFit]:
        return fit_every_m(self.table, metric=self.metric, n_boot=self.n_boot_per_m, main=self.fit)

    @property
    def two_way(self) -> bool:
        return self.available and len(m_values(self.table)) >= 2  # e.g. m = 100 and all: two curves, one ESS

    def _missing(self) -> bool:
        if not self.available:
            show_markdown("*No results yet — see the note at the top of this page.*")
            return True
        return False

    def _no_law(self) -> bool:
        """True (after one line saying why) where the grid has too few distinct n > 0 for a law: the law's
        sections then say so instead of showing empty tables."""
        if self.fit.fit.status != "too_few_points":
            return False
        ns = findings.fitted_ns(self.fit)
        show_markdown(f"*No law to show here: this grid has {len(ns)} distinct n > 0, a law needs at least "
                      f"{findings.MIN_POINTS} (see \"The fitted law\" above).*")
        return True

    # ---- pieces
    def header(self) -> None:
        """The case in one table, after :meth:`notes` (a warning when its results are missing)."""
        self.notes()
        show(case_header_table(self.case.name, self.table, self.root))

    def notes(self) -> None:
        """A warning when the results are missing, and a box when they are not the final grid or hold several."""
        if not self.available:
            note(missing_message(self.case.name, self.root), "warning", "Results missing")
        if self.available and (folds := folds_words(self.table)):
            note(folds, "note", "The intervals are over folds")
        if self.available and (st := grid_state(self.case.name, self.table)).state != "final":
            title = {"partly final": "Final for some m, others still to run",
                     "provisional": "Provisional: not the default grid"}[st.state]
            detail = "; ".join(st.differences)
            note(f"These results are {st.words()}. In detail: {detail}. The chapter reads what was run; "
                 f"`s2r grid {self.case.name}` computes the default grid's missing points (see the rerun chapter).",
                 "note" if st.state == "partly final" else "warning", title)
        if self.all_grids is not None and len(self.all_grids) > 1:
            g = self.all_grids
            others = ", ".join(f"{code(r.grid)} ({r.rows:,} rows)" for r in g.iloc[1:].itertuples())
            note(f"The results table holds {len(g)} grids run with different parameters. This chapter shows "
                 f"grid {code(g['grid'].iloc[0])} ({g['rows'].iloc[0]:,} rows); not shown: {others}.",
                 "warning", "Several grids")

    def key_result(self) -> None:
        """The chapter's answer first, in three bullets: the paired gain of the largest database with every
        experiment and with the fewest, and the law in a few words."""
        if self._missing():
            return
        main = findings.finding(self.fit)
        lines = [f"**With every experiment:** {main.gain_sentence()}"]
        ms = sorted(m for m in self.fits_by_m if m > 0) if self.two_way else []
        if ms:
            lines.append(f"**With {ms[0]:,} of the {effective_m(self.table):,.0f} experiments:** "
                         f"{findings.finding(self.fits_by_m[ms[0]]).gain_sentence()}")
        else:
            lines.append("**With fewer experiments:** not run yet (these results have one experimental size).")
        lines.append(f"**The law:** {main.law_brief()}")
        note("\n".join(f"* {x}" for x in lines), "tip", f"Key result: {case_words(self.case.name)}")

    def data(self) -> None:
        if self._missing():
            return
        for df, caption in grid_tables(self.table):
            show(df, caption)

    def figure(self) -> None:
        if self._missing():
            return
        show_figure(plotting.scaling_figure(self.fit))

    def fit_summary(self) -> None:
        """The law in one line, with its status spelled out."""
        if self._missing():
            return
        f = self.fit.fit
        if f.status == "too_few_points":
            ns = ",".join(str(n) for n in self.case.default_ns)
            note(f"{findings.too_few_sentence(findings.fitted_ns(self.fit))} The case file's default grid, "
                 f"`s2r grid {self.case.name} --ns {ns}`, has enough.", "warning", "No law: too few database sizes")
            return
        kind = "note" if f.status == "ok" else "warning"
        note(f"{law_math(f, self.fit.units)}\n\n{findings.finding(self.fit).law_sentence()}", kind, "The fitted law")

    def params(self) -> None:
        if self._missing() or self._no_law():
            return
        show(params_table(self.fit), r"Fitted parameters of $R(n) = D\,n^{-\alpha} + C$ (90% intervals)")

    def points(self) -> None:
        if self._missing():
            return
        show(results_table(self.fit), "Mean test error per n, and the fitted law (or the constant the page shows "
                                      "in its place) at the same n")
        show_markdown(residual_sentence(self.fit))

    def baseline_gain(self, sentence: bool = True) -> None:
        if self._missing():
            return
        show(gain_table(self.fit), "Baseline and paired gain at the largest n")
        if sentence:
            show_markdown(gain_sentence(self.fit))

    def simulation_baseline(self, sentence: bool = True) -> None:
        """The network against the simulation itself with a linear correction (:mod:`s2rlib.law.simulation_baseline`)."""
        if self._missing():
            return
        rows = simulation_predictor.compare(self.table, self.main_m)
        if not rows:
            note("These rows do not record the simulation baseline (rows written before it, or a case whose "
                 "experimental materials have no matched simulation).", "note", "No simulation baseline")
            return
        show(simulation_words.table(rows, self.case.units),
             "The network against the simulation with a linear correction, on the test materials with a simulation "
             "(means over trials; paired differences, corrected 90% intervals)")
        if sentence:
            show_markdown(simulation_words.sentence(rows, self.case.units))

    def simulation_sentence(self) -> None:
        """The simulation baseline in one sentence ({ref}`case-grid` explains it; the table: the details page)."""
        if self._missing():
            return
        text = simulation_words.brief(simulation_predictor.compare(self.table, self.main_m), self.case.units,
                                      case_words(self.case.name))
        show_markdown(text or "These rows do not record the simulation baseline.")

    def extrapolation(self) -> None:
        if self._missing() or self._no_law():
            return
        show(extrapolation_table(self.table, self.main_m, metric=self.metric),
             "Extrapolation check: the law fitted without the largest n, predicting it")

    def forms(self) -> None:
        if self._missing() or self._no_law():
            return
        show(forms_table(self.table, self.main_m, metric=self.metric, fit=self.fit),
             "Alternative functional forms fitted to the trial means: RSS unweighted, AIC (lower is better) "
             "weighted by their corrected covariance ({ref}`how to read it <case-law-tables>`)")

    def derived(self, targets=None, delta: float = 10000) -> None:
        if self._missing() or self._no_law():
            return
        withheld = derived_withheld(self.fit, delta)
        if withheld:
            note(withheld, "note", "Derived numbers: not printed for this fit")
            return
        show(derived_table(self.fit, targets, delta), "Derived numbers, with corrected 90% intervals (printed only for an ok law)")

    def recipes(self) -> None:
        if self._missing():
            return
        show(recipes_table(self.table, self.main_m),
             "Fine-tuning recipe chosen by validation MAE (number of trials per n)")

    def provenance(self) -> None:
        if self._missing():
            return
        show(provenance_table(self.table), "Provenance of every row of the results table")

    def caveats(self) -> None:
        """Materials caveats where they bite (:mod:`s2rlib.book.caveats`, read from ``results/caveats/<case>.json``)."""
        if self.case.name not in caveats.CASES:
            return
        cav = caveats.load(self.case.name, self.root)
        if cav is None:
            note(f"The materials caveats of this case are not computed yet: run `python -m s2rlib.book.caveats "
                 f"{self.case.name}`.", "warning", "Caveats missing")
            return
        show_markdown("\n\n".join(caveats.sentences(cav)))

    def trust(self) -> None:
        """How far to trust the law, in sentences: its two checks (extrapolation, other forms) and what the n
        axis measures; the law itself is the key result's, the tables are on the details page."""
        if self._missing():
            return
        what = case_words(self.case.name)
        check = extrapolation_of(self.table, self.main_m, metric=self.metric)
        falls = findings.fit_parameters(self.fit.fit)["D"].printed and not findings.shows_constant(self.fit.fit)
        lines = [extrapolation_sentence(check, self.case.units) if falls else ""]
        best, gap = better_form(forms_of(self.table, self.main_m, metric=self.metric))
        lines.append(f"By AIC, {_article(best['form'])} {best['form']} fits the {what} means "
                     f"better than the law (by {fmt(gap, 2)})." if best is not None else
                     f"No other form fits the {what} means better than the law by AIC.")
        lines.append(sensitivity_words.steps_sentence(self.table, self.main_m))
        show_markdown("\n".join(f"* {x}" for x in lines if x))

    # ---- protocol sensitivity
    @cached_property
    def sensitivity_comparisons(self) -> tuple[list, list[str]]:
        """(the comparisons of the case file's sensitivity variants that were run, a line on each that was
        not or cannot be paired with this chapter's grid)."""
        done, notes = [], []
        if not self.available:
            return done, notes
        final_recipe = grid_state(self.case.name, self.table).recipe == "default"
        for name in self.case.prose["page"].get("sensitivity", []):
            rows = sensitivity.load_variant(self.case.name, name, self.root)
            if rows is None:
                notes.append(f"{sensitivity.VARIANTS[name].title}: not run yet; "
                             + (f"`{sensitivity.command(self.case.name, name)}` runs it, on the grid's commit."
                                if final_recipe else "it is run on this case's final grid (today's recipe), once that "
                                "grid is committed: this chapter's table is an earlier recipe's."))
                continue
            try:
                done.append(sensitivity.compare(self.table, rows, name, m=ALL_M, metric=self.metric))
            except ParameterError as err:
                notes.append(f"{sensitivity.VARIANTS[name].title}: not paired with this chapter's grid ({err}).")
        return done, notes

    def sensitivity(self) -> None:
        """The protocol-sensitivity table and its sentences (:mod:`s2rlib.law.sensitivity`)."""
        if self._missing():
            return
        done, notes = self.sensitivity_comparisons
        if done:
            show(sensitivity_words.table(done, self.case.units),
                 "Grid points (all experimental data) rerun with one change each, paired trial by trial with the "
                 "chapter's grid; n: the samples the default draws; corrected 90% intervals")
            show_markdown("\n".join(f"* {sensitivity_words.sentence(c, self.case.units)}" for c in done))
        show_markdown(sensitivity_words.grid_protocol(self.table, self.main_m))
        if notes:
            note("\n".join(f"* {x}" for x in notes), "note", "Sensitivity runs not shown")

    def sensitivity_figure(self) -> None:
        """The default curve with each rerun grid point as a marker (:func:`s2rlib.book.plotting.sensitivity_figure`)."""
        done = self.sensitivity_comparisons[0] if self.available else []
        if not done:
            return
        show_figure(plotting.sensitivity_figure(self.fit, done))

    # ---- the two-way design
    def two_way_intro(self) -> None:
        """What the two-way section shows, or one sentence saying the two-way design is not run yet."""
        if self._missing():
            return
        if not self.two_way:
            st = grid_state(self.case.name, self.table)
            run = ", ".join("all" if m == ALL_M else f"{m:,}" for m in m_values(self.table))
            todo = [m for m in st.missing_ms if m != ALL_M]
            later = (f" the points at m = {', '.join(f'{m:,}' for m in todo)} are still to run, and this section "
                     f"fills in once they have" if todo else " the case file lists no second m")
            show_markdown(f"The two-way design is not run yet for this case: its results have one experimental "
                          f"size (m = {run}), so how the value of simulations depends on m cannot be read here;"
                          f"{later}.")
            return
        gains = []
        for m in sorted(self.fits_by_m, key=lambda m: (m == ALL_M, m)):
            rel, lo, hi = findings.finding(self.fits_by_m[m]).relative
            if np.isfinite(rel):
                where = f"all {effective_m(self.table):,.0f}" if m == ALL_M else f"m = {m:,}"
                gains.append(f"{signed_pct(rel)} [{signed_pct(lo)}, {signed_pct(hi)}] with {where}")
        show_markdown(f"The largest database changes the {case_words(self.case.name)} error, against none, by "
                      f"{join_words(gains)} experiments (90% intervals, paired over {self.fit.gain.trials} trials).")

    def two_way_figure(self) -> None:
        """The two-way figure; nothing at all with a single m (the page's figure caption goes with it)."""
        if not self.available or not self.two_way:
            return
        show_figure(two_way_plot.two_way_figure(self.fits_by_m, m_all=effective_m(self.table)))

    def two_way_params(self) -> None:
        if not self.available or not self.two_way:
            return
        show(two_way_table(self.fits_by_m), f"The law fitted separately for each experimental size m (the intervals "
                                            f"from {self.n_boot_per_m:,} draws each, the main fit's from {self.n_boot:,})")

    def equivalent_sample_size(self, n_boot: int = 200) -> None:
        """The ESS with its explanation; where no row is supported, one paragraph says why instead of a table."""
        if not self.available or not self.two_way:
            return
        sims = self.case.prose.get("page", {}).get("simulations", "simulated samples")
        show_markdown(f"**Equivalent sample size:** how many {sims} buy the error drop of one more experimental "
                      f"sample ({{ref}}`how it is computed <case-law-tables>`).")
        df = ess_table(self.table, n_boot=n_boot, fits=self.fits_by_m)
        withheld = ess_withheld(df, self.fits_by_m)
        if df is not None and withheld:
            printed = ~df["simulations per experimental sample"].str.startswith("not printed")
            if not printed.any():
                note(withheld, "note", "Equivalent sample size: not printed for this grid")
                return
            df = df[printed].reset_index(drop=True)
        show(df, "Equivalent sample size: simulations that buy the error drop of one more experimental sample")
        if withheld:
            show_markdown(withheld)


# ---------------------------------------------------------------------------------------------
# the summary chapter


def available_cases(root=None, cases: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """(cases with a results table, cases without); default: every registered case."""
    have, missing = [], []
    for c in (case_names() if cases is None else cases):
        (have if results_path(c, root).is_file() else missing).append(c)
    return have, missing


def summary_fits(root=None, *, n_boot: int = N_BOOT, cases: Iterable[str] | None = None) -> dict[str, CaseFit]:
    """The main fit (all experimental data) of every case with results (default: every registered case)."""
    out = {}
    for c in (case_names() if cases is None else cases):
        table = load_case_results(c, root, announce=False)
        if table is not None:
            out[c] = fit_case(select_grid(table), n_boot=n_boot)
    return out


class SummaryPage:
    """The cross-case chapter: one table and one normalised figure over every case with results."""

    def __init__(self, root: str | Path | None = None, *, n_boot: int = N_BOOT, cases: Iterable[str] | None = None):
        self.root = root
        self.have, self.missing = available_cases(root, cases)
        self.fits = summary_fits(root, n_boot=n_boot, cases=self.have)

    @cached_property
    def tables(self) -> dict:
        """Each case's results table, one grid (read once, for the status note and the equal-m table)."""
        return {c: select_grid(t) for c in self.have
                if (t := load_case_results(c, self.root, announce=False)) is not None}

    @cached_property
    def shapes(self) -> dict:
        """Per case, where its law's shape fails the chapter's two checks, in words ("" where it passes:
        :func:`s2rlib.book.law_checks.shape_words`, from the same tables as the chapters)."""
        out = {}
        for c, t in self.tables.items():
            m = self.fits[c].m_target if c in self.fits else None
            out[c] = shape_words(extrapolation_of(t, m), forms_of(t, m))
        return out

    def status(self, pointer: bool = False) -> None:
        """Missing cases, and whether each table is final (``pointer``: one line that points at the intro's box)."""
        if self.missing:
            listed = ", ".join(code(c) for c in self.missing)
            note(f"No results yet for {listed}; this chapter compares the {len(self.fits)} case(s) that have "
                 f"them. Each missing case fills in once its grid has run (`s2r grid <case>`).", "warning",
                 "Some cases are missing")
        if not self.fits:
            show_markdown("*No case has results yet: nothing to compare.*")
        states = self.states
        if pointer:
            if any(st.state != "final" for st in states.values()):
                show_markdown("*Not every table here is final: which are final and which provisional is stated once, "
                              "under {doc}`Findings at a glance <intro>`.*")
            return
        if any(st.state != "final" for st in states.values()):
            note("Per case, whether its results table is the final grid (today's recipe, the case file's trials "
                 "and experimental sizes m), read from the table's rows:\n\n" + states_markdown(states) + "\n\nA provisional "
                 "table is compared with care: its recipe and trials are not the others'. Each chapter says what "
                 "differs in detail; `s2r grid <case>` computes the missing points.", "warning",
                 "Which tables are final")

    @cached_property
    def states(self) -> dict:
        """Each case's :class:`s2rlib.book.case_results.GridState` (final, partly final, provisional)."""
        return {c: grid_state(c, t) for c, t in self.tables.items()}

    def table(self, delta: float = 10000) -> None:
        if not self.fits:
            return
        show(summary_table(self.fits.values(), delta=delta, part="gain"),
             "Does pretraining help? The largest database against no pretraining, paired over trials")
        show(summary_table(self.fits.values(), delta=delta, part="law", shapes=self.shapes),
             "The fitted laws side by side (all experimental data; corrected 90% intervals; errors in each "
             "case's units)")

    def figure(self) -> None:
        if not self.fits:
            return
        show_figure(plotting.summary_figure(self.fits))

    def conclusion(self) -> None:
        """The cross-case conclusion in words, generated from the verdicts and statuses."""
        if self.fits:
            show_markdown(findings.conclusion(self.fits, self.states, self.tables))

    def sensitivity(self) -> None:
        """What the gain is made of: every case's protocol variants that were run, in its chapter's words."""
        lines = []
        for c in self.have:
            page = CasePage(c, self.root)
            units = page.case.units
            lines += [f"* **{case_words(c, start=True)}**: {sensitivity_words.sentence(x, units)}"
                      for x in page.sensitivity_comparisons[0]]
        if lines:
            show_markdown("**What the gain is made of.** Grid points rerun with one change of the protocol, trial "
                          "by trial paired with the grid (each chapter's section of that name):\n\n" + "\n".join(lines))

    def equal_m(self) -> None:
        """The cases compared at equal experimental data (m = 100, 300 and all)."""
        if self.tables:
            show(equal_m_table(self.tables),
                 "At equal experimental data: the error with the largest database against none, in % of the "
                 "error without pretraining (paired over trials; 90% intervals)")

    def simulation_baseline(self) -> None:
        """Every case's network against the simulation itself with a linear correction."""
        if self.tables:
            units = {c: get_case(c).units for c in self.tables}
            show(simulation_words.cases_table(self.tables, units),
                 "Against the database itself: the simulated value with a linear correction fitted on the training "
                 "split, and the network on the same test materials (in brackets: network − simulation, paired over "
                 "trials, 90% intervals; negative means the network's error is lower)")

    @cached_property
    def fits_by_case_m(self) -> dict:
        """Every case's fit at every m of its grid (the main m's fit is the chapter's)."""
        return {(c, m): cf for c, t in self.tables.items()
                for m, cf in fit_every_m(t, n_boot=N_BOOT_PER_M, main=self.fits.get(c)).items()}

    @cached_property
    def decision_rows(self) -> list:
        """(fit, :class:`s2rlib.law.decisions.Decisions`) per case and m; the two-way grid's equivalent sample
        size is computed only for a case with an `ok` paper's law at some m (nothing else reads it)."""
        rows = []
        for c, t in self.tables.items():
            cfs = {m: cf for (c2, m), cf in self.fits_by_case_m.items() if c2 == c}
            need = any(cf.chosen == "law" and cf.fit.ok for cf in cfs.values())
            ess = equivalent_sample_size(t, n_boot=200) if need else None
            rows += [(cf, law_decisions.case_decisions(cf, ess_rows=ess)) for m, cf in cfs.items()]
        return rows

    def forms(self) -> None:
        """Both forms per case and m: status, goodness of fit, the form reported, its alpha and C."""
        if self.tables:
            show(decision_words.form_table(self.fits_by_case_m),
                 "The two forms per case and m: status and goodness-of-fit p-value (χ² of the weighted fit on "
                 "the trial means), the form each row reports, and its alpha and C (corrected 90% intervals)")

    def decisions(self) -> None:
        """The decision table: per case and m, the three numbers derived from the law, or why each is missing."""
        if not self.tables:
            return
        rows = self.decision_rows
        show(decision_words.decision_table(rows),
             "Decisions from the law, per case and m: the database size for a target error, what the next 10,000 "
             "simulations buy, and what they are worth in experiments (90% intervals; printed only for a form "
             "whose law is identified)")
        show_markdown(decision_words.decision_note(rows))

    @cached_property
    def answer_rows(self):
        """Per case, the gain of the largest database with 100 experiments and with every one (% of the error)."""
        return answer_rows(self.tables)

    def answer(self) -> None:
        """The answer in three plain sentences (the landing page's first lines)."""
        identified = sorted({c for (c, _m), cf in self.fits_by_case_m.items()
                             if cf.chosen_fit is not None and cf.chosen_fit.ok})
        text = answer_sentences(self.answer_rows, identified)
        if text:
            show_markdown(text)

    def answer_figure(self) -> None:
        """The landing page's figure: the gain with scarce experiments against every experiment, per case."""
        if len(self.answer_rows):
            show_figure(plotting.answer_figure(self.answer_rows))

    def glance(self) -> None:
        """Findings at a glance: per case, the gain at the largest n in words and the law's status."""
        if not self.fits:
            return
        show(findings.glance_table(self.fits, self.states, self.shapes),
             "Findings at a glance: pretraining on the largest database against none, paired over trials "
             "(90% intervals)")
