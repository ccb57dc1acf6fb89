"""A law with a finite error at n = 0: ``R(n) = C + (R0 - C) (1 + n/n_s)^-alpha``, fitted with n = 0 in the data.

The paper's law ``D n^-alpha + C`` is infinite at n = 0, so it cannot use the baseline run without
pretraining; the committed curves are flat below a threshold (polymer density, chi) or steepen in
log n (the inorganic cases), neither of which it can follow. This form

* is finite at n = 0 (``R0``, the error without pretraining) and falls to the floor ``C`` as n grows;
* is flat for n << n_s and a power law ``(R0 - C) (n/n_s)^-alpha + C`` for n >> n_s: the paper's law
  is its limit n_s -> 0 over n > 0, a constant is its limit R0 = C;
* is linear in (C, R0 - C) for fixed (n_s, alpha): the fit is a variable projection over a log grid
  of (n_s, alpha), (C, R0 - C) >= 0 solved exactly (generalised least squares under the precision of
  the trial means, :func:`s2rlib.law.aic.aic_weights`, n = 0 included), then refined from the best grid
  point. The interval draws (:func:`s2rlib.law.scaling.corrected_draws`) are fitted on the same grid,
  vectorised, with the weights of the measured means.

The status (:func:`classify_finite`) uses the paper's vocabulary (:class:`s2rlib.law.fit_status.FitStatus`):
goodness of fit first (``misfit`` when the chi^2 of the weighted fit has a p-value below
:data:`s2rlib.law.fit_status.GOF_LEVEL`), then AIC against a constant and the form without a floor
(C = 0), then the 90% intervals of alpha and n_s against their search bounds and the share of draws
without a fall. Numbers and dataclasses only; the words are in :mod:`s2rlib.book`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from s2rlib.law import aic
from s2rlib.law.fit_status import (AIC_MARGIN, ALPHA_BOUNDS, CI_LEVEL, GOF_LEVEL, FitStatus,
                                   at_alpha_bound, goodness_of_fit)
from s2rlib.law.scaling import corrected_draws, interval

__all__ = ["FiniteFit", "PARAMS", "N_S_SPAN", "finite_law", "fit_finite", "fit_finite_many", "bootstrap_finite",
           "classify_finite"]

PARAMS = ("R0", "C", "n_s", "alpha")
N_S_SPAN = 100.0  # n_s is searched from (smallest n > 0) / 100 to (largest n) x 100
MIN_FINITE_POINTS = 5  # distinct n >= 0: four parameters and one degree of freedom for the goodness of fit
_GRID = (72, 64)  # log n_s x log alpha points of the profile grid
#: a plateau C is reported (even where alpha is not identified) when its 90% interval excludes 0 and the
#: floor lowers chi^2 by at least its AIC cost: AIC(no floor) - AIC(form) >= 0, i.e. delta chi^2 >= 2
FLOOR_REPORT_MARGIN = 0.0
_BOUND_TOL = 0.01  # as fit_status: within 1% of the log search range is "at" a bound


def finite_law(n, R0, C, n_s, alpha) -> np.ndarray:
    """``C + (R0 - C) (1 + n/n_s)^-alpha``, vectorised (parameters may be arrays of draws)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return C + (R0 - C) * np.exp(-np.asarray(alpha, dtype=float) * np.log1p(n / np.asarray(n_s, dtype=float)))


@dataclass
class FiniteFit:
    """The finite-R(0) law fitted to trial means at n >= 0, with its goodness of fit, draws and status."""

    R0: float
    C: float
    n_s: float
    alpha: float
    status: FitStatus
    message: str = ""
    n: np.ndarray = field(default_factory=lambda: np.array([]))
    R: np.ndarray = field(default_factory=lambda: np.array([]))
    chi2: float = float("nan")  # r' W r of the weighted fit (W: precision of the means, n = 0 included)
    dof: int = 0  # points - 4
    p_value: float = float("nan")  # P(chi^2_dof >= chi2): the goodness-of-fit test
    aic_vs_constant: float = float("nan")  # AIC(constant) - AIC(form): > AIC_MARGIN = the form is better
    aic_vs_no_floor: float = float("nan")  # AIC(form with C = 0) - AIC(form)
    n_s_bounds: tuple[float, float] = (float("nan"), float("nan"))
    boot: np.ndarray | None = None  # (B, 4) draws of (R0, C, n_s, alpha)
    ratio: float = float("nan")

    @property
    def usable(self) -> bool:
        return bool(np.isfinite([self.R0, self.C, self.n_s, self.alpha]).all())

    @property
    def ok(self) -> bool:
        return self.status == FitStatus.ok

    def predict(self, n) -> np.ndarray:
        return finite_law(n, self.R0, self.C, self.n_s, self.alpha)

    def ci(self, level: float = CI_LEVEL) -> dict[str, tuple[float, float]]:
        """Percentile intervals of R0, C, n_s, alpha over the draws (NaN without draws)."""
        return {k: interval(None if self.boot is None else self.boot[:, j], level=level) for j, k in enumerate(PARAMS)}

    def zero_level(self) -> float:
        """The level below which C (or R0 - C) counts as 0: 1e-9 of the largest error."""
        return 1e-9 * max(float(np.nanmax(self.R)) if len(self.R) else 1.0, 1e-300)

    def floor_resolved(self, level: float = CI_LEVEL) -> bool:
        """Whether C is reported as a level (a plateau), whatever alpha does: its 90% interval excludes 0
        and the floor lowers chi^2 by more than its AIC cost (AIC without a floor - AIC of the form >=
        :data:`FLOOR_REPORT_MARGIN`). Status ``ok`` asks more: a margin of ``AIC_MARGIN``."""
        if not self.usable:
            return False
        lo, hi = self.ci(level)["C"]
        return bool(np.isfinite(lo) and np.isfinite(hi) and lo > self.zero_level()
                    and np.isfinite(self.aic_vs_no_floor) and self.aic_vs_no_floor >= FLOOR_REPORT_MARGIN)

    def n_s_at_bound(self, *values: float) -> bool:
        lo, hi = self.n_s_bounds
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return False
        span = math.log(hi / lo)
        return any(np.isfinite(v) and v > 0 and min(math.log(v / lo), math.log(hi / v)) < _BOUND_TOL * span
                   for v in values)


def _grids(n: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    pos = n[n > 0]
    bounds = (float(pos.min()) / N_S_SPAN, float(pos.max()) * N_S_SPAN)
    return np.geomspace(*bounds, _GRID[0]), np.geomspace(*ALPHA_BOUNDS, _GRID[1]), bounds


def _solve(Lt: np.ndarray, X: np.ndarray, Y: np.ndarray, floor: bool = True):
    """min over C, Delta >= 0 of |Lt (C + Delta x) - Lt y|^2 for every design x (rows of X, P x k) and every
    curve y (rows of Y, B x k): returns C, Delta, rss, each (B, P). ``floor=False`` fixes C = 0."""
    a1 = Lt @ np.ones(X.shape[1])  # (k,)
    A2 = X @ Lt.T  # (P, k): Lt x for each design
    Yw = Y @ Lt.T  # (B, k)
    g11, g12, g22 = float(a1 @ a1), A2 @ a1, np.einsum("pk,pk->p", A2, A2)
    b1, b2, yy = Yw @ a1, Yw @ A2.T, np.einsum("bk,bk->b", Yw, Yw)

    def rss(C, Dl):
        return yy[:, None] - 2 * (C * b1[:, None] + Dl * b2) + C * C * g11 + 2 * C * Dl * g12 + Dl * Dl * g22

    with np.errstate(divide="ignore", invalid="ignore"):
        D_only = np.maximum(b2 / g22, 0.0)
        best_C, best_D = np.zeros_like(b2), D_only
        best = rss(best_C, best_D)
        if floor:
            C_only = np.broadcast_to(np.maximum(b1 / g11, 0.0)[:, None], b2.shape)
            r = rss(C_only, 0.0)
            use = r < best
            best_C, best_D, best = np.where(use, C_only, best_C), np.where(use, 0.0, best_D), np.where(use, r, best)
            det = g11 * g22 - g12 * g12
            C1 = (g22 * b1[:, None] - g12 * b2) / det
            D1 = (g11 * b2 - g12 * b1[:, None]) / det
            valid = (det > 1e-12 * g11 * g22) & (C1 >= 0) & (D1 >= 0)
            r = np.where(valid, rss(np.where(valid, C1, 0.0), np.where(valid, D1, 0.0)), np.inf)
            use = r < best
            best_C, best_D, best = np.where(use, C1, best_C), np.where(use, D1, best_D), np.where(use, r, best)
    return best_C, best_D, best


def _designs(n: np.ndarray, ns_grid: np.ndarray, a_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    NS, A = np.meshgrid(ns_grid, a_grid, indexing="ij")
    NS, A = NS.ravel(), A.ravel()
    X = np.exp(-A[:, None] * np.log1p(n[None, :] / NS[:, None]))
    return X, NS, A


def fit_finite_many(n, R, weights=None, chunk: int = 128) -> np.ndarray:
    """The grid fit of :func:`fit_finite` (without the local refinement) for many curves at once: rows of
    ``R`` (B x k) at the same n, the same weights. Returns (B, 4) of (R0, C, n_s, alpha); NaN rows for
    curves with a non-finite value."""
    n = np.asarray(n, dtype=float)
    R = np.atleast_2d(np.asarray(R, dtype=float))
    out = np.full((R.shape[0], 4), np.nan)
    good = np.isfinite(R).all(axis=1)
    if len(np.unique(n)) < MIN_FINITE_POINTS or not good.any() or (n > 0).sum() < 2:
        return out
    Lt = aic.whitener(weights, len(n))
    ns_grid, a_grid, _ = _grids(n)
    X, NS, A = _designs(n, ns_grid, a_grid)
    idx = np.flatnonzero(good)
    for s in range(0, len(idx), chunk):
        rows = idx[s:s + chunk]
        C, Dl, rss = _solve(Lt, X, R[rows])
        j = np.argmin(rss, axis=1)
        r = np.arange(len(rows))
        out[rows] = np.stack([C[r, j] + Dl[r, j], C[r, j], NS[j], A[j]], axis=1)
    return out


def fit_finite(n, R, weights=None) -> tuple[np.ndarray, float, float]:
    """(R0, C, n_s, alpha), the weighted chi^2 ``r' W r`` and that of the form without a floor (C = 0).

    The grid's best point is refined by a bounded local search in (log n_s, log alpha), (C, R0 - C)
    solved exactly at each step; NaN parameters when the points are too few."""
    n, R = np.asarray(n, dtype=float), np.asarray(R, dtype=float)
    nan = (np.full(4, np.nan), float("nan"), float("nan"))
    if len(np.unique(n)) < MIN_FINITE_POINTS or (n > 0).sum() < 2 or not np.isfinite(R).all():
        return nan
    if weights is not None and not np.isfinite(np.asarray(weights, dtype=float)).all():
        return nan
    Lt = aic.whitener(weights, len(n))
    ns_grid, a_grid, (ns_lo, ns_hi) = _grids(n)
    X, NS, A = _designs(n, ns_grid, a_grid)
    no_floor = float(np.min(_solve(Lt, X, R[None, :], floor=False)[2]))
    C, Dl, rss = (v[0] for v in _solve(Lt, X, R[None, :]))
    j = int(np.argmin(rss))

    def chi2_at(p):
        ls, la = np.clip(p, [math.log(ns_lo), math.log(ALPHA_BOUNDS[0])], [math.log(ns_hi), math.log(ALPHA_BOUNDS[1])])
        x = np.exp(-math.exp(la) * np.log1p(n / math.exp(ls)))
        c, d, r = (v[0, 0] for v in _solve(Lt, x[None, :], R[None, :]))
        return float(r), float(c), float(d), math.exp(ls), math.exp(la)

    res = optimize.minimize(lambda p: chi2_at(p)[0], [math.log(NS[j]), math.log(A[j])], method="Nelder-Mead",
                            options={"xatol": 1e-4, "fatol": 1e-10, "maxiter": 400})
    r, c, d, ns, a = chi2_at(res.x)
    if not r <= rss[j]:
        r, c, d, ns, a = float(rss[j]), float(C[j]), float(Dl[j]), float(NS[j]), float(A[j])
    return np.array([c + d, c, ns, a]), r, no_floor


def classify_finite(ff: FiniteFit, level: float = CI_LEVEL) -> tuple[FitStatus, str]:
    """The status of a finite-R(0) fit with draws: fall, goodness of fit, AIC, then the intervals."""
    if not ff.usable:
        return ff.status, ff.message
    if ff.R0 - ff.C <= ff.zero_level():
        return FitStatus.no_decrease, "R0 = C: the error does not fall with n"
    if np.isfinite(ff.p_value) and ff.p_value < GOF_LEVEL:
        return FitStatus.misfit, f"chi^2 = {ff.chi2:.3g} on {ff.dof} dof, p = {ff.p_value:.2g} < {GOF_LEVEL:g}"
    if not np.isfinite(ff.aic_vs_constant) or ff.boot is None:
        return FitStatus.unidentified, "no interval draws: nothing to judge the form by"
    if ff.aic_vs_constant < AIC_MARGIN:
        return FitStatus.constant_preferred, f"AIC of a constant minus AIC of the form = {ff.aic_vs_constant:.2g}"
    ci = ff.ci(level)
    b = ff.boot[np.isfinite(ff.boot).all(axis=1)]
    flat = float(np.mean(b[:, 0] - b[:, 1] <= ff.zero_level())) if len(b) else 1.0
    if flat > (1 - level) / 2:  # UNIDENTIFIED_FRACTION at the default level: the 90% interval of D reaches 0
        return FitStatus.unidentified, f"{flat:.0%} of the interval draws find no decrease"
    a_lo, a_hi = ci["alpha"]
    if at_alpha_bound(ff.alpha) or at_alpha_bound(a_lo) or at_alpha_bound(a_hi) or ff.n_s_at_bound(ff.n_s, *ci["n_s"]):
        return FitStatus.alpha_at_bound, (f"alpha {ff.alpha:.3g} [{a_lo:.3g}, {a_hi:.3g}], n_s {ff.n_s:.3g} "
                                          f"[{ci['n_s'][0]:.3g}, {ci['n_s'][1]:.3g}]")
    if not ff.floor_resolved(level) or ff.aic_vs_no_floor < AIC_MARGIN:
        return FitStatus.C_at_bound, (f"C interval [{ci['C'][0]:.3g}, {ci['C'][1]:.3g}]; AIC without a floor minus "
                                      f"AIC of the form = {ff.aic_vs_no_floor:.2g}")
    return FitStatus.ok, ""


def bootstrap_finite(mat: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0, ratio: float | None = None,
                     level: float = CI_LEVEL) -> FiniteFit:
    """Fit the finite-R(0) law to the trial means at every n (n = 0 included), with corrected draws and status.

    ``mat`` is an (n x trial) matrix (:func:`s2rlib.law.trial_stats.trial_matrix`); ``ratio`` the
    Nadeau-Bengio n_test/n_pool (default ``mat.attrs["test_train_ratio"]``)."""
    r = float(mat.attrs.get("test_train_ratio", 0.0)) if ratio is None else float(ratio)
    mat = mat[mat.notna().all(axis=1) & (mat.index >= 0)].sort_index()
    n = mat.index.to_numpy(dtype=float)
    vals = mat.to_numpy(dtype=float)
    R = vals.mean(axis=1) if vals.size else np.array([])
    if len(np.unique(n)) < MIN_FINITE_POINTS or vals.shape[1] < 2 or (n > 0).sum() < 2:
        return FiniteFit(*(float("nan"),) * 4, FitStatus.too_few_points, n=n, R=R, ratio=r,
                         message=f"{len(np.unique(n))} distinct n >= 0 or {vals.shape[1]} trials; need "
                                 f">= {MIN_FINITE_POINTS} and >= 2")
    W = aic.aic_weights(vals, r)
    p, chi2, no_floor = fit_finite(n, R, W)
    if not np.isfinite(p).all():
        return FiniteFit(*(float("nan"),) * 4, FitStatus.failed, "the weighted fit failed", n=n, R=R, ratio=r)
    const = aic.weighted_ss(R - aic.weighted_constant(R, W), W)
    gof = goodness_of_fit(chi2, len(n) - len(PARAMS))
    ff = FiniteFit(*(float(x) for x in p), FitStatus.ok, n=n, R=R, chi2=chi2, dof=gof.dof, p_value=gof.p_value,
                   aic_vs_constant=(const + 2) - (chi2 + 8), aic_vs_no_floor=(no_floor + 6) - (chi2 + 8),
                   n_s_bounds=_grids(n)[2], ratio=r)
    draws = corrected_draws(vals, r, int(n_boot), np.random.default_rng(seed))
    ff.boot = fit_finite_many(n, draws, W)
    ff.status, ff.message = classify_finite(ff, level)
    return ff
