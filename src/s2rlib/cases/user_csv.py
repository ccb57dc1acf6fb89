"""A user's own case from two CSV files: checking and loading them (sha256-verified).

Kinds and the columns each CSV must have (a header line, then one row per sample):

* ``composition``: ``formula,target`` (a chemical formula pymatgen parses, e.g. ``Fe2O3``);
  rows with the same reduced formula are merged by the mean.
* ``polymer``: ``smiles,target`` (the repeat unit with two ``*``, e.g. ``*CC(*)c1ccccc1``); rows
  of the same polymer (one canonical repeat unit, see :mod:`s2rlib.features.repeat_unit`) are merged by the mean.

``target`` is the property in the case's units, finite in every row. The experimental split is
by the merged identity (composition / polymer), and the simulations of a trial's test materials
are withheld from its pretraining draw (``CaseData.source_groups``).

:func:`s2rlib.cli.new_case.new_case` checks everything before it writes anything: columns, empty files, non-numeric
or infinite targets, unparseable formulas or SMILES (with the CSV line numbers), too few
experimental rows to split, a name that is taken, a target with nothing in common with the
source. Then it writes one file, ``<cases dir>/<name>.toml``, that references the CSVs by
absolute path and sha256 (nothing is copied); loading checks the sha256 again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib.datasets import registry as datasets
from s2rlib.datasets.case_data import CaseData, file_record
from s2rlib._core.errors import ChecksumError, DataError, DataUnavailableError, ParameterError
from s2rlib.datasets.inorganic import composition_table
from s2rlib.datasets.polymers import smiles_table
from s2rlib.features import composition, molecules
from s2rlib.features.repeat_unit import parse_repeat_units

log = logging.getLogger(__name__)

COLUMNS = {"composition": ("formula", "target"), "polymer": ("smiles", "target")}
MIN_SOURCE = 10


def _read(path: Path, side: str, expected_sha256: str | None = None, case_file: str = "") -> tuple[pd.DataFrame, datasets.LoadedFile]:
    path = Path(path).expanduser()
    if not path.is_file():
        where = f" (recorded in {case_file})" if case_file else ""
        raise DataUnavailableError(f"{side} file {path}{where} does not exist")
    data = path.read_bytes()
    digest = datasets.sha256_bytes(data)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ChecksumError(
            f"{path}: the {side} file changed since the case was created: sha256 {digest}, but {case_file} "
            f"recorded {expected_sha256}. Results computed from the old file would be mixed with new ones; "
            f"restore the file, or remove {case_file} and run `s2r new-case` again to make a new case.")
    return datasets.parse_csv_bytes(data, str(path)), datasets.LoadedFile(side, data, digest, str(path))


def check_columns(df: pd.DataFrame, kind: str, location: str) -> None:
    """The kind's columns are there (else an error naming what was found and what was expected)."""
    need = COLUMNS[kind]
    missing = [c for c in need if c not in df.columns]
    if not missing:
        return
    other = [k for k, cols in COLUMNS.items() if k != kind and cols[0] in df.columns]
    if other:
        raise DataError(f"{location}: it has a {COLUMNS[other[0]][0]!r} column, i.e. {other[0]} data, but the case's "
                        f"kind is {kind!r}, which needs the columns {list(need)}; source and target must be of one kind "
                        f"(use --kind {other[0]} if both files hold {other[0]} data)")
    hint = ""
    lower = {str(c).strip().lower(): c for c in df.columns}
    near = [f"{lower[c]!r} -> {c!r}" for c in missing if c in lower]
    if near:
        hint = f" (rename {', '.join(near)}: column names are case- and space-sensitive)"
    raise DataError(f"{location}: missing column(s) {missing}; found {list(df.columns)}. A {kind} file needs the "
                    f"columns {list(need)}, with a header line{hint}")


def _identities(df: pd.DataFrame, kind: str, location: str) -> np.ndarray:
    """Merge identities of every row (reduced formula / canonical repeat unit); bad rows are an error."""
    col = COLUMNS[kind][0]
    values = df[col].tolist()
    if kind == "composition":
        parsed = composition.parse_formulas(values)
        errors, ids = parsed.errors, parsed.reduced
    else:
        ids, errors = parse_repeat_units(values)
        ok = np.array([i not in errors for i in range(len(values))], dtype=bool)
        if ok.any():  # parses, but the descriptors fail (e.g. a valence rdkit rejects after capping)
            _, bad = molecules.featurize_unique(ids[ok])
            rows = np.nonzero(ok)[0]
            errors.update({int(rows[k]): why for k, why in bad.items()})
    if errors:
        first = sorted(errors.items())[:5]
        detail = "; ".join(f"line {datasets.line_of(df, i)} ({values[i]!r}): {why}" for i, why in first)
        what = "formula(s)" if kind == "composition" else "polymer SMILES"
        raise DataError(f"{location}: {len(errors)} unparseable {what}, first: {detail}")
    return np.asarray(ids, dtype=str)


def _elements(reduced: np.ndarray) -> set[str]:
    from pymatgen.core import Composition

    return {el.symbol for f in set(reduced.tolist()) for el in Composition(f).elements}


#: the largest |target| a CSV may hold: the networks train in float32 (7 significant digits, at most ~3.4e38)
MAX_ABS_TARGET = 1e15


def _check_values(y: np.ndarray, side: str, location: str, df: pd.DataFrame | None = None) -> None:
    """A target column a network can learn from: not one constant value, not beyond float32 training."""
    if len(y) and np.all(y == y[0]):
        raise DataError(f"{location}: every value in the {side} file's target column is {y[0]:g}: a constant cannot be learned or scored "
                        f"(the test R² and the errors would say nothing); check the column")
    big = np.abs(y) > MAX_ABS_TARGET
    if big.any():
        lines = [datasets.line_of(df, int(i)) if df is not None else int(i) + 2 for i in np.nonzero(big)[0][:5]]
        raise DataError(f"{location}: {int(big.sum())} value(s) in the {side} file's target column beyond ±{MAX_ABS_TARGET:.0e} "
                        f"(largest {np.abs(y).max():.3g}, line(s) {lines}): the networks train in float32, where such "
                        f"values overflow or lose their differences; rescale the column (other units, or a log)")


def check_files(source: str | Path, target: str | Path, kind: str) -> dict:
    """The checks of the two CSVs themselves (columns, values, identities, shared chemistry); returns their
    facts (sha256, rows, distinct materials, overlap). ``s2r new-case`` adds the split check."""
    if kind not in COLUMNS:
        raise ParameterError(f"--kind {kind!r}: expected one of {list(COLUMNS)}")
    facts = {}
    ids = {}
    for side, path in (("source", source), ("target", target)):
        df, loaded = _read(Path(path), side)
        check_columns(df, kind, loaded.location)
        datasets.numeric_column(df, "target", loaded.location)  # non-numeric, NaN, inf: lines named
        ids[side] = _identities(df, kind, loaded.location)
        y = pd.to_numeric(df["target"]).to_numpy(dtype=float)
        _check_values(y, side, loaded.location, df)
        facts[side] = {"path": str(Path(path).expanduser().resolve()), "sha256": loaded.sha256, "rows": len(df),
                       "unique": len(set(ids[side].tolist())), "zeros": float(np.mean(y == 0)),
                       "min": float(y.min()), "max": float(y.max())}
    if facts["source"]["unique"] < MIN_SOURCE:
        raise DataError(f"{source}: {facts['source']['unique']} distinct {kind}(s) after merging duplicates; "
                        f"a source needs at least {MIN_SOURCE} to pretrain on")
    if kind == "composition":
        shared = _elements(ids["source"]) & _elements(ids["target"])
        if not shared:
            raise DataError(f"{target}: no element of the target's compositions occurs in the source {source}: "
                            f"a network pretrained there has seen none of this chemistry")
    facts["target"]["in_source"] = int(np.isin(np.unique(ids["target"]), ids["source"]).sum())
    return facts


#: a source and target whose shares of zero values differ by more than this (a fraction) are warned about
ZERO_SHARE_GAP = 0.20
#: ... and those whose ranges (max - min) differ by more than this factor, either way
RANGE_FACTOR = 10.0


def mismatch_warnings(facts: dict) -> list[str]:
    """Warnings (not errors) when source and target look like different quantities: their shares of zeros
    differ by more than :data:`ZERO_SHARE_GAP`, or their ranges by more than :data:`RANGE_FACTOR`; each
    names both numbers. ``facts``: what :func:`check_files` returns."""
    src, tgt = facts["source"], facts["target"]
    out = []
    if abs(src["zeros"] - tgt["zeros"]) > ZERO_SHARE_GAP:
        out.append(f"the source {src['path']} has {src['zeros']:.0%} zero values, the target {tgt['path']} "
                   f"{tgt['zeros']:.0%} (more than {ZERO_SHARE_GAP:.0%} points apart): check that both hold the same "
                   f"property in the same units, and that a zero means the same in both (e.g. metals in a band gap)")
    spans = {side: f["max"] - f["min"] for side, f in (("source", src), ("target", tgt))}
    ratio = spans["target"] / spans["source"] if spans["source"] > 0 else np.inf
    if not (1 / RANGE_FACTOR <= ratio <= RANGE_FACTOR):
        out.append(f"the target's values span {tgt['min']:.4g} to {tgt['max']:.4g} (range {spans['target']:.4g}), the "
                   f"source's {src['min']:.4g} to {src['max']:.4g} (range {spans['source']:.4g}): the target's range is "
                   f"{ratio:.3g} times the source's, more than {RANGE_FACTOR:g}x apart; check the units of both files")
    return out


# ---------------------------------------------------------------------------------------------- loading


def _table(df: pd.DataFrame, loaded: datasets.LoadedFile, kind: str, use_cache: bool) -> dict[str, np.ndarray]:
    if kind == "composition":
        t = composition_table(df, loaded, merge="mean", use_cache=use_cache)
        return {"X": t["X"], "y": t["y"], "ids": t["reduced"], "count": t["count"],
                "dropped": len(t["dropped_rows"])}
    y = datasets.numeric_column(df, "target", loaded.location).to_numpy()
    t = smiles_table(df["smiles"].tolist(), y, [loaded.sha256], tag="csv-case", location=loaded.location,
                     use_cache=use_cache)
    return {"X": t["X"], "y": t["y"], "ids": t["ids"], "count": t["count"], "dropped": len(t["dropped_lines"])}


def load(case, use_cache: bool = True) -> CaseData:
    """The :class:`CaseData` of a CSV case (``case``: a :class:`s2rlib.cases.registry.Case`)."""
    spec = case.spec
    kind = spec["kind"]
    tables, files, rows = {}, [], {}
    for side in ("source", "target"):
        s = spec[side]
        df, loaded = _read(Path(s["path"]), f"{case.name}_{side}", s["sha256"], case.file)
        check_columns(df, kind, loaded.location)
        tables[side] = _table(df, loaded, kind, use_cache)
        files.append(file_record(loaded))
        rows[side] = len(df)
    src, tgt = tables["source"], tables["target"]
    feature_names = composition.feature_names if kind == "composition" else molecules.feature_names
    notes = {
        "kind": kind, "source_rows": rows["source"], "source_unique": len(src["y"]),
        "source_duplicates_merged": int(src["count"].sum() - len(src["count"])),
        "source_unparseable_dropped": src["dropped"],
        "target_rows": rows["target"], "target_unique": len(tgt["y"]),
        "target_duplicates_merged": int(tgt["count"].sum() - len(tgt["count"])),
        "target_unparseable_dropped": tgt["dropped"],
        "target_in_source": int(np.isin(tgt["ids"], src["ids"]).sum()),
        "merge": "mean over rows of the same " + spec["grouping"],
    }
    return CaseData(
        case=case.name, X_source=src["X"], y_source=src["y"], X_target=tgt["X"], y_target=tgt["y"],
        groups_target=np.asarray(tgt["ids"]), feature_names=feature_names(), units=spec["units"], files=files,
        notes=notes, source_ids=np.asarray(src["ids"]), target_ids=np.asarray(tgt["ids"]),
        source_groups=np.asarray(src["ids"]),
        # the simulated value of each experimental material, where the source has it (simulation baseline)
        y_target_sim=pd.Series(src["y"]).groupby(np.asarray(src["ids"])).mean().reindex(tgt["ids"]).to_numpy(),
    )
