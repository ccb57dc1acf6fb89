"""Pretrained networks kept on disk, so that one pretraining serves every experimental size m.

A grid over (n, m) pretrains the same networks for every m: the source draw of a trial depends on
its seed and its test split only (both fixed across m), and with ``Recipe.y_scale == "source"``
the source targets are standardised by the source database's own statistics, not by the m
experimental training rows. :func:`pretrained` returns the cached ensemble when one with the same
key exists (data sha256, n, seeds, the draws themselves, every recipe field pretraining reads,
torch threads) and pretrains and stores it otherwise.

Entries are written atomically (:func:`s2rlib._core.atomic.atomic_write`) under a per-key file lock, so two
grid points that need the same network compute it once. An entry that cannot be read or does not
match the ensemble's shapes is set aside (renamed ``*.damaged``) with a warning and recomputed.
``S2R_PRETRAIN_CACHE=off`` disables the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from filelock import FileLock

from s2rlib._core.atomic import atomic_write, set_aside
from s2rlib.training.models import EnsembleMLP
from s2rlib._core.paths import cache_dir as data_cache, refuse_root

log = logging.getLogger(__name__)

PRETRAIN_CACHE_ENV = "S2R_PRETRAIN_CACHE"
#: the files (beside this one) whose source defines pretraining; read, not imported (transfer imports this module)
_CODE_FILES = ("models.py", "transfer.py")
#: the Recipe fields pretraining reads (a change of any of them is another network)
PRETRAIN_FIELDS = ("hidden", "pretrain_batch", "pretrain_lr", "pretrain_epochs", "pretrain_min_steps",
                   "pretrain_max_steps", "loss", "y_scale", "withhold_test_sources", "precision",
                   "matmul", "optimizer")


def cache_dir() -> Path | None:
    """``$S2R_PRETRAIN_CACHE``, else ``<s2rlib cache>/pretrained``; None when set to ``off``."""
    value = os.environ.get(PRETRAIN_CACHE_ENV)
    if value and value.strip().lower() in {"off", "0", "none", "false"}:
        return None
    if value:
        return refuse_root(PRETRAIN_CACHE_ENV, Path(value).expanduser())

    return data_cache() / "pretrained"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _code_hash() -> str:
    """sha256 of the source of the modules that define pretraining (a code change is another network)."""
    h = hashlib.sha256()
    for name in _CODE_FILES:
        h.update((Path(__file__).resolve().parent / name).read_bytes())
    return h.hexdigest()


def key(*, data_sha256: str, n: int, seeds: list[int], draws: list[np.ndarray], recipe, y_stats,
        X: np.ndarray | torch.Tensor | None = None, y: np.ndarray | None = None) -> str:
    """The cache key: everything the pretrained weights depend on. Besides the input files' sha256
    it hashes the arrays pretraining actually sees (``X``: the standardised source features, ``y``:
    the source targets), so a change of featurizer, merge rule or identity is another network; the
    code of models.py and transfer.py; torch's version, threads and the CPU model (float rounding)."""
    h = hashlib.sha256()
    fields = {f: getattr(recipe, f) for f in PRETRAIN_FIELDS}
    h.update(json.dumps({"data": data_sha256, "n": int(n), "seeds": [int(s) for s in seeds], "recipe": fields,
                         "y_stats": [[float(a), float(b)] for a, b in y_stats], "threads": torch.get_num_threads(),
                         "torch": torch.__version__, "cpu": _cpu_model(),
                         "code": _code_hash(), "version": 2}, sort_keys=True, default=str).encode())
    for d in draws:
        h.update(np.ascontiguousarray(d, dtype=np.int64).tobytes())
    for arr in (X, y):
        if arr is not None:
            a = arr.numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:32]


def pretrained(model: EnsembleMLP, cache_key: str, compute: Callable[[EnsembleMLP], None]) -> bool:
    """Fill ``model`` with the cached pretrained weights, or run ``compute(model)`` and store them.

    Returns True when the weights came from the cache.
    """
    root = cache_dir()
    if root is None:
        compute(model)
        return False
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{cache_key}.pt"
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(state)
                return True
            except Exception as exc:  # a damaged entry is never fatal: set it aside and recompute
                damaged = set_aside(path)
                log.warning("pretrained-network cache entry %s is damaged (%s: %s); moved to %s and recomputed",
                            path, type(exc).__name__, exc, damaged.name)
        compute(model)
        with atomic_write(path, "wb") as fh:
            torch.save(model.state_dict(), fh)
    return False
