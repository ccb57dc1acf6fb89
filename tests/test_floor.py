"""benchmarks/floor.py: the training FLOPs it counts from a point's rows are the FLOPs training ran (exactly
where no member stops early, at most otherwise), pretraining counts once per n, and the committed report
is the rendering of the committed raw numbers."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import floor  # noqa: E402
from machine import FlopCounter  # noqa: E402
from test_transfer import synthetic_case  # noqa: E402

from s2rlib.training import transfer  # noqa: E402
from s2rlib._core.constants import ALL_M  # noqa: E402

#: fine-tuning patience = its whole budget: every member trains exactly finetune_max_epochs epochs
NO_EARLY_STOP = transfer.Recipe(hidden=(16, 8), pretrain_epochs=2, pretrain_min_steps=7, finetune_batch=32,
                                finetune_max_epochs=6, patience_epochs=6)
EARLY_STOP = transfer.Recipe(hidden=(16, 8), pretrain_epochs=2, pretrain_min_steps=7, finetune_batch=32,
                             finetune_max_epochs=150, patience_epochs=3)
#: the same with the one candidate validation then always chooses: its stopping step is on record
ONE_CANDIDATE = transfer.Recipe(**{**EARLY_STOP.__dict__, "candidates": EARLY_STOP.candidates[:1]})


@pytest.fixture(autouse=True)
def _no_pretrain_cache(monkeypatch):
    monkeypatch.setenv("S2R_PRETRAIN_CACHE", "off")


def _run(data, n, recipe, trials=3, m=ALL_M):
    with FlopCounter() as counted:
        rows = transfer.run_trials(data, n, trials=trials, seed=5, recipe=recipe, m=m, progress=False)
    return rows, counted


def _floor_of(rows, recipe, d_in, trials=3, recorded=False):
    """The count from a point's rows; ``recorded=True`` also passes every candidate's recorded steps."""
    per = rows.pivot_table(index="trial", columns="metric", values="value")
    return floor.training_flops(d_in=d_in, recipe=recipe, pretrain_steps=rows.attrs["pretrain_steps"],
                                trials=trials, n_train=per["n_train"].to_numpy(),
                                best_step=per["finetune_best_step"].to_numpy(),
                                finetune_steps=per["finetune_steps"].to_numpy() if recorded else None)


@pytest.mark.parametrize("n", [0, 400])
def test_training_flops_are_exactly_the_trained_samples_when_no_member_stops_early(n):
    data = synthetic_case()
    rows, counted = _run(data, n, NO_EARLY_STOP)
    f = _floor_of(rows, NO_EARLY_STOP, data.X_source.shape[1])
    assert (f["pretrain"] > 0) == (n > 0)
    assert f["pretrain"] + f["finetune"] == pytest.approx(counted.train_samples * f["flops_per_sample"],
                                                                 rel=1e-12)


@pytest.mark.parametrize("d_in,hidden", [(8, (16, 8)), (62, (512, 512, 256)), (267, (32,))])
def test_flops_per_sample_is_what_torch_counts_for_a_training_step(d_in, hidden):
    """Forward and backward of one step, counted by torch itself: no input gradient for the first layer."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from s2rlib.training.models import EnsembleMLP

    E, B = 3, 5
    net = EnsembleMLP([0, 1, 2], d_in, hidden)
    x = torch.randn(E, B, d_in)  # data: no gradient, as in training
    with FlopCounterMode(display=False) as counter:
        net(x).abs().mean(1).sum().backward()
    matmul = sum(v for op, v in counter.get_flop_counts()["Global"].items() if "mm" in str(op))
    assert floor.flops_per_sample(d_in, hidden) * E * B == matmul


def test_each_member_stops_patience_epochs_after_its_best_step_or_at_the_cap(monkeypatch):
    """The rule the lower bound rests on, member by member: steps = min(best + patience epochs, max epochs)."""
    seen = []
    real = transfer.finetune

    def spy(model, X, Y, tr_idx, va_idx, rngs, body, head, recipe, **kw):
        info = real(model, X, Y, tr_idx, va_idx, rngs, body, head, recipe, **kw)
        seen.append(([len(i) for i in tr_idx], info["best_step"].tolist(), info["steps"].tolist()))
        return info

    monkeypatch.setattr(transfer, "finetune", spy)
    _run(synthetic_case(1), 400, EARLY_STOP)
    (sizes, best, steps), = seen
    assert len(steps) == 3 * len(EARLY_STOP.candidates)
    for n_train, b, s in zip(sizes, best, steps):
        spe = -(-n_train // EARLY_STOP.finetune_batch)
        assert s == min(b + EARLY_STOP.patience_epochs * spe, EARLY_STOP.finetune_max_epochs * spe)
        assert s >= min(EARLY_STOP.patience_epochs, EARLY_STOP.finetune_max_epochs) * spe  # the bound per member
    assert any(s < EARLY_STOP.finetune_max_epochs * -(-n // 32) for n, s in zip(sizes, steps)), "no member stopped early"


def test_the_chosen_candidates_steps_are_exact_when_members_stop_early():
    data = synthetic_case(1)
    rows, counted = _run(data, 400, ONE_CANDIDATE)
    f = _floor_of(rows, ONE_CANDIDATE, data.X_source.shape[1])
    best = rows[rows.metric == "finetune_best_step"]["value"]
    steps_per_epoch = np.ceil(rows[rows.metric == "n_train"]["value"].to_numpy() / 32)
    assert (best > 0).all() and (best.to_numpy() + 3 * steps_per_epoch < 150 * steps_per_epoch).any(), \
        "every member must improve and one stop early, or the test would not exercise best_step + patience"
    assert f["pretrain"] + f["finetune"] == pytest.approx(counted.train_samples * f["flops_per_sample"],
                                                                 rel=1e-12)


def test_training_flops_are_a_lower_bound_when_the_other_candidates_stop_early():
    data = synthetic_case(1)
    rows, counted = _run(data, 400, EARLY_STOP)
    f = _floor_of(rows, EARLY_STOP, data.X_source.shape[1])
    trained = counted.train_samples * f["flops_per_sample"]
    assert f["pretrain"] + f["finetune"] <= trained
    # the bound holds all of pretraining and the chosen candidates' steps
    chosen = _floor_of(rows, ONE_CANDIDATE, data.X_source.shape[1])
    assert f["pretrain"] + f["finetune"] > chosen["pretrain"] + chosen["finetune"]


def test_recorded_steps_of_every_candidate_make_the_count_exact():
    data = synthetic_case(1)
    rows, counted = _run(data, 400, EARLY_STOP)
    bound, exact = _floor_of(rows, EARLY_STOP, data.X_source.shape[1]), _floor_of(rows, EARLY_STOP, data.X_source.shape[1],
                                                                                 recorded=True)
    assert exact["finetune_exact"] and not bound["finetune_exact"]
    assert exact["pretrain"] + exact["finetune"] == pytest.approx(counted.train_samples * exact["flops_per_sample"],
                                                                  rel=1e-12)
    assert exact["finetune"] > bound["finetune"]  # the other candidates trained past patience: the bound is strict


def test_recorded_steps_below_the_bound_are_refused():
    with pytest.raises(ValueError, match="at least the lower bound"):
        floor.training_flops(d_in=4, recipe=EARLY_STOP, pretrain_steps=7, trials=2, n_train=[64, 64],
                             best_step=[10, 0], finetune_steps=[5, 500])


def test_wrong_per_trial_inputs_are_refused():
    with pytest.raises(ValueError, match="each of the 3 trials"):
        floor.training_flops(d_in=4, recipe=EARLY_STOP, pretrain_steps=7, trials=3, n_train=[10, 10],
                             best_step=[0, 0, 0])


def _table(rows, n, m):
    params = json.dumps({"recipe": NO_EARLY_STOP.to_dict(), "trials": 3, "m_target": m,
                         "pretrain_steps": rows.attrs["pretrain_steps"]})
    return rows.assign(n_source=n, m_target=m, params=params, wall_s=rows.attrs["wall_s"])


def test_pretraining_counts_once_per_n_across_m_and_the_sums_add_up():
    data = synthetic_case(2)
    a, _ = _run(data, 400, NO_EARLY_STOP, m=ALL_M)
    b, _ = _run(data, 400, NO_EARLY_STOP, m=40)
    c, _ = _run(data, 0, NO_EARLY_STOP, m=40)
    table = pd.concat([_table(a, 400, ALL_M), _table(b, 400, 40), _table(c, 0, 40)])
    g = floor.grid_floor(table, data.X_source.shape[1])
    one = _floor_of(a, NO_EARLY_STOP, data.X_source.shape[1], recorded=True)
    assert g["finetune_exact"]  # today's rows record every candidate's steps
    assert g["pretrain_once"] == pytest.approx(one["pretrain"])
    assert g["pretrain_per_point"] == pytest.approx(2 * one["pretrain"])
    assert g["finetune"] == pytest.approx(sum(p["finetune"] for p in g["points"]))
    assert [(p["n"], p["m"]) for p in g["points"]] == [(0, 40), (400, ALL_M), (400, 40)]
    small = next(p for p in g["points"] if p["m"] == 40 and p["n"] == 400)
    assert small["finetune"] < one["finetune"]  # fewer training rows, shorter epochs


def test_a_table_that_mixes_recipes_is_refused():
    data = synthetic_case(3)
    a, _ = _run(data, 0, NO_EARLY_STOP)
    mixed = pd.concat([_table(a, 0, ALL_M), _table(a, 0, 40).assign(params=json.dumps(
        {"recipe": EARLY_STOP.to_dict(), "trials": 3, "m_target": 40, "pretrain_steps": 0}))])
    with pytest.raises(ValueError, match="one recipe and trial count"):
        floor.grid_floor(mixed, data.X_source.shape[1])


def test_committed_floor_report_is_rendered_from_floor_json(tmp_path):
    shutil.copy(REPO / "benchmarks" / "floor.json", tmp_path / "floor.json")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "floor.py"), "--report-only", "--out", str(tmp_path)],
                   check=True, timeout=120)
    assert (tmp_path / "FLOOR.md").read_text() == (REPO / "benchmarks" / "FLOOR.md").read_text(), \
        "benchmarks/FLOOR.md differs from the rendering of floor.json: rerun benchmarks/floor.py"


def test_committed_floor_counts_the_committed_tables():
    """floor.json's counts are grid_floor over today's committed tables (the feature width as recorded)."""
    res = json.loads((REPO / "benchmarks" / "floor.json").read_text())
    for case, c in res["cases"].items():
        table = pd.read_csv(REPO / c["table"])
        again = floor.grid_floor(table, c["d_in"])
        for key in ("pretrain_once", "pretrain_per_point", "finetune", "wall_s", "recipe_is_default", "trials"):
            assert again[key] == pytest.approx(c[key]), (case, key)
        assert len(c["points"]) == table.groupby(["n_source", "m_target"]).ngroups, case
    s = floor.summary(res)
    assert s["floor_min"]["fp32"] == pytest.approx(s["flops"] / res["ceiling_gflops"]["fp32"] / 1e9 / 60)


def test_benchmarks_readme_quotes_the_committed_floor():
    res = json.loads((REPO / "benchmarks" / "floor.json").read_text())
    text = " ".join((REPO / "benchmarks" / "README.md").read_text().split())
    assert "**Compute floor** (`benchmarks/FLOOR.md`): " + floor.readme_sentence(res) in text


def test_the_rerun_page_sentence_is_the_committed_floor(tmp_path):
    """The book's sentence (``run_tables.floor_sentence``) reads the summary floor.py stored, which is the summary
    of the stored counts; without a floor.json it says nothing."""
    from s2rlib.book import run_tables

    res = json.loads((REPO / "benchmarks" / "floor.json").read_text())
    s = floor.summary(res)
    assert json.loads(json.dumps(s)) == res["summary"]
    text = run_tables.floor_sentence()
    assert f"{s['flops'] / 1e12:,.0f} TFLOP, which is **{s['floor_min']['fp32']:,.0f} minutes**" in text
    assert f"The committed points took {s['wall_min']:,.0f} minutes" in text
    assert run_tables.floor_sentence(tmp_path / "absent.json") == ""
