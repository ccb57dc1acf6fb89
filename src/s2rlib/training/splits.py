"""The experimental splits of a trial: random re-splits by group (the default), or a user's fixed folds.

* :func:`split_groups` — the default: trial seed ``s`` shuffles the groups and cuts test, validation and
  training sets from them (whole groups; ``m`` subsamples the training pool).
* :func:`fold_split` — a fixed split: the test rows are the fold's, given; the validation set is carved
  from the fold's training rows exactly as :func:`split_groups` carves it from its pool (whole groups,
  shuffled by the trial's seed), and ``m`` subsamples that pool the same way.
* :func:`read_split_file` — a split file as benchmark suites publish them (matbench's train/test ids per
  fold, or one ``fold`` column), checked against a case's experimental data: every error names the file,
  the line (or fold) and what was expected.

Split file formats (each fold is one trial; fold ``k`` in sorted order is trial ``k``):

* **CSV with a fold column**: a header with ``fold`` and one key column, ``id`` (or ``formula`` /
  ``smiles``: a material as the target CSV writes it, matched by the same identity the rows are merged
  by) or ``row`` (a 0-based data row of the target CSV, matbench's index). The rows listed with fold
  ``k`` are fold ``k``'s test set; every other experimental material is in its training pool.
* **JSON with train/test ids per fold**: ``{"folds": [{"train": [...], "test": [...]}, ...]}``, a list of
  such objects, or an object of named folds (``{"fold_0": {"train": [...], "test": [...]}}``). An id is a
  material (a string) or a row (an integer); ``train`` is optional (default: every material not tested).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib._core.constants import ALL_M
from s2rlib._core.errors import DataError, ParameterError
from s2rlib.datasets.case_data import CaseData
from s2rlib.features import composition
from s2rlib.features.repeat_unit import parse_repeat_units

KEY_COLUMNS = ("id", "formula", "smiles", "row")


def split_groups(groups: np.ndarray, rng: np.random.Generator, test_fraction: float, val_fraction: float,
                 m: int = ALL_M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split rows into (train, val, test) so that no group straddles two parts.

    Groups are shuffled and the first ``test_fraction`` of rows (by whole groups) go to test. With
    ``m``, the remaining pool is cut to ``m`` rows (whole groups, then trimmed); ``val_fraction``
    of those rows (whole groups) is the validation set, the rest training. Index arrays are sorted.
    """
    uniq, inverse = np.unique(groups, return_inverse=True)
    order = rng.permutation(len(uniq))
    sizes = np.bincount(inverse, minlength=len(uniq))[order]
    cum = np.cumsum(sizes)
    n_rows = len(groups)
    n_test_groups = int(np.searchsorted(cum, test_fraction * n_rows, side="left")) + 1
    test_groups = order[:n_test_groups]
    train, val = _carve_pool(inverse, len(uniq), order[n_test_groups:], val_fraction, m)
    test = np.nonzero(np.isin(inverse, test_groups))[0]
    return train, val, np.sort(test)


def _carve_pool(inverse: np.ndarray, n_groups: int, pool_groups: np.ndarray, val_fraction: float,
                m: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) rows of the pool ``pool_groups`` (in their shuffled order): cut to ``m`` rows (whole
    groups, then trimmed), the first ``val_fraction`` of them (whole groups) validation. Sorted."""
    if m != ALL_M:
        pool_sizes = np.cumsum(np.bincount(inverse, minlength=n_groups)[pool_groups])
        k = int(np.searchsorted(pool_sizes, m, side="left")) + 1
        pool_groups = pool_groups[:k]
    pool_rows = np.nonzero(np.isin(inverse, pool_groups))[0]
    if m != ALL_M and len(pool_rows) > m:
        # trim the last group's surplus rows so the pool has exactly m rows
        rank = {g: i for i, g in enumerate(pool_groups)}
        pool_rows = pool_rows[np.argsort([rank[g] for g in inverse[pool_rows]], kind="stable")][:m]
    pool_group_order = {g: i for i, g in enumerate(pool_groups)}
    ranks = np.array([pool_group_order[g] for g in inverse[pool_rows]])
    pool_rows = pool_rows[np.argsort(ranks, kind="stable")]
    n_val = max(1, int(round(val_fraction * len(pool_rows))))
    # extend the validation cut to the end of its last group
    cut = n_val
    while cut < len(pool_rows) - 1 and inverse[pool_rows[cut]] == inverse[pool_rows[cut - 1]]:
        cut += 1
    val, train = pool_rows[:cut], pool_rows[cut:]
    return np.sort(train), np.sort(val)


def fold_split(groups: np.ndarray, test: np.ndarray, pool: np.ndarray, rng: np.random.Generator,
               val_fraction: float, m: int = ALL_M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) of one fixed fold: ``test`` as given; validation and training carved from the
    fold's training rows ``pool`` as :func:`split_groups` carves its pool (whole groups, in the order the
    trial's ``rng`` shuffles them; ``m`` rows at most)."""
    uniq, inverse = np.unique(groups, return_inverse=True)
    order = rng.permutation(len(uniq))
    in_pool = np.zeros(len(uniq), dtype=bool)
    in_pool[inverse[pool]] = True
    train, val = _carve_pool(inverse, len(uniq), order[in_pool[order]], val_fraction, m)
    return train, val, np.sort(np.asarray(test, dtype=int))


@dataclass(frozen=True)
class Folds:
    """A checked split file: per fold (in trial order) its name, test rows and training-pool rows."""

    path: str
    sha256: str
    names: tuple[str, ...]
    test: tuple[np.ndarray, ...]
    pool: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.names)

    def check(self, trials: int, m: int, min_train: int, min_val: int) -> None:
        """``trials`` folds exist and each fold's training pool holds ``m`` (or enough) rows to carve."""
        if trials > len(self):
            raise ParameterError(f"parameter trials={trials}: the split file {self.path} has {len(self)} fold(s) "
                                 f"({', '.join(self.names)}); each trial is one fold, so trials must be <= {len(self)}")
        need = min_train + min_val if m == ALL_M else m
        for name, pool in zip(self.names[:trials], self.pool[:trials]):
            if len(pool) < need:
                raise ParameterError(f"split file {self.path}: fold {name} leaves {len(pool)} experimental row(s) "
                                     f"for training and validation; expected at least {need}"
                                     f"{f' (m_target={m})' if m != ALL_M else f' ({min_train} train + {min_val} validation)'}")


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _identity(text: str, kind: str) -> str | None:
    """A material's merge identity as a CSV case computes it (reduced formula, canonical repeat unit)."""
    if kind == "composition":
        parsed = composition.parse_formulas([text])
        return None if parsed.errors else str(parsed.reduced[0])
    if kind == "polymer":
        ids, errors = parse_repeat_units([text])
        return None if errors else str(ids[0])
    return None


class _Resolver:
    """Maps a split file's ids (materials or target-CSV rows) to rows of the case's experimental data."""

    def __init__(self, data: CaseData, kind: str, row_ids: list[str] | None, path: str):
        ids = data.target_ids if data.target_ids is not None else data.groups_target
        self.rows = {str(v): i for i, v in enumerate(ids)}
        self.kind, self.row_ids, self.path, self.n = kind, row_ids, path, len(ids)

    def __call__(self, key, where: str) -> int:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if self.row_ids is None:
                raise ParameterError(f"split file {self.path}, {where}: row {key}: row numbers need a case made from "
                                     f"CSV files (s2r new-case); expected a material id as the data name it")
            if not 0 <= key < len(self.row_ids):
                raise ParameterError(f"split file {self.path}, {where}: row {key}: expected a data row of the target "
                                     f"CSV, 0 to {len(self.row_ids) - 1} (0 = the first row after the header)")
            key = self.row_ids[key]
        text = str(key).strip()
        if text in self.rows:
            return self.rows[text]
        ident = _identity(text, self.kind)
        if ident is not None and ident in self.rows:
            return self.rows[ident]
        raise ParameterError(f"split file {self.path}, {where}: unknown id {text!r}: expected a material of the "
                             f"target data ({self.n:,} of them, e.g. {next(iter(self.rows))!r}) or a row number")


def _target_row_ids(case) -> list[str] | None:
    """The identity of every data row of a CSV case's target file (None for a built-in case)."""
    spec = getattr(case, "spec", {}) or {}
    if "loader" in spec or "path" not in spec.get("target", {}):
        return None
    df = pd.read_csv(spec["target"]["path"])
    col = "formula" if spec["kind"] == "composition" else "smiles"
    return [_identity(str(v), spec["kind"]) or str(v) for v in df[col]]


def _read_csv_folds(path: str, resolve: _Resolver) -> list[tuple[str, list[tuple[int, str]]]]:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ParameterError(f"split file {path}: not a readable CSV ({exc})") from None
    keys = [c for c in KEY_COLUMNS if c in df.columns]
    if "fold" not in df.columns or len(keys) != 1:
        raise ParameterError(f"split file {path}: columns {list(df.columns)}; expected `fold` and one key column of "
                             f"{list(KEY_COLUMNS)} (or a JSON file of train/test ids per fold)")
    key = keys[0]
    folds: dict[str, list[tuple[int, str]]] = {}
    for i, (fold, value) in enumerate(zip(df["fold"], df[key])):
        where = f"line {i + 2}"
        if not fold.strip():
            raise ParameterError(f"split file {path}, {where}: empty `fold`; expected the fold of {value!r}")
        if key == "row" and not value.strip().isdigit():
            raise ParameterError(f"split file {path}, {where}: row {value!r}: expected a row number >= 0")
        row = resolve(int(value) if key == "row" else value, where)
        folds.setdefault(fold.strip(), []).append((row, where))
    order = sorted(folds, key=lambda f: (0, int(f)) if f.lstrip("-").isdigit() else (1, f))
    return [(f, folds[f]) for f in order]


def _read_json_folds(path: str, resolve: _Resolver) -> list[tuple[str, list, list | None]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"split file {path}: not valid JSON ({exc})") from None
    doc = doc.get("folds", doc) if isinstance(doc, dict) else doc
    named = list(doc.items()) if isinstance(doc, dict) else [(str(i), f) for i, f in enumerate(doc)] \
        if isinstance(doc, list) else None
    if not named:
        raise ParameterError(f"split file {path}: expected a list of folds, {{\"folds\": [...]}} or an object of named "
                             f"folds, each {{\"train\": [ids], \"test\": [ids]}}")
    out = []
    for name, fold in named:
        if not (isinstance(fold, dict) and isinstance(fold.get("test"), list)
                and isinstance(fold.get("train", []), list)):
            raise ParameterError(f"split file {path}, fold {name}: expected an object with a `test` list of ids (and "
                                 f"an optional `train` list)")
        test = [(resolve(k, f"fold {name} test[{j}]"), f"fold {name} test[{j}]") for j, k in enumerate(fold["test"])]
        train = None if "train" not in fold else [resolve(k, f"fold {name} train[{j}]")
                                                  for j, k in enumerate(fold["train"])]
        out.append((str(name), test, train))
    return out


def read_split_file(path: str | Path, data: CaseData, case=None) -> Folds:
    """The folds of the split file ``path`` as rows of ``data`` (``case``: its :class:`~s2rlib.cases.Case`,
    for target-CSV row numbers and the identity of a material), checked: known ids, each material tested in
    one fold only, no empty test set, no fold whose test and training rows share a group."""
    path = str(Path(path).expanduser().resolve())
    if not Path(path).is_file():
        raise ParameterError(f"split file {path} does not exist")
    kind = (getattr(case, "spec", {}) or {}).get("kind", "")
    resolve = _Resolver(data, kind, _target_row_ids(case) if case is not None else None, path)
    if path.endswith(".json"):
        parsed = _read_json_folds(path, resolve)
    else:
        parsed = [(name, rows, None) for name, rows in _read_csv_folds(path, resolve)]
    if not parsed:
        raise ParameterError(f"split file {path}: no folds (a header only?); expected at least one fold")
    tested: dict[int, tuple[str, str]] = {}
    names, tests, pools = [], [], []
    groups = np.asarray(data.groups_target)
    for name, rows, train in parsed:
        if not rows:
            raise ParameterError(f"split file {path}, fold {name}: empty test set; expected at least one id to test")
        for row, where in rows:
            if row in tested and tested[row][0] != name:
                raise ParameterError(f"split file {path}, {where}: {str(groups[row])!r} is in the test sets of folds "
                                     f"{tested[row][0]} ({tested[row][1]}) and {name}; each material is tested in "
                                     f"one fold")
            tested[row] = (name, where)
        test = np.unique([r for r, _ in rows])
        pool = np.setdiff1d(np.arange(data.n_target), test) if train is None else np.unique(train)
        shared = set(groups[test].tolist()) & set(groups[pool].tolist())
        if shared:
            raise DataError(f"split file {path}, fold {name}: {len(shared)} group(s) in both its test and training "
                            f"rows, e.g. {sorted(map(str, shared))[0]!r}; a group may not straddle the split")
        names.append(name)
        tests.append(test)
        pools.append(pool)
    return Folds(path, file_sha256(path), tuple(names), tuple(tests), tuple(pools))
