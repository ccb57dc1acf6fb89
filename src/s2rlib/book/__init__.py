"""Everything the book shows: number formats, words, tables, figures and the chapter pages.

The chapters call :class:`CasePage`, :class:`SummaryPage` and :class:`RecipePage`; the rerun
chapter the grid commands and costs. The modules, one job each:

* words: :mod:`~s2rlib.book.formatting` (one number format), :mod:`~s2rlib.book.law_words` (a fitted
  law in words and math), :mod:`~s2rlib.book.findings` (result sentences),
  :mod:`~s2rlib.book.claim_check` (words checked against numbers), :mod:`~s2rlib.book.law_checks`,
  :mod:`~s2rlib.book.equal_m`, :mod:`~s2rlib.book.sensitivity_words`, :mod:`~s2rlib.book.simulation_words`,
  :mod:`~s2rlib.book.caveats` (materials caveats);
* tables: :mod:`~s2rlib.book.tables`, :mod:`~s2rlib.book.run_tables` (what was run), :mod:`~s2rlib.book.display`;
* figures: :mod:`~s2rlib.book.plotting`, :mod:`~s2rlib.book.two_way_plot`, :mod:`~s2rlib.book.flowchart`;
* pages: :mod:`~s2rlib.book.case_results` (loading a case's results and fits), :mod:`~s2rlib.book.pages`,
  :mod:`~s2rlib.book.recipe_report`, :mod:`~s2rlib.book.case_pages` (generated case pages and toc).
"""

from s2rlib.book.case_results import BOOK_CASES
from s2rlib.book.display import note, show, show_markdown
from s2rlib.book.pages import CasePage, SummaryPage
from s2rlib.book.recipe_report import RecipePage
from s2rlib.book.run_tables import classroom_box, floor_sentence, grid_command, grid_cost_table, point_times_sentence

__all__ = ["BOOK_CASES", "CasePage", "RecipePage", "SummaryPage", "classroom_box", "floor_sentence", "grid_command",
           "grid_cost_table", "note", "point_times_sentence", "show", "show_markdown"]
