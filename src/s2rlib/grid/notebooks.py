"""The grid notebook of every case, rendered from one template with the case file's prose.

:func:`notebook_text` renders ``s2rlib/data/templates/case_notebook.txt`` (cells separated by
``# %% [markdown]`` / ``# %% [code] tags=[...]`` lines) into an ``.ipynb``; the committed
``notebooks/<case>.ipynb`` of the built-in cases are exactly this output (a test checks it), and a
user case's notebook is written next to its case file when its grid runs.

Templates use ``{{key}}`` for a value, ``{{#key}} ... {{/key}}`` for a block kept only when ``key``
is true and ``{{^key}} ... {{/key}}`` for one kept only when it is false (:func:`render`; the book's
case pages, :mod:`s2rlib.book.case_pages`, use the same engine).
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path

import nbformat

from s2rlib._core.atomic import write_text
from s2rlib._core.errors import ParameterError
from s2rlib._core.markup import literal
from s2rlib._core.units import pretty_units
from s2rlib.cases.registry import Case, get_case

_BLOCK = re.compile(r"\{\{([#^])(\w+)\}\}\n?(.*?)\{\{/\2\}\}\n?", re.S)
_VALUE = re.compile(r"\{\{(\w+)\}\}")
_CELL = re.compile(r"^# %% \[(markdown|code)\](?: tags=(\[.*\]))?$", re.M)
NOTEBOOK_METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}}
GENERATED = "generated from `{source}` by `s2r book-pages`; edit the case file or the template, not this file"


def template(name: str) -> str:
    return (resources.files("s2rlib") / "data" / "templates" / name).read_text(encoding="utf-8")


def render(text: str, values: dict) -> str:
    """Fill ``{{key}}`` and keep or drop ``{{#key}}``/``{{^key}}`` ... ``{{/key}}`` blocks; an unknown key is an error."""

    def block(m):
        if m.group(2) not in values:
            raise ParameterError(f"template block {{{{{m.group(1)}{m.group(2)}}}}} has no value")
        keep = bool(values[m.group(2)]) == (m.group(1) == "#")
        return render(m.group(3), values) if keep else ""

    text = _BLOCK.sub(block, text)

    def value(m):
        if m.group(1) not in values:
            raise ParameterError(f"template placeholder {{{{{m.group(1)}}}}} has no value")
        return str(values[m.group(1)])

    return _VALUE.sub(value, text)


def default_intro(case: Case) -> str:
    """The opening sentence of a case's notebook and page when its case file gives none (a user case's
    strings as text, :func:`s2rlib._core.markup.literal`)."""
    t = (lambda v: v) if case.builtin else literal
    return (f"This case transfers **{t(case.source)}** (computational) to **{t(case.target)}** "
            f"(experimental): the property is {t(case.property_name)}, in {t(pretty_units(case.units))}; the "
            f"experimental split is by {t(case.grouping)}.")


def case_source(case: Case) -> str:
    """The case file a generated file comes from, as its banner names it."""
    return f"s2rlib/data/cases/{case.name}.toml" if case.builtin else (Path(case.file).name or f"{case.name}.toml")


def notebook_values(case: Case) -> dict:
    """The values of the notebook template for ``case``."""
    nb = case.prose["notebook"]
    t = (lambda v: v) if case.builtin else literal
    check = nb.get("check", "") if case.builtin else ""
    module, _, function = check.partition(":")
    default_data = (f"* **Source (computational):** {t(case.source)}.\n* **Target (experimental):** "
                    f"{t(case.target)}.\n* **Kind:** {t(case.kind)}; groups: {t(case.grouping)}.")
    return {
        "name": case.name, "two_way": case.two_way,
        "generated": GENERATED.format(source=case_source(case)),
        "notebook_title": t(nb.get("title", case.title)),
        "notebook_intro": t(nb["intro"]).rstrip("\n") if "intro" in nb else default_intro(case),
        "notebook_data": t(nb["data"]).rstrip("\n") if "data" in nb else default_data,
        "check": bool(check), "check_module": module, "check_function": function,
        "check_title": nb.get("check_title", ""), "check_text": nb.get("check_text", "").rstrip("\n"),
    }


def notebook_text(case: Case | str) -> str:
    """The grid notebook of ``case`` as ``.ipynb`` JSON text (cell ids derived from the case and position)."""
    case = get_case(case) if isinstance(case, str) else case
    text = render(template("case_notebook.txt"), notebook_values(case))
    marks = list(_CELL.finditer(text))
    cells = []
    for i, m in enumerate(marks):
        body = text[m.end() + 1: marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip("\n")
        meta = {"tags": json.loads(m.group(2))} if m.group(2) else {}
        cid = hashlib.sha256(f"{case.name}:{i}".encode()).hexdigest()[:8]
        make = nbformat.v4.new_markdown_cell if m.group(1) == "markdown" else nbformat.v4.new_code_cell
        cells.append(make(body, metadata=meta, id=cid))
    nb = nbformat.v4.new_notebook(cells=cells, metadata=NOTEBOOK_METADATA)
    nb.nbformat_minor = 5
    return nbformat.writes(nb) + "\n"


def write_notebook(case: Case | str, directory: Path) -> Path:
    """Write ``<directory>/<case>.ipynb`` (only when it changed); returns its path."""
    case = get_case(case) if isinstance(case, str) else case
    path = Path(directory) / f"{case.name}.ipynb"
    write_text(path, notebook_text(case))
    return path
