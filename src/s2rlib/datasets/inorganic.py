"""Loaders of the inorganic case studies: band gap and formation enthalpy (compositions).

Duplicate compositions (same reduced formula) are merged: computed band gaps by the median over
polymorphs, computed formation energies by the minimum (the ground-state polymorph, the phase an
experiment measures), experimental values by the mean. Each merge and each dropped, unparseable
formula is counted in ``CaseData.notes`` and logged.

The descriptor (``Recipe.descriptor``, :mod:`s2rlib.features.descriptors`) is an argument of the
loaders: "composition" (the default) or the Magpie, mat2vec and oliynyk featurizers; the feature cache
is keyed on it. A composition whose elements the descriptor's table lacks is filled with the table's
mean (counted in the notes as ``source_descriptor_filled`` / ``target_descriptor_filled``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from s2rlib.datasets import registry as datasets
from s2rlib.datasets.case_data import CaseData, file_record
from s2rlib._core.errors import DataError
from s2rlib.features.cache import cache_key, cached_arrays
from s2rlib.features import descriptors
from s2rlib.features.composition import merge_duplicates, parse_checked

log = logging.getLogger(__name__)


def composition_table(df: pd.DataFrame, loaded: datasets.LoadedFile, *, merge: str, formula_col: str = "formula",
                      value_col: str = "target", use_cache: bool = True,
                      descriptor: str = descriptors.DEFAULT) -> dict[str, np.ndarray]:
    """Featurize a (formula, value) table with ``descriptor``, merge duplicate compositions; cached by file
    sha256 and descriptor.

    Returns arrays ``X`` (features), ``y``, ``reduced`` (reduced formulas), ``count`` (rows merged
    into each), ``natoms``, ``dropped_rows`` and, for a descriptor other than the default,
    ``filled_rows`` (rows of ``X`` whose elements the descriptor's table lacks, filled with its mean).
    """
    descriptors.check(descriptor)
    datasets.require_columns(df, [formula_col, value_col], loaded.location)
    y_all = datasets.numeric_column(df, value_col, loaded.location)

    def compute() -> dict[str, np.ndarray]:
        formulas = df[formula_col].tolist()
        parsed = parse_checked(formulas, location=loaded.location)
        X, filled = descriptors.featurize_parsed(parsed, descriptor, formulas=formulas)
        ok = parsed.ok
        first, y, count = merge_duplicates(parsed.reduced[ok], y_all.to_numpy()[ok], merge)
        rows = np.nonzero(ok)[0][first]
        out = {
            "X": X[rows].astype(np.float32), "y": y.astype(np.float64), "reduced": parsed.reduced[rows],
            "count": count, "natoms": parsed.natoms[rows],
            "dropped_rows": np.array(sorted(parsed.errors), dtype=np.int64),
        }
        if descriptor != descriptors.DEFAULT:
            out["filled_rows"] = np.nonzero(np.isin(rows, list(filled)))[0].astype(np.int64)
        return out

    key = cache_key(sha256=loaded.sha256, **descriptors.cache_id(descriptor), merge=merge,
                    formula_col=formula_col, value_col=value_col)
    arrays = cached_arrays(key, compute, use_cache=use_cache)
    filled = arrays.get("filled_rows", np.zeros(0, dtype=np.int64))
    if len(filled):
        log.warning("%s: %d composition(s) hold elements the %s table lacks, filled with its mean (e.g. %s)",
                    loaded.location, len(filled), descriptor, arrays["reduced"][filled[:3]].tolist())
    n_dropped = len(arrays["dropped_rows"])
    n_merged = int(arrays["count"].sum() - len(arrays["count"]))
    if n_dropped:
        log.warning("%s: %d unparseable formula(s) dropped (lines %s ...)", loaded.location, n_dropped,
                    (arrays["dropped_rows"][:5] + 2).tolist())
    if n_merged:
        log.info("%s: %d duplicate row(s) merged by %s into %d compositions", loaded.location, n_merged, merge,
                 len(arrays["count"]))
    return arrays


def load_exp_formation_enthalpy() -> tuple[pd.DataFrame, datasets.LoadedFile]:
    """pymatgen's experimental formation enthalpies as (formula, target eV/atom, per_fu eV/f.u.)."""
    records, loaded = datasets.read_json_gz("exp_formation_enthalpy")
    if not isinstance(records, list) or not records:
        raise DataError(f"{loaded.location}: expected a non-empty JSON list of compounds")
    df = pd.DataFrame(records)
    datasets.require_columns(df, ["formula", "exp energy"], loaded.location)
    from pymatgen.core import Composition

    per_fu = datasets.numeric_column(df, "exp energy", loaded.location, row_offset=0)
    natoms = []
    for i, f in enumerate(df["formula"]):
        try:
            natoms.append(Composition(f).num_atoms)
        except Exception as exc:
            raise DataError(f"{loaded.location}: record {i} has an unparseable formula {f!r} ({exc})") from exc
    out = pd.DataFrame({"formula": df["formula"], "per_fu": per_fu, "natoms": natoms})
    out["target"] = out["per_fu"] / out["natoms"]  # eV per formula unit -> eV per atom
    return out, loaded


def enthalpy_unit_check() -> dict[str, float]:
    """Compare the experimental enthalpies with MP formation energies on shared compositions.

    Returns the overlap size and the MAE (eV/atom) of MP against the experimental values read
    as eV/atom (after dividing by atoms per formula unit) and as if they were already per atom.
    The conversion is right when the first MAE is small (DFT-vs-experiment ~0.1-0.2 eV/atom).
    """
    exp, exp_file = load_exp_formation_enthalpy()
    mp_df, mp_file = datasets.read_csv("mp_e_form")
    mp = composition_table(mp_df, mp_file, merge="min")
    from pymatgen.core import Composition

    exp["reduced"] = [Composition(f).reduced_formula for f in exp["formula"]]
    mp_map = pd.Series(mp["y"], index=mp["reduced"])
    shared = exp[exp["reduced"].isin(mp_map.index)]
    mp_vals = mp_map.loc[shared["reduced"]].to_numpy()
    return {
        "n_shared": int(len(shared)),
        "mae_per_atom": float(np.mean(np.abs(shared["target"].to_numpy() - mp_vals))),
        "mae_if_per_fu_misread": float(np.mean(np.abs(shared["per_fu"].to_numpy() - mp_vals))),
    }


def _composition_case(case: str, source_key: str, source_merge: str, target: tuple[pd.DataFrame, datasets.LoadedFile],
                      units: str, use_cache: bool = True, descriptor: str = descriptors.DEFAULT) -> CaseData:
    src_df, src_file = datasets.read_csv(source_key)
    src = composition_table(src_df, src_file, merge=source_merge, use_cache=use_cache, descriptor=descriptor)
    tgt_df, tgt_file = target
    tgt = composition_table(tgt_df, tgt_file, merge="mean", use_cache=use_cache, descriptor=descriptor)
    overlap = int(np.isin(tgt["reduced"], src["reduced"]).sum())
    notes = {
        "source_rows": len(src_df), "source_compositions": len(src["y"]),
        "source_duplicates_merged": int(src["count"].sum() - len(src["count"])),
        "source_merge": source_merge, "source_unparseable_dropped": len(src["dropped_rows"]),
        "target_rows": len(tgt_df), "target_compositions": len(tgt["y"]),
        "target_duplicates_merged": int(tgt["count"].sum() - len(tgt["count"])),
        "target_unparseable_dropped": len(tgt["dropped_rows"]),
        "target_in_source": overlap,
    }
    if descriptor != descriptors.DEFAULT:  # the default's notes stay those of the final grids
        notes.update(descriptor=descriptor, source_descriptor_filled=len(src["filled_rows"]),
                     target_descriptor_filled=len(tgt["filled_rows"]))
    return CaseData(
        case=case, X_source=src["X"], y_source=src["y"], X_target=tgt["X"], y_target=tgt["y"],
        groups_target=tgt["reduced"], feature_names=descriptors.feature_names(descriptor), units=units,
        files=[file_record(src_file), file_record(tgt_file)], notes=notes,
        source_ids=src["reduced"], target_ids=tgt["reduced"],
        # the split groups by reduced formula; a trial's test compositions are withheld from pretraining
        source_groups=src["reduced"],
        y_target_sim=pd.Series(src["y"], index=src["reduced"]).reindex(tgt["reduced"]).to_numpy(),
    )


def load_band_gap(use_cache: bool = True, descriptor: str = descriptors.DEFAULT) -> CaseData:
    """MP PBE band gaps (source) -> experimental band gaps (target), eV."""
    return _composition_case("band_gap", "mp_gap", "median", datasets.read_csv("expt_gap"), "eV", use_cache,
                             descriptor)


def load_formation_enthalpy(use_cache: bool = True, descriptor: str = descriptors.DEFAULT) -> CaseData:
    """MP formation energies (source) -> pymatgen's experimental formation enthalpies (target), eV/atom."""
    df, loaded = load_exp_formation_enthalpy()
    return _composition_case("formation_enthalpy", "mp_e_form", "min", (df[["formula", "target"]], loaded),
                             "eV/atom", use_cache, descriptor)
