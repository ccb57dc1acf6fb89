"""Issue 27's exact-arithmetic levers and the n = 0 duplicate candidate, each side by side with the code before it.

Four levers, each measured against the code before it in the same process, in both orders (A, B, then B, A):

* **checkpoint** (exact): at an epoch's end only the members whose validation error improved are copied into
  their checkpoints (``finetune.keep_best``); before, every due member was rewritten through ``torch.where``;
* **l2sp** (exact): the L2-SP pull only on the members whose coefficient is > 0 (``EnsembleAdam.anchor``);
  before, every member was pulled (with a coefficient 0 for two candidates of three);
* **fused** (rounding differs): ``Recipe(optimizer="fused")``, torch's fused CPU Adam kernel over runs of members
  that share a learning rate, against the hand-written eleven-pass step (``optimizer="adam"``);
* **distinct** (changes the n = 0 baseline): ``Recipe(distinct_candidates=True)`` does not train the L2-SP
  candidate at n = 0, where it is the whole-network candidate with another batch seed.

Parts:

* **(a) the optimizer step alone**: ``EnsembleAdam.step`` of the default network at the pretraining shape
  (10 members, one rate) and the fine-tuning shape (60 members, three candidates' rates interleaved, 20 of
  them with an L2-SP pull), median ms: reference, L2-SP on its members only, fused;
* **(b) the checkpoint update alone**: one epoch end of 60 due members, before and after, at several fractions
  of members that improved;
* **(c) fine-tuning end to end**: ``finetune.finetune`` on the band-gap data (60 members = 20 trials x the
  three candidates, m = 100: one step per epoch, so every step ends an epoch), a fixed number of steps,
  every lever's arm and the reference;
* **(d) n = 0, distinct candidates**: one band-gap point at n = 0 (m = 100), all candidates against distinct
  ones, every candidate's validation and test error recorded: wall time and what the drop does to the
  baseline's test MAE (paired, corrected 90% interval);
* **(f) counted from the committed rows** (no training): how often the grids' n = 0 points picked the L2-SP
  twin, and the baseline without it where every candidate's errors were recorded (the recipe study);
* **(e) the real grid point for the fused step**: band gap, n = 1,000, m = all, the same seeds, adam then
  fused (``paired_arms.grid_point``); equivalence is decided against a margin stated before the run:
  **the paired mean difference and both ends of its corrected 90% interval within +-0.02 eV** (a change of
  seed moves a 10-trial mean by about that much); ``--reverse`` runs it again, fused first.

Writes ``levers.json`` (a part's run replaces only its own part) and renders ``LEVERS.md`` (``--report-only``)::

    .venv/bin/python benchmarks/bench_levers.py --parts abcd --threads 1     # ~15 minutes, 2-core machine
    .venv/bin/python benchmarks/bench_levers.py --parts e --trials 10       # ~40 minutes
    .venv/bin/python benchmarks/bench_levers.py --parts e --reverse         # (e) again, fused first
    .venv/bin/python benchmarks/bench_levers.py --quick --out /tmp/levers   # every part, reduced, ~2 minutes
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
import paired_arms  # noqa: E402
from machine import cpu_model, load_text, log, machine_facts  # noqa: E402

MARGIN_EV = 0.02  # (e): equivalence margin, stated before the run
QUICK = {"hidden": [64, 32], "pretrain_epochs": 2, "pretrain_min_steps": 50, "finetune_max_epochs": 10,
         "patience_epochs": 3}
ARMS_E = {"adam": {"optimizer": "adam"}, "fused": {"optimizer": "fused"}}


# ------------------------------------------------------------------------------ the code before the levers
def keep_best_before(best, params, local, better):
    """The checkpoint update before issue 27: every due member's rows rewritten through torch.where."""
    import torch

    for bp, p in zip(best, params):
        bp[local] = torch.where(better.view(-1, *[1] * (p.dim() - 1)), p.detach()[local], bp[local])


def anchor_before(self, weights, coef):
    """``EnsembleAdam.anchor`` before issue 27: every member's reference weights kept, every member pulled."""
    import torch

    self.anchors = [w.detach().clone() for w in weights]
    self.anchor_coef = coef
    self.anchor_rows = torch.arange(len(coef))


class Before:
    """A context in which ``transfer`` / ``EnsembleAdam`` run some levers as before (names in ``undo``)."""

    def __init__(self, undo=("checkpoint", "l2sp")):
        self.undo = set(undo)

    def __enter__(self):
        from s2rlib.training import finetune, models

        self._saved = (finetune.keep_best, models.EnsembleAdam.anchor)
        if "checkpoint" in self.undo:
            finetune.keep_best = keep_best_before
        if "l2sp" in self.undo:
            models.EnsembleAdam.anchor = anchor_before
        return self

    def __exit__(self, *exc):
        from s2rlib.training import finetune, models

        finetune.keep_best, models.EnsembleAdam.anchor = self._saved
        return False


def _orders(names: list[str]) -> list[str]:
    """Both orders in one run: A, B, ... then ..., B, A."""
    return names + names[::-1]


def _ms(fn, steps: int) -> float:
    for _ in range(2):
        fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return 1e3 * (time.perf_counter() - t0) / steps


# ------------------------------------------------------------------------------------------ the parts
def part_a(hidden, d_in: int, steps: int, repeats: int) -> dict:
    """(a) ms per ``EnsembleAdam.step`` (gradients set once; the step clears them, so they are restored)."""
    import torch

    from s2rlib.training.models import EnsembleAdam, EnsembleMLP

    out = {}
    for shape, E in (("pretrain", 10), ("fine-tune", 60)):
        net = EnsembleMLP(list(range(E)), d_in, hidden)
        grads = [torch.randn_like(p) * 1e-3 for p in net.parameters()]
        if shape == "pretrain":
            lrs = [torch.full((E, 1, 1), 1e-3)] * len(net.weights)
            coef = None
        else:  # trial-major: (whole network, slow body, L2-SP) per trial
            body = torch.tensor([1e-3, 1e-4, 1e-3] * (E // 3)).view(-1, 1, 1)
            lrs = [body] * (len(net.weights) - 1) + [torch.full((E, 1, 1), 1e-3)]
            coef = torch.tensor([0.0, 0.0, 2e-3] * (E // 3)).view(-1, 1, 1)
        arms = {"reference": (False, True), "l2sp on its members": (False, False), "fused": (True, True),
                "both": (True, False)} if coef is not None else {"reference": (False, True), "fused": (True, True)}
        opts = {}
        for arm, (fused, before) in arms.items():
            with Before(("l2sp",) if before else ()):
                opt = EnsembleAdam(net, lrs, fused=fused)
                if coef is not None:
                    opt.anchor(list(net.weights[:-1]), coef)
            opts[arm] = opt

        def step(opt):
            for p, g in zip(net.parameters(), grads):
                p.grad = g.clone()
            opt.step(0.7)

        clone_ms = _ms(lambda: [g.clone() for g in grads], steps)  # restoring the gradients, subtracted
        times = {arm: [] for arm in arms}
        for _ in range(repeats):
            for arm in _orders(list(arms)):
                times[arm].append(_ms(lambda: step(opts[arm]), steps) - clone_ms)
        out[shape] = {"members": E, "ms": {arm: statistics.median(t) for arm, t in times.items()},
                      "clone_ms": clone_ms}
    return out


def part_b(hidden, d_in: int, steps: int, repeats: int) -> dict:
    """(b) ms per epoch-end checkpoint update of 60 due members, by the fraction that improved."""
    import torch

    from s2rlib.training import finetune, transfer
    from s2rlib.training.models import EnsembleMLP

    net = EnsembleMLP(list(range(60)), d_in, hidden)
    params = list(net.parameters())
    best = [p.detach().clone() for p in params]
    local = torch.arange(60)
    out = {}
    for frac in (0.0, 0.1, 1 / 3, 1.0):
        better = torch.arange(60) < round(frac * 60)
        times = {"before": [], "improved only": []}
        fns = {"before": keep_best_before, "improved only": finetune.keep_best}
        with torch.no_grad():
            for _ in range(repeats):
                for arm in _orders(list(fns)):
                    times[arm].append(_ms(lambda: fns[arm](best, params, local, better), steps))
        out[f"{frac:.2f}"] = {arm: statistics.median(t) for arm, t in times.items()}
    return out


def part_c(recipe, steps: int, members: int) -> dict:
    """(c) ``_finetune`` on band-gap data, m = 100 (every step an epoch end), ``steps`` steps, per arm."""
    import dataclasses

    import numpy as np
    import torch

    from s2rlib.datasets import inorganic
    from s2rlib.training import finetune, transfer
    from s2rlib.training.models import EnsembleMLP

    data = inorganic.load_band_gap()
    trials = members // len(recipe.candidates)
    run = dataclasses.replace(recipe, finetune_max_epochs=steps, patience_epochs=steps + 1)
    pt = transfer._prepare(data, 0, trials, 0, run, 100)
    chunk = [(t, k) for t in range(trials) for k in range(len(run.candidates))]
    Yt = torch.stack([(torch.from_numpy(data.y_target) - pt.y_mu[t]) / pt.y_sd[t] for t, _ in chunk])
    cand = [run.candidates[k] for _, k in chunk]
    body, head = (torch.tensor([getattr(c, f) for c in cand]) for f in ("body_lr", "head_lr"))
    l2sp = torch.tensor([c.l2sp for c in cand])
    arms = {"reference": ("adam", ("checkpoint", "l2sp")), "checkpoint": ("adam", ("l2sp",)),
            "l2sp": ("adam", ("checkpoint",)), "fused": ("fused", ("checkpoint", "l2sp")), "all three": ("fused", ())}
    base = EnsembleMLP([pt.seeds[t] for t, _ in chunk], pt.Xs.shape[1], run.hidden)
    improved = []
    real_keep = finetune.keep_best

    def counting(best, params, local, better):
        improved.append((int(better.sum()), len(local)))
        return real_keep(best, params, local, better)

    times = {arm: [] for arm in arms}
    for arm in _orders(list(arms)):
        opt_name, undo = arms[arm]
        net = base.select(list(range(len(chunk))))
        rngs = [np.random.default_rng([pt.seeds[t], 2, k]) for t, k in chunk]
        with Before(undo):
            if "checkpoint" not in undo:
                finetune.keep_best = counting
            t0 = time.perf_counter()
            finetune.finetune(net, pt.Xt, Yt, [pt.splits[t][0] for t, _ in chunk], [pt.splits[t][1] for t, _ in chunk],
                               rngs, body, head, dataclasses.replace(run, optimizer=opt_name), l2sp=l2sp)
            times[arm].append(1e3 * (time.perf_counter() - t0) / steps)
        log(f"    (c) {arm}: {times[arm][-1]:.0f} ms per step")
    frac = sum(a for a, _ in improved) / max(1, sum(b for _, b in improved))
    return {"members": len(chunk), "steps": steps, "m": 100, "ms_per_step": times, "improved_fraction": frac,
            "spe": sorted({int(np.ceil(len(pt.splits[t][0]) / run.finetune_batch)) for t in range(trials)})}


def part_d(recipe, trials: int, m: int) -> dict:
    """(d) band gap n = 0: every candidate against distinct candidates, both orders; the baseline's change."""
    import dataclasses

    import numpy as np

    from s2rlib.datasets import inorganic
    from s2rlib.law.trial_stats import paired_gain
    from s2rlib.training import finetune, transfer

    import pandas as pd

    data = inorganic.load_band_gap()
    arms = {"all": recipe, "distinct": dataclasses.replace(recipe, distinct_candidates=True)}
    runs = {arm: [] for arm in arms}
    for arm in _orders(list(arms)):
        t0 = time.perf_counter()
        rows = transfer.run_trials(data, 0, trials=trials, seed=0, recipe=arms[arm], m=m, progress=False,
                                   record_candidates=True)
        wall = time.perf_counter() - t0
        per = rows.pivot(index="trial", columns="metric", values="value")
        picked = rows[rows.metric == "mae"].set_index("trial")["selected_recipe"].tolist()
        runs[arm].append({"wall_s": wall, "mae": per["mae"].tolist(), "picked": picked,
                          "finetune_steps": per["finetune_steps"].tolist(),
                          "ratio": float((per["n_test"] / per["n_pool"]).mean()),
                          "cand_val": {c.name: per[f"val_mae@{c.name}"].tolist() for c in recipe.candidates},
                          "cand_mae": {c.name: per[f"mae@{c.name}"].tolist() for c in recipe.candidates}})
        log(f"    (d) {arm}: {wall:.0f} s, mean test MAE {np.mean(runs[arm][-1]['mae']):.4f}")
    first = runs["all"][0]
    mat = pd.DataFrame([first["mae"], runs["distinct"][0]["mae"]], index=[0, 1])
    g = paired_gain(mat, 1, 0, ratio=first["ratio"])
    # the same drop counted from the all-candidates run: the pick among the two others, by validation
    names = [c.name for c in recipe.candidates if c.l2sp == 0]
    counted = [min(names, key=lambda c: first["cand_val"][c][t]) for t in range(trials)]
    counted_mae = [first["cand_mae"][c][t] for t, c in enumerate(counted)]
    return {"trials": trials, "m": m, "runs": runs,
            "speedup": _d_speedups(runs),
            "difference": {"mean": g.mean, "lo": g.lo, "hi": g.hi, "verdict": g.verdict, "level": g.level},
            "counted_mae": counted_mae,
            "l2sp_picked": sum(p.startswith("l2sp") for p in first["picked"])}


def _d_speedups(runs: dict) -> list[float]:
    """(d): every candidate / distinct, for the A, B pair and then the B, A pair (the neighbouring runs)."""
    return [a["wall_s"] / d["wall_s"] for a, d in zip(runs["all"], runs["distinct"])]


def part_f() -> dict:
    """(f) counted from committed rows, no training: how often the default grids' n = 0 points picked the L2-SP
    twin, and, where every candidate's errors were recorded at n = 0 (the recipe study's "wide" step: today's
    candidates and network, y standardised by the training rows), the baseline without it."""
    import numpy as np
    import pandas as pd

    from machine import REPO

    from s2rlib.law.trial_stats import paired_gain

    out = {"grids": {}, "recipe_study": {}}
    for case in ("band_gap", "formation_enthalpy", "chi", "polymer_density"):
        d = pd.read_csv(REPO / "results" / case / "results.csv", usecols=["n_source", "metric", "selected_recipe"])
        picks = d[(d.n_source.astype(str) == "0") & (d.metric == "mae")].selected_recipe
        out["grids"][case] = {"trials": int(len(picks)), "l2sp_picked": int(picks.str.startswith("l2sp").sum())}
    names = ["full_lr1e-3", "body1e-4_head1e-3", "l2sp1e-3_lr1e-3"]
    for case in ("band_gap", "formation_enthalpy"):
        per = pd.read_csv(REPO / "results" / "recipe_study" / f"{case}__wide__n0.csv").pivot(
            index="trial", columns="metric", values="value")
        val = per[[f"val_mae@{c}" for c in names]].to_numpy()
        mae = per[[f"mae@{c}" for c in names]].to_numpy()
        rows = np.arange(len(mae))
        every, distinct = mae[rows, val.argmin(1)], mae[rows, val[:, :2].argmin(1)]
        g = paired_gain(pd.DataFrame([every, distinct], index=[0, 1]), 1, 0,
                        ratio=float((per["n_test"] / per["n_pool"]).mean()))
        out["recipe_study"][case] = {"trials": int(len(mae)), "l2sp_picked": int((val.argmin(1) == 2).sum()),
                                     "mae_every": float(every.mean()), "mae_distinct": float(distinct.mean()),
                                     "difference": {"mean": g.mean, "lo": g.lo, "hi": g.hi, "level": g.level}}
    return out


def part_e(n: int, trials: int, overrides: dict, reverse: bool, seed: int = 0) -> dict:
    """(e) the real grid point, adam then fused (or fused then adam), with the equivalence verdict."""
    arms = dict(reversed(ARMS_E.items())) if reverse else ARMS_E
    r = paired_arms.grid_point(n, trials, overrides, arms, seed=seed)
    if reverse:  # grid_point's difference and speed-up are second - first: turn them to fused - adam
        d = r["difference"]
        r["difference"] = {**d, "mean": -d["mean"], "lo": -d["hi"], "hi": -d["lo"]}
        r["speedup"] = 1 / r["speedup"]
    d = r["difference"]
    r["margin_ev"] = MARGIN_EV
    r["equivalent"] = bool(max(abs(d["lo"]), abs(d["hi"]), abs(d["mean"])) <= MARGIN_EV)
    r["order"] = list(arms)
    return r


def pooled_e(res: dict) -> dict | None:
    """(e) and its reversed run pooled, when they ran other seeds: every trial's fused − adam, one interval."""
    import pandas as pd

    from s2rlib.law.trial_stats import paired_gain

    if "e" not in res or "e_reversed" not in res or res["e"].get("seed", 0) == res["e_reversed"].get("seed", 0):
        return None
    runs = [res[k]["runs"] for k in ("e", "e_reversed")]
    adam = [x for r in runs for x in r["adam"]["mae"]]
    fused = [x for r in runs for x in r["fused"]["mae"]]
    g = paired_gain(pd.DataFrame([adam, fused], index=[0, 1]), 1, 0, ratio=res["e"]["ratio_test_pool"])
    ok = max(abs(g.lo), abs(g.hi), abs(g.mean)) <= MARGIN_EV
    return {"trials": len(adam), "mean": g.mean, "lo": g.lo, "hi": g.hi, "level": g.level, "equivalent": bool(ok)}


# ------------------------------------------------------------------------------------------ the report
def _fmt_ms(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def _walls(runs: list[dict]) -> str:
    return " / ".join("%.0f s" % r["wall_s"] for r in runs)


def _e_lines(e: dict, title: str) -> list[str]:
    ad, fu, d = e["runs"]["adam"], e["runs"]["fused"], e["difference"]
    per = [f - a for a, f in zip(ad["mae"], fu["mae"])]
    sd = statistics.stdev(ad["mae"]) if len(ad["mae"]) > 1 else float("nan")
    return [f"### {title}", "",
            f"{e['order'][0]} first, then {e['order'][1]}; {e['trials']} trials; load average at start "
            f"{load_text(e, 'loadavg_start')}, at end {load_text(e, 'loadavg_end')}; {e['threads']} thread(s); "
            f"code `{e['git']}`.", "",
            "| | adam (reference) | fused | |", "|---|---|---|---|",
            f"| wall time | {ad['wall_s'] / 60:.1f} min | {fu['wall_s'] / 60:.1f} min | **{e['speedup']:.2f}x** |",
            f"| test MAE, mean over trials (eV) | {statistics.mean(ad['mae']):.4f} | {statistics.mean(fu['mae']):.4f} | |",
            "",
            f"Paired per trial, fused − adam: **{d['mean']:+.4f} eV**, {100 * d['level']:.0f}% interval "
            f"[{d['lo']:+.4f}, {d['hi']:+.4f}] (Nadeau-Bengio corrected); largest per-trial difference "
            f"{max(abs(x) for x in per):.4f} eV, the trials' own spread (sd, adam) {sd:.4f} eV. Against the margin "
            f"of ±{e['margin_ev']:.2f} eV stated before the run: **"
            + ("equivalent" if e["equivalent"] else "not shown equivalent") + "**."
            + (f" The 1-minute load average went from {e['loadavg_start'][0]:.1f} to {e['loadavg_end'][0]:.1f} between the "
               "start and the end, so this wall-time ratio mixes the lever with the machine's load; the interleaved "
               "timings of (a) and (c) are the lever's own." if abs(e["loadavg_start"][0] - e["loadavg_end"][0]) > 1
               else ""), ""]


def render(res: dict) -> str:
    L = ["# Issue 27: the exact-arithmetic levers and the n = 0 duplicate candidate", "",
         f"Generated by `benchmarks/bench_levers.py` — do not edit by hand; rerun the script.", ""]
    for key in "abcdf":
        if key in res and "machine" in res[key]:
            m = res[key]["machine"]
            L.append(f"* part ({key}): `{res[key]['command']}` on {m['date_utc']} UTC, {cpu_model(m)}, "
                     f"{m.get('nproc', '?')} CPUs, torch {m.get('torch', '?')}, {m['torch_threads']} thread(s); load "
                     f"average at start {load_text(m)}, at end {load_text(m, 'loadavg_end')}; code `{m.get('git', '?')}`.")
    L.append("")
    if "a" in res:
        a = res["a"]["data"]
        L += ["## (a) The optimizer step alone, default network", "",
              "Median ms per `EnsembleAdam.step` (restoring the gradients subtracted), the arms interleaved in both "
              "orders.", "", "| shape | arm | ms | speed-up |", "|---|---|---|---|"]
        for shape, r in a.items():
            for arm, ms in r["ms"].items():
                L.append(f"| {shape}, {r['members']} members | {arm} | {_fmt_ms(ms)} | "
                         f"{r['ms']['reference'] / ms:.2f}x |")
        L.append("")
    if "b" in res:
        L += ["## (b) The checkpoint update at an epoch's end, 60 due members", "",
              "| members that improved | before (ms) | improved only (ms) | speed-up |", "|---|---|---|---|"]
        for frac, r in res["b"]["data"].items():
            ratio = f"{r['before'] / r['improved only']:.2f}x" if float(frac) > 0 else "(nothing copied)"
            L.append(f"| {100 * float(frac):.0f}% | {_fmt_ms(r['before'])} | {_fmt_ms(r['improved only'])} | {ratio} |")
        L.append("")
    if "c" in res:
        c = res["c"]["data"]
        ref = statistics.mean(c["ms_per_step"]["reference"])
        L += [f"## (c) Fine-tuning end to end: `_finetune`, band gap, {c['members']} members, m = {c['m']}", "",
              f"{c['steps']} steps per arm (steps per epoch {c['spe']}: every step ends an epoch), the arms in "
              f"both orders (ms per step, first run / second run); {100 * c['improved_fraction']:.0f}% of the due "
              "members improved at an epoch's end.", "", "| arm | ms per step | speed-up |", "|---|---|---|"]
        for arm, t in c["ms_per_step"].items():
            L.append(f"| {arm} | {' / '.join(_fmt_ms(x) for x in t)} | {ref / statistics.mean(t):.2f}x |")
        L.append("")
    if "d" in res:
        d = res["d"]["data"]
        dd = d["difference"]
        al, di = d["runs"]["all"], d["runs"]["distinct"]
        L += [f"## (d) n = 0 without the duplicate candidate: band gap, m = {d['m']}, {d['trials']} trials", "",
              "| | every candidate | distinct candidates | speed-up |", "|---|---|---|---|",
              f"| wall time, A/B then B/A | {_walls(al)} | {_walls(di)} | "
              f"{' / '.join('**%.2fx**' % x for x in _d_speedups(d['runs']))} |",
              f"| fine-tuning steps, all trials | {sum(al[0]['finetune_steps']):,.0f} | "
              f"{sum(di[0]['finetune_steps']):,.0f} | |",
              f"| baseline test MAE, mean (eV) | {statistics.mean(al[0]['mae']):.4f} | "
              f"{statistics.mean(di[0]['mae']):.4f} | |", "",
              f"With every candidate, validation picked the L2-SP one (at n = 0 the whole network with another batch "
              f"seed) in {d['l2sp_picked']} of {d['trials']} trials. Without it the baseline's test MAE moves by "
              f"**{dd['mean']:+.4f} eV**, {100 * dd['level']:.0f}% interval [{dd['lo']:+.4f}, {dd['hi']:+.4f}] "
              f"(paired, corrected); counted from the first run's own candidates (the pick among the other two by "
              f"validation) {statistics.mean(d['counted_mae']) - statistics.mean(al[0]['mae']):+.4f} eV. Every gain over "
              "n = 0 (error at n − error at 0) moves by the opposite amount.", ""]
    if "f" in res:
        f = res["f"]["data"]
        grids = f["grids"]
        L += ["## (f) Counted from the committed rows: the n = 0 duplicate in the grids and the recipe study", "",
              "At n = 0 the final grids' validation picked the L2-SP twin in this many (trial, m) runs: "
              + ", ".join(f"{r['l2sp_picked']} of {r['trials']} ({c.replace('_', ' ')})" for c, r in grids.items())
              + f": {sum(r['l2sp_picked'] for r in grids.values())} of {sum(r['trials'] for r in grids.values())}. "
              "The grids record only the picked candidate's test error, so what its absence costs is counted where "
              "every candidate's was recorded: the recipe study's \"wide\" step at n = 0, m = all (today's candidates "
              "and network; y standardised by the training rows, not the source).", "",
              "| case | trials | L2-SP picked | baseline MAE, every candidate | without the twin | paired difference "
              "(90% interval) |", "|---|---|---|---|---|---|"]
        for case, r in f["recipe_study"].items():
            dd = r["difference"]
            L.append(f"| {case.replace('_', ' ')} | {r['trials']} | {r['l2sp_picked']} | {r['mae_every']:.4f} | "
                     f"{r['mae_distinct']:.4f} | {dd['mean']:+.4f} [{dd['lo']:+.4f}, {dd['hi']:+.4f}] |")
        L.append("")
    if "e" in res or "e_reversed" in res:
        L += ["## (e) The fused step at a real grid point: band gap, n = 1,000, m = all, the same seeds", "",
              f"Equivalence margin, stated before the run: the paired mean difference and both ends of its 90% "
              f"interval within ±{MARGIN_EV:.2f} eV.", ""]
        if "e" in res:
            L += _e_lines(res["e"], "adam first")
        if "e_reversed" in res:
            L += _e_lines(res["e_reversed"], "fused first")
        pool = pooled_e(res)
        if pool:
            L += ["### Both runs pooled", "",
                  f"The two runs used other seeds ({res['e'].get('seed', 0)}.. and {res['e_reversed']['seed']}..), so "
                  f"their {pool['trials']} trials pool: fused − adam **{pool['mean']:+.4f} eV**, "
                  f"{100 * pool['level']:.0f}% interval [{pool['lo']:+.4f}, {pool['hi']:+.4f}] (corrected): **"
                  + ("equivalent" if pool["equivalent"] else "not shown equivalent")
                  + f"** within ±{MARGIN_EV:.2f} eV.", ""]
    return "\n".join(L)


def _load(res: dict, key: str) -> str:
    m = res[key]["machine"]
    return f"load {m['loadavg_start'][0]:.1f} at start, {m['torch_threads']} thread(s)"


def readme_sentence(res: dict) -> str:
    """README's bullet on the levers, generated from ``levers.json`` (``tests/test_benchmark.py`` checks README)."""
    a, b, c = (res[k]["data"] for k in "abc")
    ft, pre = a["fine-tune"]["ms"], a["pretrain"]["ms"]
    ref_c = statistics.mean(c["ms_per_step"]["reference"])
    cs = {arm: ref_c / statistics.mean(t) for arm, t in c["ms_per_step"].items()}
    tenth = b["0.10"]
    text = (f"the optimizer step alone (`benchmarks/LEVERS.md` (a), {_load(res, 'a')}): fused Adam "
            f"**{ft['reference'] / ft['fused']:.2f}x** at the fine-tuning shape (60 members), "
            f"{pre['reference'] / pre['fused']:.2f}x at the pretraining shape (10 members); the L2-SP pull on its "
            f"members only {ft['reference'] / ft['l2sp on its members']:.2f}x; a checkpoint update with 10% of 60 due "
            f"members improved {tenth['before'] / tenth['improved only']:.2f}x ((b), {_load(res, 'b')}). Fine-tuning end "
            f"to end at m = 100, every step an epoch end ((c), {_load(res, 'c')}): checkpoint "
            f"{cs['checkpoint']:.2f}x, L2-SP {cs['l2sp']:.2f}x, fused {cs['fused']:.2f}x, all three "
            f"**{cs['all three']:.2f}x**")
    if "d" in res:
        d = res["d"]["data"]
        dd = d["difference"]
        text += (f". At n = 0 (band gap, m = {d['m']}, {d['trials']} trials, {_load(res, 'd')}) dropping the duplicate "
                 f"L2-SP candidate took {' and '.join('%.2fx' % x for x in _d_speedups(d['runs']))} less time (both orders) and "
                 f"moved the baseline by {dd['mean']:+.4f} eV [{dd['lo']:+.4f}, {dd['hi']:+.4f}]")
    if "f" in res:
        f = res["f"]["data"]
        bg = f["recipe_study"]["band_gap"]
        text += (f". The final grids' n = 0 points picked that twin in {sum(r['l2sp_picked'] for r in f['grids'].values())}"
                 f" of {sum(r['trials'] for r in f['grids'].values())} (trial, m) runs; without it, band gap's baseline "
                 f"in the recipe study ({bg['trials']} trials, m = all) is {bg['difference']['mean']:+.4f} eV higher "
                 f"[{bg['difference']['lo']:+.4f}, {bg['difference']['hi']:+.4f}] ((f))")
    if "e" in res:
        e = res["e"]
        ed = e["difference"]
        text += (f". At the real point (n = 1,000, m = all, {e['trials']} trials, load {e['loadavg_start'][0]:.1f} at "
                 f"start and {e['loadavg_end'][0]:.1f} at end, "
                 f"{e['threads']} thread(s)) fused Adam took {e['runs']['fused']['wall_s'] / 60:.1f} instead of "
                 f"{e['runs']['adam']['wall_s'] / 60:.1f} minutes, **{e['speedup']:.2f}x**; its test MAE moved by "
                 f"{ed['mean']:+.4f} eV [{ed['lo']:+.4f}, {ed['hi']:+.4f}]: "
                 + (f"equivalent within the margin of ±{e['margin_ev']:.2f} eV set before the run" if e["equivalent"]
                    else f"not shown equivalent within the margin of ±{e['margin_ev']:.2f} eV set before the run"))
        if "e_reversed" in res:
            r = res["e_reversed"]
            text += (f"; again with fused first ({r['trials']} other trials, load {r['loadavg_start'][0]:.1f} at start and "
                     f"{r['loadavg_end'][0]:.1f} at end) {r['speedup']:.2f}x")
        pool = pooled_e(res)
        if pool:
            text += (f"; the {pool['trials']} trials pooled: {pool['mean']:+.4f} eV [{pool['lo']:+.4f}, {pool['hi']:+.4f}], "
                     + ("equivalent" if pool["equivalent"] else "not shown equivalent"))
    return (text + ".").replace("-0.", "−0.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--parts", default="abcd")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10, help="(a), (b): steps per timing")
    ap.add_argument("--repeats", type=int, default=3, help="(a), (b): interleaved repeats")
    ap.add_argument("--ft-steps", type=int, default=20, help="(c): fine-tuning steps per arm")
    ap.add_argument("--d-trials", type=int, default=10)
    ap.add_argument("--d-m", type=int, default=100)
    ap.add_argument("--n", type=int, default=1000, help="(e)")
    ap.add_argument("--trials", type=int, default=10, help="(e)")
    ap.add_argument("--reverse", action="store_true", help="(e) fused first, into e_reversed")
    ap.add_argument("--seed", type=int, default=0, help="(e): trial t has seed seed + t (another seed: more trials)")
    ap.add_argument("--recipe", default="{}", help="Recipe overrides (JSON) for every part")
    ap.add_argument("--quick", action="store_true", help=f"every part reduced: recipe {QUICK}, tiny sizes")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "levers.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    if not args.report_only:
        import torch

        from s2rlib.datasets import inorganic
        from s2rlib.training.transfer import Recipe

        torch.set_num_threads(args.threads)
        os.environ["S2R_PRETRAIN_CACHE"] = "off"
        overrides = dict(QUICK) if args.quick else json.loads(args.recipe)
        recipe = Recipe.from_dict({**Recipe().to_dict(), **overrides})
        d_in = inorganic.load_band_gap().X_source.shape[1]
        command = " ".join(["python benchmarks/bench_levers.py"] + (argv if argv is not None else sys.argv[1:]))
        q = args.quick
        jobs = {"a": lambda: part_a(list(recipe.hidden), d_in, 2 if q else args.steps, 1 if q else args.repeats),
                "b": lambda: part_b(list(recipe.hidden), d_in, 2 if q else args.steps, 1 if q else args.repeats),
                "c": lambda: part_c(recipe, 3 if q else args.ft_steps, 6 if q else 60),
                "d": lambda: part_d(recipe, 2 if q else args.d_trials, args.d_m), "f": part_f}
        for key in args.parts:
            facts = machine_facts(args.threads)
            if key == "e":
                log(f"(e) band gap n={args.n}, {args.trials} trials, {'fused first' if args.reverse else 'adam first'}")
                e = part_e(300 if q else args.n, 2 if q else args.trials, overrides, args.reverse, args.seed)
                e.update(threads=args.threads, git=facts["git"], loadavg_start=facts["loadavg_start"],
                         loadavg_end=list(os.getloadavg()), command=command)
                new = {"e_reversed" if args.reverse else "e": e}
            else:
                log(f"({key})")
                data = jobs[key]()
                facts["loadavg_end"] = list(os.getloadavg())
                new = {key: {"data": data, "machine": facts, "command": command, "overrides": overrides}}
            # read again before writing: another part may have been written while this one ran
            res = {**(json.loads(path.read_text()) if path.exists() else {}), **new}
            path.write_text(json.dumps(res, indent=1))
    (out / "LEVERS.md").write_text(render(res))
    log(f"wrote {out / 'LEVERS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
