"""Pretrained networks kept on disk, so that one pretraining serves every experimental size m.

A grid over (n, m) pretrains the same networks for every m: the source draw of a trial depends on
its seed and its test split only (both fixed across m), and with ``Recipe.y_scale == "source"``
the source targets are standardised by the source database's own statistics, not by the m
experimental training rows. :func:`pretrained` returns the cached ensemble when one with the same
key exists (data sha256, n, seeds, the draws themselves, every recipe field pretraining reads,
torch threads) and pretrains and stores it otherwise.

Entries are written atomically (:func:`s2rlib._core.atomic.atomic_write`) under a per-key file lock, so two
grid points that need the same network compute it once. An entry that cannot be read or does not
match the ensemble's shapes, whose weights do not hash to the sha256 stored with them (an entry
edited after it was written) or are not finite is set aside (renamed ``*.damaged``) with a warning
and recomputed; a network with non-finite weights is never stored. A cache folder that cannot be
written (read-only, disk full) is a warning: the grid goes on without the cache.
``S2R_PRETRAIN_CACHE=off`` disables the cache.
"""

from __future__ import annotations

import hashlib
import io
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
#: the layout of an entry: {"format", "sha256" (of the weights, checked on load), "state"}
ENTRY_FORMAT = 3
#: the files (beside this one) whose source defines pretraining; read, not imported (transfer imports this module)
_CODE_FILES = ("models.py", "pretrain.py", "device.py")
#: the Recipe fields pretraining reads (a change of any of them is another network)
PRETRAIN_FIELDS = ("hidden", "pretrain_batch", "pretrain_lr", "pretrain_epochs", "pretrain_min_steps",
                   "pretrain_max_steps", "loss", "y_scale", "withhold_test_sources", "precision",
                   "matmul", "optimizer", "pretrain_schedule", "pretrain_val_fraction", "pretrain_val_max",
                   "pretrain_eval_steps", "pretrain_patience", "pretrain_drops", "pretrain_lr_drop")


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
        X: np.ndarray | torch.Tensor | None = None, y: np.ndarray | None = None, device: dict | None = None) -> str:
    """The cache key: everything the pretrained weights depend on. Besides the input files' sha256
    it hashes the arrays pretraining actually sees (``X``: the standardised source features, ``y``:
    the source targets), so a change of featurizer, merge rule or identity is another network; the
    code of models.py, pretrain.py and device.py (not the fine-tuning's); torch's version, threads and the CPU model (float rounding); and a
    GPU's description (``device``: :func:`s2rlib.training.device.describe`; None on the CPU, whose keys stay)."""
    h = hashlib.sha256()
    fields = {f: getattr(recipe, f) for f in PRETRAIN_FIELDS}
    # the steps the recipe gives this n: Recipe.pretrain_steps lives with the fine-tuning code, outside the hash
    ident = {"data": data_sha256, "n": int(n), "steps": int(recipe.pretrain_steps(n)),
             "seeds": [int(s) for s in seeds], "recipe": fields,
             "y_stats": [[float(a), float(b)] for a, b in y_stats], "threads": torch.get_num_threads(),
             "torch": torch.__version__, "cpu": _cpu_model(), "code": _code_hash(), "version": ENTRY_FORMAT}
    if device is not None:
        ident["device"] = device
    h.update(json.dumps(ident, sort_keys=True, default=str).encode())
    for d in draws:
        h.update(np.ascontiguousarray(d, dtype=np.int64).tobytes())
    for arr in (X, y):
        if arr is not None:
            a = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:32]


def state_hash(state: dict) -> str:
    """sha256 of a state dict's tensors (names, dtypes, shapes and bytes, in name order)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def non_finite(state: dict) -> list[str]:
    """The names of the floating-point tensors of ``state`` that hold a NaN or an infinity."""
    return [k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def _read(path: Path) -> tuple[dict, dict]:
    """The state dict stored at ``path`` and its pretraining record, verified: the content hash (of the
    weights and the record) and finite weights (else ValueError)."""
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch's UnpicklingError is pages of advice: one line instead
        first = (str(exc).strip().splitlines() or [""])[0][:120]
        raise ValueError(f"the file is not a loadable network (torch.load: {type(exc).__name__}"
                         f"{': ' + first if first and 'weights_only' not in first else ''})") from None
    if not isinstance(entry, dict) or entry.get("format") != ENTRY_FORMAT or not isinstance(entry.get("state"), dict):
        raise ValueError("not a pretrained-network entry of this s2rlib (no format/state/sha256)")
    info = entry.get("info") or {}
    digest = state_hash({**entry["state"], **{f"info.{k}": v for k, v in info.items()}})
    if digest != entry.get("sha256"):
        raise ValueError(f"its weights hash to {digest[:16]}..., the entry records {str(entry.get('sha256'))[:16]}...: "
                         f"the weights were changed after they were stored")
    bad = non_finite(entry["state"])
    if bad:
        raise ValueError(f"non-finite weights in {', '.join(bad)}")
    return entry["state"], info


def _store(path: Path, state: dict, info: dict) -> None:
    """Store ``state`` and its pretraining record with their content hash at ``path`` (atomic); a network with
    non-finite weights is not stored."""
    bad = non_finite(state)
    if bad:
        log.warning("pretrained network %s not stored: non-finite weights in %s (pretraining diverged)",
                    path.name, ", ".join(bad))
        return
    digest = state_hash({**state, **{f"info.{k}": v for k, v in info.items()}})
    buf = io.BytesIO()  # serialised in memory: a full disk is an OSError of the write, not a torch RuntimeError
    torch.save({"format": ENTRY_FORMAT, "sha256": digest, "state": state, "info": info}, buf)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())


def _no_cache(root: Path, exc: OSError, compute: Callable[[EnsembleMLP], dict | None], model: EnsembleMLP,
              info: dict) -> bool:
    log.warning("pretrained-network cache %s cannot be written (%s); going on without it (set %s=off to silence "
                "this, or point it at a writable folder)", root, exc.strerror or exc, PRETRAIN_CACHE_ENV)
    info.update(compute(model) or {})
    return False


def pretrained(model: EnsembleMLP, cache_key: str, compute: Callable[[EnsembleMLP], dict | None],
               info: dict | None = None) -> bool:
    """Fill ``model`` with the cached pretrained weights, or run ``compute(model)`` and store them.

    ``compute`` may return a dict of per-member tensors (what pretraining did: steps, source-validation
    error); it is stored with the weights, and ``info`` (when given) is filled with it on a hit as on a
    miss. Returns True when the weights came from the cache. An entry is verified on load (content hash,
    finite weights); a damaged one is set aside with a warning and recomputed. A cache that cannot be
    written (read-only, disk full) is a warning, and the point goes on without it.
    """
    info = {} if info is None else info
    root = cache_dir()
    if root is None:
        info.update(compute(model) or {})
        return False
    path = root / f"{cache_key}.pt"
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path) + ".lock")
        lock.acquire()
    except OSError as exc:
        return _no_cache(root, exc, compute, model, info)
    try:
        if path.is_file():
            try:
                state, stored = _read(path)
                model.load_state_dict(state)
                info.update(stored)
                return True
            except Exception as exc:  # a damaged entry is never fatal: set it aside and recompute
                damaged = set_aside(path)
                log.warning("pretrained-network cache entry %s is damaged (%s: %s); moved to %s and recomputed",
                            path, type(exc).__name__, exc, damaged.name)
        computed = compute(model) or {}
        info.update(computed)
        try:
            _store(path, model.state_dict(), computed)
        except OSError as exc:
            log.warning("pretrained-network cache entry %s not stored (%s); the point goes on without it", path,
                        exc.strerror or exc)
    finally:
        lock.release()
    return False
