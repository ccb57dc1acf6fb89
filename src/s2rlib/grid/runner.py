"""The grid runner: papermill executes a case notebook once per grid point (n, m).

Each grid point writes its own tidy CSV (``<out>/points/``) atomically at the very end of its
notebook, so a killed run loses only the point in flight; a rerun skips every point whose file
exists and is sound (same parameters, every trial and metric) and redoes the rest; a damaged point
file is named in a warning, set aside as ``*.damaged`` and recomputed. A per-point file lock stops two concurrent runs
from computing the same point, and the merged table ``<out>/results.csv`` is rewritten
atomically under a directory lock. Points are dispatched through dask.distributed: a local
cluster by default, or any cluster given by its scheduler address; a point whose worker dies is
retried on another.
"""

from __future__ import annotations

import errno
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

from s2rlib._core.constants import ALL_M
from s2rlib._core.atomic import set_aside
from s2rlib._core.point_warnings import POINT_WARNINGS_ENV, take_point_warnings
from s2rlib._core.paths import source_checkout
from s2rlib.features.cache import warned_messages
from s2rlib.grid import results
from s2rlib.cases.registry import get_case
from s2rlib._core.errors import GridError, ParameterError
from s2rlib.training.params import check_against_data, validate_params, validate_recipe
from s2rlib.grid import notebooks
from s2rlib.cases.case_file import CASES_ENV, user_cases_dir
from s2rlib.cases import registry

log = logging.getLogger(__name__)


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
    """The case notebook: for a built-in case, ``notebooks/<case>.ipynb`` of the checkout this
    ``s2rlib`` is imported from (never one in the working directory); a user case's notebook is
    rendered from the same template next to its case file (:mod:`s2rlib.grid.notebooks`).

    A ``notebooks/`` folder in the current directory is not trusted: ``s2r grid`` runs the
    notebook that belongs to the code it runs with, unless ``--notebook`` names another.
    """
    c = get_case(case)
    if not c.notebook:
        return notebooks.write_notebook(c, Path(c.file).parent)
    path = source_checkout() / "notebooks" / c.notebook
    if not path.is_file():
        raise ParameterError(f"no notebook for case {case!r} next to s2rlib ({path} does not exist: s2rlib is "
                             f"installed from {Path(__file__).resolve().parent}, without the project's notebooks/); "
                             f"pass --notebook PATH")
    return path.resolve()


def export_cases_dir() -> None:
    """Tell the kernels (separate processes, other working directories) where the user cases are."""
    os.environ[CASES_ENV] = str(user_cases_dir())


@dataclass
class GridPoint:
    """One execution of the case notebook."""

    case: str
    n_source: int | str
    m_target: int  # ALL_M: all experimental training data
    params: dict  # trials, seed, recipe overrides, threads
    out_dir: str
    notebook: str
    keep_notebook: bool = False
    #: the sha256 of the case's data when the grid was planned ("" when not loaded): a point file of
    #: other data is not this point's (:meth:`done`)
    data_sha256: str = ""
    #: where its networks train ("cpu", "cuda"); a GPU point's params record the GPU, so it has its own id
    device: str = "cpu"
    #: the source size n = "all" stands for (0 when the data were not loaded): for cost estimates only
    n_all: int = 0
    #: the split file of fixed folds ("" = random re-splits); its sha256 is in ``params`` (and so in the id)
    splits: str = ""

    @property
    def pid(self) -> str:
        return results.params_id({"case": self.case, **self.params})

    @property
    def stem(self) -> str:
        n = self.n_source if isinstance(self.n_source, str) else f"{self.n_source:07d}"
        m = "all" if self.m_target == ALL_M else f"{self.m_target:05d}"
        return f"n{n}_m{m}_{self.pid}"

    @property
    def point_path(self) -> Path:
        return Path(self.out_dir) / "points" / f"{self.stem}.csv"

    @property
    def label(self) -> str:
        return f"n={self.n_source} m={'all' if self.m_target == ALL_M else self.m_target}"

    @property
    def executed_path(self) -> Path:
        return Path(self.out_dir) / "executed" / f"{self.stem}.ipynb"

    @property
    def warnings_path(self) -> Path:
        """The sidecar file the point's kernel writes its warnings to (:mod:`s2rlib._core.point_warnings`)."""
        return Path(self.out_dir) / "executed" / f"{self.stem}.warnings"

    def done(self) -> bool:
        """The point file exists, is sound and comes from this grid's data; a damaged one, or one
        computed from other data, is named, set aside and so not done."""
        if not self.point_path.is_file():
            return False
        df = results.read_point(self.point_path)
        return df is not None and not _other_data(self.point_path, df, self.data_sha256)


def _other_data(path: Path, df: pd.DataFrame, data_sha256: str) -> bool:
    """Whether the point file at ``path`` (rows ``df``) was computed from data other than ``data_sha256``;
    if so it is set aside with a warning (kept, never deleted) and will be recomputed."""
    have = sorted(df["data_sha256"].astype(str).unique())
    if not data_sha256 or have == [data_sha256]:
        return False
    aside = set_aside(path)
    log.warning("point file %s was computed from other data (data_sha256 %s; the case's data now have %s): set "
                "aside as %s, the point will be recomputed", path, ", ".join(have), data_sha256, aside)
    return True


def set_aside_other_data(points: list[GridPoint]) -> None:
    """Set aside every point file of these grids (their params_ids) in ``<out>/points`` computed from
    other data than the points were planned with, also those of n or m not in this run, so that
    ``results.csv`` never mixes data sets."""
    expected = {p.pid: p.data_sha256 for p in points if p.data_sha256}
    if not expected:
        return
    for path in sorted((Path(points[0].out_dir) / "points").glob("*.csv")):
        name = results.STEM.match(path.stem)
        if name and name["pid"] in expected:
            df = results.read_point(path)  # a damaged one is set aside here
            if df is not None:
                _other_data(path, df, expected[name["pid"]])


def execute_point(point: GridPoint) -> str:
    """Run papermill for one grid point (skips a finished point); returns the point file path."""
    return _execute_point(point)[0]


def _execute_point(point: GridPoint) -> tuple[str, bool]:
    """(point file path, whether this call computed it: False when it was done, e.g. by a concurrent run)."""
    import papermill as pm

    path = point.point_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if point.done():  # e.g. by a concurrent run
            return str(path), False
        out_nb = point.executed_path
        out_nb.parent.mkdir(parents=True, exist_ok=True)
        parameters = {
            "case": point.case, "n_source": point.n_source, "m_target": point.m_target,
            "trials": point.params["trials"], "seed": point.params["seed"],
            "recipe_json": json.dumps(point.params.get("recipe", {})),
            "threads": point.params.get("threads") or 1,
            **({"device": point.device} if point.device != "cpu" else {}),  # older notebooks have no device
            **({"splits": point.splits} if point.splits else {}),  # ... nor split files
            "output_path": str(path), "progress": False,
        }
        _run_notebook(pm, point, parameters)
        if not path.is_file():
            raise GridError(f"notebook {point.notebook} finished without writing {path}")
        problem = results.point_problem(path)
        if problem is not None:
            raise GridError(f"notebook {point.notebook} wrote a damaged point file {path}: {problem}")
        data = set(results.read_table(path)["data_sha256"].astype(str))
        if point.data_sha256 and data != {point.data_sha256}:
            aside = set_aside(path)
            raise GridError(f"notebook {point.notebook} computed {path} from data {', '.join(sorted(data))}, but the "
                            f"grid was planned with data {point.data_sha256}: the case's data changed while the grid "
                            f"ran; set aside as {aside}")
        if not point.keep_notebook:
            out_nb.unlink(missing_ok=True)
    return str(path), True


#: a full disk, a full quota, a read-only file system: named as such
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _run_notebook(pm, point: GridPoint, parameters: dict) -> None:
    """papermill on the point's notebook, its kernel told where to write its warnings; an executed notebook
    that could not be written in full (disk full) is removed, not left behind as if it were a result."""
    out_nb = point.executed_path
    point.warnings_path.unlink(missing_ok=True)  # a killed earlier run's lines are not this run's warnings
    before = os.environ.get(POINT_WARNINGS_ENV)
    os.environ[POINT_WARNINGS_ENV] = str(point.warnings_path)  # the kernel inherits this process's environment
    try:
        pm.execute_notebook(point.notebook, str(out_nb), parameters=parameters, kernel_name="python3",
                            progress_bar=False, cwd=str(Path(point.notebook).parent))
    except BaseException as exc:
        cut = out_nb.is_file() and not _readable_notebook(out_nb)
        if cut:
            out_nb.unlink(missing_ok=True)
        path = point.point_path
        if isinstance(exc, OSError) and path.is_file() and results.point_problem(path) is None:
            # the point ran and wrote its file; only papermill's copy of the notebook could not be written
            log.warning("%s: executed notebook %s not written (%s); the point file %s is complete", point.label,
                        out_nb, exc.strerror or exc, path)
            return
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRORS:
            raise GridError(f"cannot write the executed notebook {out_nb}: {exc.strerror or exc} at {out_nb.parent}"
                            + ("; the part written was removed" if cut else "")) from exc
        raise
    finally:
        if before is None:
            os.environ.pop(POINT_WARNINGS_ENV, None)
        else:
            os.environ[POINT_WARNINGS_ENV] = before


def _readable_notebook(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # truncated JSON (a full disk): not a notebook
        return False
    return True


def report_point_warnings(point: GridPoint, seen: set[str] | None = None) -> None:
    """Print the warnings the point's kernel wrote (its sidecar file) as ``<point>: ...`` and remove the file;
    a line in ``seen`` (already printed for another point, or by this process) is not printed again."""
    seen = set() if seen is None else seen
    for line in take_point_warnings(point.warnings_path):
        if line not in seen:
            seen.add(line)
            log.warning("%s: %s", point.label, line)


@dataclass
class GridResult:
    table: pd.DataFrame
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def plan(case: str, ns, ms=(ALL_M,), *, trials: int, seed: int, out_dir, recipe: dict | None = None,
         threads: int | None = None, notebook: str | Path | None = None, keep_notebooks: bool = False,
         check_data: bool = True, device: str | None = None, splits: str | None = None) -> list[GridPoint]:
    """Validate the grid up front and list its points.

    Every parameter is checked before any point runs; with ``check_data`` (default) the case's data
    are loaded once (which also fills the feature cache the notebooks read) and each n and m is
    checked against them: an n larger than the source set or an experimental split too small to
    train, validate and test is a :class:`ParameterError` here, not a failure halfway through a grid.
    """
    if not ns:
        raise ParameterError("parameter ns: the grid needs at least one source size")
    if not ms:
        raise ParameterError("parameter ms: the grid needs at least one experimental size")
    ms = [results.as_m(m) for m in ms]
    for name, sizes in (("ns", ns), ("ms", ms)):
        twice = sorted({str(v) for v in sizes if list(sizes).count(v) > 1})
        if twice:
            raise ParameterError(f"parameter {name}: {', '.join('all' if v == str(ALL_M) else v for v in twice)} "
                                 f"given more than once; list each size once")
    export_cases_dir()
    checked = [validate_params(case, n, trials, seed, m_target=m, recipe=recipe, threads=threads, device=device,
                               splits=splits, output_path=Path(out_dir) / "points" / "x.csv") for n in ns for m in ms]
    out_dir = Path(out_dir).expanduser().resolve()  # papermill runs in the notebook's directory
    notebook = Path(notebook) if notebook else default_notebook(case)
    if not notebook.is_file():
        raise ParameterError(f"notebook {notebook} for case {case!r} does not exist")
    data_sha256, n_all = "", 0
    if check_data:
        data = registry.load_case(case, descriptor=validate_recipe(recipe).descriptor)
        for p in checked:
            check_against_data(p, data)
        data_sha256, n_all = data.data_sha256, data.n_source
    # the full resolved recipe goes into the parameters, so a change of defaults is a new grid
    params = {"trials": int(trials), "seed": int(seed), "recipe": validate_recipe(recipe).to_dict(),
              "threads": threads or 1, **checked[0]["device_record"], **checked[0]["splits_record"]}
    split_path = checked[0]["splits"]["path"] if checked[0]["splits"] else ""
    return [GridPoint(case, n if n == "all" else int(n), int(m), params, str(out_dir),
                      str(notebook.resolve()), keep_notebooks, data_sha256, checked[0]["device"], n_all, split_path)
            for m in ms for n in ns]


def merge(out_dir) -> pd.DataFrame:
    """Merge the point files into ``<out>/results.csv`` atomically (under a directory lock)."""
    out_dir = Path(out_dir)
    with FileLock(str(out_dir / ".merge.lock")):
        table = results.merge_points(out_dir / "points")
        results.write_atomic(table, out_dir / "results.csv")
    return table


def describe_failure(point: GridPoint, exc: BaseException) -> str:
    """One line naming the failed point, its file, what went wrong and where the executed notebook is."""
    name = type(exc).__name__
    if name == "DeadKernelError":
        what = f"the kernel died ({name}: {exc}): out of memory, or killed"
    elif name == "PapermillExecutionError":
        what = f"the notebook raised {getattr(exc, 'ename', '?')}: {getattr(exc, 'evalue', exc)}"
        if any(f"[Errno {code}]" in str(getattr(exc, "evalue", "")) for code in _DISK_ERRORS):
            what += f" (where it writes: its point file in {point.point_path.parent}, or a cache)"
    elif isinstance(exc, GridError):
        what = str(exc)
    else:
        what = f"{name}: {exc}"
    nb = point.executed_path
    return f"{point.label} ({point.point_path}): {what}" + (f"; executed notebook: {nb}" if nb.is_file() else "")


def _foreign_grids(table: pd.DataFrame, points: list[GridPoint]) -> None:
    """Warn when ``<out>/points`` also holds points of other grids (kept: nothing is dropped)."""
    mine = {p.pid for p in points}
    other = table[~table["params_id"].astype(str).isin(mine)]
    if other.empty:
        return
    ids = sorted(other["params_id"].astype(str).unique())
    count = other.groupby(["params_id", "n_source", "m_target"]).ngroups
    log.warning("%s also holds %d point(s) of another grid (params_id %s); results.csv keeps every grid, told "
                "apart by params_id (s2r fit --grid chooses one)", Path(points[0].out_dir) / "points", count,
                ", ".join(ids))


def run_grid(points: list[GridPoint], *, workers: int = 1, scheduler: str | None = None, retries: int = 2,
             progress: bool = True) -> GridResult:
    """Execute the points not yet done (dask: local cluster, or ``scheduler`` address), then merge.

    A point that fails does not stop the others; the finished points are merged into
    ``results.csv`` and then a :class:`GridError` names each failed point and why.
    """
    t0 = time.perf_counter()
    if not points:
        raise ParameterError("run_grid got no grid points: pass at least one n and one m (grid.plan builds them "
                             "from a case file's [grid] ns and ms)")
    out_dir = Path(points[0].out_dir)
    set_aside_other_data(points)
    todo = [p for p in points if not p.done()]  # done() sets damaged point files aside
    skipped = [str(p.point_path) for p in points if p not in todo]
    computed: list[str] = []
    failures: list[str] = []
    seen = warned_messages()  # a warning every point's kernel repeats (an unwritable cache) is printed once
    if todo:
        if scheduler is None and workers <= 1:
            for p in tqdm(todo, desc=f"grid {points[0].case}", disable=not progress):
                try:
                    path, ran = _execute_point(p)
                except Exception as exc:  # noqa: BLE001 - one failed point does not lose the others
                    failures.append(describe_failure(p, exc))
                else:
                    (computed if ran else skipped).append(path)
                finally:
                    report_point_warnings(p, seen)
        else:
            computed, failures, late = _run_dask(todo, workers=workers, scheduler=scheduler, retries=retries,
                                                 progress=progress, seen=seen)
            skipped += late
    try:
        table = merge(out_dir)
    except OSError as exc:  # disk full, read-only: the point files written are kept, the failures still named
        raise GridError(f"cannot write the merged table {out_dir / 'results.csv'}: {exc.strerror or exc} at "
                        f"{out_dir}; "
                        f"the {len(computed) + len(skipped)} finished point file(s) in {out_dir / 'points'} are kept; "
                        f"free space (or make it writable) and rerun the same command"
                        + "".join(f"\n  {f}" for f in failures)) from exc
    _foreign_grids(table, points)
    if failures:
        finished = len(points) - len(failures)
        raise GridError(f"{len(failures)} of {len(points)} grid point(s) failed; the {finished} finished point(s) "
                        f"are merged into {out_dir / 'results.csv'}; rerun the same command to retry:\n  "
                        + "\n  ".join(failures))
    return GridResult(table, computed, skipped, time.perf_counter() - t0)


def _run_dask(todo: list[GridPoint], *, workers: int, scheduler: str | None, retries: int, progress: bool,
              seen: set[str] | None = None):
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
            report_point_warnings(point, seen)
            try:
                path, ran = fut.result()
            except Exception as exc:  # one failed point does not lose the others
                failures.append(describe_failure(point, exc))
            else:
                if point.done():
                    (computed if ran else skipped).append(path)
                else:  # written where this process cannot read it
                    failures.append(f"{point.label} ({path}): the worker wrote it, but it is not readable (or not "
                                    "sound) here; the workers and this process must share the results directory")
            bar.update(1)
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return computed, failures, skipped
