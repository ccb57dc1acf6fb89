"""The tidy results table: schema, provenance, atomic writes, per-point files and merging.

One schema for every case (one row per case, n, m, trial and metric)::

    case, n_source, m_target, trial, seed, metric, value, selected_recipe,
    params_id, params, data_sha256, code_version, wall_s

``params`` is the JSON of every parameter that produced the row (recipe included), ``params_id``
its short hash (the same for every n of one grid), ``m_target`` is -1 when all experimental
training data were used. Every write goes to a temporary file in the same directory followed by
``os.replace``, so a reader (or a killed writer) never sees a half-written table.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from .errors import DataError

COLUMNS = ["case", "n_source", "m_target", "trial", "seed", "metric", "value", "selected_recipe",
           "params_id", "params", "data_sha256", "code_version", "wall_s"]
ALL_M = -1  # m_target value meaning "all experimental training data"
#: parameters that vary between the points of one grid; params_id leaves them out
POINT_KEYS = ("n_source", "m_target", "pretrain_steps")
#: how a point was executed, not what it computes (torch threads change float rounding only):
#: recorded in ``params`` but left out of params_id, so a grid resumed with other threads goes on
EXECUTION_KEYS = ("threads",)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``s2rlib`` version plus the git commit of the source tree (``+dirty`` with local changes)."""
    from . import __version__

    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip()
        return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def params_id(params: dict) -> str:
    """Short stable hash of the parameters that define a grid (all but ``POINT_KEYS``, ``EXECUTION_KEYS``)."""
    grid_params = {k: v for k, v in params.items() if k not in POINT_KEYS + EXECUTION_KEYS}
    return hashlib.sha256(json.dumps(grid_params, sort_keys=True, default=str).encode()).hexdigest()[:10]


def tidy(case: str, n_source: int, m_target: int | None, trial_rows: pd.DataFrame, params: dict,
         data_sha256: str, wall_s: float) -> pd.DataFrame:
    """Attach provenance columns to the per-trial rows of :func:`s2rlib.transfer.run_trials`."""
    df = trial_rows.copy()
    df.insert(0, "case", case)
    df.insert(1, "n_source", int(n_source))
    df.insert(2, "m_target", ALL_M if m_target is None else int(m_target))
    df["params_id"] = params_id(params)
    df["params"] = json.dumps(params, sort_keys=True, default=str)
    df["data_sha256"] = data_sha256
    df["code_version"] = code_version()
    df["wall_s"] = float(wall_s)
    return df[COLUMNS]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV to ``path`` atomically (temp file in the same dir, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide the table from other users
        with os.fdopen(fd, "w", newline="") as fh:
            df.to_csv(fh, index=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a results table, checking its schema."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results table {path} does not exist; run the grid first (s2r grid ...)")
    df = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: not a results table, missing column(s) {missing}")
    return df


def merge_points(points_dir: str | Path) -> pd.DataFrame:
    """All per-point CSV files of a grid directory as one sorted table."""
    files = sorted(Path(points_dir).glob("*.csv"))
    if not files:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.concat([read_table(f) for f in files], ignore_index=True)
    return df.sort_values(["case", "params_id", "m_target", "n_source", "trial", "metric"], kind="stable").reset_index(drop=True)


def wide(df: pd.DataFrame, metric: str = "mae") -> pd.DataFrame:
    """One row per (case, m, n, trial) with the metric's value."""
    sub = df[df["metric"] == metric]
    return sub[["case", "m_target", "n_source", "trial", "seed", "value"]].rename(columns={"value": metric})
