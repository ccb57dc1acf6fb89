"""Composition descriptors from pymatgen element data, computed vectorised.

Each composition is a vector of atomic fractions ``f`` over the elements. For every elemental
property ``p`` (a column of the element table ``T``) four statistics are computed:

* ``mean_p``  = sum_e f_e p_e                         (fraction-weighted mean)
* ``dev_p``   = sqrt(sum_e f_e (p_e - mean_p)^2)      (fraction-weighted standard deviation)
* ``min_p``, ``max_p`` over the elements present.

plus ``frac_{s,p,d,f}_block`` (fraction of atoms in each block), ``n_elements`` and
``frac_l2`` (the L2 norm of the fraction vector, 1 for an element, 1/sqrt(k) for k equal parts).
All statistics are matrix products over a padded (compositions x max elements) index array, not
a Python loop per property. Element properties missing in pymatgen (e.g. electron affinity of
noble gases) are imputed with the median over elements; this is documented in ``PROPERTIES``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd

from s2rlib._core.errors import DataError

log = logging.getLogger(__name__)

#: Elemental properties used, with their meaning and units (pymatgen ``Element`` attributes).
PROPERTIES: dict[str, str] = {
    "Z": "atomic number",
    "atomic_mass": "atomic mass, amu",
    "row": "period in the periodic table",
    "group": "group (1-18) in the periodic table",
    "X": "Pauling electronegativity",
    "atomic_radius": "empirical atomic radius, angstrom",
    "average_ionic_radius": "average ionic radius over common oxidation states, angstrom",
    "mendeleev_no": "Mendeleev (Pettifor) number",
    "melting_point": "melting point of the element, K",
    "molar_volume": "molar volume of the elemental solid, cm^3/mol",
    "ionization_energy": "first ionization energy, eV",
    "electron_affinity": "electron affinity, eV",
    "max_oxidation_state": "highest common oxidation state",
    "min_oxidation_state": "lowest common oxidation state",
}
STATS = ("mean", "dev", "min", "max")
BLOCKS = ("s", "p", "d", "f")
FEATURIZER_VERSION = "composition-v1"
MAX_Z = 103


@lru_cache(maxsize=1)
def element_table() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(T, block_onehot, symbols): properties (103 x P, imputed) and s/p/d/f one-hot (103 x 4)."""
    from pymatgen.core import Element

    rows, blocks, symbols = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for each missing datum; we impute below
        for z in range(1, MAX_Z + 1):
            _element_row(Element.from_Z(z), rows, blocks, symbols)
    table = np.array(rows, dtype=float)
    med = np.nanmedian(table, axis=0)
    nan_r, nan_c = np.nonzero(np.isnan(table))
    table[nan_r, nan_c] = med[nan_c]
    return table, np.array(blocks), symbols


def _element_row(el, rows: list, blocks: list, symbols: list) -> None:
    vals = []
    for prop in PROPERTIES:
        try:
            v = getattr(el, prop)
            v = float(v) if v is not None else np.nan
        except Exception:  # pymatgen raises for some missing data
            v = np.nan
        vals.append(v)
    rows.append(vals)
    blocks.append([float(el.block == b) for b in BLOCKS])
    symbols.append(el.symbol)


def feature_names() -> list[str]:
    names = [f"{s}_{p}" for p in PROPERTIES for s in STATS]
    names += [f"frac_{b}_block" for b in BLOCKS] + ["n_elements", "frac_l2"]
    return names


@dataclass
class ParsedFormulas:
    """Formulas parsed to padded element indices and fractions; ``ok`` marks parseable rows."""

    index: np.ndarray  # (N, K) int, 0-based element index (Z-1), padded with 0
    frac: np.ndarray  # (N, K) float atomic fractions, padded with 0
    reduced: np.ndarray  # (N,) reduced formula strings ('' when unparseable)
    natoms: np.ndarray  # (N,) atoms per formula unit as written (nan when unparseable)
    ok: np.ndarray  # (N,) bool
    errors: dict[int, str]  # row position -> reason


def parse_formulas(formulas: Sequence[str]) -> ParsedFormulas:
    """Parse formulas with pymatgen; unparseable ones are flagged with the reason, never dropped here."""
    from pymatgen.core import Composition

    n = len(formulas)
    comps: list[dict[int, float] | None] = [None] * n
    reduced = np.full(n, "", dtype=object)
    natoms = np.full(n, np.nan)
    errors: dict[int, str] = {}
    for i, formula in enumerate(formulas):
        try:
            if not isinstance(formula, str) or not formula.strip():
                raise ValueError("empty formula")
            comp = Composition(formula)
            amounts = {el.Z - 1: amt for el, amt in comp.element_composition.items()}
            total = sum(amounts.values())
            if not amounts or total <= 0:
                raise ValueError("no atoms")
            if any(z >= MAX_Z or z < 0 for z in amounts) or any(a < 0 for a in amounts.values()):
                raise ValueError("element beyond Z=103 or negative amount")
            comps[i] = {z: a / total for z, a in amounts.items()}
            reduced[i] = comp.reduced_formula
            natoms[i] = total
        except Exception as exc:  # pymatgen raises several types for bad formulas
            errors[i] = f"{type(exc).__name__}: {exc}"
    k = max((len(c) for c in comps if c), default=1)
    index = np.zeros((n, k), dtype=np.int64)
    frac = np.zeros((n, k))
    for i, c in enumerate(comps):
        if c:
            items = sorted(c.items())
            index[i, : len(items)] = [z for z, _ in items]
            frac[i, : len(items)] = [a for _, a in items]
    ok = np.array([c is not None for c in comps], dtype=bool)
    return ParsedFormulas(index, frac, reduced.astype(str), natoms, ok, errors)


def featurize_parsed(parsed: ParsedFormulas) -> np.ndarray:
    """Descriptor matrix (N x len(feature_names())) for parsed formulas (rows with ok=False are NaN)."""
    table, blocks, _ = element_table()
    idx, f = parsed.index, parsed.frac
    present = f > 0
    vals = table[idx]  # (N, K, P)
    mean = np.einsum("nk,nkp->np", f, vals)
    dev = np.sqrt(np.maximum(np.einsum("nk,nkp->np", f, (vals - mean[:, None, :]) ** 2), 0.0))
    big = np.where(present[..., None], vals, np.inf)
    vmin = big.min(axis=1)
    vmax = np.where(present[..., None], vals, -np.inf).max(axis=1)
    stats = np.stack([mean, dev, vmin, vmax], axis=2).reshape(len(f), -1)  # property-major
    block = np.einsum("nk,nkb->nb", f, blocks[idx])
    extra = np.stack([present.sum(axis=1).astype(float), np.sqrt((f**2).sum(axis=1))], axis=1)
    X = np.concatenate([stats, block, extra], axis=1)
    X[~parsed.ok] = np.nan
    return X


def featurize_formulas(formulas: Sequence[str], *, location: str = "<formulas>", on_error: str = "drop",
                       row_offset: int = 2) -> tuple[np.ndarray, ParsedFormulas]:
    """Parse and featurize; unparseable formulas raise (``on_error='raise'``) or are counted and logged.

    Messages name the file's line: position ``i`` is line ``i + row_offset`` (2 for a CSV with a header).
    """
    parsed = parse_checked(formulas, location=location, on_error=on_error, row_offset=row_offset)
    return featurize_parsed(parsed), parsed


def parse_checked(formulas: Sequence[str], *, location: str = "<formulas>", on_error: str = "drop",
                  row_offset: int = 2) -> ParsedFormulas:
    """Parse; unparseable formulas raise (``on_error='raise'``) or are counted and logged (see
    :func:`featurize_formulas`)."""
    parsed = parse_formulas(list(formulas))
    if parsed.errors:
        first = list(parsed.errors.items())[:5]
        detail = "; ".join(f"line {i + row_offset} ({formulas[i]!r}): {why}" for i, why in first)
        if on_error == "raise":
            raise DataError(f"{location}: {len(parsed.errors)} unparseable formula(s): {detail}")
        log.warning("%s: dropping %d unparseable formula(s): %s", location, len(parsed.errors), detail)
    return parsed


def merge_duplicates(reduced: np.ndarray, y: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge rows sharing a reduced formula: returns (first row index per formula, merged y, count).

    ``how`` is 'mean', 'median' or 'min' (the lowest value, e.g. the ground-state polymorph's
    formation energy).
    """
    df = pd.DataFrame({"key": reduced, "y": y, "row": np.arange(len(y))})
    g = df.groupby("key", sort=False)
    merged = g["y"].agg(how)
    first = g["row"].first()
    count = g["y"].size()
    return first.to_numpy(), merged.to_numpy(), count.to_numpy()
