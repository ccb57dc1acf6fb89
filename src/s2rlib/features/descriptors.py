"""The composition descriptors a recipe can choose (``Recipe.descriptor``), all vectorised.

* ``"composition"`` (the default): the 62 statistics of pymatgen element data of
  :mod:`s2rlib.features.composition`, unchanged;
* ``"magpie"``: matminer's ``ElementProperty.from_preset("magpie")``, the field's standard baseline:
  for each of its 22 Magpie properties, in matminer's order, ``minimum``, ``maximum``, ``range``,
  ``mean`` (fraction-weighted), ``avg_dev`` (fraction-weighted mean absolute deviation from that
  mean) and ``mode`` (the value of the element with the largest fraction; the smallest value among
  elements tied by ``np.isclose``), 132 features computed as matminer computes them, with its
  ``impute_nan=True`` fill (a property an element lacks takes the mean of that property over the
  elements that have it, Z = 1..118). ``tests/test_descriptors.py`` holds matminer 0.10.1's numbers
  for 20 formulas and requires agreement;
* ``"mat2vec"`` (200 dimensions) and ``"oliynyk"`` (44 properties), element vectors of the
  elementembeddings package: per dimension the fraction-weighted ``mean`` and standard deviation
  (``dev``), ``min`` and ``max`` over the elements present: the four statistics of
  ``"composition"``, so that a comparison of descriptors compares element data, not statistics
  (``range`` = max - min and a mode are left out: the first is a linear function of two inputs the
  network has, the second mostly repeats the majority element's value).

**Elements a table lacks** (oliynyk has no row for Z = 84-89, 91 and 93-118, e.g. Ac, Pa, Np, Pu,
which occur in Materials Project): filled, like matminer's ``impute_nan``, with the mean vector of
the elements the table has; the rows concerned are returned (``filled``) and counted in the case's
notes, so a fill is never silent. ``on_missing="raise"`` refuses instead, naming the formula and
the element. The tables are vendored (:mod:`s2rlib.features.element_data`): no matminer or
elementembeddings at run time.
"""

from __future__ import annotations

import numpy as np

from s2rlib._core.errors import DataError, ParameterError
from s2rlib.features import composition, element_data

#: the descriptors a recipe may name; the first is the default
DESCRIPTORS = ("composition", "magpie", "mat2vec", "oliynyk")
DEFAULT = "composition"
MAGPIE_PROPERTIES = ("Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
                     "Electronegativity", "NsValence", "NpValence", "NdValence", "NfValence", "NValence",
                     "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled", "NUnfilled", "GSvolume_pa",
                     "GSbandgap", "GSmagmom", "SpaceGroupNumber")
MAGPIE_STATS = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")
EMBEDDING_STATS = ("mean", "dev", "min", "max")
#: the featurizer id each descriptor's cache entries are keyed by (a change of statistics: a new version)
VERSIONS = {"composition": composition.FEATURIZER_VERSION, "magpie": "magpie-v1", "mat2vec": "mat2vec-v1",
            "oliynyk": "oliynyk-v1"}


def check(descriptor: str) -> str:
    if descriptor not in DESCRIPTORS:
        raise ParameterError(f"descriptor {descriptor!r}: expected one of {list(DESCRIPTORS)}")
    return descriptor


def cache_id(descriptor: str) -> dict:
    """What a feature cache key holds of the descriptor: its version (and the vendored table's sha256)."""
    check(descriptor)
    if descriptor == DEFAULT:
        return {"featurizer": VERSIONS[DEFAULT]}  # the key of every entry written before descriptors existed
    return {"featurizer": VERSIONS[descriptor], "table_sha256": element_data.SHA256[descriptor]}


def feature_names(descriptor: str = DEFAULT) -> list[str]:
    check(descriptor)
    if descriptor == DEFAULT:
        return composition.feature_names()
    if descriptor == "magpie":
        return [f"MagpieData {s} {p}" for p in MAGPIE_PROPERTIES for s in MAGPIE_STATS]
    cols = element_data.load(descriptor).columns
    return [f"{descriptor} {s} {c}" for c in cols for s in EMBEDDING_STATS]


def _table(descriptor: str) -> tuple[np.ndarray, np.ndarray]:
    """(values 103 x P, listed 103) for the elements a formula can hold (Z <= composition.MAX_Z), with the
    fill for elements or values a table lacks (the mean over the elements that have them)."""
    t = element_data.load(descriptor)
    vals = t.values
    if descriptor == "magpie":
        vals = vals[:, [t.columns.index(p) for p in MAGPIE_PROPERTIES]]
    vals = np.array(vals)
    fill = np.nanmean(vals, axis=0)
    rows, cols = np.nonzero(np.isnan(vals))
    vals[rows, cols] = fill[cols]
    return vals[: composition.MAX_Z], np.asarray(t.listed[: composition.MAX_Z])


def _missing(parsed: composition.ParsedFormulas, descriptor: str, listed: np.ndarray,
             formulas, on_missing: str) -> dict[int, list[str]]:
    """Rows holding an element the table has no row for: row -> symbols (raises with ``on_missing='raise'``)."""
    present = (parsed.frac > 0) & parsed.ok[:, None]
    lacking = present & ~listed[parsed.index]
    rows = np.nonzero(lacking.any(axis=1))[0]
    symbols = element_data.load("magpie").symbols
    out = {int(i): sorted({symbols[z] for z in parsed.index[i][lacking[i]]}) for i in rows}
    if out and on_missing == "raise":
        i = next(iter(out))
        name = formulas[i] if formulas is not None else parsed.reduced[i]
        raise DataError(f"descriptor {descriptor!r}: formula {name!r} holds element(s) {out[i]} that the vendored "
                        f"{descriptor} table has no row for ({len(out)} formula(s) in all); use another descriptor, "
                        f"or on_missing='fill' (the table's mean vector)")
    return out


def _magpie(parsed: composition.ParsedFormulas, vals: np.ndarray) -> np.ndarray:
    f, present = parsed.frac, parsed.frac > 0
    v = vals[parsed.index]  # (N, K, P)
    w = f / np.where(f.sum(axis=1, keepdims=True) > 0, f.sum(axis=1, keepdims=True), 1.0)
    vmin = np.where(present[..., None], v, np.inf).min(axis=1)
    vmax = np.where(present[..., None], v, -np.inf).max(axis=1)
    mean = np.einsum("nk,nkp->np", w, v)
    avg_dev = np.einsum("nk,nkp->np", w, np.abs(v - mean[:, None, :]))
    # mode: among the elements whose fraction is np.isclose to the largest, the smallest value
    wmax = w.max(axis=1, keepdims=True)
    top = present & (np.abs(w - wmax) <= 1e-8 + 1e-5 * np.abs(wmax))
    mode = np.where(top[..., None], v, np.inf).min(axis=1)
    stats = np.stack([vmin, vmax, vmax - vmin, mean, avg_dev, mode], axis=2)  # property-major, as matminer
    return stats.reshape(len(f), -1)


def _embedding(parsed: composition.ParsedFormulas, vals: np.ndarray) -> np.ndarray:
    f, present = parsed.frac, parsed.frac > 0
    v = vals[parsed.index]
    mean = np.einsum("nk,nkp->np", f, v)
    dev = np.sqrt(np.maximum(np.einsum("nk,nkp->np", f, (v - mean[:, None, :]) ** 2), 0.0))
    vmin = np.where(present[..., None], v, np.inf).min(axis=1)
    vmax = np.where(present[..., None], v, -np.inf).max(axis=1)
    return np.stack([mean, dev, vmin, vmax], axis=2).reshape(len(f), -1)


def featurize_parsed(parsed: composition.ParsedFormulas, descriptor: str = DEFAULT, *, formulas=None,
                     on_missing: str = "fill") -> tuple[np.ndarray, dict[int, list[str]]]:
    """(X, filled): the descriptor matrix of parsed formulas (rows with ok=False are NaN) and the rows whose
    elements the table lacks (row -> symbols; filled with the table's mean, or refused: ``on_missing``)."""
    check(descriptor)
    if on_missing not in ("fill", "raise"):
        raise ParameterError(f"on_missing={on_missing!r}: expected 'fill' or 'raise'")
    if descriptor == DEFAULT:
        return composition.featurize_parsed(parsed), {}
    vals, listed = _table(descriptor)
    filled = _missing(parsed, descriptor, listed, formulas, on_missing)
    X = _magpie(parsed, vals) if descriptor == "magpie" else _embedding(parsed, vals)
    X[~parsed.ok] = np.nan
    return X, filled


def featurize(formulas, descriptor: str = DEFAULT, *, on_missing: str = "fill") -> np.ndarray:
    """Parse and featurize ``formulas`` (a convenience for tests and notebooks; unparseable rows are NaN)."""
    formulas = list(formulas)
    X, _ = featurize_parsed(composition.parse_formulas(formulas), descriptor, formulas=formulas,
                            on_missing=on_missing)
    return X
