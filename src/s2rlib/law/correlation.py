"""How much a J-trial mean really varies, against what the Nadeau-Bengio factor says (disjoint parts).

Input: the table of :mod:`s2rlib.grid.correlation_study`: ``J`` re-split trials on each of ``H``
disjoint parts of the experimental data, for ``R`` random partitions. For each part ``p`` with trial
mean ``x_p``, trial variance ``s_p^2`` and ``r_p`` = mean ``n_test / n_pool``:

* observed: the variance of the part means within a partition, pooled over partitions
  (``sum_r sum_p (x_p - x_r)^2 / (R (H - 1))``), an unbiased estimate of ``Var(x_p)`` with
  ``R (H - 1)`` degrees of freedom (the parts are independent data sets);
* predicted: the mean of ``s_p^2 (1/J + r_p)`` (the factor of :func:`s2rlib.law.trial_stats.paired_gain`)
  and of ``s_p^2 / J`` (no correction);
* ``ratio`` = observed / predicted, with a 90% interval from the chi-square law of the observed variance
  (the predicted one, averaged over ``R H J`` trials, is taken as known); 1 means the factor is right,
  below 1 that it is conservative (intervals too wide), above 1 that it is too optimistic. The ``R``
  partitions cut the same rows again, so with ``R > 1`` the interval counts more independent
  information than there is (it is too narrow); ``R = 1`` is exact;
* ``rho``: the correlation between two trials of one data set that the observed variance implies,
  ``(observed / mean s_p^2 - 1/J) J / (J - 1)``, against the factor's ``r`` (for large J the factor's
  variance is ``s^2 (1/J + r)``, i.e. ``rho`` about ``r``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from s2rlib.law.fit_status import CI_LEVEL


@dataclass(frozen=True)
class CorrelationCheck:
    """The measured spread of J-trial means against the Nadeau-Bengio prediction (module docstring)."""

    metric: str
    parts: int
    partitions: int
    trials: int
    observed: float
    predicted: float
    naive: float
    ratio: float
    ratio_lo: float
    ratio_hi: float
    rho: float
    r: float
    dof: int
    level: float = CI_LEVEL

    @property
    def verdict(self) -> str:
        """"conservative" (interval of the ratio below 1), "optimistic" (above 1) or "consistent"."""
        if self.ratio_hi < 1:
            return "conservative"
        if self.ratio_lo > 1:
            return "optimistic"
        return "consistent"


def part_stats(table: pd.DataFrame, metric: str = "mae") -> pd.DataFrame:
    """One row per (partition, part): mean, variance and count of ``metric`` over its trials, and ``r``."""
    wide = table.pivot_table(index=["partition", "part", "trial"], columns="metric", values="value")
    if metric not in wide.columns:
        raise KeyError(f"metric {metric!r} not in the correlation study table ({sorted(wide.columns)})")
    ratio = wide["n_test"] / wide["n_pool"] if {"n_test", "n_pool"} <= set(wide.columns) else 0.0 * wide[metric]
    g = pd.DataFrame({"x": wide[metric], "r": ratio}).groupby(level=["partition", "part"])
    return pd.DataFrame({"mean": g["x"].mean(), "var": g["x"].var(ddof=1), "J": g["x"].count(), "r": g["r"].mean()})


def nb_check(table: pd.DataFrame, metric: str = "mae", level: float = CI_LEVEL) -> CorrelationCheck:
    """The observed variance of the parts' J-trial means against the factor's prediction."""
    ps = part_stats(table, metric)
    J = int(ps["J"].min())
    if J < 2 or ps.groupby(level="partition").size().min() < 2:
        raise ValueError("a correlation check needs at least 2 parts per partition and 2 trials per part")
    dev = ps["mean"] - ps.groupby(level="partition")["mean"].transform("mean")
    dof = int(len(ps) - ps.index.get_level_values("partition").nunique())
    observed = float((dev**2).sum() / dof)
    predicted = float((ps["var"] * (1 / ps["J"] + ps["r"])).mean())
    naive = float((ps["var"] / ps["J"]).mean())
    a = (1 - level) / 2
    lo, hi = observed * dof / stats.chi2.ppf(1 - a, dof), observed * dof / stats.chi2.ppf(a, dof)
    s2 = float(ps["var"].mean())
    rho = (observed / s2 - 1 / J) * J / (J - 1) if J > 1 else float("nan")
    return CorrelationCheck(metric, int(ps.index.get_level_values("part").nunique()),
                            int(ps.index.get_level_values("partition").nunique()), J, observed, predicted, naive,
                            observed / predicted, lo / predicted, hi / predicted, float(rho),
                            float(ps["r"].mean()), dof, level)
