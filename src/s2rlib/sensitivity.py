"""Protocol sensitivity: what the gain at the largest n is made of, by changing one thing at a time.

A *variant* reruns the chapter's largest grid point (n = all, m = all) with one recipe field changed
and everything else as in the chapter's grid: the same commit, the same seeds, hence the same
experimental splits and the same source draws. Every trial is therefore paired three ways: with
the no-pretraining baseline (n = 0), with the default protocol at the same n, and the difference
between the two gains is the variant's effect, with the Nadeau-Bengio corrected interval
(:func:`s2rlib.trial_stats.paired_gain`) because the trials re-split one data set.

* ``lookup``: the test materials' own simulations may be drawn for pretraining (the book's default
  withholds them, by the identity the split groups by). The difference says how much a model gains
  by having *seen the simulation of the very material it is tested on*: the share of the gain that a
  database lookup, not transfer, could deliver.
* ``fixed_steps``: pretraining capped at 1,000 optimiser steps, the number every n up to about
  17,000 gets under the default schedule (30 epochs, at least 1,000 steps). At the largest n the
  default runs about 5.5 times as many; the difference separates the effect of more data from that
  of more pretraining compute (:doc:`method`'s pretraining-schedule paragraph).

Rows live in ``results/sensitivity/<case>/<variant>/`` (``results.csv``, or point files under
``points/`` while a run is unfinished); :func:`command` is the command that makes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ParameterError
from .formatting import DASH, fmt, fmt_ci, fmt_signed, pretty_units
from .results import ALL_M, merge_points
from .selection import select_grid
from .trial_stats import Gain, paired_gain, test_train_ratio

__all__ = ["VARIANTS", "Variant", "Comparison", "variant_dir", "load_variant", "command", "compare", "sentence"]

SENSITIVITY_DIR = "sensitivity"


@dataclass(frozen=True)
class Variant:
    """One protocol change: its recipe overrides and what it asks, in words."""

    name: str
    overrides: dict
    title: str
    words: str
    question: str
    #: what a detected change means, with ``{share}`` the change as a share of the default gain
    if_lowers: str = ""
    if_raises: str = ""


VARIANTS: dict[str, Variant] = {
    "lookup": Variant(
        "lookup", {"withhold_test_sources": False}, "look-up protocol",
        "the test materials' own simulations may be drawn for pretraining",
        "how much of the gain comes from having seen the simulation of the material being tested",
        if_lowers="seeing the test materials' own simulations adds {share} of the default gain on top of it: a "
                  "benchmark that lets them in overstates what transfer gives for a new material",
        if_raises="seeing the test materials' own simulations does not help here"),
    "fixed_steps": Variant(
        "fixed_steps", {"pretrain_max_steps": 1000}, "fixed pretraining compute",
        "pretraining capped at 1,000 steps, the number every n up to about 17,000 gets",
        "how much of the gain at the largest n comes from more pretraining steps rather than more data",
        if_lowers="the default schedule's extra steps at this n cost accuracy rather than buy it",
        if_raises="about {share} of the default gain at this n comes from the extra pretraining steps, and the rest "
                  "from the extra data"),
}


def _variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ParameterError(f"unknown sensitivity variant {name!r}; known: {sorted(VARIANTS)}")
    return VARIANTS[name]


def variant_dir(case: str, variant: str, root=None) -> Path:
    """``results/sensitivity/<case>/<variant>/`` (under ``root``, default the checkout's results)."""
    from .book_results import results_root  # here: book_results reads the case files, which name VARIANTS
    return results_root(root) / SENSITIVITY_DIR / case / _variant(variant).name


def command(case: str, variant: str, trials: int = 20) -> str:
    """The ``s2r grid`` command that runs a variant's point into :func:`variant_dir`."""
    v = _variant(variant)
    return (f"s2r grid {case} --ns all --ms all --trials {trials} --recipe '{json.dumps(v.overrides)}' "
            f"--out results/{SENSITIVITY_DIR}/{case}/{v.name}")


def load_variant(case: str, variant: str, root=None) -> pd.DataFrame | None:
    """A variant's rows: its ``results.csv``, else its finished point files; None when neither exists."""
    d = variant_dir(case, variant, root)
    if (d / "results.csv").is_file():
        return pd.read_csv(d / "results.csv")
    if (d / "points").is_dir() and any((d / "points").glob("*.csv")):
        return merge_points(d / "points")
    return None


@dataclass(frozen=True)
class Comparison:
    """One variant against the default protocol at the same n, every trial paired."""

    variant: Variant
    n: int
    trials: int
    baseline: float  # mean error at n = 0 over the paired trials
    default: float  # mean error of the default protocol at n
    changed: float  # mean error of the variant at n
    gain_default: Gain  # default(n) - baseline
    gain_variant: Gain  # variant(n) - baseline
    difference: Gain  # variant(n) - default(n)

    @property
    def share(self) -> float:
        """The difference as a fraction of the default gain (NaN unless the default gain is detected)."""
        g = self.gain_default
        return self.difference.mean / g.mean if g.verdict == "lowers" and g.mean else float("nan")


def _recipe(rows: pd.DataFrame) -> dict:
    recipes = {json.dumps(json.loads(p).get("recipe", {}), sort_keys=True) for p in rows["params"].astype(str)}
    if len(recipes) != 1:
        raise ParameterError(f"rows of {len(recipes)} recipes where one was expected")
    return json.loads(recipes.pop())


def compare(main: pd.DataFrame, changed: pd.DataFrame, variant: str, *, m: int = ALL_M,
            metric: str = "mae") -> Comparison:
    """Pair the variant's rows (``changed``) with the chapter's grid (``main``) at the variant's n.

    A ParameterError says what does not match: the variant's recipe must be the main grid's with the
    variant's overrides, its code version and data hash those of the grid's point, its trials must use
    the main grid's seeds, and the main grid must hold n = 0 and the variant's n at ``m``.
    """
    v = _variant(variant)
    main = select_grid(main[main["m_target"] == m])
    changed = changed[changed["m_target"] == m]
    if changed.empty or main.empty:
        raise ParameterError(f"sensitivity {v.name}: no rows at m = {'all' if m == ALL_M else m} "
                             f"({len(main)} in the grid, {len(changed)} in the variant)")
    expected = {**_recipe(main), **v.overrides}
    got = _recipe(changed)
    if got != expected:
        diff = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
        raise ParameterError(f"sensitivity {v.name}: the variant's recipe differs from the grid's with "
                             f"{v.overrides} in {diff}: it is not the same protocol with one change")
    n = int(changed["n_source"].max())
    for col, what in (("code_version", "code"), ("data_sha256", "data")):
        a, b = set(main[main["n_source"] == n][col].astype(str)), set(changed[col].astype(str))
        if a and a != b:
            raise ParameterError(f"sensitivity {v.name}: the variant ran on other {what} ({', '.join(sorted(b))}) than "
                                 f"the grid's point at n = {n:,} ({', '.join(sorted(a))}): rerun it on the grid's commit")
    mm, mc = (t[t["metric"] == metric] for t in (main, changed))
    if n not in set(mm["n_source"]) or 0 not in set(mm["n_source"]):
        raise ParameterError(f"sensitivity {v.name}: the grid has no n = 0 or n = {n:,} at this m to pair with")
    seeds_main = mm.drop_duplicates("trial").set_index("trial")["seed"]
    seeds_var = mc[mc["n_source"] == n].drop_duplicates("trial").set_index("trial")["seed"]
    common = seeds_var.index.intersection(seeds_main.index)
    if len(common) < len(seeds_var) or not (seeds_main[common] == seeds_var[common]).all():
        raise ParameterError(f"sensitivity {v.name}: trials {sorted(set(seeds_var.index) - set(common))} or their "
                             "seeds are not the grid's: its trials would not be paired")

    def row(t, n_):
        return t[t["n_source"] == n_].groupby("trial")["value"].mean()

    mat = pd.DataFrame({0: row(mm, 0), 1: row(mm, n), 2: row(mc, n)}).T.loc[:, list(common)]
    ratio = test_train_ratio(main, m)
    g_def, g_var, diff = (replace(paired_gain(mat, a, b, ratio=ratio), n=n) for a, b in ((1, 0), (2, 0), (2, 1)))
    means = mat.mean(axis=1)
    return Comparison(v, n, int(diff.trials), float(means[0]), float(means[1]), float(means[2]), g_def, g_var, diff)


def table(comparisons: list[Comparison], units: str = "") -> pd.DataFrame:
    """One row per protocol: the default and each variant, with the error at n and the paired gains."""
    u = "" if not units or units == "dimensionless" else f" ({pretty_units(units)})"
    if not comparisons:
        return pd.DataFrame()
    first = comparisons[0]
    rows = [{"protocol": "default (the chapter's grid)", f"MAE at n{u}": fmt(first.default),
             "gain vs n = 0 [90% CI]": f"{fmt(first.gain_default.mean, 2)} {fmt_ci(first.gain_default.lo, first.gain_default.hi, 2)}",
             "change vs default [90% CI]": "", "trials": str(first.trials)}]
    for c in comparisons:
        rows.append({"protocol": f"{c.variant.title}: {c.variant.words}", f"MAE at n{u}": fmt(c.changed),
                     "gain vs n = 0 [90% CI]": f"{fmt(c.gain_variant.mean, 2)} {fmt_ci(c.gain_variant.lo, c.gain_variant.hi, 2)}",
                     "change vs default [90% CI]": f"{fmt_signed(c.difference.mean, 2)} {_signed_ci(c.difference)}",
                     "trials": str(c.trials)})
    return pd.DataFrame(rows)


def _signed_ci(g: Gain) -> str:
    return f"[{fmt_signed(g.lo, 2)}, {fmt_signed(g.hi, 2)}]" if np.isfinite(g.lo) and np.isfinite(g.hi) else DASH


def sentence(c: Comparison, units: str = "") -> str:
    """What one variant shows, in words whose verdict follows from the difference's interval."""
    u = "" if not units or units == "dimensionless" else f" {pretty_units(units)}"
    d = c.difference
    head = (f"With the {c.variant.title} ({c.variant.words}) the error at n = {c.n:,} is {fmt(c.changed)}{u} against "
            f"{fmt(c.default)}{u} by default, a change of {fmt_signed(d.mean, 2)}{u} {_signed_ci(d)} "
            f"over {c.trials} paired trials")
    if d.verdict == "no_effect":
        return head + f": no detectable effect, so this change does not explain the gain ({c.variant.question})."
    if d.verdict == "unknown":
        return head + "."
    direction = "lowers" if d.verdict == "lowers" else "raises"
    meaning = c.variant.if_lowers if direction == "lowers" else c.variant.if_raises
    share = c.share
    if "{share}" in meaning:
        if not np.isfinite(share):  # no detected default gain to take a share of
            return head + f": the change {direction} the error."
        meaning = meaning.format(share=f"{abs(share):.0%}")
    return head + f": the change {direction} the error; {meaning}." if meaning else head + f": the change {direction} the error."
