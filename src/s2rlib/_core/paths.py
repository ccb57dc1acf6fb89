"""Where things are: the one place that finds the project checkout, the results root and the cache.

* :func:`source_checkout`: the checkout this ``s2rlib`` is imported from (``<checkout>/src/s2rlib``),
  or None for an installed wheel; the grid runs the notebooks of this checkout, never one found in the
  working directory.
* :func:`project_root`: the project the user works in: the current directory or the first parent
  that is a project checkout (``_toc.yml`` and ``notebooks/``), else the source checkout.
* :func:`results_root`: ``$S2R_RESULTS_ROOT``, else ``<project>/results``.
* :func:`cache_dir`: ``$S2R_CACHE`` (never ``/``), else the platform's user cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from s2rlib._core.errors import ParameterError

CACHE_ENV = "S2R_CACHE"
RESULTS_ENV = "S2R_RESULTS_ROOT"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../s2rlib


def is_checkout(base: Path) -> bool:
    """Whether ``base`` is a project checkout: it holds ``_toc.yml`` and a ``notebooks/`` folder."""
    return (base / "_toc.yml").is_file() and (base / "notebooks").is_dir()


def package_dir() -> Path:
    """The directory of the ``s2rlib`` package being run."""
    return _PACKAGE_DIR


def source_checkout() -> Path:
    """The directory two levels above the package: the checkout for ``<checkout>/src/s2rlib``."""
    return _PACKAGE_DIR.parents[1]


def project_root() -> Path | None:
    """The project checkout: the current directory or the first parent that is one, else the source's;
    None when neither is."""
    here = Path.cwd().resolve()
    for base in [here, *here.parents, source_checkout()]:
        if is_checkout(base):
            return base
    return None


def repo_root() -> Path:
    """:func:`project_root`, else the source checkout (where the committed ``results/`` would be)."""
    return project_root() or source_checkout()


def results_root(root: str | Path | None = None) -> Path:
    """Where the results tables are: ``root``, else ``$S2R_RESULTS_ROOT``, else ``<checkout>/results``."""
    if root is not None:
        return Path(root)
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env)
    return repo_root() / "results"


def refuse_root(variable: str, path: Path) -> Path:
    """``path``, unless it is the filesystem root (a cache there would write ``/features``, ``/fits``)."""
    if path.resolve() == Path(path.anchor or "/").resolve():
        raise ParameterError(f"{variable}={str(path)!r}: the filesystem root is not a cache directory; set {variable} "
                             f"to a directory of its own, e.g. ~/.cache/s2rlib")
    return path


def cache_dir() -> Path:
    """Where downloads are cached: ``$S2R_CACHE`` (not ``/``), else the platform's user cache."""
    value = os.environ.get(CACHE_ENV)
    if value:
        return refuse_root(CACHE_ENV, Path(value).expanduser())
    import pooch

    return Path(pooch.os_cache("s2rlib"))
