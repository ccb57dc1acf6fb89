"""The book's "data or compute?" page: the n x pretraining-length factorial in sentences, a table and a figure.

Reads ``results/factorial/<case>.json``, which ``benchmarks/factorial.py`` writes from the factorial's
points (:mod:`s2rlib.law.factorial` pairs them; ``tests/test_factorial.py`` checks the committed file is
what the script computes from the committed points). Nothing here computes a statistic: it words and
draws the numbers of that file.

* :func:`load` — the file, checked (a clear error names it and the missing field);
* :func:`compute_sentences` — the answer: the compute share of the grid's gain at the largest n, and
  whether more data still helps when every n is pretrained to convergence;
* :func:`effects_table` — every paired effect of one m in words;
* :func:`factorial_figure` — mean error against n, one line per pretraining length, one panel per m.
"""

from __future__ import annotations

import math

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from s2rlib._core.constants import ALL_M
from s2rlib._core.errors import DataError
from s2rlib._core.paths import results_root
from s2rlib.book.findings import status_link
from s2rlib.book.formatting import fmt, fmt_diff_cell, fmt_n, join_words
from s2rlib.law.fit_status import AIC_MARGIN
from s2rlib.book.plotting import BASELINE_COLOR, DISPLAY_WIDTH_IN, legend_below

__all__ = ["load", "compute_sentences", "curve_sentences", "effects_table", "factorial_figure", "LENGTH_ORDER"]

#: the pretraining lengths in the order (and line style) of the figure
LENGTH_ORDER = ("1,000 steps", "5,580 steps", "converged")
_REQUIRED = ("case", "by_m")
_VERDICT = {"lowers": "lower error", "raises": "higher error", "no_effect": "no detectable change"}


def load(case: str = "formation_enthalpy", root: str | Path | None = None) -> dict | None:
    """The factorial of ``case`` (``results/factorial/<case>.json``); None where it was not run."""
    path = results_root(root) / "factorial" / f"{case}.json"
    if not path.is_file():
        return None
    try:
        res = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); regenerate it with benchmarks/factorial.py") from exc
    missing = [k for k in _REQUIRED if k not in res]
    if missing:
        raise DataError(f"{path}: missing field(s) {missing}; regenerate it with benchmarks/factorial.py")
    return res


def _whole_pct(share: float) -> str:
    """A share as a whole percentage (an interval end above 100% stays visible: 101%, not 100%)."""
    return f"{100 * share:.0f}%".replace("-", "−")


def _m_words(m) -> str:
    return "every experiment" if int(m) == ALL_M else f"{fmt_n(int(m))} experiments"


def _effect(b: dict, kind: str, **match) -> dict | None:
    for e in b["effects"]:
        if e["effect"] == kind and all(e.get(k) == v for k, v in match.items()):
            return e
    return None


def _ms(res: dict) -> list[str]:
    """The m of the file, scarce experiments first, every experiment last."""
    return sorted(res["by_m"], key=lambda m: (int(m) == ALL_M, int(m)))


def compute_sentences(res: dict, units: str = "") -> str:
    """Per m, how much of the grid's gain at the largest n is compute, and whether data still helps at
    converged pretraining (the answer the page opens with)."""
    out = []
    u = f" {units}" if units else ""
    for m in _ms(res):
        b = res["by_m"][m]
        share, step = b.get("share_max"), b.get("share_step")
        n_max, n_below = b["n_max"], b["n_below"]
        long = b["grid_length"].get(str(n_max))
        bounded = share and all(share.get(k) is not None and math.isfinite(share[k]) for k in ("est", "lo", "hi"))
        if share and share.get("est") is not None and not bounded:
            gain = _effect(b, "gain", n=int(n_max), length=long)
            out.append(f"With {_m_words(m)}, no compute share is given: the grid's gain at the whole database "
                       f"(n = {fmt_n(n_max)}, {long})"
                       + (f", {fmt_diff_cell(gain['mean'], gain['lo'], gain['hi'])}{u}," if gain else "")
                       + " is not told apart from no gain, and a share of an undetected gain has no interval.")
        elif bounded:
            out.append(f"With {_m_words(m)}, {_whole_pct(share['est'])} "
                       f"[{_whole_pct(share['lo'])}, {_whole_pct(share['hi'])}] of the grid's gain at the whole database "
                       f"(n = {fmt_n(n_max)}) comes from its longer pretraining ({long} instead of {b['short']}), "
                       f"and {_whole_pct(step['est'])} [{_whole_pct(step['lo'])}, {_whole_pct(step['hi'])}] of its drop "
                       f"from n = {fmt_n(n_below)}.")
        data = [e for e in b["effects"] if e["effect"] == "data" and e["length"] == "converged"]
        if data:
            lowers = [e for e in data if e["verdict"] == "lowers"]
            steps = join_words([f"n = {fmt_n(e['from'])} → {fmt_n(e['to'])} "
                                f"({fmt_diff_cell(e['mean'], e['lo'], e['hi'])}{u}"
                                f"{'' if len(lowers) == len(data) else ', ' + _VERDICT[e['verdict']]})"
                                for e in data])
            verdict = ("more data lowers the error at every step" if len(lowers) == len(data) else
                       "more data lowers the error at no step" if not lowers else
                       f"more data lowers the error at {len(lowers)} of {len(data)} steps")
            out.append(f"Pretrained to convergence at every n, {verdict}: {steps}.")
        against = []
        for n, grid in sorted(b["grid_length"].items(), key=lambda kv: int(kv[0])):
            conv = _effect(b, "compute", n=int(n), **{"from": grid, "to": "converged"})
            if conv:
                against.append(f"at n = {fmt_n(int(n))} (the grid's {grid}) "
                               f"{fmt_diff_cell(conv['mean'], conv['lo'], conv['hi'])}{u}, {_VERDICT[conv['verdict']]}")
        if against:
            out.append(f"Converged pretraining against the grid's own length: {'; '.join(against)}.")
        out.append("\n\n")
    return " ".join(out).replace(" \n\n ", "\n\n").strip()


def curve_sentences(res: dict) -> str:
    """Per m of the converged curve: the paper's law's fit (goodness of fit, alpha) and the reported form's
    status, and whether a derived number follows ("" without a converged curve)."""
    out = []
    for m in sorted(res.get("curve") or {}, key=lambda m: (int(m) == ALL_M, int(m))):
        c = res["curve"][m]
        law, rep = c["fits"].get("law"), c["fits"].get(c["chosen"])
        if not law or not rep:
            continue
        fits = "passes" if law["p_value"] >= 0.05 else "fails"
        text = (f"With {_m_words(m)}, on the converged curve ({len(c['mean'])} sizes, n = 0 included, "
                f"{c['trials']} trials) the paper's law {fits} the goodness-of-fit test (χ² = {law['chi2']:.1f} on "
                f"{law['dof']} degrees of freedom, p = {fmt(law['p_value'], 2)}; its status: {status_link(law['status'])}) "
                f"with $\\alpha$ = {fmt(law['alpha'], 2)} "
                f"[{fmt(law['alpha_ci'][0], 2)}, {fmt(law['alpha_ci'][1], 2)}], "
                + (f"better than a constant (AIC lower by {law['aic_vs_constant']:.1f})"
                   if law["aic_vs_constant"] > AIC_MARGIN else
                   f"no better than a constant (AIC difference {law['aic_vs_constant']:.1f})".replace("-", "−"))
                + f"; the reported {c['chosen']} form's status "
                f"is {status_link(rep['status'])}")
        supported = [k for k, d in c["decisions"].items() if d["supported"]]
        text += (", so derived numbers follow." if supported else
                 ", so no database size for a target error is derived.")
        out.append(text)
    return " ".join(out)


def effects_table(res: dict, m) -> pd.DataFrame:
    """Every paired effect at one m: what changes, where, the difference with its 90% interval, in words."""
    b = res["by_m"][str(m)]
    rows = []
    for e in b["effects"]:
        if e["effect"] == "compute":
            rows.append({"more": "compute", "at": f"n = {fmt_n(e['n'])}", "change": f"{e['from']} → {e['to']}"})
        elif e["effect"] == "data":
            rows.append({"more": "data", "at": e["length"], "change": f"n = {fmt_n(e['from'])} → {fmt_n(e['to'])}"})
        else:
            continue
        rows[-1].update({"difference [90% CI]": fmt_diff_cell(e["mean"], e["lo"], e["hi"]),
                         "verdict": _VERDICT[e["verdict"]]})
    return pd.DataFrame(rows)


def _series(b: dict) -> dict[str, list[tuple[int, float]]]:
    lines: dict[str, list[tuple[int, float]]] = {}
    for key, v in b["mean"].items():
        n, lab = key.split("|")
        if int(n) > 0:
            lines.setdefault(lab, []).append((int(n), float(v)))
    return {lab: sorted(p) for lab, p in lines.items()}


def factorial_figure(res: dict, units: str = ""):
    """Mean test error against n (log axis), one line per pretraining length, one panel per m; the error
    without pretraining (n = 0) as a dashed line. The converged curve's extra n, where run, are drawn too."""
    ms = _ms(res)
    fig, axes = plt.subplots(1, len(ms), figsize=(DISPLAY_WIDTH_IN, 3.4), layout="constrained", squeeze=False)
    styles = {"1,000 steps": ("o", ":"), "5,580 steps": ("s", "--"), "converged": ("D", "-")}
    curve = res.get("curve") or {}
    for ax, m in zip(axes[0], ms):
        b = res["by_m"][m]
        lines = _series(b)
        if m in curve:  # the converged curve holds more n than the factorial's three
            lines["converged"] = sorted((int(n), float(v)) for n, v in curve[m]["mean"].items() if int(n) > 0)
        for i, lab in enumerate([x for x in LENGTH_ORDER if x in lines] + sorted(set(lines) - set(LENGTH_ORDER))):
            marker, ls = styles.get(lab, ("^", "-."))
            xs, ys = zip(*lines[lab])
            ax.plot(xs, ys, marker=marker, ls=ls, color=f"C{i}", label=f"pretrained {lab}", ms=6, lw=1.6)
        base = next((v for k, v in b["mean"].items() if k.split("|")[0] == "0"), None)
        if base is not None:
            ax.axhline(base, color=BASELINE_COLOR, ls="--", lw=1.2, label="no pretraining")
        ax.set_xscale("log")
        ax.set_title(_m_words(m))
        ax.set_xlabel("simulations n")
    axes[0][0].set_ylabel(f"test MAE{f' ({units})' if units else ''}")
    legend_below(fig, axes[0][0], ncols=2)
    return fig


def choice_sentence(res: dict) -> str:
    """Which pretraining length the experimental validation error picks, over the factorial's (m, n) cells."""
    rows = res.get("schedule_choice") or []
    if not rows:
        return ""
    wins = [r for r in rows if r["picked"] == "converged"]
    worse = [(r, lab, v) for r in rows for lab, v in r["converged_vs"].items() if v["mean"] > 2 * v["se"]]
    text = (f"Chosen on the experimental validation error (the test split never chooses), converged pretraining "
            f"is the better length in {len(wins)} of {len(rows)} (m, n) cells")
    if worse:
        text += ("; it is worse by more than two standard errors in " +
                 join_words([f"{_m_words(r['m'])} at n = {fmt_n(r['n'])} (against {lab})" for r, lab, _ in worse]))
    else:
        text += "; where a fixed length is picked, it is never better by more than two standard errors"
    return text + "."

