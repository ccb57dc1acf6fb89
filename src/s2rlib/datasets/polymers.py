"""Loaders of the polymer case studies: density (RadonPy MD -> experiment) and Flory-Huggins chi.

Molecules are featurized with :mod:`s2rlib.features.molecules` (hydrogen-capped repeat units,
see there) and cached on disk keyed by the data files' sha256 and the featurizer version.

**Polymer density** (:func:`load_polymer_density`). Source: RadonPy's PI1070 (1,077 all-atom MD
densities at 300 K, 1 atm; ``smiles`` is the repeat unit with two ``*``). With
``source='radonpy+mafa'`` the 315 ``MAFA-MD`` rows of polymon's database.csv (MD densities from a
different simulation protocol) are added. The default is ``'radonpy'``: one consistent
simulation protocol, so that the scaling of the error with the number of source samples is not
confounded by a mixture of two simulators. Target: the 1,693 experimental densities of
polymon's ``GREA`` rows (PoLyInfo-derived), or a user CSV (``target_csv``, columns ``smiles``
and ``value``), e.g. PoLyInfo refractive indices, with ``property`` picking the matching PI1070
column (:data:`PI1070_PROPERTIES`). Rows are identified by their canonical repeat unit; duplicates are
merged by the mean (one polymer = one canonical repeat unit, whatever its framing: see
:mod:`s2rlib.features.repeat_unit`), and duplicates whose values spread by more than ``conflict_rtol`` (relative
to their median) are counted and logged as conflicts. Source rows with no value for the chosen
property (failed simulations) are dropped and counted.

**Flory-Huggins chi** (:func:`load_chi`). Source: 1,206 COSMO-RS chi values, target: 1,190
experimental chi values (766 polymer-solvent pairs), both from yoshida-lab/MTL_ChiParameter.
``ps_pair`` is ``"<polymer>_<solvent>"`` where the polymer is a *cyclic 10-mer* with explicit
hydrogens (the representation the upstream code featurizes); data_Chi.csv also gives
``ps_pair_nonCyclic`` with the repeat unit (``*`` form). Here both sets use the repeat unit: each
cyclic polymer of data_Chi.csv maps to exactly one repeat unit, and COSMO's cyclic polymers are
mapped through that table (COSMO's own ``ps_pair_nonCyclic`` column is empty but for 5 rows,
which hold the cyclic SMILES again, and is ignored). The ``temp`` column is in °C (as in the
upstream training code, T = temp + 273.15). Features: polymer descriptors (``p_`` prefix),
solvent descriptors (``s_``) and ``inv_T`` = 1000 / T[K], so a model linear in ``inv_T`` has
the chi = A + B/T form. The pair (canonical repeat unit + "_" + canonical solvent) is the group;
rows sharing a pair and temperature are merged by the mean.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib.datasets import registry as datasets
from s2rlib.datasets.case_data import CaseData, file_record
from s2rlib._core.errors import DataError, ParameterError
from s2rlib.features import molecules
from s2rlib.features.cache import cache_key, cached_arrays
from s2rlib.features.repeat_unit import VERSION as REPEAT_UNIT_VERSION
from s2rlib.features.repeat_unit import parse_repeat_units

log = logging.getLogger(__name__)

#: PI1070 columns usable as the source property, with their units (RadonPy conventions).
PI1070_PROPERTIES: dict[str, str] = {
    "density": "g/cm^3",
    "refractive_index": "dimensionless",
    "Cp": "J/(kg K)",
    "Cv": "J/(kg K)",
    "thermal_conductivity": "W/(m K)",
    "thermal_diffusivity": "m^2/s",
    "static_dielectric_const": "dimensionless",
    "dielectric_const_dc": "dimensionless",
    "bulk_modulus": "Pa",
    "compressibility": "1/Pa",
    "volume_expansion": "1/K",
    "linear_expansion": "1/K",
    "Rg": "angstrom",
}
DENSITY_SOURCES = ("radonpy", "radonpy+mafa")
PAIR_SEP = "_"
_KELVIN = 273.15


def _merge(keys: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Merge rows sharing a key by the mean: first row, mean, count, spread (max - min), median."""
    df = pd.DataFrame({"key": keys, "y": y, "row": np.arange(len(y))})
    g = df.groupby("key", sort=False)
    agg = g["y"].agg(["mean", "count", "min", "max", "median"])
    return {
        "first": g["row"].first().to_numpy(), "y": agg["mean"].to_numpy(), "count": agg["count"].to_numpy(),
        "spread": (agg["max"] - agg["min"]).to_numpy(), "median": agg["median"].to_numpy(),
    }


def smiles_table(smiles: list[str], values: np.ndarray, sha256: list[str], *, tag: str, location: str,
                 use_cache: bool = True, row_lines: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Featurize (smiles, value) rows, drop unparseable SMILES, merge duplicates by the mean.

    Rows are identified by their canonical repeat unit (:func:`s2rlib.features.repeat_unit.canonical_repeat_unit`:
    ``*CC*``, ``*C*`` and ``*CCCC*`` are one polymer), which is also what is featurized. Cached
    under the input files' ``sha256``, ``tag`` (what rows/column were taken) and the
    featurizer version. Returns ``X``, ``y``, ``ids`` (canonical repeat units), ``count``, ``spread``,
    ``median`` and ``dropped_lines`` (the file lines of unparseable SMILES: ``row_lines`` maps row
    positions to lines, default position + 2).
    """
    values = np.asarray(values, dtype=float)
    lines = np.arange(len(values)) + 2 if row_lines is None else np.asarray(row_lines)

    def compute() -> dict[str, np.ndarray]:
        # one identity per polymer whatever its framing (*CC* = *C*): featurized and merged as such;
        # rows that do not parse stay as written, so the featurizer names them with their lines
        units, _ = parse_repeat_units(smiles, require_two=False)
        rows_in = [u if u else s for u, s in zip(units, smiles)]
        X, parsed = molecules.featurize_smiles(rows_in, location=location, lines=lines)
        ok = parsed.ok
        m = _merge(parsed.canonical[ok], values[ok])
        rows = np.nonzero(ok)[0][m["first"]]
        return {
            "X": X[rows].astype(np.float32), "y": m["y"], "ids": parsed.canonical[rows].astype(str),
            "count": m["count"], "spread": m["spread"], "median": m["median"],
            "dropped_lines": lines[~ok].astype(np.int64),
        }

    key = cache_key(sha256=sha256, featurizer=molecules.FEATURIZER_VERSION, morgan=molecules.MORGAN_BITS,
                    tag=tag, kind="smiles_table", identity=REPEAT_UNIT_VERSION)
    arrays = cached_arrays(key, compute, use_cache=use_cache)
    if len(arrays["dropped_lines"]):
        log.warning("%s: %d unparseable SMILES dropped (lines %s)", location, len(arrays["dropped_lines"]),
                    arrays["dropped_lines"][:10].tolist())
    return arrays


def _conflicts(t: dict[str, np.ndarray], rtol: float) -> int:
    scale = np.maximum(np.abs(t["median"]), 1e-12)
    return int(((t["count"] > 1) & (t["spread"] > rtol * scale)).sum())


def _source_frames(source: str, prop: str) -> tuple[list[str], np.ndarray, list, dict, np.ndarray]:
    """Source rows (smiles, values, loaded files, counts, file lines) for the density case."""
    pi, pi_file = datasets.read_csv("radonpy_pi1070")
    datasets.require_columns(pi, ["smiles", prop], pi_file.location)
    vals = pd.to_numeric(pi[prop], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(vals)
    counts = {"source_rows": int(len(pi)), "source_missing_value_dropped": int((~keep).sum())}
    if (~keep).any():
        log.info("%s: %d row(s) without a %s value dropped", pi_file.location, int((~keep).sum()), prop)
    smiles = pi["smiles"][keep].tolist()
    values = vals[keep]
    lines = np.nonzero(keep)[0] + 2
    files = [pi_file]
    if source == "radonpy+mafa":
        db, db_file = datasets.read_csv("polymon_database")
        datasets.require_columns(db, ["SMILES", "Density", "Source"], db_file.location)
        sel = (db["Source"] == "MAFA-MD").to_numpy()
        mv = pd.to_numeric(db["Density"][sel], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(mv)
        counts["source_rows_mafa_md"] = int(sel.sum())
        counts["source_missing_value_dropped"] += int((~ok).sum())
        smiles += db["SMILES"][sel][ok].tolist()
        values = np.concatenate([values, mv[ok]])
        lines = np.concatenate([lines, np.nonzero(sel)[0][ok] + 2])  # lines of database.csv
        files.append(db_file)
        counts["source_rows"] += int(sel.sum())
    return smiles, values, files, counts, lines


def load_polymer_density(source: str = "radonpy", target_csv: str | Path | None = None, property: str = "density",
                         use_cache: bool = True, conflict_rtol: float = 0.05) -> CaseData:
    """RadonPy MD (source) -> experiment (target) for density, or any PI1070 property with ``target_csv``.

    ``target_csv``: a CSV with columns ``smiles`` (repeat unit with two ``*``) and ``value`` (in the
    units of ``PI1070_PROPERTIES[property]``); it replaces the GREA experimental densities.
    """
    if property not in PI1070_PROPERTIES:
        raise ParameterError(
            f"property={property!r} is not a PI1070 property; valid: {sorted(PI1070_PROPERTIES)}")
    if source not in DENSITY_SOURCES:
        raise ParameterError(f"source={source!r}; valid: {list(DENSITY_SOURCES)}")
    if source == "radonpy+mafa" and property != "density":
        raise ParameterError(f"source='radonpy+mafa' has only densities; use source='radonpy' for {property!r}")
    if target_csv is None and property != "density":
        raise ParameterError(
            f"property={property!r} has no built-in experimental target (GREA holds densities only); "
            f"pass target_csv=<CSV with columns smiles,value in {PI1070_PROPERTIES[property]}>")

    smiles, values, src_files, notes, lines = _source_frames(source, property)
    src_loc = " + ".join(f.location for f in src_files)
    src = smiles_table(smiles, values, [f.sha256 for f in src_files], tag=f"density-source:{source}:{property}",
                       location=src_loc, use_cache=use_cache, row_lines=lines)

    if target_csv is None:
        db, tgt_file = datasets.read_csv("polymon_database")
        datasets.require_columns(db, ["SMILES", "Density", "Source"], tgt_file.location)
        sel = (db["Source"] == "GREA").to_numpy() & db["Density"].notna().to_numpy()
        sub = db[sel]
        t_smiles = sub["SMILES"].tolist()
        t_values = datasets.numeric_column(sub.reset_index(drop=True), "Density", tgt_file.location).to_numpy()
        t_lines = np.nonzero(sel)[0] + 2
        tag = "density-target:GREA"
        target_desc = "polymon database.csv, Source == 'GREA', column Density"
    else:
        df, tgt_file = datasets.read_user_csv(target_csv)
        datasets.require_columns(df, ["smiles", "value"], tgt_file.location)
        if df.empty:
            raise DataError(f"{tgt_file.location}: no data rows")
        t_smiles = df["smiles"].tolist()
        t_values = datasets.numeric_column(df, "value", tgt_file.location).to_numpy()
        t_lines = np.arange(len(df)) + 2
        tag = "user-target"
        target_desc = f"user CSV {tgt_file.location}"
    tgt = smiles_table(t_smiles, t_values, [tgt_file.sha256], tag=tag, location=tgt_file.location,
                       use_cache=use_cache, row_lines=t_lines)
    if len(tgt["y"]) == 0:
        raise DataError(f"{tgt_file.location}: no row has a parseable SMILES")

    n_conf = _conflicts(tgt, conflict_rtol)
    if n_conf:
        log.warning("%s: %d polymer(s) with duplicate values spreading by more than %.0f%% (merged by the mean)",
                    tgt_file.location, n_conf, 100 * conflict_rtol)
    overlap = int(np.isin(tgt["ids"], src["ids"]).sum())
    notes.update({
        "source": source, "property": property, "target": target_desc,
        "source_polymers": int(len(src["y"])),
        "source_duplicates_merged": int(src["count"].sum() - len(src["count"])),
        "source_conflicts": _conflicts(src, conflict_rtol),
        "source_unparseable_dropped": int(len(src["dropped_lines"])),
        "target_rows": int(len(t_smiles)), "target_polymers": int(len(tgt["y"])),
        "target_duplicates_merged": int(tgt["count"].sum() - len(tgt["count"])),
        "target_conflicts": n_conf, "conflict_rtol": conflict_rtol,
        "target_unparseable_dropped": int(len(tgt["dropped_lines"])),
        "target_unparseable_lines": tgt["dropped_lines"][:20].tolist(),
        "target_in_source": overlap,
        "merge": "mean over rows with the same canonical repeat unit",
    })
    return CaseData(
        case="polymer_density" if property == "density" else f"polymer_{property}",
        X_source=src["X"], y_source=src["y"], X_target=tgt["X"], y_target=tgt["y"],
        groups_target=tgt["ids"], feature_names=molecules.feature_names(), units=PI1070_PROPERTIES[property],
        files=[file_record(f) for f in src_files] + ([file_record(tgt_file)] if tgt_file.key not in {f.key for f in src_files} else []),
        notes=notes, source_ids=src["ids"], target_ids=tgt["ids"],
        # the split groups by canonical repeat unit; a trial's test polymers are withheld from pretraining
        source_groups=src["ids"],
        y_target_sim=pd.Series(src["y"]).groupby(np.asarray(src["ids"])).mean().reindex(tgt["ids"]).to_numpy(),
    )


# --------------------------------------------------------------------------------------------- chi


def _split_pairs(pairs: pd.Series, location: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    parts = pairs.astype(str).str.split(PAIR_SEP)
    bad = (parts.str.len() != 2).to_numpy()
    if bad.any():
        pos = (np.nonzero(bad)[0][:10] + 2).tolist()
        raise DataError(f"{location}: column {column!r} must be '<polymer>{PAIR_SEP}<solvent>'; "
                        f"{int(bad.sum())} row(s) are not, first at line(s) {pos}")
    return parts.str[0].to_numpy(dtype=str), parts.str[1].to_numpy(dtype=str)


def _chi_frames() -> tuple[dict, dict, list, dict]:
    """Raw polymer/solvent/temp/chi arrays of the COSMO and experimental sets (repeat-unit form)."""
    cos, cos_file = datasets.read_csv("chi_cosmo", index_col=0)
    exp, exp_file = datasets.read_csv("chi_exp", index_col=0)
    datasets.require_columns(cos, ["ps_pair", "temp", "chi"], cos_file.location)
    datasets.require_columns(exp, ["ps_pair", "ps_pair_nonCyclic", "temp", "chi"], exp_file.location)
    cyc_p, _ = _split_pairs(exp["ps_pair"], exp_file.location, "ps_pair")
    ru_p, ru_s = _split_pairs(exp["ps_pair_nonCyclic"], exp_file.location, "ps_pair_nonCyclic")
    table = pd.DataFrame({"cyclic": cyc_p, "ru": ru_p}).drop_duplicates()
    ambiguous = table["cyclic"].duplicated(keep=False)
    if ambiguous.any():
        raise DataError(f"{exp_file.location}: {int(table['cyclic'][ambiguous].nunique())} cyclic polymer(s) map to "
                        f"more than one repeat unit in ps_pair_nonCyclic")
    to_ru = dict(zip(table["cyclic"], table["ru"]))
    c_cyc, c_s = _split_pairs(cos["ps_pair"], cos_file.location, "ps_pair")
    c_ru = np.array([to_ru.get(p, "") for p in c_cyc], dtype=object)
    mapped = c_ru != ""
    if (~mapped).any():
        log.warning("%s: %d COSMO row(s) whose cyclic polymer has no repeat unit in %s dropped (lines %s)",
                    cos_file.location, int((~mapped).sum()), exp_file.location,
                    (np.nonzero(~mapped)[0][:10] + 2).tolist())
    src = {
        "poly": c_ru[mapped].astype(str), "solv": c_s[mapped],
        "temp": datasets.numeric_column(cos, "temp", cos_file.location).to_numpy()[mapped],
        "chi": datasets.numeric_column(cos, "chi", cos_file.location).to_numpy()[mapped],
        "lines": np.nonzero(mapped)[0] + 2,
    }
    tgt = {
        "poly": ru_p, "solv": ru_s,
        "temp": datasets.numeric_column(exp, "temp", exp_file.location).to_numpy(),
        "chi": datasets.numeric_column(exp, "chi", exp_file.location).to_numpy(),
        "lines": np.arange(len(exp)) + 2,
    }
    counts = {"source_rows": int(len(cos)), "source_unmapped_dropped": int((~mapped).sum()),
              "target_rows": int(len(exp))}
    return src, tgt, [cos_file, exp_file], counts


def chi_feature_names() -> list[str]:
    return molecules.feature_names("p_") + molecules.feature_names("s_") + ["inv_T"]


def _chi_table(d: dict, location: str) -> dict[str, np.ndarray]:
    Xp, pp = molecules.featurize_smiles(d["poly"], location=f"{location} (polymers)", lines=d["lines"])
    Xs, ps = molecules.featurize_smiles(d["solv"], location=f"{location} (solvents)", lines=d["lines"])
    ok = pp.ok & ps.ok
    T = d["temp"] + _KELVIN
    pair = np.char.add(np.char.add(pp.canonical.astype(str), PAIR_SEP), ps.canonical.astype(str))
    key = np.char.add(np.char.add(pair, "@"), np.char.mod("%.6g", T))
    m = _merge(key[ok], d["chi"][ok])
    rows = np.nonzero(ok)[0][m["first"]]
    X = np.concatenate([Xp[rows], Xs[rows], (1000.0 / T[rows])[:, None]], axis=1)
    return {
        "X": X.astype(np.float32), "y": m["y"], "pair": pair[rows].astype(str), "T": T[rows],
        "poly": pp.canonical[rows].astype(str), "solv": ps.canonical[rows].astype(str),
        "count": m["count"], "dropped_lines": d["lines"][~ok].astype(np.int64),
    }


def load_chi(use_cache: bool = True) -> CaseData:
    """COSMO-RS chi (source) -> experimental chi (target) of polymer-solvent pairs, dimensionless.

    ``X`` columns: polymer descriptors (``p_*``), solvent descriptors (``s_*``), ``inv_T`` =
    1000/T[K]. ``groups_target`` / ``target_ids`` / ``source_ids`` are the canonical pair
    ``"<repeat unit>_<solvent>"``; the absolute temperatures (K) are the extra attributes
    ``T_source`` and ``T_target``.
    """
    src_raw, tgt_raw, files, notes = _chi_frames()

    def compute() -> dict[str, np.ndarray]:
        s = _chi_table(src_raw, files[0].location)
        t = _chi_table(tgt_raw, files[1].location)
        return {**{f"s_{k}": v for k, v in s.items()}, **{f"t_{k}": v for k, v in t.items()}}

    key = cache_key(sha256=[f.sha256 for f in files], featurizer=molecules.FEATURIZER_VERSION,
                    morgan=molecules.MORGAN_BITS, kind="chi")
    a = cached_arrays(key, compute, use_cache=use_cache)
    for side, f in (("s", files[0]), ("t", files[1])):
        if len(a[f"{side}_dropped_lines"]):
            log.warning("%s: %d row(s) with unparseable SMILES dropped (lines %s)", f.location,
                        len(a[f"{side}_dropped_lines"]), a[f"{side}_dropped_lines"][:10].tolist())
    src_pairs, tgt_pairs = set(a["s_pair"]), set(a["t_pair"])
    src_points = set(zip(a["s_pair"], np.round(a["s_T"], 3)))
    notes.update({
        "source_points": int(len(a["s_y"])), "source_pairs": len(src_pairs),
        "source_duplicates_merged": int(a["s_count"].sum() - len(a["s_count"])),
        "source_unparseable_dropped": int(len(a["s_dropped_lines"])),
        "target_points": int(len(a["t_y"])), "target_pairs": len(tgt_pairs),
        "target_duplicates_merged": int(a["t_count"].sum() - len(a["t_count"])),
        "target_unparseable_dropped": int(len(a["t_dropped_lines"])),
        "polymers": len(set(a["s_poly"]) | set(a["t_poly"])), "solvents": len(set(a["s_solv"]) | set(a["t_solv"])),
        "target_pairs_in_source": len(tgt_pairs & src_pairs),
        "target_points_in_source": int(sum((p, t) in src_points for p, t in zip(a["t_pair"], np.round(a["t_T"], 3)))),
        "temperature": "inv_T = 1000/T, T[K] = temp[degC] + 273.15",
        "representation": "polymer = repeat unit (ps_pair_nonCyclic form), COSMO cyclic 10-mers mapped to it",
        "merge": "mean over rows with the same canonical pair and temperature",
    })
    data = CaseData(
        case="chi", X_source=a["s_X"], y_source=a["s_y"], X_target=a["t_X"], y_target=a["t_y"],
        groups_target=a["t_pair"], feature_names=chi_feature_names(), units="dimensionless",
        files=[file_record(f) for f in files], notes=notes, source_ids=a["s_pair"], target_ids=a["t_pair"],
    )
    data.source_groups = np.asarray(a["s_pair"])  # upstream protocol: test pairs' COSMO values are withheld
    # COSMO-RS chi of the same pair at the same temperature, where computed (simulation baseline)
    sim = pd.Series(a["s_y"]).groupby([np.asarray(a["s_pair"]), np.round(a["s_T"], 3)]).mean()
    data.y_target_sim = sim.reindex(list(zip(a["t_pair"], np.round(a["t_T"], 3)))).to_numpy(dtype=np.float64)
    data.T_source = a["s_T"]
    data.T_target = a["t_T"]
    return data
