"""Every case's grid notebook and book page from one template each, filled with the case file's prose.

* :func:`notebook_text` renders ``s2rlib/data/templates/case_notebook.txt`` (cells separated by
  ``# %% [markdown]`` / ``# %% [code] tags=[...]`` lines) into an ``.ipynb``; the committed
  ``notebooks/<case>.ipynb`` of the built-in cases are exactly this output (a test checks it).
* :func:`page_text` renders ``s2rlib/data/templates/case_page.md`` into ``book/cases/<case>.md``.
* :func:`toc_text` rewrites the case entries of ``_toc.yml`` from the registry.

Templates use ``{{key}}`` for a value, ``{{#key}} ... {{/key}}`` for a block kept only when
``key`` is true and ``{{^key}} ... {{/key}}`` for one kept only when it is false. ``s2r book-pages`` (run by ``make book``) writes all three for every registered
case; ``s2r book-page NAME`` for one.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path

from .cases import CASES, Case, get_case
from .errors import ParameterError
from .formatting import pretty_units
from .atomic import atomic_write

_BLOCK = re.compile(r"\{\{([#^])(\w+)\}\}\n?(.*?)\{\{/\2\}\}\n?", re.S)
_VALUE = re.compile(r"\{\{(\w+)\}\}")
_CELL = re.compile(r"^# %% \[(markdown|code)\](?: tags=(\[.*\]))?$", re.M)
NOTEBOOK_METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}}


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


def default_objectives(case: Case) -> list[str]:
    """The case-specific "you will learn" bullets of a case file without any (``s2r new-case`` writes these)."""
    return [f"whether pretraining on computed {case.property_name} values lowers the test error on measured ones, "
            f"and by how much"]


def _quantity(case: Case) -> str:
    units = "" if case.units in ("", "dimensionless", "-") else f" in {pretty_units(case.units)}"
    return f"{case.property_name} test MAE{units}"


def default_figure_alt(case: Case) -> str:
    """The scaling figure's alt text, built from the property and its units."""
    return (f"Log-log plot of the {_quantity(case)} against the number n of simulated samples used for pretraining. "
            f"Dots are means over trials with 90% error bars; a curve (solid when the fit status is ok, dotted "
            f"otherwise) is the fitted law with a shaded 90% band, or a flat dotted line without a band where the "
            f"data show no fall with n; a dashed horizontal line with a grey band is the "
            f"error without pretraining. Dots below the dashed line mean pretraining helped.")


def default_two_way_figure_alt(case: Case) -> str:
    """The two-way figure's alt text, built from the property and the experimental sizes m."""
    ms = ", ".join("all" if m is None else str(m) for m in case.default_ms)
    return (f"Three panels. Top: log-log plot of the {_quantity(case)} against n, one colour per experimental "
            f"training size m ({ms}), with fitted curves (dotted when the fit status is not ok) and dashed "
            f"no-pretraining lines. Bottom left: the fitted exponent alpha against m; bottom right: the transfer gap "
            f"C against m, each with 90% intervals; hollow markers are fits whose status is not ok; a downward "
            f"triangle capping a bar from 0 is the upper bound of a C that is not resolved; an upward triangle "
            f"cuts an alpha interval that runs on to the search bound 3.")


def _bullets(items: list[str]) -> str:
    """``* item;`` lines (continuation lines indented under the bullet), each ending in a newline."""
    return "".join("* " + item.strip().replace("\n", "\n  ") + ";\n" for item in items)


def _prose(case: Case) -> dict:
    page, nb = case.prose["page"], case.prose["notebook"]
    if page.get("caveats"):
        from .caveats import CASES as CAVEAT_CASES

        if case.name not in CAVEAT_CASES:
            raise ParameterError(f"case file {case.file or case.name}: [page] caveats = true, but s2rlib.caveats "
                                 f"computes materials caveats only for {list(CAVEAT_CASES)}; set caveats = false")
    check = nb.get("check", "")
    module, _, function = check.partition(":")
    default_intro = (f"This case transfers **{case.source}** (computational) to **{case.target}** "
                     f"(experimental): the property is {case.property_name}, in {pretty_units(case.units)}; the experimental "
                     f"split is by {case.grouping}.")
    default_data = (f"* **Source (computational):** {case.source}.\n* **Target (experimental):** {case.target}.\n"
                    f"* **Kind:** {case.kind}; groups: {case.grouping}.")
    return {
        "name": case.name,
        "page_title": page.get("title", case.title), "page_intro": page.get("intro", default_intro).rstrip("\n"),
        "simulations": page.get("simulations", "simulated samples"), "two_way": case.two_way,
        "objectives": _bullets(page.get("objectives", default_objectives(case))),
        "figure_alt": json.dumps(page.get("figure_alt", default_figure_alt(case)), ensure_ascii=False),
        "two_way_figure_alt": json.dumps(page.get("two_way_figure_alt", default_two_way_figure_alt(case)),
                                         ensure_ascii=False),
        "caveats": bool(page.get("caveats", False)),
        "sensitivity": bool(page.get("sensitivity")), "sensitivity_text": sensitivity_text(page.get("sensitivity", [])),
        "notebook_title": nb.get("title", case.title), "notebook_intro": nb.get("intro", default_intro).rstrip("\n"),
        "notebook_data": nb.get("data", default_data).rstrip("\n"),
        "check": bool(check), "check_module": module, "check_function": function,
        "check_title": nb.get("check_title", ""), "check_text": nb.get("check_text", "").rstrip("\n"),
    }


#: what each protocol variant changes, for the intro of a chapter's "What the gain is made of"
VARIANT_TEXT = {
    "lookup": "The {term}`look-up protocol` lets the test materials' own simulations into pretraining, which "
              "today's recipe withholds: the difference is what having seen the very material's simulation adds, "
              "which a benchmark that allows it would count as transfer.",
    "fixed_steps": "*Fixed pretraining compute* caps pretraining at the number of steps the smallest databases get "
                   "({doc}`../method`): the larger databases get more, and the difference separates more data from "
                   "more compute.",
    "more_steps": "*More pretraining compute* gives a smaller database the steps of the whole one, the other half of "
                  "that comparison.",
}


def sensitivity_text(variants: list[str]) -> str:
    """The intro of "What the gain is made of" for the variants a case file declares (only those)."""
    import textwrap

    text = " ".join(["A grid point run again with one thing changed, on the same commit with the same seeds, so every "
                     "trial keeps its splits and its source draws and the change is measured trial by trial."]
                    + [VARIANT_TEXT[v] for v in variants if v in VARIANT_TEXT]
                    + ["What this chapter's own grid does on those counts is stated below."])
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def notebook_text(case: Case | str) -> str:
    """The grid notebook of ``case`` as ``.ipynb`` JSON text (cell ids derived from the case and position)."""
    import nbformat

    case = get_case(case) if isinstance(case, str) else case
    text = render(template("case_notebook.txt"), _prose(case))
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


def page_text(case: Case | str) -> str:
    """The book page ``book/cases/<case>.md`` of ``case``."""
    case = get_case(case) if isinstance(case, str) else case
    return render(template("case_page.md"), _prose(case))


def toc_text(toc: str, names: list[str]) -> str:
    """``_toc.yml`` with its ``book/cases/*`` entries replaced by ``names`` (at the first one's place)."""
    lines = toc.splitlines(keepends=True)
    entry = re.compile(r"^(\s*)- file: book/cases/\S+\s*$")
    hits = [i for i, line in enumerate(lines) if entry.match(line)]
    if not hits:
        raise ParameterError("_toc.yml has no `- file: book/cases/<case>` entry to replace")
    indent = entry.match(lines[hits[0]]).group(1)
    new = [f"{indent}- file: book/cases/{n}\n" for n in names]
    kept = [line for i, line in enumerate(lines) if i not in hits]
    at = hits[0]
    return "".join(kept[:at] + new + kept[at:])


def write_text(path: Path, text: str) -> bool:
    """Write ``text`` atomically when it differs; returns whether the file changed."""
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    with atomic_write(path, "w", encoding="utf-8") as fh:  # the project's one atomic-write helper
        fh.write(text)
    return True


def write_notebook(case: Case | str, directory: Path) -> Path:
    case = get_case(case) if isinstance(case, str) else case
    path = Path(directory) / f"{case.name}.ipynb"
    write_text(path, notebook_text(case))
    return path


def write_book(root: Path, names: list[str] | None = None) -> list[Path]:
    """Write the pages of ``names`` (default: every case) and the toc; built-in notebooks too.

    Returns the files that changed.
    """
    root = Path(root)
    names = list(CASES) if names is None else [get_case(n).name for n in names]
    changed = []
    for name in names:
        case = CASES[name]
        page = root / "book" / "cases" / f"{name}.md"
        if write_text(page, page_text(case)):
            changed.append(page)
        if case.builtin:
            nb = root / "notebooks" / case.notebook
            if write_text(nb, notebook_text(case)):
                changed.append(nb)
    toc = root / "_toc.yml"
    text = toc.read_text(encoding="utf-8")
    before = set(re.findall(r"^\s*- file: book/cases/(\S+?)\s*$", text, re.M))
    listed = [n for n in CASES if n in names or n in before or (root / "book" / "cases" / f"{n}.md").is_file()]
    if write_text(toc, toc_text(text, listed)):
        changed.append(toc)
    return changed
