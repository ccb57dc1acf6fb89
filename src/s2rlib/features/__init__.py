"""Descriptors: compositions (pymatgen element data) and molecules/polymers (rdkit), cached on disk.

* :mod:`s2rlib.features.composition` — composition statistics of a chemical formula;
* :mod:`s2rlib.features.descriptors` — the composition descriptors a recipe chooses (``Recipe.descriptor``):
  those statistics, matminer's Magpie preset, the mat2vec and oliynyk element embeddings;
* :mod:`s2rlib.features.element_data` — the vendored element tables they read (sha256-checked);
* :mod:`s2rlib.features.molecules` — rdkit descriptors of repeat units and solvents;
* :mod:`s2rlib.features.repeat_unit` — one canonical repeat unit per polymer;
* :mod:`s2rlib.features.cache` — the on-disk cache of feature matrices.

The submodules are imported on use (pymatgen and rdkit are slow to import).
"""

__all__ = ["cache", "composition", "descriptors", "element_data", "molecules", "repeat_unit"]
