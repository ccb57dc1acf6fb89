"""One identity per polymer, whatever repeat unit it is written with.

``*CC*``, ``*C*`` and ``*CCCC*`` are all polyethylene; ``*OCC*``, ``*CCO*`` and ``*COC*`` are all
poly(ethylene oxide). A chain ``...-U-U-U-...`` can be framed by any stretch of it that repeats,
so :func:`canonical_repeat_unit` picks one framing:

1. **Smallest period.** If the backbone (the shortest path between the two ``*``) splits into
   ``d`` equal stretches, cut at non-ring single bonds, whose pieces are identical *with their
   direction* (head-to-tail: the ``*`` on the left stays on the left), the unit is that piece.
   ``*CC(C)C(C)C*`` (head-to-head polypropylene) is therefore *not* reduced to ``*CC(C)*``.
2. **Rotation.** Every cut of the doubled unit ``*-U-U-*`` at the same non-ring single backbone
   bond of both copies is a framing of the same chain; the identity is the lexicographically
   smallest rdkit canonical SMILES among them (the original framing included).

Repeat units whose ``*`` are not two single bonds (e.g. ``=*``, one or three ``*``), and repeat
units with stereo (cis/trans double bonds, chiral centres), are returned as rdkit's canonical
SMILES, unchanged: cutting and rejoining bonds could drop or flip their stereo, and cis- and
trans-polyisoprene must stay two polymers (so their other framings stay distinct, too).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from s2rlib._core.errors import DataError
from s2rlib.features.molecules import _parse, _quiet

VERSION = "repeat-unit-v2"  # part of the feature cache key of every table identified by it


def _attachments(mol):
    """[(dummy index, neighbour index)] of the ``*`` atoms, or None when not two single-bonded ``*``."""
    from rdkit import Chem

    out = []
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 0:
            bonds = atom.GetBonds()
            if len(bonds) != 1 or bonds[0].GetBondType() != Chem.BondType.SINGLE:
                return None
            out.append((atom.GetIdx(), bonds[0].GetOtherAtomIdx(atom.GetIdx())))
    return out if len(out) == 2 else None


def _cuttable(mol, a: int, b: int) -> bool:
    from rdkit import Chem

    bond = mol.GetBondBetweenAtoms(a, b)
    return bond is not None and not bond.IsInRing() and bond.GetBondType() == Chem.BondType.SINGLE


def _smiles(mol, labelled: bool = False) -> str:
    from rdkit import Chem

    m = Chem.Mol(mol)
    if not labelled:
        for atom in m.GetAtoms():
            if atom.GetAtomicNum() == 0:
                atom.SetIsotope(0)
    return Chem.MolToSmiles(m)


def _cut(mol, cuts: list[tuple[int, int]]):
    """Break each (left, right) bond, adding ``[2*]`` on the left atom and ``[1*]`` on the right one.

    Returns the fragments as molecules (original ``*`` keep their labels).
    """
    from rdkit import Chem

    rw = Chem.RWMol(mol)
    for left, right in cuts:
        rw.RemoveBond(left, right)
        for atom_idx, label in ((left, 2), (right, 1)):
            d = rw.AddAtom(Chem.Atom(0))
            rw.GetAtomWithIdx(d).SetIsotope(label)
            rw.AddBond(atom_idx, d, Chem.BondType.SINGLE)
    m = rw.GetMol()
    Chem.SanitizeMol(m)
    return Chem.GetMolFrags(m, asMols=True, sanitizeFrags=True), Chem.GetMolFrags(m)


def _labelled(mol, att) -> tuple:
    """A copy with the first ``*`` labelled 1 (left) and the second 2 (right); (mol, backbone path)."""
    from rdkit import Chem

    m = Chem.Mol(mol)
    (d1, n1), (d2, n2) = att
    m.GetAtomWithIdx(d1).SetIsotope(1)
    m.GetAtomWithIdx(d2).SetIsotope(2)
    path = list(Chem.GetShortestPath(m, d1, d2))[1:-1]  # backbone atoms n1 ... n2
    return m, path


def _smallest_period(m, path):
    """The smallest head-to-tail piece that ``m`` (labelled) repeats, as a labelled molecule."""
    L = len(path)
    for d in range(L, 1, -1):  # the most pieces first = the smallest piece
        if L % d:
            continue
        step = L // d
        cuts = [(path[k * step - 1], path[k * step]) for k in range(1, d)]
        if not all(_cuttable(m, a, b) for a, b in cuts):
            continue
        frags, _ = _cut(m, cuts)
        labelled = {_smiles(f, labelled=True) for f in frags}
        if len(frags) == d and len(labelled) == 1:
            return frags[0]
    return m


def _dimer(m):
    """``[1*]-U-U-[2*]`` from labelled ``[1*]-U-[2*]``; returns (dimer, backbone of copy 1, of copy 2)."""
    from rdkit import Chem

    att = sorted(((a.GetIsotope(), a.GetIdx(), a.GetNeighbors()[0].GetIdx()) for a in m.GetAtoms()
                  if a.GetAtomicNum() == 0))
    (_, d1, n1), (_, d2, n2) = att
    N = m.GetNumAtoms()
    rw = Chem.RWMol(Chem.CombineMols(m, m))
    rw.AddBond(n2, n1 + N, Chem.BondType.SINGLE)
    for idx in sorted((d2, d1 + N), reverse=True):
        rw.RemoveAtom(idx)
    dimer = rw.GetMol()
    Chem.SanitizeMol(dimer)

    def new(i):  # index after removing d2 and d1 + N
        return i - (i > d2) - (i > d1 + N)

    path = list(Chem.GetShortestPath(m, d1, d2))[1:-1]
    return dimer, [new(i) for i in path], [new(i + N) for i in path]


def _canonical_mol(mol) -> str:
    written = _smiles(mol)
    att = _attachments(mol)
    if att is None or any(ch in written for ch in "/\\@"):  # cutting bonds could drop or flip stereo
        return written
    m, path = _labelled(mol, att)
    unit = _smallest_period(m, path)
    dimer, p1, p2 = _dimer(unit)
    best = _smiles(unit)
    for k in range(len(p1) - 1):
        cuts = [(p1[k], p1[k + 1]), (p2[k], p2[k + 1])]
        if not all(_cuttable(dimer, a, b) for a, b in cuts):
            continue
        frags, atoms = _cut(dimer, cuts)
        middle = [f for f, idx in zip(frags, atoms) if p2[0] in idx and p1[-1] in idx]
        if middle:
            best = min(best, _smiles(middle[0]))
    return best


@lru_cache(maxsize=200_000)
def _canonical_cached(smiles: str) -> str:
    with _quiet():
        return _canonical_mol(_parse(smiles))


def canonical_repeat_unit(smiles: str) -> str:
    """The one canonical SMILES of the polymer ``smiles`` (any framing); DataError when unparseable."""
    try:
        return _canonical_cached(smiles.strip() if isinstance(smiles, str) else smiles)
    except (ValueError, AttributeError) as exc:
        raise DataError(f"unparseable SMILES {smiles!r}: {exc}") from None


def parse_repeat_units(values: Sequence, *, require_two: bool = True) -> tuple[np.ndarray, dict[int, str]]:
    """Canonical repeat units of every row, and {row: reason} of the rows that fail.

    With ``require_two`` a row must be a repeat unit with exactly two ``*``.
    """
    ids = np.full(len(values), "", dtype=object)
    errors: dict[int, str] = {}
    for i, s in enumerate(values):
        if not isinstance(s, str) or not s.strip():
            errors[i] = "empty SMILES"
            continue
        if require_two and s.count("*") != 2:
            errors[i] = f"a polymer repeat unit needs exactly two '*' attachment points, this has {s.count('*')}"
            continue
        try:
            ids[i] = _canonical_cached(s.strip())
        except (ValueError, AttributeError) as exc:
            errors[i] = str(exc)
    return ids.astype(str), errors
