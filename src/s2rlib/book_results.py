"""Where the book's results live and loading them: a case's results table, its fits by m.

Where the results live: ``results/<case>/results.csv`` of the checkout (found from the current
directory upwards), or ``$S2R_RESULTS_ROOT/<case>/results.csv`` when that variable is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from . import results
from .cases import builtin_names, get_case
from .display import note
from .fit_cache import N_BOOT, fit_case  # N_BOOT: bootstrap draws of a chapter's main fit
from .selection import m_values
from .trial_stats import CaseFit

RESULTS_ENV = "S2R_RESULTS_ROOT"
N_BOOT_PER_M = 300  # ... of the per-m fits of the two-way design (one fit per m; keeps the build fast)
#: the order of the case studies in the book (from the case registry; see :func:`book_cases` for user cases)
BOOK_CASES = tuple(builtin_names())


def repo_root() -> Path:
    """The project checkout: the current directory or the first parent with ``_toc.yml``."""
    for base in [Path.cwd(), *Path.cwd().parents]:
        if (base / "_toc.yml").is_file() and (base / "src" / "s2rlib").is_dir():
            return base
    return Path(__file__).resolve().parents[2]


def results_root(root: str | Path | None = None) -> Path:
    """Where the results tables are: ``root``, else ``$S2R_RESULTS_ROOT``, else ``<checkout>/results``."""
    if root is not None:
        return Path(root)
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env)
    return repo_root() / "results"


def results_path(case: str, root: str | Path | None = None) -> Path:
    return results_root(root) / case / "results.csv"


def missing_message(case: str, root: str | Path | None = None) -> str:
    path = results_path(case, root)
    c = get_case(case)
    ns = ",".join(str(n) for n in c.default_ns)
    return (f"No results yet for **{c.name}**: `{_rel(path)}` does not exist. The numbers and figures of this "
            f"chapter appear once the grid has run, for example with `s2r grid {c.name} --ns {ns} "
            f"--trials {c.default_trials}` (or `make book`, which runs every missing grid point first).")


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(repo_root().resolve()))
    except ValueError:
        return str(path)


def load_case_results(case: str, root: str | Path | None = None, *, announce: bool = True) -> pd.DataFrame | None:
    """The tidy results table of ``case`` (only its rows), or None when there is none yet.

    With ``announce`` a missing table is reported (an admonition in a notebook, a line elsewhere).
    A table that exists but is malformed raises :class:`s2rlib.errors.DataError`.
    """
    case = get_case(case).name
    path = results_path(case, root)
    if not path.is_file():
        if announce:
            note(missing_message(case, root), "warning", "Results missing")
        return None
    table = results.load_results(path)  # verified; a damaged table is rebuilt from its point files
    table = table[table["case"] == case].reset_index(drop=True)
    if table.empty:
        if announce:
            note(f"`{_rel(path)}` has no rows for case `{case}`.", "warning", "Results missing")
        return None
    return table


def _short(value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):  # fine-tuning candidates
        return ", ".join(str(c.get("name", "?")) for c in value)
    return str(tuple(value)) if isinstance(value, list) else str(value)


def grid_currency(case: str, table: pd.DataFrame) -> list[str]:
    """How a case's results differ from what its default grid would compute today, in words (empty
    when they are the default grid): another training recipe than ``transfer.Recipe()`` (the fields
    that differ, old -> now), other trials than the case file's, grid points not run yet."""
    import json

    from .transfer import Recipe

    c = get_case(case)
    out = []
    now = Recipe().to_dict()
    recipes = {json.dumps(json.loads(str(p)).get("recipe", {}), sort_keys=True) for p in table["params"].unique()}
    changed, unrecorded = {}, []
    for recorded in map(json.loads, sorted(recipes)):
        for k in now:
            if k not in recorded:
                unrecorded += [k] if k not in unrecorded else []
            elif recorded[k] != now[k]:
                changed.setdefault(k, []).append(_short(recorded[k]))
    if changed or unrecorded:
        text = "an earlier training recipe than today's default"
        if len(recipes) > 1:
            today = json.dumps(now, sort_keys=True) in recipes
            text = (f"rows from {len(recipes)} training recipes"
                    + (", only part of them today's default" if today else ", none of them today's default"))
        if changed:
            fields = [f"{k} {' or '.join(dict.fromkeys(old))} → {_short(now[k])}" for k, old in changed.items()]
            text += f" ({'; '.join(fields)})"
        if unrecorded:
            text += f"; not recorded, because the field did not exist yet: {', '.join(unrecorded)}"
        out.append(text)
    per_point = table.groupby(["n_source", "m_target"])["trial"].nunique()
    lo, hi = (int(per_point.min()), int(per_point.max())) if len(per_point) else (0, 0)
    if lo != hi:
        out.append(f"{lo} to {hi} trials per point instead of the case file's {c.default_trials}")
    elif hi != c.default_trials:
        out.append(f"{hi} trials per point instead of the case file's {c.default_trials}")
    ms = {results.ALL_M if m is None else int(m) for m in c.default_ms}
    n_sizes = len(c.default_ns)
    numeric = [int(n) for n in c.default_ns if n != "all"]

    def n_missing(m) -> int:  # default sizes without a point at m ("all" = any n above the numeric ones)
        run = set(table.loc[table["m_target"] == m, "n_source"].astype(int))
        lost = sum(n not in run for n in numeric)
        return lost + int("all" in c.default_ns and not any(n > max(numeric, default=0) for n in run))

    missing = {m: k for m in ms if (k := n_missing(m))}
    if missing:
        parts = [f"{k} of {n_sizes} at {'all experiments' if m == results.ALL_M else f'm = {m}'}"
                 for m, k in sorted(missing.items(), key=lambda x: (x[0] == results.ALL_M, x[0]))]
        out.append(f"grid points not run yet: {', '.join(parts)}")
    return out


def fits_by_m(table: pd.DataFrame, *, metric: str = "mae", n_boot: int = N_BOOT) -> dict[int, CaseFit]:
    """One fit per experimental size m in the table (the two-way design)."""
    return {m: fit_case(table, m, metric=metric, n_boot=n_boot) for m in m_values(table)}


def effective_m(table: pd.DataFrame, m_target: int = results.ALL_M) -> float:
    """Mean number of experimental training + validation samples at ``m_target`` (for m = -1)."""
    sub = table[(table["m_target"] == m_target) & table["metric"].isin(["n_train", "n_val"])]
    if sub.empty:
        return float("nan")
    per = sub.pivot_table(index=["n_source", "trial"], columns="metric", values="value", aggfunc="mean")
    return float(per.sum(axis=1).mean())
