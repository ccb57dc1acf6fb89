"""Descriptors chosen by validation (issue 28, item 7): composition statistics, Magpie, mat2vec, oliynyk.

    python benchmarks/descriptors.py run [--cases formation_enthalpy,band_gap] [--ns 0,1000,10000]
        [--trials 10] [--recipe JSON] [--threads 1] [--out results/descriptors]
    python benchmarks/descriptors.py report [--out results/descriptors]

``run`` trains, for each case, descriptor (:data:`s2rlib.features.descriptors.DESCRIPTORS`) and n, one point
of the recipe study (:func:`s2rlib.grid.recipe_study.run_study`: the same seeds, so the same experimental
splits and source draws, for every descriptor; every candidate's validation and test error recorded). The
recipe is the default plus ``--recipe`` (default: the "converge" schedule, :data:`RECIPE`) plus the
descriptor. Each (case, descriptor, n) is one CSV ``<out>/<case>__<descriptor>__n<n>.csv`` written
atomically; a rerun skips the finished ones (and refuses a file whose recorded recipe is not this run's).

``report`` writes ``<out>/README.md`` and ``<out>/report.json``: per case and n, each descriptor's mean
validation and test MAE (band gap: also the MAE on the test materials with a non-zero measured gap), the
paired difference against "composition" with its Nadeau-Bengio corrected 90% interval, and the descriptor
validation prefers (lowest mean validation MAE at each n; overall, the lowest mean over n and cases of the
validation MAE relative to "composition"). The test split never chooses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))

from s2rlib.features.descriptors import DEFAULT, DESCRIPTORS  # noqa: E402
from s2rlib.grid import recipe_study  # noqa: E402
from s2rlib.training.params import validate_recipe  # noqa: E402
from s2rlib.training.transfer import Recipe  # noqa: E402

OUT = REPO / "results" / "descriptors"
CASES = ("formation_enthalpy", "band_gap")
#: the recipe overrides of the study (the converged pretraining of issue 28 item 1)
RECIPE = {"pretrain_schedule": "converge", "pretrain_max_steps": 60000, "distinct_candidates": True}
METRICS = ("val_mae", "mae", "mae_nonzero")


def steps(recipe: dict | None = None, descriptors=DESCRIPTORS) -> tuple[recipe_study.Step, ...]:
    """One recipe-study step per descriptor: the whole recipe (default + ``recipe``) with that descriptor, so
    the cumulative steps of :func:`recipe_study.recipes` are each exactly their own recipe."""
    out = []
    for d in descriptors:
        r = validate_recipe({**(RECIPE if recipe is None else recipe), "descriptor": d})
        out.append(recipe_study.Step(d, f"descriptor {d!r}", {f.name: getattr(r, f.name) for f in fields(Recipe)}))
    return tuple(out)


def _n_label(n) -> str:
    return str(n)


def run(cases=CASES, descriptors=DESCRIPTORS, ns=(0, 1000, 10000), trials: int = 10, seed: int = 0,
        recipe: dict | None = None, out: Path = OUT, progress: bool = True) -> list[Path]:
    """Every (case, descriptor, n) point not yet on disk; returns the files written."""
    from s2rlib.cases.registry import load_case

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    st = steps(recipe, descriptors)
    written = []
    for case in cases:
        for step in st:
            paths = [out / f"{case}__{step.name}__n{_n_label(n)}.csv" for n in ns]
            for p in paths:
                if p.is_file():
                    recipe_study._checked(p, st)  # a finished file of another recipe is refused, not mixed in
            todo = [n for n, p in zip(ns, paths) if not p.is_file()]
            if not todo:
                continue
            t0 = time.perf_counter()
            data = load_case(case, descriptor=step.name)
            print(f"{case} {step.name}: {data.X_source.shape[1]} features, loaded in {time.perf_counter() - t0:.0f} s; "
                  f"n = {todo}", flush=True)
            recipe_study.run_study(case, data, out_dir=out, steps=st, only={step.name}, ns=tuple(todo), trials=trials,
                                   seed=seed, progress=progress)
            written += [p for n, p in zip(ns, paths) if n in todo]
    return written


def load(out: Path = OUT, descriptors=DESCRIPTORS) -> pd.DataFrame:
    files = sorted(f for f in Path(out).glob("*__*__n*.csv") if f.name.split("__")[1] in descriptors)
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_csv(f, dtype={"n_label": str}) for f in files], ignore_index=True)


def _sort_n(labels) -> list[str]:
    return sorted(set(labels), key=lambda s: (s == "all", int(s) if s.isdigit() else 0))


def compare(df: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
    """One row per (case, n, descriptor, metric): mean over trials and the paired difference against
    "composition" (same seeds) with its corrected interval."""
    rows = []
    for case, sub in df.groupby("case"):
        ratio = recipe_study._ratio_args(sub)
        for metric in METRICS:
            if metric not in set(sub["metric"]):
                continue
            tab = recipe_study._per_trial(sub, metric)
            for n in _sort_n(sub["n_label"].astype(str)):
                base = tab.loc[(DEFAULT, n)] if (DEFAULT, n) in tab.index else None
                for d in DESCRIPTORS:
                    if (d, n) not in tab.index:
                        continue
                    v = tab.loc[(d, n)]
                    row = {"case": case, "n_label": n, "descriptor": d, "metric": metric, "mean": float(v.mean()),
                           "trials": int(v.notna().sum())}
                    if base is not None and d != DEFAULT:
                        diff, lo, hi = recipe_study.nb_interval((v - base).to_numpy(dtype=float), *ratio, level=level)
                        row.update(diff=diff, diff_lo=lo, diff_hi=hi)
                    rows.append(row)
    return pd.DataFrame(rows)


def preferred(table: pd.DataFrame) -> dict:
    """What validation prefers: per (case, n) the descriptor of lowest mean validation MAE, and overall the one
    of lowest mean over (case, n) of its validation MAE relative to "composition" (cells where every
    descriptor ran)."""
    val = table[table["metric"] == "val_mae"]
    per_cell = {f"{c} n={n}": str(g.loc[g["mean"].idxmin(), "descriptor"])
                for (c, n), g in val.groupby(["case", "n_label"])}
    wide = val.pivot_table(index=["case", "n_label"], columns="descriptor", values="mean")
    overall, relative = None, {}
    if DEFAULT in wide.columns:
        rel = wide.div(wide[DEFAULT], axis=0).dropna()
        if not rel.empty:
            relative = {d: float(rel[d].mean()) for d in rel.columns}
            # ties go to the default (no change without a reason)
            overall = min(relative, key=lambda d: (round(relative[d], 12), d != DEFAULT))
    return {"per_cell": per_cell, "relative_val_mae": relative, "overall": overall}


def _f(x, digits=4) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _pm(row) -> str:
    if "diff" not in row or not np.isfinite(row.get("diff", np.nan)):
        return ""
    return f"{row['diff']:+.4f} [{_f(row['diff_lo'])}, {_f(row['diff_hi'])}]"


def report(df: pd.DataFrame, level: float = 0.9) -> tuple[str, dict]:
    table = compare(df, level)
    pref = preferred(table)
    lines = ["# Descriptors chosen by validation", "",
             "Generated by `benchmarks/descriptors.py report` (edit the script, not this page). Per case and n: the "
             "mean over trials of the validation MAE (the split that chooses), the test MAE and, for band gap, the "
             "test MAE on the materials with a non-zero measured gap; beside each descriptor its paired difference "
             f"against \"composition\" (same trials) with the Nadeau-Bengio corrected {level:.0%} interval "
             "(negative: better than composition).", ""]
    recipes = sorted(df["recipe"].unique()) if "recipe" in df else []
    if recipes:
        default = Recipe().to_dict()
        changed = {k: v for k, v in json.loads(recipes[0]).items() if k != "descriptor" and default.get(k) != v}
        lines += [f"Recipe: the default but `{json.dumps(changed, sort_keys=True)}` and the descriptor.", ""]
    for case, sub in table.groupby("case", sort=False):
        lines += [f"## {case}", ""]
        metrics = [m for m in METRICS if m in set(sub["metric"])]
        head = "| n | descriptor | trials | " + " | ".join(f"{m} | {m} − composition" for m in metrics) + " |"
        lines += [head, "|" + "---|" * (3 + 2 * len(metrics))]
        for n in _sort_n(sub["n_label"]):
            for d in DESCRIPTORS:
                cell = sub[(sub["n_label"] == n) & (sub["descriptor"] == d)].set_index("metric")
                if cell.empty:
                    continue
                parts = []
                for m in metrics:
                    r = cell.loc[m].to_dict() if m in cell.index else {}
                    parts += [_f(r.get("mean")), _pm(r)]
                lines.append(f"| {n} | {d} | {int(cell['trials'].max())} | " + " | ".join(parts) + " |")
        lines.append("")
    lines += ["## What validation prefers", ""]
    lines += [f"* {cell}: **{d}**" for cell, d in pref["per_cell"].items()]
    if pref["overall"]:
        rel = ", ".join(f"{d} {v:.3f}" for d, v in pref["relative_val_mae"].items())
        lines += ["", f"Overall (mean over cases and n of the validation MAE relative to composition: {rel}): "
                      f"**{pref['overall']}**."]
    return "\n".join(lines) + "\n", {"table": table.to_dict(orient="records"), "preferred": pref}


def write_report(out: Path = OUT) -> Path:
    from s2rlib._core.atomic import atomic_write

    df = load(out)
    if df.empty:
        raise SystemExit(f"no descriptor-study files in {out}; run `python benchmarks/descriptors.py run` first")
    text, data = report(df)
    with atomic_write(Path(out) / "README.md", "w") as fh:
        fh.write(text)
    with atomic_write(Path(out) / "report.json", "w") as fh:
        json.dump(data, fh, indent=1, default=float)
    return Path(out) / "README.md"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("run", "report"))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--descriptors", default=",".join(DESCRIPTORS))
    ap.add_argument("--ns", default="0,1000,10000", help="source sizes (integers or 'all')")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recipe", default=json.dumps(RECIPE), help="Recipe overrides, JSON (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args(argv)
    if a.what == "report":
        print(write_report(Path(a.out)))
        return 0
    import torch

    torch.set_num_threads(a.threads)
    ns = tuple(n if n == "all" else int(n) for n in a.ns.split(","))
    descriptors = tuple(a.descriptors.split(","))
    bad = sorted(set(descriptors) - set(DESCRIPTORS))
    if bad:
        raise SystemExit(f"--descriptors: unknown {bad}; expected some of {list(DESCRIPTORS)}")
    written = run(tuple(a.cases.split(",")), descriptors, ns, a.trials, a.seed, json.loads(a.recipe), Path(a.out))
    print(f"{len(written)} file(s) written to {a.out}")
    print(write_report(Path(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
