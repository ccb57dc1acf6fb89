"""Which rows of a results table belong together: the grids (parameter sets) and the experimental sizes m.

A results table may hold several grids (points computed with other parameters into the same
``--out``) and several experimental sizes m (the two-way design). The book and ``s2r fit`` pick
their rows here, the same way: one grid (by default the one with most rows), one m (by default all
experimental data, :data:`s2rlib.grid.ALL_M`, when it was run, else the largest).
"""

from __future__ import annotations

import json

import pandas as pd

from s2rlib._core.constants import ALL_M
from s2rlib.grid import results

#: parameters that may differ between the points of one grid (not part of the grid's identity)
PER_POINT_KEYS = results.POINT_KEYS


def _grid_key(params_json: str) -> str:
    try:
        p = json.loads(params_json)
    except (TypeError, ValueError):
        return str(params_json)
    if not isinstance(p, dict):
        return str(params_json)
    return results.params_id({k: v for k, v in p.items() if k not in PER_POINT_KEYS})


def grid_ids(table: pd.DataFrame) -> pd.Series:
    """Per row, the id of the grid it belongs to: its params hashed without the per-point keys.

    For tables written by the current code this is ``params_id`` itself; tables written before
    ``params_id`` left out the per-point keys (the number of pretraining steps grows with n) carry
    several params_ids per grid, and the grid id groups them back together.
    """
    keys = {p: _grid_key(p) for p in table["params"].astype(str).unique()}
    return table["params"].astype(str).map(keys)


def grids(table: pd.DataFrame) -> pd.DataFrame:
    """The grids in a table: id, rows, grid points and the params_ids they span (largest first)."""
    g = table.assign(grid=grid_ids(table))
    out = g.groupby("grid", sort=False).agg(rows=("value", "size"), points=("n_source", "nunique"),
                                            params_ids=("params_id", lambda s: sorted(s.unique())))
    return out.sort_values("rows", ascending=False, kind="stable").reset_index()


def select_grid(table: pd.DataFrame, grid: str | None = None) -> pd.DataFrame:
    """The rows of one grid (default: the one with most rows), ``params_id`` kept as written.

    ``grid`` may be a grid id or one of the params_ids it spans.
    """
    ids = grid_ids(table)
    if grid is None:
        grid = grids(table)["grid"].iloc[0]
    elif not (ids == grid).any() and (table["params_id"].astype(str) == grid).any():
        grid = ids[table["params_id"].astype(str) == grid].iloc[0]
    return table[ids == grid].reset_index(drop=True)


def for_fit(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose ``params_id`` is the grid id, so the points of one grid fit together."""
    return table.assign(params_id=grid_ids(table))


def m_values(table: pd.DataFrame) -> list[int]:
    """The experimental sizes m in a table: the numeric ones ascending, then ALL_M (all)."""
    ms = sorted({int(m) for m in table["m_target"].unique()})
    return sorted(ms, key=lambda m: (m == ALL_M, m))


def main_m(table: pd.DataFrame) -> int:
    """The m the chapter's main fit uses: all experimental data (ALL_M) when run, else the largest m."""
    ms = m_values(table)
    return ALL_M if ALL_M in ms else max(ms)
