"""The tidy results table: schema, provenance, atomic writes, per-point files and merging.

One schema for every case (one row per case, n, m, trial and metric)::

    case, n_source, m_target, trial, seed, metric, value, selected_recipe,
    params_id, params, data_sha256, code_version, wall_s, point_sha256

``params`` is the JSON of every parameter that produced the row (recipe included), ``params_id``
its short hash (the same for every n of one grid), ``m_target`` is :data:`ALL_M` (-1) when all
experimental training data were used: the one way s2rlib writes "all m", inside the code as in
the tables ("all" is only how the command line and the pages spell it). Every write is atomic
(:mod:`s2rlib._core.atomic`). Every read is verified: a point file must hold every trial and metric of
the point its name and its own parameters say, from one data set (one ``data_sha256``), with finite
metrics, and its rows must hash to the ``point_sha256`` they carry (:func:`seal`: a cut, an edited
value or a lost row is caught); a damaged one is named in a warning, set aside as ``*.damaged`` and
recomputed (:func:`read_point`, :func:`load_results`), never silently used. Tables written before
``point_sha256`` existed have it empty: their rows are checked, not their hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib._core.constants import ALL_M
from s2rlib._core.version import __version__
from s2rlib._core.atomic import atomic_write, set_aside
from s2rlib._core.errors import DataError

log = logging.getLogger(__name__)

COLUMNS = ["case", "n_source", "m_target", "trial", "seed", "metric", "value", "selected_recipe",
           "params_id", "params", "data_sha256", "code_version", "wall_s", "point_sha256"]
#: the column that seals a point's rows (:func:`seal`); empty in tables written before it existed
HASH = "point_sha256"
#: metrics that may be NaN in a sound point: "no simulation to compare with" (every other metric is finite)
MAY_BE_NAN = ("sim_mae", "mae_on_sim")
#: text columns (read as text: a params_id or sha256 of digits only stays what it was)
_TEXT = ("case", "metric", "selected_recipe", "params_id", "params", "data_sha256", "code_version", HASH)
_POINT = ["case", "params_id", "n_source", "m_target"]
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
    df[HASH] = ""
    bad = non_finite(df)
    if bad:
        raise DataError(f"point n_source={n_source}, m_target={m_target} of case {case}: {bad}; a point with a "
                        f"non-finite metric is a failed point, it is not written")
    return seal(df[COLUMNS])


def non_finite(df: pd.DataFrame) -> str | None:
    """Which metric rows of ``df`` are NaN or infinite (NaN allowed only for :data:`MAY_BE_NAN`), in words."""
    value = pd.to_numeric(df["value"], errors="coerce").astype(float)
    bad = ~np.isfinite(value) & ~(value.isna() & df["metric"].astype(str).isin(MAY_BE_NAN))
    if not bad.any():
        return None
    cells = [f"trial {t} {m} = {v}" for t, m, v in zip(df.loc[bad, "trial"], df.loc[bad, "metric"], value[bad])]
    return f"non-finite metric(s): {', '.join(cells[:5])}{' ...' if len(cells) > 5 else ''}"


def _canonical(rows: pd.DataFrame) -> bytes:
    """The rows of one point in a form that does not depend on row order or on a CSV round trip."""
    def cell(col, v):
        if pd.isna(v):
            return ""
        if col in ("n_source", "m_target", "trial", "seed"):
            return str(int(v))
        if col in ("value", "wall_s"):
            return repr(float(v))
        return str(v)

    cols = [c for c in COLUMNS if c != HASH]
    lines = sorted(json.dumps([cell(c, v) for c, v in zip(cols, r)]) for r in rows[cols].itertuples(index=False))
    return "\n".join(lines).encode()


def point_hash(rows: pd.DataFrame) -> str:
    """sha256 (16 hex digits) of one point's rows, every column but ``point_sha256``, in any row order."""
    return hashlib.sha256(_canonical(rows)).hexdigest()[:16]


def seal(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each point's ``point_sha256`` set to the hash of its rows (a copy)."""
    df = df.copy()
    df[HASH] = ""
    for _, rows in df.groupby(_POINT, sort=False):
        df.loc[rows.index, HASH] = point_hash(rows)
    return df


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
        head = pd.read_csv(path, nrows=0).columns
        return pd.read_csv(path, dtype={c: str for c in _TEXT if c in head})
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: not a results table: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a results table: not a readable CSV ({str(exc).strip()})") from None


def _check_schema(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        if missing != [HASH]:
            raise DataError(f"{path}: not a results table, missing column(s) {[c for c in missing if c != HASH]}")
        df[HASH] = ""  # written before points were sealed
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
    (``0 .. trials-1``), the same set of metrics, once each, all from one data set (one
    ``data_sha256``); when sealed, its rows hash to its ``point_sha256`` (:func:`seal`). A cut file
    lacks trials or metrics, or no longer matches its hash; so does an edited value.
    """
    problems = []
    for (case, pid, n, m), rows in df.groupby(_POINT, sort=False):
        problem = _rows_problem(rows)
        if problem:
            problems.append(f"point n_source={n}, m_target={m} (params_id {pid}): {problem}")
    return problems


def _rows_problem(rows: pd.DataFrame) -> str | None:
    """What is wrong with the rows of one point (None when nothing is)."""
    try:
        trials = int(json.loads(rows["params"].iloc[0])["trials"])
    except (TypeError, ValueError, KeyError):
        return "its params column is not the JSON of its parameters"
    data = sorted(rows["data_sha256"].astype(str).unique())
    if len(data) > 1:
        return f"its rows come from {len(data)} different data sets (data_sha256 {', '.join(data)})"
    present = sorted(rows["trial"].unique().tolist())
    if present != list(range(trials)):
        return f"rows for trial(s) {present} of the {trials} trials its parameters name"
    by_trial = rows.groupby("trial")["metric"].apply(lambda s: sorted(s.astype(str)))
    full = max(by_trial, key=len)
    for t, metrics in by_trial.items():
        if metrics != full:
            lacks = sorted(set(full) - set(metrics))
            return f"trial {t} lacks metric(s) {lacks}" if lacks else f"trial {t} has metric(s) twice"
    sealed = rows[HASH].fillna("").astype(str).unique() if HASH in rows else [""]
    if len(sealed) > 1:
        return f"its rows carry {len(sealed)} different point_sha256 values"
    if sealed[0] and sealed[0] != point_hash(rows):
        return (f"its rows do not match the point_sha256 they carry ({sealed[0]}, the rows hash to "
                f"{point_hash(rows)}): a value, a row or a column was changed or lost after it was written")
    return None


def data_sets(table: pd.DataFrame) -> dict[str, list]:
    """{data_sha256: the n_source values with rows of it} of a table (one case's rows)."""
    return {d: sorted(rows["n_source"].unique().tolist())
            for d, rows in table.groupby(table["data_sha256"].astype(str), sort=True)}


def check_one_data(table: pd.DataFrame, where: str | Path, case: str) -> None:
    """A :class:`DataError` naming the data sets when the ``case`` rows of ``table`` come from more than one.

    Rows computed from other data (an input file changed, a case made again under the same name)
    cannot be fitted or shown together with today's.
    """
    sets = data_sets(table)
    if len(sets) <= 1:
        return
    listed = "; ".join(f"data_sha256 {d} (n = {', '.join(map(str, ns))})" for d, ns in sets.items())
    raise DataError(f"{where}: the {case} rows come from {len(sets)} different data sets: {listed}; rows from "
                    f"different data cannot be fitted or shown together: rerun the grid into this folder (s2r grid "
                    f"sets aside the points of other data) or into a new --out, or fit with --grid ID")


table_problems = point_problems  # a merged table is the union of its points


STEM = re.compile(r"^n(?P<n>\d+|all)_m(?P<m>\d+|all)_(?P<pid>[0-9a-f]+)$")


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
    name = STEM.match(path.stem)
    if name:
        n, m, pid = df["n_source"].iloc[0], df["m_target"].iloc[0], str(df["params_id"].iloc[0])
        if name["n"] != "all" and int(name["n"]) != n:
            return f"its rows are for n_source={n}, its name says n_source={int(name['n'])}"
        if (ALL_M if name["m"] == "all" else int(name["m"])) != m:
            return f"its rows are for m_target={m}, its name says m_target={name['m']}"
        if pid != name["pid"]:
            return f"its rows are of params_id {pid}, its name says {name['pid']}"
    problems = point_problems(df)
    if problems:
        return problems[0].split(": ", 1)[1]
    return non_finite(df)


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


def point_keys(points_dir: Path) -> set[tuple]:
    """(params_id, n_source, m_target) of every point file in ``points_dir``, from its name; for an
    ``nall_*`` file the n it drew is read from its first row (unreadable: ``("?", -1, -1)``, i.e. stale)."""
    keys = set()
    for f in Path(points_dir).glob("*.csv"):
        name = STEM.match(f.stem)
        if not name:
            continue
        m = ALL_M if name["m"] == "all" else int(name["m"])
        if name["n"] != "all":
            keys.add((name["pid"], int(name["n"]), m))
            continue
        try:
            keys.add((name["pid"], int(pd.read_csv(f, usecols=["n_source"], nrows=1)["n_source"].iloc[0]), m))
        except (ValueError, IndexError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
            keys.add(("?", -1, -1))
    return keys


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
        have = {(str(pid), int(n), int(m)) for pid, n, m in table.groupby(["params_id", "n_source", "m_target"]).groups}
        lacks = sorted(point_keys(points_dir) - have, key=str)
        if lacks:
            log.warning("results table %s lacks %d finished point(s) of %s (%s); merged again", path, len(lacks),
                        points_dir, ", ".join(f"n_source={n}, m_target={'all' if m == ALL_M else m}"
                                              for _, n, m in lacks[:3]) + (" ..." if len(lacks) > 3 else ""))
            problems = ["stale"]
    if problems:
        table = merge_points(points_dir)
        write_atomic(table, path)
    return table


def wide(df: pd.DataFrame, metric: str = "mae") -> pd.DataFrame:
    """One row per (case, m, n, trial) with the metric's value."""
    sub = df[df["metric"] == metric]
    return sub[["case", "m_target", "n_source", "trial", "seed", "value"]].rename(columns={"value": metric})
