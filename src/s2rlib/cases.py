"""The case studies: one small declarative entry each (data loader, units, default grid)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .casedata import CaseData
from .errors import ParameterError


@dataclass(frozen=True)
class Case:
    """A case study: what is transferred to what, and the grid the book runs by default."""

    name: str
    title: str
    source: str  # the computational database, in words
    target: str  # the experimental data, in words
    units: str
    loader: Callable[..., CaseData]
    notebook: str  # file name under notebooks/
    default_ns: tuple[int | str, ...]  # "all" = the whole source
    default_trials: int = 5
    default_ms: tuple[int | None, ...] = (None,)  # experimental training sizes (None = all)
    notes: str = ""
    loader_kwargs: dict = field(default_factory=dict)


def _inorganic():
    from . import inorganic

    return inorganic


CASES: dict[str, Case] = {}


def register(case: Case) -> Case:
    CASES[case.name] = case
    return case


register(Case(
    name="band_gap", title="Band gap: Materials Project PBE -> experiment",
    source="Materials Project PBE band gaps (106,113 entries, 78,164 compositions)",
    target="experimental band gaps, matbench_expt_gap (4,604 compositions)",
    units="eV", loader=lambda **kw: _inorganic().load_band_gap(**kw), notebook="band_gap.ipynb",
    default_ns=(0, 100, 300, 1000, 3000, 10000, 30000, "all"),
))
register(Case(
    name="formation_enthalpy", title="Formation enthalpy: Materials Project DFT -> experiment",
    source="Materials Project formation energies (132,752 entries, 95,118 compositions)",
    target="experimental formation enthalpies shipped in pymatgen (2,135 compounds)",
    units="eV/atom", loader=lambda **kw: _inorganic().load_formation_enthalpy(**kw),
    notebook="formation_enthalpy.ipynb",
    default_ns=(0, 100, 300, 1000, 3000, 10000, 30000, "all"),
))


def get_case(name: str) -> Case:
    """The registered case ``name``; a ParameterError lists the known ones."""
    try:
        return CASES[name]
    except KeyError:
        raise ParameterError(f"unknown case {name!r}; known cases: {sorted(CASES)}") from None


def load_case(name: str, **kwargs) -> CaseData:
    case = get_case(name)
    return case.loader(**{**case.loader_kwargs, **kwargs})


def _polymers():
    from . import polymers

    return polymers


register(Case(
    name="polymer_density", title="Polymer density: RadonPy MD -> experiment",
    source="RadonPy PI1070 all-atom MD densities (1,077 repeat units, 300 K)",
    target="experimental densities, polymon database Source == 'GREA' (1,693 polymers, PoLyInfo-derived)",
    units="g/cm^3", loader=lambda **kw: _polymers().load_polymer_density(**kw),
    notebook="polymer_density.ipynb",
    default_ns=(0, 10, 30, 100, 300, 600, "all"),
    default_trials=5,
    notes="groups = canonical repeat-unit SMILES; 512 experimental polymers also occur in PI1070",
))
register(Case(
    name="chi", title="Flory-Huggins chi: COSMO-RS -> experiment",
    source="COSMO-RS chi of polymer-solvent pairs, MTL_ChiParameter (1,206 points, 761 pairs)",
    target="experimental chi, MTL_ChiParameter data_Chi (1,190 points, 766 pairs, 0-229 degC)",
    units="dimensionless", loader=lambda **kw: _polymers().load_chi(**kw), notebook="chi.ipynb",
    default_ns=(0, 10, 30, 100, 300, 600, "all"),
    default_trials=5,
    default_ms=(50, 100, 200, 400, None),
    notes="groups = polymer-solvent pair; m counts experimental training points (not pairs); "
          "1,178 of the 1,190 experimental (pair, T) points also have a COSMO value",
))
