"""Recipe options: loss, non-negative output, L2-SP, the look-up protocol, the simulation baseline."""

import dataclasses

import numpy as np
import pytest
import torch

from s2rlib.grid import recipe_study
from s2rlib.training import pretrain, transfer
from s2rlib.training.models import EnsembleAdam, EnsembleMLP

from test_transfer import FAST, _metric, synthetic_case


def test_loss_kinds_match_their_definitions():
    pred = torch.tensor([[0.0, 1.0, 3.0], [1.0, 1.0, 1.0]])
    y = torch.tensor([[0.5, 1.0, 0.0], [1.0, 3.0, 1.0]])
    # per member mean, summed over members
    assert pretrain.loss(pred, y, "l1").item() == pytest.approx((0.5 + 0 + 3) / 3 + 2 / 3)
    assert pretrain.loss(pred, y, "mse").item() == pytest.approx((0.25 + 9) / 3 + 4 / 3)
    # huber: 0.5 e^2 within 1, |e| - 0.5 beyond
    assert pretrain.loss(pred, y, "huber").item() == pytest.approx((0.125 + 2.5) / 3 + 1.5 / 3)
    with pytest.raises(ValueError, match="unknown loss 'l3'"):
        pretrain.loss(pred, y, "l3")


def test_lookup_protocol_draws_test_materials_simulations():
    data = synthetic_case(3, n_source=400, n_target=200)
    data.source_groups = np.array([f"g{i % 100}" for i in range(400)])
    held = transfer.run_trials(data, 400, trials=1, seed=0, recipe=FAST, progress=False)
    lookup = transfer.run_trials(data, 400, trials=1, seed=0, progress=False,
                                 recipe=dataclasses.replace(FAST, withhold_test_sources=False))
    assert int(_metric(held, "n_source_used").iloc[0]) < 400
    assert int(_metric(lookup, "n_source_used").iloc[0]) == 400


def test_nonneg_output_clips_predictions_for_a_nonnegative_property_only():
    data = synthetic_case(4, n_source=600, n_target=200)
    data.y_source = np.maximum(data.y_source, 0).astype(np.float32)  # half zeros, like band gaps
    data.y_target = np.maximum(data.y_target, 0).astype(np.float32)
    rec = dataclasses.replace(FAST, nonneg="auto")
    out = transfer.run_trials(data, 300, trials=2, seed=0, recipe=rec, progress=False, record_candidates=True)
    clipped, raw = _metric(out, "mae"), _metric(out, "mae_unclipped")
    assert (clipped <= raw + 1e-7).all() and (clipped < raw).any()  # some raw predictions were negative
    # a property with negative values is never clipped
    neg = synthetic_case(4, n_source=600, n_target=200)
    out = transfer.run_trials(neg, 300, trials=1, seed=0, recipe=rec, progress=False, record_candidates=True)
    assert _metric(out, "mae").iloc[0] == pytest.approx(_metric(out, "mae_unclipped").iloc[0])


def test_l2sp_pulls_the_body_toward_its_reference():
    torch.manual_seed(0)
    def train(coef):
        net = EnsembleMLP([1, 2], 3, (8,))
        ref = [W.detach().clone() for W in net.weights[:-1]]
        opt = EnsembleAdam(net, [torch.full((2, 1, 1), 1e-2)] * 2)
        opt.anchor(ref, torch.tensor([0.0, coef]).view(-1, 1, 1))
        X = torch.randn(2, 64, 3)
        for _ in range(200):
            ((net(X) - 5.0) ** 2).mean(1).sum().backward()
            opt.step()
        return [(W.detach() - r).norm(dim=(1, 2)) for W, r in zip(net.weights[:-1], ref)][0]
    moved = train(100.0)
    assert moved[1] < 0.3 * moved[0]  # member 1 (strong pull) stays near its reference, member 0 does not
    # the anchor follows a narrowed optimizer
    net = EnsembleMLP([1, 2, 3], 3, (4,))
    opt = EnsembleAdam(net, [torch.full((3, 1, 1), 1e-2)] * 2)
    opt.anchor([net.weights[0].detach().clone()], torch.tensor([0.0, 1.0, 2.0]).view(-1, 1, 1))
    small = opt.select(net.select([2]), torch.tensor([2]))
    assert small.anchor_coef.flatten().tolist() == [2.0] and small.anchors[0].shape[0] == 1


def test_simulation_baseline_recovers_an_exact_linear_simulation():
    data = synthetic_case(5, n_source=300, n_target=200)
    sim = (data.y_target - 0.4) / 2.0  # the experiment is exactly 0.4 + 2 * simulation
    sim[::4] = np.nan  # a quarter of the materials were never simulated
    data.y_target_sim = sim
    out = transfer.run_trials(data, 0, trials=2, seed=0, recipe=FAST, progress=False)
    assert (_metric(out, "sim_mae") < 1e-4).all()
    n_test, n_sim = _metric(out, "n_test"), _metric(out, "n_test_sim")
    assert ((n_sim < n_test) & (n_sim > 0.6 * n_test)).all()
    assert (_metric(out, "mae_on_sim") > 0.01).all()  # the model is not exact
    # no simulations: NaN, not an error
    plain = synthetic_case(5, n_source=300, n_target=200)
    out = transfer.run_trials(plain, 0, trials=1, seed=0, recipe=FAST, progress=False)
    assert np.isnan(_metric(out, "sim_mae").iloc[0])


def test_record_candidates_reports_every_candidate_and_the_choice_is_the_validation_minimum():
    data = synthetic_case(6)
    out = transfer.run_trials(data, 500, trials=2, seed=0, recipe=FAST, progress=False, record_candidates=True)
    names = [c.name for c in FAST.candidates]
    for t in range(2):
        row = out[out.trial == t]
        vals = {n: row[row.metric == f"val_mae@{n}"]["value"].iloc[0] for n in names}
        chosen = row["selected_recipe"].iloc[0]
        assert chosen == min(vals, key=vals.get)
        assert row[row.metric == "mae"]["value"].iloc[0] == pytest.approx(
            row[row.metric == f"mae@{chosen}"]["value"].iloc[0], rel=1e-5)


def test_recipe_steps_are_cumulative_and_the_first_is_the_first_recipe():
    rec = recipe_study.recipes()
    names = [s.name for s in recipe_study.STEPS]
    assert rec[names[0]].hidden == (128, 128, 64) and rec[names[0]].loss == "mse"
    assert rec["wide"].loss == "l1" and rec["wide"].nonneg == "auto" and rec["wide"].hidden == (512, 512, 256)
    for a, b in zip(names, names[1:]):  # each step changes what it says and keeps the rest
        da, db = rec[a].to_dict(), rec[b].to_dict()
        changed = {k for k in da if da[k] != db[k]}
        step = next(s for s in recipe_study.STEPS if s.name == b)
        assert changed == set(step.overrides) - {k for k in step.overrides if da[k] == db[k]} and changed


def test_nadeau_bengio_interval_is_wider_than_the_naive_t():
    from scipy import stats

    d = np.array([-0.02, -0.01, -0.03, 0.0, -0.015])
    mean, lo, hi = recipe_study.nb_interval(d, 250, 1000)
    naive = stats.t.ppf(0.95, 4) * d.std(ddof=1) / np.sqrt(5)
    assert mean == pytest.approx(d.mean())
    assert (hi - lo) / 2 == pytest.approx(naive * np.sqrt(1 + 5 * 250 / 1000))


def test_pretrained_networks_are_reused_across_m_and_give_the_same_numbers(tmp_path, monkeypatch):
    """With y_scale='source' pretraining does not depend on m: the m = 60 point reuses the network
    the m = all point pretrained, and its numbers equal a run that pretrains from scratch."""
    from s2rlib.training import pretrain_cache

    data = synthetic_case(7, n_source=800, n_target=240)
    rec = dataclasses.replace(FAST, y_scale="source")
    monkeypatch.setenv(pretrain_cache.PRETRAIN_CACHE_ENV, str(tmp_path / "pre"))
    full = transfer.run_trials(data, 500, trials=2, seed=0, recipe=rec, progress=False)
    small = transfer.run_trials(data, 500, trials=2, seed=0, recipe=rec, progress=False, m=60)
    assert full.attrs["pretrain_reused"] == 0 and small.attrs["pretrain_reused"] == 1
    assert len(list((tmp_path / "pre").glob("*.pt"))) == 1
    monkeypatch.setenv(pretrain_cache.PRETRAIN_CACHE_ENV, "off")
    fresh = transfer.run_trials(data, 500, trials=2, seed=0, recipe=rec, progress=False, m=60)
    assert fresh.attrs["pretrain_reused"] == 0
    np.testing.assert_array_equal(small["value"].to_numpy(), fresh["value"].to_numpy())
    # with y_scale='train' the m = 60 standardisation differs, so nothing is reused
    monkeypatch.setenv(pretrain_cache.PRETRAIN_CACHE_ENV, str(tmp_path / "pre2"))
    by_train = dataclasses.replace(FAST, y_scale="train")
    transfer.run_trials(data, 500, trials=2, seed=0, recipe=by_train, progress=False)
    other = transfer.run_trials(data, 500, trials=2, seed=0, recipe=by_train, progress=False, m=60)
    assert other.attrs["pretrain_reused"] == 0


def test_a_damaged_pretrained_network_is_set_aside_and_recomputed(tmp_path, monkeypatch, caplog):
    from s2rlib.training import pretrain_cache

    data = synthetic_case(8, n_source=400, n_target=120)
    rec = dataclasses.replace(FAST, y_scale="source")
    monkeypatch.setenv(pretrain_cache.PRETRAIN_CACHE_ENV, str(tmp_path))
    first = transfer.run_trials(data, 300, trials=1, seed=0, recipe=rec, progress=False)
    (entry,) = tmp_path.glob("*.pt")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    again = transfer.run_trials(data, 300, trials=1, seed=0, recipe=rec, progress=False)
    assert again.attrs["pretrain_reused"] == 0
    assert "damaged" in caplog.text and entry.name in caplog.text
    assert (tmp_path / (entry.name + ".damaged")).exists() or list(tmp_path.glob("*.damaged"))
    np.testing.assert_array_equal(first["value"].to_numpy(), again["value"].to_numpy())
