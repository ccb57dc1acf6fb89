#!/usr/bin/env python
"""How fast is a grid point, and where does the time go? One run, four measurements, one report.

(a) naive vs fast path, band-gap case, n in --ns, --trials trials:
      naive = featurize the formulas afresh for the point (``load_band_gap(use_cache=False)``) and train
              one network at a time: one trial after another, and in each trial the pretraining, then each
              fine-tuning candidate alone (``run_trials(trials=1, batched=False)`` per seed); measured on
              --naive-trials trials and scaled linearly to --trials (stated in the report). Also timed:
              one trial at a time with that trial's candidates batched (``run_trials(trials=1)``);
      fast  = the feature cache (``load_band_gap()``) and every trial in one batched ensemble
              (``run_trials(trials=--trials)``), as the grid runs it.
(b) training throughput of the batched ensemble: samples/s and GFLOP/s (``EnsembleMLP.flops_per_sample``
    x samples / time), for the pretraining loop alone and end to end over (a)'s fast runs, against a
    plain ``torch.matmul`` GFLOP/s ceiling and a ``torch.bmm`` of the network's own layer shape, measured
    in the same run with the same thread count.
(c) papermill overhead per grid point: ``grid.execute_point`` on the case notebook (n=0, a trivial recipe)
    vs the same computation in-process, and a notebook that only imports s2rlib; as a fraction of a
    default grid's time.
(d) torch threads vs processes: two grid points run (i) one after the other with 2 torch threads each and
    (ii) side by side on a 2-worker local dask cluster with 1 thread each.

Writes ``results.json`` (raw numbers) and ``REPORT.md`` (rendered from them) to --out (default: this
directory). ``--report-only`` re-renders REPORT.md from results.json. See README.md for the commands.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grid_report import TINY, fmt_s, render  # noqa: E402
from machine import (FlopCounter, bmm_gflops, log, machine_facts, matmul_gflops,  # noqa: E402
                     timed)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CASE = "band_gap"
QUICK = {  # --quick: minutes on a busy 2-core machine; the numbers show the method, not the real ratios
    "ns": "300,1000", "trials": 4, "naive_trials": 1,
    "recipe": json.dumps({"hidden": [128, 128, 64], "pretrain_epochs": 5, "pretrain_min_steps": 100,
                          "pretrain_max_steps": 400, "finetune_max_epochs": 20, "patience_epochs": 5}),
    "throughput_steps": 60, "papermill_repeats": 2, "parallel_ns": "0,100", "parallel_trials": 2,
    "parallel_recipe": json.dumps({"pretrain_epochs": 5, "pretrain_min_steps": 100, "pretrain_max_steps": 200,
                                   "finetune_max_epochs": 20, "patience_epochs": 5}),
}


# ------------------------------------------------------------------------------------------- (a)
def resolve_ns(tokens: str, n_source: int) -> list[tuple[str, int]]:
    out = []
    for tok in tokens.split(","):
        tok = tok.strip()
        n = n_source if tok == "all" else min(int(float(tok)), n_source)
        out.append(("all" if n == n_source else str(n), n))
    return out


def naive_vs_fast(args, recipe) -> dict:
    from s2rlib.datasets import inorganic
    from s2rlib.training import transfer

    _, t_warm = timed(inorganic.load_band_gap)  # fills the feature cache if it is cold (not counted)
    data, t_cached = timed(inorganic.load_band_gap)
    log(f"(a) band gap: {data.n_source} source / {data.n_target} target compositions; "
        f"cached load {t_cached:.2f} s (warm-up load {t_warm:.1f} s)")
    points = []
    for label, n in resolve_ns(args.ns, data.n_source):
        # fast: cached features + one batched call (the features are loaded once per point, as the grid does)
        with FlopCounter() as fc:
            rows, t_fast_train = timed(transfer.run_trials, data, n, trials=args.trials, seed=0, recipe=recipe,
                                       progress=False)
        fast_mae = float(rows[rows.metric == "mae"].value.mean())
        log(f"(a) n={label}: fast {t_fast_train:.1f} s for {args.trials} trials (batched), "
            f"{fc.flops / t_fast_train / 1e9:.2f} GFLOP/s end to end")
        # naive: featurize afresh, one trial at a time
        fresh, t_feat = timed(inorganic.load_band_gap, use_cache=False)
        assert np.array_equal(fresh.X_source, data.X_source)
        per_trial, naive_mae, per_trial_cb, cb_mae = [], [], [], []
        for t in range(args.naive_trials):
            r, dt_ = timed(transfer.run_trials, fresh, n, trials=1, seed=t, recipe=recipe, progress=False,
                           batched=False)
            per_trial.append(dt_)
            naive_mae.append(float(r[r.metric == "mae"].value.iloc[0]))
            r, dt_ = timed(transfer.run_trials, fresh, n, trials=1, seed=t, recipe=recipe, progress=False)
            per_trial_cb.append(dt_)
            cb_mae.append(float(r[r.metric == "mae"].value.iloc[0]))
        scale = args.trials / args.naive_trials
        naive_train = sum(per_trial) * scale
        cb_train = sum(per_trial_cb) * scale
        fast_first = rows[rows.metric == "mae"].value.iloc[: args.naive_trials].to_numpy()
        point = {
            "n_label": label, "n": n, "pretrain_steps": recipe.pretrain_steps(n),
            "fast_load_s": t_cached, "fast_train_s": t_fast_train, "fast_total_s": t_cached + t_fast_train,
            "naive_featurize_s": t_feat, "naive_trial_s": per_trial, "naive_trials_measured": args.naive_trials,
            "naive_train_s_scaled": naive_train, "naive_total_s_scaled": t_feat + naive_train,
            "speedup_total": (t_feat + naive_train) / (t_cached + t_fast_train),
            "speedup_featurize": t_feat / t_cached, "speedup_train": naive_train / t_fast_train,
            "fast_mae_mean": fast_mae, "naive_mae_first_trials": naive_mae,
            "fast_mae_first_trials": fast_first.tolist(),
            "max_rel_diff_mae": float(np.max(np.abs(np.array(naive_mae) - fast_first) / fast_first)),
            "trial_batched_s": per_trial_cb, "trial_batched_mae_first_trials": cb_mae,
            "trial_batched_total_s_scaled": t_feat + cb_train,
            "speedup_total_vs_trial_batched": (t_feat + cb_train) / (t_cached + t_fast_train),
            "train_samples": fc.train_samples, "eval_samples": fc.eval_samples, "flops": fc.flops,
            "gflops_end_to_end": fc.flops / t_fast_train / 1e9,
            "samples_per_s_end_to_end": (fc.train_samples + fc.eval_samples) / t_fast_train,
        }
        log(f"(a) n={label}: naive featurize {t_feat:.1f} s + {np.mean(per_trial):.1f} s/trial x {args.trials} "
            f"= {point['naive_total_s_scaled']:.1f} s; speedup {point['speedup_total']:.2f}x")
        points.append(point)
    tot_naive = sum(p["naive_total_s_scaled"] for p in points)
    tot_fast = sum(p["fast_total_s"] for p in points)
    tot_cb = sum(p["trial_batched_total_s_scaled"] for p in points)
    return {"n_source": data.n_source, "n_target": data.n_target, "cached_load_s": t_cached, "points": points,
            "naive_total_s": tot_naive, "fast_total_s": tot_fast, "speedup_total": tot_naive / tot_fast,
            "trial_batched_total_s": tot_cb, "speedup_total_vs_trial_batched": tot_cb / tot_fast}


# ------------------------------------------------------------------------------------------- (b)
def pretrain_throughput(data, recipe, E: int, steps: int) -> dict:
    """The pretraining loop alone (``pretrain.pretrain_fixed``): E members, on all source rows."""
    import torch

    from s2rlib.training import pretrain, transfer
    from s2rlib.training.models import EnsembleMLP

    mu, sd = transfer.standardizer(data.X_source)
    X = torch.from_numpy(((data.X_source - mu) / sd).astype(np.float32))
    y = torch.from_numpy(((data.y_source - data.y_source.mean()) / data.y_source.std()).astype(np.float32))
    Y = y.unsqueeze(0).expand(E, -1)
    seeds = list(range(E))
    draws = [np.random.default_rng(s).permutation(data.n_source) for s in seeds]
    model = EnsembleMLP(seeds, X.shape[1], recipe.hidden)
    warm = max(5, steps // 10)
    pretrain.pretrain_fixed(model, X, Y, draws, [np.random.default_rng([s, 1]) for s in seeds], warm, recipe)
    rngs = [np.random.default_rng([s, 9]) for s in seeds]
    _, t = timed(pretrain.pretrain_fixed, model, X, Y, draws, rngs, steps, recipe)
    samples = steps * E * recipe.pretrain_batch
    return {"members": E, "steps": steps, "batch": recipe.pretrain_batch, "seconds": t, "samples_per_s": samples / t,
            "gflops": samples * model.flops_per_sample() / t / 1e9, "ms_per_step": 1e3 * t / steps,
            "flops_per_sample": model.flops_per_sample()}


def throughput(args, recipe) -> dict:
    from s2rlib.datasets import inorganic

    data = inorganic.load_band_gap()
    d_in = data.X_source.shape[1]
    widest = max(zip((d_in, *recipe.hidden), recipe.hidden), key=lambda s: s[0] * s[1])
    ceiling = {"matmul_1024": matmul_gflops(1024, args.ceiling_seconds),
               "matmul_256": matmul_gflops(256, args.ceiling_seconds),
               "bmm_layer": bmm_gflops(args.trials, recipe.pretrain_batch, *widest, args.ceiling_seconds),
               "bmm_layer_shape": [args.trials, recipe.pretrain_batch, *widest]}
    log(f"(b) ceiling: matmul 1024^3 {ceiling['matmul_1024']:.1f} GFLOP/s, 256^3 {ceiling['matmul_256']:.1f}, "
        f"bmm {ceiling['bmm_layer_shape']} {ceiling['bmm_layer']:.1f}")
    loops = []
    for E in sorted({1, args.trials, 4 * args.trials}):
        r = pretrain_throughput(data, recipe, E, args.throughput_steps)
        log(f"(b) pretraining loop, E={E}: {r['ms_per_step']:.2f} ms/step, {r['samples_per_s']:.0f} samples/s, "
            f"{r['gflops']:.2f} GFLOP/s")
        loops.append(r)
    return {"ceiling": ceiling, "pretrain_loop": loops}


# ------------------------------------------------------------------------------------------- (c)
IMPORT_ONLY_NB = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "params", "metadata": {"tags": ["parameters"]},
         "outputs": [], "source": ["x = 0\n"]},
        {"cell_type": "code", "execution_count": None, "id": "imp", "metadata": {}, "outputs": [],
         "source": ["import s2rlib\n"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def papermill_overhead(args, tmp: Path) -> dict:
    import papermill as pm
    import torch

    from s2rlib.cases import registry as cases
    from s2rlib.grid import runner as grid
    from s2rlib.grid import results
    from s2rlib.training import transfer
    from s2rlib.training import params as validation

    tiny = validation.validate_recipe(TINY)
    nb = tmp / "import_only.ipynb"
    nb.write_text(json.dumps(IMPORT_ONLY_NB))
    bare, via_grid, in_proc, cold = [], [], [], []
    for r in range(args.papermill_repeats):
        _, t = timed(pm.execute_notebook, str(nb), str(tmp / f"import_only_out{r}.ipynb"), parameters={"x": 1},
                     kernel_name="python3", progress_bar=False, cwd=str(tmp))
        bare.append(t)
        (point,) = grid.plan(CASE, [0], trials=1, seed=0, out_dir=tmp / f"pm{r}", recipe=TINY, threads=args.threads,
                             check_data=False)
        _, t = timed(grid.execute_point, point)
        via_grid.append(t)

        def in_process(r=r):
            data = cases.load_case(CASE)
            rows = transfer.run_trials(data, 0, trials=1, seed=0, recipe=tiny, progress=False)
            table = results.tidy(CASE, 0, None, rows, {"case": CASE}, data.data_sha256, rows.attrs["wall_s"])
            results.write_atomic(table, tmp / f"inproc{r}" / "point.csv")

        _, t = timed(in_process)
        in_proc.append(t)
        _, t = timed(subprocess.run, [sys.executable, "-c", COLD.format(threads=args.threads, recipe=TINY,
                                                                         out=str(tmp / f"cold{r}.csv"))], check=True)
        cold.append(t)
        log(f"(c) repeat {r}: import-only notebook {bare[-1]:.1f} s, case notebook via grid.execute_point "
            f"{via_grid[-1]:.1f} s, same work in a fresh python {cold[-1]:.1f} s, in this process {in_proc[-1]:.2f} s")
    med = lambda v: float(np.median(v))  # noqa: E731
    overhead = med(via_grid) - med(in_proc)
    out = {"import_only_notebook_s": bare, "case_notebook_s": via_grid, "in_process_s": in_proc,
           "fresh_python_s": cold, "overhead_per_point_s": overhead,
           "overhead_process_and_imports_s": med(cold) - med(in_proc),
           "overhead_papermill_s": med(via_grid) - med(cold), "torch_threads_in_process": torch.get_num_threads()}
    out["default_grid"] = default_grid_time(overhead)
    return out


# the in-process work of (c) in a fresh interpreter: interpreter start and cold imports included
COLD = """
import torch
torch.set_num_threads({threads})
torch.use_deterministic_algorithms(True)
from s2rlib.cases import registry as cases
from s2rlib.grid import results
from s2rlib.training import pretrain, transfer
from s2rlib.training import params as validation
data = cases.load_case("band_gap")
rows = transfer.run_trials(data, 0, trials=1, seed=0, recipe=validation.validate_recipe({recipe!r}), progress=False)
table = results.tidy("band_gap", 0, None, rows, {{"case": "band_gap"}}, data.data_sha256, rows.attrs["wall_s"])
results.write_atomic(table, {out!r})
"""


def default_grid_time(overhead: float) -> dict:
    """The default grids' compute time so far: every finished point of today's ``Recipe()`` (committed in
    ``results/<case>/points`` or staged in ``results/grids-v2/<case>/points``), summed over the book's cases
    (wall_s = in-kernel run_trials time), against the papermill overhead of as many points."""
    from s2rlib.grid import results
    from s2rlib.book.case_results import BOOK_CASES
    from s2rlib.cases.registry import get_case
    from s2rlib.training.transfer import Recipe

    today = Recipe().to_dict()
    points, compute, default_points, used, trials, threads = 0, 0.0, 0, [], set(), set()
    for case in BOOK_CASES:
        default_points += len(get_case(case).default_ns) * len(get_case(case).default_ms)
        for points_dir in (REPO / "results" / case / "points", REPO / "results" / "grids-v2" / case / "points"):
            if not any(points_dir.glob("*.csv")):
                continue
            table = results.merge_points(points_dir)  # the point files: a grid still running counts too
            table = table[table["params"].map(lambda p: json.loads(p).get("recipe") == today)]
            if table.empty:
                continue
            per_point = table.groupby(["m_target", "n_source"])["wall_s"].first()
            points += len(per_point)
            compute += float(per_point.sum())
            used.append(str(points_dir.relative_to(REPO)))
            for p in table["params"].drop_duplicates():
                trials.add(json.loads(p).get("trials"))
                threads.add(json.loads(p).get("threads"))
    if not points:
        return {"source": None}
    join = lambda xs: ", ".join(str(x) for x in sorted(xs, key=str))  # noqa: E731
    return {"source": join(used), "case": "the book's cases", "params_id": None, "points": points,
            "default_points": default_points, "trials": join(trials), "threads": join(threads),
            "recipe_is_default": True, "compute_s": compute, "overhead_s": overhead * points,
            "overhead_fraction": overhead * points / (compute + overhead * points)}


# ------------------------------------------------------------------------------------------- (d)
def threads_vs_processes(args, tmp: Path) -> dict:
    from s2rlib.grid import runner as grid

    ns = [n if n == "all" else int(n) for n in args.parallel_ns.split(",")]
    recipe = json.loads(args.parallel_recipe)
    out = {"ns": ns, "trials": args.parallel_trials, "recipe": recipe}
    for label, threads, workers in (("sequential_2threads", 2, 1), ("parallel_2x1thread", 1, 2)):
        points = grid.plan(CASE, ns, trials=args.parallel_trials, seed=0, out_dir=tmp / label, recipe=recipe,
                           threads=threads)
        res, t = timed(grid.run_grid, points, workers=workers, progress=False)
        kernel = res.table.groupby("n_source")["wall_s"].first()
        out[label] = {"threads": threads, "workers": workers, "wall_s": t,
                      "kernel_compute_s": {str(k): float(v) for k, v in kernel.items()},
                      "mae_mean": float(res.table[res.table.metric == "mae"].value.mean())}
        log(f"(d) {label}: {t:.1f} s wall (in-kernel compute {dict(out[label]['kernel_compute_s'])})")
    seq, par = out["sequential_2threads"]["wall_s"], out["parallel_2x1thread"]["wall_s"]
    out["faster"] = "parallel_2x1thread" if par < seq else "sequential_2threads"
    out["ratio_seq_over_par"] = seq / par
    out["thread_speedup"] = (sum(out["parallel_2x1thread"]["kernel_compute_s"].values())
                             / sum(out["sequential_2threads"]["kernel_compute_s"].values()))
    return out


# -------------------------------------------------------------------------------------------- main
def wait_for_quiet(limit_s: float) -> None:
    """Wait (at most ``limit_s``) until the 1-minute load average is at most a quarter of the CPUs: the
    report's own test for a quiet machine, which lags a job that has just ended by a minute or two."""
    cpus = len(os.sched_getaffinity(0))
    t0 = time.monotonic()
    while os.getloadavg()[0] > 0.25 * cpus and time.monotonic() - t0 < limit_s:
        time.sleep(5)
    log(f"load average {os.getloadavg()[0]:.2f} after waiting {time.monotonic() - t0:.0f} s for a quiet machine")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes and a reduced recipe (a few minutes)")
    p.add_argument("--ns", default="1000,10000,all", help="source sizes for (a); 'all' = the whole source")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--naive-trials", type=int, default=2, help="trials the naive path actually runs per point")
    p.add_argument("--recipe", default="{}", help="JSON overrides of transfer.Recipe for (a) and (b)")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="torch threads for the in-process measurements (default: the usable CPUs, as the grid)")
    p.add_argument("--throughput-steps", type=int, default=400)
    p.add_argument("--ceiling-seconds", type=float, default=3.0)
    p.add_argument("--papermill-repeats", type=int, default=3)
    p.add_argument("--parallel-ns", default="1000,3000", help="the two grid points of (d)")
    p.add_argument("--parallel-trials", type=int, default=5)
    p.add_argument("--parallel-recipe", default="{}")
    p.add_argument("--parts", default="abcd", help="which measurements to run, e.g. 'ab'")
    p.add_argument("--out", default=str(HERE), help="directory for results.json and REPORT.md")
    p.add_argument("--report-only", action="store_true", help="re-render REPORT.md from results.json")
    p.add_argument("--quiet-wait", type=float, default=300,
                   help="seconds to wait at most for the 1-minute load average to fall to a quarter of the CPUs "
                        "(it lags: a job that just ended still shows)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.report_only:
        res = json.loads((out / "results.json").read_text())
        (out / "REPORT.md").write_text(render(res))
        return 0
    if args.quick:
        defaults = p.parse_args([])
        for k, v in QUICK.items():  # --quick sets what was left at its default
            if getattr(args, k) == getattr(defaults, k):
                setattr(args, k, v)

    import torch

    from s2rlib.training import params as validation
    from s2rlib.training.pretrain_cache import PRETRAIN_CACHE_ENV

    # every path computes its own pretraining: a cached network (one per n, reused across m by the grid) would
    # time a disk read, not training (the cache's own saving is the pretraining share of a point at the next m)
    os.environ[PRETRAIN_CACHE_ENV] = "off"
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)  # as the case notebooks run
    wait_for_quiet(args.quiet_wait)
    recipe = validation.validate_recipe(json.loads(args.recipe))
    res = {"machine": machine_facts(args.threads),
           "config": {"command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else str(argv),
                      "quick": args.quick, "ns": args.ns, "trials": args.trials, "naive_trials": args.naive_trials,
                      "recipe_overrides": json.loads(args.recipe), "recipe": recipe.to_dict(), "threads": args.threads,
                      "parts": args.parts, "pretrain_cache": "off"}}
    log(f"machine: {res['machine']['nproc']} CPUs, load {res['machine']['loadavg_start']}, torch {torch.__version__}")
    if res["machine"]["loadavg_start"][0] > 0.25 * float(res["machine"]["nproc"] or 1):
        log("WARNING: the machine is busy; the report will say so (rerun on a quiet machine for numbers to quote)")
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="s2r-bench-"))
    try:
        if "b" in args.parts:
            res["b"] = throughput(args, recipe)
        if "a" in args.parts:
            res["a"] = naive_vs_fast(args, recipe)
        if "c" in args.parts:
            res["c"] = papermill_overhead(args, tmp)
        if "d" in args.parts:
            res["d"] = threads_vs_processes(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["total_s"] = time.perf_counter() - t0
    res["loadavg_end"] = list(os.getloadavg())
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "REPORT.md").write_text(render(res))
    log(f"done in {fmt_s(res['total_s'])}: {out / 'REPORT.md'}, {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
