"""rdkit descriptors of polymer repeat units (SMILES with ``*``) and of small molecules (solvents).

**Attachment points.** A repeat unit such as ``*CC(*)c1ccccc1`` (polystyrene) carries two dummy
atoms ``*`` that stand for the bonds to the neighbouring repeat units. Descriptors are computed
on the *hydrogen-capped* repeat unit: every ``*`` is deleted and its neighbour receives as many
hydrogens as the order of the bond it had to the ``*`` (one for ``-*``, two for ``=*``). Why:

* rdkit's descriptors (logP, MR, TPSA, Morgan environments, ...) are parameterised for real
  atoms; a dummy atom (atomic number 0) has no contributions and silently corrupts valence, H
  counts and aromaticity perception, while removing ``*`` *without* capping leaves radicals.
* A hydrogen is the smallest, most neutral cap; it is also what ``*`` becomes for a small
  molecule, so polymers and solvents share one descriptor space. (Closing the repeat unit into a
  ring or building cyclic oligomers, as MTL_ChiParameter does, creates ring artefacts and scales
  every count with the oligomer length.)

The caps do alter extensive quantities, so the polymer-specific columns are computed for the
repeat unit *itself*: ``ru_mass`` (g/mol, caps subtracted), ``ru_vdw_volume`` (Å^3, the atom and
bond contribution method of Zhao, Abraham & Zissimos, J. Org. Chem. 68, 7368 (2003), caps
subtracted and one inter-unit bond added per pair of attachment points), and their ratio
``vdw_density`` = 1.66054 * ru_mass / ru_vdw_volume (g/cm^3, the density at a packing fraction
of 1; real amorphous polymers pack at ~0.6-0.7). ``n_attach`` counts the ``*`` (0 for a
solvent), ``backbone_atoms`` the atoms on the shortest path between the two ``*`` and
``frac_backbone`` their share of the heavy atoms. Intensive columns (element fractions, H per
heavy atom, ``vdw_density``) do not depend on how the repeat unit is framed (``*C*`` and
``*CC*`` are both polyethylene, and identical in them), which matters for intensive targets
such as density.

**Descriptor list** (fixed, see :func:`feature_names`): the 42 rdkit ``Descriptors`` in
``RDKIT_DESCRIPTORS`` (size, shape, polarity, H-bonding, rings, topology indices, and a few
functional-group counts), computed on the capped molecule; element counts (``n_C`` ... per repeat
unit, caps excluded) and heavy-atom fractions; the repeat-unit columns above; and a Morgan
*count* fingerprint (radius 2, folded to ``MORGAN_BITS`` = 64 bins, ``morgan_00`` ...) of the
capped molecule. Non-finite descriptor values (rare, e.g. for isolated ions) are set to 0.

**Canonical SMILES.** :func:`canonical_smiles` parses, sanitises, strips explicit hydrogens
(also those that only encode double-bond stereo), clears isotope/map labels on ``*`` and writes
rdkit's canonical isomeric SMILES. Stereo (cis/trans, tacticity) is kept: cis- and
trans-polybutadiene stay distinct identities, though most descriptors cannot tell them apart.
Different framings of one polymer (``*C*`` vs ``*CC*``, ``*OCC*`` vs ``*CCO*``) remain different
identities here; :func:`s2rlib.features.repeat_unit.canonical_repeat_unit` identifies them (the polymer loaders use it).

**Unparseable SMILES** are never dropped silently: :func:`featurize_smiles` returns NaN rows and
a ``ParsedSmiles.errors`` map (row -> reason), logs a warning with the first rows, or raises a
:class:`~s2rlib._core.errors.DataError` naming the file and rows with ``on_error='raise'``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from s2rlib._core.errors import DataError

log = logging.getLogger(__name__)

FEATURIZER_VERSION = "molecules-v1"
MORGAN_RADIUS = 2
MORGAN_BITS = 64

#: rdkit ``Descriptors`` functions used (names of module attributes), computed on the capped molecule.
RDKIT_DESCRIPTORS: tuple[str, ...] = (
    "MolWt", "HeavyAtomCount", "NumValenceElectrons", "NumHeteroatoms", "FractionCSP3",
    "RingCount", "NumAromaticRings", "NumAliphaticRings", "NumSaturatedRings", "NumAromaticHeterocycles",
    "NumRotatableBonds", "NumHDonors", "NumHAcceptors", "NHOHCount", "NOCount", "TPSA", "MolLogP",
    "MolMR", "LabuteASA", "BertzCT", "HallKierAlpha", "Kappa1", "Kappa2", "Kappa3", "Chi0v", "Chi1v",
    "Chi2v", "Chi3v", "Phi", "NumAmideBonds", "fr_ester", "fr_ether", "fr_halogen", "fr_benzene",
    "fr_amide", "fr_C_O", "fr_nitrile", "fr_imide", "fr_sulfone", "fr_Al_OH", "fr_Ar_OH", "fr_COO",
)
#: Elements counted one by one (per repeat unit / molecule); all others go to ``n_other``.
ELEMENTS: tuple[str, ...] = ("C", "H", "N", "O", "F", "Si", "P", "S", "Cl", "Br", "I")
#: Heavy-atom fractions.
FRACTIONS: tuple[str, ...] = ("C", "N", "O", "F", "S", "halogen", "aromatic")
REPEAT_UNIT: tuple[str, ...] = (
    "ru_mass", "ru_vdw_volume", "vdw_density", "mass_per_heavy_atom", "H_per_heavy_atom",
    "n_attach", "backbone_atoms", "frac_backbone",
)
#: Atomic van der Waals volumes (Å^3) of Zhao, Abraham & Zissimos (2003); other elements use
#: 4/3 pi r^3 with rdkit's van der Waals radius.
ZHAO_VOLUME: dict[str, float] = {
    "H": 7.24, "C": 20.58, "N": 15.60, "O": 14.71, "F": 13.31, "Cl": 22.45, "Br": 26.52, "I": 32.52,
    "P": 24.43, "S": 24.43, "As": 26.52, "B": 40.48, "Si": 38.79, "Se": 28.73, "Te": 36.62,
}
_H_MASS = 1.008
_AVOGADRO_A3 = 1.66054  # g/mol per Å^3 -> g/cm^3


def feature_names(prefix: str = "") -> list[str]:
    names = list(RDKIT_DESCRIPTORS) + [f"n_{e}" for e in ELEMENTS] + ["n_other"]
    names += [f"frac_{f}" for f in FRACTIONS] + list(REPEAT_UNIT)
    names += [f"morgan_{i:02d}" for i in range(MORGAN_BITS)]
    return [prefix + n for n in names]


def _quiet():
    from rdkit import rdBase

    return rdBase.BlockLogs()


def _parse(smiles: str):
    """Sanitised rdkit mol without explicit H and without labels on ``*``; ValueError on failure."""
    from rdkit import Chem

    if not isinstance(smiles, str) or not smiles.strip():
        raise ValueError("empty SMILES")
    mol = Chem.MolFromSmiles(smiles.strip(), sanitize=False)
    if mol is None:
        raise ValueError("SMILES syntax error")
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 0:
            atom.SetIsotope(0)
            atom.SetAtomMapNum(0)
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # rdkit raises AtomValenceException, KekulizeException, ...
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    params = Chem.RemoveHsParameters()
    params.removeDefiningBondStereo = True
    return Chem.RemoveHs(mol, params)


def canonical_smiles(smiles: str) -> str:
    """rdkit canonical isomeric SMILES; ``*`` attachment points kept (as bare ``*``).

    Raises :class:`DataError` for an unparseable SMILES.
    """
    from rdkit import Chem

    with _quiet():
        try:
            return Chem.MolToSmiles(_parse(smiles))
        except ValueError as exc:
            raise DataError(f"unparseable SMILES {smiles!r}: {exc}") from None


def cap_attachment_points(mol):
    """(capped mol, number of caps added): each ``*`` replaced by H's matching its bond order."""
    from rdkit import Chem

    rw = Chem.RWMol(mol)
    dummies = [a.GetIdx() for a in rw.GetAtoms() if a.GetAtomicNum() == 0]
    added: dict[int, int] = {}  # neighbour index -> hydrogens to add
    for idx in dummies:
        atom = rw.GetAtomWithIdx(idx)
        if atom.GetDegree() == 0:
            raise ValueError("an attachment point '*' bonded to nothing")
        for bond in atom.GetBonds():
            other = bond.GetOtherAtom(atom)
            if other.GetAtomicNum() == 0:
                raise ValueError("two attachment points '*' bonded to each other")
            order = bond.GetBondTypeAsDouble()
            if order not in (1.0, 2.0, 3.0):
                raise ValueError(f"attachment point '*' with a bond of order {order}")
            added[other.GetIdx()] = added.get(other.GetIdx(), 0) + int(order)
    for nbr, n_h in added.items():
        other = rw.GetAtomWithIdx(nbr)
        other.SetNumExplicitHs(other.GetTotalNumHs() + n_h)  # keep its hydrogens, add the caps
        other.SetNoImplicit(True)
    n_caps = sum(added.values())
    for idx in sorted(dummies, reverse=True):
        rw.RemoveAtom(idx)
    capped = rw.GetMol()
    try:
        Chem.SanitizeMol(capped)
    except Exception as exc:
        raise ValueError(f"capping the attachment points failed: {type(exc).__name__}: {exc}") from None
    Chem.AssignStereochemistry(capped, cleanIt=True, force=True)
    return capped, n_caps


def _vdw_volume(mol) -> float:
    """Zhao et al. (2003) van der Waals volume (Å^3) of a molecule with implicit/explicit H."""
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    pt = Chem.GetPeriodicTable()
    v = 0.0
    n_atoms = 0
    for atom in mol.GetAtoms():
        sym = atom.GetSymbol()
        v += ZHAO_VOLUME.get(sym) or 4.0 / 3.0 * math.pi * pt.GetRvdw(atom.GetAtomicNum()) ** 3
        n_h = atom.GetTotalNumHs()
        v += n_h * ZHAO_VOLUME["H"]
        n_atoms += 1 + n_h
    n_frag = len(Chem.GetMolFrags(mol))
    n_rings = rdMolDescriptors.CalcNumRings(mol)
    n_bonds = n_atoms - n_frag + n_rings
    n_arom = rdMolDescriptors.CalcNumAromaticRings(mol)
    return v - 5.92 * n_bonds - 14.7 * n_arom - 3.8 * (n_rings - n_arom)


def _descriptor_functions():
    from rdkit.Chem import Descriptors

    return [getattr(Descriptors, name) for name in RDKIT_DESCRIPTORS]


def featurize_canonical(canonical: str, *, _funcs=None, _gen=None) -> np.ndarray:
    """Feature vector (len(feature_names())) of one canonical SMILES; ValueError on failure."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(canonical)
    if mol is None:
        raise ValueError("canonical SMILES does not parse back")
    funcs = _funcs or _descriptor_functions()
    if _gen is None:
        from rdkit.Chem import rdFingerprintGenerator

        _gen = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS, fpSize=MORGAN_BITS)
    dummies = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    n_attach = len(dummies)
    capped, n_caps = cap_attachment_points(mol)

    desc = np.array([float(f(capped)) for f in funcs])
    counts = dict.fromkeys(ELEMENTS, 0.0)
    n_other = 0.0
    n_heavy = n_arom = n_hal = 0
    for atom in capped.GetAtoms():
        sym = atom.GetSymbol()
        counts["H"] += atom.GetTotalNumHs()
        if sym in counts:
            counts[sym] += 1
        else:
            n_other += 1
        n_heavy += 1
        n_arom += atom.GetIsAromatic()
        n_hal += sym in ("Cl", "Br", "I")
    counts["H"] -= n_caps
    heavy = max(n_heavy, 1)
    fracs = [counts["C"] / heavy, counts["N"] / heavy, counts["O"] / heavy, counts["F"] / heavy,
             counts["S"] / heavy, n_hal / heavy, n_arom / heavy]

    ru_mass = desc[RDKIT_DESCRIPTORS.index("MolWt")] - n_caps * _H_MASS
    volume = _vdw_volume(capped) - n_caps * ZHAO_VOLUME["H"] + 5.92 * n_caps - 5.92 * (n_attach / 2.0)
    if n_attach == 2:
        backbone = len(Chem.GetShortestPath(mol, dummies[0], dummies[1])) - 2
    else:
        backbone = 0
    ru = [ru_mass, volume, _AVOGADRO_A3 * ru_mass / volume if volume > 0 else 0.0, ru_mass / heavy,
          counts["H"] / heavy, float(n_attach), float(backbone), backbone / heavy]

    morgan = _gen.GetCountFingerprintAsNumPy(capped).astype(float)
    x = np.concatenate([desc, [counts[e] for e in ELEMENTS], [n_other], fracs, ru, morgan])
    x[~np.isfinite(x)] = 0.0
    return x


@dataclass
class ParsedSmiles:
    """Canonical forms of the input rows; ``ok`` marks the parseable ones."""

    canonical: np.ndarray  # (N,) str, '' where unparseable
    ok: np.ndarray  # (N,) bool
    errors: dict[int, str]  # row position -> reason


def parse_smiles(smiles: Sequence[str]) -> ParsedSmiles:
    """Canonicalise every row; failures are recorded with their reason, never dropped here."""
    from rdkit import Chem

    n = len(smiles)
    canonical = np.full(n, "", dtype=object)
    errors: dict[int, str] = {}
    memo: dict[str, str | Exception] = {}
    with _quiet():
        for i, s in enumerate(smiles):
            key = s if isinstance(s, str) else repr(s)
            if key not in memo:
                try:
                    memo[key] = Chem.MolToSmiles(_parse(s))
                except ValueError as exc:
                    memo[key] = exc
            out = memo[key]
            if isinstance(out, Exception):
                errors[i] = str(out)
            else:
                canonical[i] = out
    return ParsedSmiles(canonical.astype(str), np.array([i not in errors for i in range(n)], dtype=bool), errors)


def featurize_unique(canonical: Sequence[str]) -> tuple[np.ndarray, dict[int, str]]:
    """Feature matrix of canonical SMILES (each computed once); failing rows are NaN, with reasons."""
    from rdkit.Chem import rdFingerprintGenerator

    funcs = _descriptor_functions()
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS, fpSize=MORGAN_BITS)
    uniq, inverse = np.unique(np.asarray(canonical, dtype=str), return_inverse=True)
    X = np.full((len(uniq), len(feature_names())), np.nan)
    bad: dict[int, str] = {}
    with _quiet():
        for j, smi in enumerate(uniq):
            try:
                X[j] = featurize_canonical(smi, _funcs=funcs, _gen=gen)
            except ValueError as exc:
                bad[j] = str(exc)
    errors = {int(i): bad[int(j)] for i, j in enumerate(inverse) if int(j) in bad}
    return X[inverse], errors


def featurize_smiles(smiles: Sequence[str], *, location: str = "<smiles>", on_error: str = "drop",
                     row_offset: int = 2, lines: Sequence[int] | None = None) -> tuple[np.ndarray, ParsedSmiles]:
    """Canonicalise and featurize; failing rows are NaN and listed in ``parsed.errors``.

    ``on_error='raise'`` raises a :class:`DataError` naming ``location`` and the lines
    (``lines[row]`` when given, else row position + ``row_offset``, i.e. CSV line numbers with a
    header); ``'drop'`` logs a warning
    and leaves the caller to drop the rows with ``parsed.ok == False``.
    """
    if on_error not in ("drop", "raise"):
        raise ValueError(f"on_error must be 'drop' or 'raise', not {on_error!r}")
    smiles = list(smiles)
    parsed = parse_smiles(smiles)
    X = np.full((len(smiles), len(feature_names())), np.nan)
    ok_rows = np.nonzero(parsed.ok)[0]
    if len(ok_rows):
        X_ok, errs = featurize_unique(parsed.canonical[ok_rows])
        X[ok_rows] = X_ok
        for k, why in errs.items():
            parsed.errors[int(ok_rows[k])] = why
            parsed.ok[ok_rows[k]] = False
            parsed.canonical[ok_rows[k]] = ""
    if parsed.errors:
        first = sorted(parsed.errors.items())[:5]
        line = (lambda i: int(lines[i])) if lines is not None else (lambda i: i + row_offset)
        detail = "; ".join(f"line {line(i)} ({smiles[i]!r}): {why}" for i, why in first)
        if on_error == "raise":
            raise DataError(f"{location}: {len(parsed.errors)} unparseable SMILES: {detail}")
        log.warning("%s: dropping %d unparseable SMILES: %s", location, len(parsed.errors), detail)
    return X, parsed
