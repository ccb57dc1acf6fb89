"""The book builds strictly (``-W -n --keep-going``) from a clean output directory, offline.

The build itself is the session fixture ``built_book`` (tests/conftest.py), shared with the
browser test so the book is built once per test run.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml

from s2rlib.grid import selection
from s2rlib.book import pages
from s2rlib.book import case_results

import reading

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
        assert "Key result" in html and "With every experiment:" in html, case
        assert re.search(r"<img[^>]+\.png", html), f"{case}: no figure"
        assert "Results missing" not in html, case
        details = (built_book.html / "book" / "cases" / f"{case}_details.html").read_text()
        assert "Fitted parameters" in details and "fit status" in details, case
    for case in missing:
        html = (built_book.html / "book" / "cases" / f"{case}.html").read_text()
        assert "Results missing" in html and "No results yet" in html, case


#: the tables every case chapter showed before its details page (issue 30, item 2): each is now on the
#: details page, and none in the chapter (the two-way ones only where the grid has several m)
CASE_TABLES = ("The grid that was run", "Fitted parameters of ", "Mean test error per n, and the fitted law",
               "Baseline and paired gain at the largest n", "The network against the simulation with a linear",
               "Extrapolation check: the law fitted without", "Alternative functional forms fitted to the trial",
               "Fine-tuning recipe chosen by validation", "Provenance of every row of the results table")
TWO_WAY_TABLES = ("The law fitted separately for each experimental size m",)
SENSITIVITY_TABLES = ("rerun with one change each",)


def _captions(html: str) -> list[str]:
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<caption>(.*?)</caption>", html, re.S)]


def test_every_table_of_a_case_is_on_its_details_page_and_the_chapter_keeps_none(built_book):
    have, _ = pages.available_cases(built_book.results_root)
    for case in have:
        chapter = _captions((built_book.html / "book" / "cases" / f"{case}.html").read_text())
        details = _captions((built_book.html / "book" / "cases" / f"{case}_details.html").read_text())
        page = pages.CasePage(case, built_book.results_root, n_boot=20, n_boot_per_m=20)
        expected = CASE_TABLES + (TWO_WAY_TABLES if page.two_way else ()) + (
            SENSITIVITY_TABLES if page.sensitivity_comparisons[0] else ())
        for caption in expected:
            assert sum(caption in c for c in details) == 1, f"{case}_details: {caption!r} not once in {details}"
        assert not chapter, f"{case}: tables left in the chapter: {chapter}"


def _case_texts(built_book) -> dict[str, str]:
    have, _ = pages.available_cases(built_book.results_root)
    return {c: reading.article_text(built_book.html / "book" / "cases" / f"{c}.html") for c in have}


def test_two_case_chapters_share_at_most_150_identical_words(built_book):
    """Word 8-gram shingles common to two chapters' main text (tables and captions included, code not):
    at most reading.MAX_SHARED_WORDS words of one chapter lie in them, for every pair (before this limit,
    640-790 words by the issue's count and 1,900-2,700 by this one)."""
    texts = _case_texts(built_book)
    if len(texts) < 2:
        pytest.skip("fewer than two case chapters with results")
    shared = {f"{a} / {b}": reading.shared_words(texts[a], texts[b]) for a, b in itertools.combinations(texts, 2)}
    print("identical words per pair of case chapters:", shared)
    assert max(shared.values()) <= reading.MAX_SHARED_WORDS, shared
    # the measure itself on these pages: a chapter shares all its words with itself, and a chapter plus a
    # paragraph of another appended shares at least that paragraph
    a, b = list(texts)[:2]
    assert reading.shared_words(texts[a], texts[a]) == len(reading.words(texts[a]))
    para = next(p for p in reading.paragraphs(built_book.html / "book" / "cases" / f"{b}.html")
                if len(reading.words(p)) >= 40)
    wa, wb = reading.words(texts[a]), reading.words(texts[b])
    assert reading.covered(wa + reading.words(para), wb) >= reading.covered(wa, wb) + len(reading.words(para))


#: the reading path of issue 30: the landing page, the summary, the case chapters
READING_PATH = ["book/intro", "book/summary"] + [f"book/cases/{c}" for c in case_results.BOOK_CASES]


def test_no_paragraph_appears_twice_along_the_reading_path(built_book):
    """A paragraph (or a list item) of at least 25 words appears once along the reading path, and once on
    each case's details page with its chapter (tables left out: their rows repeat words by design)."""
    path = {doc: reading.paragraphs(built_book.html / f"{doc}.html") for doc in READING_PATH}
    assert sum(len(p) for p in path.values()) > 50  # the pages were read
    repeated = reading.repeated_paragraphs(path)
    assert not repeated, "\n".join(f"{names}: {p[:160]}" for p, names in repeated.items())
    for case in case_results.BOOK_CASES:
        docs = [f"book/cases/{case}", f"book/cases/{case}_details"]
        pair = reading.repeated_paragraphs({d: reading.paragraphs(built_book.html / f"{d}.html") for d in docs})
        assert not pair, f"{case}: " + "\n".join(f"{names}: {p[:160]}" for p, names in pair.items())


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
        assert ("per experimental size m; (b) α and (c) C" in html) == two, case  # the two-way caption
        assert ("The two-way design is not run yet for this case" in html) == (not two), case
    intro = (built_book.html / "book" / "intro.html").read_text()
    summary = (built_book.html / "book" / "summary.html").read_text()
    if "Which tables are final" in intro:
        assert "Which tables are final" not in summary and "which provisional is stated once" in summary


#: the pages that print statuses in words (issue 30, item 1): the reading path and each case's details page,
#: and "Data or compute?"; the codes stay in the method chapter's status table, the appendices and the CSVs
STATUS_WORDS_PAGES = (READING_PATH + [f"book/cases/{c}_details" for c in case_results.BOOK_CASES]
                      + ["book/data_or_compute"])


def test_the_reading_path_prints_statuses_in_words_linked_to_the_status_table(built_book):
    """No status code (``C_at_bound``, `ok`, "status ok") on the reading path; where the summary and each case
    chapter print a status, its words link to the method chapter's status table, which keeps the codes."""
    codes = {doc: reading.status_codes(built_book.html / f"{doc}.html") for doc in STATUS_WORDS_PAGES}
    print("status codes per page:", {d: len(c) for d, c in codes.items()})
    assert not {d: c for d, c in codes.items() if c}, {d: c for d, c in codes.items() if c}
    method = (built_book.html / "book" / "method.html").read_text()
    assert 'id="status-table"' in method and reading.status_codes(built_book.html / "book" / "method.html")
    for doc in ["book/intro", "book/summary"] + [f"book/cases/{c}" for c in case_results.BOOK_CASES]:
        html = (built_book.html / f"{doc}.html").read_text()
        if "Results missing" in html:
            continue
        assert re.search(r'href="[^"]*method\.html#status-table"', html), f"{doc}: no status linked to its words"


#: pages whose prose and tables are generated from the results or quote them (issue 30, item 5)
NUMBER_PAGES = STATUS_WORDS_PAGES + ["book/summary_details", "book/tutorial", "book/rerun"]


def test_generated_pages_print_math_as_math_and_two_or_three_digits(built_book):
    """No law, exponent or unit as plain text ("R(n) = D n^-alpha + C", "chi^2", "g/cm^3") on any page of the
    book but the executed example notebooks (their outputs are papermill's); no decimal with more than 3
    significant digits in the generated and quoting pages (the CSVs keep every digit)."""
    plain, long = {}, {}
    for doc in toc_docnames():
        if doc.startswith("book/examples/"):
            continue
        text = reading.article_text(built_book.html / f"{doc}.html")
        if found := reading.plain_math(text):
            plain[doc] = found
        if doc in NUMBER_PAGES and (found := reading.long_decimals(text)):
            long[doc] = found
    assert not plain, plain
    assert not long, long
