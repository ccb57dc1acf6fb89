"""Fitted laws cached on disk: a fit (with its bootstrap, the slow part) is computed once per table.

The cache key hashes everything a fit depends on (the rows, the settings, the source of
:mod:`s2rlib.law.scaling`, :mod:`s2rlib.law.fit_status`, :mod:`s2rlib.law.aic`, :mod:`s2rlib.law.trial_stats` and :mod:`s2rlib.law.finite`), so a changed table or
fitting code is always refitted. An entry that does not load as a :class:`~s2rlib.law.trial_stats.CaseFit` of the same case and
m is named in a warning, set aside as ``*.damaged`` and refitted, never used. ``$S2R_FIT_CACHE`` chooses the directory
(``off`` disables the cache), else ``$S2R_CACHE/fits``, else ``~/.cache/s2rlib/fits``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib.law import aic
from s2rlib.law import finite
from s2rlib.law import fit_status
from s2rlib.law import scaling
from s2rlib.law import trial_stats
from s2rlib._core.atomic import atomic_write, set_aside
from s2rlib.cases.registry import CASES
from s2rlib._core.paths import refuse_root
from s2rlib.law.trial_stats import CaseFit
from s2rlib.grid.selection import for_fit, main_m

log = logging.getLogger(__name__)

FIT_CACHE_ENV = "S2R_FIT_CACHE"
N_BOOT = 1000  # bootstrap draws of a chapter's main fit (and of ``s2r fit``)


def fit_cache_dir() -> Path | None:
    """Where fits are cached: ``$S2R_FIT_CACHE`` (``off`` disables), else ``$S2R_CACHE/fits``, else
    ``~/.cache/s2rlib/fits``."""
    value = os.environ.get(FIT_CACHE_ENV)
    if value is not None and value.strip().lower() in ("", "0", "off", "none", "no"):
        return None
    if value:
        return refuse_root(FIT_CACHE_ENV, Path(value).expanduser())
    base = os.environ.get("S2R_CACHE")
    if base:
        return refuse_root("S2R_CACHE", Path(base).expanduser()) / "fits"
    base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "s2rlib")
    return Path(base).expanduser() / "fits"


def _fit_key(table: pd.DataFrame, m: int, metric: str, n_boot: int, loss: str, units: str) -> str:
    """Content hash of everything a fit depends on: the rows, the settings, the fitting code."""
    h = hashlib.sha256()
    sub = table[(table["metric"] == metric) & (table["m_target"] == m)]
    h.update(sub[["n_source", "m_target", "trial", "value", "params_id"]].to_csv(index=False).encode())
    h.update(json.dumps([m, metric, n_boot, loss, units, pd.__version__, np.__version__]).encode())
    for module in (scaling, fit_status, aic, trial_stats, finite):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:32]


def _load(path: Path, case: str, m: int) -> CaseFit | None:
    try:
        with open(path, "rb") as fh:
            cf = pickle.load(fh)
        if not isinstance(cf, CaseFit) or cf.case != case or cf.m_target != m:
            raise ValueError(f"holds {type(cf).__name__}, not the fit of case {case!r} at m={m}")
        return cf
    except Exception as exc:  # noqa: BLE001 - any unreadable entry is refitted
        try:
            aside = set_aside(path)
        except OSError:
            aside = "(could not be moved)"
        log.warning("damaged fit cache %s (%s: %s); set aside as %s, refitting", path, type(exc).__name__, exc, aside)
        return None


def fit_case(table: pd.DataFrame, m_target: int | None = None, *, metric: str = "mae", n_boot: int = N_BOOT,
             loss: str = "linear") -> CaseFit:
    """Fit one case (one m; default :func:`~s2rlib.grid.selection.main_m`) with units from the case registry.

    The fit is deterministic, so it is cached on disk: a chapter, the summary and ``s2r fit``
    built from the same table fit it once, and a changed table is always refitted.
    """
    case = str(table["case"].iloc[0])
    m = main_m(table) if m_target is None else int(m_target)
    units = CASES[case].units if case in CASES else ""
    table = for_fit(table)
    cache = fit_cache_dir()
    path = cache / f"{case}-{_fit_key(table, m, metric, n_boot, loss, units)}.pkl" if cache else None
    if path is not None and path.is_file():
        cf = _load(path, case, m)
        if cf is not None:
            return cf
    cf = trial_stats.fit_table(table, metric=metric, m_target=m, n_boot=n_boot, loss=loss, units=units)
    if path is not None:
        try:
            with atomic_write(path, "wb") as fh:
                pickle.dump(cf, fh)
        except OSError:  # a read-only cache only costs time
            pass
    return cf
