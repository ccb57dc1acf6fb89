"""Competing functional forms for one error curve R(n): is the power law with a floor the right shape?

:func:`compare_forms` fits four forms to the same points: the law ``D n^-alpha + C``
(:func:`s2rlib.law.scaling.fit_law`), a pure power law ``D n^-alpha``, an exponential saturation
``C + D exp(-n / n0)`` and a constant, and ranks them by RSS / AIC / AICc and by the error of each
form, refitted without the largest n, in predicting it. Pure numpy / scipy; a form that cannot be
fitted is a row of NaN with a status, never an exception.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize

from s2rlib.law import aic
from s2rlib.law import scaling
from s2rlib.law.fit_status import ALPHA_BOUNDS, MIN_POINTS, at_alpha_bound

__all__ = ["FORMS", "compare_forms"]


FORMS = ("power law + floor", "pure power law", "exponential saturation", "constant")
_N_PARAMS = {"power law + floor": 3, "pure power law": 2, "exponential saturation": 3, "constant": 1}


def _fit_power_floor(n, R, w=None):
    """D n^-alpha + C: :func:`s2rlib.law.scaling.fit_law` unweighted, :func:`s2rlib.law.aic.law_fit_weighted` under weights."""
    if w is None:
        f = scaling.fit_law(n, R)
        if not f.usable:
            return None, f.status
        return (lambda x, f=f: f.predict(x)), f.status, {"D": f.D, "alpha": f.alpha, "C": f.C}
    if len(np.unique(n)) < MIN_POINTS:
        return None, "too_few_points"
    _, (D, a, C) = aic.law_fit_weighted(n, R, w)  # the same weighted fit as the fit status (aic.aic_table)
    if not np.isfinite(D):
        return None, "failed: the weights carry no information (a weight is missing or every weight is 0)"
    status = "no_decrease" if D <= 1e-12 * max(R.max(), 1e-300) else (
        "alpha_at_bound" if at_alpha_bound(a) else ("C_at_bound" if C <= 1e-12 * max(R.max(), 1e-300) else "ok"))
    return (lambda x, D=D, a=a, C=C: D * np.asarray(x, float) ** (-a) + C), status, {"D": D, "alpha": a, "C": C}


def _fit_pure_power(n, R, w=None):
    """R = D n^-alpha (:func:`s2rlib.law.aic.fit_pure_power`, weighted by ``w`` when given)."""
    if len(np.unique(n)) < 3:
        return None, "too_few_points"
    D, a = aic.fit_pure_power(n, R, w)
    lo, hi = ALPHA_BOUNDS
    status = "ok" if 1.01 * lo < a < 0.99 * hi else "alpha_at_bound"
    return (lambda x, D=D, a=a: D * np.asarray(x, float) ** (-a)), status, {"D": D, "alpha": a}


def _fit_exp_saturation(n, R, w=None):
    """R = C + D exp(-n / n0), D, C >= 0: profile over log n0 (NNLS in D, C; generalised least squares
    under the weights ``w``, :func:`s2rlib.law.aic.whitener`), refined from several starts."""
    if len(np.unique(n)) < 4:
        return None, "too_few_points"
    lo_l, hi_l = math.log(n.min() / 100), math.log(n.max() * 100)
    if w is not None and not np.isfinite(np.asarray(w, dtype=float)).all():
        return None, "failed: the weights carry no information (a weight is missing or every weight is 0)"
    Lt = aic.whitener(w, len(R))
    y = Lt @ R

    def solve(ln0):
        x = np.exp(-n / math.exp(ln0))
        A = Lt @ np.stack([x, np.ones_like(x)], axis=1)
        (D, C), rnorm = optimize.nnls(A, y)
        return float(D), float(C), float(rnorm**2)

    grid = np.linspace(lo_l, hi_l, 200)
    prof = np.array([solve(g)[2] for g in grid])
    # several starts: refine around each of the (up to 3) best local minima of the profile
    interior = [i for i in range(len(grid)) if (i == 0 or prof[i] <= prof[i - 1]) and (i == len(grid) - 1 or prof[i] <= prof[i + 1])]
    starts = sorted(interior, key=lambda i: prof[i])[:3] or [int(np.argmin(prof))]
    best_l, best_r = float(grid[starts[0]]), float(prof[starts[0]])
    for i in starts:
        res = optimize.minimize_scalar(lambda g: solve(g)[2], bounds=(grid[max(i - 1, 0)], grid[min(i + 1, 199)]),
                                       method="bounded", options={"xatol": 1e-8})
        if res.fun < best_r:
            best_l, best_r = float(res.x), float(res.fun)
    D, C, _ = solve(best_l)
    n0 = math.exp(best_l)
    at_bound = best_l - lo_l < 0.01 * (hi_l - lo_l) or hi_l - best_l < 0.01 * (hi_l - lo_l)
    status = "no_decrease" if D <= 1e-12 * max(R.max(), 1e-300) else ("n0_at_bound" if at_bound else "ok")
    return ((lambda x, D=D, n0=n0, C=C: C + D * np.exp(-np.asarray(x, float) / n0)), status,
            {"D": D, "n0": n0, "C": C})


def _fit_constant(n, R, w=None):
    if len(R) < 1:
        return None, "too_few_points"
    c = aic.weighted_constant(R, w)
    return (lambda x, c=c: np.full(np.shape(x), c, dtype=float)), "ok", {"C": c}


#: every form is fitted by weighted least squares when weights are given (standard errors, or the
#: trials' covariance), the criterion it is scored by, as :func:`s2rlib.law.aic.aic_table` does for the fit
#: status; without weights, by least squares in R (the law by :func:`s2rlib.law.scaling.fit_law`)
_FITTERS = {"power law + floor": _fit_power_floor, "pure power law": _fit_pure_power,
            "exponential saturation": _fit_exp_saturation, "constant": _fit_constant}


def _safe_fit(form, n, R, w=None):
    try:
        res = _FITTERS[form](n, R, w)
    except Exception as exc:  # noqa: BLE001 - a form that cannot be fitted is a NaN row
        return None, f"failed: {exc}", {}
    if res[0] is None:
        return None, res[1], {}
    return res


def _clean_inputs(n, R, se, trials):
    """The points compare_forms fits (finite, n > 0, R > 0; sorted by n), with their se or trial rows;
    bad shapes raise a ValueError naming the argument."""
    n_in, R_in = np.asarray(n, dtype=float).ravel(), np.asarray(R, dtype=float).ravel()
    if n_in.shape != R_in.shape:
        raise ValueError(f"n and R differ in length ({len(n_in)} and {len(R_in)}): one R per n")
    vals = None
    if se is not None and trials is not None:
        raise ValueError("give se (one standard error per point) or trials (the per-trial errors), not both")
    if se is not None:
        se = np.asarray(se, dtype=float).ravel()
        if se.shape != R_in.shape:
            raise ValueError(f"se has {len(se)} values for {len(R_in)} points: one standard error per point")
    elif trials is not None:
        vals = np.atleast_2d(np.asarray(trials, dtype=float))
        if vals.shape[0] != len(R_in):
            raise ValueError(f"trials has {vals.shape[0]} rows for {len(R_in)} points: one row of trials per point")
    keep = np.isfinite(n_in) & np.isfinite(R_in) & (n_in > 0) & (R_in > 0)
    if se is not None:
        keep &= np.isfinite(se) & (se > 0)
    order = np.argsort(n_in[keep], kind="stable")
    n, R = n_in[keep][order], R_in[keep][order]
    if se is not None:
        se = se[keep][order]
    if vals is not None:
        vals = vals[keep][order]
    return n, R, se, vals


def compare_forms(n, R, se=None, *, trials=None, ratio=0.0) -> pd.DataFrame:
    """Compare four functional forms for the error curve R(n) (points with n > 0 and R > 0).

    Forms: ``"power law + floor"`` (D n^-alpha + C via :func:`s2rlib.law.scaling.fit_law`, 3 params),
    ``"pure power law"`` (D n^-alpha, 2), ``"exponential saturation"`` (C + D exp(-n/n0), 3; D, C >=
    0, profiled over log n0 with several refined starts) and ``"constant"`` (1). All are least
    squares in R; with ``se`` or ``trials`` every form is fitted by the weighted least squares it is
    scored by, as :func:`s2rlib.law.aic.aic_table` fits them for the fit status (the law row then shows its
    weighted fit, which can differ from the unweighted estimate the chapter's tables print). ``n``/``R``
    may hold repeated n (e.g. one point per trial).

    Returns one row per form (in that order) with columns ``form, n_params, n_points, rss, aic,
    aicc, delta_aic, extrap_error, params, values, status`` (``params`` the fitted parameters in words,
    ``values`` the same as a dict; ``attrs["n_min"]``, ``attrs["n_max"]`` the smallest and largest n): ``aic = N log(RSS/N) + 2k`` (Gaussian; RSS
    floored at ``N (1e-12 max R)^2`` so exact fits stay finite), ``aicc = aic + 2k(k+1)/(N-k-1)``
    (NaN when N <= k+1), ``delta_aic = aic - min(aic)``; ``extrap_error`` is ``|prediction - mean
    measured R|`` at the largest n for the form refitted without the points at that n. Forms that
    cannot be fitted (too few points) get NaN numbers and a status.

    With ``trials`` (k points x J trials, whose means ``R`` are, and ``ratio`` = n_test/n_pool) the
    AIC is ``chi^2 + 2k`` with ``chi^2 = r' W r`` and ``W`` :func:`s2rlib.law.aic.aic_weights` of the
    points used (the held-out fit too): exactly the criterion :class:`s2rlib.law.fit_status.FitStatus` uses,
    so this table and the fit status agree. With ``se`` (one standard error per point) ``W`` is
    ``1/se^2``. AICc is then NaN. Never pass per-trial points as ``R``: trials of one grid are not
    independent. Bad shapes raise a ValueError naming the argument.
    """
    n, R, se, vals = _clean_inputs(n, R, se, trials)

    def weights(sel):  # the status criterion's weights for the selected points (None: unweighted)
        if se is not None:
            return 1 / np.maximum(se[sel], 1e-9 * R.max()) ** 2
        if vals is not None and sel.any():
            return aic.aic_weights(vals[sel], ratio)
        return None

    w = weights(np.ones(len(n), dtype=bool))
    N = len(n)
    rows = []
    rfloor = N * (1e-12 * (R.max() if N else 1.0)) ** 2
    n_top = n.max() if N else math.nan
    held = n < n_top if N else np.array([], dtype=bool)
    for form in FORMS:
        k = _N_PARAMS[form]
        row = dict(form=form, n_params=k, n_points=N, rss=math.nan, aic=math.nan, aicc=math.nan, delta_aic=math.nan,
                   extrap_error=math.nan, params="", values={}, status="too_few_points")
        if N > k:
            pred, status, params = _safe_fit(form, n, R, w)
            row["status"] = status
            if pred is not None:
                rss = float(np.sum((pred(n) - R) ** 2))
                row["rss"], row["values"] = rss, params
                row["params"] = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
                if w is not None:
                    row["aic"] = aic.weighted_ss(pred(n) - R, w) + 2 * k
                else:
                    row["aic"] = N * math.log(max(rss, rfloor, np.finfo(float).tiny) / N) + 2 * k
                if N - k - 1 > 0 and w is None:
                    row["aicc"] = row["aic"] + 2 * k * (k + 1) / (N - k - 1)
        if held.sum() > k:
            pred_h, _, _ = _safe_fit(form, n[held], R[held], weights(held))
            if pred_h is not None:
                row["extrap_error"] = float(abs(float(pred_h(np.array([n_top]))[0]) - R[~held].mean()))
        rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["n_max"] = float(n_top)
    df.attrs["n_min"] = float(n.min()) if N else math.nan
    if df["aic"].notna().any():
        df["delta_aic"] = df["aic"] - df["aic"].min()
    return df
