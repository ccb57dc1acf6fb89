"""From one grid's per-trial results to what the book reports per case: trial matrix, paired gain, case fit.

Every function here reads the per-trial results (the tidy table of :mod:`s2rlib.grid.results`, or the
(n x trial) matrix made from it); the law and its interval draws are :mod:`s2rlib.law.scaling`'s.

* :func:`trial_matrix` — one metric as an (n x trial) matrix, indexed by the number of source samples
  actually drawn (:func:`drawn_n`) and carrying the Nadeau-Bengio ratio n_test/n_pool
  (:func:`test_train_ratio`);
* :func:`paired_gain` — error(n) - error(0) over the same trials, with its corrected t interval
  (a :class:`Gain`);
* :func:`fit_table` — the law (:func:`s2rlib.law.scaling.bootstrap_fit`), the n = 0 baseline and the paired
  gain of one case at one m (a :class:`CaseFit`); :func:`describe` writes one in lines.

The corrected intervals (Nadeau & Bengio 2003) are explained in :mod:`s2rlib.law.scaling`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from s2rlib._core.constants import ALL_M
from s2rlib.law.finite import FiniteFit, bootstrap_finite
from s2rlib.law.fit_status import CI_LEVEL, FitStatus
from s2rlib.law.scaling import Fit, bootstrap_fit, interval

__all__ = ["trial_matrix", "drawn_n", "test_train_ratio", "Gain", "paired_gain", "CaseFit", "fit_table",
           "FORMS", "chosen_form", "reconcile"]

#: the two forms every case is fitted with: the paper's law on n > 0, the finite-R(0) form on n >= 0
FORMS = ("law", "finite")


# --------------------------------------------------------------------------------------------
# a results table -> the (n x trial) matrix of one metric at one m


def trial_matrix(table: pd.DataFrame, metric: str = "mae", m_target: int = ALL_M) -> pd.DataFrame:
    """(n x trial) matrix of a metric for one m (-1 = all experimental data) of one grid.

    The index is the mean number of source samples actually drawn (:func:`drawn_n`); the matrix's
    ``attrs["test_train_ratio"]`` holds :func:`test_train_ratio` of the same rows.
    """
    sub = table[(table["metric"] == metric) & (table["m_target"] == m_target)]
    if "params_id" in sub and sub["params_id"].nunique() > 1:
        case = ", ".join(sorted(sub["case"].astype(str).unique())) if "case" in sub else "?"
        raise ValueError(f"results of case {case} at m_target = {m_target}, metric {metric!r}, mix "
                         f"{sub['params_id'].nunique()} parameter sets (params_id {sorted(sub['params_id'].unique())}): "
                         "select one grid before fitting (selection.select_grid, or s2r fit --grid)")
    mat = sub.pivot_table(index="n_source", columns="trial", values="value", aggfunc="mean").sort_index()
    # the law is fitted at the mean number of source samples actually drawn
    n_used = drawn_n(table[table["m_target"] == m_target])
    if n_used:
        mat.index = [int(round(n_used.get(n, n))) for n in mat.index]
        mat.index.name = "n_source"
    mat.attrs["test_train_ratio"] = test_train_ratio(table, m_target)
    return mat


def drawn_n(table: pd.DataFrame) -> dict:
    """{grid n: mean number of source samples actually drawn} from a table's ``n_source_used`` rows.

    It is below n where fewer samples were available than asked for (n = 'all' with the test
    groups' simulations withheld, as in chi); empty when the table has no such rows.
    """
    used = table[table["metric"] == "n_source_used"]
    return used.groupby("n_source")["value"].mean().to_dict()


def test_train_ratio(table: pd.DataFrame, m_target: int = ALL_M) -> float:
    """The Nadeau-Bengio correction's ``n2/n1`` for the trials at ``m_target``: mean over trials of
    ``n_test / n_pool``, where ``n_pool`` is every experimental row outside the test split (the rows
    a trial may train and validate on); 0 when the sizes are absent.

    The correction's ``rho = n2 / (n1 + n2)`` is the share of the data one trial tests on, i.e. how
    much two re-splits share. With m < all a trial trains on m rows drawn from the same pool, so the
    overlap between trials is set by the pool, not by m: ``n_test / n_train`` would be 6 at chi's
    m = 50 (an interval ~5x too wide) while the test sets overlap no more than at m = all.
    ``n_pool`` is a metric of every row written since it was introduced; for older tables it is
    ``n_train + n_val`` at m = all of the same trial (same test split), else that of ``m_target``.
    """
    sizes = table[table["metric"].isin(["n_test", "n_train", "n_val", "n_pool"])]
    if sizes.empty:
        return 0.0
    per_m = sizes.pivot_table(index=["m_target", "n_source", "trial"], columns="metric", values="value",
                              aggfunc="mean")
    if m_target not in per_m.index.get_level_values(0) or "n_test" not in per_m.columns:
        return 0.0
    per = per_m.loc[m_target]
    if "n_pool" in per.columns and per["n_pool"].notna().all():
        pool = per["n_pool"]
    elif {"n_train", "n_val"} <= set(per_m.columns) and -1 in per_m.index.get_level_values(0):
        full = per_m.loc[-1]
        pool = (full["n_train"] + full["n_val"]).reindex(per.index)
        if pool.isna().any():
            pool = pool.fillna(per["n_train"] + per["n_val"])
    elif {"n_train", "n_val"} <= set(per.columns):
        pool = per["n_train"] + per["n_val"]
    else:
        return 0.0
    r = (per["n_test"] / pool).replace([np.inf, -np.inf], np.nan).dropna()
    return float(r.mean()) if len(r) else 0.0


# --------------------------------------------------------------------------------------------
# paired gains and the fit of one case


@dataclass(frozen=True)
class Gain:
    """Paired gain: mean over trials of error(n) - error(n_ref) on the same test sets, with its interval.

    ``lo``, ``hi``: the Nadeau-Bengio corrected t interval (``se = sqrt(1/J + ratio) * sd``, J - 1 df).
    Negative = pretraining lowers the error.
    """

    n: float
    mean: float
    lo: float
    hi: float
    trials: int
    se: float = float("nan")
    ratio: float = float("nan")
    level: float = CI_LEVEL

    @property
    def verdict(self) -> str:
        """``lowers`` / ``raises`` (the interval excludes 0 on that side), ``no_effect`` (includes 0), ``unknown``."""
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            return "unknown"
        if self.hi < 0:
            return "lowers"
        if self.lo > 0:
            return "raises"
        return "no_effect"


def paired_gain(mat: pd.DataFrame, n_a, n_b=0, level: float = CI_LEVEL, ratio: float | None = None) -> Gain:
    """Mean and corrected t interval of the per-trial difference metric(n_a) - metric(n_b) (same test sets).

    ``ratio`` is n_test / n_pool (default: ``mat.attrs["test_train_ratio"]``, else 0 = the plain
    t interval, which is too narrow for re-splits of one data set).
    """
    r = float(mat.attrs.get("test_train_ratio", 0.0)) if ratio is None else float(ratio)
    if n_a not in mat.index or n_b not in mat.index or n_a == n_b:  # n_a == n_b: only n = 0 was run, no gain
        return Gain(n_a, np.nan, np.nan, np.nan, 0, ratio=r, level=level)
    d = (mat.loc[n_a] - mat.loc[n_b]).dropna().to_numpy(dtype=float)
    J = len(d)
    if J < 2:
        return Gain(n_a, float(d.mean()) if J else np.nan, np.nan, np.nan, J, ratio=r, level=level)
    se = float(d.std(ddof=1) * math.sqrt(1 / J + r))
    lo, hi = interval(mean=float(d.mean()), se=se, df=J - 1, level=level)
    return Gain(int(n_a), float(d.mean()), lo, hi, J, se=se, ratio=r, level=level)


def paired_ratio(num, den, ratio: float = 0.0, level: float = CI_LEVEL) -> tuple[float, float, float]:
    """Fieller's interval for the ratio of two paired means, mean(num) / mean(den), over the same trials.

    Solves ``(n̄ - R d̄)^2 = t^2 f (s_nn - 2 R s_nd + R^2 s_dd)`` for R, with the trials' sample
    (co)variances and ``f = 1/J + ratio`` (the Nadeau-Bengio factor of :func:`paired_gain`; ``ratio = 0``
    gives the plain paired interval). Returns (estimate, lo, hi); the ends are NaN when the denominator's
    own interval includes zero (the ratio is then unbounded) or with fewer than two trials.
    """
    x, y = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    J = len(x)
    est = float(x.mean() / y.mean()) if J and y.mean() != 0 else float("nan")
    if J < 2:
        return est, float("nan"), float("nan")
    from scipy import stats

    t2 = float(stats.t.ppf(0.5 + level / 2, J - 1)) ** 2
    f = 1 / J + max(float(ratio), 0.0)
    c = np.cov(x, y, ddof=1)
    a = y.mean() ** 2 - t2 * f * c[1, 1]
    b = x.mean() * y.mean() - t2 * f * c[0, 1]
    cc = x.mean() ** 2 - t2 * f * c[0, 0]
    disc = b * b - a * cc
    if a <= 0 or disc < 0:
        return est, float("nan"), float("nan")
    r = math.sqrt(disc)
    return est, float((b - r) / a), float((b + r) / a)


@dataclass
class CaseFit:
    """Everything the book shows for one case (and one m): the law, baseline, gain, checks."""

    case: str
    m_target: int
    fit: Fit
    mean: pd.Series  # mean metric per n (n = 0 included)
    sem: pd.Series  # plain standard error of the mean per n (sd / sqrt(J))
    trials: int
    baseline: float  # mean metric at n = 0 (NaN if not run)
    gain: Gain  # paired MAE(n_max) - MAE(0) over trials, corrected interval
    units: str = ""
    ratio: float = 0.0  # n_test / n_pool of the rows (the Nadeau-Bengio correction)
    #: per n > 0: the paired gain MAE(n) - MAE(0) over the same trials, with its corrected interval
    #: (what the cross-case figure draws as a ratio to the baseline); empty without an n = 0 run
    gains: dict = field(default_factory=dict)
    #: the finite-R(0) form C + (R0 - C)(1 + n/n_s)^-alpha fitted with n = 0 (:mod:`s2rlib.law.finite`)
    finite: FiniteFit | None = None

    @property
    def chosen(self) -> str:
        """Which form the row reports: ``"law"`` or ``"finite"`` (:func:`chosen_form`)."""
        return chosen_form(self.fit, self.finite)

    @property
    def chosen_fit(self):
        """The reported form's fit: :attr:`fit` or :attr:`finite`."""
        return self.finite if self.chosen == "finite" else self.fit

    def floor_ceiling(self, level: float = CI_LEVEL) -> float:
        """The lower end of the corrected interval of the lowest mean error at n > 0: an upper bound on the
        floor C above this says no more than the measurements do (NaN without points)."""
        pos = self.mean[self.mean.index > 0].dropna()
        return self.mean_interval(pos.idxmin(), level)[0] if len(pos) else float("nan")

    def mean_interval(self, n, level: float = CI_LEVEL) -> tuple[float, float]:
        """Corrected t interval of the mean error at n (``sem * sqrt(1 + J ratio)``, J - 1 df)."""
        se = float(self.sem.get(n, np.nan)) * math.sqrt(1 + self.trials * self.ratio)
        return interval(mean=float(self.mean.get(n, np.nan)), se=se, df=self.trials - 1, level=level)


def fit_table(table: pd.DataFrame, *, metric: str = "mae", m_target: int | None = None, n_boot: int = 1000,
              loss: str = "linear", units: str = "") -> CaseFit:
    """Fit one case's results table (one m; the default is all experimental data, ``ALL_M``)."""
    case = str(table["case"].iloc[0]) if len(table) else "?"
    m = ALL_M if m_target is None else m_target
    mat = trial_matrix(table, metric, m)
    fit = bootstrap_fit(mat, n_boot=n_boot, loss=loss)
    n_max = mat.index.max() if len(mat) else np.nan
    baseline = float(mat.loc[0].mean()) if 0 in mat.index else float("nan")
    gains = {n: paired_gain(mat, n, 0) for n in mat.index if n > 0} if 0 in mat.index else {}
    gain = paired_gain(mat, n_max, 0)
    finite = bootstrap_finite(mat, n_boot=n_boot)
    for f in (fit, finite):
        f.status, f.message = reconcile(f.status, f.message, gain)
    return CaseFit(case, m, fit, mat.mean(axis=1), mat.sem(axis=1), mat.shape[1], baseline,
                   gain, units, ratio=float(mat.attrs.get("test_train_ratio", 0.0)),
                   gains=gains, finite=finite)


def chosen_form(fit: Fit | None, finite: FiniteFit | None) -> str:
    """The form a case's row reports: the paper's law where it is ``ok``; else the finite-R(0) form, which
    uses the n = 0 baseline too and contains the paper's law (n_s -> 0) and the constant (R0 = C), unless
    it has no numbers or the data reject it (``misfit``) while they do not reject the law."""
    if fit is not None and fit.usable and fit.status == FitStatus.ok:
        return "law"
    if finite is None or not finite.usable:
        return "law"
    if finite.status == FitStatus.misfit and fit is not None and fit.usable and fit.status != FitStatus.misfit:
        return "law"
    return "finite"


def reconcile(status, message: str, gain: Gain) -> tuple[FitStatus, str]:
    """A status that says the error does not fall (``constant_preferred``, ``no_decrease``) beside a paired
    gain whose interval lies below 0 becomes ``shape_unresolved``: the fall is measured, its shape is not."""
    if gain.verdict == "lowers" and status in (FitStatus.constant_preferred, FitStatus.no_decrease):
        return FitStatus.shape_unresolved, (f"{message}; the paired gain at n = {gain.n} is {gain.mean:.3g} "
                                            f"[{gain.lo:.3g}, {gain.hi:.3g}]")
    return status, message
