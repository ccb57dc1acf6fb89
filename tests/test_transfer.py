"""The transfer protocol: batched == one-at-a-time, determinism, paired nested draws, group splits."""
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from s2rlib._core.constants import ALL_M
from s2rlib.training import models
from s2rlib.training import finetune, pretrain, transfer
from s2rlib.datasets.case_data import CaseData
from s2rlib.training.models import EnsembleMLP

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


def _uneven_case(seed):
    """Groups of 1-4 rows, so trials get training sets of different sizes (different epoch lengths)."""
    data = synthetic_case(seed)
    rng = np.random.default_rng(seed)
    data.groups_target = np.repeat(np.arange(300), rng.integers(1, 5, 300))[:300].astype(str)
    return data


def _assert_same_trials(a, b, rtol=1e-5):
    for metric in ("mae", "rmse", "r2", "val_mae"):
        np.testing.assert_allclose(_metric(a, metric).to_numpy(), _metric(b, metric).to_numpy(), rtol=rtol,
                                   err_msg=metric)
    for metric in ("finetune_best_step", "n_train", "n_val", "n_test", "n_source_used"):
        assert (_metric(a, metric).to_numpy() == _metric(b, metric).to_numpy()).all(), metric
    assert a.selected_recipe.tolist() == b.selected_recipe.tolist()


def test_batched_ensemble_equals_one_network_at_a_time_with_early_stopping():
    """Every member counts its own epochs and stops on its own patience, so batching (trials x
    candidates as one ensemble that shrinks as members stop) changes nothing but float rounding.

    A bug that mixes members (a wrong member's learning rate, batch rows, statistics, epoch length
    or stopping point) would change metrics far beyond 1e-5 or the exact best steps.
    """
    from dataclasses import replace

    recipe = replace(FAST, finetune_max_epochs=60, patience_epochs=4)
    data = _uneven_case(4)
    batched = transfer.run_trials(data, 600, trials=3, seed=20, recipe=recipe, progress=False)
    alone = transfer.run_trials(data, 600, trials=3, seed=20, recipe=recipe, progress=False, batched=False)
    assert batched.attrs["pretrain_steps"] == recipe.pretrain_steps(600) > 0
    assert len(set(_metric(batched, "n_train"))) > 1  # trials really have different epoch lengths
    n_train = _metric(batched, "n_train").to_numpy()
    epoch = np.ceil(n_train / recipe.finetune_batch)
    # early stopping really cut training short for the selected candidates
    assert (_metric(batched, "finetune_best_step").to_numpy() < epoch * (recipe.finetune_max_epochs - 4)).any()
    _assert_same_trials(batched, alone)
    # and one trial per call (the grid's naive layout) is the same again
    single = pd.concat([transfer.run_trials(data, 600, trials=1, seed=20 + t, recipe=recipe, progress=False)
                        .assign(trial=t) for t in range(3)], ignore_index=True)
    _assert_same_trials(batched, single)


def test_from_scratch_batched_equals_alone():
    data = _uneven_case(5)
    a = transfer.run_trials(data, 0, trials=2, seed=1, recipe=FAST, progress=False)
    b = transfer.run_trials(data, 0, trials=2, seed=1, recipe=FAST, progress=False, batched=False)
    assert a.attrs["pretrain_steps"] == 0
    _assert_same_trials(a, b)


def test_finetune_members_stop_on_their_own_patience():
    """_finetune directly: a member with a zero learning rate never improves and must stop after
    exactly ``patience_epochs`` epochs, while its neighbour keeps training."""
    torch.manual_seed(0)
    X = torch.randn(200, 5)
    Y = (X[:, 0] * 2).expand(2, -1).contiguous()
    model = EnsembleMLP([1, 2], 5, (16,))
    before = [p.detach().clone() for p in model.parameters()]
    idx = np.arange(150)
    rngs = [np.random.default_rng(i) for i in range(2)]
    recipe = transfer.Recipe(finetune_batch=50, finetune_max_epochs=30, patience_epochs=3)
    info = finetune.finetune(model, X, Y, [idx, idx], [np.arange(150, 200)] * 2, rngs,
                              torch.tensor([0.0, 1e-2]), torch.tensor([0.0, 1e-2]), recipe)
    assert info["best_step"][0] == 0  # never improved: keeps the starting network
    assert info["best_step"][1] > 3 * 3  # the trained member improved past the frozen one's stop
    for p0, p in zip(before, model.parameters()):
        assert torch.equal(p0[0], p[0])  # member 0 restored exactly
        assert not torch.equal(p0[1], p[1])


def test_pretraining_on_related_source_helps_on_synthetic_transfer():
    data = synthetic_case(2, n_target=120)
    recipe = transfer.Recipe(hidden=(64, 32), pretrain_epochs=20, pretrain_min_steps=300, finetune_max_epochs=60,
                             patience_epochs=10, finetune_batch=32)
    base = _metric(transfer.run_trials(data, 0, trials=5, seed=0, recipe=recipe, progress=False), "mae").mean()
    pre = _metric(transfer.run_trials(data, 2000, trials=5, seed=0, recipe=recipe, progress=False), "mae").mean()
    assert pre < 0.88 * base  # measured 0.81 (5 trials, 96 training rows); no pretraining effect gives ~1


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
    # a numeric n between what is left and the whole source would be a second "all": refused, with the numbers
    from s2rlib._core.errors import ParameterError

    with pytest.raises(ParameterError, match=rf"parameter n_source=399: only {used} of the 400 source samples are left.*at most {used}"):
        transfer.run_trials(data, 399, trials=1, seed=0, recipe=FAST, progress=False)
    assert int(_metric(transfer.run_trials(data, used, trials=1, seed=0, recipe=FAST, progress=False),
                       "n_source_used").iloc[0]) == used


def test_an_n_some_trial_cannot_draw_is_refused_before_any_training():
    """check_against_data (what the grid's plan runs for every point) computes the same splits and draws as
    the point: the n a trial cannot draw is refused with the point's own message, the n it can is not."""
    from s2rlib._core.errors import ParameterError
    from s2rlib.training.params import check_against_data

    data = synthetic_case(3, n_source=400, n_target=200)
    data.source_groups = np.array([f"g{i % 100}" for i in range(400)])
    used = [len(p) for p in transfer.split_and_draw(data, [0, 1, 2], FAST, ALL_M)[1]]
    params = {"case": data.case, "n_source": min(used) + 1, "trials": 3, "seed": 0, "recipe": FAST,
              "m_target": ALL_M, "splits": None}
    with pytest.raises(ParameterError, match=rf"only {min(used)} of the 400 .*trial seed {used.index(min(used))}"):
        check_against_data(params, data)
    assert check_against_data({**params, "n_source": min(used)}, data)["n_source"] == min(used)
    with pytest.raises(ParameterError, match="only"):  # the same trial fails inside the point, too
        transfer.run_trials(data, min(used) + 1, trials=3, seed=0, recipe=FAST, progress=False)


def test_ensemble_member_init_does_not_depend_on_ensemble():
    a = EnsembleMLP([5, 6, 7], 4, (8,))
    b = EnsembleMLP([6], 4, (8,))
    assert torch.equal(a.weights[0][1], b.weights[0][0])
    c = a.select([2, 2, 0])
    assert torch.equal(c.weights[1][0], a.weights[1][2]) and c.n_members == 3


def test_bf16_training_is_used_and_lands_near_fp32():
    """precision="bf16" runs the training steps' products in bfloat16 (emulated on a CPU without it, so
    this checks the arithmetic, not the speed): the trials differ from fp32 (the setting reaches the
    steps) yet land close to them, and pretraining still helps as much. fp32 stays unrecorded in the
    recipe's dict (the final grids' hashes and recorded recipes are unchanged); bf16 is recorded."""
    data = synthetic_case(2, n_target=120)
    recipe = transfer.Recipe(hidden=(64, 32), pretrain_epochs=20, pretrain_min_steps=300, finetune_max_epochs=60,
                             patience_epochs=10, finetune_batch=32)
    half = transfer.Recipe.from_dict({**recipe.to_dict(), "precision": "bf16"})
    runs = {(p, n): _metric(transfer.run_trials(data, n, trials=4, seed=0, recipe=r, progress=False), "mae")
            for p, r in (("fp32", recipe), ("bf16", half)) for n in (0, 2000)}
    for n in (0, 2000):
        fp, bf = runs["fp32", n].to_numpy(), runs["bf16", n].to_numpy()
        assert not np.array_equal(fp, bf), n
        assert abs(bf.mean() - fp.mean()) < 0.05 * fp.mean(), (n, fp, bf)
    gain = {p: runs[p, 2000].mean() / runs[p, 0].mean() for p in ("fp32", "bf16")}
    assert gain["bf16"] < 0.88 and abs(gain["bf16"] - gain["fp32"]) < 0.05, gain
    assert "precision" not in recipe.to_dict() and half.to_dict()["precision"] == "bf16"
    assert transfer.Recipe.from_dict(recipe.to_dict()) == recipe


@pytest.mark.skipif(not models.onednn_available(), reason="this torch build has no oneDNN linear kernel")
def test_the_onednn_layer_computes_what_baddbmm_computes_forward_and_backward(monkeypatch):
    """Output and all three gradients (input, weights, bias) of the oneDNN ensemble layer equal the
    torch.baddbmm layer's up to float rounding; for a first layer (data input, no gradient) backward runs
    only the weight products: E kernel calls, not 2E."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 7, 5, generator=gen)
    W = torch.randn(3, 5, 4, generator=gen)
    b = torch.randn(3, 1, 4, generator=gen)
    gy = torch.randn(3, 7, 4, generator=gen)
    grads = {}
    for kind in ("blas", "onednn"):
        xi, Wi, bi = (t.clone().requires_grad_() for t in (x, W, b))
        y = torch.baddbmm(bi, xi, Wi) if kind == "blas" else models._OneDNNLayer.apply(xi, Wi, bi)
        y.backward(gy)
        grads[kind] = (y.detach(), xi.grad, Wi.grad, bi.grad)
    for name, a, c in zip(("y", "dx", "dW", "db"), grads["blas"], grads["onednn"]):
        torch.testing.assert_close(c, a, rtol=1e-5, atol=1e-5, msg=name)
    calls = []
    real = models._linear
    monkeypatch.setattr(models, "_linear", lambda *a: calls.append(1) or real(*a))
    Wi = W.clone().requires_grad_()
    y = models._OneDNNLayer.apply(x, Wi, b)
    assert len(calls) == 3  # forward: one call per member
    y.backward(gy)
    assert len(calls) == 6 and Wi.grad is not None  # backward: the weight gradients only


@pytest.mark.skipif(not models.onednn_available(), reason="this torch build has no oneDNN linear kernel")
def test_onednn_pretraining_steps_agree_with_blas(monkeypatch):
    """Twenty pretraining steps through oneDNN and through baddbmm, same seeds and batches: the weights agree
    to float rounding (a step's products are the same; only the summation order differs)."""
    data = synthetic_case(2)
    recipe = transfer.Recipe(hidden=(64, 32))
    X = torch.from_numpy(data.X_source)
    Y = torch.from_numpy(data.y_source.astype(np.float32)).unsqueeze(0).repeat(2, 1)
    nets = {}
    for kind in ("blas", "onednn"):
        net = EnsembleMLP([3, 4], X.shape[1], recipe.hidden, matmul=kind)
        rngs = [np.random.default_rng([s, 1]) for s in (3, 4)]
        pretrain.pretrain_fixed(net, X, Y, [np.arange(1500), np.arange(1500)], rngs, 20, recipe)
        nets[kind] = net
    for a, c in zip(nets["blas"].parameters(), nets["onednn"].parameters()):
        torch.testing.assert_close(c, a, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not models.onednn_available(), reason="this torch build has no oneDNN linear kernel")
def test_onednn_matmul_reaches_pretraining_and_fine_tuning_and_repeats_bit_for_bit(monkeypatch):
    """recipe matmul="onednn" is used by pretraining (batches of 512) and by fine-tuning (batches of 128),
    repeats bit for bit with the pretrained-network cache off (both runs pretrain), and stays unrecorded
    in the recipe's dict when it is the default "blas" (the final grids' hashes are unchanged)."""
    monkeypatch.setenv("S2R_PRETRAIN_CACHE", "off")
    data = synthetic_case(2)
    recipe = transfer.Recipe(hidden=(64, 32), pretrain_epochs=2, pretrain_min_steps=40, finetune_max_epochs=12,
                             patience_epochs=4)
    fast = transfer.Recipe.from_dict({**recipe.to_dict(), "matmul": "onednn"})
    batches = []
    real = models._OneDNNLayer.forward

    def counted(ctx, x, W, b):
        batches.append(x.shape[1])
        return real(ctx, x, W, b)

    monkeypatch.setattr(models._OneDNNLayer, "forward", staticmethod(counted))
    one = transfer.run_trials(data, 500, trials=3, seed=1, recipe=fast, progress=False)
    assert batches.count(recipe.pretrain_batch) == 3 * fast.pretrain_steps(500)  # every pretraining step, 3 layers
    assert batches.count(recipe.finetune_batch) >= 3 * 4  # fine-tuning steps
    again = transfer.run_trials(data, 500, trials=3, seed=1, recipe=fast, progress=False)
    assert one.attrs["pretrain_reused"] == again.attrs["pretrain_reused"] == 0
    pd.testing.assert_frame_equal(one, again)
    assert "matmul" not in recipe.to_dict() and fast.to_dict()["matmul"] == "onednn"


def test_matmul_choices_are_validated(monkeypatch):
    from s2rlib.training import params as validation
    from s2rlib._core.errors import ParameterError

    with pytest.raises(ParameterError, match=r"recipe.matmul='mkl': expected one of \['blas', 'onednn'\]"):
        validation.validate_recipe({"matmul": "mkl"})
    monkeypatch.setattr(validation, "bf16_native", lambda: True)
    monkeypatch.setattr(validation, "onednn_available", lambda: True)
    with pytest.raises(ParameterError, match=r"matmul='onednn' with precision='bf16'.*use matmul \"blas\""):
        validation.validate_recipe({"matmul": "onednn", "precision": "bf16"})
    monkeypatch.setattr(validation, "onednn_available", lambda: False)
    with pytest.raises(ParameterError, match="no oneDNN linear kernel"):
        validation.validate_recipe({"matmul": "onednn"})
    assert validation.validate_recipe({}).matmul == "blas"


def test_bf16_is_refused_with_the_reason_on_a_cpu_without_it(monkeypatch):
    from s2rlib.training import params as validation
    from s2rlib._core.errors import ParameterError

    monkeypatch.setattr(validation, "bf16_native", lambda: False)
    with pytest.raises(ParameterError, match=r"recipe.precision=.bf16.: this CPU has no bfloat16 instructions.*use \"fp32\""):
        validation.validate_recipe({"precision": "bf16"})
    with pytest.raises(ParameterError, match=r"recipe.precision='fp16': expected one of \['fp32', 'bf16'\]"):
        validation.validate_recipe({"precision": "fp16"})
    assert validation.validate_recipe({}).precision == "fp32"


# ---------------------------------------------------------------- issue 27: the exact-arithmetic levers
def _checkpoint_every_due_member(best, params, local, better):
    """The checkpoint update before issue 27: every due member's rows rewritten through torch.where."""
    for bp, p in zip(best, params):
        bp[local] = torch.where(better.view(-1, *[1] * (p.dim() - 1)), p.detach()[local], bp[local])


def _anchor_every_member(self, weights, coef):
    """The L2-SP anchor before issue 27: every member's reference weights kept, every member pulled."""
    self.anchors = [w.detach().clone() for w in weights]
    self.anchor_coef = coef
    self.anchor_rows = torch.arange(len(coef))


def test_exact_levers_reproduce_the_code_before_them_bit_for_bit(monkeypatch):
    """Checkpoint copies only for the members that improved, and the L2-SP pull only on the members with a
    coefficient > 0, change no number: a point (every candidate's validation and test error recorded, members
    stopping at different epochs, one L2-SP candidate in three) equals, to the bit, the same point with both
    put back as they were (every due member copied, every member pulled)."""
    monkeypatch.setenv("S2R_PRETRAIN_CACHE", "off")
    data = _uneven_case(6)
    recipe = transfer.Recipe(**{**FAST.__dict__, "finetune_max_epochs": 30, "patience_epochs": 3})
    new = transfer.run_trials(data, 500, trials=3, seed=2, recipe=recipe, progress=False, record_candidates=True)
    with monkeypatch.context() as mp:
        mp.setattr(finetune, "keep_best", _checkpoint_every_due_member)
        mp.setattr(models.EnsembleAdam, "anchor", _anchor_every_member)
        old = transfer.run_trials(data, 500, trials=3, seed=2, recipe=recipe, progress=False, record_candidates=True)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert len(set(_metric(new, "finetune_steps"))) > 1  # members really stopped at different steps
    assert (new.metric == "mae@l2sp1e-3_lr1e-3").any()


def test_distinct_candidates_drop_the_l2sp_twin_at_n0_only(monkeypatch):
    """distinct_candidates=True: at n = 0 the L2-SP candidate is the whole network's recipe, so it is not
    trained and reports the whole network's result (never picked: argmin takes the first of a tie); the
    other candidates train as before (same seeds, up to rounding); at n > 0 nothing changes, to the bit."""
    monkeypatch.setenv("S2R_PRETRAIN_CACHE", "off")
    distinct = transfer.Recipe(**{**FAST.__dict__, "distinct_candidates": True})
    assert transfer.candidate_twins(distinct, 0) == [0, 1, 0] and transfer.candidate_twins(distinct, 10) == [0, 1, 2]
    assert transfer.candidate_twins(FAST, 0) == [0, 1, 2]
    assert "distinct_candidates" not in FAST.to_dict() and distinct.to_dict()["distinct_candidates"] is True
    data = _uneven_case(7)
    runs = {(r, n): transfer.run_trials(data, n, trials=3, seed=4, recipe=rec, progress=False, record_candidates=True)
            for r, rec in (("all", FAST), ("distinct", distinct)) for n in (0, 300)}
    pd.testing.assert_frame_equal(runs["all", 300], runs["distinct", 300], check_exact=True)
    a, d = runs["all", 0], runs["distinct", 0]
    assert "l2sp1e-3_lr1e-3" not in set(d.selected_recipe)
    for name in ("full_lr1e-3", "body1e-4_head1e-3"):
        for kind in ("val_mae", "mae"):
            np.testing.assert_allclose(_metric(d, f"{kind}@{name}"), _metric(a, f"{kind}@{name}"), rtol=1e-5)
    np.testing.assert_array_equal(_metric(d, "mae@l2sp1e-3_lr1e-3"), _metric(d, "mae@full_lr1e-3"))
    assert not np.allclose(_metric(a, "val_mae@l2sp1e-3_lr1e-3"), _metric(a, "val_mae@full_lr1e-3"))
    assert (_metric(d, "finetune_steps") < _metric(a, "finetune_steps")).all()


def test_fused_adam_keeps_members_independent_and_lands_near_the_reference(monkeypatch):
    """optimizer="fused": batched (trials x candidates, the members' learning rates interleaved) equals one
    network at a time up to rounding, as the reference step does; the trials move from the reference's (the
    setting reaches the steps) but not far; "adam" stays unrecorded in the recipe's dict."""
    from dataclasses import replace

    monkeypatch.setenv("S2R_PRETRAIN_CACHE", "off")
    fused = replace(FAST, optimizer="fused", finetune_max_epochs=40, patience_epochs=4)
    data = _uneven_case(4)
    batched = transfer.run_trials(data, 600, trials=3, seed=20, recipe=fused, progress=False)
    alone = transfer.run_trials(data, 600, trials=3, seed=20, recipe=fused, progress=False, batched=False)
    _assert_same_trials(batched, alone)
    ref = transfer.run_trials(data, 600, trials=3, seed=20, recipe=replace(fused, optimizer="adam"), progress=False)
    fm, rm = _metric(batched, "mae").to_numpy(), _metric(ref, "mae").to_numpy()
    assert not np.array_equal(fm, rm) and abs(fm.mean() - rm.mean()) < 0.05 * rm.mean(), (fm, rm)
    assert "optimizer" not in FAST.to_dict() and fused.to_dict()["optimizer"] == "fused"


def test_optimizer_and_distinct_candidates_are_validated():
    from s2rlib.training import params as validation
    from s2rlib._core.errors import ParameterError

    with pytest.raises(ParameterError, match=r"recipe.optimizer='sgd': expected one of \['adam', 'fused'\]"):
        validation.validate_recipe({"optimizer": "sgd"})
    with pytest.raises(ParameterError, match="recipe.distinct_candidates='yes': expected true or false"):
        validation.validate_recipe({"distinct_candidates": "yes"})
    assert validation.validate_recipe({"optimizer": "fused", "distinct_candidates": True}).optimizer == "fused"


# ---------------------------------------------------------------- issue 27: the early discard of trailing candidates
def test_early_discard_does_what_its_replay_on_the_full_curves_says(monkeypatch):
    """A run with the early discard equals its replay on the curves of a run without it: the same candidates
    stop at the same epochs, validation picks the same candidate, and every kept candidate's numbers are the
    full run's to the bit (candidates never interact). The margin is small enough that some candidates go."""
    monkeypatch.setenv("S2R_PRETRAIN_CACHE", "off")
    data = _uneven_case(6)
    base = transfer.Recipe(**{**FAST.__dict__, "finetune_max_epochs": 40, "patience_epochs": 6})
    full = transfer.run_trials(data, 500, trials=3, seed=2, recipe=base, progress=False, record_candidates=True)
    curves = full.attrs["val_curves"]
    assert (curves.epoch == 0).sum() == 3 * len(base.candidates)  # epoch 0: the pretrained network, every pair
    margin, after = 0.02, 2
    replay = finetune.discard_replay(curves, margin, after)
    assert replay.discarded.any() and not replay.discarded.all()
    cut = transfer.run_trials(data, 500, trials=3, seed=2, progress=False, record_candidates=True,
                              recipe=dataclasses.replace(base, finetune_discard=margin, finetune_discard_after=after))
    got = cut.attrs["val_curves"].groupby(["trial", "candidate"]).epoch.max()
    want = replay.set_index(["trial", "candidate"]).stop_epoch
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index().rename("epoch"), check_dtype=False)
    assert (_metric(cut, "finetune_discarded") == replay.groupby("trial").discarded.sum().to_numpy()).all()
    picks = cut[cut.metric == "mae"].set_index("trial").selected_recipe
    assert picks.to_dict() == replay.groupby("trial").picked.first().to_dict()
    for t, c in replay[~replay.discarded][["trial", "candidate"]].itertuples(index=False):
        a = full[(full.trial == t) & (full.metric == f"mae@{c}")].value.item()
        b = cut[(cut.trial == t) & (cut.metric == f"mae@{c}")].value.item()
        assert a == b
    assert _metric(cut, "finetune_steps").sum() < _metric(full, "finetune_steps").sum()
    # one trial at a time (the reference path) discards the same candidates at the same epochs
    alone = transfer.run_trials(data, 500, trials=3, seed=2, progress=False, batched=False, record_candidates=True,
                                recipe=dataclasses.replace(base, finetune_discard=margin, finetune_discard_after=after))
    assert (_metric(alone, "finetune_discarded") == _metric(cut, "finetune_discarded")).all()


def test_discard_replay_counts_a_stop_at_the_last_epoch_as_patience_not_discard():
    import pandas as pd_
    rows = [("a", e, v) for e, v in enumerate([1.0, 0.9, 0.8, 0.85, 0.86])] + \
           [("b", e, v) for e, v in enumerate([1.0, 0.95, 0.96, 0.97])] + \
           [("c", e, v) for e, v in enumerate([1.0, 0.99, 0.7])]
    curves = pd_.DataFrame([{"trial": 0, "candidate": c, "epoch": e, "val_mae": v} for c, e, v in rows])
    r = finetune.discard_replay(curves, 0.1, 0).set_index("candidate")
    # epoch 1: lead 0.9 (a); b 0.95 within 10%; c 0.99 > 0.99 is false (0.99 = 1.1 * 0.9): kept
    # epoch 2: lead 0.7 (c, at its last epoch); a 0.8 > 0.77: discarded at 2; b 0.95 > 0.77: discarded at 2
    assert r.loc["a", "stop_epoch"] == 2 and bool(r.loc["a", "discarded"])
    assert r.loc["b", "stop_epoch"] == 2 and bool(r.loc["b", "discarded"])
    assert r.loc["c", "stop_epoch"] == 2 and not bool(r.loc["c", "discarded"])
    assert r.picked.iloc[0] == "c" and r.picked_full.iloc[0] == "c"
    r3 = finetune.discard_replay(curves, 0.1, 3).set_index("candidate")  # no discard before epoch 3
    assert r3.loc["a", "stop_epoch"] == 3 and bool(r3.loc["a", "discarded"])
    assert r3.loc["b", "stop_epoch"] == 3 and not bool(r3.loc["b", "discarded"])  # its patience ends there


def test_a_recorded_recipe_keeps_its_meaning_when_a_default_changes():
    """A field recorded only when not at its RECORDED_IF_NOT value means that value when absent, so a later
    change of the default (e.g. the pretraining schedule) does not reinterpret the committed rows."""
    @dataclasses.dataclass(frozen=True)
    class Later(transfer.Recipe):
        pretrain_schedule: str = "converge"
        pretrain_max_steps: int | None = 60000
        optimizer: str = "fused"

    old_record = transfer.Recipe().to_dict()
    assert "pretrain_schedule" not in old_record and "optimizer" not in old_record
    again = Later.from_dict(old_record)
    assert again.pretrain_schedule == "fixed" and again.optimizer == "adam" and again.pretrain_max_steps is None
    new_record = Later().to_dict()
    assert new_record["pretrain_schedule"] == "converge" and new_record["optimizer"] == "fused"
    assert Later.from_dict(new_record) == Later()
