"""What makes transfer work: a cumulative ablation of the training recipe, chosen on validation error.

Each step of :data:`STEPS` adds one change to the recipe of the step before it (the first step is the
project's first recipe), and every step runs the same trials (same seeds, so the same experimental
splits and source draws) at ``n = 0`` (no pretraining) and ``n = all``. Two paired comparisons
follow from one table:

* the **transfer gain** of a step: its error at ``n = all`` minus its error at ``n = 0``;
* the **step effect**: its error minus the previous step's, at the same ``n``.

The recipe the project uses by default is the step with the lowest mean **validation** error at
``n = all`` (validation = a split of the experimental training data; the test split never chooses).
Every candidate fine-tuning recipe's own validation and test error is recorded
(``record_candidates``), so the fine-tuning ablation (head only, lower body rate, L2-SP, ...) costs
no extra run. Results are one CSV per (case, step, n), written atomically; a rerun skips them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib.grid import results
from s2rlib.training.transfer import Candidate, Recipe, run_trials
from s2rlib._core.errors import DataError
from s2rlib.cases.registry import load_case


@dataclass(frozen=True)
class Step:
    name: str
    change: str  # what this step adds, in words
    overrides: dict  # Recipe fields, on top of the previous step


V1_CANDIDATES = (Candidate("full_lr3e-3", 3e-3, 3e-3), Candidate("full_lr1e-3", 1e-3, 1e-3),
                 Candidate("full_lr3e-4", 3e-4, 3e-4), Candidate("head_lr3e-3", 0.0, 3e-3))
FT_CANDIDATES = (Candidate("full_lr1e-3", 1e-3, 1e-3), Candidate("full_lr3e-4", 3e-4, 3e-4),
                 Candidate("body1e-4_head1e-3", 1e-4, 1e-3), Candidate("head_lr1e-3", 0.0, 1e-3),
                 Candidate("l2sp1e-3_lr1e-3", 1e-3, 1e-3, l2sp=1e-3))
# (the V1 dict below sets every field, so the steps do not depend on Recipe's defaults)

WIDE_CANDIDATES = tuple(c for c in FT_CANDIDATES if c.name in ("full_lr1e-3", "body1e-4_head1e-3", "l2sp1e-3_lr1e-3"))

#: the project's first recipe (128-128-64, MSE, patience = the whole budget, pretraining capped)
V1 = dict(hidden=(128, 128, 64), loss="mse", pretrain_batch=256, pretrain_lr=1e-3, pretrain_epochs=100,
          pretrain_min_steps=1000, pretrain_max_steps=20000, finetune_batch=128, finetune_max_epochs=400,
          patience_epochs=400, candidates=V1_CANDIDATES, nonneg="off", withhold_test_sources=True,
          y_scale="train", test_fraction=0.2, val_fraction=0.2)

STEPS: tuple[Step, ...] = (
    Step("v1", "the first recipe: 128-128-64 network, squared-error loss, 4 fine-tuning candidates, "
               "patience = the whole 400-epoch budget, pretraining capped at 20,000 steps", V1),
    Step("l1", "absolute-error (L1) loss, the metric's own loss, in pretraining and fine-tuning", dict(loss="l1")),
    Step("protocol", "no step cap: 30 epochs of batch 512 and at least 1,000 steps, so every n above "
                     "about 17,000 gets 30 epochs (the first recipe capped them at 20,000 steps)",
         dict(pretrain_epochs=30, pretrain_batch=512, pretrain_max_steps=None)),
    Step("finetune", "early stopping after 50 stale epochs; candidates add a lower body rate and "
                     "L2-SP (a pull toward the pretrained weights)",
         dict(patience_epochs=50, candidates=FT_CANDIDATES)),
    Step("nonneg", "predictions clipped at 0 when the property cannot be negative (band gap; "
                   "no change for formation enthalpy)", dict(nonneg="auto")),
    Step("wide", "a 512-512-256 network (13x the multiply-adds of 128-128-64); to pay for it, three "
                 "fine-tuning candidates (whole network at 1e-3, body 1e-4 with head 1e-3, L2-SP)",
         dict(hidden=(512, 512, 256), candidates=WIDE_CANDIDATES)),
    Step("source", "the property standardised by the source database's mean and spread instead of each "
                   "trial's experimental training rows, so that pretraining does not depend on m and one "
                   "pretrained network serves every m of a two-way grid", dict(y_scale="source")),
)


def recipes(steps=STEPS) -> dict[str, Recipe]:
    """The cumulative recipe of every step."""
    out, fields = {}, {}
    for st in steps:
        fields = {**fields, **st.overrides}
        out[st.name] = Recipe(**fields)
    return out


def _n_all(data) -> int:
    return int(data.n_source)


def run_study(case: str, data, *, out_dir: str | Path, steps=STEPS, only: set[str] | None = None,
              ns=(0, "all"), trials: int = 4, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Run every (step, n) point not yet on disk (of the steps named in ``only``, default all);
    return the whole study table for ``case``. A step's recipe is cumulative over ``steps``."""
    out_dir = Path(out_dir)
    rec = recipes(steps)
    for st in steps:
        if only is not None and st.name not in only:
            continue
        for n in ns:
            n_val = _n_all(data) if n == "all" else int(n)
            path = out_dir / f"{case}__{st.name}__n{n}.csv"
            if path.is_file():
                continue
            t0 = time.perf_counter()
            rows = run_trials(data, n_val, trials=trials, seed=seed, recipe=rec[st.name], progress=progress,
                              record_candidates=True)
            rows.insert(0, "case", case)
            rows.insert(1, "step", st.name)
            rows.insert(2, "n_source", n_val)
            rows.insert(3, "n_label", str(n))
            rows["recipe"] = json.dumps(rec[st.name].to_dict(), sort_keys=True)
            rows["pretrain_steps"] = rows.attrs["pretrain_steps"]
            rows["data_sha256"] = data.data_sha256
            rows["code_version"] = results.code_version()
            rows["wall_s"] = time.perf_counter() - t0
            results.write_atomic(rows, path)
    return load_study(out_dir, case)


def _checked(path: Path, steps=STEPS) -> pd.DataFrame:
    """A study file, checked against the step its name says: the recipe it recorded must be that
    step's recipe (on every field it recorded), so a resumed study never mixes recipes."""
    df = pd.read_csv(path, dtype={"n_label": str})
    rec = recipes(steps)
    step = path.name.split("__")[1] if path.name.count("__") >= 2 else None
    if step in rec and "recipe" in df.columns and len(df):
        want = rec[step].to_dict()
        for got in df["recipe"].unique():
            got = json.loads(got)
            diff = sorted(k for k in got if k in want and json.dumps(got[k], sort_keys=True) != json.dumps(want[k], sort_keys=True))
            if diff:
                raise DataError(f"{path}: recorded recipe differs from step {step!r} of recipe_study.STEPS in {diff}; "
                                f"move the file away and rerun the step")
    return df


def load_study(out_dir: str | Path, case: str) -> pd.DataFrame:
    files = sorted(Path(out_dir).glob(f"{case}__*.csv"))
    if not files:
        return pd.DataFrame()
    return pd.concat([_checked(f) for f in files], ignore_index=True)


def nb_interval(diff: np.ndarray, n_test: float, n_pool: float, level: float = 0.9) -> tuple[float, float, float]:
    """Mean of paired differences over re-split trials with the Nadeau-Bengio corrected interval:
    variance factor ``1/J + n_test/n_pool`` instead of ``1/J`` (trials share data), t with J-1 df.
    Trials with a missing value (NaN) on either side are left out."""
    from scipy import stats

    diff = np.asarray(diff, dtype=float)
    diff = diff[np.isfinite(diff)]
    J = len(diff)
    if J == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(diff.mean())
    if J < 2:
        return mean, float("nan"), float("nan")
    se = math.sqrt((1 / J + n_test / n_pool) * diff.var(ddof=1))
    h = float(stats.t.ppf(0.5 + level / 2, J - 1)) * se
    return mean, mean - h, mean + h


def _per_trial(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(step, n) x seed: trials are paired across steps and n by their seed (same split, same draw)."""
    sub = df[df["metric"] == metric].assign(n_label=lambda d: d["n_label"].astype(str))
    return sub.pivot_table(index=["step", "n_label"], columns="seed", values="value")


def _ratio_args(df: pd.DataFrame) -> tuple[float, float]:
    """Nadeau-Bengio n_test / n_pool (train + validation rows: every trial here uses all of them)."""
    sizes = df[df["metric"].isin(["n_test", "n_train", "n_val"])].groupby("metric")["value"].mean()
    return float(sizes.get("n_test", 1.0)), float(sizes.get("n_train", 1.0) + sizes.get("n_val", 0.0))


def step_status(df: pd.DataFrame, steps=STEPS, ns=("0", "all")) -> pd.DataFrame:
    """One row per step of ``steps``: which of the ``ns`` points are on disk and whether the step is
    complete (every n run), so a page can name what is missing."""
    have = set() if df.empty else set(zip(df["step"], df["n_label"].astype(str)))
    rows = []
    for st in steps:
        done = [n for n in ns if (st.name, n) in have]
        rows.append({"step": st.name, "change": st.change, "run": done,
                     "missing": [n for n in ns if n not in done], "complete": len(done) == len(ns)})
    return pd.DataFrame(rows)


def ablation_table(df: pd.DataFrame, steps=STEPS, level: float = 0.9) -> pd.DataFrame:
    """One row per step run at n = all: validation and test MAE at n = 0 (NaN when n = 0 was not run
    for that step: ``has_n0``) and n = all, the transfer gain (n = all minus n = 0) with its corrected
    interval, the step's effect on the test MAE at n = all (and at n = 0, where both ran) against the
    previous step run at n = all (``against``; the steps between them in ``steps`` were not run, so the
    effect is that of all their changes together, listed in ``changes``), and the fine-tuning
    candidate validation chose most often at n = all."""
    if df.empty:
        return pd.DataFrame()
    mae, val = _per_trial(df, "mae"), _per_trial(df, "val_mae")
    ratio_args = _ratio_args(df)
    names = [st.name for st in steps]
    nan = float("nan")
    rows, prev = [], None
    for i, st in enumerate(steps):
        if (st.name, "all") not in mae.index:
            continue
        a = mae.loc[(st.name, "all")]
        has_n0 = (st.name, "0") in mae.index
        z = mae.loc[(st.name, "0")] if has_n0 else None
        g, glo, ghi = nb_interval((a - z).to_numpy(), *ratio_args, level=level) if has_n0 else (nan, nan, nan)
        row = {"step": st.name, "change": st.change, "has_n0": has_n0,
               "val_mae_n0": float(val.loc[(st.name, "0")].mean()) if has_n0 else nan,
               "val_mae_all": float(val.loc[(st.name, "all")].mean()),
               "mae_n0": float(z.mean()) if has_n0 else nan, "mae_all": float(a.mean()),
               "gain": g, "gain_lo": glo, "gain_hi": ghi, "against": prev or "",
               "changes": list(names[names.index(prev) + 1:i + 1]) if prev else [st.name]}
        if prev is not None:
            e, elo, ehi = nb_interval((a - mae.loc[(prev, "all")]).to_numpy(), *ratio_args, level=level)
            row.update(effect_all=e, effect_lo=elo, effect_hi=ehi)
            if has_n0 and (prev, "0") in mae.index:
                e0, e0lo, e0hi = nb_interval((z - mae.loc[(prev, "0")]).to_numpy(), *ratio_args, level=level)
                row.update(effect_n0=e0, effect_n0_lo=e0lo, effect_n0_hi=e0hi)
        sel = df[(df["step"] == st.name) & (df["n_label"].astype(str) == "all") & (df["metric"] == "mae")]
        counts = sel["selected_recipe"].value_counts()
        row["chosen_most"] = str(counts.index[0]) if len(counts) else ""
        row["chosen_count"] = int(counts.iloc[0]) if len(counts) else 0
        row["trials"] = int(a.notna().sum())
        rows.append(row)
        prev = st.name
    return pd.DataFrame(rows)


def candidates_table(df: pd.DataFrame, step: str, n_label: str = "all") -> pd.DataFrame:
    """Every fine-tuning candidate of one step: mean validation and test MAE, times chosen."""
    if df.empty:
        return pd.DataFrame()
    sub = df[(df["step"] == step) & (df["n_label"].astype(str) == str(n_label))]
    out = []
    for m in sorted(sub["metric"].unique()):
        if m.startswith("val_mae@"):
            name = m.split("@", 1)[1]
            chosen = int((sub[sub["metric"] == "mae"]["selected_recipe"] == name).sum())
            out.append({"candidate": name, "val_mae": float(sub[sub["metric"] == m]["value"].mean()),
                        "mae": float(sub[sub["metric"] == f"mae@{name}"]["value"].mean()), "chosen": chosen})
    return pd.DataFrame(out)


def paired_metrics_table(df: pd.DataFrame, metric_a: str, metric_b: str, steps=STEPS, level: float = 0.9,
                         count: str | None = None) -> pd.DataFrame:
    """Per (step, n) run: the means of two metrics measured in the same trials and their paired
    difference ``metric_a - metric_b`` with its corrected interval (rows where ``metric_a`` was not
    recorded, or is NaN in every trial, are left out). ``count``: a metric whose mean is reported
    too (e.g. the number of test rows the comparison uses)."""
    if df.empty:
        return pd.DataFrame()
    A, B = _per_trial(df, metric_a), _per_trial(df, metric_b)
    C = _per_trial(df, count) if count else None
    ratio_args = _ratio_args(df)
    rows = []
    for st in steps:
        for n in ("0", "all"):
            if (st.name, n) not in A.index or (st.name, n) not in B.index:
                continue
            a, b = A.loc[(st.name, n)], B.loc[(st.name, n)]
            if not np.isfinite(a.to_numpy(dtype=float)).any():
                continue
            d, lo, hi = nb_interval((a - b).to_numpy(), *ratio_args, level=level)
            row = {"step": st.name, "n_label": n, metric_a: float(a.mean()), metric_b: float(b.mean()),
                   "diff": d, "diff_lo": lo, "diff_hi": hi, "trials": int((a - b).notna().sum())}
            if C is not None and (st.name, n) in C.index:
                row[count] = float(C.loc[(st.name, n)].mean())
            rows.append(row)
    return pd.DataFrame(rows)


def clipping_table(df: pd.DataFrame, steps=STEPS, level: float = 0.9) -> pd.DataFrame:
    """The effect of clipping predictions at 0: test ``mae`` minus ``mae_unclipped`` (same trials);
    ``clipped_trials``: in how many trials clipping changed the error at all (0 where the step does
    not clip, or the property takes negative values and clipping is off)."""
    tab = paired_metrics_table(df, "mae", "mae_unclipped", steps, level)
    if tab.empty:
        return tab
    A, B = _per_trial(df, "mae"), _per_trial(df, "mae_unclipped")
    tab["clipped_trials"] = [int(((A.loc[(r.step, r.n_label)] - B.loc[(r.step, r.n_label)]).abs() > 0).sum())
                             for r in tab.itertuples()]
    return tab


def simulation_table(df: pd.DataFrame, steps=STEPS, level: float = 0.9) -> pd.DataFrame:
    """The network on the test materials that have a simulation (``mae_on_sim``) against the simulation as
    the predictor there (linear-corrected simulated value, ``sim_mae``): ``diff`` = mae_on_sim - sim_mae,
    negative when the network predicts better; the convention of the case chapters
    (:mod:`s2rlib.law.simulation_baseline`: network − simulation)."""
    return paired_metrics_table(df, "mae_on_sim", "sim_mae", steps, level, count="n_test_sim")


def cost_table(df: pd.DataFrame, steps=STEPS) -> pd.DataFrame:
    """Minutes each (step, n) point took (``wall_s`` of its file: all trials together), its trials and
    pretraining steps."""
    if df.empty:
        return pd.DataFrame()
    rows = []
    for st in steps:
        for n in ("0", "all"):
            sub = df[(df["step"] == st.name) & (df["n_label"].astype(str) == n)]
            if sub.empty:
                continue
            rows.append({"step": st.name, "n_label": n, "n_source": int(sub["n_source"].iloc[0]),
                         "trials": int(sub["trial"].nunique()), "minutes": float(sub["wall_s"].max()) / 60,
                         "pretrain_steps": int(sub["pretrain_steps"].iloc[0])})
    return pd.DataFrame(rows)


def step_difference(df: pd.DataFrame, step_a: str, step_b: str, n_label: str = "all", metric: str = "mae",
                    level: float = 0.9) -> tuple[float, float, float, int]:
    """Paired ``metric`` of ``step_a`` minus ``step_b`` at one n (same trials): mean, corrected
    interval, trials (NaN and 0 when either point is missing)."""
    tab = _per_trial(df, metric) if not df.empty else pd.DataFrame()
    if (step_a, n_label) not in tab.index or (step_b, n_label) not in tab.index:
        return float("nan"), float("nan"), float("nan"), 0
    d = (tab.loc[(step_a, n_label)] - tab.loc[(step_b, n_label)]).to_numpy(dtype=float)
    return (*nb_interval(d, *_ratio_args(df), level=level), int(np.isfinite(d).sum()))


def chosen_step(df: pd.DataFrame, steps=STEPS) -> str:
    """The step with the lowest mean validation MAE at n = all (ties: the earlier, cheaper step); n = 0
    plays no part. Raises ValueError when no step has run at n = all."""
    tab = ablation_table(df, steps)
    if tab.empty:
        raise ValueError("no step of the recipe study table has run at n = all, so none can be chosen; "
                         "run e.g. `python -m s2rlib.grid.recipe_study band_gap --trials 4`")
    return str(tab.loc[tab["val_mae_all"].idxmin(), "step"])


def chosen_step_overall(table: pd.DataFrame, steps=STEPS) -> tuple[str, pd.DataFrame]:
    """The one default for every case: among the steps run at n = all in every studied case, the one
    with the lowest mean over cases of its validation MAE at n = all relative to the first step's
    (so cases with errors of different size weigh alike). Returns (step, per-case relative table)."""
    rel = {}
    for case, df in table.groupby("case"):
        tab = ablation_table(df, steps)
        if tab.empty:
            continue
        tab = tab.set_index("step")["val_mae_all"]
        first = steps[0].name
        if first not in tab.index:  # no baseline in this case: its ratios would not be comparable
            continue
        rel[case] = tab / tab[first]
    if not rel:
        raise ValueError("no step of the recipe study has run at n = all, so none can be chosen")
    per = pd.DataFrame(rel).dropna()  # steps run in every case
    if per.empty:
        raise ValueError("no step has run at n = all in every studied case")
    per["mean"] = per.mean(axis=1)
    order = [s.name for s in steps]
    per = per.loc[sorted(per.index, key=order.index)]
    return str(per["mean"].idxmin()), per


def load_all(out_dir: str | Path) -> pd.DataFrame:
    """Every case's study rows in ``out_dir`` (empty when there are none)."""
    files = sorted(Path(out_dir).glob("*__*__n*.csv"))
    if not files:
        return pd.DataFrame()
    return pd.concat([_checked(f) for f in files], ignore_index=True)


def main(argv=None) -> None:
    """``python -m s2rlib.grid.recipe_study CASE [--trials J] [--out DIR] [--steps a,b]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m s2rlib.grid.recipe_study", description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/recipe_study")
    ap.add_argument("--steps", default=None, help="comma-separated step names to run (default: all)")
    ap.add_argument("--ns", default="0,all", help="source sizes to run, of 0 and all (default: 0,all)")
    a = ap.parse_args(argv)
    only = None if a.steps is None else set(a.steps.split(","))
    ns = tuple(n if n == "all" else int(n) for n in a.ns.split(","))
    run_study(a.case, load_case(a.case), out_dir=a.out, only=only, ns=ns, trials=a.trials, seed=a.seed)
    print(ablation_table(load_study(a.out, a.case)).to_string())


if __name__ == "__main__":
    main()
