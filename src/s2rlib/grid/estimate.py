"""What a grid still has to run, and about how long it will take: the line ``s2r grid`` prints before it runs
anything (``s2r grid --dry-run`` prints it and stops; ``make book`` prints it for every case first).

The estimate is read from the ``wall_s`` that finished points recorded (``<out>/results.csv`` and the case's
committed table): each missing point takes the time of the recorded point of the same m (else any m) whose n is
nearest on a log scale, scaled by the ratio of trials. It is an estimate from other points, not a measurement,
and says so, with how many recorded points it rests on; with none recorded it says that too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from s2rlib._core.errors import DataError
from s2rlib.grid import results


@dataclass
class Estimate:
    """The points of a grid without a point file, and their estimated seconds (None: nothing recorded)."""

    missing: list = field(default_factory=list)  # GridPoint
    total: int = 0
    seconds: float | None = None
    recorded: int = 0  # recorded points the estimate rests on
    sources: list[str] = field(default_factory=list)


def recorded_points(paths, case: str) -> pd.DataFrame:
    """One row per recorded point of ``case`` in the results tables ``paths`` that exist: n_source, m_target,
    trials, wall_s (unreadable tables are skipped: this is an estimate, the grid itself checks them)."""
    frames = []
    for path in paths:
        if not Path(path).is_file():
            continue
        try:
            table = results.read_table(path)
        except DataError:
            continue
        rows = table[table["case"].astype(str) == case].drop_duplicates(["params_id", "n_source", "m_target"])
        if rows.empty:
            continue
        trials = [int(json.loads(str(p)).get("trials", 1)) for p in rows["params"]]
        frames.append(pd.DataFrame({"n_source": rows["n_source"].astype(int).to_numpy(),
                                    "m_target": rows["m_target"].astype(int).to_numpy(), "trials": trials,
                                    "wall_s": rows["wall_s"].astype(float).to_numpy(), "source": str(path)}))
    cols = ["n_source", "m_target", "trials", "wall_s", "source"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def _point_seconds(n: int, m: int, trials: int, recorded: pd.DataFrame) -> float:
    same_m = recorded[recorded["m_target"] == m]
    pool = same_m if len(same_m) else recorded
    distance = (pool["n_source"].astype(float).map(lambda v: math.log1p(v)) - math.log1p(n)).abs()
    best = pool.loc[distance.idxmin()]
    return float(best["wall_s"]) * trials / max(1, int(best["trials"]))


def estimate(points: list, sources) -> Estimate:
    """The missing points of ``points`` (GridPoints; a point file present counts as done here, the run checks
    it) and their estimated seconds from the points recorded in the tables ``sources``."""
    missing = [p for p in points if not p.point_path.is_file()]
    recorded = recorded_points(sources, points[0].case) if points else pd.DataFrame()
    est = Estimate(missing=missing, total=len(points), recorded=len(recorded),
                   sources=sorted(set(recorded["source"])) if len(recorded) else [])
    if missing and len(recorded):
        top = int(recorded["n_source"].max())
        est.seconds = sum(_point_seconds(p.n_all or top if p.n_source == "all" else int(p.n_source), p.m_target,
                                         int(p.params["trials"]), recorded) for p in missing)
    elif not missing:
        est.seconds = 0.0
    return est


def duration(seconds: float) -> str:
    """Seconds in words a person reads at a glance: "40 s", "12 min", "3.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cost_line(case: str, est: Estimate) -> str:
    """One line: how many points are missing (which), and the estimated time, or why there is none."""
    if not est.missing:
        return f"{case}: all {est.total} grid point(s) have a point file; nothing to run"
    shown = [p.label for p in est.missing[:8]]
    more = f" and {len(est.missing) - 8} more" if len(est.missing) > 8 else ""
    head = f"{case}: {len(est.missing)} of {est.total} grid point(s) to run ({', '.join(shown)}{more})"
    if est.seconds is None:
        return f"{head}; no recorded wall_s to estimate their time from (no finished point of {case} yet)"
    return (f"{head}; estimated {duration(est.seconds)} (an estimate from the wall_s of {est.recorded} recorded "
            f"point(s) in {', '.join(est.sources)}: nearest n, scaled by trials; not a measurement)")
