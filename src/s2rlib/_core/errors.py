"""Exceptions that tell the user what is wrong and where (file, row, parameter)."""


class S2RError(Exception):
    """Base class of every error s2rlib raises on purpose."""


class ParameterError(S2RError, ValueError):
    """A run parameter is invalid (names the parameter, the value and what was expected)."""


class DataError(S2RError, ValueError):
    """A data file is malformed (names the file, the rows and the problem)."""


class ChecksumError(DataError):
    """A data file's sha256 differs from the registry's (names the file and both hashes)."""


class DataUnavailableError(S2RError, FileNotFoundError):
    """A data file is neither in the mirror, the cache, nor downloadable (says how to fix it)."""


class GridError(S2RError, RuntimeError):
    """Grid points failed (names each point, its file and why; the finished points are merged)."""
