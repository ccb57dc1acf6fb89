"""The book builds strictly (``-W -n --keep-going``) from a clean output directory, offline.

The build itself is the session fixture ``built_book`` (tests/conftest.py), shared with the
browser test so the book is built once per test run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from s2rlib.grid import selection
from s2rlib.book import pages
from s2rlib.book import case_results

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def toc_docnames() -> list[str]:
    """Every document of ``_toc.yml`` (globs expanded), as Sphinx docnames."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                names.append(str(Path(e["file"]).with_suffix("")))
            if "glob" in e:
                for p in sorted(REPO.glob(e["glob"])):
                    if p.suffix in (".md", ".ipynb") and not p.name.startswith("."):
                        names.append(str(p.relative_to(REPO).with_suffix("")))
            walk(e.get("sections"))
            walk(e.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return names


def test_book_builds_strictly(built_book):
    tail = "\n".join(built_book.log.splitlines()[-60:])
    assert built_book.returncode == 0, f"strict book build failed:\n{tail}"
    sphinx_warnings = [line for line in built_book.log.splitlines() if re.search(r"\bWARNING: ", line)]
    assert not sphinx_warnings, "\n".join(sphinx_warnings)
    assert (built_book.html / "index.html").is_file()
    print(f"book built in {built_book.seconds:.0f} s")


def test_every_toc_page_is_built(built_book):
    missing = [d for d in toc_docnames() if not (built_book.html / f"{d}.html").is_file()]
    assert not missing, f"pages in _toc.yml without HTML: {missing}"


def test_book_needs_no_network(built_book):
    """No page loads a script, stylesheet, font or image from another host (no CDN MathJax)."""
    offenders = set()
    pattern = re.compile(r"""<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)=["'](https?:)?//[^"']+""")
    for page in built_book.html.rglob("*.html"):
        for m in pattern.finditer(page.read_text(errors="replace")):
            offenders.add(f"{page.relative_to(built_book.html)}: {m.group(0)[:120]}")
    for css in built_book.html.rglob("*.css"):
        for m in re.finditer(r"url\((['\"]?)https?://[^)]+\)", css.read_text(errors="replace")):
            offenders.add(f"{css.relative_to(built_book.html)}: {m.group(0)[:120]}")
    assert not offenders, "external assets:\n" + "\n".join(sorted(offenders)[:20])


def test_math_is_mathml(built_book):
    intro = (built_book.html / "book" / "intro.html").read_text()
    assert "<math" in intro and "mathjax" not in intro.lower().replace("mathjax_ignore", "")


def test_case_pages_show_their_results_or_say_they_are_missing(built_book):
    have, missing = pages.available_cases(built_book.results_root)
    for case in have:
        html = (built_book.html / "book" / "cases" / f"{case}.html").read_text()
        assert "Fitted parameters" in html and "fit status" in html, case
        assert re.search(r"<img[^>]+\.png", html), f"{case}: no figure"
        assert "Results missing" not in html, case
    for case in missing:
        html = (built_book.html / "book" / "cases" / f"{case}.html").read_text()
        assert "Results missing" in html and "No results yet" in html, case


def test_papermill_notebooks_are_not_executed(built_book):
    """The appendix shows each grid notebook as papermill executed it (book/examples/, outputs kept);
    the build never runs them (they train networks)."""
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        assert re.search(rf"book/examples/{re.escape(nb.name)}: Excluded from execution", built_book.log), nb.name
        page = built_book.html / "book" / "examples" / f"{nb.stem}.html"
        assert page.is_file(), nb.name
        assert "test MAE" in page.read_text(), f"{page.name}: the executed outputs are not shown"


def test_chapters_offer_notebook_downloads(built_book):
    """The tutorial chapter and the case notebooks download as .ipynb (copied into _downloads/)."""
    downloads = {p.name for p in (built_book.html / "_downloads").rglob("*.ipynb")}
    assert {"tutorial.ipynb", "formation_enthalpy.ipynb", "band_gap.ipynb", "polymer_density.ipynb",
            "chi.ipynb"} <= downloads, downloads
    tutorial = (built_book.html / "book" / "tutorial.html").read_text()
    assert re.search(r'href="[^"]*_downloads/[^"]+/tutorial\.ipynb"', tutorial)


def test_every_chapter_with_code_offers_its_notebook_and_the_local_build_no_launch_button(built_book):
    """sphinx-book-theme's download menu has the executed .ipynb on every page with code cells
    (book/_ext/launch_when_published.py); with repository.url empty no page links Binder or Colab."""
    with_code = [d for d in toc_docnames() if (REPO / f"{d}.md").is_file() and "{code-cell}" in (REPO / f"{d}.md").read_text()]
    assert {"book/tutorial", "book/intro", "book/summary"} <= set(with_code)
    for doc in toc_docnames():
        html = (built_book.html / f"{doc}.html").read_text()
        assert "mybinder.org" not in html and "colab.research.google.com" not in html, doc
        if doc in with_code:
            assert "download-notebook-button" in html, doc
            assert (built_book.html / "_sources" / f"{doc}.ipynb").is_file(), doc


def test_tutorial_code_is_visible_and_executed(built_book):
    html = (built_book.html / "book" / "tutorial.html").read_text()
    assert "scaling.fit_law" in html and "plotting.scaling_figure" in html
    assert "Show code cell source" not in html  # nothing hidden on this page
    assert re.search(r"status: \w+", html) and re.search(r"<img[^>]+\.png", html)


def test_numbers_are_per_chapter(built_book):
    """Tables and figures are numbered within their chapter ("Table 2.3"), not book-wide ("Table 39")."""
    html = (built_book.html / "book" / "cases" / "formation_enthalpy.html").read_text()
    numbers = re.findall(r'<span class="caption-number">(?:Table|Fig\.) ([\d.]+)', html)
    assert numbers and all(re.fullmatch(r"\d+\.\d+", n) for n in numbers), numbers[:10]


def test_two_way_caption_only_where_the_grid_has_two_m_and_one_final_box(built_book):
    """A case whose table has a single m shows one sentence, not the two-way figure's caption over
    nothing; the per-case box "Which tables are final" is on the intro only (the summary points to it)."""
    from s2rlib.cases.registry import get_case

    have, _ = pages.available_cases(built_book.results_root)
    for case in have:
        if not get_case(case).two_way:
            continue
        html = (built_book.html / "book" / "cases" / f"{case}.html").read_text()
        table = selection.select_grid(case_results.load_case_results(case, built_book.results_root, announce=False))
        two = len([m for m in selection.m_values(table) if m > 0]) >= 2
        assert ("Two-way design. (a)" in html) == two, case
        assert ("The two-way design is not run yet for this case" in html) == (not two), case
    intro = (built_book.html / "book" / "intro.html").read_text()
    summary = (built_book.html / "book" / "summary.html").read_text()
    if "Which tables are final" in intro:
        assert "Which tables are final" not in summary and "which provisional is stated once" in summary
