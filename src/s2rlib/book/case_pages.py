"""Every case's book page from one template, filled with the case file's prose; the toc's case list.

* :func:`page_text` renders ``s2rlib/data/templates/case_page.md`` into ``book/cases/<case>.md``, the
  chapter a reader finishes (its key result, figures and sentences), and :func:`details_text` renders
  ``case_details.md`` into ``book/cases/<case>_details.md``, the chapter's appendix with every table
  (the template engine and the grid notebooks: :mod:`s2rlib.grid.notebooks`). What is the same for
  every case is said once, in the method chapter's "Reading a case chapter".
* :func:`toc_text` rewrites the case entries of ``_toc.yml`` from the registry (each chapter with its
  details page as its one section).
* :func:`write_book` writes pages, built-in notebooks and the toc. ``s2r book-pages`` (run by
  ``make book``) writes them for every registered case; ``s2r book-page NAME`` for one. Every file
  written starts with a "generated from ... by ``s2r book-pages``" banner.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from s2rlib._core.atomic import write_text
from s2rlib._core.errors import ParameterError
from s2rlib._core.markup import literal
from s2rlib._core.units import pretty_units
from s2rlib.book.case_results import case_words
from s2rlib.book.caveats import CASES as CAVEAT_CASES
from s2rlib.cases.registry import CASES, Case, get_case
from s2rlib.grid.notebooks import GENERATED, case_source, default_intro, notebook_text, render, template
from s2rlib.law.sensitivity import VARIANTS


def default_objectives(case: Case) -> list[str]:
    """The case-specific "you will learn" bullets of a case file without any (``s2r new-case`` writes these)."""
    return [f"whether pretraining on computed {case.property_name} values lowers the test error on measured ones, "
            f"and by how much"]


def _units_in(case: Case) -> str:
    """`` in eV/atom`` (nothing for a dimensionless property): what a caption's MAE is measured in."""
    return "" if case.units in ("", "dimensionless", "-") else f" in {pretty_units(case.units)}"


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
    """``* item;`` lines, the last ``* item.`` (continuation lines indented under the bullet), each ending in
    a newline."""
    lines = ["* " + item.strip().rstrip(";.").replace("\n", "\n  ") for item in items]
    return "".join(line + (".\n" if i == len(lines) - 1 else ";\n") for i, line in enumerate(lines))


def _prose(case: Case) -> dict:
    """The values of the page template for ``case`` (checks the page's caveats and sensitivity variants)."""
    page = case.prose["page"]
    where = case.file or case.name
    # a case of one's own: every string is text, never markup (a shared case file must not inject cells)
    text = (lambda v: v) if case.builtin else literal
    if page.get("caveats") and case.name not in CAVEAT_CASES:
        raise ParameterError(f"case file {where}: [page] caveats = true, but s2rlib.book.caveats "
                             f"computes materials caveats only for {list(CAVEAT_CASES)}; set caveats = false")
    unknown = [v for v in page.get("sensitivity", []) if v not in VARIANTS]
    if unknown:
        raise ParameterError(f"case file {where}: [page] sensitivity={page['sensitivity']!r}: expected a list of "
                             f"protocol variants of s2rlib.law.sensitivity, from {sorted(VARIANTS)}")
    return {
        "name": case.name, "generated": GENERATED.format(source=case_source(case)),
        "page_title": text(page.get("title", case.title)), "property_title": case_words(case.name, start=True),
        "property_words": case_words(case.name), "units_in": _units_in(case),
        "page_intro": (text(page["intro"]) if "intro" in page else default_intro(case)).rstrip("\n"),
        "simulations": text(page.get("simulations", "simulated samples")), "two_way": case.two_way,
        "objectives": _bullets([text(o) for o in page.get("objectives", default_objectives(case))]),
        "figure_alt": json.dumps(page.get("figure_alt", default_figure_alt(case)), ensure_ascii=False),
        "two_way_figure_alt": json.dumps(page.get("two_way_figure_alt", default_two_way_figure_alt(case)),
                                         ensure_ascii=False),
        "caveats": bool(page.get("caveats", False)),
        "sensitivity": bool(page.get("sensitivity")), "sensitivity_text": sensitivity_text(page.get("sensitivity", [])),
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
    text = " ".join(["A grid point run again with one thing changed, on the same commit with the same seeds, so every "
                     "trial keeps its splits and its source draws and the change is measured trial by trial."]
                    + [VARIANT_TEXT[v] for v in variants if v in VARIANT_TEXT]
                    + ["What this chapter's own grid does on those counts is stated below."])
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def page_text(case: Case | str) -> str:
    """The book page ``book/cases/<case>.md`` of ``case``."""
    case = get_case(case) if isinstance(case, str) else case
    return render(template("case_page.md"), _prose(case))


def details_text(case: Case | str) -> str:
    """The chapter's details page ``book/cases/<case>_details.md`` of ``case``: every table behind it."""
    case = get_case(case) if isinstance(case, str) else case
    return render(template("case_details.md"), _prose(case))


def toc_text(toc: str, names: list[str]) -> str:
    """``_toc.yml`` with its ``book/cases/*`` entries replaced by ``names`` (at the first one's place), each
    chapter followed by its details page as its section."""
    lines = toc.splitlines(keepends=True)
    entry = re.compile(r"^(\s*)- file: book/cases/\S+\s*$")
    section = re.compile(r"^\s*sections:\s*$")
    hits = [i for i, line in enumerate(lines) if entry.match(line)
            or (section.match(line) and i + 1 < len(lines) and entry.match(lines[i + 1]))]
    if not hits:
        raise ParameterError("_toc.yml has no `- file: book/cases/<case>` entry to replace")
    indent = entry.match(lines[hits[0]]).group(1)
    new = [f"{indent}- file: book/cases/{n}\n{indent}  sections:\n{indent}    - file: book/cases/{n}_details\n"
           for n in names]
    kept = [line for i, line in enumerate(lines) if i not in hits]
    at = hits[0]
    return "".join(kept[:at] + new + kept[at:])


def write_book(root: Path, names: list[str] | None = None) -> list[Path]:
    """Write the pages of ``names`` (default: every case) and the toc; built-in notebooks too.

    Returns the files that changed.
    """
    root = Path(root)
    names = list(CASES) if names is None else [get_case(n).name for n in names]
    changed = []
    for name in names:
        case = CASES[name]
        for page, text in ((root / "book" / "cases" / f"{name}.md", page_text(case)),
                           (root / "book" / "cases" / f"{name}_details.md", details_text(case))):
            if write_text(page, text):
                changed.append(page)
        if case.builtin:
            nb = root / "notebooks" / case.notebook
            if write_text(nb, notebook_text(case)):
                changed.append(nb)
    toc = root / "_toc.yml"
    text = toc.read_text(encoding="utf-8")
    found = re.findall(r"^\s*- file: book/cases/(\S+?)\s*$", text, re.M)
    before = [n for n in found if not (n.endswith("_details") and n[: -len("_details")] in found)]  # a chapter's appendix
    listed = [n for n in CASES if n in names or n in before or (root / "book" / "cases" / f"{n}.md").is_file()]
    # a case of another cases directory ($S2R_CASES_DIR elsewhere) keeps its entry while its page is there
    listed += [n for n in before if n not in listed and (root / "book" / "cases" / f"{n}.md").is_file()]
    if write_text(toc, toc_text(text, listed)):
        changed.append(toc)
    return changed
