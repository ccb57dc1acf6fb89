"""The vendored element tables (``s2rlib/data/elements/<name>.csv.gz``), loaded and verified by sha256.

The tables are matminer's Magpie elemental properties and elementembeddings' mat2vec and oliynyk
element vectors, extracted from those packages by ``tools/vendor_element_tables.py`` (which writes
the README beside them: package, version, upstream file, licence and sha256); s2rlib imports neither
package. A file whose sha256 is not the one pinned in :data:`SHA256` is refused (a
:class:`~s2rlib._core.errors.ChecksumError`), never read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from s2rlib._core.errors import ChecksumError, ParameterError

#: the sha256 of each vendored file (``tools/vendor_element_tables.py`` prints them; ``--check`` compares)
SHA256 = {
    "magpie": "82aec25d2f4f9c191581e76c2394d5c0ce2fb734fd85cf3bb7b1ebf8e9768d3e",
    "mat2vec": "f0e7b15abc8647be4db25b5e9af578d75532a8f4f8c58210c8871b40c1b95306",
    "oliynyk": "fcad3def5c7eee511c776f0ed93cab276919f8088a79862cb23e83c3f90b8b2c",
}
#: the elements a table row can stand for (Z = 1..118)
MAX_Z = 118


@dataclass(frozen=True)
class ElementTable:
    """One table, indexed by ``Z - 1`` over Z = 1..118: ``values`` (118 x P, NaN where the file has no
    value or no row), ``listed`` (118,) whether the file has a row for the element."""

    name: str
    columns: tuple[str, ...]
    values: np.ndarray
    listed: np.ndarray
    symbols: tuple[str, ...]  # the 118 symbols in Z order
    sha256: str


def path(name: str):
    return resources.files("s2rlib") / "data" / "elements" / f"{name}.csv.gz"


def read_verified(name: str) -> bytes:
    """The raw bytes of table ``name``, after its sha256 matched the pin."""
    if name not in SHA256:
        raise ParameterError(f"unknown element table {name!r}; vendored tables: {sorted(SHA256)}")
    data = path(name).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise ChecksumError(f"{path(name)}: sha256 {digest}, expected {SHA256[name]}: the vendored element table "
                            f"changed; restore it (git checkout) or re-vendor it with tools/vendor_element_tables.py")
    return data


@lru_cache(maxsize=None)
def load(name: str) -> ElementTable:
    """Table ``name`` (one of :data:`SHA256`), verified and indexed by atomic number."""
    df = pd.read_csv(io.BytesIO(gzip.decompress(read_verified(name))), keep_default_na=False, na_values=[""])
    z = df["Z"].to_numpy(dtype=int)
    if len(set(z.tolist())) != len(z) or z.min() < 1 or z.max() > MAX_Z:
        raise ChecksumError(f"{path(name)}: Z column is not distinct atomic numbers in 1..{MAX_Z}")
    columns = tuple(c for c in df.columns if c not in ("element", "Z"))
    values = np.full((MAX_Z, len(columns)), np.nan)
    values[z - 1] = df[list(columns)].to_numpy(dtype=float)
    listed = np.zeros(MAX_Z, dtype=bool)
    listed[z - 1] = True
    symbols = [""] * MAX_Z
    for s, zz in zip(df["element"], z):
        symbols[zz - 1] = str(s)
    values.setflags(write=False)
    listed.setflags(write=False)
    return ElementTable(name, columns, values, listed, tuple(symbols), SHA256[name])
