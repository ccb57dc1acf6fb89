"""s2rlib: the Sim2Real Scaling helper library.

Subpackages, each importing only from those before it (``tests/test_architecture.py`` checks it):

* :mod:`s2rlib._core` — errors, atomic writes, paths (checkout, results root, cache), the allocator;
* :mod:`s2rlib.features` — composition and molecule descriptors, their on-disk cache;
* :mod:`s2rlib.datasets` — the registry of data files (pinned, sha256-verified) and the case loaders;
* :mod:`s2rlib.cases` — case files, the case registry, users' CSV cases;
* :mod:`s2rlib.training` — the network, pretraining and fine-tuning, run parameters;
* :mod:`s2rlib.grid` — the papermill grid runner, the tidy results table, the recipe study;
* :mod:`s2rlib.law` — the fitted scaling law, its status, intervals and derived numbers;
* :mod:`s2rlib.book` — everything the book shows: words, tables, figures, pages;
* :mod:`s2rlib.cli` — the ``s2r`` command.
"""

from s2rlib._core.errors import ChecksumError, DataError, DataUnavailableError, ParameterError, S2RError
from s2rlib._core.point_warnings import install_point_warnings
from s2rlib._core.version import __version__

install_point_warnings()  # only inside a grid point's kernel (S2R_POINT_WARNINGS set by the runner)

__all__ = [
    "__version__",
    "S2RError",
    "ParameterError",
    "DataError",
    "ChecksumError",
    "DataUnavailableError",
]
