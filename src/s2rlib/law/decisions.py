"""Decisions from the law a case's row reports: database size for a target error, the value of the next
simulations, and the equivalent number of experiments, each with a 90% interval, or the reason it is missing.

The form is the row's (:attr:`s2rlib.law.trial_stats.CaseFit.chosen`: the paper's law ``D n^-alpha + C`` or
the finite-R(0) form ``C + (R0 - C)(1 + n/n_s)^-alpha``); every number is computed for the point fit
and for each of its corrected interval draws, and the interval is the percentile interval of the draws
(:func:`s2rlib.law.scaling.interval`; a draw whose floor lies above the target needs n = +inf and is
ranked so). A number is *supported* only where the form's status is ``ok``: a number derived from a law
the data do not identify would carry the fit's artefact, not the data. Where it is not supported,
``missing`` is a reason code (:data:`MISSING`) that :mod:`s2rlib.book.decision_words` turns into words.

* :func:`required_n` — ``n`` with ``R(n) = target``;
* :func:`next_gain` — ``R(n_now) - R(n_now + delta)``;
* :func:`experiments_per_simulations` — the equivalent sample size of the two-way grid
  (:func:`s2rlib.law.ess.equivalent_sample_size`: simulations worth one experiment at (n, m)) and what the
  next ``delta`` simulations are worth in experiments, ``delta / ESS``;
* :func:`case_decisions` — the three for one :class:`~s2rlib.law.trial_stats.CaseFit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from s2rlib.law import finite as finite_form
from s2rlib.law.fit_status import CI_LEVEL, FitStatus
from s2rlib.law.scaling import interval
from s2rlib.law.trial_stats import CaseFit

__all__ = ["MISSING", "Decision", "Decisions", "form_params", "required_n", "next_gain",
           "experiments_per_simulations", "case_decisions", "TARGET_FRACTION", "DELTA"]

TARGET_FRACTION = 0.9  # the stated target: 10% below the mean error at the largest n run
DELTA = 10000  # "the next 10,000 simulations"

#: why a derived number is not printed (the book says each in words)
MISSING = ("status", "no_fit", "unreachable", "no_two_way", "ess_not_ok", "ess_form")


@dataclass(frozen=True)
class Decision:
    """One derived number: value and 90% interval where ``supported``, else ``missing`` (a code of
    :data:`MISSING`) and ``status`` (the form's status) say why not."""

    name: str
    value: float
    lo: float
    hi: float
    supported: bool
    missing: str
    status: str
    form: str
    share_unreachable: float = float("nan")  # required n only: share of draws whose floor is above the target
    extrapolated: bool = False  # the value lies beyond the largest n run


@dataclass(frozen=True)
class Decisions:
    """The three decisions of one case at one m, with the target and step they were computed for."""

    case: str
    m_target: int
    form: str
    status: str
    target: float
    n_now: float
    delta: float
    required_n: Decision
    next_gain: Decision
    experiments: Decision  # experiments worth the next ``delta`` simulations (delta / ESS)
    ess: Decision  # simulations worth one experiment at (n_now, m)


def form_params(cf: CaseFit) -> tuple[str, np.ndarray, np.ndarray]:
    """The row's form, its point parameters and its usable draws: ``("law", (D, alpha, C), (B, 3))`` or
    ``("finite", (R0, C, n_s, alpha), (B, 4))``."""
    kind = cf.chosen
    f = cf.chosen_fit
    names = finite_form.PARAMS if kind == "finite" else ("D", "alpha", "C")
    point = np.array([getattr(f, k) for k in names], dtype=float)
    boot = np.empty((0, len(names))) if f.boot is None else np.asarray(f.boot, dtype=float)
    return kind, point, boot[np.isfinite(boot).all(axis=1)]


def _curve(kind: str, n, P: np.ndarray) -> np.ndarray:
    P = np.atleast_2d(P)
    n = np.asarray(n, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if kind == "finite":
            return finite_form.finite_law(n, P[:, 0], P[:, 1], P[:, 2], P[:, 3])
        return P[:, 0] * n ** (-P[:, 1]) + P[:, 2]


def _n_for(kind: str, target: float, P: np.ndarray) -> np.ndarray:
    """n with R(n) = target for every row of parameters; +inf where the floor C is at or above the target,
    0 where the target is at or above R(0) (finite form) or never below it."""
    P = np.atleast_2d(P)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if kind == "finite":
            R0, C, ns, a = P.T
            n = ns * np.expm1(np.log((R0 - C) / (target - C)) / a)
            n = np.where(target >= R0, 0.0, n)
        else:
            D, a, C = P.T
            n = np.exp((np.log(D) - np.log(target - C)) / a)
    return np.where(target <= C, np.inf, n)


def required_n(kind: str, point, draws, target: float, *, n_max: float = float("nan"),
               level: float = CI_LEVEL) -> tuple[float, float, float, float, bool]:
    """(n, lo, hi, share of draws that never reach the target, whether n lies beyond ``n_max``)."""
    value = float(_n_for(kind, target, point)[0])
    nb = _n_for(kind, target, draws) if len(draws) else np.array([])
    C = draws[:, 1] if kind == "finite" else draws[:, 2] if len(draws) else np.array([])
    share = float(np.mean(C >= target)) if len(draws) else float("nan")
    lo, hi = interval(nb, level=level) if len(nb) else (float("nan"), float("nan"))
    return value, lo, hi, share, bool(np.isfinite(n_max) and value > n_max)


def next_gain(kind: str, point, draws, n_now: float, delta: float = DELTA, *,
              level: float = CI_LEVEL) -> tuple[float, float, float]:
    """R(n_now) - R(n_now + delta) (> 0: the error falls), with its interval over the draws."""
    def drop(P):
        return _curve(kind, n_now, P) - _curve(kind, n_now + delta, P)

    value = float(drop(point)[0])
    lo, hi = interval(drop(draws), level=level) if len(draws) else (float("nan"), float("nan"))
    return value, lo, hi


def experiments_per_simulations(ess_rows: pd.DataFrame | None, n_now: float, m: int,
                                delta: float = DELTA) -> tuple[float, float, float, float, float, float]:
    """From :func:`s2rlib.law.ess.equivalent_sample_size`'s rows: (ESS, lo, hi) at the grid's largest n at
    ``m`` and (delta / ESS, lo, hi): the experiments that the next ``delta`` simulations are worth. NaN
    where the rows have no such cell."""
    nan = (float("nan"),) * 6
    if ess_rows is None or not len(ess_rows):
        return nan
    at = ess_rows[np.isclose(ess_rows["m"].astype(float), float(m))]
    if not len(at):
        return nan
    row = at.loc[(at["n"].astype(float) - float(n_now)).abs().idxmin()]
    e, lo, hi = (float(row[k]) for k in ("ess", "ess_lo", "ess_hi"))
    with np.errstate(divide="ignore"):
        per = [delta / x if np.isfinite(x) and x > 0 else float("nan") for x in (e, hi, lo)]
    return e, lo, hi, per[0], per[1], per[2]


def _decision(name, values, supported, missing, status, form, **kw) -> Decision:
    v, lo, hi = values
    if not supported:
        v = lo = hi = float("nan")
    return Decision(name, v, lo, hi, supported, "" if supported else missing, status, form, **kw)


def case_decisions(cf: CaseFit, *, ess_rows: pd.DataFrame | None = None, target: float | None = None,
                   delta: float = DELTA, level: float = CI_LEVEL) -> Decisions:
    """The three decisions for one case at one m from the form its row reports (rules in the module doc).

    ``target`` defaults to :data:`TARGET_FRACTION` x the mean error at the largest n; ``ess_rows`` are the
    case's :func:`s2rlib.law.ess.equivalent_sample_size` rows (None: a grid without m values)."""
    pos = cf.mean[cf.mean.index > 0].dropna()
    n_max = float(pos.index.max()) if len(pos) else float("nan")
    target = TARGET_FRACTION * float(pos.loc[pos.index.max()]) if target is None and len(pos) else target
    kind, point, draws = form_params(cf)
    status = str(cf.chosen_fit.status.value if hasattr(cf.chosen_fit.status, "value") else cf.chosen_fit.status)
    usable = bool(np.isfinite(point).all()) and np.isfinite(n_max)
    ok = usable and status == FitStatus.ok.value
    why = "status" if usable else "no_fit"
    nan3 = (float("nan"),) * 3
    req = required_n(kind, point, draws, float(target), n_max=n_max, level=level) if usable else nan3 + (math.nan, False)
    rq_missing = "unreachable" if ok and not np.isfinite(req[0]) else why
    gain = next_gain(kind, point, draws, n_max, delta, level=level) if usable else nan3
    e = experiments_per_simulations(ess_rows, n_max, int(cf.m_target), delta)
    e_missing = (why if not ok else "ess_form" if kind != "law" else
                 "no_two_way" if not np.isfinite(e[0]) else "")
    e_ok = ok and e_missing == ""
    return Decisions(
        cf.case, int(cf.m_target), kind, status, float(target), n_max, float(delta),
        _decision("required_n", req[:3], ok and np.isfinite(req[0]), rq_missing, status, kind,
                  share_unreachable=req[3], extrapolated=req[4]),
        _decision("next_gain", gain, ok, why, status, kind),
        _decision("experiments", e[3:], e_ok, e_missing, status, kind),
        _decision("ess", e[:3], e_ok, e_missing, status, kind))
