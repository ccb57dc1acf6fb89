"""Protocol sensitivity in words and tables: what a rerun with one change does to the gain (numbers: :mod:`s2rlib.law.sensitivity`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from s2rlib._core.constants import ALL_M
from s2rlib.book.formatting import fmt, fmt_diff, units_after, units_suffix
from s2rlib.law.sensitivity import Comparison, recorded_recipe, steps_by_n
from s2rlib.law.trial_stats import Gain, drawn_n

def table(comparisons: list[Comparison], units: str = "") -> pd.DataFrame:
    """One row per variant: its n, the error by default and with the change, the paired change, and the gain
    against no pretraining both ways."""
    u = units_suffix(units)

    return pd.DataFrame([{
        "protocol": f"{c.variant.title}: {c.variant.words}", "n": f"{c.n_default or c.n:,}",
        f"MAE, default{u}": fmt(c.default), f"MAE, changed{u}": fmt(c.changed),
        "change [90% CI]": _diff(c.difference),
        "gain vs n = 0: default": _diff(c.gain_default), "gain vs n = 0: changed": _diff(c.gain_variant),
        "trials": str(c.trials),
    } for c in comparisons])


def _diff(g: Gain, u: str = "") -> str:
    """A paired difference with its interval, to the decimals the interval resolves: "+0.016 eV [+0.012, +0.021]"."""
    mean, ci = fmt_diff(g.mean, g.lo, g.hi)
    return f"{mean}{u} {ci}"


def _share(x: float) -> str:
    """A fraction as a percentage of the gain: 0.72 -> 72%; below 0.5%, "under 1%"."""
    return f"{abs(x):.0%}" if abs(x) >= 0.005 else "under 1%"


def _same_compute(c: Comparison, u: str) -> str:
    """More data at equal pretraining steps, when the grid has the other n at the variant's steps."""
    g = c.same_compute
    if g is None or not np.isfinite(g.mean):
        return ""
    what = {"lowers": "the larger database is better even at equal compute",
            "raises": "the larger database is worse at equal compute",
            "no_effect": "the data alone make no detectable difference"}.get(g.verdict, "")
    allows = ""
    if g.verdict == "no_effect" and c.gain_default.verdict == "lowers" and c.gain_default.mean:
        allows = f" (the interval allows up to {_share(max(abs(g.lo), abs(g.hi)) / abs(c.gain_default.mean))} of the default gain)"
    return (f" At the same {c.same_steps:,} pretraining steps, n = {c.n_large:,} against n = {c.n_small:,} changes the "
            f"error by {_diff(g, u)}: {what}{allows}.")


def sentence(c: Comparison, units: str = "") -> str:
    """What one variant shows, in words whose verdict follows from the difference's interval."""
    u = units_after(units)
    d = c.difference
    drawn = (f" ({c.n_changed:,} samples drawn instead of {c.n_default:,})" if c.n_changed and c.n_default
             and c.n_changed != c.n_default else "")
    at = "at the largest n" if c.variant.n is None else f"at n = {c.n_default or c.n:,}"
    head = (f"With {c.variant.article}{c.variant.title} ({c.variant.words}) the error {at} is {fmt(c.changed)}{u}{drawn} "
            f"against {fmt(c.default)}{u} by default{f' (n = {c.n_default or c.n:,})' if c.variant.n is None else ''}, "
            f"a change of {_diff(d, u)} over {c.trials} paired trials")
    lo, hi = c.share_range
    tail = _same_compute(c, u)
    if d.verdict == "no_effect":
        allows = ""
        if c.gain_default.verdict == "lowers" and c.gain_default.mean:
            allows = (f"; the interval allows a change of up to "
                      f"{_share(max(abs(d.lo), abs(d.hi)) / abs(c.gain_default.mean))} of the default gain")
        elif "{share}" in c.variant.if_lowers + c.variant.if_raises:  # a variant that splits the default gain
            allows = {
                "no_effect": "; the default gain over n = 0 is itself not detected, so its share cannot be estimated",
                "raises": "; by default pretraining makes the error worse here, so there is no gain to take a share of",
            }.get(c.gain_default.verdict, "")
        return head + f": no detectable effect{allows} (the question it asks: {c.variant.question})." + tail
    if d.verdict == "unknown":
        return head + "." + tail
    direction = "lowers" if d.verdict == "lowers" else "raises"
    meaning = c.variant.if_lowers if direction == "lowers" else c.variant.if_raises
    if "{share}" in meaning:
        share = c.share
        if not np.isfinite(share):  # no detected default gain to take a share of
            return head + f": the change {direction} the error." + tail
        if abs(share) > 1 and c.variant.beyond_gain:
            meaning = c.variant.beyond_gain
        else:
            rng = (f" ({_share(min(abs(lo), abs(hi)))} to {_share(max(abs(lo), abs(hi)))})"
                   if np.isfinite(lo) and np.isfinite(hi) and lo * hi > 0 else "")
            meaning = meaning.format(share=f"{_share(share)}{rng}")
    text = head + f": the change {direction} the error; {meaning}." if meaning else head + f": the change {direction} the error."
    return text + tail


def grid_protocol(main: pd.DataFrame, m: int = ALL_M) -> str:
    """What the chapter's own grid does on the two counts the variants change, read from its rows: whether
    the test materials' simulations were withheld from pretraining, and the pretraining steps along n."""
    sub = main[main["m_target"] == m]
    by_n = steps_by_n(sub) if len(sub) else {}  # the steps vary a little with the samples each trial draws
    steps = pd.Series({n: v for n, v in by_n.items() if n > 0}, dtype=float).sort_index()
    recipe = recorded_recipe(sub) if len(sub) else {}
    withheld = recipe.get("withhold_test_sources")
    if withheld is None:  # rows written before the field: read it from what was drawn at the largest n
        drawn = drawn_n(sub)
        top = max(drawn) if drawn else None
        withheld = top is not None and drawn[top] < top - 0.5
    parts = [f"In this chapter's grid the test materials' simulations are "
             f"{'withheld from' if withheld else 'allowed into'} pretraining"]
    if len(steps) and steps.nunique() == 1:
        parts.append(f"pretraining runs {int(steps.iloc[0]):,} steps at every n > 0")
    elif len(steps):
        parts.append(f"pretraining runs {int(steps.iloc[0]):,} steps at n = {int(steps.index[0]):,} and "
                     f"{int(steps.iloc[-1]):,} at the largest n")
    return "; ".join(parts) + "."


def steps_sentence(main: pd.DataFrame, m: int = ALL_M) -> str:
    """When the pretraining steps change along the grid's n > 0 (a schedule in epochs with a floor), one
    sentence that says so, with the steps per n: the law's n axis then measures data and compute together.
    "" when every n > 0 gets the same steps (or none are recorded)."""
    sub = main[main["m_target"] == m]
    steps = {n: s for n, s in steps_by_n(sub).items() if n > 0}
    if len(set(steps.values())) < 2:
        return ""
    drawn = drawn_n(sub)
    groups: dict[float, list[int]] = {}
    for n in sorted(steps):
        groups.setdefault(steps[n], []).append(int(round(drawn.get(n, n))))
    parts = [f"{int(s):,} at n ≤ {max(ns):,}" if len(ns) > 1 else f"{int(s):,} at n = {ns[0]:,}"
             for s, ns in sorted(groups.items(), key=lambda kv: min(kv[1]))]
    return ("Along this grid the pretraining steps grow with n (" + ", ".join(parts[:-1]) + f" and {parts[-1]}), so "
            "the law's n axis measures more data and more pretraining compute together.")
