"""s2rlib: the Sim2Real Scaling helper library.

Data flow: ``cases`` (what to run) -> ``datasets`` (files with provenance) -> ``features``
(cached descriptor matrices) -> ``transfer`` (pretrain n, fine-tune, evaluate) -> ``results``
(tidy tables) -> ``scaling`` (fitted laws, derived numbers) -> ``plotting`` / the book.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("s2rlib")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

from .errors import ChecksumError, DataError, DataUnavailableError, ParameterError, S2RError

__all__ = [
    "__version__",
    "S2RError",
    "ParameterError",
    "DataError",
    "ChecksumError",
    "DataUnavailableError",
]
