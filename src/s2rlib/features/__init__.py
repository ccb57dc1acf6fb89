"""Descriptors: compositions (pymatgen element data) and molecules/polymers (rdkit), cached on disk.

* :mod:`s2rlib.features.composition` — composition statistics of a chemical formula;
* :mod:`s2rlib.features.molecules` — rdkit descriptors of repeat units and solvents;
* :mod:`s2rlib.features.repeat_unit` — one canonical repeat unit per polymer;
* :mod:`s2rlib.features.cache` — the on-disk cache of feature matrices.

The submodules are imported on use (pymatgen and rdkit are slow to import).
"""

__all__ = ["cache", "composition", "molecules", "repeat_unit"]
