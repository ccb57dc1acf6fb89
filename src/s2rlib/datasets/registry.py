"""Registry of the data files, and verified loading: vendored, local mirror, cache, download.

Every file has a pinned origin and a sha256. Files that came from GitHub repositories are never
part of this project: they are read from a local mirror directory (``$S2R_DATA_MIRROR``, laid out
like ``shared/data``), else from the user cache (``$S2R_CACHE``, default ``pooch.os_cache``),
else downloaded with pooch from the raw URL at the pinned commit. The PyPI-sourced matbench files
are vendored (gzip) inside the package; the experimental formation enthalpies are read from the
installed pymatgen. A hash mismatch is always an error that names the file; it never falls back.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from s2rlib._core.paths import cache_dir
from s2rlib._core.errors import ChecksumError, DataError, DataUnavailableError

log = logging.getLogger(__name__)

MIRROR_ENV = "S2R_DATA_MIRROR"

RADONPY_COMMIT = "648c9a492808339c9bb7ad2c1137e5a7b07614ca"
CHI_COMMIT = "7d9a4d872af19e0025898a09118fb1847ae4171c"
POLYMON_COMMIT = "31e59677178e3601377383552a5fc9ac628bea38"
_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class DataFile:
    """One registered data file: where it comes from, its licence and its sha256."""

    key: str
    relpath: str  # path inside a mirror (same layout as shared/data) and inside the cache
    sha256: str  # of the uncompressed bytes
    licence: str
    origin: str  # human-readable provenance
    url: str | None = None  # pinned raw URL (GitHub-sourced files)
    vendored: str | None = None  # gzip resource inside s2rlib/data
    pymatgen_resource: str | None = None  # file shipped inside the installed pymatgen


REGISTRY: dict[str, DataFile] = {
    f.key: f
    for f in [
        DataFile(
            "mp_gap", "crabnet-2.0.8/matbench/mp_gap.csv",
            "4084e584467e6f81ec8bf12c438eeb2c049ae39e11401bae694ef6a9983b9d9f",
            "MIT (crabnet wheel); Materials Project data CC BY 4.0",
            "PyPI wheel crabnet==2.0.8, matbench/mp_gap.csv (Materials Project PBE band gaps, eV)",
            vendored="matbench/mp_gap.csv.gz",
        ),
        DataFile(
            "mp_e_form", "crabnet-2.0.8/matbench/mp_e_form.csv",
            "90e895635c96447c5be4e9070d26f26e1b4d17925102a6597ae3c4d79c32555b",
            "MIT (crabnet wheel); Materials Project data CC BY 4.0",
            "PyPI wheel crabnet==2.0.8, matbench/mp_e_form.csv (MP formation energy, eV/atom)",
            vendored="matbench/mp_e_form.csv.gz",
        ),
        DataFile(
            "expt_gap", "crabnet-2.0.8/matbench/expt_gap.csv",
            "3de82c37f1db3ab9bbd92366c96633f131913ded5db0969eb36216bdd11cef2f",
            "MIT (crabnet wheel); data from Zhuo et al., J. Phys. Chem. Lett. 9, 1668 (2018)",
            "PyPI wheel crabnet==2.0.8, matbench/expt_gap.csv (experimental band gaps, eV)",
            vendored="matbench/expt_gap.csv.gz",
        ),
        DataFile(
            "exp_formation_enthalpy", "pymatgen/exp_compounds.json.gz",
            "1c77f299b6e50b23abeea421793da35acca9583f322e01a38224789e6e3f6aac",
            "MIT (pymatgen); Kingsbury et al., Phys. Rev. Mater. 6, 013801 (2022)",
            "installed pymatgen: pymatgen/analysis/compatibility/exp_compounds.json.gz "
            "(experimental formation enthalpies, eV per formula unit)",
            pymatgen_resource="exp_compounds.json.gz",
        ),
        DataFile(
            "radonpy_pi1070", "RadonPy/PI1070.csv",
            "4ee41d526db3d03eb5b83010672b4e63a4d51a114871a2187ca7fd57d30556a4",
            "BSD-3-Clause (RadonPy)",
            f"github RadonPy/RadonPy@{RADONPY_COMMIT}, data/PI1070.csv (MD-computed polymer properties)",
            url=f"{_RAW}/RadonPy/RadonPy/{RADONPY_COMMIT}/data/PI1070.csv",
        ),
        DataFile(
            "chi_cosmo", "MTL_ChiParameter/data_COSMO.csv",
            "6c303495159a3a15d342ef2b775b1e0312574a2a5dfc6ed1de55cb3cca629528",
            "MIT (MTL_ChiParameter)",
            f"github yoshida-lab/MTL_ChiParameter@{CHI_COMMIT}, sample_data/data_COSMO.csv (COSMO-RS chi)",
            url=f"{_RAW}/yoshida-lab/MTL_ChiParameter/{CHI_COMMIT}/sample_data/data_COSMO.csv",
        ),
        DataFile(
            "chi_exp", "MTL_ChiParameter/data_Chi.csv",
            "cc8fbf4a100d3a5b2379c5bff5d495a68f61ffb4d04ce41d1f66650b1c80573d",
            "MIT (MTL_ChiParameter)",
            f"github yoshida-lab/MTL_ChiParameter@{CHI_COMMIT}, sample_data/data_Chi.csv (experimental chi)",
            url=f"{_RAW}/yoshida-lab/MTL_ChiParameter/{CHI_COMMIT}/sample_data/data_Chi.csv",
        ),
        DataFile(
            "polymon_database", "polymon/database.csv",
            "830fbdc202e01b7da550b261b8c46ca2b48b1acf6e34e0fee40c6343c8a0e8fb",
            "MIT (polymon README); per-source terms in its README_database.md",
            f"github fate1997/polymon@{POLYMON_COMMIT}, database/database.csv (merged polymer sets)",
            url=f"{_RAW}/fate1997/polymon/{POLYMON_COMMIT}/database/database.csv",
        ),
    ]
}


@dataclass(frozen=True)
class LoadedFile:
    """Verified bytes of a data file, with where they were read from."""

    key: str
    data: bytes
    sha256: str
    location: str


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mirror_dir() -> Path | None:
    """The local mirror directory from ``$S2R_DATA_MIRROR`` (None when unset)."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value else None


def _entry(key: str) -> DataFile:
    try:
        return REGISTRY[key]
    except KeyError:
        raise DataError(f"unknown data file {key!r}; registered: {sorted(REGISTRY)}") from None


def _verify(entry: DataFile, data: bytes, location: str) -> LoadedFile:
    digest = sha256_bytes(data)
    if digest != entry.sha256:
        raise ChecksumError(
            f"{location}: sha256 mismatch for data file {entry.key!r} ({entry.relpath}): "
            f"expected {entry.sha256}, got {digest} ({len(data)} bytes). The file is corrupt, "
            f"truncated or a different version; delete it and fetch it again from {entry.origin}."
        )
    return LoadedFile(entry.key, data, digest, location)


def _download(entry: DataFile) -> LoadedFile:
    import pooch

    target = cache_dir() / entry.relpath
    stale = ""
    if target.exists():
        data = target.read_bytes()
        digest = sha256_bytes(data)
        if digest == entry.sha256:
            return LoadedFile(entry.key, data, entry.sha256, str(target))
        # a truncated or stale cached copy: never used, removed and fetched again
        log.warning("%s: cached copy of %r has sha256 %s (%d bytes), expected %s: truncated or corrupt, "
                    "removed and downloaded again", target, entry.key, digest, len(data), entry.sha256)
        stale = (f" (the cached copy there had sha256 {digest}, {len(data)} bytes, instead of {entry.sha256}: "
                 f"truncated or corrupt, so it was removed)")
        target.unlink()
    try:
        path = pooch.retrieve(
            entry.url, known_hash=f"sha256:{entry.sha256}", fname=target.name,
            path=target.parent, progressbar=False,
        )
    except ValueError as exc:  # pooch's hash mismatch
        raise ChecksumError(f"download of {entry.url} for data file {entry.key!r} ({entry.relpath}, cache {target}) "
                            f"failed its checksum: {exc}") from exc
    except Exception as exc:  # network errors of every kind
        raise DataUnavailableError(
            f"data file {entry.key!r} ({entry.relpath}) is not available: it is not in the mirror "
            f"(${MIRROR_ENV}={os.environ.get(MIRROR_ENV, '<unset>')}) nor in the cache ({target}){stale}, "
            f"and downloading {entry.url} failed ({type(exc).__name__}: {exc}). Fix: set {MIRROR_ENV} "
            f"to a directory holding {entry.relpath} (e.g. the project's ../shared/data), or download "
            f"that URL to {target}."
        ) from exc
    return _verify(entry, Path(path).read_bytes(), str(path))


def fetch(key: str) -> LoadedFile:
    """Return the verified, uncompressed bytes of registered file ``key``."""
    entry = _entry(key)
    if entry.vendored:
        res = resources.files("s2rlib") / "data" / entry.vendored
        return _verify(entry, gzip.decompress(res.read_bytes()), f"s2rlib/data/{entry.vendored}")
    if entry.pymatgen_resource:
        res = resources.files("pymatgen.analysis.compatibility") / entry.pymatgen_resource
        if not res.is_file():
            raise DataUnavailableError(
                f"the installed pymatgen has no {entry.pymatgen_resource} ({res}); install pymatgen>=2024.1"
            )
        return _verify(entry, res.read_bytes(), str(res))
    mirror = mirror_dir()
    if mirror is not None and (mirror / entry.relpath).is_file():
        path = mirror / entry.relpath
        return _verify(entry, path.read_bytes(), str(path))
    return _download(entry)


def read_csv(key: str, **kwargs) -> tuple[pd.DataFrame, LoadedFile]:
    """Read registered CSV ``key`` into a DataFrame; errors name the file."""
    loaded = fetch(key)
    return parse_csv_bytes(loaded.data, loaded.location, **kwargs), loaded


def parse_csv_bytes(data: bytes, location: str, **kwargs) -> pd.DataFrame:
    if not data.strip():
        raise DataError(f"{location}: the file is empty")
    try:
        df = pd.read_csv(io.BytesIO(data), **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{location}: not a readable CSV ({exc})") from exc
    if len(df) == 0:
        raise DataError(f"{location}: no data rows (only a header: {list(df.columns)})")
    if not kwargs:
        lines = csv_lines(data)
        if len(lines) == len(df):  # else (an unusual dialect) messages fall back to position + 2
            df.attrs["csv_lines"] = lines
    return df


def csv_lines(data: bytes) -> list[int]:
    """The file line (1-based) on which each data row starts, as pandas reads the CSV: blank lines skipped,
    a quoted field may span lines, the first non-blank record is the header."""
    import csv

    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, header, last = [], False, 0
    for record in reader:
        start, last = last + 1, reader.line_num
        if not record or all(not f.strip() for f in record) and len(record) == 1:
            continue
        if header:
            rows.append(start)
        header = True
    return rows


def line_of(df: pd.DataFrame, i: int, row_offset: int = 2) -> int:
    """The CSV line of 0-based row ``i`` of a frame read by :func:`parse_csv_bytes` (blank lines counted);
    position + ``row_offset`` for a frame without that record."""
    lines = df.attrs.get("csv_lines")
    return int(lines[i]) if lines is not None and len(lines) == len(df) else int(i) + row_offset


def read_json_gz(key: str) -> tuple[object, LoadedFile]:
    loaded = fetch(key)
    try:
        return json.loads(gzip.decompress(loaded.data) if loaded.data[:2] == b"\x1f\x8b" else loaded.data), loaded
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{loaded.location}: not valid (gzipped) JSON ({exc})") from exc


def read_user_csv(path: str | Path, **kwargs) -> tuple[pd.DataFrame, LoadedFile]:
    """Read a user-supplied CSV (no registry entry); its sha256 is recorded for provenance."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataUnavailableError(f"user data file {path} does not exist")
    data = path.read_bytes()
    return parse_csv_bytes(data, str(path), **kwargs), LoadedFile(path.name, data, sha256_bytes(data), str(path))


def require_columns(df: pd.DataFrame, columns: list[str], location: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{location}: missing column(s) {missing}; found {list(df.columns)}")


def numeric_column(df: pd.DataFrame, column: str, location: str, *, row_offset: int = 2) -> pd.Series:
    """The column as float; non-numeric, NaN or inf entries are an error naming the rows.

    ``row_offset`` converts 0-based positions to the line numbers of a CSV with a header (2).
    """
    values = pd.to_numeric(df[column], errors="coerce").astype(float)
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        pos = [line_of(df, int(i), row_offset) for i in bad.nonzero()[0][:10]]
        raise DataError(
            f"{location}: column {column!r} has {int(bad.sum())} non-numeric, NaN or infinite value(s), "
            f"first at line(s) {pos} (values {df[column][bad].head(5).tolist()})"
        )
    return values.astype(float)
