"""The base every layer stands on: errors, atomic writes, paths, shared constants, the allocator."""

from s2rlib._core.atomic import atomic_write, set_aside, write_text
from s2rlib._core.constants import ALL_M
from s2rlib._core.errors import ChecksumError, DataError, DataUnavailableError, GridError, ParameterError, S2RError
from s2rlib._core.paths import cache_dir, project_root, repo_root, results_root, source_checkout

__all__ = ["ALL_M", "ChecksumError", "DataError", "DataUnavailableError", "GridError", "ParameterError", "S2RError",
           "atomic_write", "cache_dir", "project_root", "repo_root", "results_root", "set_aside", "source_checkout",
           "write_text"]
