"""The grid runner: papermill executes a case notebook once per grid point (n, m).

Each grid point writes its own tidy CSV (``<out>/points/``) atomically at the very end of its
notebook, so a killed run loses only the point in flight; a rerun skips every point whose file
exists (same parameters) and redoes the rest. A per-point file lock stops two concurrent runs
from computing the same point, and the merged table ``<out>/results.csv`` is rewritten
atomically under a directory lock. Points are dispatched through dask.distributed: a local
cluster by default, or any cluster given by its scheduler address; a point whose worker dies is
retried on another.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from filelock import FileLock
from tqdm.auto import tqdm

from . import results
from .cases import get_case
from .errors import ParameterError
from .validation import check_against_data, validate_params, validate_recipe

log = logging.getLogger(__name__)


def repo_root() -> Path:
    """The project checkout that holds ``notebooks/`` (cwd or above, else next to the source)."""
    for base in [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]]:
        if (base / "notebooks").is_dir() and (base / "_toc.yml").is_file():
            return base
    return Path(__file__).resolve().parents[2]


def default_threads(workers: int = 1) -> int:
    """Torch threads per grid point when the user gives none: this machine's usable CPUs / workers.

    On the 2-core development machine one point at a time with 2 threads was 1.9x faster than two
    points side by side with 1 thread each (``benchmarks/REPORT.md``, part d), so the default is
    one worker using every core.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, workers))


def default_notebook(case: str) -> Path:
    """``notebooks/<case>.ipynb`` of a built-in case; a user case's is rendered from the template.

    A user case's notebook is written next to its case file (``<cases dir>/<case>.ipynb``), from
    the same template the built-in notebooks come from (:mod:`s2rlib.casepages`).
    """
    c = get_case(case)
    if c.notebook:
        return repo_root() / "notebooks" / c.notebook
    from . import casepages

    return casepages.write_notebook(c, Path(c.file).parent)


def export_cases_dir() -> None:
    """Tell the kernels (separate processes, other working directories) where the user cases are."""
    from .casefile import CASES_ENV, user_cases_dir

    os.environ[CASES_ENV] = str(user_cases_dir())


@dataclass
class GridPoint:
    """One execution of the case notebook."""

    case: str
    n_source: int | str
    m_target: int | None
    params: dict  # trials, seed, recipe overrides, threads
    out_dir: str
    notebook: str
    keep_notebook: bool = False

    @property
    def pid(self) -> str:
        return results.params_id({"case": self.case, **self.params})

    @property
    def stem(self) -> str:
        n = self.n_source if isinstance(self.n_source, str) else f"{self.n_source:07d}"
        m = "all" if self.m_target is None else f"{self.m_target:05d}"
        return f"n{n}_m{m}_{self.pid}"

    @property
    def point_path(self) -> Path:
        return Path(self.out_dir) / "points" / f"{self.stem}.csv"

    def done(self) -> bool:
        return self.point_path.is_file()


def execute_point(point: GridPoint) -> str:
    """Run papermill for one grid point (skips a finished point); returns the point file path."""
    return _execute_point(point)[0]


def _execute_point(point: GridPoint) -> tuple[str, bool]:
    """(point file path, whether this call computed it: False when it was done, e.g. by a concurrent run)."""
    import papermill as pm

    path = point.point_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return str(path), False
        executed_dir = Path(point.out_dir) / "executed"
        executed_dir.mkdir(parents=True, exist_ok=True)
        out_nb = executed_dir / f"{point.stem}.ipynb"
        parameters = {
            "case": point.case, "n_source": point.n_source,
            "m_target": -1 if point.m_target is None else point.m_target,
            "trials": point.params["trials"], "seed": point.params["seed"],
            "recipe_json": json.dumps(point.params.get("recipe", {})),
            "threads": point.params.get("threads") or 1,
            "output_path": str(path), "progress": False,
        }
        pm.execute_notebook(point.notebook, str(out_nb), parameters=parameters, kernel_name="python3",
                            progress_bar=False, cwd=str(Path(point.notebook).parent))
        if not path.is_file():
            raise RuntimeError(f"notebook {point.notebook} finished without writing {path}")
        if not point.keep_notebook:
            out_nb.unlink(missing_ok=True)
    return str(path), True


@dataclass
class GridResult:
    table: pd.DataFrame
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def plan(case: str, ns, ms=(None,), *, trials: int, seed: int, out_dir, recipe: dict | None = None,
         threads: int | None = None, notebook: str | Path | None = None, keep_notebooks: bool = False,
         check_data: bool = True) -> list[GridPoint]:
    """Validate the grid up front and list its points.

    Every parameter is checked before any point runs; with ``check_data`` (default) the case's data
    are loaded once (which also fills the feature cache the notebooks read) and each n and m is
    checked against them: an n larger than the source set or an experimental split too small to
    train, validate and test is a :class:`ParameterError` here, not a failure halfway through a grid.
    """
    if not ns:
        raise ParameterError("parameter ns: the grid needs at least one source size")
    ms = list(ms) or [None]
    export_cases_dir()
    checked = [validate_params(case, n, trials, seed, m_target=m, recipe=recipe, threads=threads,
                               output_path=Path(out_dir) / "points" / "x.csv") for n in ns for m in ms]
    out_dir = Path(out_dir).expanduser().resolve()  # papermill runs in the notebook's directory
    notebook = Path(notebook) if notebook else default_notebook(case)
    if not notebook.is_file():
        raise ParameterError(f"notebook {notebook} for case {case!r} does not exist")
    if check_data:
        from .cases import load_case

        data = load_case(case)
        for p in checked:
            check_against_data(p, data)
    # the full resolved recipe goes into the parameters, so a change of defaults is a new grid
    params = {"trials": int(trials), "seed": int(seed), "recipe": validate_recipe(recipe).to_dict(),
              "threads": threads or 1}
    return [GridPoint(case, n if n == "all" else int(n), None if m in (None, -1) else int(m), params, str(out_dir),
                      str(notebook.resolve()), keep_notebooks) for m in ms for n in ns]


def merge(out_dir) -> pd.DataFrame:
    """Merge the point files into ``<out>/results.csv`` atomically (under a directory lock)."""
    out_dir = Path(out_dir)
    with FileLock(str(out_dir / ".merge.lock")):
        table = results.merge_points(out_dir / "points")
        results.write_atomic(table, out_dir / "results.csv")
    return table


def run_grid(points: list[GridPoint], *, workers: int = 1, scheduler: str | None = None, retries: int = 2,
             progress: bool = True) -> GridResult:
    """Execute the points not yet done (dask: local cluster, or ``scheduler`` address), then merge."""
    t0 = time.perf_counter()
    if not points:
        raise ParameterError("empty grid")
    out_dir = Path(points[0].out_dir)
    todo = [p for p in points if not p.done()]
    skipped = [str(p.point_path) for p in points if p.done()]
    computed: list[str] = []
    failures: list[str] = []
    if todo:
        if scheduler is None and workers <= 1:
            for p in tqdm(todo, desc=f"grid {points[0].case}", disable=not progress):
                path, ran = _execute_point(p)
                (computed if ran else skipped).append(path)
        else:
            computed, failures, late = _run_dask(todo, workers=workers, scheduler=scheduler, retries=retries,
                                                 progress=progress)
            skipped += late
    table = merge(out_dir)
    if failures:
        raise RuntimeError(f"{len(failures)} grid point(s) failed (finished points are kept in {out_dir}/points; "
                           f"rerun to retry):\n" + "\n".join(failures))
    return GridResult(table, computed, skipped, time.perf_counter() - t0)


def _run_dask(todo: list[GridPoint], *, workers: int, scheduler: str | None, retries: int, progress: bool):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               memory_limit=0, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="30s")
    computed, failures, skipped = [], [], []
    try:
        # One key per point and run: a retried point (an exception, or its worker died) keeps its key. The
        # key must be unique to this run: the scheduler hands a submission whose key it already holds the
        # other task's result, so two runs of the same grid into different directories (e.g. from two
        # containers whose processes have the same pid) would silently share results.
        run = uuid.uuid4().hex[:12]
        by_key = {f"s2r-{p.stem}-{run}": p for p in todo}
        futures = [client.submit(_execute_point, p, key=key, retries=retries, pure=False) for key, p in by_key.items()]
        bar = tqdm(total=len(futures), desc=f"grid {todo[0].case}", disable=not progress)
        for fut in as_completed(futures):
            point = by_key[fut.key]
            try:
                path, ran = fut.result()
            except Exception as exc:  # one failed point does not lose the others
                failures.append(f"{point.stem}: {type(exc).__name__}: {exc}")
            else:
                if point.done():
                    (computed if ran else skipped).append(path)
                else:  # written where this process cannot read it
                    failures.append(f"{point.stem}: the worker wrote {path}, which is not readable here; "
                                    "the workers and this process must share the results directory")
            bar.update(1)
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return computed, failures, skipped
