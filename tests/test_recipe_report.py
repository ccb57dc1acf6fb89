"""The recipe study's tables and the chapter's words, on a small constructed study table; and the
claim the chapter makes: the default recipe is the one validation chose in the committed study."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from s2rlib.book import formatting
from s2rlib.book import claim_check
from s2rlib._core import paths
from s2rlib.book import recipe_report
from s2rlib.grid import recipe_study
from s2rlib.training import transfer
from s2rlib.law import trial_stats

T975 = stats.t.ppf(0.95, 3)  # two-sided 90%, 3 degrees of freedom (4 trials)
SIZES = {"n_train": 60.0, "n_val": 20.0, "n_test": 20.0}  # Nadeau-Bengio ratio n_test / n_pool = 0.25

# per step and n: test MAE per trial, validation MAE per trial, the candidate chosen per trial
POINTS = {
    ("v1", "0"): ([1.0, 1.1, 0.9, 1.0], [0.50, 0.50, 0.50, 0.50], "full_lr3e-3"),
    ("v1", "all"): ([0.9, 0.9, 0.8, 0.8], [0.45, 0.45, 0.45, 0.45], "full_lr3e-3"),
    # finetune: the lowest TEST error at n = all and the lowest validation error at n = 0
    ("finetune", "0"): ([1.0, 1.0, 1.0, 1.0], [0.10, 0.10, 0.10, 0.10], "full_lr1e-3"),
    ("finetune", "all"): ([0.7, 0.7, 0.7, 0.7], [0.44, 0.44, 0.44, 0.44], "head_lr1e-3"),
    # nonneg: the lowest VALIDATION error at n = all -> the chosen step
    ("nonneg", "0"): ([1.0, 1.0, 1.0, 1.0], [0.40, 0.40, 0.40, 0.40], "full_lr1e-3"),
    ("nonneg", "all"): ([0.8, 0.75, 0.85, 0.8], [0.30, 0.30, 0.30, 0.30], "body1e-4_head1e-3"),
    # wide: only n = all ran (no transfer gain; a validation error above nonneg's)
    ("wide", "all"): ([0.75, 0.75, 0.75, 0.75], [0.35, 0.35, 0.35, 0.35], "full_lr1e-3"),
}


def study_table(points=POINTS, case="band_gap") -> pd.DataFrame:
    rows = []
    for (step, n), (mae, val, chosen) in points.items():
        for t in range(4):
            sel = chosen if not (step == "nonneg" and n == "all" and t == 3) else "head_lr1e-3"
            metrics = {"mae": mae[t], "val_mae": val[t], **SIZES,
                       "mae_unclipped": mae[t] + (0.01 * (t + 1) if step in ("nonneg", "wide") else 0.0),
                       "sim_mae": 0.6 + 0.01 * t if n == "all" else math.nan,
                       "mae_on_sim": mae[t] - 0.05 if n == "all" else math.nan,
                       "n_test_sim": 15.0}
            cands = (recipe_study.V1_CANDIDATES if step == "v1" else recipe_study.FT_CANDIDATES)
            for c in cands:
                metrics[f"val_mae@{c.name}"] = val[t] + (0.0 if c.name == sel else 0.05)
                metrics[f"mae@{c.name}"] = mae[t] + (0.0 if c.name == sel else 0.02)
            for m, v in metrics.items():
                rows.append({"case": case, "step": step, "n_source": 0 if n == "0" else 1000, "n_label": n,
                             "trial": t, "seed": t, "metric": m, "value": v, "selected_recipe": sel,
                             "pretrain_steps": 0 if n == "0" else 500, "wall_s": 120.0 if n == "0" else 600.0})
    return pd.DataFrame(rows)


def nb(diff):
    d = np.asarray(diff, dtype=float)
    h = T975 * math.sqrt((1 / len(d) + 0.25) * d.var(ddof=1))
    return d.mean(), d.mean() - h, d.mean() + h


@pytest.fixture(scope="module")
def table():
    return study_table()


def test_ablation_table_gains_effects_and_choice(table):
    tab = recipe_study.ablation_table(table).set_index("step")
    assert list(tab.index) == ["v1", "finetune", "nonneg", "wide"]
    assert not tab.loc["wide", "has_n0"] and math.isnan(tab.loc["wide", "gain"])  # n = 0 not run for wide
    assert tab.loc["wide", "against"] == "nonneg" and math.isnan(tab.loc["wide", "val_mae_n0"])
    # v1 transfer gain: per trial [-0.1, -0.2, -0.1, -0.2], corrected (not plain) t interval
    g, lo, hi = nb([-0.1, -0.2, -0.1, -0.2])
    assert (tab.loc["v1", "gain"], tab.loc["v1", "gain_lo"], tab.loc["v1", "gain_hi"]) == pytest.approx((g, lo, hi))
    assert hi - lo == pytest.approx(2 * T975 * math.sqrt(0.5) * np.std([-0.1, -0.2, -0.1, -0.2], ddof=1))
    # finetune is compared with v1, the steps l1 and protocol in between were not run
    assert tab.loc["finetune", "against"] == "v1"
    assert tab.loc["finetune", "changes"] == ["l1", "protocol", "finetune"]
    e, elo, ehi = nb(np.array([0.7] * 4) - np.array([0.9, 0.9, 0.8, 0.8]))
    assert tab.loc["finetune", "effect_all"] == pytest.approx(e)
    assert (tab.loc["finetune", "effect_lo"], tab.loc["finetune", "effect_hi"]) == pytest.approx((elo, ehi))
    assert tab.loc["nonneg", "against"] == "finetune" and tab.loc["nonneg", "changes"] == ["nonneg"]
    assert tab.loc["nonneg", "val_mae_all"] == pytest.approx(0.30)
    assert tab.loc["nonneg", "mae_all"] == pytest.approx(0.8)
    assert (tab.loc["nonneg", "chosen_most"], tab.loc["nonneg", "chosen_count"]) == ("body1e-4_head1e-3", 3)
    # validation, not test (finetune) and not n = 0 (finetune), chooses
    assert recipe_study.chosen_step(table) == "nonneg"


def test_the_ablation_is_shown_as_two_tables_of_the_same_steps(table):
    """Errors and effects in separate tables, each narrow enough for the text column, one row per step."""
    from s2rlib.book.recipe_report import ablation_display

    tab = recipe_study.ablation_table(table)
    errors, effects = ablation_display(tab)
    assert list(errors["step"]) == list(effects["step"]) == [f"`{s}`" for s in tab["step"]]
    assert len(errors.columns) <= 6 and len(effects.columns) <= 5
    assert not set(errors.columns) & set(effects.columns) - {"step"}
    assert "transfer gain n=all − n=0 [90% CI]" in effects.columns and "test MAE n=all" in errors.columns


def test_nb_interval_leaves_out_missing_trials():
    assert recipe_study.nb_interval(np.array([-0.1, np.nan, -0.2, -0.1, -0.2]), 20, 80) == pytest.approx(
        nb([-0.1, -0.2, -0.1, -0.2]))
    m, lo, hi = recipe_study.nb_interval(np.array([0.3]), 20, 80)
    assert m == 0.3 and math.isnan(lo) and math.isnan(hi)


def test_differences_are_rounded_to_what_their_interval_resolves():
    assert formatting.fmt_diff(8.55e-5, -0.00841, 0.00858) == ("+0.0001", "[−0.0084, +0.0086]")
    assert formatting.fmt_diff(-0.013, -0.0254, -0.000484) == ("−0.013", "[−0.025, −0.0005]")
    assert formatting.fmt_diff(0.0, -0.004, 0.004) == ("0.0000", "[−0.0040, +0.0040]")  # 0 carries no sign
    assert formatting.fmt_diff(0.3, math.nan, math.nan)[0] == "+0.300"


def test_chosen_step_without_a_step_at_n_all_is_a_clear_error(table):
    with pytest.raises(ValueError, match="has run at n = all"):
        recipe_study.chosen_step(table[table["n_label"] == "0"])
    with pytest.raises(ValueError, match="has run at n = all"):
        recipe_study.chosen_step(pd.DataFrame())


def test_candidates_clipping_simulation_and_cost(table):
    cand = recipe_study.candidates_table(table, "nonneg").set_index("candidate")
    assert set(cand.index) == {c.name for c in recipe_study.FT_CANDIDATES}
    assert cand.loc["body1e-4_head1e-3", "chosen"] == 3 and cand.loc["head_lr1e-3", "chosen"] == 1
    assert cand["chosen"].sum() == 4
    # body1e-4_head1e-3 was chosen in 3 of 4 trials: its val MAE is 0.30 there and 0.35 in trial 3
    assert cand.loc["body1e-4_head1e-3", "val_mae"] == pytest.approx((3 * 0.30 + 0.35) / 4)
    clip = recipe_study.clipping_table(table).set_index(["step", "n_label"])
    d, lo, hi = nb([-0.01, -0.02, -0.03, -0.04])
    assert clip.loc[("nonneg", "all"), "diff"] == pytest.approx(d)
    assert clip.loc[("nonneg", "all"), "diff_hi"] == pytest.approx(hi)
    assert clip.loc[("v1", "0"), "diff"] == 0 and clip.loc[("v1", "0"), "clipped_trials"] == 0
    assert clip.loc[("nonneg", "all"), "clipped_trials"] == 4
    sim = recipe_study.simulation_table(table).set_index(["step", "n_label"])
    assert ("v1", "0") not in sim.index  # NaN in every trial: nothing to compare
    assert sim.loc[("v1", "all"), "diff"] == pytest.approx(np.mean([0.85 - 0.6, 0.85 - 0.61, 0.75 - 0.62, 0.75 - 0.63]))
    assert sim.loc[("v1", "all"), "n_test_sim"] == 15
    cost = recipe_study.cost_table(table).set_index(["step", "n_label"])
    assert cost.loc[("wide", "all"), "minutes"] == pytest.approx(10.0)
    assert cost.loc[("v1", "0"), "minutes"] == pytest.approx(2.0)
    assert cost.loc[("v1", "0"), "trials"] == 4


def test_missing_steps_are_named(table):
    text = recipe_report.missing_text(table)
    assert "not run: `l1`, `protocol`" in text
    assert "`wide` (n = 0 missing)" in text
    assert "`v1`" not in text


def test_conclusion_follows_validation_and_the_intervals(table):
    sents = recipe_report.conclusion_sentences(table, "eV")

    def find(text):
        hits = [x for x in sents if text in x]
        assert len(hits) == 1, (text, sents)
        return hits[0]

    assert sents[0].startswith("Validation chose step `nonneg`")
    assert "0.300 eV" in sents[0] and "next lowest `wide` 0.350 eV" in sents[0]
    # nonneg vs v1 at n = all on test: per trial [-0.1, -0.15, 0.05, 0] -> interval includes zero
    d, lo, hi, J = recipe_study.step_difference(table, "nonneg", "v1")
    assert (d, lo, hi) == pytest.approx(nb([-0.1, -0.15, 0.05, 0.0])) and J == 4
    on_test = find("On the test split, `nonneg`")
    assert "has no detectable effect on the test error against the first recipe `v1`" in on_test
    assert claim_check.check_gain_sentence(on_test, trial_stats.Gain(np.nan, d, lo, hi, J)) == []
    # nonneg's transfer gain: [-0.2, -0.25, -0.15, -0.2] -> lowers
    row = recipe_study.ablation_table(table).set_index("step").loc["nonneg"]
    gain = find("pretraining on the whole database")
    assert row["gain_hi"] < 0 and "lowers the error" in gain
    assert claim_check.check_gain_sentence(gain, trial_stats.Gain(np.nan, row["gain"], row["gain_lo"],
                                                               row["gain_hi"], 4)) == []
    # the corrected simulation against the network at n = all, same test materials: [-0.15, -0.09, -0.18, -0.12]
    sd = np.std([-0.15, -0.09, -0.18, -0.12], ddof=1)
    assert -0.135 + T975 * math.sqrt(0.5) * sd < 0
    sim = find("test materials that have a simulation")
    assert "the simulation with a linear correction predicts better than the network" in sim
    assert "difference network − simulation +0.135, 90% interval [+0.071, +0.199]" in sim
    assert find("lowest mean test MAE at n = all belongs to `finetune`")
    # wide lacks n = 0 only: it takes part in the choice, nothing is provisional
    assert not [x for x in sents if "provisional" in x]
    # nonneg without n = all: wide (validation 0.35) is chosen, provisionally, and has no measured gain
    pending = recipe_report.conclusion_sentences(study_table({k: v for k, v in POINTS.items()
                                                              if k != ("nonneg", "all")}))
    assert pending[0].startswith("Validation chose step `wide`")
    assert "`nonneg` still lacks n = all" in " ".join(pending)
    assert "The transfer gain of `wide` is not measured: n = 0 was not run for it." in pending
    only = recipe_report.conclusion_sentences(study_table({k: v for k, v in POINTS.items() if k[0] == "nonneg"}))
    assert "the only step run at n = all" in " ".join(only) and "first recipe" not in " ".join(only)


def test_displays_render_without_exceptions(table, tmp_path, capsys):
    for subset in ({}, {("v1", "0"): POINTS[("v1", "0")]}, POINTS):
        d = tmp_path / str(len(subset)) / "recipe_study"
        d.mkdir(parents=True)
        df = study_table(subset) if subset else pd.DataFrame()
        for (step, n), g in (df.groupby(["step", "n_label"]) if len(df) else []):
            g.to_csv(d / f"band_gap__{step}__n{n}.csv", index=False)
        page = recipe_report.RecipePage(root=d.parent)
        page.overview()
        page.steps()
        for case in recipe_report.STUDY_CASES:
            for piece in (page.ablation, page.candidates, page.clipping, page.simulation, page.cost, page.conclusion):
                piece(case)
        out = capsys.readouterr().out
        if not subset:
            assert "has not run yet" in out and "python -m s2rlib.grid.recipe_study band_gap --trials 4" in out
        elif len(subset) == 1:
            assert "No step of band gap has run at n = all yet" in out and "`v1` (n = all missing)" in out
        else:
            assert "Validation chose step `nonneg`" in out
            assert "`finetune` is compared with `v1`" in out and "3 changes together" in out
            assert "simulation better" in out
            # clipping rows only where clipping changed an error (nonneg, wide), never v1 or finetune
            assert "| `nonneg` | all | 0.800 " in out and "| `v1`     | 0   | 1 " not in out
            assert "| `wide`     | `nonneg`" in out
        assert "Not run for formation enthalpy yet" in out if subset else True


def test_default_recipe_is_the_one_validation_chose_in_the_committed_study():
    """The book says the default recipe is the step validation chose; this keeps it true."""
    table = recipe_study.load_all(recipe_report.study_dir(paths.results_root()))
    if table.empty:
        pytest.skip("results/recipe_study holds no study files (the study has not run)")
    chosen = {}
    for case, df in table.groupby("case"):
        try:
            chosen[case] = recipe_study.chosen_step(df)
        except ValueError:
            continue
    if not chosen:
        pytest.skip("results/recipe_study holds no step run at n = all for any case: nothing was chosen")
    default = json.dumps(transfer.Recipe().to_dict(), sort_keys=True)
    rec = recipe_study.recipes()
    # one recipe for every case: the step with the lowest validation error relative to v1, averaged
    overall, per = recipe_study.chosen_step_overall(table)
    assert json.dumps(rec[overall].to_dict(), sort_keys=True) == default, (
        f"s2rlib.training.transfer.Recipe() is not the recipe of step {overall!r}, which validation chose over the "
        f"studied cases:\n{per}")
    # the files of every chosen step were run with the recipe recipes() gives now
    for case, step in [*chosen.items(), *((c, overall) for c in chosen)]:
        recorded = table[(table["case"] == case) & (table["step"] == step)]["recipe"].unique()
        assert [json.dumps(json.loads(r), sort_keys=True) for r in recorded] == [
            json.dumps(rec[step].to_dict(), sort_keys=True)], (
            f"{case}: the files of step {step!r} were run with another recipe than recipe_study.recipes() gives now")


def test_one_default_for_every_case_weighs_cases_alike():
    """chosen_step_overall: relative to v1 per case, averaged; a step not run in every case cannot win."""
    rows = []
    vals = {("a", "v1"): 1.0, ("a", "finetune"): 0.90, ("a", "wide"): 0.99,
            ("b", "v1"): 0.10, ("b", "finetune"): 0.099, ("b", "wide"): 0.08}
    for (case, step), v in vals.items():
        for t in range(3):
            for metric, value in (("val_mae", v + 0.001 * t), ("mae", v), ("n_test", 20), ("n_train", 60),
                                  ("n_val", 20)):
                rows.append(dict(case=case, step=step, n_label="all", n_source=100, trial=t, seed=t, metric=metric,
                                 value=value, selected_recipe="full_lr1e-3", wall_s=1.0))
    table = pd.DataFrame(rows)
    step, per = recipe_study.chosen_step_overall(table)
    # finetune: mean(0.90, 0.99) = 0.945; wide: mean(0.99, 0.80) = 0.895 -> wide, although case a's
    # raw numbers (10x larger) would pick finetune if errors were averaged without scaling
    assert step == "wide" and per.loc["wide", "mean"] == pytest.approx(0.895, abs=1e-3)
    only_a = table[~((table["case"] == "b") & (table["step"] == "wide"))]
    assert recipe_study.chosen_step_overall(only_a)[0] == "finetune"
