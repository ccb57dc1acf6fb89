"""The book's committed static files are up to date with their sources (fast; no build)."""

from __future__ import annotations

import importlib.util
import json
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
    assert "s2rlib.datasets.registry" not in method.split("## Data")[0], "the module diagram is back"


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


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "book" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_executed_examples_ran_the_current_notebooks_without_errors():
    """book/examples/<case>.ipynb (the appendix): papermill's run of today's notebook, outputs kept."""
    from s2rlib.cases import registry as cases

    mod = _load("make_examples")
    for case in cases.builtin_names():
        path = REPO / "book" / "examples" / f"{case}.ipynb"
        assert path.is_file(), f"{path.relative_to(REPO)} missing: run python book/make_examples.py {case}"
        ran = nbformat.read(path, as_version=4)
        source = nbformat.read(REPO / "notebooks" / f"{case}.ipynb", as_version=4)
        code = [c.source for c in ran.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
        assert code == [c.source for c in source.cells if c.cell_type == "code"], \
            f"{path.relative_to(REPO)} ran other code than notebooks/{case}.ipynb: run python book/make_examples.py {case}"
        assert ran.metadata.papermill.parameters == {"case": case, **mod.PARAMETERS}
        outputs = [o for c in ran.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"] and ran.metadata.papermill.exception in (None, False)
        assert any(o.output_type == "stream" and "test MAE" in o.text for o in outputs), f"{path.name}: no result printed"
        text = path.read_text()
        assert str(REPO) not in text and "/work/" not in text and str(Path.home()) + "/" not in text  # no local paths
        assert any("text/html" in o.get("data", {}) for o in outputs)  # the tables are there
    # the classroom recipe the examples ran is the one the rerun chapter gives
    assert json.dumps(mod.CLASSROOM_RECIPE) in (REPO / "book" / "rerun.md").read_text()
    assert json.dumps(mod.CLASSROOM_RECIPE) in (REPO / "book" / "notebooks.md").read_text()


def _grid_commands():
    """Every `s2r grid` command line written in the book's pages (continuation lines joined)."""
    import re

    for path in sorted((REPO / "book").rglob("*.md")):
        text = re.sub(r"\\\n\s*", " ", path.read_text())
        for line in text.splitlines():
            if "s2r grid " in line and line.lstrip().startswith("s2r grid"):
                yield path.name, line.split("#")[0].strip()


def test_book_grid_commands_of_small_grids_give_ms_and_never_write_into_the_books_results():
    """A small grid (its own --ns or --trials) of a built-in case whose default grid varies m must say
    --ms, or it silently runs every default m (4x the points); no example writes into results/<case>/."""
    from s2rlib.cases import registry as cases

    commands = list(_grid_commands())
    assert any("formation_enthalpy" in c and "--trials 2" in c for _, c in commands), "the classroom run is gone"
    for page, cmd in commands:
        words = cmd.split()
        case = words[2]
        out = words[words.index("--out") + 1] if "--out" in words else ""
        assert not out.startswith("results/"), (page, cmd)
        if case in cases.builtin_names() and cases.get_case(case).two_way and ("--ns" in words or "--trials" in words):
            assert "--ms" in words, (page, cmd)


def test_glossary_names_todays_fine_tuning_candidates():
    from s2rlib.training import transfer

    text = (REPO / "book" / "glossary.md").read_text()
    for c in transfer.Recipe().candidates:
        assert f"`{c.name}`" in text, c.name


def test_readme_is_a_front_door():
    """README: at most 100 lines, the two commands first, its layout names every subpackage, no pasted results
    (no test count, no minutes per point: the book and benchmarks/README.md carry those)."""
    import re

    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 100, len(text.splitlines())
    first_block = text.index("```bash")
    assert text.index("make html", first_block) < text.index("make test", first_block) < text.index("## Rerun")
    layout = text[text.index("## Layout"):text.index("## Citation")]
    packages = sorted(p.parent.name for p in (REPO / "src" / "s2rlib").glob("*/__init__.py"))
    assert len(packages) >= 9 and not [p for p in packages if f"{p}/" not in layout], packages
    assert not re.search(r"\d+ tests\b|minutes of `wall_s`|minutes a point", text)


def test_glossary_bootstrap_counts_are_the_codes():
    """The glossary's refit counts are the defaults the book's fits use."""
    import inspect

    from s2rlib.book import case_results as book_results
    from s2rlib.law import ess
    from s2rlib.law import fit_cache
    from s2rlib.law import derived as insights

    text = " ".join((REPO / "book" / "glossary.md").read_text().split())
    ext = inspect.signature(insights.extrapolation_check).parameters["n_boot"].default
    es = inspect.signature(ess.equivalent_sample_size).parameters["n_boot"].default
    assert ext == es
    assert (f"{fit_cache.N_BOOT:,} refits for a chapter's main fit, {book_results.N_BOOT_PER_M:,} for each experimental "
            f"size $m$ of the two-way design, {ext:,} for the extrapolation check and the equivalent sample size") in text
