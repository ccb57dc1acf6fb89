"""The installed version of ``s2rlib``."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("s2rlib")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
