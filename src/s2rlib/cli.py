"""The ``s2r`` command: ``s2r grid``, ``s2r fit``, ``s2r cases``, ``s2r new-case``, ``s2r book-pages``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .cases import CASES, get_case
from .errors import S2RError


def _sizes(text: str) -> list:
    out = []
    for tok in text.split(","):
        tok = tok.strip()
        if tok in ("all", "none", "None", "-1"):
            out.append("all" if tok == "all" else None)
        elif tok:
            try:
                value = float(tok)
            except ValueError:
                out.append(tok)  # not a number: validation names it
                continue
            # 1e3 -> 1000; 12.5 stays 12.5 so that validation rejects it instead of truncating it
            out.append(int(value) if value.is_integer() else value)
    return out


def cmd_grid(args) -> int:
    from . import grid
    from .validation import validate_recipe

    case = get_case(args.case)
    ns = _sizes(args.ns) if args.ns else list(case.default_ns)
    ms = [None if m == "all" else m for m in _sizes(args.ms)] if args.ms else list(case.default_ms)
    validate_recipe(args.recipe or "{}")  # bad JSON or fields: a ParameterError before anything runs
    recipe = json.loads(args.recipe) if args.recipe else {}
    out = Path(args.out or Path("results") / case.name)
    trials = case.default_trials if args.trials is None else args.trials  # --trials 0 is an error, not the default
    threads = args.threads
    if threads is None and args.scheduler is None:
        threads = grid.default_threads(args.workers)
    points = grid.plan(case.name, ns, ms, trials=trials, seed=args.seed, out_dir=out,
                       recipe=recipe, threads=threads, notebook=args.notebook, keep_notebooks=args.keep_notebooks)
    res = grid.run_grid(points, workers=args.workers, scheduler=args.scheduler, progress=not args.quiet)
    print(f"{case.name}: {len(res.computed)} point(s) computed, {len(res.skipped)} already done, "
          f"{res.wall_s:.1f} s -> {out / 'results.csv'} ({len(res.table)} rows)")
    return 0


def cmd_fit(args) -> int:
    from . import results, scaling

    table = results.read_table(Path(args.results or Path("results") / args.case / "results.csv"))
    fit = scaling.fit_table(table, metric=args.metric, n_boot=args.n_boot)
    print(scaling.describe(fit))
    return 0


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
    from . import csvcase

    path = csvcase.new_case(args.name, args.source, args.target, kind=args.kind, units=args.units, title=args.title,
                            property=args.property, source_description=args.source_description,
                            target_description=args.target_description, notes=args.notes or "",
                            trials=args.trials)
    case = get_case(args.name)
    print(f"{case.name}: wrote {path}\n  source: {case.source}\n  target: {case.target}\n"
          f"  default grid: n = {','.join(map(str, case.default_ns))}, {case.default_trials} trials\n"
          f"next: s2r grid {case.name}   then: s2r fit {case.name}   book page: s2r book-page {case.name}")
    return 0


def cmd_book_pages(args) -> int:
    from . import casepages
    from .casefile import project_root

    root = Path(args.root) if args.root else project_root()
    if root is None:
        raise S2RError("no project checkout (a directory with _toc.yml and notebooks/) here or above; pass --root")
    names = [args.name] if getattr(args, "name", None) else None
    changed = casepages.write_book(root, names)
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("book pages, notebooks and _toc.yml are current")
    return 0


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
    n.add_argument("--property", default="target", help="the property's name, in words")
    n.add_argument("--title", help="the page's title (default: built from the file names)")
    n.add_argument("--source-description", help="the source in words (default: file name and counts)")
    n.add_argument("--target-description", help="the target in words (default: file name and counts)")
    n.add_argument("--notes", help="a note for the page's header table")
    n.add_argument("--trials", type=int, default=5, help="default trials per grid point (default 5)")
    n.set_defaults(func=cmd_new_case)
    b = sub.add_parser("book-pages", help="write every case's book page, the built-in notebooks and _toc.yml from "
                                          "the case files and templates (make book runs it)")
    b.add_argument("--root", help="the project checkout (default: found from the current directory)")
    b.set_defaults(func=cmd_book_pages)
    p = sub.add_parser("book-page", help="write one case's book page (book/cases/NAME.md) and add it to _toc.yml")
    p.add_argument("name")
    p.add_argument("--root", help="the project checkout (default: found from the current directory)")
    p.set_defaults(func=cmd_book_pages)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="s2r", description="Sim2Real Scaling: grids, fits, cases")
    sub = p.add_subparsers(dest="cmd", required=True)
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
    g.add_argument("--workers", type=int, default=1, help="grid points in parallel on a local dask cluster")
    g.add_argument("--scheduler", help="address of a running dask scheduler, e.g. tcp://host:8786")
    g.add_argument("--notebook", help="notebook to execute (default notebooks/<case>.ipynb)")
    g.add_argument("--keep-notebooks", action="store_true", help="keep executed notebooks in <out>/executed")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=cmd_grid)
    f = sub.add_parser("fit", help="fit R(n) = D n^-alpha + C to a results table")
    f.add_argument("case")
    f.add_argument("--results", help="results CSV (default results/<case>/results.csv)")
    f.add_argument("--metric", default="mae")
    f.add_argument("--n-boot", type=int, default=1000)
    f.set_defaults(func=cmd_fit)
    c = sub.add_parser("cases", help="list the case studies")
    c.add_argument("--names", action="store_true", help="only the names, space-separated (for scripts)")
    c.set_defaults(func=cmd_cases)
    add_case_commands(sub)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except S2RError as exc:
        print(f"s2r: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
