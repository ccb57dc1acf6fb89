"""Pretraining to convergence (``Recipe.pretrain_schedule = "converge"``): early stopping on a held-out
split of each member's own source draw, recorded per trial; the fixed schedule and its recorded recipe
unchanged."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from s2rlib._core.errors import ParameterError
from s2rlib.grid.results import params_id
from s2rlib.training import pretrain, transfer
from s2rlib.training.params import validate_recipe
from test_transfer import FAST, _assert_same_trials, _metric, _uneven_case

CONVERGE = replace(FAST, pretrain_schedule="converge", pretrain_max_steps=3000, pretrain_eval_steps=5,
                   pretrain_patience=4, pretrain_drops=1)


def test_source_split_holds_out_whole_groups_of_the_draw():
    rng = np.random.default_rng(0)
    draw = np.arange(100, 400)
    groups = np.repeat(np.arange(250), 2)  # rows 2k and 2k+1 are one material
    tr, va = pretrain.source_split(draw, groups, rng, 0.1, 10_000)
    assert np.intersect1d(tr, va).size == 0 and np.union1d(tr, va).tolist() == draw.tolist()
    assert not set(groups[tr]) & set(groups[va])  # no material on both sides
    assert 28 <= len(va) <= 32
    _, capped = pretrain.source_split(draw, groups, rng, 0.5, 20)
    assert 20 <= len(capped) <= 21  # the cap, rounded up to the end of a group
    tiny_tr, tiny_va = pretrain.source_split(np.array([5, 9]), None, rng, 0.1, 100)
    assert len(tiny_va) == 1 and len(tiny_tr) == 1  # at least one row each side
    one_tr, one_va = pretrain.source_split(np.array([5]), None, rng, 0.1, 100)
    assert one_tr.tolist() == [5] and one_va.size == 0


def test_converged_pretraining_stops_each_member_on_its_own_and_records_it():
    data = _uneven_case(3)
    data.source_groups = np.arange(data.n_source) // 3  # materials of three simulations each
    rows = transfer.run_trials(data, 900, trials=3, seed=7, recipe=CONVERGE, progress=False)
    steps = _metric(rows, "pretrain_steps").to_numpy()
    best = _metric(rows, "pretrain_best_step").to_numpy()
    assert (steps < CONVERGE.pretrain_max_steps).all() and (_metric(rows, "pretrain_capped") == 0).all()
    assert (best <= steps).all() and (best > 0).all()
    # stopped after the last drop's patience: the best step is followed by at least `patience` evaluations
    every = np.ceil(900 * 0.9 / CONVERGE.pretrain_batch)
    assert (steps - best >= CONVERGE.pretrain_patience * max(every, CONVERGE.pretrain_eval_steps)).all()
    assert len(set(steps)) > 1  # members stop at different steps
    assert _metric(rows, "n_source_val").between(90, 92).all() and (_metric(rows, "pretrain_val_mae") > 0).all()
    assert rows.attrs["pretrain_steps"] == steps.max()


def test_converged_pretraining_batched_equals_one_member_at_a_time():
    """Each member draws its own batches, validates on its own split and stops on its own patience, so
    batching changes nothing but float rounding (the exact steps included)."""
    data = _uneven_case(4)
    a = transfer.run_trials(data, 600, trials=3, seed=11, recipe=CONVERGE, progress=False)
    b = transfer.run_trials(data, 600, trials=3, seed=11, recipe=CONVERGE, progress=False, batched=False)
    _assert_same_trials(a, b)
    for metric in ("pretrain_steps", "pretrain_best_step", "n_source_val"):
        assert (_metric(a, metric).to_numpy() == _metric(b, metric).to_numpy()).all(), metric
    np.testing.assert_allclose(_metric(a, "pretrain_val_mae"), _metric(b, "pretrain_val_mae"), rtol=1e-5)


def test_the_cap_stops_pretraining_and_says_so():
    data = _uneven_case(5)
    capped = replace(CONVERGE, pretrain_max_steps=40)
    rows = transfer.run_trials(data, 900, trials=2, seed=1, recipe=capped, progress=False)
    assert (_metric(rows, "pretrain_steps") == 40).all() and (_metric(rows, "pretrain_capped") == 1).all()


def test_a_cached_converged_network_brings_its_record(tmp_path, monkeypatch):
    monkeypatch.setenv("S2R_PRETRAIN_CACHE", str(tmp_path / "pre"))
    data = _uneven_case(6)
    first = transfer.run_trials(data, 700, trials=2, seed=2, recipe=CONVERGE, progress=False)
    again = transfer.run_trials(data, 700, trials=2, seed=2, recipe=CONVERGE, progress=False)
    assert first.attrs["pretrain_reused"] == 0 and again.attrs["pretrain_reused"] == 1
    pd.testing.assert_frame_equal(first, again)


def test_validation_of_the_schedule():
    assert validate_recipe({"pretrain_schedule": "converge", "pretrain_max_steps": 60000}).pretrain_patience == 10
    with pytest.raises(ParameterError, match=r"pretrain_schedule='early'.*expected one of \['fixed', 'converge'\]"):
        validate_recipe({"pretrain_schedule": "early"})
    with pytest.raises(ParameterError, match="early stopping needs a cap"):
        validate_recipe({"pretrain_schedule": "converge"})
    with pytest.raises(ParameterError, match=r"pretrain_lr_drop=1.5: expected a factor strictly between 0 and 1"):
        validate_recipe({"pretrain_schedule": "converge", "pretrain_max_steps": 100, "pretrain_lr_drop": 1.5})
    with pytest.raises(ParameterError, match=r"recipe.pretrain_patience=0: must be >= 1"):
        validate_recipe({"pretrain_schedule": "converge", "pretrain_max_steps": 100, "pretrain_patience": 0})


def test_the_fixed_schedule_records_the_recipe_it_always_did():
    """The final grids' recorded recipe (and so their params_id) does not change with the new fields: a
    fixed-schedule recipe records none of them; a converged one records all of them."""
    fixed = transfer.Recipe().to_dict()
    assert not {"pretrain_schedule", *transfer.Recipe.CONVERGE_FIELDS} & set(fixed)
    committed = pd.read_csv("results/band_gap/points/" + sorted(__import__("os").listdir("results/band_gap/points"))[0]) \
        if __import__("os").path.isdir("results/band_gap/points") else None
    if committed is not None:
        import json

        params = json.loads(committed["params"].iloc[0])
        assert params_id(params) == committed["params_id"].iloc[0]
        assert params["recipe"] == fixed
    conv = replace(transfer.Recipe(), pretrain_schedule="converge", pretrain_max_steps=60000).to_dict()
    assert conv["pretrain_schedule"] == "converge" and set(transfer.Recipe.CONVERGE_FIELDS) <= set(conv)
    assert transfer.Recipe.from_dict(conv) == replace(transfer.Recipe(), pretrain_schedule="converge",
                                                      pretrain_max_steps=60000)
    torch.manual_seed(0)


def test_cache_key_hashes_the_modules_that_define_pretraining_and_not_fine_tuning():
    """The pretrained cache's code hash reads the modules that hold every pretraining step (so a change there
    is another network) and not transfer.py (a fine-tuning change keeps the cached networks)."""
    import inspect
    from pathlib import Path

    from s2rlib.training import device, models, pretrain as pre, pretrain_cache

    defining = {Path(inspect.getsourcefile(obj)).name for obj in
                (pre.pretrain, pre.pretrain_fixed, pre.pretrain_converge, pre.batches, pre.loss,
                 models.EnsembleMLP, models.EnsembleAdam, device.training_precision)}
    assert defining == set(pretrain_cache._CODE_FILES)
    assert "transfer.py" not in pretrain_cache._CODE_FILES
