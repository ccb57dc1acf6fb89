"""Descriptors: compositions (pymatgen element data) and molecules/polymers (rdkit), cached on disk."""
