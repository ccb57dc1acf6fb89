"""On-disk cache of feature matrices, keyed by the data's sha256 and the featurizer's settings.

A grid point must not re-parse 106k formulas or re-run rdkit: the first call computes and stores
an ``.npz`` atomically; later calls (other grid points, other processes) load it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..datasets import cache_dir

FEATURE_CACHE_ENV = "S2R_FEATURE_CACHE"


def feature_cache_dir() -> Path:
    value = os.environ.get(FEATURE_CACHE_ENV)
    return Path(value).expanduser() if value else cache_dir() / "features"


def cache_key(**parts) -> str:
    """A stable hash of the JSON-serialisable ``parts`` (data sha256, featurizer name, settings)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def cached_arrays(key: str, compute: Callable[[], dict[str, np.ndarray]], *, use_cache: bool = True) -> dict[str, np.ndarray]:
    """Load the arrays stored under ``key``, or compute, store (atomically) and return them."""
    path = feature_cache_dir() / f"{key}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):  # a damaged cache entry is recomputed, not trusted
            path.unlink(missing_ok=True)
    arrays = compute()
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return arrays
