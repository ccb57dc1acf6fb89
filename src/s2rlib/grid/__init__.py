"""Running the grid: papermill executes a case notebook per point (n, m); the tidy results table; the recipe study.

* :mod:`s2rlib.grid.runner` — :func:`plan` and :func:`run_grid` (resume, local or dask);
* :mod:`s2rlib.grid.notebooks` — every case's grid notebook, rendered from one template;
* :mod:`s2rlib.grid.results` — the results schema, provenance, atomic per-point files and merging;
* :mod:`s2rlib.grid.selection` — which rows belong together (grids, experimental sizes m);
* :mod:`s2rlib.grid.recipe_study` — the cumulative recipe ablation, chosen on validation error;
* :mod:`s2rlib.grid.correlation_study` — re-split trials on disjoint parts of the data (is the interval right?).
"""

from s2rlib.grid.results import load_results, merge_points
from s2rlib.grid.runner import GridPoint, GridResult, plan, run_grid
from s2rlib.grid.selection import for_fit, m_values, main_m, select_grid

__all__ = ["GridPoint", "GridResult", "for_fit", "load_results", "m_values", "main_m", "merge_points", "plan",
           "run_grid", "select_grid"]
