"""The tidy results table: schema, provenance, atomic writes, per-point files and merging.

One schema for every case (one row per case, n, m, trial and metric)::

    case, n_source, m_target, trial, seed, metric, value, selected_recipe,
    params_id, params, data_sha256, code_version, wall_s

``params`` is the JSON of every parameter that produced the row (recipe included), ``params_id``
its short hash (the same for every n of one grid), ``m_target`` is :data:`ALL_M` (-1) when all
experimental training data were used: the one way s2rlib writes "all m", inside the code as in
the tables ("all" is only how the command line and the pages spell it). Every write is atomic
(:mod:`s2rlib._core.atomic`). Every read is verified: a point file must hold every trial and metric of
the point its name and its own parameters say; a damaged one is named in a warning, set aside as
``*.damaged`` and recomputed (:func:`read_point`, :func:`load_results`), never silently used.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import subprocess
from pathlib import Path

import pandas as pd

from s2rlib._core.constants import ALL_M
from s2rlib._core.version import __version__
from s2rlib._core.atomic import atomic_write, set_aside
from s2rlib._core.errors import DataError

log = logging.getLogger(__name__)

COLUMNS = ["case", "n_source", "m_target", "trial", "seed", "metric", "value", "selected_recipe",
           "params_id", "params", "data_sha256", "code_version", "wall_s"]
#: parameters that vary between the points of one grid; params_id leaves them out
POINT_KEYS = ("n_source", "m_target", "pretrain_steps")
#: how a point was executed, not what it computes (torch threads change float rounding only):
#: recorded in ``params`` but left out of params_id, so a grid resumed with other threads goes on
EXECUTION_KEYS = ("threads",)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``s2rlib`` version plus the git commit of the source tree (``+dirty`` with local changes)."""
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


def as_m(m) -> int:
    """An experimental size from outside (command line, notebook, old code): "all", None, -1 -> ALL_M."""
    if m is None or (isinstance(m, str) and m.strip().lower() == "all"):
        return ALL_M
    return m  # anything else is validated (and made an int) by s2rlib.training.params


def tidy(case: str, n_source: int, m_target: int, trial_rows: pd.DataFrame, params: dict,
         data_sha256: str, wall_s: float) -> pd.DataFrame:
    """Attach provenance columns to the per-trial rows of :func:`s2rlib.training.transfer.run_trials`."""
    df = trial_rows.copy()
    df.insert(0, "case", case)
    df.insert(1, "n_source", int(n_source))
    df.insert(2, "m_target", int(as_m(m_target)))
    df["params_id"] = params_id(params)
    df["params"] = json.dumps(params, sort_keys=True, default=str)
    df["data_sha256"] = data_sha256
    df["code_version"] = code_version()
    df["wall_s"] = float(wall_s)
    return df[COLUMNS]


def write_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV to ``path`` atomically (:func:`s2rlib._core.atomic.atomic_write`)."""
    path = Path(path)
    with atomic_write(path) as fh:
        df.to_csv(fh, index=False)
    return path


# ---------------------------------------------------------------------------------------------
# reading, verified


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV at ``path``, or a DataError that names it and says what is wrong."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: not a results table: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a results table: not a readable CSV ({str(exc).strip()})") from None


def _check_schema(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: not a results table, missing column(s) {missing}")
    for col, integer in (("n_source", True), ("m_target", True), ("trial", True), ("value", False)):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() & df[col].notna() if not integer else num.isna() | (num % 1 != 0)
        if bad.any():
            lines = (df.index[bad] + 2).tolist()  # line 1 is the header
            what = "non-integer" if integer else "non-numeric"
            raise DataError(f"{path}: column {col}: {what} value(s) at line(s) {lines[:5]}"
                            f"{' ...' if len(lines) > 5 else ''}: {df.loc[bad, col].tolist()[:5]}")
        df[col] = num.astype(int) if integer else num.astype(float)
    return df


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a results table (a merged table or one point file), checking that it is one.

    A missing, empty or unparseable file, a missing column or a non-numeric value is a
    :class:`DataError` naming the file (and the lines).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results table {path} does not exist; run the grid first (s2r grid ...)")
    return _check_schema(_read_csv(path), path)


def point_problems(df: pd.DataFrame) -> list[str]:
    """What is wrong with the rows of each point in ``df``, checked against the point's own parameters.

    A point (case, params_id, n_source, m_target) has, for every trial its ``params`` name
    (``0 .. trials-1``), the same set of metrics, once each. A cut file lacks trials or metrics.
    """
    problems = []
    for (case, pid, n, m), rows in df.groupby(["case", "params_id", "n_source", "m_target"], sort=False):
        where = f"point n_source={n}, m_target={m} (params_id {pid})"
        try:
            trials = int(json.loads(rows["params"].iloc[0])["trials"])
        except (TypeError, ValueError, KeyError):
            problems.append(f"{where}: its params column is not the JSON of its parameters")
            continue
        present = sorted(rows["trial"].unique().tolist())
        if present != list(range(trials)):
            problems.append(f"{where}: rows for trial(s) {present} of the {trials} trials its parameters name")
            continue
        by_trial = rows.groupby("trial")["metric"].apply(lambda s: sorted(s.astype(str)))
        full = max(by_trial, key=len)
        for t, metrics in by_trial.items():
            if metrics != full:
                lacks = sorted(set(full) - set(metrics))
                problems.append(f"{where}: trial {t} lacks metric(s) {lacks}" if lacks else
                                f"{where}: trial {t} has metric(s) twice")
                break
    return problems


table_problems = point_problems  # a merged table is the union of its points


_STEM = re.compile(r"^n(?P<n>\d+|all)_m(?P<m>\d+|all)_(?P<pid>[0-9a-f]+)$")


def point_problem(path: str | Path, df: pd.DataFrame | None = None) -> str | None:
    """Why the point file at ``path`` is damaged (None when it is sound).

    Checked: it reads as a results table; it holds exactly one point, the one its name says
    (n, m, params_id); that point has every trial and metric (:func:`point_problems`).
    """
    path = Path(path)
    if df is None:
        try:
            df = read_table(path)
        except DataError as exc:
            return str(exc).removeprefix(f"{path}: ").removeprefix("not a results table: ")
    if df.empty:
        return "it has a header but no rows"
    points = df.groupby(["case", "params_id", "n_source", "m_target"]).ngroups
    if points != 1:
        return f"it holds {points} points, a point file holds one"
    name = _STEM.match(path.stem)
    if name:
        n, m, pid = df["n_source"].iloc[0], df["m_target"].iloc[0], str(df["params_id"].iloc[0])
        if name["n"] != "all" and int(name["n"]) != n:
            return f"its rows are for n_source={n}, its name says n_source={int(name['n'])}"
        if (ALL_M if name["m"] == "all" else int(name["m"])) != m:
            return f"its rows are for m_target={m}, its name says m_target={name['m']}"
        if pid != name["pid"]:
            return f"its rows are of params_id {pid}, its name says {name['pid']}"
    problems = point_problems(df)
    return problems[0].split(": ", 1)[1] if problems else None


def read_point(path: str | Path) -> pd.DataFrame | None:
    """The rows of a sound point file; a damaged one is named in a warning, set aside and None returned."""
    path = Path(path)
    try:
        df = read_table(path)
    except DataError:
        df = None
    problem = point_problem(path, df) if df is not None else point_problem(path)
    if problem is None:
        return df
    aside = set_aside(path)
    log.warning("damaged point file %s: %s; set aside as %s, the point will be recomputed", path, problem, aside)
    return None


def merge_points(points_dir: str | Path) -> pd.DataFrame:
    """All sound per-point CSV files of a grid directory as one sorted table (damaged ones set aside)."""
    files = sorted(Path(points_dir).glob("*.csv"))
    frames = [df for df in (read_point(f) for f in files) if df is not None]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values(["case", "params_id", "m_target", "n_source", "trial", "metric"], kind="stable").reset_index(drop=True)


def load_results(path: str | Path) -> pd.DataFrame:
    """A merged results table, verified; repaired from ``points/`` beside it when damaged or stale.

    Damaged (a point lacks trials or metrics, or the file does not parse): with point files beside
    it, the table is named in a warning, set aside as ``*.damaged`` and merged again from them;
    without, a :class:`DataError` names the file and the problem. Stale (point files beside it that
    the table lacks, e.g. after a killed grid): merged again.
    """
    path = Path(path)
    points_dir = path.parent / "points"
    has_points = points_dir.is_dir() and any(points_dir.glob("*.csv"))
    try:
        table = read_table(path)
        problems = table_problems(table)
    except DataError as exc:
        if not path.is_file() or not has_points:
            raise
        table, problems = None, [str(exc).removeprefix(f"{path}: ")]
    if problems and not has_points:
        raise DataError(f"{path}: damaged results table: {problems[0]}"
                        f"{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}; "
                        f"no point files beside it to rebuild it from: rerun the grid")
    if problems:
        aside = set_aside(path)
        log.warning("damaged results table %s: %s; set aside as %s and rebuilt from %s", path, problems[0], aside,
                    points_dir)
    elif has_points:
        have = set(table.groupby(["params_id", "n_source", "m_target"]).groups)
        files = {(m["pid"], m["n"], m["m"]) for m in (_STEM.match(f.stem) for f in points_dir.glob("*.csv")) if m}
        stems = {(pid, f"{n:07d}", "all" if mm == ALL_M else f"{mm:05d}") for pid, n, mm in have}
        if not {f for f in files if f[1] != "all"} <= stems:
            log.warning("results table %s lacks finished point(s) of %s; merged again", path, points_dir)
            problems = ["stale"]
    if problems:
        table = merge_points(points_dir)
        write_atomic(table, path)
    return table


def wide(df: pd.DataFrame, metric: str = "mae") -> pd.DataFrame:
    """One row per (case, m, n, trial) with the metric's value."""
    sub = df[df["metric"] == metric]
    return sub[["case", "m_target", "n_source", "trial", "seed", "value"]].rename(columns={"value": metric})
