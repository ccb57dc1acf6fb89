"""Two ways of training the same network, side by side in one process: one real grid point (same seeds,
wall time, paired test-MAE difference) and one training step of each shape (median ms). Shared by
``bench_precision.py`` (fp32 against bf16) and ``bench_matmul.py`` (MKL against oneDNN).

An *arm* is a name and the ``transfer.Recipe`` fields it sets (``{"precision": "bf16"}``); the first arm is
the reference: ``difference`` is second - first, ``speedup`` first time / second time.
"""

from __future__ import annotations

import os
import statistics
import time

from machine import log

STEP_SHAPES = {"pretrain": (10, 512), "fine-tune": (60, 128)}  # name: (members, batch)


def grid_point(n: int, trials: int, overrides: dict, arms: dict[str, dict], seed: int = 0) -> dict:
    """One band-gap point per arm, in order, same seeds (trial t: ``seed + t``); times and per-trial test MAE."""
    import pandas as pd

    from s2rlib.datasets import inorganic
    from s2rlib.training import transfer
    from s2rlib.law.trial_stats import paired_gain

    os.environ["S2R_PRETRAIN_CACHE"] = "off"  # every arm pretrains: a cached network would time nothing
    data = inorganic.load_band_gap()
    out = {"n": n, "trials": trials, "seed": seed, "runs": {}}
    for arm, fields in arms.items():
        recipe = transfer.Recipe.from_dict({**transfer.Recipe().to_dict(), **overrides, **fields})
        log(f"(a) band gap n={n}, {trials} trials, {arm}")
        t0 = time.perf_counter()
        rows = transfer.run_trials(data, n, trials=trials, seed=seed, recipe=recipe, progress=False)
        wall = time.perf_counter() - t0
        per = rows.pivot(index="trial", columns="metric", values="value")
        out["runs"][arm] = {"wall_s": wall, "mae": per["mae"].tolist(), "val_mae": per["val_mae"].tolist(),
                            "pretrain_steps": int(rows.attrs["pretrain_steps"])}
        out["ratio_test_pool"] = float((per["n_test"] / per["n_pool"]).mean())
        log(f"    {wall / 60:.1f} min, mean test MAE {per['mae'].mean():.4f}")
    first, second = list(arms)
    mat = pd.DataFrame([out["runs"][first]["mae"], out["runs"][second]["mae"]], index=[0, 1])
    g = paired_gain(mat, 1, 0, ratio=out["ratio_test_pool"])
    out["difference"] = {"mean": g.mean, "lo": g.lo, "hi": g.hi, "verdict": g.verdict, "level": g.level}
    out["speedup"] = out["runs"][first]["wall_s"] / out["runs"][second]["wall_s"]
    return out


def step_times(hidden, d_in: int, steps: int, repeats: int, arms: dict[str, dict]) -> dict:
    """ms per training step (forward, backward, Adam) of each shape, the arms interleaved ``repeats`` times."""
    import torch

    from s2rlib._core import allocator
    from s2rlib.training.models import EnsembleAdam, EnsembleMLP
    from s2rlib.training.device import training_precision

    allocator.keep_freed_memory(True)
    out = {}
    for name, (E, B) in STEP_SHAPES.items():
        net = EnsembleMLP(list(range(E)), d_in, hidden)
        opt = EnsembleAdam(net, [torch.full((E, 1, 1), 1e-4)] * len(net.weights))
        X, Y = torch.randn(E, B, d_in), torch.randn(E, B)
        times = {arm: [] for arm in arms}

        def step(fields):
            net.matmul = fields.get("matmul", "blas")
            with training_precision(fields.get("precision", "fp32")):
                pred = net(X).float()
            (pred - Y).abs().mean(1).sum().backward()
            opt.step()

        for _ in range(repeats):
            for arm, fields in arms.items():
                for _ in range(2):
                    step(fields)
                t0 = time.perf_counter()
                for _ in range(steps):
                    step(fields)
                times[arm].append(1e3 * (time.perf_counter() - t0) / steps)
        flops = EnsembleMLP([0], d_in, hidden).flops_per_sample() * E * B
        ms = {arm: statistics.median(t) for arm, t in times.items()}
        out[name] = {"members": E, "batch": B, "ms_per_step": ms,
                     "gflops": {arm: flops / (m / 1e3) / 1e9 for arm, m in ms.items()}}
    return out
