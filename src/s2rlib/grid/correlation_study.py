"""Is the interval right? The correlation of re-split trials measured on disjoint parts of the data.

Every grid point re-splits one experimental data set ``J`` times; its trials share rows, so their mean
varies more than ``s^2 / J`` says. The book's intervals use the Nadeau-Bengio factor
``1/J + n_test/n_pool`` (:func:`s2rlib.law.trial_stats.paired_gain`), an assumption, not a measurement.
This study measures it: the experimental rows are cut into ``H`` disjoint parts by whole groups (the
split's identity: composition, polymer, pair), each part is one independent data set, and on each the
usual ``J`` re-split trials run. The spread of the parts' means is then what a ``J``-trial mean really
varies by, to compare with what the factor predicts from each part's own trials
(:func:`s2rlib.law.correlation.nb_check`). ``R`` random partitions repeat it.

Results are one CSV per (partition, part), written atomically under ``results/correlation/<case>/``;
a rerun skips the parts already on disk. ``python -m s2rlib.grid.correlation_study CASE``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from s2rlib._core.constants import ALL_M
from s2rlib._core.errors import ParameterError
from s2rlib._core.paths import results_root
from s2rlib.cases.registry import load_case
from s2rlib.datasets.case_data import CaseData
from s2rlib.grid import results
from s2rlib.training.params import validate_recipe
from s2rlib.training.transfer import Recipe, run_trials

STUDY_DIR = "correlation"


def partition(groups: np.ndarray, parts: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``parts`` disjoint row sets of about equal size, by whole groups (a group is never in two)."""
    uniq, inverse = np.unique(np.asarray(groups), return_inverse=True)
    if parts < 2 or parts > len(uniq):
        raise ParameterError(f"parameter parts={parts}: expected 2 to {len(uniq)} (the data's groups)")
    order = rng.permutation(len(uniq))
    sizes = np.bincount(inverse, minlength=len(uniq))
    load = np.zeros(parts)
    owner = np.empty(len(uniq), dtype=np.int64)
    for g in order:  # each group to the part with the fewest rows so far: balanced, random
        p = int(np.argmin(load))
        owner[g] = p
        load[p] += sizes[g]
    return [np.nonzero(owner[inverse] == p)[0] for p in range(parts)]


def subset(data: CaseData, rows: np.ndarray) -> CaseData:
    """``data`` with only the experimental rows ``rows`` (the source unchanged)."""
    pick = lambda a: None if a is None else np.asarray(a)[rows]
    return replace(data, X_target=data.X_target[rows], y_target=data.y_target[rows],
                   groups_target=data.groups_target[rows], target_ids=pick(data.target_ids),
                   y_target_sim=pick(data.y_target_sim), notes={**data.notes, "target_rows_kept": int(len(rows))})


def part_path(out_dir: Path, case: str, n: int, m: int, r: int, p: int) -> Path:
    m_name = "all" if m == ALL_M else f"{m}"
    return Path(out_dir) / f"{case}__n{n}__m{m_name}__r{r}__p{p}.csv"


def run_study(case: str, data: CaseData, *, out_dir: str | Path, n: int = 0, m: int = 100, parts: int = 8,
              partitions: int = 2, trials: int = 10, seed: int = 0, recipe: Recipe = Recipe(),
              progress: bool = True) -> pd.DataFrame:
    """Run every (partition, part) not yet on disk; return the study table of this (case, n, m)."""
    out_dir = Path(out_dir)
    smallest = min(len(rows) for rows in partition(data.groups_target, parts, np.random.default_rng([seed, 7, 0])))
    pool = smallest * (1 - recipe.test_fraction)
    if m != ALL_M and pool < m:
        raise ParameterError(f"parameter parts={parts}: the smallest part has {smallest} rows, a pool of about "
                             f"{pool:.0f} outside its test split, fewer than m={m}; use fewer parts or a smaller m")
    todo = [(r, p) for r in range(partitions) for p in range(parts)]
    bar = tqdm(todo, desc=f"correlation {case}", disable=not progress)
    for r, p in bar:
        path = part_path(out_dir, case, n, m, r, p)
        if path.is_file():
            continue
        rows_p = partition(data.groups_target, parts, np.random.default_rng([seed, 7, r]))[p]
        t0 = time.perf_counter()
        # each part its own seeds: its trials are independent of every other part's
        rows = run_trials(subset(data, rows_p), n, trials=trials, seed=seed + 10_000 * (r * parts + p) + 1,
                          recipe=recipe, m=m, progress=False)
        rows.insert(0, "case", case)
        rows.insert(1, "n_source", n)
        rows.insert(2, "m_target", m)
        rows.insert(3, "partition", r)
        rows.insert(4, "part", p)
        rows["part_rows"] = len(rows_p)
        rows["recipe"] = json.dumps(recipe.to_dict(), sort_keys=True)
        rows["data_sha256"] = data.data_sha256
        rows["code_version"] = results.code_version()
        rows["wall_s"] = time.perf_counter() - t0
        results.write_atomic(rows, path)
    return load_study(out_dir, case, n, m)


def load_study(out_dir: str | Path, case: str, n: int | None = None, m: int | None = None) -> pd.DataFrame:
    """Every part file of ``case`` (of one n and m when given) under ``out_dir``, concatenated."""
    m_name = None if m is None else ("all" if m == ALL_M else f"{m}")
    pattern = f"{case}__n{'*' if n is None else n}__m{'*' if m_name is None else m_name}__r*__p*.csv"
    files = sorted(Path(out_dir).glob(pattern))
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m s2rlib.grid.correlation_study", description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("--n", type=int, default=0, help="computational samples (default 0: no pretraining)")
    ap.add_argument("--m", type=int, default=100, help="experimental training samples per trial")
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recipe", default="{}", help="JSON of recipe overrides")
    ap.add_argument("--out", default=None, help="default results/correlation/<case>")
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else results_root() / STUDY_DIR / a.case
    run_study(a.case, load_case(a.case), out_dir=out, n=a.n, m=a.m, parts=a.parts, partitions=a.partitions,
              trials=a.trials, seed=a.seed, recipe=validate_recipe(a.recipe))


if __name__ == "__main__":
    main()
