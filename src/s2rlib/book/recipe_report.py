"""What the chapter "What makes transfer work" shows: the recipe study's tables in words and numbers.

The numbers come from :mod:`s2rlib.grid.recipe_study` (its table functions compute; this module only
formats and narrates). The study's files are ``results/recipe_study/<case>__<step>__n<n>.csv``
(or under ``$S2R_RESULTS_ROOT``); any subset of them renders: steps not run are named, a case
with no files gets the command that runs it.

Verdict words follow the corrected 90% interval only (:class:`s2rlib.law.trial_stats.Gain`): *lowers* when
the whole interval is below zero, *raises* when above, *no detectable effect* when it includes zero.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib.grid import recipe_study as rs
from s2rlib.cases.registry import get_case
from s2rlib.book.formatting import DASH, fmt, fmt_n, recipe_words, units_suffix
from s2rlib.book.display import note, show, show_markdown
from s2rlib._core.paths import results_root
from s2rlib.book.formatting import fmt_diff
from s2rlib.law.trial_stats import Gain

#: the cases the chapter shows, in order
STUDY_CASES = ("band_gap", "formation_enthalpy")
LEVEL = 0.9
VERDICT_TEXT = {"lowers": "lowers", "raises": "raises", "no_effect": "no detectable effect", "unknown": "unknown"}


def study_dir(root: str | Path | None = None) -> Path:
    """Where the study's CSV files are: ``<results root>/recipe_study``."""
    return results_root(root) / "recipe_study"


def run_command(case: str = "band_gap") -> str:
    return f"python -m s2rlib.grid.recipe_study {case} --trials 4"


def verdict(mean: float, lo: float, hi: float, trials: int = 0) -> str:
    """``lowers`` / ``raises`` / ``no_effect`` / ``unknown`` from an interval (as :class:`Gain`)."""
    return Gain(n=math.nan, mean=mean, lo=lo, hi=hi, trials=trials).verdict


#: words for a difference "network − simulation" (negative: the network's error is lower)
SIM_WORDS = {"lowers": "network better", "raises": "simulation better", "no_effect": "no detectable difference",
             "unknown": "unknown"}


def effect_cell(mean: float, lo: float, hi: float, words: dict = VERDICT_TEXT) -> str:
    """``−0.012 [−0.020, −0.004] lowers``; a dash without a value."""
    if not np.isfinite(mean):
        return DASH
    m, ci = fmt_diff(mean, lo, hi)
    return f"{m} {ci} {words[verdict(mean, lo, hi)]}"


def steps_table(steps=rs.STEPS) -> pd.DataFrame:
    """What each step of the cumulative ablation changes, and the recipe fields it sets."""
    rows = []
    for st in steps:
        fields = ", ".join(f"`{k}`" for k in st.overrides) if st.name != steps[0].name else "(all: the first recipe)"
        rows.append({"step": f"`{st.name}`", "what it adds to the step before": st.change, "recipe fields": fields})
    return pd.DataFrame(rows)


def _against(row) -> str:
    if not row.get("against"):
        return DASH
    skipped = [c for c in row["changes"] if c != row["step"]]
    return f"`{row['against']}`" + (f" (+ {', '.join(f'`{c}`' for c in skipped)} not run)" if skipped else "")


def ablation_display(tab: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ablation table (:func:`s2rlib.grid.recipe_study.ablation_table`) as display strings, in two tables
    that fit the text column: the errors of each step, and its effects."""
    errors, effects = [], []
    for r in tab.to_dict("records"):
        step = f"`{r['step']}`"
        errors.append({"step": step, "val MAE n=0": fmt(r["val_mae_n0"]), "val MAE n=all": fmt(r["val_mae_all"]),
                       "test MAE n=0": fmt(r["mae_n0"]), "test MAE n=all": fmt(r["mae_all"]),
                       "trials": str(r["trials"])})
        effects.append({
            "step": step, "compared with": _against(r),
            "transfer gain n=all − n=0 [90% CI]": effect_cell(r["gain"], r["gain_lo"], r["gain_hi"]),
            "effect vs compared step, n=all [90% CI]": effect_cell(r.get("effect_all", math.nan),
                                                                   r.get("effect_lo", math.nan),
                                                                   r.get("effect_hi", math.nan)),
            "chosen most (n=all)": f"`{r['chosen_most']}` ({r['chosen_count']}/{r['trials']})" if r["chosen_most"] else DASH,
        })
    return pd.DataFrame(errors), pd.DataFrame(effects)


def candidates_display(tab: pd.DataFrame, trials: int) -> pd.DataFrame:
    rows = []
    best_val = tab["val_mae"].min() if len(tab) else math.nan
    best_test = tab["mae"].min() if len(tab) else math.nan
    for r in tab.to_dict("records"):
        rows.append({"candidate": f"`{r['candidate']}`", "what it trains": recipe_words(r["candidate"]),
                     "val MAE": fmt(r["val_mae"]) + (" (lowest)" if r["val_mae"] == best_val else ""),
                     "test MAE": fmt(r["mae"]) + (" (lowest)" if r["mae"] == best_test else ""),
                     "chosen by validation": f"{r['chosen']}/{trials}"})
    return pd.DataFrame(rows)


def paired_display(tab: pd.DataFrame, a: str, b: str, labels: tuple[str, str, str], count: str | None = None,
                   words: dict = VERDICT_TEXT) -> pd.DataFrame:
    rows = []
    for r in tab.to_dict("records"):
        row = {"step": f"`{r['step']}`", "n": r["n_label"], labels[0]: fmt(r[a]), labels[1]: fmt(r[b]),
               labels[2]: effect_cell(r["diff"], r["diff_lo"], r["diff_hi"], words), "trials": str(r["trials"])}
        if count:
            row["test materials with a simulation"] = fmt_n(r.get(count, math.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def cost_display(tab: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{"step": f"`{r['step']}`", "n": fmt_n(r["n_source"]), "trials": str(r["trials"]),
                          "pretraining steps": fmt_n(r["pretrain_steps"]), "minutes (all trials)": fmt(r["minutes"], 2),
                          "minutes per trial": fmt(r["minutes"] / r["trials"], 2)} for r in tab.to_dict("records")])


def missing_text(df: pd.DataFrame, steps=rs.STEPS) -> str:
    """Which steps are not run, and which are incomplete (one n missing), in words; '' when all ran."""
    st = rs.step_status(df, steps)
    not_run = [f"`{r.step}`" for r in st.itertuples() if not r.run]
    partial = [f"`{r.step}` (n = {', '.join(r.missing)} missing)" for r in st.itertuples() if r.run and r.missing]
    parts = []
    if not_run:
        parts.append(f"not run: {', '.join(not_run)}")
    if partial:
        parts.append(f"incomplete: {', '.join(partial)}")
    return "; ".join(parts)


def conclusion_sentences(df: pd.DataFrame, units: str = "", steps=rs.STEPS) -> list[str]:
    """The chapter's finding for one case, generated from its study table: which step validation
    chose, whether it also changes the test error against the first recipe, and its transfer gain."""
    tab = rs.ablation_table(df, steps, level=LEVEL)
    if tab.empty:
        return ["No step has run at n = all yet, so no recipe is chosen."]
    u = units_suffix(units).replace("(", "").replace(")", "").rstrip()
    u = f" {u.strip()}" if u.strip() else ""
    best = rs.chosen_step(df, steps)
    r = tab.set_index("step").loc[best]
    first = str(tab["step"].iloc[0])
    first_words = (f"the first recipe `{first}`" if first == steps[0].name else f"`{first}`, the earliest step run")
    others = tab[tab["step"] != best]
    runner = (f"; next lowest `{others.loc[others['val_mae_all'].idxmin(), 'step']}` "
              f"{fmt(others['val_mae_all'].min())}{u}" if len(others) else "")
    out = [f"Validation chose step `{best}`: the lowest mean validation MAE at n = all, "
           f"{fmt(r['val_mae_all'])}{u}{runner} (over {int(r['trials'])} trials; the test split took no part)."]
    if best != first:
        d, lo, hi, J = rs.step_difference(df, best, first, "all", level=LEVEL)
        v = verdict(d, lo, hi, J)
        words = {"lowers": "lowers the test error", "raises": "raises the test error",
                 "no_effect": "has no detectable effect on the test error", "unknown": "changes the test error"}[v]
        out.append(f"On the test split, `{best}` {words} against {first_words} at n = all: "
                   f"{fmt_diff(d, lo, hi)[0]}{u}, 90% interval {fmt_diff(d, lo, hi)[1]}, paired over {J} trials and corrected "
                   f"for overlapping re-splits.")
    elif len(tab) > 1:
        out.append(f"No later step lowered the validation error below {first_words}.")
    st = rs.step_status(df, steps)
    pending = [f"`{x.step}`" for x in st.itertuples() if x.run and "all" in x.missing]
    if len(tab) == 1 or pending:
        out.append("The choice is provisional: " + ("it is the only step run at n = all" if len(tab) == 1 else
                                                   "it is among the steps run at n = all only")
                   + (f"; {', '.join(pending)} still lack{'s' if len(pending) == 1 else ''} n = all." if pending
                      else "."))
    if r["has_n0"]:
        v = verdict(r["gain"], r["gain_lo"], r["gain_hi"], int(r["trials"]))
        words = {"lowers": "lowers the error", "raises": "raises the error",
                 "no_effect": "has no detectable effect on the error", "unknown": "changes the error"}[v]
        out.append(f"With `{best}`, pretraining on the whole database {words} against no pretraining: "
                   f"{fmt_diff(r['gain'], r['gain_lo'], r['gain_hi'])[0]}{u}, 90% interval "
                   f"{fmt_diff(r['gain'], r['gain_lo'], r['gain_hi'])[1]}.")
    else:
        out.append(f"The transfer gain of `{best}` is not measured: n = 0 was not run for it.")
    sim = rs.simulation_table(df, level=LEVEL)
    sim = sim[(sim["step"] == best) & (sim["n_label"] == "all")] if len(sim) else sim
    if len(sim):
        s = sim.iloc[0]
        v = verdict(s["diff"], s["diff_lo"], s["diff_hi"], int(s["trials"]))
        words = {"lowers": "the network predicts better than the simulation with a linear correction",
                 "raises": "the simulation with a linear correction predicts better than the network",
                 "no_effect": "the simulation with a linear correction and the network show no detectable "
                              "difference", "unknown": "the comparison has no interval"}[v]
        out.append(f"On the test materials that have a simulation (about {fmt_n(s['n_test_sim'])} per trial), "
                   f"{words}: MAE {fmt(s['mae_on_sim'])} (network) against {fmt(s['sim_mae'])}{u} (simulation), "
                   f"difference network − simulation "
                   f"{fmt_diff(s['diff'], s['diff_lo'], s['diff_hi'])[0]}, 90% interval "
                   f"{fmt_diff(s['diff'], s['diff_lo'], s['diff_hi'])[1]}.")
    test_best = str(tab.loc[tab["mae_all"].idxmin(), "step"])
    if test_best != best:
        out.append(f"The lowest mean test MAE at n = all belongs to `{test_best}` "
                   f"({fmt(tab['mae_all'].min())}{u}); the default follows validation, not test.")
    return out


class RecipePage:
    """The pieces of the recipe chapter; every method displays its piece and returns None."""

    def __init__(self, root: str | Path | None = None, cases=STUDY_CASES):
        self.dir = study_dir(root)
        self.cases = tuple(cases)
        self.table = rs.load_all(self.dir)

    def case_table(self, case: str) -> pd.DataFrame:
        if self.table.empty:
            return self.table
        return self.table[self.table["case"] == case].reset_index(drop=True)

    def units(self, case: str) -> str:
        return get_case(case).units

    def overview(self) -> None:
        """What ran: per case, the steps on disk and those missing (or a note that nothing ran)."""
        if self.table.empty:
            note(f"The recipe study has not run yet: `{self.dir.name}/` holds no results. Run it with "
                 f"`{run_command('band_gap')}` (and the same for `formation_enthalpy`); every table of this "
                 f"chapter appears once its files exist.", "warning", "Study not run")
            return
        rows = []
        for case in self.cases:
            df = self.case_table(case)
            st = rs.step_status(df)
            rows.append({"case": case.replace("_", " "),
                         "steps complete (n = 0 and n = all)": ", ".join(f"`{s}`" for s in st[st["complete"]]["step"])
                         or DASH,
                         "not run or incomplete": missing_text(df) or DASH,
                         "trials": str(int(df["trial"].nunique())) if len(df) else DASH})
        show(pd.DataFrame(rows), "What the recipe study ran")
        self.default_choice()

    def default_choice(self) -> None:
        """The one default recipe for every case, chosen on validation over the studied cases."""
        try:
            step, per = rs.chosen_step_overall(self.table)
        except ValueError as exc:
            note(f"No default recipe can be chosen yet: {exc}.", "warning", "No choice yet")
            return
        cols = [c for c in per.columns if c != "mean"]
        words = "; ".join(f"`{s}` {fmt(per.loc[s, 'mean'])}" for s in per.index)
        show_markdown(
            f"**The default.** One recipe serves every case, so the choice is made over the studied cases "
            f"together: each step's mean validation MAE at n = all is divided by that of `{per.index[0]}` in "
            f"the same case (so {' and '.join(c.replace('_', ' ') for c in cols)} weigh alike) and the ratios are "
            f"averaged: {words}. Validation chose **`{step}`**, and `s2rlib.training.transfer.Recipe()` is its recipe. "
            f"Steps not run at n = all in every case take no part.")

    def steps(self) -> None:
        show(steps_table(), "The cumulative steps: each adds one change to the recipe before it")

    def _ready(self, case: str) -> pd.DataFrame | None:
        df = self.case_table(case)
        if df.empty:
            show_markdown(f"*Not run for {case.replace('_', ' ')} yet: `{run_command(case)}`.*")
            return None
        return df

    def ablation(self, case: str) -> None:
        df = self._ready(case)
        if df is None:
            return
        tab = rs.ablation_table(df, level=LEVEL)
        if tab.empty:
            show_markdown(f"*No step of {case.replace('_', ' ')} has run at n = all yet "
                          f"({missing_text(df)}).*")
            return
        errors, effects = ablation_display(tab)
        name = case.replace("_", " ")
        show(errors, f"Ablation, {name}: mean validation and test MAE{units_suffix(self.units(case))} of each step")
        show(effects, f"Ablation, {name}: each step's transfer gain and effect{units_suffix(self.units(case))}, "
                      f"paired differences with "
                      f"Nadeau-Bengio corrected 90% intervals, and the candidate chosen most")
        skipped = [r for r in tab.to_dict("records") if len(r["changes"]) > 1]
        text = missing_text(df)
        lines = []
        if text:
            lines.append(f"Steps {text}.")
        for r in skipped:
            lines.append(f"`{r['step']}` is compared with `{r['against']}`: the steps between them were not run, so "
                         f"its effect is that of {len(r['changes'])} changes together "
                         f"({', '.join(f'`{c}`' for c in r['changes'])}).")
        if lines:
            show_markdown(" ".join(lines))

    def candidates(self, case: str) -> None:
        df = self._ready(case)
        if df is None:
            return
        have = set(df.loc[df["n_label"].astype(str) == "all", "step"])
        last = [st.name for st in rs.STEPS if st.name in have]
        if not last:
            show_markdown("*No step has run at n = all yet.*")
            return
        step = last[-1]
        tab = rs.candidates_table(df, step, "all")
        trials = int(df[(df["step"] == step) & (df["n_label"].astype(str) == "all")]["trial"].nunique())
        show(candidates_display(tab, trials),
             f"Fine-tuning candidates of step `{step}` at n = all, {case.replace('_', ' ')}: mean MAE"
             f"{units_suffix(self.units(case))}; validation picks one per trial")

    def clipping(self, case: str) -> None:
        df = self._ready(case)
        if df is None:
            return
        tab = rs.clipping_table(df, level=LEVEL)
        if tab.empty:
            show_markdown("*No step here recorded the unclipped error.*")
            return
        tab = tab[tab["clipped_trials"] > 0]
        if tab.empty:
            show_markdown("*No prediction was clipped in the steps run so far: either the step does not clip "
                          "(clipping starts at step `nonneg`) or the property takes negative values in the data, "
                          "so clipping is off.*")
            return
        show(paired_display(tab, "mae", "mae_unclipped", ("test MAE (clipped at 0)", "test MAE (unclipped)",
                                                          "clipped − unclipped [90% CI]")),
             f"Clipping predictions at 0, {case.replace('_', ' ')}{units_suffix(self.units(case))}")

    def simulation(self, case: str) -> None:
        df = self._ready(case)
        if df is None:
            return
        tab = rs.simulation_table(df, level=LEVEL)
        if tab.empty:
            show_markdown("*No test material has a simulation in these runs.*")
            return
        show(paired_display(tab, "mae_on_sim", "sim_mae",
                            ("network", "simulation + linear correction", "network − simulation [90% CI]"),
                            count="n_test_sim", words=SIM_WORDS),
             f"The simulation as the predictor against the network, on the same test materials, "
             f"{case.replace('_', ' ')}: MAE{units_suffix(self.units(case))}")

    def cost(self, case: str) -> None:
        df = self._ready(case)
        if df is None:
            return
        show(cost_display(rs.cost_table(df)), f"What each point cost, {case.replace('_', ' ')}")

    def conclusion(self, case: str) -> None:
        df = self._ready(case)
        if df is None:
            return
        show_markdown(" ".join(conclusion_sentences(df, self.units(case))))
