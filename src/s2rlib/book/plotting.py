"""The book's figures, in one seaborn style.

* :func:`scaling_figure` — one case: test error (real units) vs the number of computational
  samples ``n`` on log-log axes; trial means with 90% error bars, the fitted law
  ``R(n) = D n^-alpha + C`` as a line with its 90% bootstrap band, and the no-pretraining
  baseline (n = 0) as a horizontal line with its band (n = 0 cannot sit on a log axis).
* :func:`summary_figure` — every case's error divided by its own baseline, on one set of axes.
* :func:`two_way_figure` — the two-way (n, m) design: one curve per experimental size m, and the
  fitted alpha and C against m.

Every function takes :class:`s2rlib.law.trial_stats.CaseFit` objects, draws on a given ``ax`` (or a new
figure) and returns the matplotlib ``Figure``; nothing is shown or saved here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import Formatter, LogLocator, NullFormatter
from scipy import stats

from s2rlib.book import findings
from s2rlib.cases.registry import builtin_names
from s2rlib.cases.registry import names as case_names
from s2rlib.law.derived import normalised_curve
from s2rlib.law.fit_status import CI_LEVEL
from s2rlib.book.formatting import fmt
from s2rlib.book.law_words import NO_FLOOR, law_parts
from s2rlib.law.trial_stats import CaseFit
from s2rlib._core.constants import ALL_M

#: the order (and therefore the colour) of the case studies in every figure
CASE_ORDER = tuple(builtin_names())  # from the case registry; user cases follow in registry order
_PALETTE = sns.color_palette("colorblind", 8)
BASELINE_COLOR = "0.35"
#: Figures are drawn DISPLAY_WIDTH_IN wide and shown at DPI CSS px per inch, as PNGs of RETINA times that
#: resolution (the notebook's inline backend in its ``retina`` format, which writes the shown width into the
#: output; sharp on high-density screens). 5.4 in is 540 CSS px (about 552 px with the tight bounding box's
#: margin; legend entries wrap at LEGEND_CHARS and long titles take two lines, so neither widens it), less than the 672 px text column at a
#: 1280 px window: a figure is shown at its natural size there, and its smallest text, MIN_FONT_PT points, is
#: about 17 px, as large as the body text. On a 390 px phone the column is 342 px and the figure shrinks to
#: 62%: its smallest text is still 10 px (tests/test_browser.py measures both).
DPI = 100
RETINA = 2
DISPLAY_WIDTH_IN = 5.4
FIGSIZE = (DISPLAY_WIDTH_IN, 4.1)
#: smallest font size in any figure (points, at natural size)
MIN_FONT_PT = 12


def set_style() -> None:
    """The book's one style: seaborn ``ticks`` with the colour-blind palette, local fonts only."""
    sns.set_theme(context="notebook", style="ticks", palette="colorblind", font="DejaVu Sans",
                  rc={"axes.grid": True, "grid.alpha": 0.35, "grid.linewidth": 0.6, "axes.spines.top": False,
                      "axes.spines.right": False, "legend.frameon": False, "figure.dpi": DPI,
                      "savefig.dpi": DPI, "axes.titleweight": "bold", "axes.titlesize": MIN_FONT_PT + 1,
                      "axes.labelsize": MIN_FONT_PT, "xtick.labelsize": MIN_FONT_PT, "ytick.labelsize": MIN_FONT_PT,
                      "legend.fontsize": MIN_FONT_PT, "legend.title_fontsize": MIN_FONT_PT,
                      "font.size": MIN_FONT_PT})


def _retina_inline() -> None:
    """In a notebook (the book's pages, the tutorial), figures are shown as RETINA-resolution PNGs."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # pragma: no cover - plotting outside Jupyter
        return
    if get_ipython() is not None and RETINA == 2:
        set_matplotlib_formats("retina")


set_style()
_retina_inline()


def case_color(case: str, i: int = 0):
    """A fixed colour per case study (so one case looks the same in every figure)."""
    order = case_names()
    if case in order:
        return _PALETTE[order.index(case) % len(_PALETTE)]
    return _PALETTE[(len(order) + i) % len(_PALETTE)]


_CASE_NAMES = {"chi": "Flory–Huggins χ"}


def pretty_case(case: str) -> str:
    return _CASE_NAMES.get(case, case.replace("_", " "))


def metric_label(units: str, metric: str = "mae") -> str:
    """Axis label of the error, with units unless the property is dimensionless."""
    name = {"mae": "test MAE", "rmse": "test RMSE"}.get(metric, metric)
    if not units or units.lower() in ("dimensionless", "-", "1"):
        return f"{name} (dimensionless)"
    return f"{name} ({units.replace('^3', '³')})"


N_LABEL = "computational samples for pretraining, n"


def _half_width(sem: pd.Series, trials: int, level: float = CI_LEVEL, ratio: float = 0.0) -> pd.Series:
    """Half width of the corrected t interval of a mean over ``trials`` trials (NaN with fewer than two).

    As :meth:`s2rlib.law.trial_stats.CaseFit.mean_interval`: ``sem * sqrt(1 + trials * ratio) * t_{trials-1}``
    with ``ratio`` = n_test / n_pool (the Nadeau-Bengio correction for overlapping re-splits).
    """
    if trials < 2:
        return sem * np.nan
    return sem * np.sqrt(1 + trials * ratio) * stats.t.ppf(0.5 + level / 2, trials - 1)


def _positive(series: pd.Series) -> pd.Series:
    idx = pd.to_numeric(pd.Index(series.index), errors="coerce")
    return series[(idx > 0) & np.isfinite(idx)]


def law_band(case_fit: CaseFit, n: np.ndarray, level: float = CI_LEVEL) -> tuple[np.ndarray, np.ndarray] | None:
    """Pointwise percentile band of the law over the bootstrap draws at ``n`` (None without draws)."""
    boot = case_fit.fit.boot
    if boot is None:
        return None
    b = np.asarray(boot, dtype=float)
    b = b[np.isfinite(b).all(axis=1)]
    if len(b) < 10:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        pred = b[:, [0]] * n[None, :] ** (-b[:, [1]]) + b[:, [2]]
    q = 50 * (1 - level)
    lo, hi = np.nanpercentile(pred, [q, 100 - q], axis=0)
    return lo, hi


def law_label(case_fit: CaseFit, units: str | None = None) -> str:
    """The fitted law as a legend entry (the status is not a label: see :func:`law_style`).

    The decision of :func:`s2rlib.book.law_words.law_parts`: a fit that shows no fall with n is the constant
    it reduces to, an unresolved floor is ``+ C (C < x)`` or no floor at all, and only an ``ok`` fit
    is called a law.
    """
    f = case_fit.fit
    p = law_parts(f)
    if p.kind == "none":
        return "no law fitted"
    if p.kind == "constant":  # the best "law" is a flat line: say so
        why = "no fall with n" if (f.status == "no_decrease" or f.D <= 0) else "no fall with n detected"
        return f"{why}: a constant, {fmt(p.value)}"
    if p.kind == "unidentified":  # the tables print no law: neither does the legend
        return "fitted curve, α at its bound: no law identified" if f.status == "alpha_at_bound" else \
            "fitted curve: no law identified"
    name = {"ok": "fitted law", "C_at_bound": f"fitted law, {NO_FLOOR}",
            "alpha_at_bound": "fitted curve, α at its bound"}.get(str(f.status), "fitted curve, not identified")
    law = f"{name}: {fmt(p.D)} n$^{{-{fmt(p.alpha)}}}$"
    return {"bound": f"{law} + C (C < {fmt(p.value)})", "zero": f"{law} ({NO_FLOOR})",
            "unknown": f"{law} + C ({NO_FLOOR})"}.get(p.floor, f"{law} + {fmt(p.value)}")


def law_style(case_fit: CaseFit) -> str:
    """Line style of a fitted law: solid when the fit's status is ``ok``, dotted otherwise."""
    return "-" if case_fit.fit.status == "ok" else ":"


def _log_axes(ax) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))


def _g(v, _pos=None) -> str:
    return f"{v:.3g}"


class TickLabels(Formatter):
    """Plain tick labels with one number of decimals per axis: ``1.00, 1.05, 1.10`` and ``0.050, 0.054``,
    never ``1, 1.05, 1.1`` side by side.

    The decimals are the most any visible tick needs at 3 significant figures. Where the visible
    ticks span a decade or more (a log axis over several decades) each keeps its own (``0.01, 0.1, 1``).
    """

    def __call__(self, x, pos=None) -> str:
        decimals = getattr(self, "_decimals", None)
        return _g(x) if decimals is None else f"{x:.{decimals}f}"

    def set_locs(self, locs) -> None:
        lo, hi = sorted(self.axis.get_view_interval()) if self.axis is not None else (-np.inf, np.inf)
        vis = [float(v) for v in locs if lo - 1e-12 * abs(lo) <= v <= hi + 1e-12 * abs(hi) and v != 0]
        self._decimals = None
        if not vis or "e" in "".join(_g(v) for v in vis):
            return
        pos = [abs(v) for v in vis]
        if min(vis) > 0 and max(pos) / min(pos) >= 10:
            return
        self._decimals = max(len(_g(v).partition(".")[2]) for v in vis)


def label_log_y(ax) -> None:
    """Readable tick labels on a log y axis that spans less than a few decades.

    Matplotlib labels only powers of ten on a log axis, so an error axis from 0.38 to 0.65 would
    carry no number at all; here the ticks are 1-2-5 (or 1..9) multiples with plain labels.
    Call after everything is drawn (it reads the final limits).
    """
    lo, hi = ax.get_ylim()
    if not (lo > 0 and hi > lo):
        return
    decades = np.log10(hi / lo)
    if decades > 2.5:  # powers of ten, written as plain numbers like every other axis of the book
        ax.yaxis.set_major_formatter(TickLabels())
        return
    subs = tuple(np.arange(1.0, 10.0, 0.5)) if decades < 0.25 else \
        (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0) if decades < 0.6 else \
        (1.0, 2.0, 3.0, 4.0, 5.0, 7.0) if decades < 1.3 else (1.0, 2.0, 5.0)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(TickLabels())
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=np.arange(1, 10) / 1.0))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _new_ax(ax, figsize=FIGSIZE):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


#: characters of MIN_FONT_PT text that fit beside a legend handle in a DISPLAY_WIDTH_IN wide figure
LEGEND_CHARS = 50


def wrap_label(label: str, width: int = LEGEND_CHARS) -> str:
    """A legend entry broken into lines of at most ``width`` characters, at spaces outside ``$...$`` math
    (a longer entry would widen the figure past its display width, and shrink its text on a phone)."""
    lines, line, in_math = [], "", False
    for word in label.split(" "):
        candidate = f"{line} {word}" if line else word
        if line and not in_math and len(candidate.replace("$", "")) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
        in_math ^= word.count("$") % 2 == 1
    return "\n".join([*lines, line])


def legend_below(fig, ax, ncols: int = 2, **kw) -> None:
    """The legend under the axes, outside the data (constrained layout makes room for it)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        if max(len(lab.replace("$", "")) for lab in labels) > LEGEND_CHARS // ncols:  # long entries: one per row
            ncols = 1
        labels = [wrap_label(lab) for lab in labels]
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False, **kw)


def _n_range(case_fit: CaseFit) -> tuple[float, float] | None:
    pos = _positive(case_fit.mean.dropna())
    if pos.empty:
        return None
    idx = pos.index.to_numpy(dtype=float)
    return float(idx.min()), float(idx.max())


def scaling_figure(case_fit: CaseFit, ax=None, *, color=None, title: str | None = None, show_band: bool = True,
                   show_baseline: bool = True, label: str | None = None, legend: bool = True,
                   level: float = CI_LEVEL, marker: str = "o"):
    """Test error vs n (log-log) with trial means, the fitted law, its 90% band and the n = 0 baseline.

    ``case_fit`` is a :class:`s2rlib.law.trial_stats.CaseFit`; error bars are the 90% t-interval of the
    mean over trials; the band is the pointwise 90% percentile band of the law over the bootstrap
    draws; the baseline (no pretraining, n = 0) is the horizontal line with its own 90% band.
    Returns the Figure.
    """
    fig, ax = _new_ax(ax)
    color = color if color is not None else case_color(case_fit.case)
    units = case_fit.units
    pos = _positive(case_fit.mean.dropna())
    half = _half_width(case_fit.sem.reindex(pos.index), case_fit.trials, level, getattr(case_fit, "ratio", 0.0))
    nr = _n_range(case_fit)
    if show_baseline and np.isfinite(case_fit.baseline):
        b_half = float(_half_width(case_fit.sem.reindex([0]), case_fit.trials, level,
                                     getattr(case_fit, "ratio", 0.0)).iloc[0]) \
            if 0 in case_fit.sem.index else float("nan")
        ax.axhline(case_fit.baseline, color=BASELINE_COLOR, lw=1.4, ls="--",
                   label=f"no pretraining (n = 0): {fmt(case_fit.baseline)}")
        if np.isfinite(b_half) and b_half > 0:
            ax.axhspan(case_fit.baseline - b_half, case_fit.baseline + b_half, color=BASELINE_COLOR, alpha=0.12, lw=0)
    if nr is not None:
        f = case_fit.fit
        if f.usable and findings.shows_constant(f):  # no fall with n: the constant, without a law's band
            ax.plot([nr[0], nr[1]], [findings.fitted_constant(f)] * 2, color=color, lw=2, ls=law_style(case_fit),
                    label=law_label(case_fit) if label is None else label)
        elif f.usable:
            grid = np.geomspace(nr[0], nr[1], 200)
            if show_band:
                band = law_band(case_fit, grid, level)
                if band is not None:
                    ax.fill_between(grid, band[0], band[1], color=color, alpha=0.2, lw=0,
                                    label=f"{int(round(level * 100))}% band of the "
                                          + ("law" if f.status == "ok" else "fitted curve"))
            ax.plot(grid, f.predict(grid), color=color, lw=2, ls=law_style(case_fit),
                    label=law_label(case_fit) if label is None else label)
        yerr = half.to_numpy(dtype=float)
        yerr = None if not np.isfinite(yerr).any() else np.where(np.isfinite(yerr), yerr, 0.0)
        ax.errorbar(pos.index.to_numpy(dtype=float), pos.to_numpy(dtype=float), yerr=yerr, fmt=marker, ms=6,
                    color=color, mec="white", mew=0.8, capsize=3, lw=1.2, zorder=5,
                    label=f"mean of {case_fit.trials} trials ({int(round(level * 100))}% CI)")
        ax.set_xlim(nr[0] / 1.6, nr[1] * 1.6)
    _log_axes(ax)
    ax.set_xlabel(N_LABEL)
    ax.set_ylabel(metric_label(units))
    m = case_fit.m_target
    ax.set_title(title if title is not None else
                 f"{pretty_case(case_fit.case)}" + ("" if m == ALL_M else f" (m = {m} experimental samples)"))
    label_log_y(ax)
    if legend:
        legend_below(fig, ax)
    return fig


#: marker per sensitivity variant (s2rlib.law.sensitivity.VARIANTS)
VARIANT_MARKERS = {"fixed_steps": "v", "more_steps": "^", "lookup": "D"}


def sensitivity_figure(case_fit: CaseFit, comparisons, level: float = CI_LEVEL):
    """The default grid's trial means against n (log-log, joined by a thin line, no law) with each protocol
    variant (:class:`s2rlib.law.sensitivity.Comparison`) as a marker at its n. A variant's bar is the default
    mean there plus the 90% interval of the paired change: what the change does, trial by trial."""
    fig, ax = _new_ax(None)
    color = case_color(case_fit.case)
    pos = _positive(case_fit.mean.dropna())
    half = _half_width(case_fit.sem.reindex(pos.index), case_fit.trials, level, getattr(case_fit, "ratio", 0.0))
    if np.isfinite(case_fit.baseline):
        ax.axhline(case_fit.baseline, color=BASELINE_COLOR, lw=1.4, ls="--",
                   label=f"no pretraining (n = 0): {fmt(case_fit.baseline)}")
    ax.errorbar(pos.index.to_numpy(dtype=float), pos.to_numpy(dtype=float), yerr=half.to_numpy(dtype=float),
                fmt="o-", ms=6, lw=1.0, color=color, mec="white", mew=0.8, capsize=3, zorder=4,
                label=f"default protocol, mean of {case_fit.trials} trials ({int(round(level * 100))}% CI)")
    for i, c in enumerate(comparisons):
        d = c.difference
        x = float(c.n_default or c.n)
        lo, hi = c.default + d.lo, c.default + d.hi
        ax.errorbar([x * (1.08 + 0.06 * i)], [c.changed], yerr=[[max(c.changed - lo, 0)], [max(hi - c.changed, 0)]],
                    fmt=VARIANT_MARKERS.get(c.variant.name, "s"), ms=8, color=sns.color_palette("dark")[i + 1],
                    mec="white", mew=0.8, capsize=3, zorder=5, label=f"{c.variant.title} (paired change, "
                    f"{int(round(level * 100))}% CI)")
    _log_axes(ax)
    ax.set_xlabel(N_LABEL)
    ax.set_ylabel(metric_label(case_fit.units))
    ax.set_title(f"{pretty_case(case_fit.case)}:\none protocol change at a time")
    label_log_y(ax)
    legend_below(fig, ax, ncols=1)
    return fig


def _as_list(case_fits) -> list[CaseFit]:
    if isinstance(case_fits, Mapping):
        return list(case_fits.values())
    return list(case_fits)


def summary_figure(case_fits: Sequence[CaseFit] | Mapping[str, CaseFit], ax=None, level: float = CI_LEVEL):
    """Every case's mean error divided by its n = 0 baseline vs n (log n axis, linear ratio axis), with the laws.

    A value below 1 means pretraining on n simulations beats learning from experiment alone; the
    dashed line at 1 is every case's baseline. Error bars are the 90% intervals of the paired gain
    error(n) - error(0) over the same trials, corrected for overlapping re-splits, as a ratio to the
    baseline (``1 + gain / baseline``; the interval of the gain tables, :func:`s2rlib.law.derived.normalised_curve`):
    a bar that stays below 1 is a detectable gain. Laws are solid when the fit's status is ``ok``,
    dotted otherwise; a case whose data show no fall with n (a constant fits as well) has no line. A
    case without an n = 0 run is divided by its error at the smallest n instead (said in the legend;
    its bars are then the corrected intervals of the means).
    """
    fig, ax = _new_ax(ax, figsize=(DISPLAY_WIDTH_IN, 4.6))
    fits = _as_list(case_fits)
    ax.axhline(1.0, color=BASELINE_COLOR, lw=1.4, ls="--", label="no pretraining (n = 0)")
    any_points = False
    for i, cf in enumerate(fits):
        df = normalised_curve(cf)
        df = df[(df["n"] > 0) & np.isfinite(df["norm"])]
        if df.empty:
            continue
        any_points = True
        color = case_color(cf.case, i)
        ref = str(df["reference"].iloc[0])
        name = pretty_case(cf.case) + ("" if ref == "baseline" else " (÷ error at smallest n)")
        ref_value = (df["mean"] / df["norm"]).to_numpy(dtype=float)
        norm = df["norm"].to_numpy(dtype=float)
        lo, hi = df["norm_lo"].to_numpy(dtype=float), df["norm_hi"].to_numpy(dtype=float)
        # the paired gain's interval as a ratio to n = 0 (insights.normalised_curve): asymmetric bars
        yerr = np.vstack([np.where(np.isfinite(lo), np.maximum(norm - lo, 0.0), 0.0),
                          np.where(np.isfinite(hi), np.maximum(hi - norm, 0.0), 0.0)])
        dodge = 10 ** (0.03 * (i - (len(fits) - 1) / 2))  # cases side by side at a shared n, not on top
        ax.errorbar(df["n"] * dodge, norm, yerr=yerr, fmt="o", ms=5, color=color, mec="white", mew=0.7,
                    capsize=2, lw=1, zorder=5, label=name)
        if cf.fit.usable and df["law"].notna().any() and not findings.shows_constant(cf.fit):
            grid = np.geomspace(df["n"].min(), df["n"].max(), 200)
            ref_value = float(pd.Series(ref_value).dropna().iloc[0])
            ax.plot(grid, cf.fit.predict(grid) / ref_value, color=color, lw=1.8, ls=law_style(cf))
    _log_axes(ax)
    ax.set_xlabel(N_LABEL)
    ax.set_yscale("linear")  # ratios near 1: a linear axis reads directly as "x% below the baseline"
    ax.yaxis.set_major_formatter(TickLabels())
    ax.set_ylabel("test MAE / MAE without pretraining")
    ax.set_title("All case studies, each relative to its own baseline")
    if any_points:
        legend_below(fig, ax, ncols=3)
    return fig


def answer_figure(rows: pd.DataFrame, ax=None):
    """The landing page's figure: per case, the change of the error with the largest database against none,
    in % of the error without pretraining, with 100 experiments (filled) and with every experiment (open);
    bars are the corrected 90% intervals (``rows``: :func:`s2rlib.book.equal_m.answer_rows`)."""
    cases = [c for c in CASE_ORDER if c in set(rows["case"])] + sorted(set(rows["case"]) - set(CASE_ORDER))
    fig, ax = _new_ax(ax, figsize=(DISPLAY_WIDTH_IN, 0.34 * len(cases) + 0.85))
    ax.axvline(0.0, color=BASELINE_COLOR, lw=1.4, ls="--")
    for i, case in enumerate(cases):
        color = case_color(case, i)
        for m, dy, filled in ((100, -0.16, True), (ALL_M, 0.16, False)):
            r = rows[(rows["case"] == case) & (rows["m"] == m)]
            if r.empty:
                continue
            r = r.iloc[0]
            ax.errorbar([r["pct"]], [i + dy], xerr=[[r["pct"] - r["lo"]], [r["hi"] - r["pct"]]], fmt="o", ms=8,
                        color=color, mfc=color if filled else "white", mew=1.6, capsize=3, lw=1.4, zorder=5)
    ax.set_yticks(range(len(cases)), [pretty_case(c) for c in cases])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("change of the error on new experiments (%)")
    handles = [plt.Line2D([], [], marker="o", ls="", color="0.25", ms=8, label="100 experiments"),
               plt.Line2D([], [], marker="o", ls="", color="0.25", mfc="white", mew=1.6, ms=8,
                          label="every experiment")]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)
    return fig


def close(fig) -> None:
    plt.close(fig)


__all__ = ["set_style", "scaling_figure", "summary_figure", "law_band",
           "answer_figure", "case_color", "metric_label", "law_style", "CASE_ORDER", "DPI", "RETINA", "DISPLAY_WIDTH_IN", "MIN_FONT_PT"]
