"""Polymer case data: loaders' schema and counts, SMILES handling, checksum and user-CSV errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from s2rlib.cases import registry as cases
from s2rlib.datasets import registry as datasets
from s2rlib.datasets import polymers
from s2rlib._core.errors import ChecksumError, DataError, ParameterError
from s2rlib.features import molecules


@pytest.fixture(scope="module")
def density():
    return polymers.load_polymer_density()


@pytest.fixture(scope="module")
def chi():
    return polymers.load_chi()


def test_density_schema_and_counts(density):
    d = density
    n_feat = len(molecules.feature_names())
    assert d.X_source.shape == (1077, n_feat) and d.X_target.shape == (1693, n_feat)
    assert d.units == "g/cm^3" and d.case == "polymer_density"
    assert d.notes["source_polymers"] == 1077 and d.notes["target_polymers"] == 1693
    # 512 experimental polymers share their canonical SMILES with a PI1070 one, 20 more are the same
    # polymer written with another repeat unit (canonical repeat unit, s2rlib.features.repeat_unit)
    assert d.notes["target_in_source"] == 532
    assert d.notes["target_unparseable_dropped"] == 0 and d.notes["source_duplicates_merged"] == 0
    assert np.isfinite(d.X_source).all() and np.isfinite(d.X_target).all()
    assert 0.7 < d.y_source.min() and d.y_source.max() < 2.0
    assert abs(float(d.y_target.mean()) - 1.2388) < 1e-3
    assert {f["key"] for f in d.files} == {"radonpy_pi1070", "polymon_database"}
    # groups are the canonical identities, one per merged polymer
    assert (d.groups_target == d.target_ids).all() and len(set(d.groups_target)) == d.n_target
    for smi in d.groups_target[:20]:
        assert molecules.canonical_smiles(smi) == smi
    assert "*C*" in set(d.source_ids) and "*CC*" not in set(d.source_ids)  # polyethylene, one framing
    # the packing-free density proxy tracks the MD density
    j = d.feature_names.index("vdw_density")
    assert np.corrcoef(d.X_source[:, j], d.y_source)[0, 1] > 0.85


def test_density_with_mafa():
    d = polymers.load_polymer_density(source="radonpy+mafa")
    assert d.notes["source_rows"] == 1077 + 315
    # 171 MAFA-MD polymers are PI1070 ones (131 by canonical SMILES, 40 more by canonical repeat unit)
    assert d.n_source == 1221 and d.notes["source_duplicates_merged"] == 171
    assert d.notes["target_in_source"] == 592


def test_chi_schema_and_counts(chi):
    c = chi
    assert c.X_source.shape == (1206, 2 * len(molecules.feature_names()) + 1)
    assert c.X_target.shape[0] == 1190 and c.units == "dimensionless"
    assert c.feature_names[-1] == "inv_T" and c.feature_names[0].startswith("p_")
    n = c.notes
    assert (n["source_pairs"], n["target_pairs"], n["target_pairs_in_source"]) == (761, 766, 761)
    assert n["target_points_in_source"] == 1178 and (n["polymers"], n["solvents"]) == (46, 140)
    assert np.allclose(c.X_target[:, -1], 1000.0 / c.T_target)
    assert c.T_target.min() == pytest.approx(273.15) and c.T_target.max() == pytest.approx(502.15)
    assert np.isfinite(c.X_source).all() and np.isfinite(c.X_target).all()
    # groups are "<canonical repeat unit>_<canonical solvent>"; every polymer carries two '*'
    for pair in c.groups_target[:30]:
        p, s = pair.split("_")
        assert p.count("*") == 2 and "*" not in s
        assert molecules.canonical_smiles(p) == p and molecules.canonical_smiles(s) == s
    assert (c.groups_target == c.target_ids).all()
    # a pair sits in several rows (temperatures) but a row's group is exactly its pair
    assert len(set(c.groups_target)) == 766 < c.n_target


def test_star_smiles_equivalent_spellings():
    spellings = ["*CC(*)c1ccccc1", "c1ccccc1C(*)C*", "[*]CC([*])c1ccccc1", "[1*]CC([2*])c1ccccc1", "*C([H])C(*)c1ccccc1"]
    canon = {molecules.canonical_smiles(s) for s in spellings}
    assert len(canon) == 1
    X, parsed = molecules.featurize_smiles(spellings)
    assert parsed.ok.all() and np.allclose(X, X[0])
    names = molecules.feature_names()
    f = dict(zip(names, X[0]))
    assert f["n_attach"] == 2 and f["backbone_atoms"] == 2 and f["n_H"] == 8
    assert f["ru_mass"] == pytest.approx(104.15, abs=0.01)  # C8H8, caps excluded
    # intensive columns do not depend on the repeat-unit framing; a '=*' gets two caps
    X2, _ = molecules.featurize_smiles(["*C*", "*CC*", "*=CC=*"])
    for name in ("vdw_density", "H_per_heavy_atom", "frac_C"):
        assert X2[0, names.index(name)] == pytest.approx(X2[1, names.index(name)])
    assert X2[2, names.index("n_H")] == 2
    # solvents: explicit hydrogens and stereo-defining hydrogens are normalised away
    assert molecules.canonical_smiles("[H]/C(Cl)=C(/[H])Cl") == molecules.canonical_smiles("Cl/C=C/Cl")


def test_unparseable_smiles(caplog):
    smiles = ["*CC*", "C1CC", "CC(C)(C)(C)(C)C", "", "CCO"]
    with caplog.at_level(logging.WARNING):
        X, parsed = molecules.featurize_smiles(smiles, location="f.csv")
    assert parsed.ok.tolist() == [True, False, False, False, True]
    assert sorted(parsed.errors) == [1, 2, 3] and np.isnan(X[1:4]).all() and np.isfinite(X[[0, 4]]).all()
    assert "dropping 3 unparseable SMILES" in caplog.text and "line 3" in caplog.text
    with pytest.raises(DataError, match=r"f\.csv.*3 unparseable.*line 3 \('C1CC'\)"):
        molecules.featurize_smiles(smiles, location="f.csv", on_error="raise")
    with pytest.raises(DataError, match="C1CC"):
        molecules.canonical_smiles("C1CC")


def test_checksum_failure_names_file(tmp_path, monkeypatch):
    src = datasets.mirror_dir() / "RadonPy" / "PI1070.csv"
    dst = tmp_path / "RadonPy" / "PI1070.csv"
    dst.parent.mkdir()
    dst.write_bytes(src.read_bytes()[:5000])  # truncated copy in a throw-away mirror
    monkeypatch.setenv(datasets.MIRROR_ENV, str(tmp_path))
    with pytest.raises(ChecksumError, match="PI1070.csv"):
        polymers.load_polymer_density(use_cache=False)


def test_user_target_csv(tmp_path, caplog):
    path = tmp_path / "ri.csv"
    path.write_text("smiles,value\n*CC*,1.49\n[*]CC[*],1.51\n*CC(*)c1ccccc1,1.59\nnot_a_smiles(,1.5\n*CC(*)C,1.49\n")
    with caplog.at_level(logging.WARNING):
        d = polymers.load_polymer_density(target_csv=path, property="refractive_index")
    assert d.units == "dimensionless" and d.case == "polymer_refractive_index"
    assert d.n_source == 1075 and d.notes["source_missing_value_dropped"] == 2
    assert d.n_target == 3 and d.notes["target_duplicates_merged"] == 1
    assert d.notes["target_unparseable_lines"] == [5] and "not_a_smiles" in caplog.text
    y = dict(zip(d.target_ids, d.y_target))
    assert y["*C*"] == pytest.approx(1.50)  # polyethylene: *CC* and [*]CC[*] are one repeat unit, *C*
    assert d.notes["target_in_source"] == 3  # PE, PS and PP are all in PI1070
    assert path.name in {f["key"] for f in d.files}


def test_user_target_csv_errors(tmp_path):
    missing = tmp_path / "missing.csv"
    missing.write_text("smiles,density\n*CC*,0.9\n")
    with pytest.raises(DataError, match=r"missing\.csv.*missing column.*'value'"):
        polymers.load_polymer_density(target_csv=missing)
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,value\n*CC*,0.9\n*CC(*)C,abc\n")
    with pytest.raises(DataError, match=r"bad\.csv.*line\(s\) \[3\]"):
        polymers.load_polymer_density(target_csv=bad)
    with pytest.raises(ParameterError, match="refractive_index"):
        polymers.load_polymer_density(property="tg")
    with pytest.raises(ParameterError, match="target_csv"):
        polymers.load_polymer_density(property="Cp")
    with pytest.raises(ParameterError, match="radonpy"):
        polymers.load_polymer_density(source="pi1070")


def test_cases_registered():
    d, c = cases.get_case("polymer_density"), cases.get_case("chi")
    assert d.notebook == "polymer_density.ipynb" and d.units == "g/cm^3" and d.default_ns[-1] == "all"
    assert c.notebook == "chi.ipynb" and c.units == "dimensionless" and c.default_ms[-1] is None
    assert {"band_gap", "formation_enthalpy"} <= set(cases.CASES)
