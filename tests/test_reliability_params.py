"""Bad run parameters stop with a specific ParameterError before any data are trained on.

Covers :func:`s2rlib.training.params.validate_params` (what the notebooks' first code cell calls),
:func:`s2rlib.training.params.check_against_data` (right after the data are loaded), the grid planner and
the ``s2r grid`` command (exit status 2, the message on stderr, no point files), and the notebooks
themselves: their first code cell validates, and papermill stops there with the message.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from s2rlib._core.constants import ALL_M
from s2rlib import cli
from s2rlib.grid import runner as grid
from s2rlib.training import params as validation
from s2rlib.datasets.case_data import CaseData
from s2rlib._core.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TINY = {"finetune_max_epochs": 2, "pretrain_min_steps": 5, "pretrain_max_steps": 10, "hidden": [16]}
OK = dict(case="formation_enthalpy", n_source=10, trials=2, seed=0)


def _raises(match_all: list[str], **kwargs) -> str:
    with pytest.raises(ParameterError) as info:
        validation.validate_params(**{**OK, **kwargs})
    msg = str(info.value)
    for part in match_all:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


# ------------------------------------------------------------------------------ validate_params


@pytest.mark.parametrize("kwargs,parts", [
    (dict(case="no_such_case"), ["parameter case='no_such_case'", "known cases", "band_gap"]),
    (dict(n_source=-5), ["parameter n_source=-5", "must be >= 0"]),
    (dict(n_source=12.5), ["parameter n_source=12.5", "expected an integer or 'all'"]),
    (dict(n_source="lots"), ["parameter n_source='lots'", "expected an integer or 'all'"]),
    (dict(n_source=True), ["parameter n_source=True", "expected an integer"]),
    (dict(n_source=float("nan")), ["parameter n_source=nan", "expected an integer"]),
    (dict(trials=0), ["parameter trials=0", "must be >= 1"]),
    (dict(trials=-3), ["parameter trials=-3", "must be >= 1"]),
    (dict(trials=2.5), ["parameter trials=2.5", "expected an integer"]),
    (dict(seed=-1), ["parameter seed=-1", "must be >= 0"]),
    (dict(m_target=3), ["parameter m_target=3", "must be >= 10"]),
    (dict(m_target=0), ["parameter m_target=0", "must be >= 10"]),
    (dict(threads=0), ["parameter threads=0", "must be >= 1"]),
    (dict(recipe={"bogus": 1}), ["parameter recipe", "unknown field(s) ['bogus']", "valid fields"]),
    (dict(recipe="{not json"), ["parameter recipe_json='{not json'", "not valid JSON"]),
    (dict(recipe=[1, 2]), ["parameter recipe=[1, 2]", "expected a JSON object"]),
    (dict(recipe={"hidden": [0]}), ["parameter recipe.hidden[]=0", "must be >= 1"]),
    (dict(recipe={"hidden": "wide"}), ["parameter recipe.hidden='wide'", "non-empty list of layer widths"]),
    (dict(recipe={"hidden": []}), ["parameter recipe.hidden=[]", "non-empty list"]),
    (dict(recipe={"pretrain_lr": -1e-3}), ["parameter recipe.pretrain_lr=-0.001", "> 0"]),
    (dict(recipe={"pretrain_batch": 0}), ["parameter recipe.pretrain_batch=0", "must be >= 1"]),
    (dict(recipe={"test_fraction": 1.5}), ["parameter recipe.test_fraction=1.5", "strictly between 0 and 1"]),
    (dict(recipe={"candidates": []}), ["parameter recipe.candidates", "at least one"]),
])
def test_bad_parameter_names_parameter_value_and_expectation(kwargs, parts):
    _raises(parts, **kwargs)


def test_good_parameters_are_normalised():
    p = validation.validate_params(**{**OK, "n_source": "300", "trials": 2.0, "m_target": -1,
                                      "recipe": json.dumps({**TINY, "hidden": [16.0]})})
    assert p["n_source"] == 300 and p["trials"] == 2 and p["m_target"] == ALL_M  # the one "all m"
    for spelled in (None, "all", -1):  # how the boundaries (old callers, the command line, tables) write it
        assert validation.validate_params(**{**OK, "m_target": spelled})["m_target"] == ALL_M
    assert p["recipe"].hidden == (16,) and isinstance(p["recipe"].hidden[0], int)
    assert validation.validate_params(**{**OK, "n_source": "all"})["n_source"] == "all"


def test_unwritable_output_paths(tmp_path):
    a_file = tmp_path / "a_file.csv"
    a_file.write_text("x")
    # a directory where the CSV should go
    msg = _raises(["parameter output_path=", "is a directory"], output_path=str(tmp_path))
    assert str(tmp_path) in msg
    # a path below a regular file (running as root, permission bits alone would not stop us)
    _raises(["parameter output_path=", "a_file.csv is not a directory"], output_path=str(a_file / "sub" / "x.csv"))
    _raises(["parameter output_path=", "not a directory"], output_path="/dev/null/x.csv")


def test_output_path_check_creates_nothing(tmp_path):
    target = tmp_path / "deep" / "er" / "point.csv"
    p = validation.validate_params(**OK, output_path=str(target))
    assert p["output_path"] == str(target)
    assert list(tmp_path.iterdir()) == []  # no directories, no probe files left behind


# ------------------------------------------------------------------------------ against the data


def _small_case(n_source=50, n_target=40, case="formation_enthalpy") -> CaseData:
    rng = np.random.default_rng(0)
    return CaseData(case, rng.normal(size=(n_source, 3)), rng.normal(size=n_source), rng.normal(size=(n_target, 3)),
                    rng.normal(size=n_target), np.array([f"g{i}" for i in range(n_target)]), ["a", "b", "c"], "u")


def test_n_larger_than_the_source_set():
    P = validation.validate_params(**{**OK, "n_source": 51})
    with pytest.raises(ParameterError, match=r"parameter n_source=51: larger than the source set of case "
                                             r"'formation_enthalpy' \(50 samples\)"):
        validation.check_against_data(P, _small_case())
    P = validation.validate_params(**{**OK, "n_source": "all"})
    assert validation.check_against_data(P, _small_case())["n_source"] == 50


def test_experimental_split_too_small():
    P = validation.validate_params(**OK)
    with pytest.raises(ParameterError) as info:
        validation.check_against_data(P, _small_case(n_target=9))
    msg = str(info.value)
    assert "experimental data of case 'formation_enthalpy' (9 samples, 9 groups) are too few to split" in msg
    # the sizes as computed (5.8 train is short of 8), never rounded into the minimum they miss
    assert "about 5.8 train / 1.4 validation / 1.8 test samples, short of the 8/2/2 it needs (at least 13 samples" in msg
    # a test fraction so small that no test set is left
    P = validation.validate_params(**{**OK, "recipe": {"test_fraction": 0.01}})
    with pytest.raises(ParameterError, match="too few to split"):
        validation.check_against_data(P, _small_case(n_target=100))
    # more experimental training samples than there are after the test split
    P = validation.validate_params(**{**OK, "m_target": 90})
    with pytest.raises(ParameterError, match=r"parameter m_target=90: more than the 80 experimental samples"):
        validation.check_against_data(P, _small_case(n_target=100))


# ------------------------------------------------------------------------------ the s2r command


def _cli(capsys, *args) -> tuple[int, str]:
    rc = cli.main(["grid", *args])
    return rc, capsys.readouterr().err


@pytest.fixture
def small_data(monkeypatch):
    """The grid planner loads the case data to check n and m: serve a small stand-in."""
    import s2rlib.cases.registry

    monkeypatch.setattr(s2rlib.cases.registry, "load_case", lambda name, **kw: _small_case(case=name))


@pytest.mark.parametrize("args,message", [
    (["no_such_case"], "unknown case 'no_such_case'; known cases:"),
    (["formation_enthalpy", "--ns", "0,-5"], "parameter n_source=-5: must be >= 0"),
    (["formation_enthalpy", "--ns", "12.5"], "parameter n_source=12.5: expected an integer or 'all' >= 0"),
    (["formation_enthalpy", "--ns", "ten"], "parameter n_source='ten': expected an integer or 'all' >= 0"),
    (["formation_enthalpy", "--ns", "0,10", "--trials", "0"], "parameter trials=0: must be >= 1"),
    (["formation_enthalpy", "--ns", "10", "--ms", "5"], "parameter m_target=5: must be >= 10"),
    (["formation_enthalpy", "--ns", "10", "--threads", "0"], "parameter threads=0: must be >= 1"),
    (["formation_enthalpy", "--ns", "10", "--recipe", "{bad"], "parameter recipe_json='{bad': not valid JSON"),
    (["formation_enthalpy", "--ns", "10", "--recipe", '{"hidden": [0]}'], "parameter recipe.hidden[]=0: must be >= 1"),
    (["formation_enthalpy", "--ns", "0,10,51", "--ms", "all"],
     "parameter n_source=51: larger than the source set of case 'formation_enthalpy' (50 samples)"),
    (["formation_enthalpy", "--ns", "10", "--ms", "45"], "parameter m_target=45: more than the 32 experimental"),
])
def test_cli_grid_bad_parameter_exits_2_before_any_point(small_data, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    extra = [] if "--recipe" in args else ["--recipe", json.dumps(TINY)]
    rc, err = _cli(capsys, *args, *extra, "--out", str(out), "--quiet")
    assert rc == 2
    assert err.startswith("s2r: error: ") and message in err, err
    assert not out.exists()  # no point files, not even the directory


def test_cli_grid_unwritable_out(small_data, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc, err = _cli(capsys, "formation_enthalpy", "--ns", "10", "--out", str(blocker / "res"))
    assert rc == 2 and "parameter output_path=" in err and "is not a directory" in err


def test_plan_checks_every_point_before_running(small_data, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(grid, "_execute_point", lambda p: calls.append(p) or (str(p.point_path), True))
    with pytest.raises(ParameterError, match="n_source=60"):
        grid.plan("formation_enthalpy", [0, 10, 60], trials=1, seed=0, out_dir=tmp_path / "o", recipe=TINY)
    assert not calls and not (tmp_path / "o").exists()


def test_cli_subprocess_exit_status_and_message(tmp_path):
    out = tmp_path / "o"
    done = subprocess.run([sys.executable, "-m", "s2rlib.cli", "grid", "formation_enthalpy", "--ns", "0,-1e3",
                           "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "s2r: error: parameter n_source=-1000: must be >= 0" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


# ------------------------------------------------------------------------------ the notebooks


def _code_cells(nb_path: Path) -> list[tuple[int, str, list]]:
    nb = json.loads(nb_path.read_text())
    return [(i, "".join(c["source"]), c.get("metadata", {}).get("tags", [])) for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "code"]


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_validates_before_loading_or_training(nb_path):
    cells = _code_cells(nb_path)
    assert "parameters" in cells[0][2], "the first code cell must be the papermill parameters cell"
    first = cells[1][1]
    assert "validation.validate_params(" in first, "the first code cell after the parameters must validate them"
    for name in ("case", "n_source", "trials", "seed", "m_target", "output_path", "recipe"):
        assert name in first.split("validate_params(", 1)[1], f"{name} is not validated"
    src = [s for _, s, _ in cells]
    load = next(i for i, s in enumerate(src) if "load_case(" in s)
    train = next(i for i, s in enumerate(src) if "run_trials(" in s)
    check = next(i for i, s in enumerate(src) if "check_against_data(" in s)
    assert 1 < load <= check < train, "n and m must be checked against the data before training"
    assert not any("load_case(" in s or "run_trials(" in s for s in src[:2])


def _papermill(nb: Path, tmp_path: Path, **params):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    t0 = time.perf_counter()
    with pytest.raises(PapermillExecutionError) as info:
        pm.execute_notebook(str(nb), str(tmp_path / "executed.ipynb"), parameters=params, kernel_name="python3",
                            progress_bar=False, cwd=str(nb.parent))
    return info.value, time.perf_counter() - t0


@pytest.mark.slow
def test_papermill_stops_in_the_validation_cell(tmp_path):
    out = tmp_path / "point.csv"
    err, wall = _papermill(ROOT / "notebooks" / "band_gap.ipynb", tmp_path, n_source=-5, trials=1, threads=1,
                           output_path=str(out), progress=False)
    assert err.ename == "ParameterError"
    assert err.evalue == "parameter n_source=-5: must be >= 0"
    assert "validation.validate_params(" in err.source  # the failing cell is the validation cell
    executed = json.loads((tmp_path / "executed.ipynb").read_text())
    ran = [c for c in executed["cells"] if c["cell_type"] == "code" and c.get("execution_count")]
    assert "validate_params" in "".join(ran[-1]["source"])  # nothing after it ran
    assert not any("load_case(" in "".join(c["source"]) for c in ran)
    assert not out.exists()
    assert wall < 120


@pytest.fixture(scope="module")
def warm_features():
    """Load formation_enthalpy once in-process: fills the session's feature cache the kernel reads."""
    from s2rlib.cases import registry as cases

    return cases.load_case("formation_enthalpy")


@pytest.mark.slow
def test_papermill_n_too_large_stops_before_training(tmp_path, warm_features):
    out = tmp_path / "point.csv"
    err, _ = _papermill(ROOT / "notebooks" / "formation_enthalpy.ipynb", tmp_path, n_source=10**7, trials=1,
                        threads=1, output_path=str(out), progress=False, recipe_json=json.dumps(TINY))
    assert err.ename == "ParameterError"
    assert err.evalue == ("parameter n_source=10000000: larger than the source set of case 'formation_enthalpy' "
                          f"({warm_features.n_source} samples)")
    assert "check_against_data(" in err.source and "run_trials(" not in err.source
    assert not out.exists()


@pytest.mark.slow
def test_papermill_bad_recipe_json_is_a_parameter_error(tmp_path):
    err, _ = _papermill(ROOT / "notebooks" / "band_gap.ipynb", tmp_path, n_source=0, trials=1, threads=1,
                        recipe_json="{bad", progress=False)
    assert err.ename == "ParameterError" and "recipe_json" in err.evalue
