"""Cases are data: the registry, the case files, one template per notebook and page, `s2r new-case`."""

from __future__ import annotations

import dataclasses

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2rlib.grid import notebooks
from s2rlib.cli import new_case
from s2rlib.book import case_results
from s2rlib.cases import case_file as casefile
from s2rlib.book import case_pages as casepages
from s2rlib.cases import registry as cases
from s2rlib import cli
from s2rlib.cases import user_csv as csvcase
from s2rlib._core.errors import ChecksumError, DataError, DataUnavailableError, ParameterError
from s2rlib.features.repeat_unit import canonical_repeat_unit, parse_repeat_units

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = Path(str(resources.files("s2rlib") / "data" / "example"))
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def cases_dir(tmp_path, monkeypatch):
    """An empty user cases directory; the registry is re-read before and after the test."""
    d = tmp_path / "my_cases"
    d.mkdir()
    monkeypatch.setenv(casefile.CASES_ENV, str(d))
    cases.reload()
    yield d
    monkeypatch.undo()
    cases.reload()


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _rows(pairs) -> str:
    return "formula,target\n" + "".join(f"{f},{v}\n" for f, v in pairs)


OXIDES = [f"Fe{i}O{j}" for i in range(1, 6) for j in range(1, 5)]  # 20 distinct compositions
TARGET = [f"Fe{i}O{j}" for i in range(1, 4) for j in range(5, 10)]  # 15


# ------------------------------------------------------------------------------------ registry


def test_registry_is_the_case_files():
    files = sorted(p.stem for p in (REPO / "src/s2rlib/data/cases").glob("*.toml"))
    assert sorted(cases.CASES) == files
    assert cases.builtin_names() == ["formation_enthalpy", "band_gap", "polymer_density", "chi"]  # book order
    chi = cases.get_case("chi")
    assert chi.default_ms == (50, 100, 300, None) and chi.two_way and chi.units == "dimensionless"
    # every built-in case has the two-way (n, m) design, with m = 100 and 300 in common
    assert all(cases.get_case(c).two_way and {100, 300} <= set(cases.get_case(c).default_ms)
               for c in cases.builtin_names())
    assert not dataclasses.replace(cases.get_case("band_gap"), default_ms=(None,)).two_way
    assert cases.get_case("band_gap").loader.__name__ == "load_band_gap"
    with pytest.raises(ParameterError, match="unknown case 'nope'.*S2R_CASES_DIR"):
        cases.get_case("nope")


def test_the_lists_of_cases_derive_from_the_registry():
    from s2rlib.book import plotting

    assert case_results.BOOK_CASES == tuple(cases.builtin_names()) == plotting.CASE_ORDER
    make = (REPO / "Makefile").read_text()
    assert "s2r cases --names" in make and "band_gap" not in make


def test_committed_notebooks_pages_and_toc_are_the_templates_output():
    """notebooks/*.ipynb, book/cases/*.md and the toc's case list are generated: `s2r book-pages` is a no-op."""
    for name in cases.builtin_names():
        case = cases.get_case(name)
        assert (REPO / "notebooks" / case.notebook).read_text() == notebooks.notebook_text(case), name
        assert (REPO / "book" / "cases" / f"{name}.md").read_text() == casepages.page_text(case), name
        assert (REPO / "book" / "cases" / f"{name}_details.md").read_text() == casepages.details_text(case), name
    toc = (REPO / "_toc.yml").read_text()
    assert casepages.toc_text(toc, cases.names()) == toc


def test_templates_differ_only_by_the_case():
    fe, bg, chi = (json.loads(notebooks.notebook_text(n)) for n in ("formation_enthalpy", "band_gap", "chi"))

    def code(nb):
        return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]

    assert code(chi) == [s.replace('"band_gap"', '"chi"') for s in code(bg)]
    assert len(fe["cells"]) == len(bg["cells"]) + 2  # the unit check, from the case file's `check`
    assert "enthalpy_unit_check()" in "".join(fe["cells"][7]["source"])
    assert bg["cells"][1]["metadata"] == {"tags": ["parameters"]}
    one_m = dataclasses.replace(cases.get_case("band_gap"), default_ms=(None,))  # a case with one experimental size
    assert "two_way_figure" in casepages.page_text("chi") and "two_way_figure" not in casepages.page_text(one_m)
    # the two-way section's words are the page's output (CasePage.two_way_intro, .equivalent_sample_size), so
    # that a table with a single m shows one sentence instead of them (tests/test_grid_state.py)
    assert "page.two_way_intro()" in casepages.page_text("chi") and "How many COSMO-RS samples buy" not in casepages.page_text("chi")
    with pytest.raises(ParameterError, match="placeholder"):
        notebooks.render("{{nope}}", {})


def test_page_fields_objectives_alt_texts_and_caveats():
    fe, bg, pd_, chi = (casepages.page_text(n) for n in ("formation_enthalpy", "band_gap", "polymer_density", "chi"))
    details = {n: casepages.details_text(n) for n in ("formation_enthalpy", "band_gap", "polymer_density", "chi")}
    # the caveats section only where the case file asks for it (and s2rlib.book.caveats knows the case), on the
    # details page, where the chapter points
    assert [("page.caveats()" in p) for p in details.values()] == [True, True, False, False]
    assert not any("page.caveats()" in p for p in (fe, bg, pd_, chi))
    assert "python -m s2rlib.book.caveats band_gap" in details["band_gap"]
    assert all("{doc}`its details page <%s_details>`" % n in p for n, p in zip(details, (fe, bg, pd_, chi)))
    # the case's own bullets only (what is the same for every case is in the method chapter), the last with a stop
    learn = bg.split("What you will learn\n:class: tip\n")[1].split("```")[0]
    assert learn.startswith("* whether pretraining on PBE band gaps") and learn.count("* ") == 1 and learn.endswith(".\n")
    learn = fe.split("What you will learn\n:class: tip\n")[1].split("```")[0]
    assert learn.count("* ") == 2 and learn.split("\n")[0].endswith(";") and learn.endswith("data.\n")
    one_m = casepages.page_text(dataclasses.replace(cases.get_case("band_gap"), default_ms=(None,)))
    assert "## Flory–Huggins χ with fewer experiments" in chi and "with fewer experiments" not in one_m
    assert "page.two_way_params()" in details["band_gap"]
    assert "page.two_way_params()" not in casepages.details_text(dataclasses.replace(cases.get_case("band_gap"),
                                                                                   default_ms=(None,)))
    # captions and headings name the case (prose shared by every case lives in the method chapter)
    assert "Band gap: test MAE in eV against n" in bg and "Flory–Huggins χ: test MAE against n" in chi
    # the chapter opens with its key result and its figure, before the case's own introduction
    assert chi.index("page.key_result()") < chi.index("page.figure()") < chi.index("The Flory–Huggins parameter")
    assert "## What this case shows" not in chi and "hide-input" not in chi and "page.findings()" not in chi
    # every table the chapter used to show is on its details page, each piece once
    pieces = ("page.header()", "page.data()", "page.fit_summary()", "page.params()", "page.points()",
              "page.baseline_gain(sentence=False)", "page.simulation_baseline(sentence=False)", "page.extrapolation()",
              "page.forms()", "page.derived()", "page.two_way_params()", "page.equivalent_sample_size()",
              "page.recipes()", "page.provenance()")
    assert all(details["chi"].count(p) == 1 for p in pieces), [p for p in pieces if details["chi"].count(p) != 1]
    assert [("page.sensitivity()" in p) for p in details.values()] == [True, True, False, False]
    assert details["chi"].startswith(chi[:chi.index("# ")]) and "{doc}`chi`" in details["chi"]
    # the default alt text (what `s2r new-case` writes) is the built-in one where property and units say it all
    assert cases.get_case("band_gap").prose["page"]["figure_alt"] == casepages.default_figure_alt(cases.get_case("band_gap"))
    assert "test MAE in" not in casepages.default_figure_alt(cases.get_case("chi"))  # dimensionless: no units
    assert "(50, 100, 300, all)" in casepages.default_two_way_figure_alt(cases.get_case("chi"))
    # inverted blocks, and an unknown block key is an error like an unknown value
    assert notebooks.render("{{^k}}no\n{{/k}}{{#k}}yes\n{{/k}}", {"k": False}) == "no\n"
    assert notebooks.render("{{^k}}no\n{{/k}}{{#k}}yes\n{{/k}}", {"k": True}) == "yes\n"
    with pytest.raises(ParameterError, match="block"):
        notebooks.render("{{#nope}}x{{/nope}}", {})
    # an alt text with quotes and a backslash stays one valid YAML string in the cell's front matter

    import yaml

    bg_case = cases.get_case("band_gap")
    odd = 'a "quoted" gap \\ in eV: yes'
    spec = {**bg_case.spec, "page": {**bg_case.spec["page"], "figure_alt": odd}}
    page = casepages.page_text(dataclasses.replace(bg_case, spec=spec))
    front = page.split("```{code-cell} ipython3\n---\n")[1].split("\n---\n")[0]
    assert yaml.safe_load(front)["mystnb"]["image"]["alt"] == odd
    # caveats = true on a case s2rlib.book.caveats does not know: a clear error when the page is rendered
    spec = {**bg_case.spec, "page": {**bg_case.spec["page"], "caveats": True}}
    with pytest.raises(ParameterError, match=r"my\.toml: \[page\] caveats = true, but .* only for \['formation_enthalpy'"):
        casepages.page_text(dataclasses.replace(bg_case, name="my_gap", file="my.toml", spec=spec))


@pytest.mark.parametrize("line, message", [
    ("objectives = []", r"\[page\] objectives=\[\]: expected a non-empty list"),
    ('objectives = ["ok", ""]', r"\[page\] objectives=\['ok', ''\]: expected a non-empty list"),
    ('caveats = "yes"', r"\[page\] caveats='yes': expected true or false"),
    ("figure_alt = 3", r"\[page\] figure_alt=3: expected a non-empty string"),
])
def test_page_field_errors_name_the_file_and_key(line, message):
    text = casefile.dumps({"name": "x_1", "title": "t", "kind": "composition", "property": "gap", "units": "eV",
                           "grouping": "reduced formula", "source": {"path": "/s.csv", "sha256": "0" * 64},
                           "target": {"path": "/t.csv", "sha256": "1" * 64},
                           "grid": {"ns": [0, "all"], "ms": ["all"], "trials": 2}})
    with pytest.raises(ParameterError, match=r"x\.toml: " + message):
        casefile.parse(text + "\n[page]\n" + line + "\n", "x.toml")


def test_case_file_writer_round_trip_and_parse_errors():
    spec = {"name": "x_1", "title": 'a "quoted" title', "kind": "composition", "property": "gap",
            "units": "eV", "grouping": "reduced formula",
            "source": {"path": "/a b/ü.csv", "sha256": "0" * 64}, "target": {"path": "/t.csv", "sha256": "1" * 64},
            "grid": {"ns": [0, 10, "all"], "ms": ["all"], "trials": 2}, "page": {"intro": "a paragraph\nwith a line"}}
    text = casefile.dumps(spec)
    assert casefile.parse(text, "x") == spec
    with pytest.raises(ParameterError, match="a control character or line break"):
        casefile.parse(casefile.dumps({**spec, "title": "a\nb"}), "x.toml")  # a title is one line
    with pytest.raises(ParameterError, match=r"x\.toml: \[grid\] ns entry -1"):
        casefile.parse(text.replace("[0, 10,", "[-1, 10,"), "x.toml")
    with pytest.raises(ParameterError, match="missing key"):
        casefile.parse('name = "x"', "x.toml")
    with pytest.raises(ParameterError, match="not valid TOML"):
        casefile.parse("name = ", "x.toml")
    with pytest.raises(ParameterError, match="case name 'Bad-Name'"):
        casefile.check_name("Bad-Name")


# ------------------------------------------------------------------------------ repeat units


@pytest.mark.parametrize("framings", [
    ["*CC*", "*C*", "*CCCC*", "[*]CCC[*]"],  # polyethylene
    ["*OCC*", "*CCO*", "*COC*", "*OCCOCC*"],  # poly(ethylene oxide): rotations and a doubled unit
    ["*CC(*)c1ccccc1", "*C(c1ccccc1)C*", "*CC(c1ccccc1)CC(*)c1ccccc1"],  # polystyrene
    ["*c1ccc(*)cc1", "*c1ccc(-c2ccc(*)cc2)cc1"],  # poly(p-phenylene): cut between rings only
    ["*Oc1ccc(C(C)(C)c2ccc(OC(*)=O)cc2)cc1", "*OC(=O)Oc1ccc(C(C)(C)c2ccc(*)cc2)cc1"],  # bisphenol-A PC
])
def test_one_polymer_one_repeat_unit(framings):
    assert len({canonical_repeat_unit(s) for s in framings}) == 1


def test_different_polymers_stay_different():
    # head-to-head polypropylene is not polypropylene; a ring bond is never cut; cis is not trans
    assert canonical_repeat_unit("*CC(C)C(C)C*") != canonical_repeat_unit("*CC(*)C")
    assert canonical_repeat_unit("*C/C=C\\C*") != canonical_repeat_unit("*C/C=C/C*")
    assert canonical_repeat_unit("*CC(*)C") == canonical_repeat_unit("*CC(C)CC(C)*")
    ids, errors = parse_repeat_units(["*CC*", "CCO", "*CC(*", "", "*C(*)*"])
    assert ids[0] == "*C*" and sorted(errors) == [1, 2, 3, 4]
    assert "two '*'" in errors[1] and "two '*'" in errors[4]


# -------------------------------------------------------------------------- s2r new-case


def test_new_case_from_the_example_and_loading_it(cases_dir, tmp_path):
    path = new_case.new_case("ex_gap", EXAMPLE / "sim_band_gap.csv", EXAMPLE / "exp_band_gap.csv",
                            kind="composition", units="eV", title="Example")
    assert path == cases_dir / "ex_gap.toml" and [p.name for p in cases_dir.iterdir()] == ["ex_gap.toml"]
    case = cases.get_case("ex_gap")
    assert not case.builtin and case.notebook == "" and case.default_ns[0] == 0 and case.default_ns[-1] == "all"
    assert case.spec["source"]["path"] == str((EXAMPLE / "sim_band_gap.csv").resolve())
    data = cases.load_case("ex_gap")
    # 2,000 source rows are 1,937 compositions (polymorphs merged); 300 target rows, 7 of them in the source
    assert (data.n_source, data.n_target, len(data.feature_names)) == (1937, 300, 62)
    assert data.notes["target_in_source"] == 7 and data.notes["source_duplicates_merged"] == 63
    assert data.source_groups is not None and set(data.source_groups) == set(data.source_ids)
    assert np.isfinite(data.y_target_sim).sum() == 7  # the simulation baseline where the source has the material
    exp = pd.read_csv(EXAMPLE / "exp_band_gap.csv")
    assert np.isclose(data.y_target.mean(), exp["target"].mean(), rtol=1e-6)  # no duplicates to merge there
    assert {f["sha256"] for f in data.files} == {casefile.parse((cases_dir / "ex_gap.toml").read_text(), "x")[s]["sha256"]
                                                 for s in ("source", "target")}
    # the same template as the built-in cases: a notebook next to the case file, a page and a toc entry
    from s2rlib.grid import runner as grid

    nb = grid.default_notebook("ex_gap")
    assert nb == cases_dir / "ex_gap.ipynb" and 'case = \\"ex_gap\\"' in nb.read_text()
    root = tmp_path / "checkout"
    (root / "book" / "cases").mkdir(parents=True)
    shutil.copy(REPO / "_toc.yml", root / "_toc.yml")
    assert cli.main(["book-page", "ex_gap", "--root", str(root)]) == 0
    page = (root / "book" / "cases" / "ex_gap.md").read_text()
    assert page == casepages.page_text("ex_gap") and 'CasePage("ex_gap")' in page and "# Example" in page
    # the new [page] fields get defaults: a generic objective, an alt text from property and units, no caveats
    written = casefile.parse((cases_dir / "ex_gap.toml").read_text(), "x")["page"]
    assert written["caveats"] is False and written["objectives"] == casepages.default_objectives(case)
    assert "Log-log plot of the target test MAE in eV against the number n" in page
    assert "* whether pretraining on computed target values lowers" in page and "page.caveats()" not in page
    assert (root / "book" / "cases" / "ex_gap_details.md").read_text() == casepages.details_text("ex_gap")
    toc = (root / "_toc.yml").read_text()
    assert toc.index("book/cases/chi\n") < toc.index("book/cases/ex_gap\n") < toc.index("book/summary")
    # each chapter with its details page as its one section, the toc rewritten again unchanged
    assert "- file: book/cases/ex_gap\n        sections:\n          - file: book/cases/ex_gap_details\n" in toc
    assert toc.count("book/cases/chi_details") == 1 and casepages.toc_text(toc, cases.names()) == toc


def test_a_changed_csv_is_refused(cases_dir, tmp_path):
    src = shutil.copy(EXAMPLE / "sim_band_gap.csv", tmp_path / "sim.csv")
    tgt = shutil.copy(EXAMPLE / "exp_band_gap.csv", tmp_path / "exp.csv")
    new_case.new_case("changing", src, tgt, kind="composition", units="eV")
    with open(tgt, "a") as fh:
        fh.write("NaCl,8.5\n")
    with pytest.raises(ChecksumError, match=r"exp\.csv: the changing_target file changed since the case was created"):
        cases.load_case("changing")


def test_a_polymer_case_matches_framings(cases_dir, tmp_path):
    pi = pd.read_csv(SHARED / "RadonPy" / "PI1070.csv", usecols=["smiles", "density"]).dropna().head(40)
    src = pi.iloc[:30].rename(columns={"density": "target"})
    tgt = pi.iloc[20:40].rename(columns={"density": "target"}).assign(target=lambda d: d["target"] * 1.05)
    tgt = pd.concat([tgt, pd.DataFrame({"smiles": ["*CCCC*", "*CC*"], "target": [0.92, 0.94]})])  # one polymer
    src = pd.concat([src, pd.DataFrame({"smiles": ["*C*"], "target": [0.85]})])
    src.to_csv(tmp_path / "sim.csv", index=False)
    tgt.to_csv(tmp_path / "exp.csv", index=False)
    assert cli.main(["new-case", "poly", "--source", str(tmp_path / "sim.csv"), "--target",
                     str(tmp_path / "exp.csv"), "--kind", "polymer", "--units", "g/cm^3", "--property", "density"]) == 0
    data = cases.load_case("poly")
    assert data.n_target == 21 and data.notes["target_duplicates_merged"] == 1  # *CCCC* and *CC* merged
    assert data.notes["target_in_source"] == 11  # 10 shared PI1070 rows + polyethylene
    pe = list(data.target_ids).index("*C*")
    assert np.isclose(data.y_target[pe], 0.93)


BAD = {  # name: (source text, target text, kind, expected message)
    "missing column": (_rows(zip(OXIDES, range(20))), "formula,value\nFeO,1\n", "composition",
                       r"exp\.csv: missing column\(s\) \['target'\]; found \['formula', 'value'\]"),
    "misnamed column": (_rows(zip(OXIDES, range(20))), "Formula,target\nFeO,1\n", "composition",
                        r"rename 'Formula' -> 'formula'"),
    "empty file": (_rows(zip(OXIDES, range(20))), "", "composition", r"exp\.csv: the file is empty"),
    "header only": (_rows(zip(OXIDES, range(20))), "formula,target\n", "composition", r"exp\.csv: no data rows"),
    "non-numeric target": (_rows(zip(OXIDES, range(20))), _rows([("FeO", 1), ("Fe2O3", "n/a"), ("FeO2", 2)]),
                           "composition", r"exp\.csv: column 'target' has 1 non-numeric.*line\(s\) \[3\]"),
    "infinite target": (_rows(list(zip(OXIDES, range(19))) + [("Fe9O9", "inf")]), _rows(zip(TARGET, range(15))),
                        "composition", r"sim\.csv: column 'target' has 1 .*infinite.*line\(s\) \[21\]"),
    "bad formula": (_rows(zip(OXIDES, range(20))), _rows([("FeO", 1), ("Fe2O3", 1), ("Qq2Zz", 1)] * 5),
                    "composition", r"exp\.csv: 5 unparseable formula\(s\), first: line 4 \('Qq2Zz'\)"),
    # blank lines count: the line named is the one an editor shows (here the header, two blank lines, FeO)
    "bad formula after blank lines": (_rows(zip(OXIDES, range(20))),
                                      "formula,target\n\n\nFeO,1\nFe2O3,1\n\nQq2Zz,1\n" + _rows(zip(TARGET[:14], range(14)))[15:],
                                      "composition", r"exp\.csv: 1 unparseable formula\(s\), first: line 7 \('Qq2Zz'\)"),
    "non-numeric target after blank lines": (_rows(zip(OXIDES, range(20))), "formula,target\n\nFeO,1\n\n\nFe2O3,n/a\n",
                                             "composition", r"column 'target' has 1 non-numeric.*line\(s\) \[6\]"),
    "bad SMILES after a blank line": ("smiles,target\n" + "".join(f"*{'C' * i}O*,{i}\n" for i in range(1, 21)),
                                      "smiles,target\n*CCO*,1\n\n\n*CC(*,2\n", "polymer", r"line 5 \('\*CC\(\*'\)"),
    "bad SMILES": ("smiles,target\n" + "".join(f"*{'C' * i}O*,{i}\n" for i in range(1, 21)),
                   "smiles,target\n*CCO*,1\n*CC(*,2\n", "polymer", r"exp\.csv: 1 unparseable polymer SMILES, first: "
                                                                   r"line 3 \('\*CC\(\*'\)"),
    "SMILES not a repeat unit": ("smiles,target\n" + "".join(f"*{'C' * i}O*,{i}\n" for i in range(1, 21)),
                                 "smiles,target\n*CCO*,1\nCCO,2\n", "polymer", r"line 3 \('CCO'\): a polymer repeat "
                                                                               r"unit needs exactly two '\*'"),
    "too few to split": (_rows(zip(OXIDES, range(20))), _rows(zip(TARGET[:12], range(12))), "composition",
                         r"exp\.csv: 12 distinct experimental sample\(s\) .* too few: .* about 7\.7 train / 1\.9 validation / "
                         r"2\.4 test samples, short of the 8/2/2 it needs \(at least 13 samples"),
    "duplicates leave too few": (_rows(zip(OXIDES, range(20))), _rows(zip(["FeO", "Fe2O2"] * 10, range(20))),
                                 "composition", r"1 distinct experimental sample"),
    "kind mismatch": (_rows(zip(OXIDES, range(20))), "smiles,target\n*CC*,1\n", "composition",
                      r"exp\.csv: it has a 'smiles' column, i\.e\. polymer data, but the case's kind is 'composition'"),
    "no overlap": (_rows(zip(OXIDES, range(20))), _rows(zip([f"Na{i}Cl{j}" for i in (1, 2, 3, 5) for j in (7, 11, 13, 17)],
                                                            range(16))),
                   "composition", r"exp\.csv: no element of the target's compositions occurs in the source"),
}


@pytest.mark.parametrize("problem", list(BAD))
def test_bad_user_files_get_a_clear_error_and_nothing_is_written(problem, cases_dir, tmp_path, capsys):
    source, target, kind, message = BAD[problem]
    src, tgt = _csv(tmp_path / "sim.csv", source), _csv(tmp_path / "exp.csv", target)
    with pytest.raises(DataError, match=message):
        new_case.new_case("mine", src, tgt, kind=kind, units="eV")
    assert list(cases_dir.iterdir()) == [] and "mine" not in cases.CASES
    # the command says the same in one line, with exit status 2
    assert cli.main(["new-case", "mine", "--source", str(src), "--target", str(tgt), "--kind", kind,
                     "--units", "eV", "--property", "band gap"]) == 2
    assert capsys.readouterr().err.startswith("s2r: error: ")
    assert list(cases_dir.iterdir()) == []


def test_names_that_collide_or_are_malformed(cases_dir, tmp_path):
    src, tgt = EXAMPLE / "sim_band_gap.csv", EXAMPLE / "exp_band_gap.csv"
    with pytest.raises(ParameterError, match=r"case name 'band_gap' is taken \(.*band_gap\.toml\)"):
        new_case.new_case("band_gap", src, tgt, kind="composition", units="eV")
    with pytest.raises(ParameterError, match="case name 'My-Gap'"):
        new_case.new_case("My-Gap", src, tgt, kind="composition", units="eV")
    assert list(cases_dir.iterdir()) == []
    new_case.new_case("mine", src, tgt, kind="composition", units="eV")
    with pytest.raises(ParameterError, match=r"case name 'mine' is taken \(.*my_cases/mine\.toml\)"):
        new_case.new_case("mine", src, tgt, kind="composition", units="eV")
    with pytest.raises(DataUnavailableError, match=r"nope\.csv does not exist"):
        new_case.new_case("other", tmp_path / "nope.csv", tgt, kind="composition", units="eV")
    assert sorted(p.name for p in cases_dir.iterdir()) == ["mine.toml"]


def test_a_broken_user_case_file_is_named_and_does_not_stop_the_others(cases_dir):
    (cases_dir / "broken.toml").write_text('name = "broken"\ntitle = "x"\n')
    (cases_dir / "wrong_name.toml").write_text(casefile.dumps({**cases.get_case("band_gap").spec, "name": "other"}))
    cases.reload()
    assert "band_gap" in cases.CASES and "broken" not in cases.CASES and "other" not in cases.CASES
    with pytest.raises(ParameterError, match=r"unknown case 'broken'.*unreadable: case file .*broken\.toml: missing key"):
        cases.get_case("broken")
    assert "must match the file name" in cases.PROBLEMS[str(cases_dir / "wrong_name.toml")]


def test_the_example_files_are_the_ones_their_readme_names_and_the_tool_cuts():
    """Every example CSV's sha256 is the one its README lists, and ``tools/make_example_data.py`` cuts the
    formation-enthalpy pair again byte for byte from the vendored and mirrored data (a changed draw, unit
    conversion or source shows here)."""
    import hashlib
    import re
    import subprocess
    import sys

    readme = (EXAMPLE / "README.md").read_text()
    listed = dict(re.findall(r"^\| (\S+\.csv) \|.*\| ([0-9a-f]{64}) \|$", readme, re.M))
    assert set(listed) == {p.name for p in EXAMPLE.glob("*.csv")}
    for name, digest in listed.items():
        assert hashlib.sha256((EXAMPLE / name).read_bytes()).hexdigest() == digest, name
    out = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "tools" / "make_example_data.py"),
                          "--check"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("unchanged") == 2
