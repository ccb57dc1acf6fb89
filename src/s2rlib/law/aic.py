"""How much better the scaling law fits than simpler forms: AIC on trial means that are paired across n.

The status of a fit (:func:`s2rlib.law.scaling.classify`) asks whether the law ``D n^-alpha + C`` beats a
constant and a pure power law ``D n^-alpha`` by :data:`s2rlib.law.fit_status.AIC_MARGIN` in AIC, and
:func:`s2rlib.law.forms.compare_forms` prints the same comparison. Both use this module:

* the points are the trial means at each n, never the per-trial errors as if independent;
* their weights (:func:`aic_weights`) are the inverse of the means' corrected covariance across n
  (:func:`mean_covariance`, the Nadeau-Bengio model of :func:`s2rlib.law.scaling.corrected_draws`),
  debiased as an inverse of a sample covariance (:func:`precision`; Hartlap, Simon & Schneider,
  A&A 464, 399, 2007). Each trial is one split used at every n, so a hard split raises a whole
  curve: the covariance sees a fall within the trials that the spread between them hides. With too
  few trials for the covariance the weights are ``1/se^2``;
* every form is fitted by the weighted least squares it is scored by, ``chi^2 = r' W r``
  (:func:`weighted_ss`): the constant (:func:`weighted_constant`), the pure power law
  (:func:`fit_pure_power`) and the law itself (:func:`fit_law_gls`). Scoring the law at its unweighted
  point estimate (the one the tables print) while its rivals are fitted under ``W`` would overstate the
  law's chi^2 and tilt the status towards a constant or a pure power law.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy import optimize

from s2rlib.law.fit_status import ALPHA_BOUNDS


def weighted_ss(r, weights) -> float:
    """``r' W r``: the weighted sum of squares of residuals ``r``, with ``weights`` a vector (a diagonal
    W, e.g. ``1/se^2``) or a full precision matrix (the inverse covariance of the points)."""
    r = np.asarray(r, dtype=float)
    W = np.asarray(weights, dtype=float)
    return float(r @ W @ r) if W.ndim == 2 else float(np.sum(W * r * r))


def fit_pure_power(n, R, w=None) -> tuple[float, float]:
    """The pure power law ``R = D n^-alpha``: (D, alpha) minimising ``r' W r`` with ``r = D n^-alpha - R``.

    ``w`` is a vector of weights (a diagonal W; default ones: least squares in R) or a full precision
    matrix (generalised least squares). D >= 0 and alpha in :data:`s2rlib.law.fit_status.ALPHA_BOUNDS`; D is solved exactly
    for each alpha (variable projection), alpha on a log grid refined by a bounded scalar search.
    """
    n, R = np.asarray(n, dtype=float), np.asarray(R, dtype=float)
    W = np.ones_like(R) if w is None else np.asarray(w, dtype=float)
    scale = float(n.min())
    u = n / scale

    def solve(a):
        x = u ** (-a)
        Wx = W @ x if W.ndim == 2 else W * x
        den = float(Wx @ x)  # 0 when the weights vanish (1/se^2 of an overflowing se): D is then unidentified
        D = max(float(Wx @ R) / den, 0.0) if den != 0 else float("nan")  # a NaN weight stays NaN too
        return D, weighted_ss(D * x - R, W)

    a = _profile_alpha(lambda a: solve(a)[1])
    return solve(a)[0] * scale**a, a


def _profile_alpha(chi2) -> float:
    """The alpha in :data:`s2rlib.law.fit_status.ALPHA_BOUNDS` minimising ``chi2(alpha)`` (the other parameters
    solved exactly for each alpha): a log grid of 200, refined by a bounded scalar search around its best."""
    lo, hi = ALPHA_BOUNDS
    grid = np.geomspace(lo, hi, 200)
    prof = np.array([chi2(a) for a in grid])
    i = int(np.argmin(prof))
    res = optimize.minimize_scalar(chi2, bounds=(grid[max(i - 1, 0)], grid[min(i + 1, 199)]),
                                   method="bounded", options={"xatol": 1e-7})
    return float(res.x) if res.fun <= prof[i] else float(grid[i])


def whitener(w, size: int) -> np.ndarray:
    """A matrix ``L'`` with ``L L' = W`` (``w`` a weight vector or a precision matrix; default ones), so that
    ``r' W r = |L' r|^2``: least squares on ``L' A`` and ``L' R`` is generalised least squares under ``W``.
    A precision matrix that is not numerically positive definite is whitened through its eigenvalues,
    negative ones clipped at 0."""
    if w is None:
        return np.eye(size)
    W = np.asarray(w, dtype=float)
    if W.ndim == 1:
        return np.diag(np.sqrt(np.maximum(W, 0.0)))
    try:
        return scipy.linalg.cholesky(W, lower=True).T
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh((W + W.T) / 2)
        return (vecs * np.sqrt(np.maximum(vals, 0.0))).T


def fit_law_gls(n, R, w=None) -> tuple[float, float, float]:
    """The law ``R = D n^-alpha + C``: (D, alpha, C) minimising ``r' W r`` (generalised least squares).

    D, C >= 0 and alpha in :data:`s2rlib.law.fit_status.ALPHA_BOUNDS`, as :func:`s2rlib.law.scaling.fit_law`;
    for each alpha, D and C are solved exactly (NNLS on the whitened problem, :func:`whitener`), alpha
    on a log grid refined by a bounded scalar search, as :func:`fit_pure_power`. NaN when the weights
    carry no information.
    """
    n, R = np.asarray(n, dtype=float), np.asarray(R, dtype=float)
    if w is not None and not np.isfinite(np.asarray(w, dtype=float)).all():
        return (float("nan"),) * 3
    Lt = whitener(w, len(R))
    if not np.any(Lt):
        return (float("nan"),) * 3
    scale = float(n.min())
    u = n / scale
    y = Lt @ R

    def solve(a):
        A = Lt @ np.stack([u ** (-a), np.ones_like(u)], axis=1)
        (D, C), rnorm = optimize.nnls(A, y)
        return float(D), float(C), float(rnorm**2)

    a = _profile_alpha(lambda a: solve(a)[2])
    D, C, _ = solve(a)
    return D * scale**a, a, C


def law_fit_weighted(n, R, w=None, start=None) -> tuple[float, tuple[float, float, float]]:
    """The law's smallest ``r' W r`` and its (D, alpha, C): the best of :func:`fit_law_gls`, ``start`` (e.g.
    the unweighted estimate the tables print), the pure power law (C = 0) and the constant (D = 0, C >= 0),
    each of which is a point of the law, so the law is never scored above the forms it contains."""
    n, R = np.asarray(n, dtype=float), np.asarray(R, dtype=float)
    W = np.ones_like(R) if w is None else np.asarray(w, dtype=float)
    D, a = fit_pure_power(n, R, W)
    cands = [fit_law_gls(n, R, W), (D, a, 0.0), (0.0, 1.0, max(weighted_constant(R, W), 0.0))]
    if start is not None:
        cands.append(tuple(float(x) for x in start))
    scored = [(weighted_ss(Dc * n ** (-ac) + Cc - R, W), (Dc, ac, Cc)) for Dc, ac, Cc in cands]
    scored = [x for x in scored if np.isfinite(x[0])]
    return min(scored, key=lambda x: x[0]) if scored else (float("nan"), (float("nan"),) * 3)


def weighted_constant(R, w=None) -> float:
    """The constant minimising ``r' W r`` (``w`` a weight vector or a precision matrix; default ones)."""
    R = np.asarray(R, dtype=float)
    W = np.ones_like(R) if w is None else np.asarray(w, dtype=float)
    W1 = W.sum(axis=1) if W.ndim == 2 else W
    return float(W1 @ R / W1.sum())


def mean_covariance(vals: np.ndarray, ratio=0.0) -> np.ndarray:
    """The corrected covariance of the vector of trial means, ``f_i f_j S_ij`` (``S`` the trials'
    sample covariance across the k grid points, ``f^2 = 1/J + ratio``: the scale matrix of
    :func:`s2rlib.law.scaling.corrected_draws`; ``ratio = 0`` gives the plain covariance of a mean, ``S/J``). Trials with
    a missing value are left out (NaN when fewer than two are complete)."""
    vals = np.asarray(vals, dtype=float)
    vals = vals[:, np.isfinite(vals).all(axis=0)]
    J = vals.shape[1]
    f = np.sqrt(1 / max(J, 1) + np.maximum(np.broadcast_to(np.asarray(ratio, dtype=float), (len(vals),)), 0.0))
    S = np.cov(vals) if J > 1 else np.full((len(vals), len(vals)), np.nan)
    return np.outer(f, f) * np.atleast_2d(S)


def precision(cov: np.ndarray, trials: int) -> np.ndarray | None:
    """An unbiased estimate of the inverse of a covariance estimated from ``trials`` = J trials:
    ``(J - k - 2)/(J - 1) inv(cov)`` (the inverse of a sample covariance over-weights by
    ``(J - 1)/(J - k - 2)``; Hartlap, Simon & Schneider 2007). None when the trials cannot support it
    (``J <= k + 2``, or a singular or non-finite covariance): callers fall back to the diagonal."""
    cov = np.asarray(cov, dtype=float)
    k = len(cov)
    if k == 0 or trials - k - 2 < 1 or not np.isfinite(cov).all():
        return None
    sd = np.sqrt(np.diag(cov))
    if (sd <= 0).any():
        return None
    corr = cov / np.outer(sd, sd)
    if np.linalg.cond(corr) > 1e8:
        return None
    return (trials - k - 2) / (trials - 1) * np.linalg.inv(corr) / np.outer(sd, sd)


def aic_table(fit, weights) -> dict[str, float]:
    """AIC = chi^2 + 2k of the law, a constant and a pure power law on the trial means.

    ``chi^2 = r' W r`` with ``r`` the residuals of the trial means and ``W`` either the precision
    matrix of the means (:func:`precision`: the trials are paired across n, so a per-trial offset moves
    every mean together and only their differences measure the fall of the curve), or, when the
    trials are too few to estimate it, a vector ``1/se_n^2`` of corrected standard errors (the points
    then treated as independent). All three forms are fitted by that weighted least squares (the law
    by :func:`law_fit_weighted`: the smallest chi^2 of its GLS fit, the table's unweighted point estimate
    and the two nested forms, so the comparison stays nested).
    """
    n, R = np.asarray(fit.n, dtype=float), np.asarray(fit.R, dtype=float)
    W = np.asarray(weights, dtype=float)
    if len(n) == 0 or not fit.usable or len(W) != len(n) or not np.isfinite(W).all():
        return {"law": np.nan, "constant": np.nan, "pure power law": np.nan}
    const_ss = weighted_ss(R - weighted_constant(R, W), W)
    D, a = fit_pure_power(n, R, W)
    pure_ss = weighted_ss(D * n ** (-a) - R, W)
    law_ss, _ = law_fit_weighted(n, R, W, start=(fit.D, fit.alpha, fit.C))
    return {"law": law_ss + 2 * 3, "constant": const_ss + 2 * 1, "pure power law": pure_ss + 2 * 2}


def aic_weights(vals: np.ndarray, ratio=0.0) -> np.ndarray:
    """The weights :func:`aic_table` uses for trial means of ``vals`` (k points x J trials): the
    precision matrix of their corrected covariance when the trials support it, else ``1/se^2``."""
    vals = np.asarray(vals, dtype=float)
    cov = mean_covariance(vals, ratio)
    P = precision(cov, int(np.isfinite(vals).all(axis=0).sum()))
    if P is not None:
        return P
    J = np.isfinite(vals).sum(axis=1)  # each point's own number of trials
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.nanstd(vals, axis=1, ddof=1) if vals.shape[1] > 1 else np.full(len(vals), np.nan)
        se = sd * np.sqrt(1 / J + np.maximum(np.asarray(ratio, dtype=float), 0.0))
    se = np.maximum(se, 1e-9 * max(float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0, 1e-300))
    return 1 / se**2
