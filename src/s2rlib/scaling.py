"""Fitting the Sim2Real scaling law ``R(n) = D * n**(-alpha) + C`` and the numbers derived from it.

The fit is a variable projection: for a fixed ``alpha`` the law is linear in (D, C), solved by
non-negative least squares; the profile residual over ``alpha`` is scanned on a log grid and
refined with a bounded scalar minimisation. Log-space residuals are an option (``loss='log'``),
solved by bounded least squares started from the linear solution. A fit never raises on bad
input: it returns a :class:`Fit` whose ``status`` says what happened:

* ``ok`` — interior optimum, enough points;
* ``alpha_at_bound`` — alpha hit the search bound (the curve is too flat or too steep to pin alpha);
* ``C_at_bound`` — C = 0: the data show no floor (the law reduces to a pure power law);
* ``no_decrease`` — D = 0: the error does not fall with n (flat or increasing);
* ``too_few_points`` — fewer than ``MIN_POINTS`` usable points (after dropping NaN/inf/<=0);
* ``unidentified`` — (after a bootstrap) more than ``UNIDENTIFIED_FRACTION`` of the refits over
  resampled trials find no decrease or alpha at a bound: the point estimate is not to be trusted;
* ``failed`` — the optimiser failed.

Uncertainty comes from a bootstrap over whole trials (the same resampled trials at every n, so
the pairing across n is kept): 90% percentile intervals for D, alpha, C and every derived number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

MIN_POINTS = 4
UNIDENTIFIED_FRACTION = 0.2  # bootstrap refits without scaling above which the law is 'unidentified'
ALPHA_BOUNDS = (1e-3, 3.0)
CI_LEVEL = 0.90


@dataclass
class Fit:
    """A fitted law ``R(n) = D n^-alpha + C`` with its status and (optionally) bootstrap draws."""

    D: float
    alpha: float
    C: float
    status: str
    n_points: int
    rss: float = float("nan")
    loss: str = "linear"
    message: str = ""
    boot: np.ndarray | None = None  # (B, 3) bootstrap draws of (D, alpha, C); NaN rows = failed fits
    n: np.ndarray = field(default_factory=lambda: np.array([]))
    R: np.ndarray = field(default_factory=lambda: np.array([]))

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "C_at_bound", "alpha_at_bound")

    @property
    def usable(self) -> bool:
        """Whether the parameters are numbers at all (a law with a flag is still usable)."""
        return np.isfinite([self.D, self.alpha, self.C]).all()

    def predict(self, n) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        return self.D * n ** (-self.alpha) + self.C

    def aic(self) -> float:
        """Gaussian AIC with 3 parameters: N log(RSS/N) + 6."""
        if self.n_points == 0 or not np.isfinite(self.rss) or self.rss <= 0:
            return float("nan")
        return self.n_points * math.log(self.rss / self.n_points) + 2 * 3

    def ci(self, level: float = CI_LEVEL) -> dict[str, tuple[float, float]]:
        """Percentile intervals of D, alpha, C from the bootstrap draws (NaN without draws)."""
        out = {}
        for j, name in enumerate(("D", "alpha", "C")):
            out[name] = _interval(None if self.boot is None else self.boot[:, j], level)
        return out

    def boot_ok_fraction(self) -> float:
        if self.boot is None or len(self.boot) == 0:
            return float("nan")
        return float(np.isfinite(self.boot).all(axis=1).mean())


def _interval(draws: np.ndarray | None, level: float = CI_LEVEL) -> tuple[float, float]:
    if draws is None:
        return (float("nan"), float("nan"))
    d = np.asarray(draws, dtype=float)
    d = d[~np.isnan(d)]
    if len(d) < 10:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(d, [50 * (1 - level), 100 - 50 * (1 - level)])
    return (float(lo), float(hi))


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
    """Fit ``R = D n^-alpha + C`` (D, C >= 0) to points (n > 0); never raises on bad data."""
    if loss not in ("linear", "log"):
        raise ValueError(f"loss must be 'linear' or 'log', not {loss!r}")
    try:
        n, R, w = _clean(n, R, weights)
    except ValueError as exc:
        return Fit(np.nan, np.nan, np.nan, "failed", 0, message=str(exc))
    if len(n) < MIN_POINTS or len(np.unique(n)) < MIN_POINTS:
        return Fit(np.nan, np.nan, np.nan, "too_few_points", len(n), loss=loss, n=n, R=R,
                   message=f"{len(np.unique(n))} distinct n with finite positive R; need >= {MIN_POINTS}")
    lo, hi = alpha_bounds
    scale = n.min()  # x = (n / n_min)^-alpha keeps the design well conditioned; D is rescaled at the end
    # R and the weights are solved in units of their largest value (huge inputs must not overflow)
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
            alpha = float(res.x) if res.fun <= prof[i] else float(grid[i])
            D, C, rss = _nnls_dc((n / scale) ** (-alpha), Rs, ws)
            rss = rss * w_scale * w_scale
            if loss == "log":
                alpha, D, C, rss = _refine_log(n / scale, Rs, alpha, D, C, alpha_bounds)
            D, C, rss = D * r_scale, C * r_scale, rss * r_scale * r_scale
            D_real = float(D * np.power(scale, alpha))
        if not np.isfinite([D_real, alpha, C]).all():
            raise FloatingPointError(f"non-finite parameters D={D_real}, alpha={alpha}, C={C}")
    except Exception as exc:  # optimiser failure or overflow: a status, never an exception
        return Fit(np.nan, np.nan, np.nan, "failed", len(n), loss=loss, n=n, R=R,
                   message=f"{type(exc).__name__}: {exc}")
    span = math.log(hi / lo)
    if D <= 1e-12 * max(R.max(), 1e-300):
        status, msg = "no_decrease", "D = 0: the error does not fall with n"
    elif math.log(alpha / lo) < 0.01 * span or math.log(hi / alpha) < 0.01 * span:
        status, msg = "alpha_at_bound", f"alpha = {alpha:.3g} at the search bound {alpha_bounds}"
    elif C <= 1e-12 * max(R.max(), 1e-300):
        status, msg = "C_at_bound", "C = 0: no floor resolved; the law reduces to a pure power law"
    else:
        status, msg = "ok", ""
    return Fit(D_real, alpha, C, status, len(n), rss=rss, loss=loss, message=msg, n=n, R=R)


def _refine_log(x, R, alpha, D, C, alpha_bounds):
    """Log-space residuals: min sum (log(D x^-a... ) - log R)^2 from the linear start."""
    def resid(p):
        a, d, c = p
        return np.log(d * x ** (-a) + c + 1e-300) - np.log(R)

    starts = [(alpha, max(D, 1e-9), C), (alpha, max(D, 1e-9) * 1.5, C * 0.5), (min(alpha * 2, alpha_bounds[1]), max(D, 1e-9), C * 0.8)]
    best = None
    for s in starts:
        s = (float(np.clip(s[0], *alpha_bounds)), s[1], max(s[2], 0.0))
        r = optimize.least_squares(resid, s, bounds=([alpha_bounds[0], 0, 0], [alpha_bounds[1], np.inf, np.inf]))
        if best is None or r.cost < best.cost:
            best = r
    a, d, c = best.x
    rss = float(np.sum((d * x ** (-a) + c - R) ** 2))
    return float(a), float(d), float(c), rss


# --------------------------------------------------------------------------------------------
# tables of trials -> fits with bootstrap


def trial_matrix(table: pd.DataFrame, metric: str = "mae", m_target: int = -1) -> pd.DataFrame:
    """(n x trial) matrix of a metric for one m (-1 = all experimental data) of one grid."""
    sub = table[(table["metric"] == metric) & (table["m_target"] == m_target)]
    if "params_id" in sub and sub["params_id"].nunique() > 1:
        raise ValueError(f"results mix {sub['params_id'].nunique()} parameter sets {sorted(sub['params_id'].unique())}; "
                         "select one params_id before fitting")
    mat = sub.pivot_table(index="n_source", columns="trial", values="value", aggfunc="mean").sort_index()
    # the law is fitted at the mean number of source samples actually drawn
    n_used = drawn_n(table[table["m_target"] == m_target])
    if n_used:
        mat.index = [int(round(n_used.get(n, n))) for n in mat.index]
        mat.index.name = "n_source"
    return mat


def drawn_n(table: pd.DataFrame) -> dict:
    """{grid n: mean number of source samples actually drawn} from a table's ``n_source_used`` rows.

    It is below n where fewer samples were available than asked for (n = 'all' with the test
    groups' simulations withheld, as in chi); empty when the table has no such rows.
    """
    used = table[table["metric"] == "n_source_used"]
    return used.groupby("n_source")["value"].mean().to_dict()


def bootstrap_fit(mat: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0, loss: str = "linear") -> Fit:
    """Fit the mean over trials per n (n > 0), with a bootstrap over whole trials."""
    pos = mat[mat.index > 0]
    fit = fit_law(pos.index.to_numpy(), pos.mean(axis=1).to_numpy(), loss=loss)
    if not fit.usable or pos.shape[1] < 2:
        return fit
    rng = np.random.default_rng(seed)
    vals = pos.to_numpy()
    T = vals.shape[1]
    draws = np.full((n_boot, 3), np.nan)
    weak = 0
    for b in range(n_boot):
        cols = rng.integers(0, T, T)
        f = fit_law(pos.index.to_numpy(), np.nanmean(vals[:, cols], axis=1), loss=loss)
        if f.usable:
            draws[b] = (f.D, f.alpha, f.C)
            weak += f.status in ("no_decrease", "alpha_at_bound")
    fit.boot = draws
    frac = weak / n_boot
    if fit.status in ("ok", "C_at_bound") and frac > UNIDENTIFIED_FRACTION:
        fit.status = "unidentified"
        fit.message = (f"{frac:.0%} of the bootstrap refits find no decrease or alpha at a bound: "
                       "the trials do not pin the law down")
    return fit


@dataclass
class CaseFit:
    """Everything the book shows for one case (and one m): the law, baseline, gain, checks."""

    case: str
    m_target: int
    fit: Fit
    mean: pd.Series  # mean metric per n (n = 0 included)
    sem: pd.Series
    trials: int
    baseline: float  # mean metric at n = 0 (NaN if not run)
    gain: dict  # paired MAE(n_max) - MAE(0) over trials: mean, lo, hi
    units: str = ""


def paired_gain(mat: pd.DataFrame, n_a, n_b=0, level: float = CI_LEVEL) -> dict:
    """Mean and t-interval of the per-trial difference metric(n_a) - metric(n_b) (same test sets)."""
    if n_a not in mat.index or n_b not in mat.index or n_a == n_b:  # n_a == n_b: only n = 0 was run, no gain
        return {"n": n_a, "mean": np.nan, "lo": np.nan, "hi": np.nan, "trials": 0}
    d = (mat.loc[n_a] - mat.loc[n_b]).dropna().to_numpy()
    if len(d) < 2:
        return {"n": n_a, "mean": float(d.mean()) if len(d) else np.nan, "lo": np.nan, "hi": np.nan, "trials": len(d)}
    half = stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return {"n": int(n_a), "mean": float(d.mean()), "lo": float(d.mean() - half), "hi": float(d.mean() + half),
            "trials": len(d)}


def fit_table(table: pd.DataFrame, *, metric: str = "mae", m_target: int | None = None, n_boot: int = 1000,
              loss: str = "linear", units: str = "") -> CaseFit:
    """Fit one case's results table (one m; the default is all experimental data, m = -1)."""
    case = str(table["case"].iloc[0]) if len(table) else "?"
    m = -1 if m_target is None else m_target
    mat = trial_matrix(table, metric, m)
    fit = bootstrap_fit(mat, n_boot=n_boot, loss=loss)
    n_max = mat.index.max() if len(mat) else np.nan
    baseline = float(mat.loc[0].mean()) if 0 in mat.index else float("nan")
    return CaseFit(case, m, fit, mat.mean(axis=1), mat.sem(axis=1), mat.shape[1], baseline,
                   paired_gain(mat, n_max, 0), units)


def describe(cf: CaseFit) -> str:
    f = cf.fit
    ci = f.ci()
    lines = [f"{cf.case} (m = {'all' if cf.m_target == -1 else cf.m_target}, {cf.trials} trials): status {f.status}"]
    if f.usable:
        for k in ("D", "alpha", "C"):
            lines.append(f"  {k:5s} = {getattr(f, k):.4g}  90% CI [{ci[k][0]:.4g}, {ci[k][1]:.4g}]")
    lines.append(f"  n = 0 baseline: {cf.baseline:.4g}; paired gain at n = {cf.gain['n']}: {cf.gain['mean']:+.4g} "
                 f"[{cf.gain['lo']:+.4g}, {cf.gain['hi']:+.4g}]")
    return "\n".join(lines)
