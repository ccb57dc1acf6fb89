"""Where training runs (issue 27, item 3): the CPU is the reference and keeps its numbers and ids; a GPU is
refused with the reason where there is none, and on a machine with one it reproduces the CPU's metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from s2rlib import cli
from s2rlib._core.errors import ParameterError
from s2rlib.grid import runner
from s2rlib.training import device, pretrain_cache, transfer
from s2rlib.training.params import validate_params
from test_transfer import FAST, synthetic_case

HAS_CUDA = torch.cuda.is_available()


def _values(rows: pd.DataFrame) -> pd.Series:
    return rows.set_index(["trial", "metric"])["value"].sort_index()


def test_device_cpu_is_the_default_bit_for_bit(monkeypatch):
    monkeypatch.setenv("S2R_PRETRAIN_CACHE", "off")  # both runs pretrain: the comparison covers pretraining too
    torch.use_deterministic_algorithms(True)
    data = synthetic_case()
    a = transfer.run_trials(data, 400, trials=2, seed=5, recipe=FAST, m=60, progress=False)
    b = transfer.run_trials(data, 400, trials=2, seed=5, recipe=FAST, m=60, progress=False, device="cpu")
    keep = ~a["metric"].isin(["wall_s"])
    assert np.array_equal(_values(a[keep]).to_numpy(), _values(b[keep]).to_numpy(), equal_nan=True)


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA device")
def test_cuda_is_refused_with_the_reason_where_there_is_none():
    with pytest.raises(ParameterError, match=r"device='cuda'.*(CPU-only build|no usable CUDA device).*--device cpu"):
        device.resolve("cuda")
    with pytest.raises(ParameterError, match=r"device='cuda'"):
        transfer.run_trials(synthetic_case(), 100, trials=1, seed=0, recipe=FAST, progress=False, device="cuda")


def test_unknown_devices_are_refused_with_the_choices():
    for bad in ("gpu", "tpu", 3):
        with pytest.raises(ParameterError, match=r"expected one of \['cpu', 'cuda'\]"):
            device.resolve(bad)
    assert device.resolve(None) == torch.device("cpu") and device.resolve("") == torch.device("cpu")


def test_a_cpu_point_records_nothing_so_its_grid_id_is_unchanged(tmp_path):
    p = validate_params("formation_enthalpy", 1000, 2, 0, device="cpu")
    assert p["device"] == "cpu" and p["device_record"] == {}
    kw = dict(trials=2, seed=0, out_dir=tmp_path, check_data=False)
    default = runner.plan("formation_enthalpy", [0, 1000], [100], **kw)
    cpu = runner.plan("formation_enthalpy", [0, 1000], [100], device="cpu", **kw)
    assert [q.pid for q in default] == [q.pid for q in cpu] and "device" not in cpu[0].params
    assert all(q.device == "cpu" for q in cpu)


def test_the_pretrained_cache_keys_of_the_cpu_stay_and_a_gpu_gets_its_own():
    data = synthetic_case()
    kw = dict(data_sha256="a" * 64, n=100, seeds=[0, 1], draws=[np.arange(5), np.arange(5)], recipe=FAST,
              y_stats=[(0.0, 1.0), (0.0, 1.0)], X=data.X_source[:10], y=data.y_source[:10])
    cpu = pretrain_cache.key(**kw)
    assert pretrain_cache.key(**kw, device=None) == cpu
    gpu = pretrain_cache.key(**kw, device={"type": "cuda", "name": "NVIDIA H100", "cuda": "12.8"})
    other = pretrain_cache.key(**kw, device={"type": "cuda", "name": "NVIDIA H200", "cuda": "12.8"})
    assert len({cpu, gpu, other}) == 3


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA device")
def test_the_grid_command_refuses_cuda_before_any_point_runs(tmp_path, capsys):
    rc = cli.main(["grid", "formation_enthalpy", "--ns", "0", "--ms", "100", "--trials", "1", "--quiet",
                   "--threads", "1", "--out", str(tmp_path / "g"), "--device", "cuda"])
    err = capsys.readouterr().err
    assert rc == 2 and "device='cuda'" in err and "--device cpu" in err
    assert not (tmp_path / "g" / "points").exists() or not any((tmp_path / "g" / "points").iterdir())


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_reproduces_the_cpu_up_to_rounding_and_records_the_gpu(monkeypatch):
    monkeypatch.setenv("S2R_PRETRAIN_CACHE", "off")
    torch.use_deterministic_algorithms(True)
    data = synthetic_case()
    cpu = transfer.run_trials(data, 400, trials=2, seed=5, recipe=FAST, m=60, progress=False)
    gpu = transfer.run_trials(data, 400, trials=2, seed=5, recipe=FAST, m=60, progress=False, device="cuda")
    again = transfer.run_trials(data, 400, trials=2, seed=5, recipe=FAST, m=60, progress=False, device="cuda")
    mae = lambda r: r[r.metric == "mae"].set_index("trial")["value"]  # noqa: E731
    assert np.array_equal(mae(gpu).to_numpy(), mae(again).to_numpy())  # deterministic on the GPU too
    np.testing.assert_allclose(mae(gpu).to_numpy(), mae(cpu).to_numpy(), rtol=0.05)
    rec = device.record("cuda")["device"]
    assert rec["type"] == "cuda" and rec["name"] == torch.cuda.get_device_name(0)
    assert json.dumps(rec)  # a point's params are JSON
