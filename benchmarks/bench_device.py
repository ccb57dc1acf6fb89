"""CPU against a CUDA GPU, side by side in one run: one real grid point (issue 27, item 3).

The same band-gap point (default recipe, the pretrained-network cache off, the same seeds) on the CPU with
every core (``--threads``), then twice on the GPU: wall time of ``transfer.run_trials`` per device, the speed-up, whether
the two GPU runs agree to the bit (deterministic algorithms on), and the paired test-MAE difference
GPU - CPU per trial with the Nadeau-Bengio corrected 90% interval (float rounding differs between devices,
so a GPU point is its own point; the interval says whether that changes the science).

    .venv/bin/python benchmarks/bench_device.py --out /tmp/dev            # n = 10,000, 4 trials
    .venv/bin/python benchmarks/bench_device.py --quick --out /tmp/dev    # a reduced recipe, ~1 minute on a CPU

The GPU run needs a CUDA build of torch 2.13.0 (the project pins the version; `pip install torch==2.13.0` on a
Linux GPU machine installs one); the CPU-only wheel refuses `cuda` with that reason.

Writes ``device.json`` into ``--out``. Where there is no CUDA device it records the refusal (the reason
:func:`s2rlib.training.device.resolve` gives) and times the CPU only, so the script runs anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from machine import log, machine_facts  # noqa: E402

QUICK_RECIPE = {"hidden": [64, 32], "pretrain_epochs": 2, "pretrain_min_steps": 50, "finetune_max_epochs": 10,
                "patience_epochs": 3}


def _point(data, n, trials, recipe, dev):
    from s2rlib.training import transfer

    t0 = time.perf_counter()
    rows = transfer.run_trials(data, n, trials=trials, seed=0, recipe=recipe, progress=False, device=dev)
    wall = time.perf_counter() - t0
    per = rows.pivot(index="trial", columns="metric", values="value")
    log(f"    {dev}: {wall:.1f} s, mean test MAE {per['mae'].mean():.4f}")
    return {"wall_s": wall, "mae": per["mae"].tolist(), "ratio_test_pool": float((per["n_test"] / per["n_pool"]).mean()),
            "pretrain_steps": int(rows.attrs["pretrain_steps"])}


def run(n: int, trials: int, quick: bool, threads: int) -> dict:
    import pandas as pd
    import torch

    from s2rlib._core.errors import ParameterError
    from s2rlib.datasets import inorganic
    from s2rlib.law.trial_stats import paired_gain
    from s2rlib.training import device, transfer

    os.environ["S2R_PRETRAIN_CACHE"] = "off"  # every run pretrains: a cached network would time nothing
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    recipe = transfer.Recipe.from_dict({**transfer.Recipe().to_dict(), **(QUICK_RECIPE if quick else {})})
    data = inorganic.load_band_gap()
    out = {"machine": machine_facts(threads), "n": n, "trials": trials, "quick": quick, "torch_threads": torch.get_num_threads()}
    log(f"band gap n={n}, {trials} trials")
    out["cpu"] = _point(data, n, trials, recipe, "cpu")
    try:
        out["gpu"] = device.describe(device.resolve("cuda"))
    except ParameterError as exc:
        out["gpu"] = {"refused": str(exc)}
        log(f"    no GPU run: {exc}")
        return out
    out["cuda"] = _point(data, n, trials, recipe, "cuda")
    again = _point(data, n, trials, recipe, "cuda")
    out["cuda_repeat_identical"] = again["mae"] == out["cuda"]["mae"]
    out["speedup"] = out["cpu"]["wall_s"] / out["cuda"]["wall_s"]
    mat = pd.DataFrame([out["cpu"]["mae"], out["cuda"]["mae"]], index=[0, 1])
    g = paired_gain(mat, 1, 0, ratio=out["cpu"]["ratio_test_pool"])
    out["difference"] = {"mean": g.mean, "lo": g.lo, "hi": g.hi, "verdict": g.verdict, "level": g.level,
                         "max_abs": max(abs(a - b) for a, b in zip(out["cpu"]["mae"], out["cuda"]["mae"]))}
    log(f"    speed-up {out['speedup']:.2f}x, GPU - CPU {g.mean:+.4f} [{g.lo:+.4f}, {g.hi:+.4f}] ({g.verdict}), "
        f"repeat identical: {out['cuda_repeat_identical']}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="a reduced recipe (a check that the script runs)")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of the CPU run (default: every core)")
    args = ap.parse_args(argv)
    result = run(300 if args.quick and args.n == 10_000 else args.n, 2 if args.quick and args.trials == 4 else args.trials,
                 args.quick, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "device.json.tmp"
    tmp.write_text(json.dumps(result, indent=1, default=str))
    tmp.replace(args.out / "device.json")
    log(f"wrote {args.out / 'device.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
