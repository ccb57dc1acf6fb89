"""The transfer protocol: batched == one-at-a-time, determinism, paired nested draws, group splits."""

import numpy as np
import pandas as pd
import pytest
import torch

from s2rlib import transfer
from s2rlib.casedata import CaseData
from s2rlib.models import EnsembleMLP

FAST = transfer.Recipe(hidden=(32, 16), pretrain_epochs=3, pretrain_min_steps=30, pretrain_max_steps=200,
                       finetune_max_epochs=20, patience_epochs=5, finetune_batch=32, pretrain_batch=64)


def synthetic_case(seed=0, n_source=2000, n_target=300, d=8):
    """A source function and a shifted, rescaled 'experimental' version of it."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    Xs = rng.standard_normal((n_source, d))
    Xt = rng.standard_normal((n_target, d))
    f = lambda X: np.tanh(X @ w) + 0.3 * X[:, 0] ** 2
    ys = f(Xs)
    yt = 1.3 * f(Xt) + 0.2 + 0.05 * rng.standard_normal(n_target)
    groups = np.array([f"g{i // 2}" for i in range(n_target)])  # pairs of rows share a group
    return CaseData("synthetic", Xs, ys, Xt, yt, groups, [f"x{i}" for i in range(d)], "u",
                    files=[{"key": "synthetic", "sha256": "0" * 64, "location": "memory"}])


def _metric(df, metric):
    return df[df.metric == metric].set_index("trial")["value"]


def test_same_seed_identical_metrics_and_different_seed_differs():
    torch.use_deterministic_algorithms(True)
    data = synthetic_case()
    a = transfer.run_trials(data, 500, trials=2, seed=3, recipe=FAST, progress=False)
    b = transfer.run_trials(data, 500, trials=2, seed=3, recipe=FAST, progress=False)
    c = transfer.run_trials(data, 500, trials=2, seed=4, recipe=FAST, progress=False)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(_metric(a, "mae").to_numpy(), _metric(c, "mae").to_numpy())


def test_batched_ensemble_equals_one_trial_at_a_time():
    data = synthetic_case(1)
    batched = transfer.run_trials(data, 800, trials=3, seed=10, recipe=FAST, progress=False)
    single = pd.concat([transfer.run_trials(data, 800, trials=1, seed=10 + t, recipe=FAST, progress=False)
                        .assign(trial=t) for t in range(3)])
    mb, ms = _metric(batched, "mae"), _metric(single, "mae")
    # members are independent, but not bit-identical to one-at-a-time runs: float rounding differs (bmm over
    # E members vs 1), fine-tuning stops only when every member of the ensemble is stale (a member may keep
    # a later, better checkpoint than it would alone), and an epoch is the longest member's training set
    np.testing.assert_allclose(mb.to_numpy(), ms.to_numpy(), rtol=0.05)
    assert (batched[batched.metric == "n_test"]["value"].to_numpy() == single[single.metric == "n_test"]["value"].to_numpy()).all()


def test_batched_members_equal_single_runs_up_to_float_rounding():
    """With the ensemble-wide early stop out of play, batching changes nothing but float rounding.

    The tolerance of the test above would let a bug that mixes members (a wrong member's learning
    rate, batch rows or statistics) through; here every trial has the same training size (groups
    are pairs) and patience covers all epochs, so each member takes exactly the steps it takes alone.
    """
    from dataclasses import replace

    recipe = replace(FAST, patience_epochs=FAST.finetune_max_epochs)
    data = synthetic_case(4)
    batched = transfer.run_trials(data, 600, trials=3, seed=20, recipe=recipe, progress=False)
    single = pd.concat([transfer.run_trials(data, 600, trials=1, seed=20 + t, recipe=recipe, progress=False)
                        .assign(trial=t) for t in range(3)], ignore_index=True)
    assert batched.attrs["pretrain_steps"] == recipe.pretrain_steps(600) > 0
    for metric in ("mae", "rmse", "r2", "val_mae"):
        np.testing.assert_allclose(_metric(batched, metric).to_numpy(), _metric(single, metric).to_numpy(),
                                   rtol=1e-5, err_msg=metric)
    exact = ["finetune_best_step", "n_train", "n_val", "n_test", "n_source_used"]
    for metric in exact:
        assert (_metric(batched, metric).to_numpy() == _metric(single, metric).to_numpy()).all(), metric
    assert batched.selected_recipe.tolist() == single.selected_recipe.tolist()


def test_pretraining_on_related_source_helps_on_synthetic_transfer():
    data = synthetic_case(2, n_target=120)
    recipe = transfer.Recipe(hidden=(64, 32), pretrain_epochs=20, pretrain_min_steps=300, finetune_max_epochs=60,
                             patience_epochs=10, finetune_batch=32)
    base = _metric(transfer.run_trials(data, 0, trials=3, seed=0, recipe=recipe, progress=False), "mae").mean()
    pre = _metric(transfer.run_trials(data, 2000, trials=3, seed=0, recipe=recipe, progress=False), "mae").mean()
    assert pre < 0.8 * base


def test_group_split_never_straddles_and_is_independent_of_n():
    groups = np.repeat(np.arange(100), 3).astype(str)
    rng = np.random.default_rng(0)
    tr, va, te = transfer.split_groups(groups, rng, 0.2, 0.2)
    sets = [set(groups[i]) for i in (tr, va, te)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert len(tr) + len(va) + len(te) == 300
    assert abs(len(te) - 60) <= 3
    tr2, va2, te2 = transfer.split_groups(groups, rng, 0.2, 0.2, m=40)
    assert len(tr2) + len(va2) == 40
    assert not (set(groups[tr2]) | set(groups[va2])) & set(groups[te2])


def test_source_draws_are_nested_and_test_groups_withheld():
    data = synthetic_case(3, n_source=400, n_target=200)
    data.source_groups = np.array([f"g{i % 100}" for i in range(400)])
    out = transfer.run_trials(data, 400, trials=1, seed=0, recipe=FAST, progress=False)
    used = int(_metric(out, "n_source_used").iloc[0])
    assert used < 400  # the test pairs' source rows were withheld


def test_ensemble_member_init_does_not_depend_on_ensemble():
    a = EnsembleMLP([5, 6, 7], 4, (8,))
    b = EnsembleMLP([6], 4, (8,))
    assert torch.equal(a.weights[0][1], b.weights[0][0])
    c = a.select([2, 2, 0])
    assert torch.equal(c.weights[1][0], a.weights[1][2]) and c.n_members == 3
