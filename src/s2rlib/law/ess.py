"""Equivalent sample size: how many computational samples buy the error drop of one more experimental sample.

In the two-way (n, m) design, :func:`equivalent_sample_size` takes the mean error ``R(n, m)`` per
cell and returns ``ESS(n, m) = (dR/dm) / (dR/dn)``, each slope from the law fitted along that
axis (:func:`s2rlib.law.scaling.fit_law`) or, where the law is not usable, log-scale finite
differences; intervals are percentiles over the corrected draws of the cell means
(:func:`s2rlib.law.scaling.corrected_draws`). Never raises on a table without usable two-way data:
the result is then empty.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from s2rlib.law import scaling
from s2rlib.law import trial_stats
from s2rlib.law.derived import law_slope
from s2rlib.law.fit_status import CI_LEVEL, MIN_POINTS

__all__ = ["equivalent_sample_size"]


def _fd_slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dy/dx by finite differences on the log-x scale (second order, also at the ends when >= 3 points)."""
    out = np.full(len(x), np.nan)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    if ok.sum() < 2:
        return out
    u = np.log(x[ok])
    dy_du = np.gradient(y[ok], u, edge_order=2 if ok.sum() >= 3 else 1)
    out[ok] = dy_du / x[ok]
    return out


def _slopes_along(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, str, str]:
    """dy/dx at every x from the law fitted to (x, y), or finite differences when the law is not usable."""
    fit = scaling.fit_law(x, y)
    if fit.usable:
        return law_slope(x, fit.D, fit.alpha), "law", fit.status
    return _fd_slope(x, y), ("finite_difference" if np.isfinite(y).sum() >= 2 else "none"), fit.status


def _ess_grid(ns: np.ndarray, ms: np.ndarray, G: np.ndarray):
    """Slopes and ESS on a (n x m) grid of mean errors (n > 0, m > 0)."""
    dn = np.full(G.shape, np.nan)
    dm = np.full(G.shape, np.nan)
    meth_n = np.full(G.shape, "none", dtype=object)
    meth_m = np.full(G.shape, "none", dtype=object)
    st_n = np.full(G.shape, "", dtype=object)
    st_m = np.full(G.shape, "", dtype=object)
    for j in range(len(ms)):
        dn[:, j], meth_n[:, j], st_n[:, j] = _slopes_along(ns, G[:, j])
    for i in range(len(ns)):
        if len(ms) >= MIN_POINTS:
            dm[i, :], meth_m[i, :], st_m[i, :] = _slopes_along(ms, G[i, :])
        else:
            dm[i, :] = _fd_slope(ms, G[i, :])
            meth_m[i, :] = "finite_difference" if np.isfinite(G[i, :]).sum() >= 2 else "none"
            st_m[i, :] = "too_few_points"
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = dm / dn
    # no error reduction along n (dR/dn = 0) while more experimental data still help: ESS = +inf
    ess = np.where((dn == 0) & (dm < 0), np.inf, ess)
    return dn, dm, ess, meth_n, meth_m, st_n, st_m


def equivalent_sample_size(table: pd.DataFrame, metric: str = "mae", n_boot: int = 200, *, seed: int = 0,
                           level: float = CI_LEVEL) -> pd.DataFrame:
    """How many computational samples buy the error reduction of one more experimental sample.

    For the two-way design (several ``m_target`` > 0, each with several ``n_source``) the mean error
    over trials ``R(n, m)`` is computed per cell and ``ESS(n, m) = (dR/dm) / (dR/dn)``, with

    * ``dR/dn`` from the law ``D n^-alpha + C`` fitted (:func:`s2rlib.law.scaling.fit_law`) to the n > 0
      points of each m (``method_n = "law"``), or log-scale finite differences in n when that fit is
      unusable (``"finite_difference"``);
    * ``dR/dm`` from the same law in m, ``E m^-beta + F``, fitted across the m values at each n
      (``method = "law"``), or — with fewer than ``fit_status.MIN_POINTS`` distinct m or an unusable
      fit — log-scale finite differences between neighbouring m (``method = "finite_difference"``;
      second-order, one-sided at the ends).

    Rows with ``m_target <= 0`` (-1 = all data) and n = 0 are not used; n is the mean number of
    source samples actually drawn (``n_source_used`` rows) where the table has them. When dR/dn = 0 (no decrease
    in n) and dR/dm < 0 the ESS is +inf. With ``n_boot > 0`` and >= 2 trials, ``ess_lo``/``ess_hi``
    are percentile intervals over corrected draws of the cell means (:func:`s2rlib.law.scaling.corrected_draws`,
    one draw for all cells, keeping the pairing; n_test/n_pool of each m); each draw costs one fit per m and per n, so the cost is about
    ``n_boot * (#m + #n) * 3 ms``.

    Returns a tidy DataFrame with columns ``case, n, m, R, dR_dn, dR_dm, ess, ess_lo, ess_hi,
    method, method_n, fit_status_n, fit_status_m`` (one row per (case, n, m) cell; empty with these
    columns when the table has no usable two-way data).
    """
    cols = ["case", "n", "m", "R", "dR_dn", "dR_dm", "ess", "ess_lo", "ess_hi", "method", "method_n",
            "fit_status_n", "fit_status_m"]
    try:
        two_way = table[(table["m_target"] > 0) & (table["n_source"] > 0)]
        sub = two_way[two_way["metric"] == metric]
    except Exception:  # noqa: BLE001 - not a results table
        return pd.DataFrame(columns=cols)
    if "case" not in sub.columns:
        two_way, sub = two_way.assign(case="?"), sub.assign(case="?")
    frames = []
    for case, cs in sub.groupby("case", sort=True):
        # as in the fits, n is the mean number of source samples actually drawn
        n_used = trial_stats.drawn_n(two_way[two_way["case"] == case])
        cs = cs.assign(n_source=[float(n_used.get(n, n)) for n in cs["n_source"]])
        cube = cs.pivot_table(index=["n_source", "m_target"], columns="trial", values="value", aggfunc="mean")
        ns = np.sort(cs["n_source"].unique()).astype(float)
        ms = np.sort(cs["m_target"].unique()).astype(float)
        if len(ns) < 2 or len(ms) < 2:
            continue
        full = pd.MultiIndex.from_product([ns, ms], names=["n_source", "m_target"])
        cube.index = pd.MultiIndex.from_arrays([cube.index.get_level_values(0).astype(float),
                                                cube.index.get_level_values(1).astype(float)])
        vals = cube.reindex(full).to_numpy(dtype=float).reshape(len(ns), len(ms), -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            G = np.nanmean(vals, axis=2)
            dn, dm, ess, meth_n, meth_m, st_n, st_m = _ess_grid(ns, ms, G)
            lo = np.full(G.shape, np.nan)
            hi = np.full(G.shape, np.nan)
            J = vals.shape[2]  # trials
            if n_boot and n_boot > 0 and J >= 2:
                rng = np.random.default_rng(seed)
                # corrected draws of the cell means (scaling.corrected_draws), n_test/n_pool per m
                ratios = np.array([trial_stats.test_train_ratio(two_way[two_way["case"] == case], int(m)) for m in ms])
                flat = vals.reshape(len(ns) * len(ms), J)
                means = scaling.corrected_draws(flat, np.tile(ratios, len(ns)), int(n_boot), rng)
                draws = np.full((int(n_boot),) + G.shape, np.nan)
                for b in range(int(n_boot)):
                    draws[b] = _ess_grid(ns, ms, means[b].reshape(G.shape))[2]
                for i in range(len(ns)):
                    for j in range(len(ms)):
                        lo[i, j], hi[i, j] = scaling.interval(draws[:, i, j], level=level)
        nn, mm = np.meshgrid(ns, ms, indexing="ij")
        frames.append(pd.DataFrame(dict(
            case=case, n=nn.ravel(), m=mm.ravel(), R=G.ravel(), dR_dn=dn.ravel(), dR_dm=dm.ravel(),
            ess=ess.ravel(), ess_lo=lo.ravel(), ess_hi=hi.ravel(), method=meth_m.ravel(), method_n=meth_n.ravel(),
            fit_status_n=st_n.ravel(), fit_status_m=st_m.ravel())))
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]
