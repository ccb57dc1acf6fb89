"""The data x compute factorial against the final grid (issue 28, item 2): its report.

    .venv/bin/python benchmarks/factorial.py [--case formation_enthalpy]

Reads the factorial's runs (``results/factorial/<case>/<run>/points``: one recipe each, run by
``benchmarks/run_factorial.sh`` with the grid's seeds), the committed grid (``results/<case>/results.csv``)
and, where a cell is missing there, the sensitivity reruns of the same change (``results/sensitivity``);
pairs them trial by trial with :mod:`s2rlib.law.factorial` and writes ``results/factorial/<case>.json``
``results/factorial/<case>.md`` and ``results/factorial/README.md`` (the schedule validation picks, every
case; generated: edit this script, not the pages). Per m: the mean
error of every (n, pretraining length) cell, the paired effects of compute at fixed data and of data at
fixed compute, and the compute share of the gain at the largest n.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))

from s2rlib._core.constants import ALL_M  # noqa: E402
from s2rlib.grid.results import merge_points  # noqa: E402
from s2rlib.law import factorial  # noqa: E402
from s2rlib.law.decisions import case_decisions  # noqa: E402
from s2rlib.law.fit_cache import fit_case  # noqa: E402
from s2rlib.law.trial_stats import drawn_n  # noqa: E402

OUT = REPO / "results" / "factorial"
#: committed sensitivity reruns that are factorial cells (used only for an m no factorial run covers)
SENSITIVITY = ("fixed_steps", "more_steps")


def runs(case: str, root: Path = OUT) -> dict[str, pd.DataFrame]:
    """The factorial's runs of ``case`` by directory name (the pairing check ``grid_check`` left out)."""
    out = {}
    for d in sorted((root / case).glob("*/points")):
        if d.parent.name != "grid_check" and any(d.glob("*.csv")):
            out[d.parent.name] = merge_points(d)
    return out


def analyse(case: str, root: Path = OUT) -> dict:
    grid = pd.read_csv(REPO / "results" / case / "results.csv")
    have = runs(case, root)
    result = {"case": case, "runs": {}, "by_m": {}}
    for name, t in have.items():
        result["runs"][name] = {"recipe": json.loads(t["params"].iloc[0])["recipe"],
                                "code_version": sorted(t["code_version"].astype(str).unique()),
                                "points": int(t.groupby(["n_source", "m_target"]).ngroups)}
    sens = _sensitivity(case)
    for m in (100, ALL_M):
        tables = [t for t in have.values() if (t["m_target"] == m).any()]
        covered = {(n, factorial.length_label(p)) for t in tables
                   for n, p in t[t["m_target"] == m][["n_source", "params"]].drop_duplicates("n_source").itertuples(index=False)}
        for name, t in sens.items():
            t = t[t["m_target"] == m]
            if not t.empty and (t["n_source"].iloc[0], factorial.length_label(t["params"].iloc[0])) not in covered:
                tables.append(t)
                result["runs"].setdefault(f"../sensitivity/{case}/{name}", {
                    "recipe": json.loads(t["params"].iloc[0])["recipe"],
                    "code_version": sorted(t["code_version"].astype(str).unique()),
                    "points": int(t.groupby(["n_source", "m_target"]).ngroups)})
        if not tables:
            continue
        mat = factorial.cells(grid, tables, m)
        fac, table = factorial.analyse(mat, m)
        steps = {f"{n}|{lab}": _steps(tables, grid, n, lab, m) for n, lab in mat.index if n}
        result["by_m"][str(m)] = {
            "trials": fac.trials, "ratio": fac.ratio,
            "mean": {f"{n}|{lab}": float(v) for (n, lab), v in fac.mean.items()},
            "steps": steps,
            "effects": json.loads(table.to_json(orient="records")),
            "share_max": None if fac.share_max is None else vars(fac.share_max),
            "share_step": None if fac.share_step is None else vars(fac.share_step),
            "n_max": fac.n_max, "n_below": fac.n_below, "short": fac.short,
            "grid_length": {str(k): v for k, v in fac.grid_length.items()},
        }
    result["curve"] = curve(case, root)
    result["schedule_choice"] = schedule_choice(case, root)
    return result


#: the run that holds the converged curve (every n pretrained to its own source-validation minimum)
CURVE_RUN = "converge"
#: fewest n (n = 0 included) for a fit of the finite form (4 parameters) with a goodness-of-fit test
MIN_CURVE_POINTS = 6


def curve(case: str, root: Path = OUT) -> dict:
    """The converged curve per m: mean error and steps per n, the fitted forms with their status, and the
    decisions the chosen form supports (:func:`s2rlib.law.decisions.case_decisions`). Only m whose converged
    run holds n = 0 and at least :data:`MIN_CURVE_POINTS` sizes."""
    d = root / case / CURVE_RUN / "points"
    if not any(d.glob("*.csv")):
        return {}
    t = merge_points(d)
    out = {}
    for m in (100, ALL_M):
        tm = t[t["m_target"] == m]
        ns = sorted(tm["n_source"].unique())
        if 0 not in ns or len(ns) < MIN_CURVE_POINTS:
            continue
        cf = fit_case(tm, m)
        dec = case_decisions(cf)
        fits = {}
        for name, f in (("law", cf.fit), ("finite", cf.finite)):
            if f is None:
                continue
            ci = f.ci()
            fits[name] = {"status": str(f.status.value), "message": f.message, "alpha": f.alpha, "C": f.C,
                          "alpha_ci": list(ci["alpha"]), "C_ci": list(ci["C"]), "chi2": f.chi2, "dof": f.dof,
                          "p_value": f.p_value, "aic_vs_constant": f.aic_vs_constant}
        steps = tm[tm["metric"] == "pretrain_steps"].groupby("n_source")["value"]
        drawn = drawn_n(tm)
        out[str(m)] = {
            "trials": cf.trials, "mean": {str(int(n)): float(v) for n, v in cf.mean.items()},
            "gains": {str(int(n)): {"mean": g.mean, "lo": g.lo, "hi": g.hi, "verdict": g.verdict}
                      for n, g in cf.gains.items()},
            # keyed as the means are: by the sources actually drawn (n = all less a trial's withheld tests)
            "steps": {str(int(drawn.get(n, n))): [float(a), float(b)] for n, a, b in
                      zip(steps.min().index, steps.min(), steps.max())},
            "capped": int(tm[tm["metric"] == "pretrain_capped"]["value"].sum()),
            "fits": fits, "chosen": cf.chosen,
            "decisions": {k: vars(getattr(dec, k)) for k in ("required_n", "next_gain")},
            "target": dec.target, "delta": dec.delta,
        }
    return out


def _sensitivity(case: str) -> dict[str, pd.DataFrame]:
    """The committed sensitivity reruns that are cells of the factorial (one point each)."""
    out = {}
    for name in SENSITIVITY:
        f = REPO / "results" / "sensitivity" / case / name / "results.csv"
        if f.is_file():
            out[name] = pd.read_csv(f)
    return out


def _steps(tables, grid, n, label, m) -> dict:
    """Pretraining steps of a cell: recorded per trial (converged runs) or in the params (fixed ones)."""
    for t in [*tables, grid]:
        rows = t[(t["n_source"] == n) & (t["m_target"] == m)]
        if rows.empty or factorial.length_label(rows["params"].iloc[0]) != label:
            continue
        per = rows[rows["metric"] == "pretrain_steps"]["value"]
        if len(per):
            return {"min": float(per.min()), "max": float(per.max()),
                    "capped": int(rows[rows["metric"] == "pretrain_capped"]["value"].sum())}
        s = json.loads(rows["params"].iloc[0]).get("pretrain_steps")
        return {"min": float(s), "max": float(s), "capped": 0}
    return {}


def _f(x, d=3, sign=False):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return (f"{x:+.{d}f}" if sign else f"{x:.{d}f}").replace("-", "−")


def _n(n):
    return f"{int(n):,}"


def _pct(s):
    if not s or s["est"] is None or math.isnan(s["est"]):
        return "—"
    if math.isnan(s["lo"]) or math.isnan(s["hi"]):  # the gain it divides by is not told apart from 0
        return "not defined (the gain it is a share of is not detected)"
    return f"{100 * s['est']:.0f}% [{100 * s['lo']:.0f}%, {100 * s['hi']:.0f}%]"


def report(res: dict) -> str:
    case = res["case"]
    L = [f"<!-- generated by benchmarks/factorial.py from results/factorial/{case} and results/{case}/results.csv; "
         "edit the script, not this page -->", "",
         f"# Data or compute? The n x pretraining-length factorial ({case})", "",
         "The grid pretrains 30 epochs with at least 1,000 steps, so its steps grow with n and a gain between two n "
         "mixes more data with more compute. These runs pretrain the same n for other lengths with the grid's seeds "
         "(trials 0-9: same splits, source draws and initialisation), so each cell is paired with the grid's trial of "
         "the same number; `benchmarks/run_factorial.sh` runs them, `s2rlib.law.factorial` pairs them. Intervals: 90%, "
         "paired over trials, Nadeau-Bengio corrected. Negative = lower error.", ""]
    for name, r in res["runs"].items():
        L.append(f"* `{name}/`: recipe changes {_changes(r['recipe'])}, {r['points']} point(s), code "
                 f"{', '.join(r['code_version'])}")
    L.append("")
    for m, b in res["by_m"].items():
        mm = "all" if int(m) == ALL_M else m
        L += [f"## m = {mm} ({b['trials']} paired trials)", "", "| n | pretraining | steps | mean MAE | gain vs n = 0 |",
              "|---|---|---|---|---|"]
        gains = {(e["n"], e["length"]): e for e in b["effects"] if e["effect"] == "gain"}
        for key, v in b["mean"].items():
            n, lab = key.split("|")
            st = b["steps"].get(key, {})
            steps = "" if not st else (_n(st["min"]) if st["min"] == st["max"] else f"{_n(st['min'])}-{_n(st['max'])}")
            if st.get("capped"):
                steps += f" ({st['capped']} capped)"
            grid = " (grid)" if b["grid_length"].get(n) == lab else ""
            g = gains.get((int(n), lab))
            gtxt = "" if g is None else f"{_f(g['mean'], 4, True)} [{_f(g['lo'], 4, True)}, {_f(g['hi'], 4, True)}]"
            L.append(f"| {_n(n)} | {lab if n != '0' else 'none'}{grid} | {steps} | {_f(v, 4)} | {gtxt} |")
        L += ["", "| effect | at | change | difference [90% CI] | verdict |", "|---|---|---|---|---|"]
        for e in b["effects"]:
            if e["effect"] == "compute":
                L.append(f"| more compute | n = {_n(e['n'])} | {e['from']} → {e['to']} | {_ci(e)} | {e['verdict']} |")
            elif e["effect"] == "data":
                L.append(f"| more data | {e['length']} | n = {_n(e['from'])} → {_n(e['to'])} | {_ci(e)} | {e['verdict']} |")
        L.append("")
        if b["share_max"]:
            L.append(f"**Compute share** of the grid's gain at the largest n (n = {_n(b['n_max'])}, "
                     f"{b['grid_length'][str(b['n_max'])]} against {b['short']}): {_pct(b['share_max'])}; "
                     f"of its drop from n = {_n(b['n_below'])}: {_pct(b['share_step'])}.")
            L.append("")
    L += curve_report(res)
    return "\n".join(L)


def curve_report(res: dict) -> list[str]:
    """The converged curve's section: per m, the means and steps per n, the forms' fits and the decisions."""
    if not res.get("curve"):
        return []
    L = ["## The converged curve: is a law identified?", "",
         f"Every n of `{CURVE_RUN}/` (n = 0 included, the same 10 trials) pretrained to its own source-validation "
         "minimum, fitted as the book fits a grid (`s2rlib.law.fit_cache.fit_case`: the paper's law on n > 0 and "
         "the finite-R(0) form `C + (R0 - C)(1 + n/n_s)^-alpha` with n = 0; the status includes goodness of fit). "
         "Derived numbers are printed only where the chosen form's status is `ok`.", ""]
    for m, c in res["curve"].items():
        mm = "all" if int(m) == ALL_M else m
        L += [f"### m = {mm} ({c['trials']} trials)", "", "| n | steps | mean MAE | gain vs n = 0 [90% CI] |",
              "|---|---|---|---|"]
        for n, v in c["mean"].items():
            st = c["steps"].get(n)
            steps = "" if not st else (_n(st[0]) if st[0] == st[1] else f"{_n(st[0])}-{_n(st[1])}")
            g = c["gains"].get(n)
            L.append(f"| {_n(n)} | {steps} | {_f(v, 4)} | {'' if g is None else _ci(g)} |")
        L += ["", f"Capped pretraining runs: {c['capped']}.", "",
              "| form | status | alpha [90% CI] | C [90% CI] | chi² / dof (p) | AIC vs constant |", "|---|---|---|---|---|---|"]
        for name, f in c["fits"].items():
            chosen = " (reported)" if name == c["chosen"] else ""
            L.append(f"| {name}{chosen} | {f['status']} | {_f(f['alpha'], 3)} [{_f(f['alpha_ci'][0], 3)}, "
                     f"{_f(f['alpha_ci'][1], 3)}] | {_f(f['C'], 4)} [{_f(f['C_ci'][0], 4)}, {_f(f['C_ci'][1], 4)}] | "
                     f"{_f(f['chi2'], 1)} / {f['dof']} ({_f(f['p_value'], 3)}) | {_f(f['aic_vs_constant'], 1)} |")
        L.append("")
        for k, label in (("required_n", f"database size for {_f(c['target'], 4)} (0.9 x the error at the largest n)"),
                         ("next_gain", f"change of the error from the next {_n(c['delta'])} simulations")):
            d = c["decisions"][k]
            L.append(f"* {label}: " + (f"{_f(d['value'], 4 if k == 'next_gain' else 0)} [{_f(d['lo'], 4 if k == 'next_gain' else 0)}, "
                                       f"{_f(d['hi'], 4 if k == 'next_gain' else 0)}]" if d["supported"] else
                                       f"not derived ({d['missing']}: the {d['form']} form's status is {d['status']})"))
        L.append("")
    return L


def _ci(e):
    return f"{_f(e['mean'], 4, True)} [{_f(e['lo'], 4, True)}, {_f(e['hi'], 4, True)}]"


def _changes(recipe: dict) -> str:
    keys = {"pretrain_schedule": "fixed", "pretrain_min_steps": 1000, "pretrain_max_steps": None}
    diff = {k: recipe.get(k, keys[k]) for k in keys if recipe.get(k, keys[k]) != keys[k]}
    return "`" + json.dumps(diff) + "`" if diff else "none (the grid's recipe)"


def schedule_choice(case: str, root: Path = OUT) -> list[dict]:
    """Which pretraining length the experimental *validation* error picks at each n and m (the test split
    never chooses): per cell the mean validation and test MAE over the paired trials, and the converged
    schedule's paired validation difference to every other length with its standard error over trials."""
    grid = pd.read_csv(REPO / "results" / case / "results.csv")
    have = runs(case, root)
    out = []
    for m in (100, ALL_M):
        tables = [t for t in have.values() if (t["m_target"] == m).any()]
        if not tables:
            continue
        V = factorial.cells(grid, tables, m, metric="val_mae")
        T = factorial.cells(grid, tables, m, metric="mae")
        for n in sorted({i[0] for i in V.index if i[0]}):
            labs = [lab for (nn, lab) in V.index if nn == n]
            if factorial.CONVERGED not in labs or len(labs) < 2:
                continue
            conv = V.loc[(n, factorial.CONVERGED)].to_numpy()
            vs = {}
            for lab in labs:
                if lab != factorial.CONVERGED:
                    d = conv - V.loc[(n, lab)].to_numpy()
                    vs[lab] = {"mean": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d)))}
            out.append({"case": case, "m": m, "n": int(n), "trials": int(V.shape[1]),
                        "val": {lab: float(V.loc[(n, lab)].mean()) for lab in labs},
                        "test": {lab: float(T.loc[(n, lab)].mean()) for lab in labs},
                        "picked": min(labs, key=lambda lab: V.loc[(n, lab)].mean()), "converged_vs": vs})
    return out


def choice_report(rows: list[dict]) -> str:
    """results/factorial/README.md: the schedule validation picks, over every case with a factorial."""
    L = ["<!-- generated by benchmarks/factorial.py (--index) from results/factorial/<case>/; edit the script, not "
         "this page -->", "", "# The data x compute factorials", "",
         "One page per case: " + ", ".join(f"[{c}]({c}.md)" for c in sorted({r['case'] for r in rows})) + ".", "",
         "## Which pretraining schedule does validation choose?", "",
         "At every n of the factorial and both m, the schedule with the lowest mean *validation* MAE (a split of the "
         "experimental training rows; the test split never chooses), and the converged schedule's paired validation "
         "difference to each fixed length (mean ± standard error over the paired trials; negative: converged is "
         "better on validation).", "",
         "| case | m | n | picked by validation | converged − fixed (validation) | test MAE: converged / fixed |",
         "|---|---|---|---|---|---|"]
    wins = 0
    worse = []
    for r in rows:
        mm = "all" if r["m"] == ALL_M else r["m"]
        diffs = "; ".join(f"{lab}: {v['mean']:+.4f} ± {v['se']:.4f}" for lab, v in r["converged_vs"].items())
        tests = "; ".join(f"{r['test'][factorial.CONVERGED]:.4f} / {r['test'][lab]:.4f}" for lab in r["converged_vs"])
        L.append(f"| {r['case']} | {mm} | {_n(r['n'])} | {r['picked']} | {diffs} | {tests} |")
        wins += r["picked"] == factorial.CONVERGED
        worse += [(r, lab, v) for lab, v in r["converged_vs"].items() if v["mean"] > 2 * v["se"]]
    L += ["", f"Validation picks the converged schedule in **{wins} of {len(rows)}** (case, m, n) cells. Where a fixed "
          f"length is picked, converged is worse on validation by more than two standard errors in "
          f"{len(worse)} comparison(s)"
          + (": " + "; ".join(f"{r['case']} m = {'all' if r['m'] == ALL_M else r['m']} n = {_n(r['n'])} against "
                              f"{lab} ({v['mean']:+.4f} ± {v['se']:.4f})" for r, lab, v in worse) if worse else "")
          + ". One schedule for every n is the point of the protocol (a length tuned per n on the experimental "
          "validation error would make compute a function of n again), so the protocol pretrains to convergence.",
          ""]
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="formation_enthalpy")
    args = ap.parse_args(argv)
    res = analyse(args.case)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.case}.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    (OUT / f"{args.case}.md").write_text(report(res) + "\n")
    cases = sorted(p.parent.name for p in OUT.glob("*/converge"))
    (OUT / "README.md").write_text(choice_report([r for c in cases for r in schedule_choice(c)]))
    print(report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
