"""Protocol sensitivity: what the gain at the largest n is made of, by changing one thing at a time.

A *variant* reruns the chapter's largest grid point (n = all, m = all) with one recipe field changed
and everything else as in the chapter's grid: the same commit, the same seeds, hence the same
experimental splits and the same source draws. Every trial is therefore paired three ways: with
the no-pretraining baseline (n = 0), with the default protocol at the same n, and the difference
between the two gains is the variant's effect, with the Nadeau-Bengio corrected interval
(:func:`s2rlib.law.trial_stats.paired_gain`) because the trials re-split one data set.

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

import pandas as pd

from s2rlib._core.errors import ParameterError
from s2rlib.grid.results import load_results, merge_points
from s2rlib._core.constants import ALL_M
from s2rlib.grid.selection import select_grid
from s2rlib.law.trial_stats import Gain, drawn_n, paired_gain, paired_ratio, test_train_ratio
from s2rlib._core.paths import results_root

__all__ = ["VARIANTS", "Variant", "Comparison", "variant_dir", "load_variant", "command", "compare", "steps_by_n",
           "recorded_recipe"]

SENSITIVITY_DIR = "sensitivity"


@dataclass(frozen=True)
class Variant:
    """One protocol change: its recipe overrides and what it asks, in words."""

    name: str
    overrides: dict
    title: str
    words: str
    question: str
    #: what a detected change means; ``{share}`` is the change as a share of the default gain
    if_lowers: str = ""
    if_raises: str = ""
    #: what a change larger than the whole default gain means (only where ``{share}`` is used)
    beyond_gain: str = ""
    #: the grid point it reruns: None = the largest n
    n: int | None = None
    #: the article before the title in a sentence ("the look-up protocol", "fixed pretraining compute")
    article: str = ""


#: the steps the smallest databases get under today's recipe (``Recipe().pretrain_min_steps``, checked by a
#: test) and the n below which every database gets them (``pretrain_min_steps * pretrain_batch / pretrain_epochs``)
FIXED_STEPS, FIXED_STEPS_UP_TO = 1000, 17000
#: the steps the whole formation-enthalpy database gets under today's recipe (30 epochs of ~94,777 samples in
#: batches of 512: 30 x 186; checked by a test against the committed rows)
LONG_STEPS = 5580

VARIANTS: dict[str, Variant] = {
    "lookup": Variant(
        "lookup", {"withhold_test_sources": False}, "look-up protocol",
        "the test materials' own simulations may be drawn for pretraining",
        "how much of the gain comes from having seen the simulation of the material being tested",
        if_lowers="seeing the test materials' own simulations adds {share} of the default gain on top of it: a "
                  "benchmark that lets them in overstates what transfer gives for a new material",
        if_raises="seeing the test materials' own simulations makes the error worse here", article="the "),
    "fixed_steps": Variant(
        "fixed_steps", {"pretrain_max_steps": FIXED_STEPS}, "fixed pretraining compute",
        f"pretraining capped at {FIXED_STEPS:,} steps, the number every n up to about {FIXED_STEPS_UP_TO:,} gets",
        "how much of the gain at the largest n comes from more pretraining steps rather than more data",
        if_lowers="the default schedule's extra steps at this n cost accuracy rather than buy it",
        if_raises="about {share} of the default gain at this n depends on the extra pretraining steps",
        beyond_gain="capped, pretraining on this many samples is worse than none: the whole gain depends on the extra "
                    "steps"),
    "more_steps": Variant(
        "more_steps", {"pretrain_min_steps": LONG_STEPS}, "more pretraining compute",
        f"pretraining lengthened to {LONG_STEPS:,} steps, what the whole database gets",
        "whether the extra steps help without the extra data (the other half of the fixed-compute comparison)",
        if_lowers="more steps help even on this smaller database: compute alone buys part of the gain",
        if_raises="more steps on this smaller database make the error worse: the extra steps help only together with "
                  "the extra data", n=10000),
}


def _variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ParameterError(f"unknown sensitivity variant {name!r}; known: {sorted(VARIANTS)}")
    return VARIANTS[name]


def variant_dir(case: str, variant: str, root=None) -> Path:
    """``results/sensitivity/<case>/<variant>/`` (under ``root``, default the checkout's results)."""
    return results_root(root) / SENSITIVITY_DIR / case / _variant(variant).name


def command(case: str, variant: str, trials: int = 20) -> str:
    """The ``s2r grid`` command that runs a variant's point into :func:`variant_dir`."""
    v = _variant(variant)
    return (f"s2r grid {case} --ns {v.n or 'all'} --ms all --trials {trials} --recipe '{json.dumps(v.overrides)}' "
            f"--out results/{SENSITIVITY_DIR}/{case}/{v.name}")


def load_variant(case: str, variant: str, root=None) -> pd.DataFrame | None:
    """A variant's rows: its ``results.csv`` (verified, repaired from its points when damaged or stale:
    :func:`s2rlib.grid.results.load_results`), else its finished point files; None when neither exists."""
    d = variant_dir(case, variant, root)
    if (d / "results.csv").is_file():
        return load_results(d / "results.csv")
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

    n_default: int = 0  # source samples actually drawn at n by the default protocol (mean over trials)
    n_changed: int = 0  # ... and by the variant (the look-up protocol draws the withheld ones too)
    #: the difference as a fraction of the default gain, with Fieller's interval over the paired trials
    #: (:func:`s2rlib.law.trial_stats.paired_ratio`); NaN unless the default gain is detected
    share_est: float = float("nan")
    share_lo: float = float("nan")
    share_hi: float = float("nan")
    #: more data at equal pretraining steps: error(larger n) - error(smaller n), paired, where the grid has
    #: another n whose default schedule gives the variant's steps (None otherwise)
    same_compute: Gain | None = None
    same_steps: int = 0
    n_small: int = 0
    n_large: int = 0

    @property
    def share(self) -> float:
        """The difference as a fraction of the default gain (NaN unless the default gain is detected)."""
        return self.share_est if self.gain_default.verdict == "lowers" else float("nan")

    @property
    def share_range(self) -> tuple[float, float]:
        """Fieller's interval of :attr:`share` (NaN as :attr:`share`, or when the gain's interval is too wide)."""
        if self.gain_default.verdict != "lowers":
            return float("nan"), float("nan")
        return self.share_lo, self.share_hi


def recorded_recipe(rows: pd.DataFrame) -> dict:
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
    case = ", ".join(sorted(changed["case"].astype(str).unique())) if "case" in changed and len(changed) else "?"
    where = f"sensitivity {v.name} of {case} (results/{SENSITIVITY_DIR}/{case}/{v.name})"
    main = select_grid(main[main["m_target"] == m])
    changed = changed[changed["m_target"] == m]
    if not changed.empty and len(select_grid(changed)) < len(changed):
        raise ParameterError(f"{where}: the variant's rows hold {changed['params_id'].nunique()} runs "
                             f"({', '.join(sorted(changed['params_id'].astype(str).unique()))}); keep one")
    if changed.empty or main.empty:
        raise ParameterError(f"{where}: no rows at m = {'all' if m == ALL_M else m} "
                             f"({len(main)} in the grid, {len(changed)} in the variant)")
    expected = {**recorded_recipe(main), **v.overrides}
    got = recorded_recipe(changed)
    if got != expected:
        diff = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
        raise ParameterError(f"{where}: the variant's recipe differs from the grid's with "
                             f"{v.overrides} in {diff}: it is not the same protocol with one change")
    n = int(changed["n_source"].max())
    declared = v.n if v.n is not None else int(main["n_source"].max())
    if n != declared:
        raise ParameterError(f"{where}: the variant's rows are at n = {n:,}, but it reruns n = "
                             f"{declared:,} ({'the largest n' if v.n is None else 'its declared point'})")
    for col, what in (("code_version", "code"), ("data_sha256", "data")):
        a, b = set(main[main["n_source"] == n][col].astype(str)), set(changed[col].astype(str))
        if a and a != b:
            raise ParameterError(f"{where}: the variant ran on other {what} ({', '.join(sorted(b))}) than "
                                 f"the grid's point at n = {n:,} ({', '.join(sorted(a))}): rerun it on the grid's commit")
    mm, mc = (t[t["metric"] == metric] for t in (main, changed))
    if n not in set(mm["n_source"]) or 0 not in set(mm["n_source"]):
        raise ParameterError(f"{where}: the grid has no n = 0 or n = {n:,} at this m to pair with")
    if mc.groupby(["n_source", "trial"]).size().max() > 1:
        raise ParameterError(f"{where}: a trial of the variant has rows of several runs (the same trial "
                             "twice, or several seeds): keep one run")
    seeds_main = mm[mm["n_source"] == n].drop_duplicates("trial").set_index("trial")["seed"]
    seeds_var = mc[mc["n_source"] == n].drop_duplicates("trial").set_index("trial")["seed"]
    if sorted(seeds_var.index) != sorted(seeds_main.index) or not (seeds_main[seeds_var.index] == seeds_var).all():
        raise ParameterError(f"{where}: its trials {sorted(seeds_var.index)} or their seeds are not the "
                             f"grid's ({len(seeds_main)} trials at n = {n:,}): every trial must be paired")
    common = list(seeds_main.index)

    def row(t, n_):
        return t[t["n_source"] == n_].groupby("trial")["value"].mean()

    mat = pd.DataFrame({0: row(mm, 0), 1: row(mm, n), 2: row(mc, n)}).T.loc[:, list(common)]
    ratio = test_train_ratio(main, m)
    g_def, g_var, diff = (replace(paired_gain(mat, a, b, ratio=ratio), n=n) for a, b in ((1, 0), (2, 0), (2, 1)))
    means = mat.mean(axis=1)
    drawn = [int(round(drawn_n(t).get(n, n))) for t in (main, changed)]
    share = paired_ratio(mat.loc[2] - mat.loc[1], mat.loc[1] - mat.loc[0], ratio)
    out = Comparison(v, n, int(diff.trials), float(means[0]), float(means[1]), float(means[2]), g_def, g_var, diff,
                     n_default=drawn[0], n_changed=drawn[1], share_est=share[0], share_lo=min(share[1:]),
                     share_hi=max(share[1:]))
    # more data at equal compute: the grid's other n whose default schedule gives the variant's steps
    steps_main, steps_var = steps_by_n(main), steps_by_n(changed).get(n)
    same = [k for k, s in steps_main.items() if k not in (0, n) and steps_var is not None and s == steps_var]
    if same:
        other = max(same)
        mat3 = pd.DataFrame({"variant": mat.loc[2], "other": row(mm, other)}).T
        big, small = ("variant", "other") if n > other else ("other", "variant")
        g = paired_gain(mat3.rename(index={big: 1, small: 0}), 1, 0, ratio=ratio)
        n_other = int(round(drawn_n(main).get(other, other)))
        sizes = sorted([(n, drawn[1]), (other, n_other)])
        out = replace(out, same_compute=g, same_steps=int(steps_var), n_small=sizes[0][1], n_large=sizes[1][1])
    return out


def steps_by_n(rows: pd.DataFrame) -> dict[int, float]:
    """The pretraining steps of each n (median over trials, from the rows' params)."""
    steps = rows["params"].map(lambda p: json.loads(p).get("pretrain_steps"))
    return {int(k): float(v) for k, v in rows.assign(steps=steps).groupby("n_source")["steps"].median().dropna().items()}
