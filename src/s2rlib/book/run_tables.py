"""What was run, for the book's tables: the grid (trials, seeds, split sizes), the provenance of
every row, a case's header, its ``s2r grid`` command and what its committed points cost.

Split out of :mod:`s2rlib.book.tables` (the results: fits, gains, derived numbers), which re-exports
these names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import pandas as pd

from s2rlib._core.markup import literal
from s2rlib.book.case_results import (
    BOOK_CASES, _rel, case_words, grid_state, load_case_results, recorded_recipes, results_path,
)
from s2rlib.cases.registry import get_case
from s2rlib.book.findings import status_link
from s2rlib.book.formatting import DASH, code, fmt, fmt_n, join_words
from s2rlib._core.constants import ALL_M
from s2rlib.grid.selection import grid_ids, m_values, select_grid
from s2rlib.training.transfer import Recipe
from s2rlib._core.paths import results_root
from s2rlib.grid.results import merge_points
from s2rlib._core.paths import repo_root
from s2rlib._core.units import pretty_units


def m_name(m) -> str:
    return "all" if int(m) == ALL_M else fmt_n(m)

def data_table(table: pd.DataFrame) -> pd.DataFrame:
    """The grid that was run: per (m, n), trials, seeds and the mean sizes of every data split."""
    rows = []
    sizes = ["n_train", "n_val", "n_test", "n_source_used"]
    for (m, n), g in table.groupby(["m_target", "n_source"], sort=True):
        row = {"m": m_name(m), "n": fmt_n(n), "trials": str(g["trial"].nunique()),
               "seeds": f"{int(g['seed'].min())}–{int(g['seed'].max())}"}
        for s in sizes:
            v = g.loc[g["metric"] == s, "value"]
            if len(v):
                row[{"n_train": "exp. train", "n_val": "exp. validation", "n_test": "exp. test",
                     "n_source_used": "simulations used"}[s]] = fmt_n(v.mean())
        rows.append(row)
    df = pd.DataFrame(rows)
    order = {m_name(m): i for i, m in enumerate(m_values(table))}
    return df.sort_values("m", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def split_constant_columns(df: pd.DataFrame, keep: Iterable[str] = ("m", "n")) -> tuple[pd.DataFrame, dict]:
    """``df`` without the columns whose value is the same in every row, and those values.

    The grid table's trials, seeds and test size never change along n; a caption states them once
    (:func:`constant_caption`) instead of repeating them in every row. Columns in ``keep`` stay.
    """
    const = {c: str(df[c].iloc[0]) for c in df.columns
             if c not in keep and len(df) > 1 and df[c].astype(str).nunique() == 1}
    return df.drop(columns=list(const)), const


def grid_tables(table: pd.DataFrame) -> list[tuple[pd.DataFrame, str]]:
    """The grid that was run, compacted: (table, caption) pairs for :func:`show`.

    Columns that never change go into the caption; in a two-way grid, columns that depend only on
    m (the experimental split sizes) get one row per m and columns that depend only on n (the
    simulations drawn) one row per n, instead of one row per (n, m).
    """
    full, const = split_constant_columns(data_table(table))
    same = constant_caption(const)
    title = "The grid that was run: mean sizes of the data splits" + (f" ({same})" if same else "")
    if full["m"].nunique() < 2:
        return [(full.drop(columns="m"), title.replace("splits (", f"splits (m = {full['m'].iloc[0]}; ", 1)
                 if same else title + f" (m = {full['m'].iloc[0]})")]
    rest = [c for c in full.columns if c not in ("m", "n")]
    by_m = [c for c in rest if (full.groupby("m", sort=False)[c].nunique() == 1).all()]
    by_n = [c for c in rest if c not in by_m and (full.groupby("n", sort=False)[c].nunique() == 1).all()]
    both = [c for c in rest if c not in by_m and c not in by_n]
    out = []
    if by_m:
        out.append((full[["m", *by_m]].drop_duplicates("m").reset_index(drop=True),
                    title + "; per experimental size m"))
    if by_n:
        out.append((full[["n", *by_n]].drop_duplicates("n").reset_index(drop=True),
                    "Simulated samples drawn per n (the same for every m)"))
    if both:
        out.append((full[["m", "n", *both]], "Sizes that vary with both n and m"))
    ns = ", ".join(full["n"].drop_duplicates())
    out[0] = (out[0][0], out[0][1] + f"; every m was run at n = {ns}")
    return out


def constant_caption(const: Mapping[str, str]) -> str:
    """``"the same at every point: trials 5, seeds 0–4"`` (empty when nothing is constant)."""
    return "" if not const else "the same at every point: " + ", ".join(f"{k} {v}" for k, v in const.items())


def provenance_table(table: pd.DataFrame) -> pd.DataFrame:
    """Where the numbers come from, one column per grid: params_ids, sizes, seeds, data hash, code, time."""
    cols = {}
    for gid, g in table.assign(_grid=grid_ids(table)).groupby("_grid", sort=False):
        try:
            params = json.loads(g["params"].iloc[0])
        except (TypeError, ValueError):
            params = {}
        recipe = params.get("recipe", {}) if isinstance(params, dict) else {}
        recipe_text = ", ".join(f"{k}={v}" for k, v in sorted(recipe.items())
                                if k in ("pretrain_epochs", "pretrain_max_steps", "pretrain_min_steps",
                                         "finetune_max_epochs", "patience_epochs", "hidden", "pretrain_lr"))
        shas = sorted(g["data_sha256"].astype(str).unique())
        versions = sorted(g["code_version"].astype(str).unique())
        per_point = g.drop_duplicates(["n_source", "m_target", "params_id"])["wall_s"].astype(float)
        pids = sorted(g["params_id"].astype(str).unique())
        col = {} if pids == [gid] else {"params_id as written (older tables)": ", ".join(code(p) for p in pids)}
        cols[f"params_id {code(gid)}"] = col | {
            "experimental sizes m": ", ".join(m_name(m) for m in sorted(g["m_target"].unique(),
                                                                          key=lambda m: (m == ALL_M, m))),
            "source sizes n": ", ".join(fmt_n(n) for n in sorted(g["n_source"].unique())),
            "trials": str(g["trial"].nunique()),
            "seeds (seed + t)": f"{int(g['seed'].min())}–{int(g['seed'].max())}",
            "recipe (main settings)": recipe_text or DASH,
            "data sha256": " ".join(code(s) for s in shas),
            "code version": ", ".join(code(v) for v in versions),
            "rows": f"{len(g):,}",
            "compute time (sum over grid points)": f"{fmt(per_point.sum() / 60, 3)} min",
        }
    df = pd.DataFrame(cols)
    df.insert(0, "", df.index)
    return df.reset_index(drop=True)


def case_header_table(case: str, table: pd.DataFrame | None, root=None) -> pd.DataFrame:
    """What is transferred to what, in which units, and where this chapter's numbers come from."""
    c = get_case(case)
    t = (lambda v: v) if c.builtin else literal  # a case of one's own: its strings are text, never markup
    rows = [("source (computational)", t(c.source)), ("target (experimental)", t(c.target)),
            ("property units", t(pretty_units(c.units))), ("results table", code(_rel(results_path(case, root))))]
    if table is not None:
        rows.append(("rows in the table", f"{len(table):,}"))
    if c.notes:
        rows.append(("notes", t(c.notes)))
    return pd.DataFrame(rows, columns=["", "this case"])


def grid_command(case: str, width: int = 78) -> str:
    """The ``s2r grid`` command of a case's default grid (as :mod:`s2rlib.cases.registry` defines it),
    wrapped with ``\\`` continuations to at most ``width`` characters per line."""
    c = get_case(case)
    parts = [f"s2r grid {c.name}", "--ns " + ",".join(str(n) for n in c.default_ns)]
    ms = [m for m in c.default_ms if m is not None]
    if ms:
        parts.append("--ms " + ",".join([str(m) for m in ms] + (["all"] if None in c.default_ms else [])))
    parts.append(f"--trials {c.default_trials}")
    lines, line = [], parts[0]
    for part in parts[1:]:
        if len(line) + 1 + len(part) + 2 > width:
            lines.append(line + " \\")
            line = "    " + part
        else:
            line += " " + part
    return "\n".join(lines + [line])


def grid_cost_table(root=None, cases: Iterable[str] = BOOK_CASES) -> pd.DataFrame:
    """Per case: the default grid, what the committed table holds of it, and what those points cost.

    The default grid is the case file's (points and trials). The committed table is described by
    its :func:`~s2rlib.book.case_results.grid_state` (the recipe: today's ``transfer.Recipe()`` or an
    earlier one; its trials per point; which of the case file's m are complete) and by the points it
    holds. Its time is the sum of those points' recorded ``wall_s`` (in-kernel compute, all trials of
    a point; papermill adds about 4 s per point), so minutes are never set beside another grid's
    point count or trials.
    """
    rows = []
    for case in cases:
        c = get_case(case)
        points = len(c.default_ns) * len(c.default_ms)
        row = {"case": case_words(case, start=True),
               "default grid (case file)": f"{len(c.default_ns)} n × {len(c.default_ms)} m = {points} points, "
                                           f"{c.default_trials} trials each"}
        table = load_case_results(case, root, announce=False)
        if table is None:
            rows.append(row | {"committed table": "no results yet", "measured time of its points": DASH,
                               "slowest point": DASH})
            continue
        g = select_grid(table)
        st = grid_state(case, g)
        recipe = {"default": "today's recipe", "own": "a recipe of its own"}.get(st.recipe, "an earlier recipe")
        t_lo, t_hi = st.trials
        t_text = f"{t_hi}" if t_lo == t_hi else f"{t_lo}–{t_hi}"
        per_point = g.drop_duplicates(["n_source", "m_target"])[["n_source", "m_target", "wall_s"]]
        held = len(per_point)
        ms = sorted({int(m) for m in per_point["m_target"]}, key=lambda m: (m == ALL_M, m))
        extent = (f"all {points} points" if not st.missing_ms else
                  f"{held} of {points} points (m = {', '.join(m_name(m) for m in ms)})")
        wall = per_point["wall_s"].astype(float)
        row |= {"committed table": f"{recipe}, {t_text} trials; {extent}",
                "measured time of its points": f"{fmt(wall.sum() / 60, 3)} min ({held} points × {t_text} trials)",
                "slowest point": f"{wall.max():.0f} s ({t_text} trials)"}
        rows.append(row)
    return pd.DataFrame(rows)


#: where the final grids' finished points wait, under the results root, until a case's m = all line is
#: complete and the case moves to ``results/<case>/`` (``results/grids-v2/README.md``)
STAGED_DIR = "grids-v2"


def _todays_rows(case: str, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``table`` whose recorded recipe is today's ``transfer.Recipe()``."""
    recorded_recipes(case, table)  # a params cell that is not a JSON object: an error naming the row
    today = Recipe().to_dict()
    keep = {p for p in table["params"].astype(str).unique() if json.loads(p).get("recipe") == today}
    return table[table["params"].astype(str).isin(keep)]


def todays_point_times(root=None, cases: Iterable[str] = BOOK_CASES, m: int = ALL_M) -> pd.DataFrame:
    """The recorded time of every grid point run with today's recipe at experimental size ``m``
    (default: all), one row per point: case, where the rows are (relative to the checkout),
    whether they are staged, n, trials and ``wall_s`` (in-kernel compute of all its trials).

    The rows are read from the committed table ``results/<case>/results.csv``; where that holds no
    point of today's recipe at ``m``, from the points staged in ``results/grids-v2/<case>/points/``
    (:data:`STAGED_DIR`), so the times stay readable when a case moves from one to the other."""
    out = []
    for case in cases:
        sources = []
        table = load_case_results(case, root, announce=False)
        if table is not None:
            sources.append((results_path(case, root), False, table))
        staged = results_root(root) / STAGED_DIR / case / "points"
        if staged.is_dir():
            sources.append((staged, True, None))
        for where, is_staged, rows in sources:
            rows = merge_points(where) if rows is None else rows
            rows = rows[(rows["case"] == case) & (rows["m_target"] == m)] if len(rows) else rows
            rows = _todays_rows(case, rows) if len(rows) else rows
            if not len(rows):
                continue
            rows = select_grid(rows)  # one grid: two runs of today's recipe (other trials, seeds) never mix
            trials = rows.groupby("n_source")["trial"].nunique()
            per_point = rows.drop_duplicates("n_source").set_index("n_source")["wall_s"].astype(float)
            for n, wall in per_point.sort_index().items():
                out.append({"case": case, "where": _rel(where), "staged": is_staged, "n_source": int(n),
                            "trials": int(trials[n]), "wall_s": float(wall)})
            break  # the committed table when it has today's points, else the staged ones
    return pd.DataFrame(out, columns=["case", "where", "staged", "n_source", "trials", "wall_s"])


def _seconds(x: float) -> str:
    return f"{x:,.0f} s"


def point_times_sentence(root=None, cases: Iterable[str] = BOOK_CASES) -> str:
    """The rerun chapter's sentence on what one grid point of today's recipe costs, per case, generated
    from the ``wall_s`` of the rows (:func:`todays_point_times`), wherever those rows are."""
    cases = list(cases)
    df = todays_point_times(root, cases)
    parts = []
    for case in cases:
        g = df[df["case"] == case]
        if not len(g):
            continue
        lo, hi = g["wall_s"].min(), g["wall_s"].max()
        t_lo, t_hi = g["trials"].min(), g["trials"].max()
        trials = f"{t_hi} trials" if t_lo == t_hi else f"{t_lo} to {t_hi} trials"
        points = f"{len(g)} point{'s' if len(g) > 1 else ''} of {trials}"
        span = _seconds(lo) if len(g) == 1 else f"{_seconds(lo).removesuffix(' s')}–{_seconds(hi)} each"
        where = (f" (staged in `{g['where'].iloc[0]}/` until its $m$ = all line is complete)" if g["staged"].iloc[0]
                 else "")
        parts.append(f"{case_words(case)}, {points}: {span}{where}")
    missing = [case_words(c) for c in cases if not (df["case"] == c).any()]
    if not parts:
        return "No grid point of today's recipe has been run at $m$ = all yet, so none is timed."
    text = ("Measured with today's recipe at $m$ = all (all experimental data), from the `wall_s` of the rows: "
            + "; ".join(parts) + ".")
    if missing:
        text += f" No point of today's recipe at $m$ = all is recorded yet for {join_words(missing)}."
    if df["wall_s"].max() > 120:  # said only of times that exist (a live demonstration: a few minutes)
        text += " Points like these are far too slow for a live demonstration, which is what the classroom run below is for."
    return text


#: the measured classroom run (``benchmarks/classroom_run.py`` writes it)
CLASSROOM_JSON = "benchmarks/classroom.json"


def classroom_record(path=None) -> dict | None:
    """The measured classroom run (``benchmarks/classroom.json``), or None when it has not been measured."""
    p = repo_root() / CLASSROOM_JSON if path is None else path
    try:
        with open(p) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


#: the compute floor of the committed grids (``benchmarks/floor.py`` writes it)
FLOOR_JSON = "benchmarks/floor.json"


def _cpu(rec: dict) -> str:
    m = rec.get("machine", {})
    model = next((ln.split(":", 1)[1].strip() for ln in m.get("lscpu", []) if ln.startswith("Model name")), "a CPU")
    return f"{model}, {m.get('nproc', '?')} CPUs"


def floor_sentence(path=None) -> str:
    """What the committed default grids cost at the least: their training FLOPs over the fastest measured
    matrix-product rate (:data:`FLOOR_JSON`, its ``summary``), beside the minutes they took. Empty when not
    measured."""
    p = repo_root() / FLOOR_JSON if path is None else path
    try:
        with open(p) as fh:
            rec = json.load(fh)
    except FileNotFoundError:
        return ""
    s, ceil = rec["summary"], rec["ceiling_gflops"]
    bf16 = ""
    if "bf16" in ceil:
        bf16 = (f" (bfloat16, which the measuring CPU has natively, would lower it to {s['floor_min']['bf16']:,.0f} "
                f"minutes at {ceil['bf16']:,.0f} GFLOP/s")
        bf16 += (f", and meet an hour only at {100 * s['bf16_share_needed']:.0f}% efficiency or more"
                 if s["bf16_share_needed"] < 1 else "")
        bf16 += "; it is not the validated recipe)"
    return (f"From scratch, these grids cost at least their training's floating-point work: counted from the "
            f"committed rows (`benchmarks/floor.py`), {s['flops'] / 1e12:,.0f} TFLOP, which is "
            f"**{s['floor_min']['fp32']:,.0f} minutes** at the fastest fp32 matrix-product rate measured on the "
            f"project's machine ({_cpu(rec)}), {ceil['fp32']:,.0f} GFLOP/s, even if every step ran at that rate{bf16}. The committed points took "
            f"{s['wall_min']:,.0f} minutes, partly beside other work. `benchmarks/FLOOR.md` gives the count per case.")


def _ns_of(command: str) -> list[str]:
    """The ``--ns`` sizes of an ``s2r grid`` command line, as written (``--ns a,b`` or ``--ns=a,b``)."""
    import shlex

    words = shlex.split(command)
    for i, w in enumerate(words):
        if w == "--ns" and i + 1 < len(words):
            return words[i + 1].split(",")
        if w.startswith("--ns="):
            return w.removeprefix("--ns=").split(",")
    return []


def classroom_box(path=None) -> str:
    """The rerun chapter's box on what the classroom run costs, generated from its measurement
    (:data:`CLASSROOM_JSON`): the whole run, each command, each grid point, the machine."""
    import re

    rec = classroom_record(path)
    if rec is None:
        return ("```{admonition} Not yet measured\n:class: warning\nThe classroom run has not been timed as a whole "
                "(`benchmarks/classroom_run.py` does it): time it once on the lecture's laptop before the class.\n```")
    total = float(rec["total_seconds"])
    grid, fit = rec["commands"][0], rec["commands"][-1]
    pts = sorted(rec["points"], key=lambda p: p["n_source"])
    all_n = "all" in _ns_of(grid["command"])
    per_point = ", ".join(f"{'all' if p is pts[-1] and all_n else fmt_n(p['n_source'])}: {p['wall_s']:,.0f} s"
                          for p in pts)
    machine = rec.get("machine") or {}
    lscpu = dict((k.strip(), v.strip()) for k, v in (ln.split(":", 1) for ln in machine.get("lscpu", []) if ":" in ln))
    where = ""
    if "Model name" in lscpu:
        cpus = lscpu.get("CPU(s)", "")
        load = (machine.get("loadavg_start") or [float("nan")])[0]
        busy = cpus.isdigit() and load > 0.25 * int(cpus)  # the benchmarks' rule for a busy machine
        where = (f" on {lscpu['Model name']}{f' ({cpus} CPUs)' if cpus else ''}, "
                 f"{'a busy machine' if busy else 'a quiet machine'} (load average {load:.1f} at the start)")
    when = str(machine.get("date_utc", ""))[:10]
    commit = machine.get("git", "")
    ran = re.search(r"already done, ([0-9.]+) s", grid.get("stdout_tail", ""))
    steps = ""
    if ran:
        run_s = float(ran.group(1))
        before = float(grid["seconds"]) - run_s
        each = (run_s - sum(p["wall_s"] for p in pts)) / len(pts)
        steps = (f" ({before:,.0f} s to load the data and compute the descriptors before the first point, then "
                 f"{len(pts)} points, each about {each:,.0f} s to start its notebook and load its data plus the "
                 "training below)")
    mirror = "the data read from the local mirror, " if rec.get("data_mirror") else ""
    return (f"```{{admonition}} Measured: {total / 60:.1f} minutes for the whole block\n:class: tip\n"
            f"The block above, run as printed by `benchmarks/classroom_run.py`{f' on {when}' if when else ''}"
            f"{f' (code {commit})' if commit else ''} with empty caches ({mirror}descriptors and pretrained networks "
            f"computed afresh, as on a laptop's first run), took **{total / 60:.1f} minutes**{where}: `s2r grid` "
            f"{grid['seconds']:,.0f} s{steps}, `s2r fit` {fit['seconds']:,.0f} s. Training time of each point "
            f"({rec.get('trials', 2)} trials; $n$ = {per_point}). $n$ = 0 trains no network on the database, so it is "
            "the quickest. A laptop differs: time the block once there before the class (the descriptors are then "
            f"cached).{_classroom_fit(fit.get('stdout_tail', ''))}\n```")


def _classroom_fit(out: str) -> str:
    """What the measured run's ``s2r fit`` printed, in the book's words: its status and the paired gain at the
    largest n (empty when the output does not hold them)."""
    import re

    status = re.search(r"^(\w+) \(m = [^)]*\): status (\w+)", out, re.M)
    gain = re.search(r"baseline: ([0-9.]+); paired gain at n = (\d+): ([-+0-9.e]+) \[([-+0-9.e]+), ([-+0-9.e]+)\]", out)
    if not (status and gain):
        return ""
    base, n, g, lo, hi = (float(x) for x in gain.groups())
    units = pretty_units(get_case(status.group(1)).units)
    way = (f"lower by {fmt(-g)} {units} (90% interval {fmt(-hi)} to {fmt(-lo)})" if g < 0 else
           f"higher by {fmt(g)} {units} (90% interval {fmt(lo)} to {fmt(hi)})")
    return (f" Its fit read: the error without pretraining {fmt(base)} {units}, and with the largest database "
            f"({fmt_n(int(n))} samples) {way}; the law's status: {status_link(status.group(2))}. Two trials are "
            "few: a reason to ask the class what twenty trials and a goodness-of-fit test add.")
