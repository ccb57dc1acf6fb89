"""The book's committed static files are up to date with their sources (fast; no build)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import yaml

REPO = Path(__file__).resolve().parents[1]


def _make_static():
    spec = importlib.util.spec_from_file_location("make_static", REPO / "book" / "make_static.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_downloadable_notebooks_match_their_chapters():
    mod = _make_static()
    for md, ipynb in mod.NOTEBOOK_DOWNLOADS.items():
        committed = nbformat.read(ipynb, as_version=4)
        fresh = mod.myst_to_notebook(md)
        assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in fresh.cells], \
            f"{ipynb.relative_to(REPO)} is out of date: run python book/make_static.py"
        assert any(c.cell_type == "code" and "scaling.fit_law" in c.source for c in committed.cells)


def test_method_flowchart_is_committed_and_has_no_module_diagram():
    method = (REPO / "book" / "method.md").read_text()
    assert "figures/method-flowchart.svg" in method
    assert (REPO / "book" / "figures" / "method-flowchart.svg").stat().st_size > 10_000
    assert "s2rlib.datasets" not in method.split("## Data")[0], "the module diagram is back"


def test_glossary_defines_every_abbreviation_the_book_uses():
    text = (REPO / "book" / "glossary.md").read_text()
    block = text.split("```{glossary}")[1].split("```")[0]
    terms = {line.strip() for line in block.splitlines() if line and not line.startswith(" ")}
    for abbr in ("MAE", "RMSE", "RSS", "AIC", "SEM", "CI", "params_id", "ESS", "DFT", "MD", "COSMO-RS", "PBE",
                 "chi", "MLP"):
        assert abbr in terms, abbr


def test_every_chapter_states_learning_objectives():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] if part.get("numbered") for c in part["chapters"]]
    assert files, "no numbered chapters"
    for f in files:
        if f == "book/summary":
            continue  # the summary opens with its findings instead
        text = (REPO / f"{f}.md").read_text()
        assert ("you will learn" in text or "you will practise" in text or "Learning objectives" in text), f
