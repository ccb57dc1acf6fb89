"""Issue 27, item 1: the early discard of trailing fine-tuning candidates, set from every candidate's curves.

Two steps:

* **record** (``--record``): rerun a line of real grid points without the discard, every candidate's
  validation MAE recorded at every epoch end (``run_trials(..., record_candidates=True)``), 10 trials, the
  final grids' seeds; one gzip'd CSV of curves and one of rows per point under ``benchmarks/discard/``
  (written atomically; a point already there is skipped, so an interrupted line resumes);
* **report** (default): replay the rule on those curves for a grid of margins and grace epochs
  (``s2rlib.training.finetune.discard_replay``: exact, since candidates never interact), count the
  fine-tuning steps it saves and how often validation's pick changes and what that does to the test MAE,
  choose the setting, and write ``discard.json`` and ``DISCARD.md``.

The rule chosen: among the settings whose pick changes in at most ``MAX_CHANGED`` of the recorded trials
(stated before the replay), the one that saves the most steps. ``tests/test_transfer.py`` checks that a run
with the discard equals its replay.

    .venv/bin/python benchmarks/bench_discard.py --record --threads 1   # the line (see LINE), ~1 hour
    .venv/bin/python benchmarks/bench_discard.py                        # replay and report, seconds
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import cpu_model, load_text, log, machine_facts  # noqa: E402

OUT = HERE / "discard"
#: the rerun line: (case, n, m) at 10 trials, seed 0 (the final grids' trials 0-9)
LINE = [("band_gap", 0, 100), ("band_gap", 1000, 100), ("formation_enthalpy", 0, 100),
        ("formation_enthalpy", 1000, 100), ("chi", 0, 100), ("chi", "all", 100), ("polymer_density", 0, 100),
        ("polymer_density", "all", 100), ("band_gap", 10000, 100), ("formation_enthalpy", 10000, 100),
        ("band_gap", 1000, "all"), ("formation_enthalpy", 1000, "all")]
TRIALS = 10
#: the protocol the next grids run (issue 28: pretraining to convergence); the levers of issue 27 besides
#: the discard do not change which candidate trails
RECIPE = {"pretrain_schedule": "converge", "pretrain_max_steps": 60000}
MARGINS = [0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5]
AFTERS = [0, 5, 10, 20, 50]
#: stated before the replay: at most this share of the recorded trials may change their pick
MAX_CHANGED = 0.02


def _name(case, n, m) -> str:
    return f"{case}_n{n}_m{m}"


def _write_gz(path: Path, frame) -> None:
    import gzip

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(frame.to_csv(index=False).encode())
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def record(threads: int) -> None:
    import torch
    from tqdm.auto import tqdm

    from s2rlib.grid.results import code_version
    from s2rlib.cases.registry import load_case
    from s2rlib.training.params import validate_recipe
    from s2rlib.training.transfer import run_trials

    torch.set_num_threads(threads)
    OUT.mkdir(exist_ok=True)
    recipe = validate_recipe(RECIPE)
    todo = [p for p in LINE if not (OUT / f"{_name(*p)}_curves.csv.gz").exists()]
    for case, n, m in tqdm(todo, desc="discard line"):
        data = load_case(case)
        t0 = time.perf_counter()
        rows = run_trials(data, data.n_source if n == "all" else n, trials=TRIALS, seed=0, recipe=recipe,
                          m=-1 if m == "all" else m, progress=True, record_candidates=True)
        curves = rows.attrs["val_curves"]
        for frame in (rows, curves):
            frame["case"], frame["n"], frame["m"] = case, str(n), str(m)
            frame["data_sha256"], frame["code"] = data.data_sha256, code_version()
        rows["wall_s"] = time.perf_counter() - t0
        _write_gz(OUT / f"{_name(case, n, m)}_rows.csv.gz", rows)
        _write_gz(OUT / f"{_name(case, n, m)}_curves.csv.gz", curves)  # last: its presence marks the point done
        log(f"  {case} n={n} m={m}: {time.perf_counter() - t0:.0f} s")


def _steps(curves):
    """Steps per epoch of each (trial, candidate): its curve's step / epoch (one trial's candidates agree)."""
    c = curves[curves.epoch > 0]
    return (c.step / c.epoch).groupby([c.trial, c.candidate]).first()


def replay_all() -> dict:
    import numpy as np
    import pandas as pd

    import dataclasses

    from s2rlib.training.finetune import discard_replay
    from s2rlib.training.params import validate_recipe
    from s2rlib.training.transfer import candidate_twins

    recipe = validate_recipe(RECIPE)

    points = {}
    for p in LINE:
        f = OUT / f"{_name(*p)}_curves.csv.gz"
        if f.exists():
            curves = pd.read_csv(f)
            if p[1] == 0:  # the next protocol trains distinct candidates: at n = 0 the L2-SP twin is not run
                twin = candidate_twins(dataclasses.replace(recipe, distinct_candidates=True), 0)
                curves = curves[curves.candidate.isin([c.name for k, c in enumerate(recipe.candidates) if twin[k] == k])]
            points[_name(*p)] = (curves, pd.read_csv(OUT / f"{_name(*p)}_rows.csv.gz"))
    settings = []
    for margin in MARGINS:
        for after in AFTERS:
            full_steps = kept_steps = changed = trials = 0
            dmae = []
            per_point = {}
            for name, (curves, rows) in points.items():
                r = discard_replay(curves, margin, after)
                spe = _steps(curves)
                key = list(zip(r.trial, r.candidate))
                full = float(sum(r.last_epoch.to_numpy() * spe.loc[key].to_numpy()))
                kept = float(sum(r.stop_epoch.to_numpy() * spe.loc[key].to_numpy()))
                picks = r.groupby("trial")[["picked", "picked_full"]].first()
                ch = picks[picks.picked != picks.picked_full]
                wide = rows.pivot(index="trial", columns="metric", values="value")
                d = [float(wide.at[t, f"mae@{a.picked}"] - wide.at[t, f"mae@{a.picked_full}"])
                     for t, a in picks.iterrows()]
                per_point[name] = {"saved": 1 - kept / full, "changed": len(ch), "trials": len(picks),
                                   "d_mae": float(np.mean(d))}
                full_steps, kept_steps, changed, trials = full_steps + full, kept_steps + kept, changed + len(ch), trials + len(picks)
                dmae += d
            settings.append({"margin": margin, "after": after, "saved": 1 - kept_steps / max(full_steps, 1),
                             "changed": changed, "trials": trials, "d_mae_max": float(np.max(np.abs(dmae))) if dmae else 0.0,
                             "points": per_point})
    ok = [s for s in settings if s["changed"] <= MAX_CHANGED * s["trials"]]
    chosen = max(ok, key=lambda s: (s["saved"], s["margin"], s["after"])) if ok else None
    return {"points": sorted(points), "settings": settings, "chosen": chosen, "max_changed": MAX_CHANGED,
            "recipe": RECIPE, "trials": TRIALS}


def report(result: dict) -> str:
    ch = result["chosen"]
    lines = ["# Issue 27: the early discard of trailing candidates", "",
             "Generated by `benchmarks/bench_discard.py` from the curves in `benchmarks/discard/` — do not edit by "
             "hand; rerun the script.", "",
             f"The rerun line: {', '.join(result['points'])} ({result['trials']} trials each, seed 0, recipe "
             f"`{json.dumps(result['recipe'])}`), every candidate's validation MAE at every epoch end. The replay "
             "of the rule on these curves is exact (candidates never interact; `tests/test_transfer.py` checks a "
             "run with the discard against its replay). At n = 0 the L2-SP candidate is left out of the replay: it "
             "is the whole-network candidate with another batch seed there, and the next protocol does not train it "
             "(`distinct_candidates`, `LEVERS.md` part d).", "",
             f"Rule: a candidate stops when its best validation MAE so far is more than *margin* above the best of "
             f"its trial's candidates so far, after *after* epochs. Chosen, as stated before the replay: the "
             f"setting that saves the most fine-tuning steps among those that change validation's pick in at "
             f"most {100 * result['max_changed']:.0f}% of the recorded trials.", ""]
    if ch is None:
        lines.append("**No setting keeps the picks**: the discard stays off.")
    else:
        lines += [f"**Chosen: margin {ch['margin']:g}, after {ch['after']} epochs**: "
                  f"{100 * ch['saved']:.0f}% of the fine-tuning steps saved, the pick changed in {ch['changed']} of "
                  f"{ch['trials']} trials (largest test-MAE change of a trial {ch['d_mae_max']:.3g} in the "
                  "property's units).", "", "| point | steps saved | picks changed | mean test-MAE change |",
                  "|---|---|---|---|"]
        lines += [f"| {k} | {100 * v['saved']:.0f}% | {v['changed']} / {v['trials']} | {v['d_mae']:+.2g} |"
                  for k, v in ch["points"].items()]
    lines += ["", "## Every setting", "", "| margin | after | steps saved | picks changed |", "|---|---|---|---|"]
    lines += [f"| {s['margin']:g} | {s['after']} | {100 * s['saved']:.0f}% | {s['changed']} / {s['trials']} |"
              for s in result["settings"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", action="store_true", help="run the rerun line (resumes)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.record:
        facts = machine_facts(args.threads)
        log(f"recording on {cpu_model(facts)}, load {load_text(facts)}")
        record(args.threads)
    result = replay_all()
    tmp = HERE / "discard.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, HERE / "discard.json")
    (HERE / "DISCARD.md").write_text(report(result))
    log(f"wrote benchmarks/DISCARD.md ({len(result['points'])} points)")


if __name__ == "__main__":
    main()
