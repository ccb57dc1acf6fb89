"""Derived quantities of the fitted Sim2Real law ``R(n) = D n^-alpha + C``, each with a 90% interval.

Everything here is pure (numpy / pandas / scipy) and never raises on a failed or unusable fit: the
numbers come back as NaN and a status says why. Results are small frozen records
(:class:`RequiredN`, :class:`MarginalGain`, :class:`ExtrapolationCheck`) whose ``supported`` says
whether the fit is ``ok``, the only case in which the book prints them (``reason()`` says why not).
Intervals are percentile intervals (:func:`s2rlib.law.scaling.interval`) over the corrected draws of a
:class:`s2rlib.law.scaling.Fit` (``fit.boot``, rows of (D, alpha, C)); a row with a NaN is a failed
fit and is skipped, and fewer than 10 usable draws give a NaN interval. Where a derived number can
be infinite for some draws (the required database size when a draw's floor C lies above the
target) the infinite draws are kept and ranked as ``+inf``, so ``hi`` (or even ``lo``) may be ``inf``.

Functions
---------
* :func:`required_n` — database size at which the law reaches a target error;
* :func:`marginal_gain` — what the next ``delta`` simulations buy at ``n_now``, and the slope dR/dn;
* :func:`extrapolation_check` — fit without the largest n, predict it, compare with the measurement;
* :func:`law_slope` — dR/dn of the law, for one fit or a whole array of draws;
* :func:`summary_row` / :func:`normalised_curve` — the cross-case summary table and figure.

The law against other functional forms is :mod:`s2rlib.law.forms`; the equivalent sample size of the
two-way (n, m) design is :mod:`s2rlib.law.ess`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from s2rlib.law import scaling
from s2rlib.law.fit_status import CI_LEVEL, ExplainedStatus, FitStatus
from s2rlib.law.scaling import Fit
from s2rlib.law.trial_stats import CaseFit

MIN_DRAWS = scaling.MIN_DRAWS  # fewer usable draws than this -> NaN interval

__all__ = [
    "RequiredN",
    "MarginalGain",
    "ExtrapolationCheck",
    "required_n",
    "marginal_gain",
    "extrapolation_check",
    "law_slope",
    "summary_row",
    "normalised_curve",
]


# --------------------------------------------------------------------------------------------
# derived results: small frozen records


class DerivedStatus(ExplainedStatus):
    """The status of a number derived from the law (required n, marginal value), in words."""

    unreachable = ("unreachable", "the target lies at or below the floor C: no database size reaches it",
                   "the required n is infinite")
    already_reached = ("already_reached", "the target is at or above the law at the smallest n run",
                       "the required n lies below the measured range (an extrapolation)")
    unusable_fit = ("unusable_fit", "the law has no numbers (too few points, or the optimiser failed)",
                    "nothing is derived")
    bad_target = ("bad_target", "the target is not a finite number", "nothing is derived")
    bad_input = ("bad_input", "n or the step is not a positive finite number", "nothing is derived")


@dataclass(frozen=True)
class _Derived:
    """A number derived from the law; ``supported`` says whether the fit is ``ok`` enough to print it."""

    @property
    def supported(self) -> bool:
        return self.fit_status == FitStatus.ok

    def reason(self) -> str:
        """Why the number is not printed, in words ('' when it is)."""
        if self.supported:
            return ""
        try:
            st = FitStatus(self.fit_status)
        except ValueError:
            return f"not computed: no fit ({self.fit_status})"
        return f"not printed: the fit is `{st.value}` ({st.meaning})"


@dataclass(frozen=True)
class RequiredN(_Derived):
    """Database size at which the law reaches ``target`` (see :func:`required_n`)."""

    value: float
    lo: float
    hi: float
    status: str
    target: float
    p_unreachable: float
    extrapolated: bool
    fit_status: str


@dataclass(frozen=True)
class MarginalGain(_Derived):
    """What the next ``delta`` simulations buy at ``n_now`` (see :func:`marginal_gain`)."""

    value: float
    lo: float
    hi: float
    slope: float
    slope_lo: float
    slope_hi: float
    rel: float
    R_now: float
    n_now: float
    delta: float
    status: str
    fit_status: str


@dataclass(frozen=True)
class ExtrapolationCheck:
    """The law fitted without the largest n, predicting it (see :func:`extrapolation_check`)."""

    n_max: float
    n_fit_max: float
    predicted: float
    lo: float
    hi: float
    measured: float
    measured_sem: float
    error: float
    rel_error: float
    within_interval: bool
    status: str
    n_points: int


# --------------------------------------------------------------------------------------------
# helpers


def _nan() -> float:
    return float("nan")


def _draws(fit: Fit | None) -> np.ndarray:
    """The usable bootstrap rows (all three of D, alpha, C finite) of a fit, shape (B', 3)."""
    boot = None if fit is None else getattr(fit, "boot", None)
    if boot is None:
        return np.empty((0, 3))
    b = np.asarray(boot, dtype=float).reshape(-1, 3)
    return b[np.isfinite(b).all(axis=1)]


def _usable(fit) -> bool:
    try:
        return bool(fit is not None and fit.usable)
    except Exception:  # noqa: BLE001 - never raise on a malformed fit object
        return False


def _fit_status(fit) -> str:
    return str(getattr(fit, "status", "missing")) if fit is not None else "missing"


def _law(n, D, alpha, C):
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return D * np.asarray(n, dtype=float) ** (-alpha) + C


def _n_for(target: float, D, alpha, C) -> np.ndarray:
    """Analytic n with D n^-alpha + C = target; +inf where target <= C (the floor is above the target)."""
    D, alpha, C = (np.asarray(x, dtype=float) for x in (D, alpha, C))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        gap = target - C
        n = np.exp((np.log(D) - np.log(gap)) / alpha)  # (D / gap)^(1/alpha); D = 0 -> 0
    return np.where(gap <= 0, np.inf, n)


def _drop_law(n_now: float, delta: float, D, alpha, C) -> np.ndarray:
    """R(n_now) - R(n_now + delta) = D n^-a (1 - (1 + delta/n)^-a), computed without cancellation."""
    D, alpha = np.asarray(D, dtype=float), np.asarray(alpha, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return D * n_now ** (-alpha) * -np.expm1(-alpha * math.log1p(delta / n_now))


def law_slope(n, D, alpha) -> np.ndarray:
    """dR/dn = -alpha D n^(-alpha - 1), vectorised over n, D and alpha (one fit or an array of draws)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return -np.asarray(alpha, dtype=float) * np.asarray(D, dtype=float) * np.asarray(n, dtype=float) ** (
            -np.asarray(alpha, dtype=float) - 1)


def _finite_number(x) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# 1. required database size


def required_n(fit: Fit, target: float, *, level: float = CI_LEVEL) -> dict:
    """Database size n at which the fitted law reaches ``target``: ``n = (D / (target - C))^(1/alpha)``.

    Returns a :class:`RequiredN` (value, lo, hi, status, target, p_unreachable, extrapolated, fit_status):

    * ``status`` — ``"ok"``; ``"unreachable"`` when ``target <= C`` (``value = inf``: the floor is
      above the target, no database size gets there); ``"already_reached"`` when the target is at or
      above the law at the smallest fitted n (``fit.n.min()``, or n = 1 when the fit carries no
      points) — ``value`` is then still the law's n, which lies below the fitted range and is only an
      extrapolation; ``"unusable_fit"`` (``fit.usable`` false) or ``"bad_target"`` (target not a
      finite number), with NaN values.
    * ``lo``, ``hi`` — percentile interval over the usable bootstrap draws, each draw's n computed
      the same way, **unreachable draws counted as +inf** (so ``hi`` is ``inf`` when more than
      (1 - level)/2 of the draws have their floor above the target); NaN without >= 10 draws.
    * ``p_unreachable`` — fraction of the usable draws with ``C >= target`` (NaN without draws).
    * ``extrapolated`` — the point value lies beyond the largest fitted n.
    """
    out = dict(value=_nan(), lo=_nan(), hi=_nan(), status="ok", target=_nan(), p_unreachable=_nan(),
               extrapolated=False, fit_status=_fit_status(fit))
    if not _finite_number(target):
        out["status"] = "bad_target"
        return RequiredN(**out)
    target = float(target)
    out["target"] = target
    if not _usable(fit):
        out["status"] = "unusable_fit"
        return RequiredN(**out)
    n_fit = np.asarray(getattr(fit, "n", []), dtype=float)
    n_fit = n_fit[np.isfinite(n_fit) & (n_fit > 0)]
    n_lo = float(n_fit.min()) if len(n_fit) else 1.0
    n_hi = float(n_fit.max()) if len(n_fit) else _nan()
    value = float(_n_for(target, fit.D, fit.alpha, fit.C))
    out["value"] = value
    if target <= fit.C:
        out["status"] = "unreachable"
    elif target >= float(_law(n_lo, fit.D, fit.alpha, fit.C)):
        out["status"] = "already_reached"
    out["extrapolated"] = bool(np.isfinite(n_hi) and value > n_hi)
    b = _draws(fit)
    if len(b):
        nb = _n_for(target, b[:, 0], b[:, 1], b[:, 2])
        out["p_unreachable"] = float(np.mean(b[:, 2] >= target))
        out["lo"], out["hi"] = scaling.interval(nb, level=level)
    return RequiredN(**out)


# --------------------------------------------------------------------------------------------
# 2. marginal gain of the next simulations


def marginal_gain(fit: Fit, n_now: float, delta: float, *, level: float = CI_LEVEL) -> dict:
    """Error reduction ``R(n_now) - R(n_now + delta)`` bought by the next ``delta`` simulations.

    Returns a :class:`MarginalGain` (value, lo, hi, slope, slope_lo, slope_hi, rel, R_now, n_now, delta,
    status, fit_status): ``value`` > 0 means the error falls; ``slope`` is ``dR/dn = -alpha D
    n_now^(-alpha-1)`` (error change per additional simulation, < 0 when the error falls);
    ``rel = value / R(n_now)``; intervals are percentiles over the usable bootstrap draws.
    ``status``: ``"ok"``, ``"unusable_fit"`` or ``"bad_input"`` (n_now <= 0, delta < 0 or not
    finite), with NaN values in the latter two.
    """
    out = dict(value=_nan(), lo=_nan(), hi=_nan(), slope=_nan(), slope_lo=_nan(), slope_hi=_nan(), rel=_nan(),
               R_now=_nan(), n_now=_nan(), delta=_nan(), status="ok", fit_status=_fit_status(fit))
    if not (_finite_number(n_now) and _finite_number(delta)) or float(n_now) <= 0 or float(delta) < 0:
        out["status"] = "bad_input"
        return MarginalGain(**out)
    n_now, delta = float(n_now), float(delta)
    out["n_now"], out["delta"] = n_now, delta
    if not _usable(fit):
        out["status"] = "unusable_fit"
        return MarginalGain(**out)
    out["value"] = float(_drop_law(n_now, delta, fit.D, fit.alpha, fit.C))
    out["slope"] = float(law_slope(n_now, fit.D, fit.alpha))
    out["R_now"] = float(_law(n_now, fit.D, fit.alpha, fit.C))
    out["rel"] = out["value"] / out["R_now"] if out["R_now"] > 0 else _nan()
    b = _draws(fit)
    if len(b):
        out["lo"], out["hi"] = scaling.interval(_drop_law(n_now, delta, b[:, 0], b[:, 1], b[:, 2]), level=level)
        out["slope_lo"], out["slope_hi"] = scaling.interval(law_slope(n_now, b[:, 0], b[:, 1]), level=level)
    return MarginalGain(**out)


# --------------------------------------------------------------------------------------------
# 3. held-out extrapolation check


def extrapolation_check(mat: pd.DataFrame, *, holdout: int = 1, n_boot: int = 200, seed: int = 0,
                        loss: str = "linear", level: float = CI_LEVEL) -> dict:
    """Fit the law without the ``holdout`` largest n, predict the largest n, compare with the measurement.

    ``mat`` is an (n x trial) matrix as from :func:`s2rlib.law.trial_stats.trial_matrix` (index n_source, n = 0
    allowed and ignored). The reduced fit is :func:`s2rlib.law.scaling.bootstrap_fit` on the n > 0 rows
    except the ``holdout`` largest ones; ``lo``/``hi`` is the percentile interval of its bootstrap
    predictions at ``n_max`` (the uncertainty of the fitted *mean* curve; compare with
    ``measured_sem`` for the noise of the measured mean: its corrected standard error,
    ``sd * sqrt(1/J + ratio)`` as for every interval of the book, ``ratio`` = ``mat.attrs["test_train_ratio"]``).

    Returns an :class:`ExtrapolationCheck` (n_max, n_fit_max, predicted, lo, hi, measured, measured_sem, error,
    rel_error, within_interval, status, n_points) with ``error = predicted - measured`` (signed; > 0: the law
    is pessimistic), ``rel_error = error / measured``. ``status`` is the reduced fit's status
    (``"ok"``, ``"C_at_bound"``, ``"alpha_at_bound"``, ``"no_decrease"``, ``"too_few_points"``,
    ``"failed"``) or ``"bad_input"`` (not a matrix, holdout < 1, or nothing to hold out); numbers are
    NaN when the reduced fit is unusable.
    """
    out = dict(n_max=_nan(), n_fit_max=_nan(), predicted=_nan(), lo=_nan(), hi=_nan(), measured=_nan(),
               measured_sem=_nan(), error=_nan(), rel_error=_nan(), within_interval=False, status="ok",
               n_points=0)
    try:
        holdout = int(holdout)
        idx = pd.to_numeric(pd.Index(mat.index), errors="coerce").to_numpy(dtype=float)
        pos = mat.loc[np.isfinite(idx) & (idx > 0)]
        pos = pos.loc[pos.notna().any(axis=1)].sort_index()
    except Exception:  # noqa: BLE001 - not a trial matrix
        out["status"] = "bad_input"
        return ExtrapolationCheck(**out)
    if holdout < 1 or len(pos) < holdout + 1:
        out["status"] = "bad_input" if holdout < 1 else "too_few_points"
        if len(pos):
            out["n_max"] = float(pos.index.max())
        return ExtrapolationCheck(**out)
    n_max = pos.index[-1]
    row = pos.loc[n_max].astype(float)
    out["n_max"] = float(n_max)
    out["measured"] = float(row.mean())
    ratio = float(getattr(mat, "attrs", {}).get("test_train_ratio", 0.0))
    J = int(row.notna().sum())
    out["measured_sem"] = float(row.std() * np.sqrt(1 / J + ratio)) if J > 1 else _nan()  # corrected, as the mean's CI
    reduced = pos.iloc[:-holdout]
    out["n_fit_max"] = float(reduced.index.max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = scaling.bootstrap_fit(reduced, n_boot=int(n_boot), seed=seed, loss=loss, ratio=ratio)
    out["status"] = fit.status
    out["n_points"] = int(fit.n_points)
    if not fit.usable:
        return ExtrapolationCheck(**out)
    pred = float(fit.predict(float(n_max)))
    out["predicted"] = pred
    b = _draws(fit)
    if len(b):
        out["lo"], out["hi"] = scaling.interval(_law(float(n_max), b[:, 0], b[:, 1], b[:, 2]), level=level)
    if np.isfinite(out["measured"]):
        out["error"] = pred - out["measured"]
        out["rel_error"] = out["error"] / out["measured"] if out["measured"] != 0 else _nan()
        if np.isfinite(out["lo"]) and np.isfinite(out["hi"]):
            out["within_interval"] = bool(out["lo"] <= out["measured"] <= out["hi"])
    return ExtrapolationCheck(**out)


# --------------------------------------------------------------------------------------------
# 4. cross-case summary


def summary_row(case_fit: CaseFit, *, units: str | None = None, n_now: float | None = None,
                delta: float = 10000, target: float | None = None, level: float = CI_LEVEL) -> dict:
    """One row of the cross-case summary table for a :class:`s2rlib.law.trial_stats.CaseFit`.

    Keys: ``case, m_target, units, trials, n_min, n_max`` (smallest / largest n > 0 run),
    ``baseline`` (mean error at n = 0, NaN if not run), ``err_n_max`` (mean error at the largest n),
    ``gain, gain_lo, gain_hi, gain_verdict`` (paired error(n_max) - error(0), its corrected interval and
    :attr:`s2rlib.law.trial_stats.Gain.verdict`, from ``case_fit.gain``;
    < 0 = transfer helps), ``gain_rel`` (gain / baseline), ``D, D_lo, D_hi, alpha, alpha_lo,
    alpha_hi, C, C_lo, C_hi`` (law and 90% intervals), ``C_upper_only`` (the floor is at its bound: report
    ``C < C_hi``), ``status`` (the fit's), ``supported`` (status ``ok``: derived numbers may be printed),
    ``boot_ok`` (fraction of successful bootstrap fits), ``target`` (default: 0.9 x ``err_n_max``,
    i.e. a 10% lower error than the largest database gives), ``req_n, req_n_lo, req_n_hi,
    req_n_status`` (see :func:`required_n`), ``n_now`` (default: the largest n), ``delta``,
    ``mgain, mgain_lo, mgain_hi`` (error drop from the next ``delta`` simulations at ``n_now``,
    see :func:`marginal_gain`) and ``mgain_rel`` (that drop / R(n_now)). Never raises: missing pieces
    are NaN.
    """
    fit = getattr(case_fit, "fit", None)
    mean = getattr(case_fit, "mean", pd.Series(dtype=float))
    mean = mean if isinstance(mean, pd.Series) else pd.Series(dtype=float)
    idx = pd.to_numeric(pd.Index(mean.index), errors="coerce").to_numpy(dtype=float)
    pos = mean[np.isfinite(idx) & (idx > 0)].dropna()
    n_min = float(pos.index.min()) if len(pos) else _nan()
    n_max = float(pos.index.max()) if len(pos) else _nan()
    err_n_max = float(pos.iloc[np.argmax(pos.index.to_numpy(dtype=float))]) if len(pos) else _nan()
    baseline = float(getattr(case_fit, "baseline", _nan()))
    gain = getattr(case_fit, "gain", None)
    row = dict(case=getattr(case_fit, "case", "?"), m_target=getattr(case_fit, "m_target", _nan()),
               units=getattr(case_fit, "units", "") if units is None else units,
               trials=getattr(case_fit, "trials", 0), n_min=n_min, n_max=n_max, baseline=baseline,
               err_n_max=err_n_max, gain=float(getattr(gain, "mean", _nan())), gain_lo=float(getattr(gain, "lo", _nan())),
               gain_hi=float(getattr(gain, "hi", _nan())), gain_verdict=getattr(gain, "verdict", "unknown"))
    row["gain_rel"] = row["gain"] / baseline if np.isfinite(baseline) and baseline != 0 else _nan()
    usable = _usable(fit)
    if usable:
        b = _draws(fit)
        for j, k in enumerate(("D", "alpha", "C")):
            row[k] = float(getattr(fit, k))
            row[f"{k}_lo"], row[f"{k}_hi"] = scaling.interval(b[:, j], level=level) if len(b) else (_nan(), _nan())
    else:
        for k in ("D", "alpha", "C"):
            row[k] = row[f"{k}_lo"] = row[f"{k}_hi"] = _nan()
    row["status"] = _fit_status(fit)
    row["C_upper_only"] = bool(usable and fit.floor_unresolved(level))
    row["supported"] = bool(usable and fit.ok)
    try:
        row["boot_ok"] = float(fit.boot_ok_fraction())
    except Exception:  # noqa: BLE001
        row["boot_ok"] = _nan()
    if target is None:
        target = 0.9 * err_n_max
    rq = required_n(fit, target, level=level)
    row.update(target=rq.target, req_n=rq.value, req_n_lo=rq.lo, req_n_hi=rq.hi, req_n_status=rq.status)
    if n_now is None:
        n_now = n_max
    mg = marginal_gain(fit, n_now, delta, level=level)
    row.update(n_now=mg.n_now, delta=mg.delta, mgain=mg.value, mgain_lo=mg.lo, mgain_hi=mg.hi, mgain_rel=mg.rel)
    return row


def normalised_curve(case_fit: CaseFit) -> pd.DataFrame:
    """Mean error per n divided by a reference, for the cross-case figure.

    The reference is the n = 0 baseline when it was run, else the mean error at the smallest n > 0.
    Returns a DataFrame with columns ``case, n, mean, sem, norm, norm_lo, norm_hi, interval, law,
    reference``: ``norm = mean / ref``; ``norm_lo/hi`` the 90% interval of that ratio: with a
    baseline, the paired gain's corrected interval (``1 + gain_lo / baseline``, ``1 + gain_hi /
    baseline``; :attr:`s2rlib.law.trial_stats.CaseFit.gains`, the interval of the gain tables), else the
    corrected interval of the mean (:meth:`~s2rlib.law.trial_stats.CaseFit.mean_interval`) divided by
    ref; ``interval`` says which (``"paired"`` or ``"mean"``); ``law`` = the fitted law at n divided
    by ref (NaN at n = 0 or for an unusable fit), ``reference`` = ``"baseline"`` or ``"n_min"``. The
    n = 0 row (if any) is kept (norm = 1); drop it for a log-n axis.
    """
    cols = ["case", "n", "mean", "sem", "norm", "norm_lo", "norm_hi", "interval", "law", "reference"]
    mean = getattr(case_fit, "mean", None)
    if not isinstance(mean, pd.Series) or mean.empty:
        return pd.DataFrame(columns=cols)
    sem = getattr(case_fit, "sem", None)
    sem = sem.reindex(mean.index) if isinstance(sem, pd.Series) else pd.Series(np.nan, index=mean.index)
    n = pd.to_numeric(pd.Index(mean.index), errors="coerce").to_numpy(dtype=float)
    m = mean.to_numpy(dtype=float)
    s = sem.to_numpy(dtype=float)
    baseline = float(getattr(case_fit, "baseline", _nan()))
    if np.isfinite(baseline) and baseline != 0:
        ref, reference = baseline, "baseline"
    else:
        ok = np.isfinite(n) & (n > 0) & np.isfinite(m)
        ref = float(m[ok][np.argmin(n[ok])]) if ok.any() else _nan()
        reference = "n_min"
    fit = getattr(case_fit, "fit", None)
    law = np.full(len(n), np.nan)
    if _usable(fit):
        good = np.isfinite(n) & (n > 0)
        law[good] = _law(n[good], fit.D, fit.alpha, fit.C)
    gains = getattr(case_fit, "gains", None) or {}
    lo, hi, kind = np.full(len(n), np.nan), np.full(len(n), np.nan), np.full(len(n), "mean", dtype=object)
    for i, key in enumerate(mean.index):
        g = gains.get(key) if reference == "baseline" else None
        if g is not None and np.isfinite(g.lo):
            lo[i], hi[i], kind[i] = 1 + g.lo / baseline, 1 + g.hi / baseline, "paired"
        elif hasattr(case_fit, "mean_interval") and np.isfinite(ref) and ref:
            lo[i], hi[i] = (v / ref for v in case_fit.mean_interval(key))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = pd.DataFrame(dict(case=getattr(case_fit, "case", "?"), n=n, mean=m, sem=s, norm=m / ref,
                               norm_lo=lo, norm_hi=hi, interval=kind, law=law / ref, reference=reference))
    return df[cols].sort_values("n", kind="stable").reset_index(drop=True)
