"""Showing things on a book page: a DataFrame as a real (MyST/Markdown) table, admonitions, figures.

In a notebook (the book's pages) these display rich output; elsewhere they print the Markdown.
"""

from __future__ import annotations

import math

import pandas as pd

from s2rlib.book.formatting import DASH


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None
    except ImportError:  # pragma: no cover
        return False


def to_markdown(df: pd.DataFrame, index: bool = False) -> str:
    """A DataFrame as a GitHub/MyST pipe table (cells made safe for Markdown)."""
    clean = df.copy()
    clean.columns = [str(c).replace("|", "\\|") for c in clean.columns]
    for col in clean.columns:
        clean[col] = clean[col].map(lambda v: DASH if v is None or (isinstance(v, float) and math.isnan(v))
                                    else str(v).replace("|", "\\|").replace("\n", " "))
    if index:
        clean.index = [str(i).replace("|", "\\|") for i in clean.index]
    return clean.to_markdown(index=index, disable_numparse=True)


def show_markdown(text: str) -> None:
    """Display Markdown in a notebook (rendered by MyST in the book); print it elsewhere."""
    if _in_ipython():
        from IPython.display import Markdown, display

        display(Markdown(text))
    else:
        print(text)


def show(df: pd.DataFrame | None, caption: str | None = None, index: bool = False) -> None:
    """Render a DataFrame as a real table (Markdown; with ``caption``, a numbered MyST table)."""
    if df is None or len(df) == 0:
        show_markdown(f"*{caption + ': ' if caption else ''}nothing to show.*")
        return
    table = to_markdown(df, index=index)
    if caption:
        table = directive("table", caption, table, f":class: {' '.join(['s2r-table', *prose_columns(df, index)])}")
    show_markdown(table)


#: a column whose longest cell has more characters than this is prose: it keeps a readable width
#: (book/_static/s2r.css) instead of one word per line, and the table scrolls in its box if it must
PROSE_CHARS = 60


def prose_columns(df: pd.DataFrame, index: bool = False) -> list[str]:
    """CSS classes ``s2r-prose-<k>`` (k = 1-based column, counting a shown index) for the prose columns."""
    cols = ([df.index.map(str)] if index else []) + [df[c].map(str) for c in df.columns]
    return [f"s2r-prose-{k}" for k, col in enumerate(cols, start=1) if len(col) and col.str.len().max() > PROSE_CHARS]


def directive(name: str, argument: str, body: str, options: str = "") -> str:
    """A MyST directive as a colon fence (``:::{name} argument``), longer than any colon run in ``body``.

    Not a backtick fence: CommonMark does not open a backtick fence whose info string holds a
    backtick, so a caption or title with inline code (`` `source` ``) would print as raw text.
    """
    runs = [len(line) - len(line.lstrip(":")) for line in body.splitlines() if line.startswith(":::")]
    fence = ":" * max([3, *(r + 1 for r in runs)])
    head = f"{fence}{{{name}}} {argument}".rstrip()
    lines = [head, *([options] if options else []), "", body, fence]
    return "\n".join(lines)


def note(text: str, kind: str = "note", title: str | None = None) -> None:
    """Display a MyST admonition (``note``, ``warning``, ``important``...)."""
    show_markdown(directive("admonition", title, text, f":class: {kind}") if title else directive(kind, "", text))


def show_figure(fig) -> None:
    """Display a matplotlib figure once (and close it, so the notebook does not show it twice)."""
    import matplotlib.pyplot as plt

    if _in_ipython():
        from IPython.display import display

        display(fig)
    plt.close(fig)
