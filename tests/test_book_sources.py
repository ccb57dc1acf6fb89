"""The book's committed static files are up to date with their sources (fast; no build)."""

from __future__ import annotations

import importlib.util
import json
import re
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
    tutorial = nbformat.read(REPO / "book" / "tutorial.ipynb", as_version=4)
    assert any(c.cell_type == "code" and "scaling.fit_law" in c.source for c in tutorial.cells)


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
                 "chi", "MLP", "L2-SP", "SMILES", "PI1070", "GGA+U", "bfloat16", "oneDNN", "MKL"):
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
    # the recipe the examples ran is the one their introduction gives
    assert f"recipe_json = '{json.dumps(mod.EXAMPLE_RECIPE)}'" in (REPO / "book" / "notebooks.md").read_text()


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


# --------------------------------------------------------------------------------------------
# Publishing: the GitHub Pages workflow and the launch settings (no network: the files are parsed).

WORKFLOW = REPO / ".github" / "workflows" / "book.yml"


def _workflow() -> dict:
    wf = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True
    wf["on"] = wf.pop(True, wf.get("on"))
    return wf


def _makefile_recipe(target: str) -> list[str]:
    lines = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_book_workflow_builds_on_push_to_main_and_deploys_to_pages():
    wf = _workflow()
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert wf["concurrency"]["group"] == "pages" and wf["concurrency"]["cancel-in-progress"] is False
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    uses = [s.get("uses", "") for s in build["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    assert deploy["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"
    assert deploy["steps"][0]["id"] == "deployment"
    # every step is an action or a shell command, and uses: names a pinned major version
    for step in build["steps"] + deploy["steps"]:
        assert ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def _run_lines(step: dict) -> list[str]:
    return [line.strip() for line in step["run"].splitlines() if line.strip()]


def test_book_workflow_installs_and_builds_as_the_makefile_does():
    """The install step is `make install`'s recipe with the runner's Python; the build is `make html`,
    whose jupyter-book command is the strict build of tests/conftest.py."""
    from conftest import BOOK_BUILD_ARGS

    steps = {s.get("name", s.get("uses")): s for s in _workflow()["jobs"]["build"]["steps"]}
    setup = next(s for s in steps.values() if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11"
    make = (REPO / "Makefile").read_text()
    assert "PYTHON ?= python3.11" in make and "VENV := .venv" in make and "PY := $(VENV)/bin/python" in make
    expected = [line.replace("$(PYTHON)", "python").replace("$(VENV)", ".venv").replace("$(PY)", ".venv/bin/python")
                .replace("$@", ".venv/.installed") for line in _makefile_recipe("$(VENV)/.installed")]
    assert _run_lines(steps["Install (make install)"]) == expected
    assert _run_lines(steps["Build the book (make html)"]) == ["make html"]
    html = _makefile_recipe("html")
    assert f"$(VENV)/bin/jupyter-book {' '.join(BOOK_BUILD_ARGS)}" in html, html
    assert "rm -rf _build" in html and re.search(r"^html: pages$", make, re.M)
    # the data mirror is set only where one exists, so without one the pinned, sha256-checked downloads run
    mirror = steps["Data mirror, only if one exists"]["run"]
    assert "S2R_DATA_MIRROR=" in mirror and '[ -d "$d" ]' in mirror
    assert "S2R_DATA_MIRROR" not in _workflow()["jobs"]["build"].get("env", {})
    # chromium is for the browser tests, not for the build
    assert "chromium" not in WORKFLOW.read_text()


def test_book_workflow_fills_in_the_repository_url_before_the_build(tmp_path):
    """repository.url is empty in _config.yml (not known here, not invented); the workflow's sed sets it
    from the repository it runs in, which turns the launch buttons on."""
    import subprocess

    steps = _workflow()["jobs"]["build"]["steps"]
    names = [s.get("name", s.get("uses")) for s in steps]
    fill = steps[names.index("Repository URL for the launch buttons")]
    assert names.index("Repository URL for the launch buttons") < names.index("Build the book (make html)")
    assert fill["env"]["REPOSITORY_URL"] == "${{ github.server_url }}/${{ github.repository }}"
    config = (REPO / "_config.yml").read_text()
    assert yaml.safe_load(config)["repository"]["url"] == ""
    url = "https://github.com/someone/sim2real"
    (tmp_path / "_config.yml").write_text(config)
    out = subprocess.run(["bash", "-e", "-c", fill["run"]], cwd=tmp_path, capture_output=True, text=True,
                         env={"REPOSITORY_URL": url, "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    filled = yaml.safe_load((tmp_path / "_config.yml").read_text())
    assert filled["repository"]["url"] == url
    assert {k: v for k, v in filled.items() if k != "repository"} == \
        {k: v for k, v in yaml.safe_load(config).items() if k != "repository"}


def test_config_has_the_launch_settings_and_the_local_build_needs_no_network():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    launch, repo = config["launch_buttons"], config["repository"]
    assert launch["binderhub_url"] == "https://mybinder.org"
    assert launch["colab_url"] == "https://colab.research.google.com"
    assert launch["notebook_interface"] == "jupyterlab" and launch["thebe"] is False
    assert repo == {"url": "", "path_to_book": "", "branch": "main"}
    ext = config["sphinx"]["config"]["extensions"]
    assert "launch_when_published" in ext and "sphinx_thebe" not in ext
    assert config["sphinx"]["local_extensions"]["launch_when_published"] == "book/_ext"
    assert "book/*.ipynb" in config["exclude_patterns"]
    # the committed notebooks the launch buttons open sit beside their chapters
    for name in ("tutorial", "exercises"):
        assert (REPO / "book" / f"{name}.ipynb").is_file(), name
        front = (REPO / "book" / f"{name}.md").read_text().split("---")[1]
        assert "kernelspec" in front, name


def test_launch_buttons_only_with_a_repository_url():
    """book/_ext/launch_when_published.py blanks the launch URLs when repository.url is empty."""
    spec = importlib.util.spec_from_file_location("launch_when_published", REPO / "book" / "_ext" / "launch_when_published.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    class Config:
        def __init__(self, url):
            self.html_theme_options = {"repository_url": url, "launch_buttons": {
                "binderhub_url": "https://mybinder.org", "colab_url": "https://colab.research.google.com",
                "notebook_interface": "jupyterlab"}}

    local, published = Config(""), Config("https://github.com/someone/sim2real")
    mod._blank_launch_buttons_without_repository(None, local)
    mod._blank_launch_buttons_without_repository(None, published)
    assert not any(local.html_theme_options["launch_buttons"].get(k) for k in mod.LAUNCH_URL_KEYS)
    assert local.html_theme_options["launch_buttons"]["notebook_interface"] == "jupyterlab"
    assert published.html_theme_options["launch_buttons"]["binderhub_url"] == "https://mybinder.org"


def test_binder_and_teach_install_jupyterlab():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    teach = project["optional-dependencies"]["teach"]
    assert any(r.startswith("jupyterlab") for r in teach) and any(r.startswith("jupytext") for r in teach)
    reqs = [line.strip() for line in (REPO / "binder" / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert "-e .[teach]" in reqs
    assert (REPO / "binder" / "runtime.txt").read_text().strip() == f"python-{project['requires-python'][2:6]}"


def test_prose_columns_keep_a_readable_width():
    import pandas as pd

    from s2rlib.book import display

    df = pd.DataFrame({"protocol": ["fixed pretraining compute: pretraining capped at 1,000 steps, the number every n", "x"],
                       "n": ["94,777", "10,000"], "status": ["`ok`", "`C_at_bound`"]})
    assert display.prose_columns(df) == ["s2r-prose-1"]
    assert display.prose_columns(df.set_index("n"), index=True) == ["s2r-prose-2"]
    css = (REPO / "book" / "_static" / "s2r.css").read_text()
    assert "table.s2r-prose-1 td:nth-child(1)" in css and "overflow-wrap: anywhere" not in css


def test_generated_prose_spells_units_one_way():
    """g/cm³, never g/cm^3, in the case pages' header table (the case file keeps the ASCII spelling)."""
    from s2rlib.book import run_tables

    text = run_tables.case_header_table("polymer_density", None).to_string()
    assert "g/cm³" in text and "^3" not in text


def test_every_s2r_command_in_the_book_is_pasteable():
    """A command a reader copies (inline code or a line of a code block) names its case and holds no
    placeholder: no ellipsis, no angle-bracket slot left unfilled in a teaching page's run commands."""
    inline = re.compile(r"`(s2r [^`]+)`")
    bad = []
    for path in sorted((REPO / "book").rglob("*.md")):
        text = path.read_text()
        commands = inline.findall(text) + [line.strip() for line in text.splitlines()
                                           if line.strip().startswith("s2r ")]
        commands = [c.split(" #")[0] for c in commands]  # a comment may say "..."
        for cmd in commands:
            if "…" in cmd or "..." in cmd:
                bad.append((path.name, cmd))
    assert not bad, bad


def test_the_summary_heading_names_no_count_of_cases():
    """The summary shows every registered case with results (a user's included), so its title and the
    landing page's pointer to it cannot promise a number of laws."""
    numbers = re.compile(r"\b(two|three|four|five|six|seven|eight|\d+)\b", re.I)
    title = next(ln for ln in (REPO / "book" / "summary.md").read_text().splitlines() if ln.startswith("# "))
    pointer = next(ln for ln in (REPO / "book" / "intro.md").read_text().splitlines() if "{doc}`summary`" in ln)
    assert not numbers.search(title) and not numbers.search(pointer), (title, pointer)
