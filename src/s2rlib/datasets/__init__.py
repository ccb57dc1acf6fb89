"""The data: a registry of files with pinned origins and sha256, and the loaders of the built-in cases.

* :mod:`s2rlib.datasets.registry` — every data file: vendored, local mirror, cache, download;
* :mod:`s2rlib.datasets.case_data` — :class:`CaseData`, one case's arrays ready for transfer learning;
* :mod:`s2rlib.datasets.inorganic` — formation enthalpy and band gap (compositions);
* :mod:`s2rlib.datasets.polymers` — polymer density and Flory–Huggins χ (repeat units, solvents).
"""

from s2rlib.datasets.case_data import CaseData
from s2rlib.datasets.registry import REGISTRY, DataFile, LoadedFile, fetch, read_csv

__all__ = ["REGISTRY", "CaseData", "DataFile", "LoadedFile", "fetch", "read_csv"]
