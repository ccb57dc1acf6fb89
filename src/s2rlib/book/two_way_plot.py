"""The two-way figure of a case run at several experimental sizes m: the error against n for each m, and
the fitted exponent alpha and transfer gap C against m (:func:`two_way_figure`). Shared styling and
helpers come from :mod:`s2rlib.book.plotting`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from s2rlib.book import findings
from s2rlib.law.fit_status import ALPHA_BOUNDS, CI_LEVEL
from s2rlib.book.plotting import DISPLAY_WIDTH_IN, MIN_FONT_PT, _n_range, label_log_y, metric_label, scaling_figure
from s2rlib._core.constants import ALL_M
from s2rlib.law.trial_stats import CaseFit


_M_COLORS = [sns.color_palette("colorblind")[i] for i in (0, 1, 2, 4, 3, 5, 8, 9)]
_M_MARKERS = ("o", "s", "^", "D", "P", "X", "h", "*")
#: dash patterns of the n = 0 lines, one per m (two baselines at nearly the same error stay apart)
_BASELINE_DASHES = ((6, 2), (10, 3), (6, 2, 2, 2), (12, 3, 3, 3), (8, 2, 2, 2, 2, 2))  # all dashed, never dotted


#: words the tables print, shortened to fit rotated inside a half-width panel (the caption and tables say more)
PANEL_WORDS = {findings.SHAPE_REJECTED: "form rejected"}
#: the m axis of panels (b) and (c) runs this factor beyond the smallest and largest m (the same in both)
M_MARGIN = 1.6
#: m tick labels closer than this factor are staggered (a label of 4 digits spans about a factor 3 of m)
STAGGER_RATIO = 4.0


def m_styles(k: int) -> tuple[list, list[str]]:
    """Colours and markers of ``k`` experimental sizes m (in order, smallest first, "all" last)."""
    return [_M_COLORS[i % len(_M_COLORS)] for i in range(k)], [_M_MARKERS[i % len(_M_MARKERS)] for i in range(k)]


def _m_position(m: int, m_all: float | None) -> float:
    return float(m_all) if m == ALL_M and m_all is not None else float(m)


def two_way_figure(fits_by_m: Mapping[int, CaseFit], *, m_all: float | None = None, level: float = CI_LEVEL):
    """The two-way (n, m) design: (a) error vs n, one curve per m; (b) alpha and (c) C against m.

    ``fits_by_m`` maps the experimental training size m (``-1`` = all experimental data) to its
    :class:`s2rlib.law.trial_stats.CaseFit`; ``m_all`` is where ``m = ALL_M`` (all) sits on the m axis (the mean
    number of experimental training + validation samples; without it the "all" fit is left out of
    panels b and c). Error bars in b and c are the 90% bootstrap intervals; hollow markers flag a
    fit whose status is not ``ok``; a C that is only bounded (no floor resolved) is drawn as a bar
    from 0 to its upper bound, capped by a downward triangle, with no point estimate. Panels b and c draw
    what the tables print (:func:`s2rlib.book.findings.fit_parameters`): an alpha that is a one-sided limit is
    its interval's bar without a point, and a parameter the tables give in words is those words.
    """
    fig = plt.figure(figsize=(DISPLAY_WIDTH_IN, 8.0), layout="constrained")
    gs = fig.add_gridspec(2, 2, height_ratios=[1.3, 1])
    ax = fig.add_subplot(gs[0, :])
    ax_a = fig.add_subplot(gs[1, 0])
    ax_c = fig.add_subplot(gs[1, 1])
    ms = sorted(fits_by_m, key=lambda m: (m == ALL_M, m))
    colors, markers = m_styles(len(ms))
    units = next(iter(fits_by_m.values())).units if fits_by_m else ""
    rows = []
    for color, marker, dash, m in zip(colors, markers, _BASELINE_DASHES * len(ms), ms):
        cf = fits_by_m[m]
        name = "all" if m == ALL_M else str(m)
        scaling_figure(cf, ax=ax, color=color, show_band=False, show_baseline=False, legend=False,
                       label=f"m = {name}", marker=marker)
        if np.isfinite(cf.baseline):
            nr = _n_range(cf)
            if nr is not None:
                ax.hlines(cf.baseline, nr[0] / 1.6, nr[1] * 1.6, color=color, lw=1.3, linestyles=[(0, dash)])
        if m == ALL_M and m_all is None:
            continue
        ci = cf.fit.ci(level)
        shown = findings.fit_parameters(cf.fit, level)  # what the tables print: panels b and c draw the same
        rows.append(dict(m=_m_position(m, m_all), label=name, color=color, marker=marker, status=cf.fit.status,
                         alpha_kind=shown["alpha"].kind, C_kind=shown["C"].kind,
                         alpha_words=shown["alpha"].value, C_words=shown["C"].value,
                         alpha=cf.fit.alpha, alpha_lo=ci["alpha"][0], alpha_hi=ci["alpha"][1],
                         C=cf.fit.C, C_lo=ci["C"][0], C_hi=ci["C"][1],
                         C_upper=cf.fit.floor_unresolved(level) and np.isfinite(ci["C"][1])))
    label_log_y(ax)
    ax.set_title("", loc="center")
    ax.set_title("(a) error vs n for each m (dashed: n = 0)", loc="left")
    ax.set_ylabel(metric_label(units))
    handles, labels = ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if lab.startswith("m = ")]
    if keep:  # outside the data: to the right of panel (a)
        ax.legend(*zip(*keep), loc="upper left", bbox_to_anchor=(1.01, 1.0), title="experimental\nsamples m",
                  frameon=False)
    df = pd.DataFrame(rows)
    for axis, key, title in ((ax_a, "alpha", "(b) exponent α"), (ax_c, "C", "(c) transfer gap C")):
        if not df.empty:
            _parameter_panel(axis, df, key)
        axis.set_xlabel("experiments, m")
        axis.set_title(title, loc="left")
    if m_all is not None and not df.empty and "all" in set(df["label"]):  # where the tick "all" sits
        ax_c.set_xlabel(f"m (all ≈ {m_all:,.0f})")
    ax_a.set_ylabel("α")
    ax_c.set_ylabel(metric_label(units).replace("test MAE", "C"))
    return fig


def _parameter_panel(axis, df: pd.DataFrame, key: str) -> None:
    """Panel (b) or (c): the fitted ``key`` ("alpha" or "C") against m, drawn as the tables print it."""
    top = _alpha_clip(df) if key == "alpha" else None
    for _, r in df.iterrows():
        v, lo, hi = r[key], r[f"{key}_lo"], r[f"{key}_hi"]
        if r[f"{key}_kind"] == findings.WORDS:  # the tables print words here: no point, the words
            axis.text(r["m"], 0.03, PANEL_WORDS.get(r[f"{key}_words"], r[f"{key}_words"]), rotation=90,
                      transform=axis.get_xaxis_transform(), ha="center", va="bottom",
                      fontsize=MIN_FONT_PT, color=r["color"])
            continue
        if not np.isfinite(v):
            continue
        if key == "C" and r["C_upper"]:  # only "C < hi": a bar from 0 capped by a downward marker
            axis.vlines(r["m"], 0, hi, color=r["color"], lw=1.5)
            axis.plot([r["m"]], [hi], marker="v", ms=8, color=r["color"], mfc="white", mec=r["color"])
            continue
        clipped = top is not None and np.isfinite(hi) and hi > top
        if clipped:  # an interval that runs to the search bound: drawn up to the clip, with an arrow
            axis.vlines(r["m"], max(lo, 0.0) if np.isfinite(lo) else v, top, color=r["color"], lw=1.2)
            axis.plot([r["m"]], [top], marker="^", ms=8, color=r["color"], clip_on=False, zorder=6)
            axis.annotate(f"to {hi:.3g}", (r["m"], top), xytext=(6, -2), textcoords="offset points",
                          ha="left", va="top", fontsize=MIN_FONT_PT, color=r["color"])
        if key == "alpha" and r["alpha_kind"] == findings.BOUND:  # a one-sided limit: its bar, no point
            if not clipped and np.isfinite(lo) and np.isfinite(hi):
                axis.vlines(r["m"], lo, hi, color=r["color"], lw=1.2)
            continue
        err = None
        if np.isfinite(lo) and np.isfinite(hi) and not clipped:
            err = np.array([[max(v - lo, 0.0)], [max(hi - v, 0.0)]])
        ax_kw = dict(mfc=r["color"] if r["status"] == "ok" else "white")
        axis.errorbar([r["m"]], [v], yerr=err, fmt=r["marker"], ms=7, color=r["color"], mec=r["color"],
                      capsize=3, **ax_kw)
    if top is not None:
        axis.set_ylim(0, top)
    good = df[np.isfinite(df[key]) & (df[f"{key}_kind"] == findings.ESTIMATE) & ~(df["C_upper"] if key == "C" else False)]
    axis.plot(good["m"], good[key], color="0.6", lw=1, zorder=0)
    axis.set_xscale("log")
    ticks = df["m"].to_numpy(dtype=float)
    labels = [str(lab) for lab in df["label"]]  # "all" sits at its mean size, which the axis label gives
    # neighbours closer than a factor STAGGER_RATIO on the log axis (100, 300 and 1000 in a half-width
    # panel) would overlap: every second one of them moves one line down
    for i in range(1, len(labels)):
        if ticks[i] / ticks[i - 1] < STAGGER_RATIO and not labels[i - 1].startswith("\n"):
            labels[i] = "\n" + labels[i]
    axis.set_xticks(ticks, labels)
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.minorticks_off()
    # the same m range in (b) and (c), set from the ticks: autoscaling from what each panel draws (a bar in
    # one panel, words in the other) squeezed (c)'s m = 100, 300 and 1000 into one run of digits
    axis.set_xlim(ticks.min() / M_MARGIN, ticks.max() * M_MARGIN)


def _alpha_clip(df: pd.DataFrame) -> float | None:
    """Top of panel (b) when an alpha interval runs to the search bound and would squash the others:
    1.25 x the largest alpha or interval end below the bound (None: nothing to clip)."""
    hi = df["alpha_hi"].to_numpy(dtype=float)
    bound = 0.99 * ALPHA_BOUNDS[1]
    if not (np.isfinite(hi) & (hi >= bound)).any():
        return None
    keep = np.concatenate([df["alpha"].to_numpy(dtype=float), hi[np.isfinite(hi) & (hi < bound)]])
    keep = keep[np.isfinite(keep)]
    return float(1.25 * keep.max()) if len(keep) and keep.max() > 0 else None
