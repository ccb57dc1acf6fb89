"""The registry of case studies: the only list of cases, read from the case files (:mod:`s2rlib.cases.case_file`).

``CASES`` maps name -> :class:`Case` for the built-in cases (ordered as in the book) followed by
the user's own cases (alphabetical). Everything that lists cases (the CLI, the grid, the book's
pages and table of contents, the report, the figures' colours, the tests) asks this module.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from s2rlib.cases import case_file as casefile
from s2rlib.datasets.case_data import CaseData
from s2rlib.features import descriptors
from s2rlib._core.errors import ParameterError

log = logging.getLogger(__name__)

#: the loader of a CSV case (takes the :class:`Case` first)
CSV_LOADER = "s2rlib.cases.user_csv:load"
#: the only loaders a case file may name (``module:function``); a case file never imports anything else
LOADERS = ("s2rlib.datasets.inorganic:load_formation_enthalpy", "s2rlib.datasets.inorganic:load_band_gap",
           "s2rlib.datasets.polymers:load_polymer_density", "s2rlib.datasets.polymers:load_chi", CSV_LOADER)
#: the loaders that take a ``descriptor`` (``Recipe.descriptor``); every other case has its own features
DESCRIPTOR_LOADERS = LOADERS[:2]


@dataclass(frozen=True)
class Case:
    """A case study: what is transferred to what, and the grid the book runs by default."""

    name: str
    title: str
    source: str  # the computational database, in words
    target: str  # the experimental data, in words
    units: str
    notebook: str  # file name under notebooks/ ("" for a user case: rendered from the template when run)
    default_ns: tuple[int | str, ...]  # "all" = the whole source
    default_trials: int = 5
    default_ms: tuple[int | None, ...] = (None,)  # experimental training sizes (None = all)
    notes: str = ""
    loader_kwargs: dict = field(default_factory=dict)
    kind: str = ""
    property_name: str = ""  # the case file's `property`
    grouping: str = ""
    builtin: bool = True
    file: str = ""  # the case file it was read from
    spec: dict = field(default_factory=dict, repr=False, compare=False)  # the case file's content

    @property
    def loader(self):
        """The function that returns this case's :class:`CaseData` (keyword arguments pass through): one
        of :data:`LOADERS`, imported when a case is loaded (the data layers below import nothing of this)."""
        ref = self.spec.get("loader") or CSV_LOADER
        if ref not in LOADERS:
            raise ParameterError(f"case file {self.file or self.name}: loader = {ref!r}: expected one of the package's "
                                 f"loaders {list(LOADERS)}, or no loader for a CSV case")
        module, _, func = ref.partition(":")
        function = getattr(importlib.import_module(module), func)
        return (lambda **kw: function(self, **kw)) if ref == CSV_LOADER else function

    @property
    def prose(self) -> dict:
        """The page and notebook prose: ``{"page": {...}, "notebook": {...}}``."""
        return {"page": self.spec.get("page", {}), "notebook": self.spec.get("notebook", {})}

    @property
    def two_way(self) -> bool:
        """Whether the default grid varies the experimental size m too."""
        return len(self.default_ms) > 1


def from_spec(spec: dict, file: str, builtin: bool) -> Case:
    grid = spec["grid"]
    return Case(
        name=spec["name"], title=spec["title"], source=spec["source"].get("description", ""),
        target=spec["target"].get("description", ""), units=spec["units"],
        notebook=f"{spec['name']}.ipynb" if builtin else "",
        default_ns=tuple(grid["ns"]), default_trials=int(grid["trials"]),
        default_ms=tuple(None if m == "all" else m for m in grid["ms"]), notes=spec.get("notes", ""),
        kind=spec["kind"], property_name=spec["property"], grouping=spec["grouping"], builtin=builtin, file=file,
        spec=spec,
    )


CASES: dict[str, Case] = {}
#: user case files that could not be read (file -> error); left out of ``CASES``, named by get_case
PROBLEMS: dict[str, str] = {}


def reload() -> dict[str, Case]:
    """Read the case files again (built-in, then the user cases directory); returns ``CASES``.

    A malformed user case file does not stop the others: it is left out, logged, and named
    when its case is asked for.
    """
    found: dict[str, Case] = {}
    problems: dict[str, str] = {}
    builtin = sorted(casefile.read_builtin(), key=lambda t: (t[0].get("order", 1000), t[0]["name"]))
    for spec, file in builtin:
        found[spec["name"]] = from_spec(spec, file, builtin=True)
    for spec, file in casefile.read_user(problems=problems):
        name = spec["name"]
        if Path(file).stem != name:
            problems[file] = f"case file {file}: its name {name!r} must match the file name ({name}.toml)"
        elif name in found:
            problems[file] = (f"case file {file}: case {name!r} already exists ({found[name].file}); rename or "
                              f"remove one of them")
        elif (spec.get("loader") or CSV_LOADER) not in LOADERS:  # refused when read, never imported
            problems[file] = (f"case file {file}: loader = {spec['loader']!r}: expected one of the package's "
                              f"loaders {list(LOADERS)}, or no loader for a CSV case")
        else:
            found[name] = from_spec(spec, file, builtin=False)
    for file, message in problems.items():
        if file not in PROBLEMS:
            log.warning("%s (left out of the cases)", message)
    CASES.clear()
    CASES.update(found)
    PROBLEMS.clear()
    PROBLEMS.update(problems)
    return CASES


def names() -> list[str]:
    """Every case, in book order: built-in cases first, then the user's."""
    return list(CASES)


def builtin_names() -> list[str]:
    return [c.name for c in CASES.values() if c.builtin]


def get_case(name: str) -> Case:
    """The registered case ``name``; a ParameterError lists the known ones."""
    if name not in CASES:
        reload()  # a case file written since this process started (e.g. by `s2r new-case`)
    try:
        return CASES[name]
    except KeyError:
        broken = "".join(f"; unreadable: {m}" for f, m in PROBLEMS.items() if Path(f).stem == name)
        raise ParameterError(f"unknown case {name!r}; known cases: {sorted(CASES)} (user cases are read from "
                             f"{casefile.user_cases_dir()}, set ${casefile.CASES_ENV} to change){broken}") from None


def check_descriptor(case: Case, descriptor: str | None) -> None:
    """A ParameterError unless ``descriptor`` is the default (or None) or ``case`` can use it: the composition
    descriptors are for the built-in inorganic cases; the others' features are their own."""
    if descriptor is None or descriptors.check(descriptor) == descriptors.DEFAULT:
        return
    if case.spec.get("loader") not in DESCRIPTOR_LOADERS:
        usable = sorted(c.name for c in CASES.values() if c.spec.get("loader") in DESCRIPTOR_LOADERS)
        raise ParameterError(f"case {case.name!r}: recipe.descriptor={descriptor!r} is a composition descriptor of the "
                             f"built-in inorganic cases {usable}; this case has its own features, so its descriptor "
                             f"must stay {descriptors.DEFAULT!r}")


def load_case(name: str, *, descriptor: str | None = None, **kwargs) -> CaseData:
    """The case's data; ``descriptor`` (``Recipe.descriptor``): the composition features (None or the default:
    the loader's own features, the only choice of a polymer or CSV case)."""
    case = get_case(name)
    check_descriptor(case, descriptor)
    if descriptor not in (None, descriptors.DEFAULT):
        kwargs["descriptor"] = descriptor
    return case.loader(**{**case.loader_kwargs, **kwargs})


reload()
