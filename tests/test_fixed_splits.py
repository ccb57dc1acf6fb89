"""Fixed splits (issue 29 item 6): a user's split file instead of random re-splits, each fold one trial.

What a wrong implementation gets wrong is what is checked: trial k tests on exactly fold k's rows; the
validation set comes from the fold's training rows, whole groups, and m subsamples them; the split file's
sha256 is part of the point id (another file, another id; the same bytes elsewhere, the same id); a bad file
is an error naming the file, the line or fold, and what was expected; the page says the interval is over folds.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2rlib import cli
from s2rlib._core.constants import ALL_M
from s2rlib._core.errors import ChecksumError, DataError, ParameterError
from s2rlib.cases import case_file as casefile
from s2rlib.cases import registry as cases
from s2rlib.datasets.case_data import CaseData
from s2rlib.grid import results
from s2rlib.grid import runner as grid
from s2rlib.training import splits, transfer
from s2rlib.training.params import validate_params, validate_recipe

from synthetic import synthetic_table
from test_cases import OXIDES, _rows as csv_rows

#: 30 distinct target compositions (Fe_i O_j with i, j coprime: no two reduce to one)
TARGET = [f"Fe{i}O{j}" for i in range(1, 10) for j in range(1, 10) if math.gcd(i, j) == 1][:30]
TINY = {"hidden": [8], "pretrain_epochs": 1, "pretrain_min_steps": 5, "pretrain_max_steps": 10,
        "finetune_max_epochs": 3, "patience_epochs": 2}


@pytest.fixture
def case(tmp_path, monkeypatch):
    """A CSV case "folded" (20 source, 30 target compositions), in its own cases directory."""
    d = tmp_path / "cases"
    d.mkdir()
    monkeypatch.setenv(casefile.CASES_ENV, str(d))
    monkeypatch.setenv("S2R_RESULTS_ROOT", str(tmp_path / "committed"))
    cases.reload()
    (tmp_path / "sim.csv").write_text(csv_rows(zip(OXIDES, np.linspace(0.1, 3, 20))))
    (tmp_path / "exp.csv").write_text(csv_rows(zip(TARGET, np.linspace(0.2, 2.5, 30))))
    assert cli.main(["new-case", "folded", "--source", str(tmp_path / "sim.csv"), "--target",
                     str(tmp_path / "exp.csv"), "--kind", "composition", "--units", "eV", "--property", "gap"]) == 0
    yield cases.get_case("folded")
    monkeypatch.undo()
    cases.reload()


def _fold_csv(path: Path, assignment: dict[str, int], key: str = "formula") -> Path:
    path.write_text(f"{key},fold\n" + "".join(f"{k},{f}\n" for k, f in assignment.items()))
    return path


def _three_folds() -> dict[str, int]:
    """Folds of 6, 10 and 14 materials (unequal: a trial given another fold's test set shows it)."""
    rng = np.random.default_rng(7)
    return {f: int(k) for f, k in zip(TARGET, rng.permutation([0] * 6 + [1] * 10 + [2] * 14))}


# ------------------------------------------------------------------------------ the split itself


def test_fold_split_tests_on_the_fold_and_carves_validation_from_its_training_rows():
    groups = np.array([f"g{i // 2}" for i in range(40)])  # 20 groups of two rows
    test = np.nonzero(np.isin(groups, ["g3", "g7", "g11", "g12"]))[0]
    pool = np.setdiff1d(np.arange(40), test)
    train, val, te = splits.fold_split(groups, test, pool, np.random.default_rng(1), 0.25)
    assert te.tolist() == sorted(test.tolist())
    assert sorted(train.tolist() + val.tolist()) == pool.tolist() and not set(train) & set(val)
    assert not set(groups[val]) & set(groups[train])  # whole groups
    assert abs(len(val) - 0.25 * len(pool)) <= 2
    other = splits.fold_split(groups, test, pool, np.random.default_rng(2), 0.25)
    assert other[2].tolist() == te.tolist() and other[1].tolist() != val.tolist()  # the seed moves validation only
    # m subsamples the fold's training pool, never its test rows
    train, val, te = splits.fold_split(groups, test, pool, np.random.default_rng(1), 0.25, m=13)
    assert len(train) + len(val) == 13 and set(train) | set(val) <= set(pool) and te.tolist() == sorted(test)


def test_trial_k_tests_on_fold_k(case, tmp_path):
    data = cases.load_case("folded")
    assignment = _three_folds()
    folds = splits.read_split_file(_fold_csv(tmp_path / "f.csv", assignment), data, case)
    assert folds.names == ("0", "1", "2")
    pt = transfer._prepare(data, 5, 3, 0, validate_recipe(TINY), ALL_M, folds)
    for k in range(3):
        train, val, test = pt.splits[k]
        expected = sorted(cases_reduced(f) for f, fold in assignment.items() if fold == k)
        assert sorted(data.groups_target[test].tolist()) == expected  # the materials of fold k
        assert not set(test) & (set(train) | set(val)) and len(train) + len(val) == 30 - len(expected)
        # the test materials' simulations are withheld from the trial's pretraining draw, as with random splits
        assert not set(data.source_groups[pt.draws[k]]) & set(expected)
    rows = transfer.run_trials(data, 5, trials=3, seed=0, recipe=validate_recipe(TINY), progress=False, folds=folds)
    n_test = rows[rows.metric == "n_test"].set_index("trial")["value"]
    assert n_test.to_dict() == {k: float(list(assignment.values()).count(k)) for k in range(3)}


def test_formulas_are_matched_as_the_rows_are_merged_and_json_rows_work(case, tmp_path):
    data = cases.load_case("folded")
    # written unreduced ("Fe2O2" is FeO, which the target CSV writes "Fe1O1"): matched by the merge identity
    assignment = {f"Fe{2 * i}O{2 * j}": 0 for i in range(1, 3) for j in range(1, 3)}
    folds = splits.read_split_file(_fold_csv(tmp_path / "f.csv", assignment), data, case)
    assert sorted(data.groups_target[folds.test[0]]) == sorted({cases_reduced(f) for f in assignment})
    assert len(folds.pool[0]) == 30 - len(folds.test[0])  # every material not listed trains
    # matbench's form: train/test row numbers of the target CSV per fold
    doc = {"fold_0": {"train": list(range(10, 30)), "test": list(range(10))},
           "fold_1": {"train": list(range(10)) + list(range(20, 30)), "test": list(range(10, 20))}}
    (tmp_path / "f.json").write_text(json.dumps(doc))
    folds = splits.read_split_file(tmp_path / "f.json", data, case)
    exp = pd.read_csv(tmp_path / "exp.csv")
    assert folds.names == ("fold_0", "fold_1")
    assert sorted(data.target_ids[folds.test[1]]) == sorted(cases_reduced(f) for f in exp["formula"][10:20])
    assert len(folds.pool[1]) == 20 and not set(folds.pool[1]) & set(folds.test[1])


def cases_reduced(formula: str) -> str:
    from pymatgen.core import Composition

    return Composition(formula).reduced_formula


# ------------------------------------------------------------------------------ bad split files


@pytest.mark.parametrize("content,message", [
    ("formula,fold\nFe1O1,0\nCu2O,1\n", "line 3: unknown id 'Cu2O': expected a material of the target data"),
    ("formula,fold\nFe1O1,0\nFe1O2,1\nFe2O2,1\n", "line 4: 'FeO' is in the test sets of folds 0 (line 2) and 1"),
    ("formula,fold\nFe1O1,\n", "line 2: empty `fold`"),
    ("material,fold\nFe1O1,0\n", "expected `fold` and one key column of ['id', 'formula', 'smiles', 'row']"),
    ("row,fold\n0,0\n30,1\n", "line 3: row 30: expected a data row of the target CSV, 0 to 29"),
    ('{"folds": [{"test": ["Fe1O1"]}, {"test": []}]}', "fold 1: empty test set"),
    ('{"folds": [{"test": ["Fe1O1"], "train": ["Fe1O1", "Fe1O2"]}]}', "fold 0: 1 group(s) in both its test and "
                                                                      "training rows, e.g. 'FeO'"),
    ('{"folds": 3}', "expected a list of folds"),
])
def test_a_bad_split_file_names_the_file_the_place_and_what_was_expected(case, tmp_path, content, message):
    path = tmp_path / ("f.json" if content.startswith("{") else "f.csv")
    path.write_text(content)
    with pytest.raises((ParameterError, DataError)) as err:
        splits.read_split_file(path, cases.load_case("folded"), case)
    assert str(path) in str(err.value) and message in str(err.value), str(err.value)


def test_more_trials_than_folds_is_an_s2r_error_before_anything_runs(case, tmp_path, capsys):
    path = _fold_csv(tmp_path / "f.csv", _three_folds())
    rc = cli.main(["grid", "folded", "--ns", "0,5", "--trials", "4", "--splits", str(path), "--out",
                   str(tmp_path / "g"), "--threads", "1", "--quiet", "--dry-run"])
    err = capsys.readouterr().err
    assert rc == 2 and f"parameter trials=4: the split file {path} has 3 fold(s) (0, 1, 2)" in err, err
    assert "trials must be <= 3" in err and not (tmp_path / "g" / "points").exists()


# ------------------------------------------------------------------------------ identity


def test_the_split_files_sha256_is_part_of_the_point_id(case, tmp_path):
    a = _fold_csv(tmp_path / "a.csv", _three_folds())
    b = _fold_csv(tmp_path / "b.csv", {f: (k + 1) % 3 for f, k in _three_folds().items()})
    (tmp_path / "elsewhere").mkdir()
    a_copy = Path(shutil.copy(a, tmp_path / "elsewhere" / "renamed.csv"))

    def pid(path):
        (p,) = grid.plan("folded", [0], trials=3, seed=0, out_dir=tmp_path / "g", recipe=TINY, threads=1,
                         splits=None if path is None else str(path))
        return p

    pa, pb, pc, random = pid(a), pid(b), pid(a_copy), pid(None)
    assert pa.params["splits_sha256"] == splits.file_sha256(a) and "splits_sha256" not in random.params
    assert len({pa.pid, pb.pid, random.pid}) == 3  # another file, another grid; no file, the random grid
    assert pc.pid == pa.pid and pc.splits != pa.splits  # the same bytes elsewhere: the same points
    assert pa.splits == str(a.resolve())


def test_a_case_files_splits_are_used_and_their_sha256_checked(case, tmp_path):
    path = _fold_csv(tmp_path / "f.csv", _three_folds())
    spec = casefile.parse(Path(case.file).read_text(), case.file)
    spec["splits"] = {"path": str(path), "sha256": splits.file_sha256(path)}
    Path(case.file).write_text(casefile.dumps(spec))
    cases.reload()
    p = validate_params("folded", 0, 3, 0)
    assert p["splits"] == {"path": str(path), "sha256": splits.file_sha256(path)}
    assert p["splits_record"] == {"splits_sha256": splits.file_sha256(path)}
    path.write_text(path.read_text() + "Fe1O1,0\n")  # the file changes behind the case's back
    with pytest.raises(ChecksumError, match=f"{path}: the split file changed"):
        validate_params("folded", 0, 3, 0)


# ------------------------------------------------------------------------------ the page


def test_the_page_says_the_interval_is_over_folds(case, tmp_path, capsys):
    from s2rlib.book import CasePage

    table = synthetic_table("folded", trials=3)
    root = tmp_path / "res"
    results.write_atomic(table, root / "folded" / "results.csv")
    CasePage("folded", root=root, n_boot=20).header()
    assert "over folds" not in capsys.readouterr().out
    sha = splits.file_sha256(_fold_csv(tmp_path / "f.csv", _three_folds()))
    params = [json.dumps({**json.loads(p), "splits_sha256": sha}, sort_keys=True) for p in table["params"]]
    results.write_atomic(table.assign(params=params), root / "folded" / "results.csv")
    CasePage("folded", root=root, n_boot=20).header()
    out = capsys.readouterr().out
    assert "The intervals are over folds" in out and sha[:16] in out and "3 fold(s)" in out


def test_the_own_case_chapter_says_the_interval_is_over_folds():
    text = (Path(__file__).resolve().parents[1] / "book" / "own_case.md").read_text()
    assert "--splits" in text and "over folds" in text


@pytest.mark.slow
def test_a_grid_with_a_split_file_runs_through_the_notebook(case, tmp_path, capsys):
    assignment = _three_folds()
    path = _fold_csv(tmp_path / "f.csv", assignment)
    rc = cli.main(["grid", "folded", "--ns", "0,5", "--trials", "3", "--splits", str(path), "--out",
                   str(tmp_path / "g"), "--threads", "1", "--quiet", "--recipe", json.dumps(TINY)])
    assert rc == 0, capsys.readouterr().err
    table = results.read_table(tmp_path / "g" / "results.csv")
    assert {json.loads(p)["splits_sha256"] for p in table["params"]} == {splits.file_sha256(path)}
    n_test = table[table.metric == "n_test"].groupby("trial")["value"].unique()
    assert {k: v.tolist() for k, v in n_test.items()} == {k: [float(list(assignment.values()).count(k))]
                                                          for k in range(3)}
