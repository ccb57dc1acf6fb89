"""The compute floor of the book's default grids: the fewest floating-point operations their recipe needs,
counted from the committed rows, at the matmul ceiling measured in the same run.

Speed work can only make a grid run closer to the ceiling or compute less. This script answers how far
the first can go: if every training step ran at the fastest matrix-product rate this machine reaches
(``torch.matmul`` 1024^3, fp32 and, on a CPU with native bfloat16, bf16), how many minutes would the
committed grids (``results/<case>/results.csv``) still take?

What is counted (``training_flops``), per grid point, from its rows and its recorded recipe:

* **pretraining**, exactly: ``pretrain_steps`` (recorded) x ``pretrain_batch`` x trials x
  ``EnsembleMLP.flops_per_sample()`` (forward + backward). It is counted once per n, because one
  pretraining per (n, trial) serves every m (``s2rlib.training.pretrain_cache``); the report also gives the
  count with one pretraining per point, as a grid without that cache would run.
* **fine-tuning**, exactly where the rows record every candidate's steps (``finetune_steps``, written
  since 2026-12-03), else a lower bound: every trial fine-tunes ``len(recipe.candidates)`` members; a
  member stops ``patience_epochs`` epochs after its best one (or at ``finetune_max_epochs``). For the
  candidate validation chose, the rows record that best step, so its steps are exact; for the others
  only the floor ``patience_epochs`` epochs is known. Each step trains ``finetune_batch`` rows.
* Validation and test predictions (forward only, a few percent more) are not counted, so the floor is
  a lower bound of the work, and the minutes a lower bound of the time.

It also reads ``results.json`` (``bench_grid.py``) for what the same bound says of the fast path: the
naive path's training rate, and what a 5x faster fast path would need.

Writes ``floor.json`` and renders ``FLOOR.md`` from it (``--report-only`` re-renders)::

    .venv/bin/python benchmarks/floor.py        # ~1 minute: loads the cases, measures the ceilings
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import (REPO, bf16_matmul_gflops, cpu_model, log, machine_facts, matmul_gflops,  # noqa: E402
                     onednn_linear_gflops)

GOAL_MIN = 60  # issue "Speed for the paper-grade protocol": all default grids in an hour
GOAL_FAST_PATH = 5.0


def flops_per_sample(d_in: int, hidden) -> int:
    """Training FLOPs of one sample through one member: forward 2 x multiply-adds per layer, backward 4 x
    (weight and input gradients) except the first layer's, which needs no input gradient (2 x). This is
    ``EnsembleMLP.flops_per_sample()`` (6 x every layer, as ``bench_grid.py`` counts) less 2 x the first
    layer's multiply-adds; ``tests/test_floor.py`` checks it against torch's own FLOP counter."""
    sizes = (d_in, *hidden, 1)
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 6 * sum(macs) - 2 * macs[0]


def training_flops(*, d_in: int, recipe, pretrain_steps: int, trials: int, n_train, best_step,
                   finetune_steps=None) -> dict:
    """Training FLOPs of one grid point: pretraining (exact) and fine-tuning (a lower bound, or exact).

    ``n_train`` and ``best_step`` are per trial: the experimental training rows and the step at which the
    chosen candidate's validation error was best (``finetune_best_step``). ``finetune_steps`` (per trial,
    all candidates' steps; rows written since that metric exists) makes the fine-tuning count exact.
    Returns FLOPs and the underlying step counts (``finetune_steps``: summed over trials and candidates).
    """
    fps = flops_per_sample(d_in, recipe.hidden)
    n_train = np.asarray(n_train, dtype=np.int64)
    best_step = np.asarray(best_step, dtype=np.int64)
    if n_train.shape != (trials,) or best_step.shape != (trials,):
        raise ValueError(f"expected n_train and best_step for each of the {trials} trials, got "
                         f"{n_train.shape} and {best_step.shape}")
    spe = -(-n_train // recipe.finetune_batch)  # steps per epoch, as transfer._finetune
    cap = recipe.finetune_max_epochs * spe
    patience = recipe.patience_epochs * spe
    chosen = np.minimum(best_step + patience, cap)  # exact: it stopped `patience` epochs after its best
    others = (len(recipe.candidates) - 1) * np.minimum(patience, cap)  # at least: its best is no earlier than 0
    ft_steps, exact = int((chosen + others).sum()), False
    if finetune_steps is not None:
        recorded = np.asarray(finetune_steps, dtype=np.int64)
        if recorded.shape != (trials,) or (recorded < chosen + others).any():
            raise ValueError(f"recorded finetune_steps {recorded.tolist()} are not {trials} per-trial counts at least "
                             f"the lower bound {(chosen + others).tolist()} (best step + patience): rows of another recipe?")
        ft_steps, exact = int(recorded.sum()), True
    return {"flops_per_sample": fps, "pretrain_steps": int(pretrain_steps), "finetune_exact": exact,
            "pretrain": float(pretrain_steps) * recipe.pretrain_batch * trials * fps,
            "finetune_steps": ft_steps, "finetune": float(ft_steps) * recipe.finetune_batch * fps,
            # not a bound, a scale: every candidate stopping when the chosen one did
            "finetune_if_alike": float(len(recipe.candidates) * chosen.sum()) * recipe.finetune_batch * fps}


def grid_floor(table, d_in: int) -> dict:
    """Per point and in sum, the training FLOPs of one case's committed table (one recipe per table)."""
    from s2rlib.training.transfer import Recipe

    settings = {json.dumps({"recipe": p["recipe"], "trials": p["trials"]}, sort_keys=True)
                for p in map(json.loads, table["params"].drop_duplicates())}
    if len(settings) != 1:
        raise ValueError(f"expected one recipe and trial count per table, found {len(settings)}")
    p = json.loads(settings.pop())
    recipe, trials = Recipe.from_dict(p["recipe"]), int(p["trials"])
    points, pretrained = [], set()
    for (n, m), rows in table.groupby(["n_source", "m_target"], sort=True):
        per = rows.pivot(index="trial", columns="metric", values="value")  # a duplicated row raises
        recorded = "finetune_steps" in per and per["finetune_steps"].notna().all()  # else: the lower bound
        pp = json.loads(rows["params"].iloc[0])
        f = training_flops(d_in=d_in, recipe=recipe, pretrain_steps=pp["pretrain_steps"], trials=trials,
                           n_train=per["n_train"].to_numpy(), best_step=per["finetune_best_step"].to_numpy(),
                           finetune_steps=per["finetune_steps"].to_numpy() if recorded else None)
        f.update(n=int(n), m=int(m), wall_s=float(rows["wall_s"].iloc[0]),
                 pretrain_counted=f["pretrain"] if n not in pretrained else 0.0)
        pretrained.add(n)
        points.append(f)
    return {"trials": trials, "points": points, "recipe_is_default": recipe == Recipe(),
            "finetune_exact": all(q["finetune_exact"] for q in points),
            "pretrain_once": sum(q["pretrain_counted"] for q in points),
            "pretrain_per_point": sum(q["pretrain"] for q in points),
            "finetune": sum(q["finetune"] for q in points),
            "finetune_if_alike": sum(q["finetune_if_alike"] for q in points),
            "wall_s": sum(q["wall_s"] for q in points)}


def measure(args) -> dict:
    import pandas as pd
    import torch

    from s2rlib.book.case_results import BOOK_CASES
    from s2rlib.cases.registry import load_case
    from s2rlib.training.transfer import bf16_native

    torch.set_num_threads(args.threads)
    res = {"command": " ".join(["python benchmarks/floor.py"] + (args.argv or [])),
           "machine": machine_facts(args.threads), "threads": args.threads, "bf16_native": bf16_native()}
    log("ceilings")
    kernels = {"fp32 `torch.matmul` (MKL)": matmul_gflops(1024, args.ceiling_seconds),
               "fp32 oneDNN linear": onednn_linear_gflops(1024, args.ceiling_seconds)}
    if res["bf16_native"]:
        kernels["bf16 `torch.matmul` (oneDNN)"] = bf16_matmul_gflops(1024, args.ceiling_seconds)
    res["kernels_gflops"] = {k: v for k, v in kernels.items() if v is not None}
    # the ceiling of a precision: the fastest kernel measured for it
    res["ceiling_gflops"] = {prec: max(v for k, v in res["kernels_gflops"].items() if k.startswith(prec))
                             for prec in ("fp32", "bf16") if any(k.startswith(prec) for k in res["kernels_gflops"])}
    res["cases"] = {}
    for case in BOOK_CASES:
        path = REPO / "results" / case / "results.csv"
        table = pd.read_csv(path)
        data = load_case(case)
        shas = set(table["data_sha256"])
        if shas != {data.data_sha256}:
            raise SystemExit(f"{path}: data_sha256 {sorted(shas)} is not the data loaded today "
                             f"({data.data_sha256}); the feature width may differ")
        log(f"{case}: {len(table)} rows")
        res["cases"][case] = {"table": str(path.relative_to(REPO)), "d_in": int(data.X_source.shape[1]),
                              **grid_floor(table, int(data.X_source.shape[1]))}
    bench = HERE / "results.json"
    if bench.exists():
        a = json.loads(bench.read_text())
        if len(a["a"]["points"]) != 1:
            raise SystemExit(f"{bench}: expected one (a) point (the committed REPORT.md's), found {len(a['a']['points'])}")
        pt = a["a"]["points"][0]
        res["fast_path"] = {"n": pt["n"], "flops": pt["flops"], "naive_train_s": pt["naive_train_s_scaled"],
                            "naive_trials_measured": pt["naive_trials_measured"], "trials": a["config"]["trials"],
                            "fast_train_s": pt["fast_train_s"], "ceiling_gflops": a["b"]["ceiling"]["matmul_1024"],
                            "date_utc": a["machine"]["date_utc"]}
    prec = HERE / "precision.json"
    if prec.exists():
        pr = json.loads(prec.read_text())
        res["bf16_point"] = {"speedup": pr["a"]["speedup"], "n": pr["a"]["n"], "trials": pr["a"]["trials"]}
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    return res


# ---------------------------------------------------------------------------------------------- report
def summary(res: dict) -> dict:
    """The report's headline numbers (minutes at the ceiling), shared by FLOOR.md, README and the book."""
    ceil, cases = res["ceiling_gflops"], res["cases"].values()
    once = sum(c["pretrain_once"] + c["finetune"] for c in cases)
    per_point = sum(c["pretrain_per_point"] + c["finetune"] for c in cases)
    out = {"cases": len(res["cases"]), "flops": once, "flops_without_reuse": per_point,
           "finetune_exact": all(c.get("finetune_exact") for c in cases),
           "floor_min": {k: once / (v * 1e9) / 60 for k, v in ceil.items()},
           "wall_min": sum(c["wall_s"] for c in cases) / 60,
           "pretrain_share": sum(c["pretrain_once"] for c in cases) / once,
           "pretrain_min": sum(c["pretrain_once"] for c in cases) / (ceil["fp32"] * 1e9) / 60,
           "reuse_factor": per_point / once}
    out["alike_min"] = sum(c["pretrain_once"] + c["finetune_if_alike"] for c in cases) / (ceil["fp32"] * 1e9) / 60
    out["ceiling_needed_x"] = out["floor_min"]["fp32"] / GOAL_MIN
    if "bf16" in ceil:
        out["bf16_share_needed"] = out["floor_min"]["bf16"] / GOAL_MIN
    if "fast_path" in res:
        fp = res["fast_path"]
        out["naive_gflops"] = fp["flops"] / fp["naive_train_s"] / 1e9
        out["fast_needed_share"] = GOAL_FAST_PATH * out["naive_gflops"] / ceil["fp32"]
        out["grid_gain_needed"] = GOAL_FAST_PATH / out["reuse_factor"]
    return out


def readme_sentence(res: dict) -> str:
    """README's compute-floor bullet, generated from ``floor.json`` (``tests/test_floor.py`` checks README)."""
    s, ceil = summary(res), res["ceiling_gflops"]
    count = {2: "two", 3: "three", 4: "four"}.get(s["cases"], str(s["cases"]))
    out = (f"counted from the committed rows, the {count} default grids' training needs at least "
           f"{_t(s['flops'])} TFLOP (pretraining exactly, once per n; fine-tuning {_ft_words(res)}). At this "
           f"machine's fastest measured fp32 matrix-product rate, {ceil['fp32']:.0f} GFLOP/s ({_fastest(res, 'fp32')}), "
           f"that is **{_m(s['floor_min']['fp32'])} minutes** even at 100% efficiency, "
           f"{s['ceiling_needed_x']:.1f}x the {GOAL_MIN}-minute goal (pretraining alone, counted exactly: "
           f"{_m(s['pretrain_min'])} minutes)")
    if "bf16" in ceil:
        out += (f"; at its {ceil['bf16']:.0f} GFLOP/s bf16 rate, {_m(s['floor_min']['bf16'])} minutes"
                + (f", within the goal only at {100 * s['bf16_share_needed']:.0f}% efficiency or more"
                   if s["bf16_share_needed"] < 1 else ""))
    out += f". The grids took {_m(s['wall_min'])} minutes."
    if s["ceiling_needed_x"] > 1:
        out += (f" So today's recipe would not meet the {GOAL_MIN}-minute goal on this machine in fp32 even at 100% "
                "of the fastest rate measured.")
    return out


def _mkl_words(res: dict) -> str:
    k = res.get("kernels_gflops", {})
    mkl, dnn = k.get("fp32 `torch.matmul` (MKL)"), k.get("fp32 oneDNN linear")
    if not (mkl and dnn):
        return ""
    return (f"; on this CPU oneDNN's fp32 kernel is {dnn / mkl:.1f}x MKL's" if dnn > 1.1 * mkl else
            f"; on this CPU oneDNN's fp32 kernel is no faster than MKL's ({dnn / mkl:.2f}x)")


def _ft_words(res: dict) -> str:
    exact = [bool(c.get("finetune_exact")) for c in res["cases"].values()]
    return "exactly" if all(exact) else "a lower bound" if not any(exact) else "exactly in some cases, a lower bound in others"


def _fastest(res: dict, prec: str) -> str:
    """Which kernel set the ceiling of ``prec``."""
    k = res.get("kernels_gflops", {})
    best = max((name for name in k if name.startswith(prec)), key=k.get, default=None)
    return best.removeprefix(prec).strip() if best else "`torch.matmul`"


def _t(flops: float) -> str:
    return f"{flops / 1e12:,.0f}"


def _m(minutes: float) -> str:
    return f"{minutes:,.0f}" if minutes >= 10 else f"{minutes:,.1f}"


def _bf16_words(res: dict, s: dict) -> str:
    ceil, floor_bf = res["ceiling_gflops"], s["floor_min"]["bf16"]
    words = f"At the bf16 ceiling the floor is {_m(floor_bf)} minutes"
    if floor_bf >= GOAL_MIN:
        return words + ", still above the goal."
    words += (f": within the goal only if training ran at {100 * floor_bf / GOAL_MIN:.0f}% or more of the bf16 "
              f"ceiling, which is {ceil['bf16'] / ceil['fp32']:.1f}x the fp32 one")
    if "bf16_point" in res:
        b = res["bf16_point"]
        words += (f"; the bf16 grid point of `PRECISION.md` (band gap n = {b['n']:,}, {b['trials']} trials, 1 thread, "
                  f"against fp32 with `torch.matmul`) ran {b['speedup']:.2f}x faster than fp32")
    return words + ". bf16 is also not the validated recipe (see `PRECISION.md`)."


def render(res: dict) -> str:
    s, f, ceil = summary(res), res["machine"], res["ceiling_gflops"]
    cpu = cpu_model(f)
    kernels = res.get("kernels_gflops") or {f"{k} `torch.matmul`": v for k, v in ceil.items()}
    L = ["# The compute floor of the default grids", "",
         f"Generated by `benchmarks/floor.py` on {f['date_utc']} UTC from the committed tables — do not edit by "
         "hand; rerun the script (`--report-only` re-renders from `floor.json`).", "",
         f"Machine: {cpu}, {f['nproc']} CPUs, torch {f['torch']}, {res['threads']} torch threads (as the grids), "
         f"code `{f['git']}`, load average at start {f['loadavg_start'][0]:.2f}.", "",
         "Matrix-product rates, 1024^3, best of 5 bursts: "
         + ", ".join(f"{k} **{v:,.0f} GFLOP/s**" for k, v in kernels.items())
         + ("" if "bf16" in ceil else " (no native bfloat16 on this CPU)") + ". The ceiling of a precision is its "
         "fastest kernel here. The grids trained with `torch.baddbmm`, MKL's path" + _mkl_words(res) + ". A true "
         "hardware peak could be higher still: the floor is the minutes at the fastest rate measured, not at the "
         "silicon's limit.", "",
         "Training FLOPs from the rows (see the script's docstring): 2 x multiply-adds forward, 4 x backward but for "
         "the first layer (no input gradient); pretraining exact, counted once per n (one pretraining per n serves "
         f"every m); fine-tuning {_ft_words(res)} (exact where the rows record every candidate's steps; else the "
         "chosen candidate's steps exact, the other candidates' at least `patience_epochs` epochs); validation and "
         "test not counted. Floor = FLOPs / ceiling. The measured minutes are the points' `wall_s`: some ran "
         "beside other work, and a point can have pretrained again (the pretrained-network cache keys on the CPU "
         "model, and the project's machine changes between sessions).", "",
         "| case | points | trials | d_in | pretraining TFLOP | fine-tuning TFLOP (≥ marks a lower bound) | floor, fp32 (min) "
         + ("| floor, bf16 (min) " if "bf16" in ceil else "") + "| measured (min, `wall_s`) | measured / floor |",
         "|---|---|---|---|---|---|---|" + ("---|" if "bf16" in ceil else "") + "---|---|"]
    for case, c in res["cases"].items():
        flops = c["pretrain_once"] + c["finetune"]
        fl = {k: flops / (v * 1e9) / 60 for k, v in ceil.items()}
        L.append(f"| {case} | {len(c['points'])} | {c['trials']} | {c['d_in']} | {_t(c['pretrain_once'])} | "
                 f"{'' if c.get('finetune_exact') else '≥ '}{_t(c['finetune'])} | {_m(fl['fp32'])} | "
                 + (f"{_m(fl['bf16'])} | " if "bf16" in ceil else "")
                 + f"{_m(c['wall_s'] / 60)} | {c['wall_s'] / 60 / fl['fp32']:.1f} |")
    L.append(f"| **all** | {sum(len(c['points']) for c in res['cases'].values())} | | | "
             f"{_t(sum(c['pretrain_once'] for c in res['cases'].values()))} | "
             f"{'' if s['finetune_exact'] else '≥ '}{_t(sum(c['finetune'] for c in res['cases'].values()))} | "
             f"**{_m(s['floor_min']['fp32'])}** | " + (f"**{_m(s['floor_min']['bf16'])}** | " if "bf16" in ceil else "")
             + f"{_m(s['wall_min'])} | {s['wall_min'] / s['floor_min']['fp32']:.1f} |")
    L += ["", f"**The {GOAL_MIN}-minute goal.** At the fp32 ceiling the committed grids need at least "
          f"**{_m(s['floor_min']['fp32'])} minutes** of training, {s['ceiling_needed_x']:.1f}x the goal: it would take "
          f"a matrix-product rate {s['ceiling_needed_x']:.1f}x the fastest measured here, at 100% efficiency. "
          f"Pretraining alone, counted exactly, takes {_m(s['pretrain_min'])} minutes at the ceiling"
          + (", more than the goal whatever fine-tuning costs. " if s["pretrain_min"] > GOAL_MIN else
             f", {100 * s['pretrain_min'] / GOAL_MIN:.0f}% of the goal. ")
          + (_bf16_words(res, s) if "bf16" in ceil else "")]
    if not s["finetune_exact"]:
        L += ["", "Where the fine-tuning count is a lower bound, the rows record only the chosen candidate's "
              "stopping step. If the other candidates had stopped when the chosen one did, fine-tuning would be "
              f"{_t(sum(c['finetune_if_alike'] for c in res['cases'].values()))} TFLOP and the fp32 floor "
              f"{_m(s['alike_min'])} minutes (a scale, not a bound)."]
    L += ["", f"Pretraining is {100 * s['pretrain_share']:.0f}% of the floor's FLOPs. One pretraining per n "
          f"for every m computes {s['reuse_factor']:.2f}x less than one per point "
          f"({_t(s['flops_without_reuse'])} TFLOP against {_t(s['flops'])})."]
    if "fast_path" in res:
        fp = res["fast_path"]
        est = (f"estimated from {fp['naive_trials_measured']} measured trial(s) scaled to {fp['trials']}"
               if fp["naive_trials_measured"] < fp["trials"] else f"{fp['trials']} trials")
        L += ["", f"**The 5x fast-path goal.** `REPORT.md` ({fp['date_utc']} UTC, band gap n = {fp['n']:,}, one grid "
              f"point) timed the naive path, one network at a time, at {s['naive_gflops']:.0f} GFLOP/s on the fast "
              f"path's work ({est}; FLOPs as `bench_grid.py` counts them, 6 x multiply-adds per layer; its own "
              f"`torch.matmul` ceiling was {fp['ceiling_gflops']:.0f} GFLOP/s). On one point, a fast path 5x faster "
              f"would have to run at {100 * s['fast_needed_share']:.0f}% of this run's fp32 ceiling"
              + (": out of reach. " if s["fast_needed_share"] > 1 else ". ")
              + f"A whole grid run like that naive path, with the pretrained-network cache off as in `REPORT.md`, "
              f"pretrains at every point; with the cache, one pretraining per n serves every m and the grid "
              f"computes {s['reuse_factor']:.2f}x less, so a grid-level 5x would need the rest, "
              f"{s['grid_gain_needed']:.1f}x, from running faster. That comparison, a naive grid against a fast one, "
              "has not been measured (it is hours of training)."]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the ceilings (the grids used 2)")
    ap.add_argument("--ceiling-seconds", type=float, default=3.0)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        t0 = time.perf_counter()
        res = measure(args)
        res["seconds"] = time.perf_counter() - t0
        res["summary"] = summary(res)  # the headline numbers, for the book (s2rlib.book.run_tables.floor_sentence)
        (out / "floor.json").write_text(json.dumps(res, indent=1))
    res = json.loads((out / "floor.json").read_text())
    (out / "FLOOR.md").write_text(render(res))
    log(f"wrote {out / 'FLOOR.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
