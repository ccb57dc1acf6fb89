"""What is data and what is compute: the n x pretraining-length factorial (issue 28, item 2).

Along the grid's n axis the pretraining steps grow with n (30 epochs, at least 1,000 steps), so a
gain between two n mixes more data with more compute. The factorial reruns a few n at other
pretraining lengths with the grid's seeds (every trial paired with the grid's trial of the same
number); this module pairs the cells and returns numbers, never sentences:

* :func:`cells` — the per-trial error of every (n, length) cell, from the grid and the factorial's runs;
* :func:`analyse` — the paired effects: more compute at fixed data, more data at fixed compute, and
  the *compute share* of the gain at the largest n (a :class:`Factorial`).

The compute share at the largest n is the part of the grid's gain there (error(n_max) - error(0))
that goes away when the largest n is pretrained with the short schedule the small n get:
``(err(n_max, grid) - err(n_max, short)) / (err(n_max, grid) - err(0))``, with Fieller's interval
over the paired trials (:func:`s2rlib.law.trial_stats.paired_ratio`, Nadeau-Bengio factor). The
share of the last step of the grid (from the n below n_max to n_max) is given the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from s2rlib._core.errors import ParameterError
from s2rlib.law.trial_stats import Gain, paired_gain, paired_ratio, test_train_ratio

__all__ = ["CONVERGED", "cells", "length_label", "Share", "Factorial", "analyse"]

#: the label of a cell pretrained to convergence (early stopping on the source side)
CONVERGED = "converged"


def length_label(params: str) -> str:
    """A cell's pretraining length from a row's ``params`` JSON: ``converged`` or ``"<steps> steps"``."""
    p = json.loads(params)
    if p.get("recipe", {}).get("pretrain_schedule", "fixed") == "converge":
        return CONVERGED
    steps = p.get("pretrain_steps")
    return f"{int(steps):,} steps" if steps is not None else "no pretraining"


def cells(grid: pd.DataFrame, runs: list[pd.DataFrame], m: int, *, metric: str = "mae") -> pd.DataFrame:
    """(cell x trial) matrix of ``metric`` at ``m``: index (n_source, length), the grid's n = 0 as (0, '-').

    ``grid`` is the case's committed grid; ``runs`` the factorial's tables (one recipe each). Only the
    trials every run holds are kept, and the grid's rows are taken at the n the runs cover. A trial
    whose seed differs from the grid's trial of the same number is refused: the cells would not be paired.
    """
    runs = [r[(r["m_target"] == m) & (r["metric"] == metric)] for r in runs]
    runs = [r for r in runs if not r.empty]
    if not runs:
        raise ParameterError(f"factorial: no run has rows at m_target = {m}")
    g = grid[(grid["m_target"] == m) & (grid["metric"] == metric)]
    trials = sorted(set.intersection(*(set(r["trial"]) for r in runs)))
    ns = sorted(set().union(*(set(r["n_source"]) for r in runs)))
    seeds = g.drop_duplicates("trial").set_index("trial")["seed"]
    parts = []
    for r in runs:
        s = r.drop_duplicates("trial").set_index("trial")["seed"]
        bad = [t for t in s.index if t in seeds.index and s[t] != seeds[t]]
        if bad:
            raise ParameterError(f"factorial: trial(s) {bad} ran with seeds {[int(s[t]) for t in bad]}, the grid's "
                                 f"trials of the same number with {[int(seeds[t]) for t in bad]}: not paired")
        parts.append(r)
    g = g[g["n_source"].isin([0, *ns])]
    rows = pd.concat([g, *parts], ignore_index=True)
    rows = rows[rows["trial"].isin(trials)]
    rows = rows.assign(length=[("-" if n == 0 else length_label(p)) for n, p in zip(rows["n_source"], rows["params"])])
    mat = rows.pivot_table(index=["n_source", "length"], columns="trial", values="value", aggfunc="mean")
    mat = mat.dropna(axis=0, how="any")
    mat.attrs["test_train_ratio"] = test_train_ratio(grid, m)
    mat.attrs["grid_length"] = {int(n): length_label(p) for n, p in zip(g["n_source"], g["params"]) if n != 0}
    return mat


@dataclass(frozen=True)
class Share:
    """A paired ratio with Fieller's interval (NaN ends: unbounded, the denominator's interval holds 0)."""

    est: float
    lo: float
    hi: float


@dataclass
class Factorial:
    """The paired effects of one case at one m (errors: mean over the paired trials)."""

    m: int
    trials: int
    ratio: float
    mean: pd.Series  # mean error per (n, length)
    grid_length: dict  # n -> the grid's own length at that n
    compute: dict = field(default_factory=dict)  # (n, long, short) -> Gain  err(n, long) - err(n, short)
    data: dict = field(default_factory=dict)  # (length, n_big, n_small) -> Gain  err(n_big) - err(n_small)
    gain: dict = field(default_factory=dict)  # (n, length) -> Gain  err(n, length) - err(0)
    share_max: Share | None = None  # compute share of the grid's gain at the largest n
    share_step: Share | None = None  # compute share of the grid's drop from the n below to the largest n
    n_max: int = 0
    n_below: int = 0
    short: str = ""


def _steps(label: str) -> float:
    return float("inf") if label == CONVERGED else float(label.split()[0].replace(",", "")) if label[0].isdigit() else 0.0


def analyse(mat: pd.DataFrame, m: int) -> tuple[Factorial, pd.DataFrame]:
    """The paired effects of a :func:`cells` matrix; returns the :class:`Factorial` and a long table of them."""
    r = float(mat.attrs.get("test_train_ratio", 0.0))
    glen = dict(mat.attrs.get("grid_length", {}))
    flat = pd.DataFrame(mat.to_numpy(), index=range(len(mat)), columns=mat.columns)
    pos = {key: i for i, key in enumerate(mat.index)}
    base = pos.get((0, "-"))

    def gain(a, b) -> Gain:
        return paired_gain(flat, pos[a], pos[b], ratio=r)

    out = Factorial(m=int(m), trials=mat.shape[1], ratio=r, mean=mat.mean(axis=1), grid_length=glen)
    ns = sorted({n for n, _ in mat.index if n != 0})
    lengths = sorted({lab for n, lab in mat.index if n != 0}, key=_steps)
    for n in ns:
        have = [lab for lab in lengths if (n, lab) in pos]
        for i, short in enumerate(have):
            for long in have[i + 1:]:
                out.compute[(n, long, short)] = gain((n, long), (n, short))
        if base is not None:
            for lab in have:
                out.gain[(n, lab)] = gain((n, lab), (0, "-"))
    for lab in lengths:
        have = [n for n in ns if (n, lab) in pos]
        for small, big in zip(have, have[1:]):
            out.data[(lab, big, small)] = gain((big, lab), (small, lab))
    if ns and base is not None:
        n_max = ns[-1]
        top = glen.get(n_max)
        shorter = [lab for lab in lengths if lab != CONVERGED and _steps(lab) < _steps(top or "0")
                   and (n_max, lab) in pos]
        if top and (n_max, top) in pos and shorter:
            short = shorter[0]
            a, b = mat.loc[(n_max, top)], mat.loc[(n_max, short)]
            out.share_max = Share(*paired_ratio(a - b, a - mat.loc[(0, "-")], r))
            out.n_max, out.short = n_max, short
            below = [n for n in ns[:-1] if glen.get(n) == short and (n, short) in pos]
            if below:
                nb = below[-1]
                out.share_step = Share(*paired_ratio(a - b, a - mat.loc[(nb, short)], r))
                out.n_below = nb
    table = pd.DataFrame(
        [{"effect": "compute", "n": n, "from": s, "to": lg, **_g(g)} for (n, lg, s), g in out.compute.items()]
        + [{"effect": "data", "n": big, "from": small, "to": big, "length": lab, **_g(g)}
           for (lab, big, small), g in out.data.items()]
        + [{"effect": "gain", "n": n, "from": 0, "to": n, "length": lab, **_g(g)} for (n, lab), g in out.gain.items()])
    return out, table


def _g(g: Gain) -> dict:
    return {"mean": g.mean, "lo": g.lo, "hi": g.hi, "trials": g.trials, "verdict": g.verdict}
