"""Composition descriptors (issue 28 item 7): Magpie as matminer computes it, the element embeddings, the
vendored tables' sha256, the feature cache keyed on the descriptor, and Recipe.descriptor leaving every
existing grid's recorded recipe and params id as they were.

``tests/data/magpie_matminer.json`` holds matminer 0.10.1's own numbers
(``ElementProperty.from_preset("magpie").featurize``) for 20 formulas, written in a throwaway
environment by ``tools/vendor_element_tables.py --magpie-fixture``; matminer is not a dependency.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2rlib._core.errors import ChecksumError, DataError, ParameterError
from s2rlib.datasets import inorganic
from s2rlib.datasets import registry as datasets
from s2rlib.features import cache, composition, descriptors, element_data
from s2rlib.training.params import validate_params, validate_recipe
from s2rlib.training.transfer import Recipe

REPO = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((REPO / "tests" / "data" / "magpie_matminer.json").read_text())


def test_magpie_reproduces_matminer_on_twenty_formulas():
    assert FIXTURE["source"].startswith("matminer==0.10.1 ")
    assert descriptors.feature_names("magpie") == FIXTURE["labels"]  # 22 properties x 6 statistics, matminer's order
    X = descriptors.featurize(FIXTURE["formulas"], "magpie")
    expected = np.array(FIXTURE["values"])
    assert X.shape == expected.shape == (20, 132)
    np.testing.assert_allclose(X, expected, rtol=1e-10, atol=1e-10)
    # the fixture exercises what a plausible mistake would get wrong: matminer's NaN fill (He has no melting
    # point or electronegativity), the mode's tie rule (Fe0.5Ni0.5: the smaller value) and avg_dev, not a std
    he = FIXTURE["formulas"].index("He")
    mean_t = FIXTURE["labels"].index("MagpieData mean MeltingT")
    magpie = element_data.load("magpie")
    assert np.isnan(magpie.values[1, magpie.columns.index("MeltingT")])
    assert expected[he, mean_t] == pytest.approx(np.nanmean(magpie.values[:, magpie.columns.index("MeltingT")]))
    fe_ni = FIXTURE["formulas"].index("Fe0.5Ni0.5")
    assert expected[fe_ni, FIXTURE["labels"].index("MagpieData mode Number")] == 26.0
    nacl = FIXTURE["formulas"].index("NaCl")
    assert expected[nacl, FIXTURE["labels"].index("MagpieData avg_dev Number")] == pytest.approx(3.0)  # |11-17|/2


def test_vendored_tables_match_their_pinned_sha256_and_the_readme(tmp_path, monkeypatch):
    readme = (REPO / "src" / "s2rlib" / "data" / "elements" / "README.md").read_text()
    for name, digest in element_data.SHA256.items():
        data = element_data.path(name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
        assert digest in readme and f"`{name}.csv.gz`" in readme
        rows = pd.read_csv(io.BytesIO(gzip.decompress(data)))
        assert list(rows.columns[:2]) == ["element", "Z"] and rows["element"].is_unique
    for lic in ("LICENSE.matminer", "LICENSE.elementembeddings"):
        assert (REPO / "src" / "s2rlib" / "data" / "elements" / lic).is_file()
    assert element_data.load("mat2vec").values.shape == (118, 200)
    assert len(element_data.load("oliynyk").columns) == 44
    # a changed byte is refused, never read
    bad = tmp_path / "oliynyk.csv.gz"
    raw = bytearray(element_data.path("oliynyk").read_bytes())
    raw[-9] ^= 1
    bad.write_bytes(bytes(raw))
    monkeypatch.setattr(element_data, "path", lambda name: bad)
    with pytest.raises(ChecksumError, match="sha256"):
        element_data.read_verified("oliynyk")


def test_embedding_statistics_are_fraction_weighted_mean_dev_min_max():
    table = element_data.load("mat2vec")
    na, cl, fe, o = (table.values[z - 1] for z in (11, 17, 26, 8))
    X = descriptors.featurize(["NaCl", "Fe2O3"], "mat2vec").reshape(2, 200, 4)
    np.testing.assert_allclose(X[0, :, 0], (na + cl) / 2)
    np.testing.assert_allclose(X[0, :, 1], np.abs(na - cl) / 2)
    np.testing.assert_allclose(X[0, :, 2], np.minimum(na, cl))
    np.testing.assert_allclose(X[0, :, 3], np.maximum(na, cl))
    mean = 0.4 * fe + 0.6 * o
    np.testing.assert_allclose(X[1, :, 0], mean)
    np.testing.assert_allclose(X[1, :, 1], np.sqrt(0.4 * (fe - mean) ** 2 + 0.6 * (o - mean) ** 2))
    assert descriptors.feature_names("mat2vec")[:4] == ["mat2vec mean 0", "mat2vec dev 0", "mat2vec min 0",
                                                         "mat2vec max 0"]


def test_an_element_the_table_lacks_is_named_or_filled_with_the_table_mean():
    with pytest.raises(DataError, match=r"'PuO2'.*\['Pu'\]"):
        descriptors.featurize(["NaCl", "PuO2"], "oliynyk", on_missing="raise")
    t = element_data.load("oliynyk")
    assert not t.listed[93] and t.listed[91]  # Pu (Z 94) missing, U (Z 92) there
    X = descriptors.featurize(["Pu"], "oliynyk").reshape(44, 4)
    np.testing.assert_allclose(X[:, 0], np.nanmean(t.values, axis=0))
    parsed = composition.parse_formulas(["NaCl", "PuO2", "NpN"])
    _, filled = descriptors.featurize_parsed(parsed, "oliynyk")
    assert filled == {1: ["Pu"], 2: ["Np"]}
    assert descriptors.featurize_parsed(parsed, "mat2vec")[1] == {}  # mat2vec has all 118 elements


def test_the_default_descriptor_is_todays_62_statistics_unchanged():
    formulas = ["NaCl", "Fe2O3", "LiFePO4", "not-a-formula"]
    X, _ = composition.featurize_formulas(formulas)
    np.testing.assert_array_equal(descriptors.featurize(formulas), X, strict=True)
    assert descriptors.feature_names() == composition.feature_names() and len(X[0]) == 62


def _loaded(sha: str = "a" * 64) -> datasets.LoadedFile:
    return datasets.LoadedFile("unit_test", b"", sha, "<unit test table>")


def test_the_feature_cache_keys_on_the_descriptor(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.FEATURE_CACHE_ENV, str(tmp_path))
    df = pd.DataFrame({"formula": ["NaCl", "Fe2O3", "PuO2", "GaAs"], "target": [5.0, 2.1, 1.0, 1.4]})
    out = {d: inorganic.composition_table(df, _loaded(), merge="mean", descriptor=d) for d in descriptors.DESCRIPTORS}
    assert len(list(tmp_path.glob("*.npz"))) == len(descriptors.DESCRIPTORS)
    # the default's entry is the one written before descriptors existed (same key parts), so caches stay valid
    old = cache.cache_key(sha256="a" * 64, featurizer="composition-v1", merge="mean", formula_col="formula",
                          value_col="target")
    assert (tmp_path / f"{old}.npz").is_file() and "filled_rows" not in out["composition"]
    assert {d: o["X"].shape[1] for d, o in out.items()} == {"composition": 62, "magpie": 132, "mat2vec": 800,
                                                            "oliynyk": 176}
    assert out["oliynyk"]["filled_rows"].tolist() == [list(out["oliynyk"]["reduced"]).index("PuO2")]
    again = inorganic.composition_table(df, _loaded(), merge="mean", descriptor="magpie")  # from its own entry
    np.testing.assert_array_equal(again["X"], out["magpie"]["X"])
    with pytest.raises(ParameterError, match="expected one of"):
        inorganic.composition_table(df, _loaded(), merge="mean", descriptor="magpi")


#: sha256 of json.dumps(Recipe().to_dict(), sort_keys=True) before Recipe.descriptor existed (commit 4fcb9d7)
DEFAULT_RECIPE_SHA256 = "7152630065c4618b8c3ddb57f65a16959e05ecb4c24e842ba25df23b3ffc9a43"


def test_default_descriptor_keeps_recorded_recipes_and_params_ids():
    from s2rlib.grid import results

    def sha(r: Recipe) -> str:
        return hashlib.sha256(json.dumps(r.to_dict(), sort_keys=True).encode()).hexdigest()

    assert Recipe().descriptor == "composition" and "descriptor" not in Recipe().to_dict()
    assert sha(Recipe()) == sha(validate_recipe({})) == DEFAULT_RECIPE_SHA256
    # a committed grid's points: their recorded recipe reads back to itself and gives the recorded params id
    table = pd.read_csv(REPO / "results" / "band_gap" / "results.csv", usecols=["params_id", "params"])
    for pid, params in table.drop_duplicates().itertuples(index=False):
        params = json.loads(params)
        recipe = Recipe.from_dict(params["recipe"])
        assert recipe.descriptor == "composition" and recipe.to_dict() == params["recipe"]
        assert results.params_id({**params, "recipe": recipe.to_dict()}) == pid
    magpie = validate_recipe({"descriptor": "magpie"})
    assert magpie.to_dict()["descriptor"] == "magpie" and Recipe.from_dict(magpie.to_dict()) == magpie
    base = {"trials": 20, "seed": 0, "threads": 1}
    assert results.params_id({**base, "recipe": magpie.to_dict()}) != results.params_id({**base, "recipe": Recipe().to_dict()})


def test_a_wrong_or_misplaced_descriptor_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"recipe.descriptor='magpi'.*\['composition', 'magpie', 'mat2vec', 'oliynyk'\]"):
        validate_recipe({"descriptor": "magpi"})
    with pytest.raises(ParameterError, match="case 'chi'.*composition descriptor"):
        validate_params("chi", 0, 1, 0, recipe={"descriptor": "magpie"})
    from s2rlib.cases import registry

    with pytest.raises(ParameterError, match="case 'polymer_density'"):
        registry.load_case("polymer_density", descriptor="mat2vec")


def test_a_grid_point_refuses_another_descriptor_until_one_is_adopted():
    """The grid notebooks load the default features: a grid with another descriptor would silently compute
    'composition' points under a 'magpie' id, so the grid's parameter check refuses it by name."""
    from s2rlib.training.params import validate_params

    for name in ("magpie", "mat2vec", "oliynyk"):
        with pytest.raises(ParameterError, match=rf"recipe.descriptor='{name}': a grid point computes the 'composition'"):
            validate_params("band_gap", 100, 2, 0, recipe={"descriptor": name})
    assert validate_params("band_gap", 100, 2, 0, recipe={"descriptor": "composition"})["n_source"] == 100


def _bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_descriptors", REPO / "benchmarks" / "descriptors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _study_rows(case: str, descriptor: str, n: str, val: list[float], mae: list[float], nonzero=None) -> pd.DataFrame:
    rows = []
    for seed, (v, m) in enumerate(zip(val, mae)):
        metrics = {"val_mae": v, "mae": m, "n_test": 20.0, "n_train": 64.0, "n_val": 16.0}
        if nonzero is not None:
            metrics["mae_nonzero"] = nonzero[seed]
        rows += [{"case": case, "step": descriptor, "n_source": int(n), "n_label": n, "trial": seed, "seed": seed,
                  "metric": k, "value": x, "selected_recipe": "full_lr1e-3"} for k, x in metrics.items()]
    return pd.DataFrame(rows)


def test_descriptor_report_pairs_trials_against_composition_and_validation_chooses():
    bench = _bench()
    df = pd.concat([
        _study_rows("band_gap", "composition", "0", [0.50, 0.52, 0.48], [0.60, 0.62, 0.58], [0.9, 1.0, 1.1]),
        _study_rows("band_gap", "magpie", "0", [0.45, 0.46, 0.44], [0.70, 0.73, 0.69], [0.8, 0.9, 1.0]),
        _study_rows("band_gap", "oliynyk", "0", [0.55, 0.56, 0.57], [0.50, 0.50, 0.50], [1.0, 1.1, 1.2]),
    ], ignore_index=True)
    table = bench.compare(df)
    row = table[(table.descriptor == "magpie") & (table.metric == "mae")].iloc[0]
    assert row["diff"] == pytest.approx(0.32 / 3) and row["diff_lo"] < 0.32 / 3 < row["diff_hi"]  # paired by seed
    assert row["diff_hi"] - row["diff_lo"] < 0.05  # paired: the trials' spread of 0.02 is not in the interval
    nz = table[(table.descriptor == "magpie") & (table.metric == "mae_nonzero")].iloc[0]
    assert nz["mean"] == pytest.approx(0.9) and nz["diff"] == pytest.approx(-0.1)
    pref = bench.preferred(table)
    # validation prefers magpie although its test MAE is worse: the test split never chooses
    assert pref["per_cell"] == {"band_gap n=0": "magpie"} and pref["overall"] == "magpie"
    text, _ = bench.report(df)
    assert "**magpie**" in text and "mae_nonzero" in text


def test_descriptor_study_steps_are_each_their_own_recipe_and_a_foreign_file_is_refused(tmp_path):
    bench = _bench()
    steps = bench.steps()
    rec = __import__("s2rlib.grid.recipe_study", fromlist=["recipes"]).recipes(steps)
    assert [s.name for s in steps] == list(descriptors.DESCRIPTORS)
    for d, r in rec.items():
        assert r == validate_recipe({**bench.RECIPE, "descriptor": d})
    path = tmp_path / "band_gap__magpie__n0.csv"
    other = validate_recipe({"descriptor": "magpie"})  # the fixed schedule: not this study's recipe
    pd.DataFrame([{"case": "band_gap", "step": "magpie", "n_label": "0", "recipe": json.dumps(other.to_dict())}]).to_csv(
        path, index=False)
    with pytest.raises(DataError, match="recorded recipe differs"):
        bench.run(cases=("band_gap",), descriptors=("magpie",), ns=(0,), trials=1, out=tmp_path)


def test_recipe_study_rows_give_the_mae_on_non_zero_values_where_the_property_has_zeros():
    import dataclasses

    from test_transfer import FAST, _metric, synthetic_case

    from s2rlib.training import transfer

    data = synthetic_case(4, n_source=600, n_target=200)
    data.y_source = np.maximum(data.y_source, 0).astype(np.float32)  # about half zeros, like band gaps
    data.y_target = np.maximum(data.y_target, 0).astype(np.float32)
    rec = dataclasses.replace(FAST, nonneg="auto")
    out = transfer.run_trials(data, 300, trials=2, seed=0, recipe=rec, progress=False, record_candidates=True)
    mae, nz, n_nz, n_test = (_metric(out, k).to_numpy() for k in ("mae", "mae_nonzero", "n_test_nonzero", "n_test"))
    assert ((0 < n_nz) & (n_nz < n_test)).all()
    # the zero rows add |prediction| >= 0 to the overall sum, so their share can only raise it
    assert (mae * n_test >= nz * n_nz - 1e-6).all() and not np.allclose(mae, nz)
    plain = transfer.run_trials(data, 300, trials=1, seed=0, recipe=rec, progress=False)  # a grid point: as before
    assert "mae_nonzero" not in set(plain["metric"])
    neg = synthetic_case(4, n_source=600, n_target=200)  # no exact zeros: no such metric
    out = transfer.run_trials(neg, 300, trials=1, seed=0, recipe=rec, progress=False, record_candidates=True)
    assert "mae_nonzero" not in set(out["metric"])


def test_the_vendoring_tools_check_passes_on_the_committed_files():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(REPO / "tools" / "vendor_element_tables.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr


def test_training_refuses_data_featurized_with_another_descriptor():
    """A recipe that names one descriptor never trains on features of another (silently wrong rows)."""
    from s2rlib.datasets.case_data import CaseData
    from s2rlib.training import transfer

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)).astype(np.float32), rng.normal(size=60)
    data = CaseData("synthetic", X, y, X, y, np.arange(60).astype(str), ["a", "b", "c", "d"], "u")
    with pytest.raises(ParameterError, match=r"recipe.descriptor='magpie': the data of case .* featurized with 'composition'"):
        transfer.run_trials(data, 0, trials=1, seed=0, recipe=transfer.Recipe(descriptor="magpie"), progress=False)
    data.notes["descriptor"] = "magpie"
    with pytest.raises(ParameterError, match="featurized with 'magpie'"):
        transfer.run_trials(data, 0, trials=1, seed=0, recipe=transfer.Recipe(), progress=False)
