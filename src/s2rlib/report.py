"""What the book's chapter pages call: one import for the book's display, results, tables and pages.

The pages narrate; the library computes. This module is a facade over four modules, one job each:

* :mod:`s2rlib.display`: showing a DataFrame as a real table (:func:`show`), admonitions
  (:func:`note`), Markdown and figures;
* :mod:`s2rlib.book_results`: where the results live (``results/<case>/results.csv`` of the
  checkout, or ``$S2R_RESULTS_ROOT/<case>/results.csv``) and loading them;
* :mod:`s2rlib.tables`: the ``*_table`` builders (DataFrames of display strings) and the fitted law
  in words and math;
* :mod:`s2rlib.pages`: :class:`CasePage` (one case-study chapter) and :class:`SummaryPage`.

``from s2rlib import report; report.X`` and ``from s2rlib.report import X`` keep working for every
name these modules, the number formats (:mod:`s2rlib.formatting`), the grid selection
(:mod:`s2rlib.selection`) and the fit cache (:mod:`s2rlib.fit_cache`) give the book.
"""

# ruff: noqa: F401 - every import here is a re-export

from __future__ import annotations

from . import findings, results, scaling, trial_stats
from .book_results import (
    BOOK_CASES, N_BOOT, N_BOOT_PER_M, RESULTS_ENV, _rel, effective_m, fits_by_m, load_case_results, missing_message,
    repo_root, results_path, results_root,
)
from .cases import CASES, builtin_names, get_case
from .cases import names as case_names
from .display import _in_ipython, note, show, show_figure, show_markdown, to_markdown
from .fit_cache import FIT_CACHE_ENV, _fit_key, fit_cache_dir, fit_case
from .formatting import (
    DASH, DERIVED_SIG, code, fmt, fmt_ci, fmt_derived, fmt_n, fmt_pct, fmt_pct_ci, fmt_signed, pretty_units,
    recipe_words, units_suffix,
)
from .pages import CasePage, SummaryPage, available_cases, summary_fits
from .fit_status import CI_LEVEL, FitStatus
from .selection import PER_POINT_KEYS, _grid_key, for_fit, grid_ids, grids, m_values, main_m, select_grid
from .tables import (
    SUMMARY_PARTS, case_header_table, constant_caption, data_table, derived_table, derived_withheld, ess_table, ess_withheld,
    classroom_box, extrapolation_table, forms_table, gain_sentence, gain_table, grid_command, grid_cost_table, grid_tables, insights,
    floor_sentence, law_math, law_text, m_name, params_table, point_times_sentence, provenance_table, recipes_table, results_table, split_constant_columns,
    status_cell, status_text, summary_table, todays_point_times, two_way_table,
)
from .trial_stats import CaseFit
