"""bf16 against fp32 training, side by side in one run: the time of a real grid point and its test error.

``Recipe(precision="bf16")`` runs the training steps' matrix products in bfloat16 (``torch.autocast``;
weights, optimiser, loss, validation and test predictions stay fp32). It pays only on a CPU with native
bfloat16 arithmetic (AVX512-BF16 or AMX); elsewhere the recipe refuses it. This script measures, on the
band-gap case with today's default recipe otherwise unchanged and the pretrained-network cache off:

* **(a) one grid point**, fp32 then bf16, the same seeds, trials and threads: wall time of
  ``transfer.run_trials`` and the test MAE of every trial; the paired difference bf16 - fp32 per trial
  with the Nadeau-Bengio corrected 90% interval (as the book's gains), beside the trials' own spread;
* **(b) one training step** (the default network, pretraining: 10 members x batch 512; fine-tuning:
  60 members x batch 128), fp32 and bf16 interleaved, median ms per step.

Writes ``precision.json`` and renders ``PRECISION.md`` from it (``--report-only`` re-renders)::

    .venv/bin/python benchmarks/bench_precision.py              # ~30 minutes on the 2-core machine, 1 thread
    .venv/bin/python benchmarks/bench_precision.py --quick --out /tmp/prec   # a reduced recipe, ~1 minute
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import log, machine_facts, matmul_gflops  # noqa: E402

QUICK_RECIPE = {"hidden": [64, 32], "pretrain_epochs": 2, "pretrain_min_steps": 50, "finetune_max_epochs": 10,
                "patience_epochs": 3}
STEP_SHAPES = {"pretrain": (10, 512), "fine-tune": (60, 128)}  # name: (members, batch)


def grid_point(n: int, trials: int, overrides: dict) -> dict:
    """(a): fp32 then bf16 at one band-gap point, same seeds; times and per-trial test MAE."""
    from s2rlib import inorganic, transfer
    from s2rlib.trial_stats import paired_gain

    import pandas as pd

    os.environ["S2R_PRETRAIN_CACHE"] = "off"  # both arms pretrain: a cached network would time nothing
    data = inorganic.load_band_gap()
    out = {"n": n, "trials": trials, "runs": {}}
    for precision in ("fp32", "bf16"):
        recipe = transfer.Recipe.from_dict({**transfer.Recipe().to_dict(), **overrides, "precision": precision})
        log(f"(a) band gap n={n}, {trials} trials, {precision}")
        t0 = time.perf_counter()
        rows = transfer.run_trials(data, n, trials=trials, seed=0, recipe=recipe, progress=False)
        wall = time.perf_counter() - t0
        per = rows.pivot_table(index="trial", columns="metric", values="value")
        out["runs"][precision] = {"wall_s": wall, "mae": per["mae"].tolist(), "val_mae": per["val_mae"].tolist(),
                                  "pretrain_steps": int(rows.attrs["pretrain_steps"])}
        out["ratio_test_pool"] = float((per["n_test"] / per["n_pool"]).mean())
        log(f"    {wall / 60:.1f} min, mean test MAE {per['mae'].mean():.4f}")
    mat = pd.DataFrame([out["runs"]["fp32"]["mae"], out["runs"]["bf16"]["mae"]], index=[0, 1])
    g = paired_gain(mat, 1, 0, ratio=out["ratio_test_pool"])
    out["difference"] = {"mean": g.mean, "lo": g.lo, "hi": g.hi, "verdict": g.verdict, "level": g.level}
    out["speedup"] = out["runs"]["fp32"]["wall_s"] / out["runs"]["bf16"]["wall_s"]
    return out


def step_times(hidden, d_in: int, steps: int, repeats: int) -> dict:
    """(b): ms per training step, fp32 and bf16 interleaved ``repeats`` times (median)."""
    import torch
    from s2rlib import allocator
    from s2rlib.models import EnsembleAdam, EnsembleMLP
    from s2rlib.transfer import training_precision

    allocator.keep_freed_memory(True)
    out = {}
    for name, (E, B) in STEP_SHAPES.items():
        net = EnsembleMLP(list(range(E)), d_in, hidden)
        opt = EnsembleAdam(net, [torch.full((E, 1, 1), 1e-4)] * len(net.weights))
        X, Y = torch.randn(E, B, d_in), torch.randn(E, B)
        times = {"fp32": [], "bf16": []}

        def step(precision):
            with training_precision(precision):
                pred = net(X).float()
            (pred - Y).abs().mean(1).sum().backward()
            opt.step()

        for _ in range(repeats):
            for precision in times:
                for _ in range(2):
                    step(precision)
                t0 = time.perf_counter()
                for _ in range(steps):
                    step(precision)
                times[precision].append(1e3 * (time.perf_counter() - t0) / steps)
        flops = EnsembleMLP([0], d_in, hidden).flops_per_sample() * E * B
        ms = {p: statistics.median(t) for p, t in times.items()}
        out[name] = {"members": E, "batch": B, "ms_per_step": ms,
                     "gflops": {p: flops / (m / 1e3) / 1e9 for p, m in ms.items()}}
    return out


def _duration(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


def render(res: dict) -> str:
    m, a, b = res["machine"], res["a"], res["b"]
    model = next((ln.split(":", 1)[1].strip() for ln in m.get("lscpu", []) if ln.startswith("Model name")), "?")
    load = ", ".join(f"{x:.2f}" for x in m.get("loadavg_start", []))
    load_end = ", ".join(f"{x:.2f}" for x in m.get("loadavg_end", []))
    fp, bf = a["runs"]["fp32"], a["runs"]["bf16"]
    d = a["difference"]
    mean_fp, mean_bf = statistics.mean(fp["mae"]), statistics.mean(bf["mae"])
    sd_fp = statistics.stdev(fp["mae"]) if len(fp["mae"]) > 1 else float("nan")
    verdict = {"no_effect": "no detectable difference", "lowers": "bf16 is lower", "raises": "bf16 is higher",
               "unknown": "no interval"}[d["verdict"]]
    L = ["# bf16 against fp32 training", "",
         f"Generated by `benchmarks/bench_precision.py` on {res['when']} — do not edit by hand; rerun the script.", "",
         f"Command: `{res['command']}`", "",
         f"Machine: {model}, {m.get('nproc', '?')} CPUs, torch {m.get('torch', '?')}, {res['threads']} thread(s); "
         f"native bfloat16: **{'yes' if res['bf16_native'] else 'no'}**; load average at start {load}, at end "
         f"{load_end}; code "
         f"`{m.get('git', '?')}`. Ceiling: `torch.matmul` 1024x1024 fp32, same process: "
         f"{res['ceiling_gflops']:.0f} GFLOP/s.", "",
         f"Recipe: `transfer.Recipe()` with {json.dumps(res['overrides']) if res['overrides'] else 'no overrides'} "
         "besides `precision`; the pretrained-network cache is off (both arms pretrain).", "",
         f"## (a) One band-gap grid point: n = {a['n']:,}, {a['trials']} trials, the same seeds", "",
         "fp32 first, then bf16, in the same process (each arm is one batched run of all trials; a load that "
         "changes between the two arms changes the ratio: compare the load averages above).", "",
         "| | fp32 | bf16 | |", "|---|---|---|---|",
         f"| wall time | {_duration(fp['wall_s'])} | {_duration(bf['wall_s'])} | **{a['speedup']:.2f}x** |",
         f"| pretraining steps | {fp['pretrain_steps']:,} | {bf['pretrain_steps']:,} | |",
         f"| test MAE, mean over trials (eV) | {mean_fp:.4f} | {mean_bf:.4f} | |", "",
         f"Paired per trial, bf16 − fp32: **{d['mean']:+.4f} eV**, {100 * d['level']:.0f}% interval "
         f"[{d['lo']:+.4f}, {d['hi']:+.4f}] (Nadeau-Bengio corrected, test/pool ratio {a['ratio_test_pool']:.3f}): "
         f"**{verdict}**. For scale, the trials' own spread (sd of the fp32 test MAE over trials) is "
         f"{sd_fp:.4f} eV.", "",
         f"## (b) One training step, network {res['hidden']}", "",
         "| step | members x batch | fp32 (ms) | bf16 (ms) | speed-up | GFLOP/s fp32 → bf16 |", "|---|---|---|---|---|---|"]
    for name, r in b.items():
        ms, gf = r["ms_per_step"], r["gflops"]
        L.append(f"| {name} | {r['members']} x {r['batch']} | {ms['fp32']:.0f} | {ms['bf16']:.0f} | "
                 f"**{ms['fp32'] / ms['bf16']:.2f}x** | {gf['fp32']:.0f} → {gf['bf16']:.0f} |")
    L += ["", f"Median of {res['repeats']} interleaved runs of {res['steps']} steps each. bf16 products, fp32 "
          "weights and Adam; GFLOP/s counts the same FLOPs for both.", ""]
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--recipe", default="{}", help="Recipe overrides (JSON), besides precision")
    ap.add_argument("--quick", action="store_true", help=f"a reduced recipe {QUICK_RECIPE}, n = 300, 3 trials")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        res = json.loads((out / "precision.json").read_text())
        (out / "PRECISION.md").write_text(render(res))
        return 0
    import torch
    from s2rlib.transfer import Recipe, bf16_native

    torch.set_num_threads(args.threads)
    overrides = dict(QUICK_RECIPE) if args.quick else json.loads(args.recipe)
    n, trials = (300, 3) if args.quick else (args.n, args.trials)
    if not bf16_native():
        log("this CPU has no native bfloat16: the measurement would time emulation; measuring anyway")
    hidden = list(Recipe.from_dict({**Recipe().to_dict(), **overrides}).hidden)
    res = {"when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "command": " ".join(
        ["python benchmarks/bench_precision.py"] + (argv if argv is not None else sys.argv[1:])),
        "machine": machine_facts(args.threads), "threads": args.threads, "bf16_native": bf16_native(),
        "overrides": overrides, "steps": args.steps, "repeats": args.repeats, "hidden": hidden}
    res["ceiling_gflops"] = matmul_gflops(1024, 2.0)
    from s2rlib import inorganic

    d_in = inorganic.load_band_gap().X_source.shape[1]
    log("(b) training steps")
    res["b"] = step_times(hidden, d_in, args.steps, args.repeats)
    res["a"] = grid_point(n, trials, overrides)
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    (out / "precision.json").write_text(json.dumps(res, indent=1))
    (out / "PRECISION.md").write_text(render(res))
    log(f"wrote {out / 'PRECISION.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
