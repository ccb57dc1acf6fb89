"""Fitting the Sim2Real scaling law ``R(n) = D * n**(-alpha) + C``, its intervals and its status.

The fit is a variable projection: for a fixed ``alpha`` the law is linear in (D, C), solved by
non-negative least squares; the profile residual over ``alpha`` is scanned on a log grid and
refined with a bounded scalar minimisation. Log-space residuals are an option (``loss='log'``).
A fit never raises on bad input: it returns a :class:`Fit` whose ``status`` (a :class:`FitStatus`,
which carries its own explanation in words) says what the data identify.

Uncertainty. The trials of one grid are re-splits of *one* experimental data set: their training
and test sets overlap, so they are positively correlated and the spread between them understates
the uncertainty of their mean. Every interval here uses the Nadeau-Bengio corrected resampled t
(Nadeau & Bengio, Machine Learning 52, 239, 2003): the variance of a mean over J trials is
``(1/J + n_test/n_pool) s^2`` instead of ``s^2 / J``, with a t distribution of J - 1 degrees of
freedom; ``n_test/n_pool`` is the mean ratio of the rows' own split sizes
(:func:`s2rlib.law.trial_stats.test_train_ratio`).

* the paired gain (error at n minus error at n = 0 over the same trials) gets exactly that interval
  (:func:`s2rlib.law.trial_stats.paired_gain`);
* D, alpha, C get intervals from the same model applied to the whole vector of trial means: each
  draw adds to the measured means a random combination of the trials' deviations with covariance
  ``(1/J + n_test/n_pool) S`` (S: the covariance of the trial vectors), scaled by a chi-square draw
  so that a linear quantity follows a t with J - 1 degrees of freedom, and refits the law
  (:func:`corrected_draws`). For the gain (a linear quantity) the percentile interval of the draws is
  the corrected t interval itself. ``tests/test_coverage.py`` checks on synthetic grids with a shared
  component that nominal 90% intervals cover 85-95%, and that the plain bootstrap over trials does not.

The status (:func:`s2rlib.law.scaling.classify`, with the status vocabulary) tests the law's goodness of fit
(the chi^2 of its weighted fit, ``misfit`` when its p-value is below 0.05) and compares it with simpler
forms by AIC on the trial means with their corrected covariance across n (:mod:`s2rlib.law.aic`); more
than 5% of the draws without a fall (the 90% interval of D reaching 0) make it ``unidentified``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

# defined in fit_status (what a fit identifies) and used here; ``scaling.FitStatus`` etc. keep working
from s2rlib.law.aic import aic_table, aic_weights
from s2rlib.law.fit_status import (AIC_MARGIN, ALPHA_BOUNDS, CI_LEVEL, GOF_LEVEL, MIN_POINTS,
                                    FitStatus, at_alpha_bound, goodness_of_fit)

def interval(draws=None, *, mean=float("nan"), se=float("nan"), df: float = 0,
             level: float = CI_LEVEL) -> tuple[float, float]:
    """The one interval helper: a percentile interval of ``draws``, or ``mean -+ t_{df} se``.

    With ``draws``: numpy's 'linear' percentile rule; NaN draws are skipped, +-inf draws are ranked
    like numbers (an end that falls on or next to an infinite draw is infinite); fewer than
    ``MIN_DRAWS`` non-NaN draws give (NaN, NaN). Without draws: the t interval of ``mean`` with
    standard error ``se`` and ``df`` degrees of freedom (NaN unless df >= 1 and se finite).
    """
    nan = (float("nan"), float("nan"))
    if draws is None:
        if df < 1 or not (np.isfinite(mean) and np.isfinite(se)):
            return nan
        half = float(se) * float(stats.t.ppf(0.5 + level / 2, df))
        return (float(mean) - half, float(mean) + half)
    d = np.asarray(draws, dtype=float).ravel()
    d = np.sort(d[~np.isnan(d)])
    if len(d) < MIN_DRAWS:
        return nan
    out = []
    for q in (0.5 * (1 - level), 1 - 0.5 * (1 - level)):
        h = (len(d) - 1) * q
        i, f = int(math.floor(h)), h - math.floor(h)
        a, b = d[i], d[min(i + 1, len(d) - 1)]
        if f == 0 or a == b:
            out.append(float(a))
        elif np.isfinite(a) and np.isfinite(b):
            out.append(float(a + (b - a) * f))
        elif b == np.inf and a > -np.inf:
            out.append(float("inf"))
        elif a == -np.inf and b < np.inf:
            out.append(float("-inf"))
        else:
            out.append(float("nan"))
    return (out[0], out[1])


MIN_DRAWS = 10


@dataclass
class Fit:
    """A fitted law ``R(n) = D n^-alpha + C`` with its status and (optionally) interval draws."""

    D: float
    alpha: float
    C: float
    status: FitStatus
    n_points: int
    rss: float = float("nan")
    loss: str = "linear"
    message: str = ""
    boot: np.ndarray | None = None  # (B, 3) draws of (D, alpha, C); NaN rows = failed fits
    n: np.ndarray = field(default_factory=lambda: np.array([]))
    R: np.ndarray = field(default_factory=lambda: np.array([]))
    method: str = ""  # how the draws were made: 'corrected' or 'trial_bootstrap' ('' without draws)
    ratio: float = float("nan")  # n_test / n_pool used by the corrected intervals
    aic_vs_constant: float = float("nan")  # AIC(constant) - AIC(law): > AIC_MARGIN = the law is better
    aic_vs_pure: float = float("nan")  # AIC(pure power law) - AIC(law)
    chi2: float = float("nan")  # r' W r of the law's weighted fit on the trial means (n > 0)
    dof: int = 0  # points - 3
    p_value: float = float("nan")  # goodness of fit: P(chi^2_dof >= chi2)

    @property
    def ok(self) -> bool:
        """Whether the law is identified (status ``ok``): the only case in which derived numbers are printed."""
        return self.status == FitStatus.ok

    @property
    def usable(self) -> bool:
        """Whether the parameters are numbers at all (a law with a flag is still drawable)."""
        return bool(np.isfinite([self.D, self.alpha, self.C]).all())

    def predict(self, n) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        return self.D * n ** (-self.alpha) + self.C

    def aic(self) -> float:
        """Gaussian AIC of the point fit with 3 parameters: N log(RSS/N) + 6 (see :func:`aic_table`)."""
        if self.n_points == 0 or not np.isfinite(self.rss) or self.rss <= 0:
            return float("nan")
        return self.n_points * math.log(self.rss / self.n_points) + 2 * 3

    def ci(self, level: float = CI_LEVEL) -> dict[str, tuple[float, float]]:
        """Percentile intervals of D, alpha, C over the draws (NaN without draws)."""
        return {name: interval(None if self.boot is None else self.boot[:, j], level=level)
                for j, name in enumerate(("D", "alpha", "C"))}

    def floor_at_bound(self, level: float = CI_LEVEL) -> bool:
        """Whether C is only bounded from above (C = 0, or its interval reaches 0): report ``C < hi``."""
        if not self.usable:
            return False
        lo = self.ci(level)["C"][0]
        return bool(self.C <= self._zero_C() or (np.isfinite(lo) and lo <= self._zero_C()))

    def C_upper(self, level: float = CI_LEVEL) -> float:
        """The printable upper bound of a floor that is not resolved (``C < x``): the upper end of C's
        interval; NaN where there is none or where it sits at C's bound 0 (every draw puts C at 0: "C < 0"
        would say nothing true)."""
        hi = self.ci(level)["C"][1] if self.usable else float("nan")
        return float(hi) if np.isfinite(hi) and hi > self._zero_C() else float("nan")

    def _zero_C(self) -> float:
        """The level below which C counts as 0 (its bound): 1e-9 of the largest error."""
        return 1e-9 * max(float(np.nanmax(self.R)) if len(self.R) else 1.0, 1e-300)

    def floor_unresolved(self, level: float = CI_LEVEL) -> bool:
        """Whether the book reports C as an upper bound only, ``C < hi``: C at its bound (see
        :meth:`floor_at_bound`), status ``C_at_bound`` for any reason, or a pure power law that fits as well
        by AIC while C's interval stays above 0 (whatever the status: ``alpha_at_bound`` is decided first)."""
        pure_as_good = np.isfinite(self.aic_vs_pure) and self.aic_vs_pure < AIC_MARGIN  # also under alpha_at_bound
        return bool(self.usable and (self.status == FitStatus.C_at_bound or pure_as_good or self.floor_at_bound(level)))

    def floor_reason(self, level: float = CI_LEVEL) -> str:
        """Why C is only an upper bound, in words; "" for a fit whose floor is resolved."""
        if not self.floor_unresolved(level):
            return ""
        if self.usable and self.C <= self._zero_C():
            return "C at its bound 0"
        if self.floor_at_bound(level):
            return "its interval reaches the bound 0"
        return "a pure power law (C = 0) fits as well by AIC"

    def boot_ok_fraction(self) -> float:
        if self.boot is None or len(self.boot) == 0:
            return float("nan")
        return float(np.isfinite(self.boot).all(axis=1).mean())


def _clean(n, R, w=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop non-finite and non-positive points (n, R and weights alike) and sort by n."""
    n = np.asarray(n, dtype=float).ravel()
    R = np.asarray(R, dtype=float).ravel()
    w = np.ones_like(R) if w is None else np.asarray(w, dtype=float).ravel()
    if n.shape != R.shape or w.shape != R.shape:
        raise ValueError(f"n, R and weights differ in length ({n.shape}, {R.shape}, {w.shape})")
    keep = np.isfinite(n) & np.isfinite(R) & (n > 0) & (R > 0) & np.isfinite(w) & (w != 0)
    order = np.argsort(n[keep])
    return n[keep][order], R[keep][order], w[keep][order]


def _nnls_dc(x: np.ndarray, R: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """min over D, C >= 0 of sum w (D x + C - R)^2; returns (D, C, rss)."""
    A = np.stack([x, np.ones_like(x)], axis=1) * w[:, None]
    (D, C), rnorm = optimize.nnls(A, R * w)
    return float(D), float(C), float(rnorm**2)


def fit_law(n, R, *, loss: str = "linear", alpha_bounds=ALPHA_BOUNDS, weights=None) -> Fit:
    """Fit ``R = D n^-alpha + C`` (D, C >= 0) to points (n > 0); never raises on bad data.

    The status of a bare point fit says only what the point estimate shows (``no_decrease``,
    ``alpha_at_bound``, ``C_at_bound`` or ``ok`` for an interior optimum); :func:`bootstrap_fit`
    replaces it by the full verdict (AIC against simpler forms, intervals against the bounds).
    """
    if loss not in ("linear", "log"):
        raise ValueError(f"loss must be 'linear' or 'log', not {loss!r}")
    try:
        n, R, w = _clean(n, R, weights)
    except ValueError as exc:
        return Fit(np.nan, np.nan, np.nan, FitStatus.failed, 0, message=str(exc))
    if len(n) < MIN_POINTS or len(np.unique(n)) < MIN_POINTS:
        return Fit(np.nan, np.nan, np.nan, FitStatus.too_few_points, len(n), loss=loss, n=n, R=R,
                   message=f"{len(np.unique(n))} distinct n with finite positive R; need >= {MIN_POINTS}")
    lo, hi = alpha_bounds
    scale = n.min()  # x = (n / n_min)^-alpha keeps the design well conditioned; D is rescaled at the end
    r_scale = float(R.max())
    w_scale = float(np.abs(w).max())
    Rs, ws = R / r_scale, w / w_scale

    def profile(alpha: float) -> float:
        return _nnls_dc((n / scale) ** (-alpha), Rs, ws)[2]

    try:
        with np.errstate(over="ignore", under="ignore"):
            grid = np.geomspace(lo, hi, 80)
            prof = np.array([profile(a) for a in grid])
            i = int(np.argmin(prof))
            a_lo, a_hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
            res = optimize.minimize_scalar(profile, bounds=(a_lo, a_hi), method="bounded", options={"xatol": 1e-6})
            # a tie keeps the grid point: on a flat profile (D = 0, alpha undefined) that is the search
            # bound itself, 0.001, not wherever the bounded search stopped inside the first grid step
            alpha = float(res.x) if res.fun < prof[i] else float(grid[i])
            D, C, rss = _nnls_dc((n / scale) ** (-alpha), Rs, ws)
            rss = rss * w_scale * w_scale
            if loss == "log":
                alpha, D, C, rss = _refine_log(n / scale, Rs, alpha, D, C, alpha_bounds)
            D, C, rss = D * r_scale, C * r_scale, rss * r_scale * r_scale
            D_real = float(D * np.power(scale, alpha))
        if not np.isfinite([D_real, alpha, C]).all():
            raise FloatingPointError(f"non-finite parameters D={D_real}, alpha={alpha}, C={C}")
    except Exception as exc:  # optimiser failure or overflow: a status, never an exception
        return Fit(np.nan, np.nan, np.nan, FitStatus.failed, len(n), loss=loss, n=n, R=R,
                   message=f"{type(exc).__name__}: {exc}")
    if D <= 1e-12 * max(R.max(), 1e-300):
        status, msg = FitStatus.no_decrease, "D = 0: the error does not fall with n"
    elif at_alpha_bound(alpha, alpha_bounds):
        status, msg = FitStatus.alpha_at_bound, f"alpha = {alpha:.3g} at the search bound {alpha_bounds}"
    elif C <= 1e-12 * max(R.max(), 1e-300):
        status, msg = FitStatus.C_at_bound, "C = 0: no floor resolved; the law reduces to a pure power law"
    else:
        status, msg = FitStatus.ok, ""
    return Fit(D_real, alpha, C, status, len(n), rss=rss, loss=loss, message=msg, n=n, R=R)


def _refine_log(x, R, alpha, D, C, alpha_bounds):
    """Log-space residuals: min sum (log(D x^-a + C) - log R)^2 from the linear start."""
    def resid(p):
        a, d, c = p
        return np.log(d * x ** (-a) + c + 1e-300) - np.log(R)

    starts = [(alpha, max(D, 1e-9), C), (alpha, max(D, 1e-9) * 1.5, C * 0.5),
              (min(alpha * 2, alpha_bounds[1]), max(D, 1e-9), C * 0.8)]
    best = None
    for s in starts:
        s = (float(np.clip(s[0], *alpha_bounds)), s[1], max(s[2], 0.0))
        r = optimize.least_squares(resid, s, bounds=([alpha_bounds[0], 0, 0], [alpha_bounds[1], np.inf, np.inf]))
        if best is None or r.cost < best.cost:
            best = r
    a, d, c = best.x
    rss = float(np.sum((d * x ** (-a) + c - R) ** 2))
    return float(a), float(d), float(c), rss


def fit_many(n, R, alpha_bounds=ALPHA_BOUNDS) -> np.ndarray:
    """The linear-loss fit of :func:`fit_law` for many curves at once: rows of ``R`` (B x k) at the same n.

    Vectorised over the rows (closed-form two-variable NNLS per alpha, an 80-point log grid, then a
    golden-section refinement), so thousands of interval draws cost a fraction of a second. Returns
    a (B, 3) array of (D, alpha, C); a row of ``R`` with a non-finite value gives a NaN row.
    """
    n = np.asarray(n, dtype=float)
    R = np.atleast_2d(np.asarray(R, dtype=float))
    out = np.full((R.shape[0], 3), np.nan)
    good = np.isfinite(R).all(axis=1)
    if len(n) < MIN_POINTS or not good.any():
        return out
    Rg = R[good]
    k = len(n)
    scale, u = n.min(), n / n.min()
    rs = float(np.max(np.abs(Rg))) or 1.0
    Rs = Rg / rs
    SR, SRR = Rs.sum(1), (Rs * Rs).sum(1)

    def solve(x):  # x: (k,) or (B, k) -> D, C, rss per row
        Sx, Sxx, SxR = x.sum(-1), (x * x).sum(-1), (x * Rs).sum(-1)
        det = k * Sxx - Sx * Sx

        def rss(D, C):
            return SRR - 2 * D * SxR - 2 * C * SR + D * D * Sxx + 2 * D * C * Sx + k * C * C

        with np.errstate(divide="ignore", invalid="ignore"):
            D1 = (k * SxR - Sx * SR) / det
            C1 = (Sxx * SR - Sx * SxR) / det
        cands = [(np.zeros_like(SR), np.maximum(SR / k, 0)), (np.maximum(SxR / Sxx, 0), np.zeros_like(SR))]
        valid = (det > 1e-12 * k * Sxx) & (D1 >= 0) & (C1 >= 0)
        D, C = cands[0]
        best = rss(D, C)
        for Dc, Cc in cands[1:] + [(np.where(valid, D1, 0), np.where(valid, C1, 0))]:
            r = rss(Dc, Cc)
            better = r < best
            D, C, best = np.where(better, Dc, D), np.where(better, Cc, C), np.where(better, r, best)
        return D, C, best

    lo, hi = alpha_bounds
    grid = np.geomspace(lo, hi, 80)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        prof = np.stack([solve(u ** (-a))[2] for a in grid], axis=1)  # (B, 80)
        i = np.argmin(prof, axis=1)
        a, b = grid[np.maximum(i - 1, 0)], grid[np.minimum(i + 1, len(grid) - 1)]
        g = (math.sqrt(5) - 1) / 2
        c, d = b - g * (b - a), a + g * (b - a)
        fc, fd = solve(u[None, :] ** (-c[:, None]))[2], solve(u[None, :] ** (-d[:, None]))[2]
        for _ in range(40):
            left = fc < fd
            b = np.where(left, d, b)
            a = np.where(left, a, c)
            d_new = np.where(left, c, a + g * (b - a))
            c_new = np.where(left, b - g * (b - a), d)
            fc, fd = np.where(left, np.nan, fd), np.where(left, fc, fd)
            c, d = c_new, d_new
            need_c, need_d = np.isnan(fc), ~left
            fc = np.where(need_c, solve(u[None, :] ** (-c[:, None]))[2], fc)
            fd = np.where(need_d, solve(u[None, :] ** (-d[:, None]))[2], fd)
        alpha = (a + b) / 2
        D, C, r = solve(u[None, :] ** (-alpha[:, None]))
        gbest = grid[i]
        Dg, Cg, rg = solve(u[None, :] ** (-gbest[:, None]))
        use_g = rg <= r  # a tie keeps the grid point (a flat profile reports the bound, as fit_law does)
        alpha, D, C = np.where(use_g, gbest, alpha), np.where(use_g, Dg, D), np.where(use_g, Cg, C)
        out[good] = np.stack([D * rs * scale**alpha, alpha, C * rs], axis=1)
    return out


# --------------------------------------------------------------------------------------------
# interval draws of the trial means -> the law with intervals and its full status


def corrected_draws(vals: np.ndarray, ratio, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot x k) draws of the vector of trial means under the Nadeau-Bengio corrected t model.

    ``vals`` is (k x J): k grid points, J trials. Each draw is ``mean + sqrt(1/J + ratio) *
    dev @ g / sqrt(J - 1) / sqrt(w)`` with ``dev`` the trials' deviations from their mean, ``g``
    standard normal (so the draw has the trials' covariance, scaled by the correction) and ``w`` a
    chi-square(J - 1) / (J - 1) draw (so a linear combination is t-distributed with J - 1 df).
    ``ratio`` is a number or one number per row (grid points with different split sizes).
    """
    vals = np.asarray(vals, dtype=float)
    J = vals.shape[1]
    mean = np.nanmean(vals, axis=1)
    dev = np.nan_to_num(vals - mean[:, None])
    g = rng.standard_normal((n_boot, J))
    w = rng.chisquare(J - 1, n_boot) / (J - 1)
    factor = np.sqrt(1 / J + np.maximum(np.broadcast_to(np.asarray(ratio, dtype=float), mean.shape), 0.0))
    return mean[None, :] + factor[None, :] * (g @ dev.T) / math.sqrt(J - 1) / np.sqrt(w)[:, None]


def trial_bootstrap_draws(vals: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot x k) means of trials resampled with replacement: the *uncorrected* method, kept for comparison.

    It ignores what re-splits of one data set share and, with few trials, the t tail: its nominal
    90% intervals cover far less (``tests/test_coverage.py``).
    """
    J = vals.shape[1]
    return np.stack([np.nanmean(vals[:, rng.integers(0, J, J)], axis=1) for _ in range(n_boot)])


def classify(fit: Fit, weights, *, level: float = CI_LEVEL) -> tuple[FitStatus, str]:
    """The full status of a fit with draws: AIC against simpler forms (``weights`` as in
    :func:`s2rlib.law.aic.aic_table`), then the intervals against the bounds."""
    if fit.status in (FitStatus.failed, FitStatus.too_few_points) or not fit.usable:
        return fit.status, fit.message
    aic = aic_table(fit, weights)
    fit.aic_vs_constant = aic["constant"] - aic["law"]
    fit.aic_vs_pure = aic["pure power law"] - aic["law"]
    gof = goodness_of_fit(aic["law"] - 2 * 3, fit.n_points - 3)
    fit.chi2, fit.dof, fit.p_value = gof.chi2, gof.dof, gof.p_value
    if fit.status == FitStatus.no_decrease:  # D = 0: the AICs are printed (the law's extra parameters cost), no more
        return fit.status, fit.message
    if not np.isfinite(fit.aic_vs_constant) or fit.boot is None:
        return FitStatus.unidentified, "one trial or no interval draws: nothing to judge the law by"
    if not gof.fits:
        return FitStatus.misfit, f"chi^2 = {gof.chi2:.3g} on {gof.dof} dof, p = {gof.p_value:.2g} < {GOF_LEVEL:g}"
    if fit.aic_vs_constant < AIC_MARGIN:
        return FitStatus.constant_preferred, (f"AIC of a constant minus AIC of the law = {fit.aic_vs_constant:.2g} "
                                              f"< {AIC_MARGIN:g}")
    ci = fit.ci(level)
    a_lo, a_hi = ci["alpha"]
    if at_alpha_bound(fit.alpha) or (np.isfinite(a_lo) and (at_alpha_bound(a_lo) or at_alpha_bound(a_hi))):
        return FitStatus.alpha_at_bound, f"alpha {fit.alpha:.3g}, 90% interval [{a_lo:.3g}, {a_hi:.3g}]"
    b = fit.boot[np.isfinite(fit.boot).all(axis=1)]
    tiny = 1e-12 * max(float(np.max(fit.R)), 1e-300)
    flat = float(np.mean(b[:, 0] <= tiny)) if len(b) else 1.0
    if flat > (1 - level) / 2:  # UNIDENTIFIED_FRACTION at the default level: the 90% interval of D reaches 0
        return FitStatus.unidentified, f"{flat:.0%} of the interval draws find no decrease"
    if fit.floor_at_bound(level) or fit.aic_vs_pure < AIC_MARGIN:
        return FitStatus.C_at_bound, (f"C interval [{ci['C'][0]:.3g}, {ci['C'][1]:.3g}]; AIC of a pure power law "
                                      f"minus AIC of the law = {fit.aic_vs_pure:.2g}")
    return FitStatus.ok, ""


def bootstrap_fit(mat: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0, loss: str = "linear",
                  ratio: float | None = None, method: str = "corrected", level: float = CI_LEVEL) -> Fit:
    """Fit the mean over trials per n (n > 0), with interval draws and the full status.

    ``method='corrected'`` (the default, what the book prints) draws the trial means from the
    Nadeau-Bengio corrected t model (:func:`corrected_draws`) with ``ratio`` = n_test/n_pool
    (default: ``mat.attrs["test_train_ratio"]``, else 0); ``'trial_bootstrap'`` resamples whole
    trials (the uncorrected method, kept only to show that it under-covers).
    """
    if method not in ("corrected", "trial_bootstrap"):
        raise ValueError(f"method must be 'corrected' or 'trial_bootstrap', not {method!r}")
    pos = mat[mat.index > 0]
    fit = fit_law(pos.index.to_numpy(), pos.mean(axis=1).to_numpy(), loss=loss)
    r = float(mat.attrs.get("test_train_ratio", 0.0)) if ratio is None else float(ratio)
    fit.ratio = r
    if not fit.usable or pos.shape[1] < 2:
        if fit.usable:
            fit.status, fit.message = classify(fit, np.full(len(fit.n), np.nan), level=level)
        return fit
    rng = np.random.default_rng(seed)
    # the fitted points: the same n > 0 rows fit_law kept (finite, positive means)
    keep = pos.index.isin(fit.n)
    vals = pos.to_numpy(dtype=float)[keep]
    if method == "corrected":
        means = corrected_draws(vals, r, int(n_boot), rng)
    else:
        means = trial_bootstrap_draws(vals, int(n_boot), rng)
    n_fit = pos.index.to_numpy(dtype=float)[keep]
    if loss == "linear":
        fit.boot = fit_many(n_fit, means)
    else:
        fit.boot = np.array([[f.D, f.alpha, f.C] if (f := fit_law(n_fit, m, loss=loss)).usable else [np.nan] * 3
                             for m in means])
    fit.method = method
    fit.status, fit.message = classify(fit, aic_weights(vals, r if method == "corrected" else 0.0), level=level)
    return fit
