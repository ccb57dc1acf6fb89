"""Write the book's static files (run from the repository root after changing their sources):

    python book/make_static.py

* ``book/figures/method-flowchart.svg`` (and ``.png``), drawn by
  :func:`s2rlib.book.flowchart.method_flowchart`; the SVG is written without a date or random ids, so
  an unchanged drawing gives an unchanged file;
* ``book/tutorial.ipynb`` and ``book/exercises.ipynb``, the chapters ``book/tutorial.md`` and
  ``book/exercises.md`` as Jupyter notebooks (the tutorial's download link; the notebooks the Binder and
  Colab launch buttons open, beside their chapter so that the chapter's relative paths hold; ``_config.yml``
  keeps them out of the build); ``tests/test_book_sources.py`` fails when one is out of date.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import nbformat
from myst_nb.core.read import read_myst_markdown_notebook

from s2rlib.book import flowchart
from s2rlib.book import plotting

HERE = Path(__file__).resolve().parent
#: MyST chapters offered as .ipynb downloads: source -> notebook
NOTEBOOK_DOWNLOADS = {HERE / f"{name}.md": HERE / f"{name}.ipynb" for name in ("tutorial", "exercises")}


def myst_to_notebook(md: Path) -> nbformat.NotebookNode:
    """A MyST Markdown notebook as an .ipynb notebook (no outputs), deterministic."""
    nb = read_myst_markdown_notebook(md.read_text())
    nb.metadata.pop("jupytext", None)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def main() -> None:
    matplotlib.rcParams["svg.hashsalt"] = "s2r-method-flowchart"
    fig = flowchart.method_flowchart()
    (HERE / "figures").mkdir(exist_ok=True)
    fig.savefig(HERE / "figures" / "method-flowchart.svg", metadata={"Date": None, "Creator": None})
    fig.savefig(HERE / "figures" / "method-flowchart.png", dpi=plotting.DPI)
    plotting.close(fig)
    for md, ipynb in NOTEBOOK_DOWNLOADS.items():
        ipynb.parent.mkdir(exist_ok=True)
        nbformat.write(myst_to_notebook(md), ipynb)


if __name__ == "__main__":
    main()
