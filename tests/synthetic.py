"""Synthetic results tables in the tidy schema, for testing the book's code without real runs.

``synthetic_table`` draws per-trial test errors from a known law ``D n^-alpha + C`` (with a
per-trial offset, so trials are paired like the real protocol) and writes every metric the
grid notebooks write. The numbers are made up; never put such a table under ``results/``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from s2rlib.cases import registry as cases
from s2rlib.grid import results

LAWS = {  # case: (D, alpha, C, baseline, noise, units)
    "formation_enthalpy": (0.9, 0.45, 0.080, 0.21, 0.004),
    "band_gap": (1.4, 0.30, 0.30, 0.52, 0.010),
    "polymer_density": (0.25, 0.55, 0.020, 0.060, 0.002),
    "chi": (1.2, 0.40, 0.12, 0.36, 0.008),
}


DEFAULT_LAW = (1.0, 0.35, 0.10, 0.30, 0.006)  # any other case of the registry


def synthetic_table(case: str, ns=(0, 100, 300, 1000, 3000, 10000), ms=(-1,), trials: int = 5, seed: int = 0,
                    law=None, n_exp: int = 1000) -> pd.DataFrame:
    """A tidy results table for ``case`` with errors from a known law (m > 0 scales D and C up)."""
    D, alpha, C, base, noise = law or LAWS.get(case, DEFAULT_LAW)
    rng = np.random.default_rng(seed)
    rows = []
    recipe_names = ["full_lr1e-3", "full_lr3e-4", "full_lr1e-4", "head_lr3e-3"]
    for m in ms:
        scale = 1.0 if m == -1 else (n_exp / m) ** 0.25
        params = {"case": case, "trials": trials, "seed": seed, "m_target": None if m == -1 else m,
                  "recipe": {"finetune_max_epochs": 5}, "threads": 1, "synthetic": True}
        offsets = rng.normal(0, noise, trials)
        for n in ns:
            mean = base * scale if n == 0 else (D * n ** (-alpha) + C) * scale
            for t in range(trials):
                mae = float(mean + offsets[t] + rng.normal(0, noise))
                n_pool = n_exp if m == -1 else m
                metrics = {"mae": mae, "rmse": 1.3 * mae, "r2": 0.8, "val_mae": mae * 1.02,
                           "finetune_best_step": 120, "n_train": int(0.8 * n_pool), "n_val": n_pool - int(0.8 * n_pool),
                           "n_test": 250, "n_source_used": n}
                recipe = recipe_names[(t + n) % len(recipe_names)] if n else "full_lr1e-3"
                for metric, value in metrics.items():
                    rows.append(dict(case=case, n_source=n, m_target=m, trial=t, seed=seed + t, metric=metric,
                                     value=value, selected_recipe=recipe, params_id=results.params_id(params),
                                     params=json.dumps(params, sort_keys=True), data_sha256="ab" * 32,
                                     code_version="0.1.0+gsynthetic", wall_s=1.5))
    return pd.DataFrame(rows, columns=results.COLUMNS)


def write_synthetic_results(root, names=None) -> dict:
    """Write ``<root>/<case>/results.csv`` for each case (default: every built-in case of the registry,
    a two-way case with its m grid); returns paths."""
    from pathlib import Path

    out = {}
    for case in names or cases.builtin_names():
        c = cases.get_case(case)
        ms = tuple(-1 if m is None else m for m in c.default_ms)
        small = max(n for n in c.default_ns if n != "all") < 10000  # a source of ~1,000 samples
        ns = (0, 30, 100, 300, 1000) if small else (0, 100, 300, 1000, 3000, 10000)
        out[case] = results.write_atomic(synthetic_table(case, ns=ns, ms=ms), Path(root) / case / "results.csv")
    return out


if __name__ == "__main__":  # python tests/synthetic.py DIR [case ...]
    import sys

    for c, p in write_synthetic_results(sys.argv[1], sys.argv[2:] or None).items():
        print(c, p)
