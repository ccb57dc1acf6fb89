"""The ``s2r`` command: ``s2r grid``, ``s2r fit``, ``s2r cases``, ``s2r new-case``, ``s2r book-pages``,
``s2r book-page`` (and ``s2r --version``).

Each subcommand is a pair: ``_add_<name>(sub)`` declares its arguments, ``cmd_<name>(args)`` runs
it; :data:`SUBCOMMANDS` lists them (a new subcommand is one more pair and one more entry). Every
failure reaching :func:`main` is one ``s2r: error:`` line on stderr and exit code 2: errors s2rlib
raises on purpose (:class:`~s2rlib._core.errors.S2RError`) name the file, parameter or point; anything
else is reported as an internal error (``S2R_TRACEBACK=1`` shows the traceback). Warnings are
``s2r: warning:`` lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

from s2rlib._core.constants import ALL_M
from s2rlib.cases.registry import CASES, get_case, reload
from s2rlib._core.errors import DataError, ParameterError, S2RError

# ---------------------------------------------------------------------------------------------
# argument parsing helpers (the boundary: "all" becomes ALL_M here and nowhere else)


def _sizes(name: str, text: str, *, all_value) -> list:
    """``--ns``/``--ms`` text as a list: integers, ``all`` -> ``all_value``; anything else is left for validation."""
    out = []
    for tok in text.split(","):
        tok = tok.strip()
        if tok.lower() == "all":
            out.append(all_value)
        elif tok:
            try:
                value = float(tok)
            except ValueError:
                out.append(tok)  # not a number: validation names it
                continue
            # 1e3 -> 1000; 12.5 stays 12.5 so that validation rejects it instead of truncating it
            out.append(int(value) if value.is_integer() else value)
    return out


class _StderrHandler(logging.Handler):
    """s2rlib's warnings as ``s2r: warning: ...`` lines on the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"s2r: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def _warn(text: str) -> None:
    print(f"s2r: warning: {text}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# s2r grid


def _add_grid(sub) -> None:
    g = sub.add_parser("grid", help="run a case notebook over a grid of source sizes n (and m) with papermill")
    g.add_argument("case")
    g.add_argument("--ns", help="comma-separated source sizes, 'all' = whole source (default: the case's grid)")
    g.add_argument("--ms", help="comma-separated experimental training sizes, 'all' = all (default: the case's)")
    g.add_argument("--trials", type=int, help="independent trials per grid point (default: the case's)")
    g.add_argument("--seed", type=int, default=0, help="base seed; trial t uses seed + t")
    g.add_argument("--out", help="results directory (default results/<case>)")
    g.add_argument("--recipe", help="JSON of recipe overrides, e.g. '{\"pretrain_epochs\": 5}'")
    g.add_argument("--threads", type=int,
                   help="torch threads per notebook (default: the CPUs this process may use, divided by --workers)")
    g.add_argument("--device", default="cpu", help="where the networks train: cpu (default, the reference) or cuda "
                                                   "(a GPU; refused with the reason where there is none)")
    g.add_argument("--workers", type=int, default=1, help="grid points in parallel on a local dask cluster")
    g.add_argument("--scheduler", help="address of a running dask scheduler, e.g. tcp://host:8786")
    g.add_argument("--notebook", help="notebook to execute (default: notebooks/<case>.ipynb of the checkout s2rlib "
                                      "is imported from; one in the working directory is not used)")
    g.add_argument("--keep-notebooks", action="store_true", help="keep executed notebooks in <out>/executed")
    g.add_argument("--quiet", action="store_true")
    g.add_argument("--splits", help="a split file of fixed folds instead of random re-splits (CSV with a fold column, "
                                     "or JSON of train/test ids per fold; s2rlib.training.splits): trial t is fold t; "
                                     "default: the case file's [splits], else random")
    g.add_argument("--dry-run", action="store_true", help="check the grid, print the points still to run and their "
                                                          "estimated time (from recorded wall_s), run nothing")
    g.set_defaults(func=cmd_grid)


def cmd_grid(args) -> int:
    from s2rlib._core.paths import results_root
    from s2rlib.grid import estimate
    from s2rlib.grid import runner as grid
    from s2rlib.training.params import validate_recipe

    case = get_case(args.case)
    if args.workers < 1:
        raise ParameterError(f"parameter --workers={args.workers}: must be >= 1 (grid points run in parallel)")
    # an empty --ns/--ms is an empty list (an error), not "the default grid"
    ns = _sizes("ns", args.ns, all_value="all") if args.ns is not None else list(case.default_ns)
    ms = _sizes("ms", args.ms, all_value=ALL_M) if args.ms is not None else list(case.default_ms)
    full = validate_recipe(args.recipe or "{}")  # bad JSON or fields: a ParameterError before anything runs
    recipe = json.loads(args.recipe) if args.recipe else {}
    out = Path(args.out or Path("results") / case.name)
    trials = case.default_trials if args.trials is None else args.trials  # --trials 0 is an error, not the default
    threads = args.threads
    if threads is None and args.scheduler is None:
        threads = grid.default_threads(args.workers)
    points = grid.plan(case.name, ns, ms, trials=trials, seed=args.seed, out_dir=out,
                       recipe=recipe, threads=threads, notebook=args.notebook, keep_notebooks=args.keep_notebooks,
                       device=args.device, splits=args.splits)
    committed = results_root() / case.name / "results.csv"
    print(estimate.cost_line(case.name, estimate.estimate(points, dict.fromkeys([out / "results.csv", committed]))),
          flush=True)
    if args.dry_run:
        return 0
    print(f"{case.name}: notebook: {points[0].notebook}", flush=True)
    per_point = f"{threads} torch thread(s) per point" if threads else "the dask workers' threads"
    gpu = points[0].params.get("device")
    where = points[0].device if not gpu else f"{points[0].device} ({gpu['name']}, CUDA {gpu['cuda']})"
    print(f"{case.name}: device: {where} ({per_point}), precision "
          f"{full.precision}, matmul {full.matmul}, pretraining schedule {full.pretrain_schedule}", flush=True)
    res = grid.run_grid(points, workers=args.workers, scheduler=args.scheduler, progress=not args.quiet)
    print(f"{case.name}: {len(res.computed)} point(s) computed, {len(res.skipped)} already done, "
          f"{res.wall_s:.1f} s -> {out / 'results.csv'} ({len(res.table)} rows)")
    return 0


# ---------------------------------------------------------------------------------------------
# s2r fit


def _add_fit(sub) -> None:
    f = sub.add_parser("fit", help="fit R(n) = D n^-alpha + C to a results table (the book's fit)")
    f.add_argument("case", help="the case whose rows are fitted (a table may hold several)")
    f.add_argument("--results", help="results CSV (default results/<case>/results.csv)")
    f.add_argument("--grid", help="the grid (params_id) to fit when the table holds several parameter sets")
    f.add_argument("--m", help="experimental size m to fit ('all' = all experimental data; default as in the book)")
    f.add_argument("--metric", default="mae", help="the metric to fit (default mae)")
    f.add_argument("--n-boot", type=int, default=None, help="bootstrap draws (default as in the book)")
    f.set_defaults(func=cmd_fit)


def _non_finite(table, metric: str, path: Path):
    """The table without non-finite values of ``metric``; each one left out is named in a warning."""
    import numpy as np

    rows = table[table["metric"] == metric]
    bad = rows[~np.isfinite(rows["value"].to_numpy(dtype=float))]
    if len(bad):
        cells = ", ".join(f"n={r.n_source} trial {r.trial} ({r.value})" for r in bad.itertuples())
        _warn(f"{path}: {len(bad)} non-finite {metric} value(s) left out of the fit: {cells}")
    return table.drop(index=bad.index)


def cmd_fit(args) -> int:
    from s2rlib.book import findings
    from s2rlib.law import fit_cache
    from s2rlib.grid import results
    from s2rlib.grid import selection

    path = Path(args.results or Path("results") / args.case / "results.csv")
    case = get_case(args.case).name
    n_boot = fit_cache.N_BOOT if args.n_boot is None else args.n_boot
    if n_boot < 1:
        raise ParameterError(f"parameter --n-boot={n_boot}: must be >= 1")
    table = results.load_results(path)
    cases = sorted(table["case"].astype(str).unique())
    if case not in cases:
        raise DataError(f"{path} has no rows for case {case!r} (it holds: {cases})")
    if len(cases) > 1:
        _warn(f"{path} also holds rows of case(s) {[c for c in cases if c != case]}; fitting the {case} rows")
    table = table[table["case"] == case].reset_index(drop=True)
    grids = selection.grids(table)
    if args.grid is not None:
        known = set(grids["grid"]) | {p for ids in grids["params_ids"] for p in ids}
        if args.grid not in known:
            raise ParameterError(f"parameter --grid={args.grid!r}: not a grid of {path}; its {case} grids: "
                                 f"{sorted(grids['grid'])}")
        table = selection.select_grid(table, args.grid)
    results.check_one_data(table, path, case)
    if len(grids) > 1 and args.grid is None:
        listed = "; ".join(f"{g.grid} ({g.points} n, {g.rows} rows)" for g in grids.itertuples())
        raise DataError(f"{path}: the {case} rows mix {len(grids)} grids (parameter sets): {listed}; choose one "
                        f"with --grid ID")
    metrics = sorted(table["metric"].astype(str).unique())
    if args.metric not in metrics:
        raise ParameterError(f"parameter --metric={args.metric!r}: not in the table; known metrics: {metrics}")
    m = selection.main_m(table) if args.m is None else (_sizes("m", args.m, all_value=ALL_M) or [args.m])[0]
    if m not in selection.m_values(table):
        raise ParameterError(f"parameter --m={args.m!r}: not in the table; its m: "
                             f"{['all' if v == ALL_M else v for v in selection.m_values(table)]}")
    table = _non_finite(table, args.metric, path)
    fit = fit_cache.fit_case(table, m, metric=args.metric, n_boot=n_boot)
    print(findings.describe_fit(fit).replace("[nan, nan]", "[no interval: fewer than 2 paired trials]"))
    print(f"  grid {selection.grid_ids(table).iloc[0]}, {args.metric} from {path}")
    return 0


# ---------------------------------------------------------------------------------------------
# s2r cases


def _add_cases(sub) -> None:
    c = sub.add_parser("cases", help="list the case studies (built-in and your own)")
    c.add_argument("--names", action="store_true", help="only the names, space-separated (for scripts)")
    c.set_defaults(func=cmd_cases)


def cmd_cases(args) -> int:
    if args.names:
        print(" ".join(CASES))
        return 0
    for c in CASES.values():
        where = "" if c.builtin else f"  ({c.file})"
        print(f"{c.name:20s} {c.title}  [{c.units}]  default n: {list(c.default_ns)}{where}")
    return 0


# ------------------------------------------------------------------------------- your own case


def cmd_new_case(args) -> int:
    from s2rlib.cli.new_case import new_case

    if not (args.property or "").strip():
        raise ParameterError("parameter --property: required: the measured property's name in words, e.g. "
                             "--property \"band gap\" (the page's figure axes, tables and sentences name it)")
    path = new_case(args.name, args.source, args.target, kind=args.kind, units=args.units, title=args.title,
                    property=args.property, source_description=args.source_description,
                    target_description=args.target_description, notes=args.notes or "", trials=args.trials,
                    splits=args.splits)
    case = get_case(args.name)
    print(f"{case.name}: wrote {path}\n  source: {case.source}\n  target: {case.target}\n"
          f"  default grid: n = {','.join(map(str, case.default_ns))}, {case.default_trials} trials\n"
          f"next: s2r grid {case.name}   then: s2r fit {case.name}   book page: s2r book-page {case.name}")
    return 0


def cmd_book_pages(args) -> int:
    from s2rlib.book import case_pages as casepages
    from s2rlib._core.paths import project_root

    root = Path(args.root) if args.root else project_root()
    if root is None:
        raise S2RError("no project checkout (a directory with _toc.yml and notebooks/) here or above; pass --root")
    names = [args.name] if getattr(args, "name", None) else None
    if getattr(args, "results", None):
        _declare_results(args.name, args.results)
    changed = casepages.write_book(root, names)
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("book pages, notebooks and _toc.yml are current")
    return 0


def _declare_results(name: str, given: str) -> None:
    """Record ``given`` (a results CSV, or the ``--out`` folder holding one) as the page's results table:
    ``[page] results`` in the user case file, written atomically; refused for a built-in case, a missing file or
    a table without rows of the case."""
    from s2rlib._core.atomic import write_text
    from s2rlib.cases import case_file as casefile
    from s2rlib.grid import results

    case = get_case(name)
    if case.builtin:
        raise ParameterError(f"parameter --results={given!r}: case {name!r} is built in; its page reads "
                             f"results/{name}/results.csv (or $S2R_RESULTS_ROOT/{name}/results.csv)")
    path = Path(given).expanduser().resolve()
    path = path / "results.csv" if path.is_dir() else path
    if not path.is_file():
        raise ParameterError(f"parameter --results={given!r}: {path} does not exist; expected the results.csv of a "
                             f"grid (s2r grid {name} --out DIR writes DIR/results.csv) or its folder")
    table = results.load_results(path)
    if not (table["case"].astype(str) == name).any():
        raise DataError(f"parameter --results={given!r}: {path} has no rows of case {name!r} (it holds: "
                        f"{sorted(table['case'].astype(str).unique())})")
    spec = casefile.parse(Path(case.file).read_text(encoding="utf-8"), case.file)
    spec.setdefault("page", {})["results"] = str(path)
    text = casefile.dumps(spec, header=f"Case {name!r}, written by `s2r new-case`; [page] results by "
                                       f"`s2r book-page --results`; format: s2rlib.cases.case_file")
    casefile.parse(text, case.file)
    write_text(Path(case.file), text)
    reload()
    print(f"{name}: its page reads {path} ([page] results in {case.file})")


def add_case_commands(sub) -> None:
    """``s2r new-case``, ``s2r book-pages``, ``s2r book-page``: a user's own case with no code."""
    n = sub.add_parser("new-case", help="make a case study from two CSV files (computational source, experimental target)",
                       description="Check two CSVs and write <cases dir>/NAME.toml referencing them by absolute path and "
                                   "sha256 (nothing is copied). composition: columns formula,target; polymer: columns "
                                   "smiles,target (a repeat unit with two '*'). The cases dir is $S2R_CASES_DIR, else "
                                   "cases/ in the project checkout.")
    n.add_argument("name", help="the new case's name: lower-case letters, digits, '_'")
    n.add_argument("--source", required=True, help="CSV of computed values (pretraining)")
    n.add_argument("--target", required=True, help="CSV of measured values (fine-tuning and test)")
    n.add_argument("--kind", required=True, choices=["composition", "polymer"])
    n.add_argument("--units", required=True, help="units of the target column, e.g. eV")
    n.add_argument("--property", help="the property's name, in words, e.g. \"band gap\" (required: the page's axes "
                                      "and sentences name it)")
    n.add_argument("--title", help="the page's title (default: built from the file names)")
    n.add_argument("--source-description", help="the source in words (default: file name and counts)")
    n.add_argument("--target-description", help="the target in words (default: file name and counts)")
    n.add_argument("--notes", help="a note for the page's header table")
    n.add_argument("--trials", type=int, default=5, help="default trials per grid point (default 5)")
    n.add_argument("--splits", help="a split file of fixed folds (a fold column, or train/test ids per fold) used "
                                    "instead of random re-splits: each fold is one trial (recorded as [splits])")
    n.set_defaults(func=cmd_new_case)
    b = sub.add_parser("book-pages", help="write every case's book page, the built-in notebooks and _toc.yml from "
                                          "the case files and templates (make book runs it)")
    b.add_argument("--root", help="the project checkout (default: found from the current directory)")
    b.set_defaults(func=cmd_book_pages)
    p = sub.add_parser("book-page", help="write one case's book pages (book/cases/NAME.md and NAME_details.md) and add them to _toc.yml")
    p.add_argument("name")
    p.add_argument("--root", help="the project checkout (default: found from the current directory)")
    p.add_argument("--results", help="the results table the page reads, a results.csv or the grid's --out folder "
                                      "(default results/NAME/); recorded in the case file as [page] results")
    p.set_defaults(func=cmd_book_pages)


# ---------------------------------------------------------------------------------------------
# the command


#: every subcommand's argument declaration, in the order ``s2r --help`` lists them
SUBCOMMANDS = [_add_grid, _add_fit, _add_cases, add_case_commands]


def _version() -> str:
    from s2rlib._core.version import __version__
    from s2rlib.grid.results import code_version

    return f"s2r (s2rlib {__version__}, code_version {code_version()}, from {Path(__file__).resolve().parent})"


class _VersionAction(argparse.Action):
    """``--version`` on one unwrapped line (argparse's own action wraps it to the terminal width)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit(0)


class Terminated(BaseException):
    """SIGTERM, raised where the command is (a BaseException: no ``except Exception`` swallows it)."""


def _terminated(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="s2r", description="Sim2Real Scaling: grids, fits, cases")
    p.add_argument("--version", action=_VersionAction, help="print the s2rlib version and code version, then exit")
    sub = p.add_subparsers(dest="cmd", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    args = p.parse_args(argv)
    s2r_log = logging.getLogger("s2rlib")
    s2r_log.setLevel(logging.WARNING)
    if not any(isinstance(h, _StderrHandler) for h in s2r_log.handlers):
        s2r_log.addHandler(_StderrHandler())
    previous = signal.signal(signal.SIGTERM, _terminated) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        return args.func(args)
    except (KeyboardInterrupt, Terminated) as exc:
        name, code = ("SIGTERM", 143) if isinstance(exc, Terminated) else ("SIGINT", 130)
        print(f"s2r: error: s2r {args.cmd} interrupted ({name}); every finished grid point is kept in its points/ "
              f"folder (results.csv is merged again when next read); rerun the same command to go on", file=sys.stderr)
        return code
    except S2RError as exc:
        print(f"s2r: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - never a bare traceback at the command line
        if os.environ.get("S2R_TRACEBACK"):
            traceback.print_exc()
        print(f"s2r: error: internal error in s2r {args.cmd} ({type(exc).__name__}: {exc}); this is a bug, please "
              f"report it (S2R_TRACEBACK=1 shows the traceback)", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
