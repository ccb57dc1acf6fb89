"""On-disk cache of feature matrices, keyed by the data's sha256 and the featurizer's settings.

A grid point must not re-parse 106k formulas or re-run rdkit: the first call computes and stores
an ``.npz`` atomically; later calls (other grid points, other processes) load it. Every array of
an entry is read in full when it is loaded, so zip's CRC checks a damaged entry (truncated, a
flipped byte): it is named in a warning, set aside as ``*.damaged`` and recomputed, never used.
A cache folder that cannot be written (disk full, read-only) is one warning naming the folder and
the reason; the arrays are then computed without the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from s2rlib._core.atomic import atomic_write, set_aside
from s2rlib._core.paths import cache_dir, refuse_root

log = logging.getLogger(__name__)

FEATURE_CACHE_ENV = "S2R_FEATURE_CACHE"
#: (cache folder, reason) pairs already warned about in this process: one warning, not one per entry
_WARNED: set[tuple[str, str]] = set()


def _unwritable(root: Path, exc: OSError) -> None:
    reason = exc.strerror or str(exc)
    if (str(root), reason) in _WARNED:
        return
    _WARNED.add((str(root), reason))
    log.warning(unwritable_message(root, reason))


def unwritable_message(root: Path | str, reason: str) -> str:
    """The warning for a feature cache folder that cannot be written (the grid runner prints it once)."""
    return (f"feature cache {root} cannot be written ({reason}); computing the features without it (set "
            f"{FEATURE_CACHE_ENV} to a writable folder)")


def warned_messages() -> set[str]:
    """The unwritable-cache warnings this process has given (a grid point's kernel repeating one is not shown)."""
    return {unwritable_message(root, reason) for root, reason in _WARNED}


def feature_cache_dir() -> Path:
    value = os.environ.get(FEATURE_CACHE_ENV)
    return refuse_root(FEATURE_CACHE_ENV, Path(value).expanduser()) if value else cache_dir() / "features"


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
                arrays = {k: z[k] for k in z.files}
            if not arrays:
                raise ValueError("no arrays in it")
            return arrays
        except Exception as exc:  # noqa: BLE001 - BadZipFile, EOFError, zlib.error, CRC ...: recomputed
            try:
                aside = set_aside(path)
            except OSError as err:  # a read-only cache: not used, left in place
                log.warning("damaged feature cache %s (%s: %s); cannot set it aside (%s), recomputing without the "
                            "cache", path, type(exc).__name__, exc, err.strerror or err)
                return compute()
            log.warning("damaged feature cache %s (%s: %s); set aside as %s, recomputing", path,
                        type(exc).__name__, exc, aside)
    arrays = compute()
    if use_cache:
        try:
            with atomic_write(path, "wb") as fh:
                np.savez(fh, **arrays)
        except OSError as exc:  # disk full, read-only: the features are there, only the cache is not
            _unwritable(path.parent, exc)
    return arrays
