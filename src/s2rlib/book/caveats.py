"""Materials caveats of the inorganic case studies, computed from the loaded data.

* **formation enthalpy**: the Materials Project formation energies carry empirical corrections (anion
  and GGA/GGA+U mixing corrections) fitted to experimental formation enthalpies, and the pymatgen
  file used as the experimental target is the set pymatgen keeps for fitting such corrections: part of
  the agreement between source and target may be by construction. Reported: how many experimental
  compounds have an MP value, the MAE and mean difference between the two, and the compounds where
  they differ by more than :data:`OUTLIER_EV_PER_ATOM`.
* **band gap**: the share of metals (gap exactly 0) in the experimental target and in the MP source,
  and on compositions both contain, how often PBE calls a measured semiconductor a metal.
* **both**: polymorphs (source entries with the same reduced formula) are merged into one value per
  composition (band gap: median; formation enthalpy: minimum, the ground state); how many
  compositions had more than one entry and how far their values spread.

``python -m s2rlib.book.caveats`` writes ``results/caveats/<case>.json`` (atomically); the case pages read
that file, so the book does not load 100,000 compositions to show a few numbers, and
``tests/test_caveats.py`` recomputes it from the data and fails when the committed file is stale.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections import Counter
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib.datasets.case_data import CaseData
from s2rlib.datasets import registry as datasets
from s2rlib.cases import registry as case_registry
from s2rlib._core.paths import results_root
from s2rlib.book.formatting import fmt, fmt_n, fmt_signed

#: the DFT-vs-experiment difference (eV/atom) above which a formation enthalpy is listed
OUTLIER_EV_PER_ATOM = 1.5
CASES = ("formation_enthalpy", "band_gap")
_SOURCE_KEY = {"formation_enthalpy": "mp_e_form", "band_gap": "mp_gap"}
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)")


def formula_key(formula: str) -> tuple | None:
    """A reduced-composition key of a plain formula such as ``K4Mn4O8`` (element counts divided by
    their gcd); None for anything else (parentheses, fractions), which the caller must not guess."""
    if not isinstance(formula, str) or not formula or "".join(a + b for a, b in _TOKEN.findall(formula)) != formula:
        return None
    counts: Counter = Counter()
    for el, n in _TOKEN.findall(formula):
        counts[el] += int(n) if n else 1
    g = reduce(math.gcd, counts.values())
    return tuple(sorted((el, n // g) for el, n in counts.items()))


def polymorphs(case: str, data: CaseData) -> dict:
    """Source compositions with more than one entry, merged into one value, and the spread of their values.

    The spread is computed from the raw source file grouped by :func:`formula_key`; it is reported
    only when that grouping reproduces the loader's own (same number of compositions and merged
    rows, ``CaseData.notes``), else ``spread_checked`` is False and the spread is left out.
    """
    notes = data.notes
    out = {"merge": notes.get("source_merge", ""), "source_rows": int(notes.get("source_rows", 0)),
           "compositions": int(notes.get("source_compositions", data.n_source)),
           "rows_merged": int(notes.get("source_duplicates_merged", 0)), "spread_checked": False}
    df, _ = datasets.read_csv(_SOURCE_KEY[case])
    keys = df["formula"].map(formula_key)
    if keys.isna().any():
        return out
    sizes = pd.DataFrame({"key": keys, "y": pd.to_numeric(df["target"], errors="coerce")}).groupby("key")["y"]
    count, spread = sizes.size(), sizes.max() - sizes.min()
    if len(count) != out["compositions"] or int((count - 1).sum()) != out["rows_merged"]:
        return out
    multi = spread[count > 1]
    out.update(spread_checked=True, multi=int((count > 1).sum()), max_entries=int(count.max()),
               spread_median=float(multi.median()), spread_p90=float(multi.quantile(0.9)),
               spread_over_half=int((multi > 0.5).sum()))
    return out


def formation_enthalpy(data: CaseData, threshold: float = OUTLIER_EV_PER_ATOM) -> dict:
    """Experimental compounds with an MP value: count, MAE, mean MP - experiment, and the outliers."""
    sim = np.asarray(data.y_target_sim, dtype=float)
    ok = np.isfinite(sim)
    diff = sim[ok] - data.y_target[ok]
    ids = np.asarray(data.target_ids)[ok]
    far = np.abs(diff) > threshold
    order = np.argsort(-np.abs(diff[far]))
    outliers = [{"formula": str(ids[far][i]), "experiment": float(data.y_target[ok][far][i]),
                 "mp": float(sim[ok][far][i]), "difference": float(diff[far][i])} for i in order]
    return {"experimental": int(data.n_target), "in_mp": int(ok.sum()), "mae": float(np.abs(diff).mean()),
            "mean_difference": float(diff.mean()), "median_abs_difference": float(np.median(np.abs(diff))),
            "threshold": float(threshold), "outliers": outliers}


def band_gap(data: CaseData) -> dict:
    """Share of metals (gap exactly 0) in target and source; PBE metals among measured semiconductors."""
    sim = np.asarray(data.y_target_sim, dtype=float)
    ok = np.isfinite(sim)
    y = data.y_target
    return {"experimental": int(data.n_target), "target_metals": int((y == 0).sum()),
            "target_metal_share": float((y == 0).mean()), "source": int(data.n_source),
            "source_metals": int((data.y_source == 0).sum()), "source_metal_share": float((data.y_source == 0).mean()),
            "in_mp": int(ok.sum()),
            "pbe_metal_measured_gap": int(((sim == 0) & (y > 0) & ok).sum()),
            "pbe_gap_measured_metal": int(((sim > 0) & (y == 0) & ok).sum()),
            "mae_matched": float(np.abs(sim[ok] - y[ok]).mean())}


def compute(case: str, data: CaseData | None = None) -> dict:
    """Every caveat of one case (loads the case when ``data`` is None)."""
    if case not in CASES:
        raise ValueError(f"no materials caveats for case {case!r}; expected one of {CASES}")
    if data is None:
        data = case_registry.load_case(case)
    out = {"case": case, "data_sha256": data.data_sha256, "polymorphs": polymorphs(case, data)}
    out[case] = formation_enthalpy(data) if case == "formation_enthalpy" else band_gap(data)
    return out


def path(case: str, root: str | Path | None = None) -> Path:
    return results_root(root) / "caveats" / f"{case}.json"


def write(case: str, cav: dict, root: str | Path | None = None) -> Path:
    """Write one case's caveats to ``results/caveats/<case>.json`` atomically."""
    p = path(case, root)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(cav, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, p)
    return p


def load(case: str, root: str | Path | None = None) -> dict | None:
    p = path(case, root)
    return json.loads(p.read_text()) if p.is_file() else None


def sentences(cav: dict) -> list[str]:
    """The caveats of one case in words (Markdown), generated from :func:`compute`'s numbers."""
    out = []
    case = cav["case"]
    if case == "formation_enthalpy":
        fe = cav["formation_enthalpy"]
        out.append(
            "**Possible circularity.** The Materials Project formation energies carry empirical corrections "
            "(anion corrections for oxides, sulfides, halides and others, and the correction that mixes GGA "
            "and GGA+U energies) fitted to *experimental* formation enthalpies, and the experimental target "
            "here is the set pymatgen ships for fitting such corrections. "
            f"Of the {fmt_n(fe['experimental'])} experimental compounds, {fmt_n(fe['in_mp'])} also have an MP "
            f"value; on them MP differs from experiment by {fmt(fe['mae'])} eV/atom on average (MAE; mean "
            f"MP − experiment {fmt_signed(fe['mean_difference'])} eV/atom, median absolute difference "
            f"{fmt(fe['median_abs_difference'])} eV/atom). Part of that agreement may be by construction, so the "
            "transfer measured here can be more optimistic than for a property nobody corrected toward "
            "experiment.")
        n_out = len(fe["outliers"])
        out.append(f"**Large disagreements.** {n_out} compound{'s' if n_out != 1 else ''} differ by more than "
                   f"{fmt(fe['threshold'])} eV/atom between MP and experiment"
                   + (": " + ", ".join(f"{o['formula']} ({fmt(o['experiment'])} measured, {fmt(o['mp'])} MP)"
                                       for o in fe["outliers"]) + "." if n_out else ".")
                   + (f" That is more than {math.floor(fe['threshold'] / fe['median_abs_difference']):.0f} times "
                      f"the median "
                      f"disagreement ({fmt(fe['median_abs_difference'])} eV/atom), more than DFT error explains: a "
                      "mismatched phase or entry is likelier. These rows "
                      "stay in the data (no row is dropped after seeing the results)." if n_out else ""))
    else:
        bg = cav["band_gap"]
        out.append(
            f"**Metals.** {fmt(100 * bg['target_metal_share'], 2)}% of the experimental compositions "
            f"({fmt_n(bg['target_metals'])} of {fmt_n(bg['experimental'])}) are metals with a measured gap of "
            f"exactly 0, against {fmt(100 * bg['source_metal_share'], 2)}% of the MP compositions "
            f"({fmt_n(bg['source_metals'])} of {fmt_n(bg['source'])}). An error averaged over both "
            "mixes two tasks, telling metals from non-metals and sizing a gap: a prediction of exactly 0 "
            "is free on half the test set and wrong on the other half. "
            f"On the {fmt_n(bg['in_mp'])} compositions both sets contain, PBE gives a gap of 0 for "
            f"{fmt_n(bg['pbe_metal_measured_gap'])} materials measured with a gap (PBE underestimates gaps) and "
            f"a positive gap for {fmt_n(bg['pbe_gap_measured_metal'])} measured metals.")
    p = cav["polymorphs"]
    how = {"median": "the median", "min": "the minimum, the ground-state polymorph"}.get(p["merge"], p["merge"])
    text = (f"**Polymorphs merged.** The composition descriptors cannot tell polymorphs apart, so the "
            f"{fmt_n(p['source_rows'])} MP entries are merged into {fmt_n(p['compositions'])} compositions by "
            f"{how} ({fmt_n(p['rows_merged'])} entries merged away")
    if p.get("spread_checked"):
        unit = "eV/atom" if case == "formation_enthalpy" else "eV"
        text += (f"; {fmt_n(p['multi'])} compositions had more than one entry, up to {p['max_entries']}). Their "
                 f"values spread (highest − lowest) by a median of {fmt(p['spread_median'])} {unit} and by "
                 f"more than {fmt(p['spread_p90'])} {unit} for one in ten; {fmt_n(p['spread_over_half'])} spread "
                 f"by more than 0.5 {unit}, a disagreement the merged value hides.")
    else:
        text += ")."
    out.append(text)
    return out


def main(argv=None) -> None:
    """``python -m s2rlib.book.caveats [CASE ...]``: compute and write ``results/caveats/<case>.json``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m s2rlib.book.caveats", description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", default=list(CASES))
    for case in ap.parse_args(argv).cases:
        print(write(case, compute(case)))


if __name__ == "__main__":
    main()
