"""Case files: one declarative TOML file per case study, read by every process (CLI, kernels, book).

Where they live:

* the built-in cases ship inside the package, ``s2rlib/data/cases/<name>.toml``;
* a user's own cases (written by ``s2r new-case``) live in the **user cases directory**:
  ``$S2R_CASES_DIR`` when set, else ``cases/`` at the root of the project checkout (the directory
  holding ``_toc.yml`` and ``notebooks/``, found from the current directory upwards), else
  ``./cases``. ``s2r grid`` exports the directory it used as ``$S2R_CASES_DIR``, so the papermill
  kernels (separate processes, started in other directories) read the same files.

The format (every key but the ``[page]``/``[notebook]`` prose is required; see the built-in files)::

    name = "my_gap"                       # [a-z][a-z0-9_]*, the case's id everywhere
    title = "Band gap: my DFT -> my lab"
    kind = "composition"                  # composition | polymer (CSV cases); built-ins may differ
    property = "band gap"
    units = "eV"
    grouping = "reduced formula"          # what may not straddle the experimental split, in words
    loader = "s2rlib.datasets.inorganic:load_band_gap"   # built-in cases only: a special loader
    notes = "..."                         # optional, shown in the page's header table

    [source]                              # the computational data, likewise [target]
    data = "mp_gap"                       # a registry key of s2rlib.datasets.registry, or:
    path = "/abs/path/sim.csv"            # a CSV (columns formula,target or smiles,target) ...
    sha256 = "..."                        # ... with the sha256 it had when the case was created
    description = "my DFT band gaps (2,000 compositions)"

    [splits]                              # optional: fixed folds instead of random re-splits
    path = "/abs/path/folds.csv"          # (s2rlib.training.splits: a fold column, or train/test ids per fold)
    sha256 = "..."                        # each fold is one trial; the sha256 is part of every point's id

    [grid]
    ns = [0, 100, 1000, "all"]            # default source sizes
    ms = ["all"]                          # default experimental training sizes
    trials = 5

    [page]                                # the book page: title, intro paragraphs (MyST), and
    objectives = ["whether ..."]          # "you will learn" bullets put before the generic ones
    figure_alt = "Log-log plot of ..."    # the scaling figure's alt text
    two_way_figure_alt = "Three panels."  # the two-way figure's alt text (cases with several ms)
    caveats = false                       # a "Materials caveats" section (s2rlib.book.caveats): built-ins only
    sensitivity = ["lookup"]              # protocol variants shown at the largest n (s2rlib.law.sensitivity)
    results = "/abs/my_grid/results.csv"  # the page's results table when not results/<name>/ (s2r book-page --results)
    [notebook]                            # the grid notebook: title, intro, data paragraphs
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from importlib import resources
from pathlib import Path

from s2rlib._core.errors import ParameterError
from s2rlib._core.markup import check_line
from s2rlib._core.paths import project_root

CASES_ENV = "S2R_CASES_DIR"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CSV_KINDS = ("composition", "polymer")
REQUIRED = ("name", "title", "kind", "property", "units", "grouping", "source", "target", "grid")
#: every key a case file may have, per table ("" is the top level); any other is a typo, named
KEYS = {"": REQUIRED + ("loader", "notes", "order", "page", "notebook", "splits"),
        "splits": ("path", "sha256"),
        "source": ("data", "path", "sha256", "description"), "target": ("data", "path", "sha256", "description"),
        "grid": ("ns", "ms", "trials"),
        "page": ("title", "intro", "simulations", "figure_alt", "two_way_figure_alt", "objectives", "caveats",
                 "sensitivity", "results"),
        "notebook": ("title", "intro", "data", "check", "check_title", "check_text")}
#: one-line text keys (top level): no line breaks or control characters
LINE_KEYS = ("title", "kind", "property", "units", "grouping", "notes", "loader")
#: the characters units and a property name may hold: they also go into figure labels and sentences,
#: so markup is refused, not escaped
PLAIN = re.compile(r"^(?:[^\W_]|[ /^.,·()%°'²³⁻¹⁺×-])+$")


def builtin_dir():
    """The package directory of the built-in case files (an importlib Traversable)."""
    return resources.files("s2rlib") / "data" / "cases"


def user_cases_dir() -> Path:
    """``$S2R_CASES_DIR``, else ``<project root>/cases``, else ``./cases`` (absolute)."""
    value = os.environ.get(CASES_ENV)
    if value:
        path = Path(value).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise ParameterError(f"${CASES_ENV}={value}: not a directory ({path} is a file); point it at the folder "
                                 f"that holds your case files, or unset it")
        return path
    root = project_root()
    return (root / "cases") if root is not None else (Path.cwd() / "cases").resolve()


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ParameterError(f"case name {name!r}: expected lower-case letters, digits and '_', starting with a "
                             f"letter (it becomes a file name and the notebook's `case` parameter)")
    return name


def _unknown_keys(spec: dict, location: str) -> None:
    """A ParameterError naming the first key no case file has, with the nearest valid one."""
    for table, known in KEYS.items():
        part = spec if not table else spec.get(table)
        if not isinstance(part, dict):
            if table:
                _require(part is None, location, table, part, "a table ([" + table + "])")
            continue
        for key in part:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                where = f"[{table}] " if table else ""
                raise ParameterError(f"case file {location}: unknown key {where}{key!r}"
                                     f"{f' (did you mean {close[0]!r}?)' if close else ''}; the keys of "
                                     f"{f'[{table}]' if table else 'the top level'}: {', '.join(known)}")


def _require(ok: bool, location: str, key: str, value, expected: str) -> None:
    if not ok:
        raise ParameterError(f"case file {location}: {key}={value!r}: expected {expected}")


def _check_side(s, side: str, location: str, csv: bool) -> None:
    _require(isinstance(s, dict), location, side, s, f"a table ([{side}])")
    if not ("data" in s or ("path" in s and "sha256" in s)):
        raise ParameterError(f"case file {location}: [{side}] needs `data` (a registry key) or `path` and "
                             f"`sha256` (a CSV file)")
    for key in ("data", "path", "sha256", "description"):
        if key in s:
            check_line(s[key], f"[{side}] {key}", f"case file {location}")
    if csv and "path" not in s:
        raise ParameterError(f"case file {location}: [{side}] data = {s['data']!r}: a registry key is read by the "
                             f"built-in cases' loaders only; a case without a `loader` names its CSV with `path` "
                             f"(absolute) and `sha256` (s2r new-case writes both)")
    if "path" in s and not Path(s["path"]).expanduser().is_absolute():
        raise ParameterError(f"case file {location}: [{side}] path = {s['path']!r}: expected an absolute path (the "
                             f"grid's kernels run in other directories)")
    if "sha256" in s and not re.fullmatch(r"[0-9a-f]{64}", s["sha256"]):
        raise ParameterError(f"case file {location}: [{side}] sha256 = {s['sha256']!r}: expected 64 hex digits")


def parse(text: str, location: str, *, builtin: bool = False) -> dict:
    """The validated content of one case file; a ParameterError names the file and the key.

    Unknown keys (with the nearest valid one), wrong types, text with line breaks or markup where
    none may be (``units``, ``property``), a relative CSV path are all named. A case of one's own
    without a ``loader`` names CSV files, not registry keys; a notebook ``check`` (code to import) is for
    built-in cases only.
    """
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"case file {location}: not valid TOML ({exc})") from None
    missing = [k for k in REQUIRED if k not in spec]
    if missing:
        raise ParameterError(f"case file {location}: missing key(s) {missing}")
    _unknown_keys(spec, location)
    check_name(spec["name"])
    for key in LINE_KEYS:
        if key in spec:
            check_line(spec[key], key, f"case file {location}")
    for key in ("units", "property"):
        _require(bool(PLAIN.match(spec[key])), location, key, spec[key],
                 "plain text: letters, digits, spaces and / ^ . , ( ) % ° ' - (no markup)")
    if "order" in spec:
        _require(isinstance(spec["order"], int) and not isinstance(spec["order"], bool), location, "order",
                 spec["order"], "an integer")
    for side in ("source", "target"):
        _check_side(spec[side], side, location, csv="loader" not in spec)
    if "loader" not in spec and spec["kind"] not in CSV_KINDS:
        raise ParameterError(f"case file {location}: kind={spec['kind']!r}; a case without a `loader` must be one "
                             f"of {list(CSV_KINDS)}")
    _check_grid(spec["grid"], location)
    if "splits" in spec:
        sp = spec["splits"]
        _require(isinstance(sp, dict) and "path" in sp and "sha256" in sp, location, "splits", sp,
                 "a table [splits] with `path` (absolute) and `sha256`")
        check_line(sp["path"], "[splits] path", f"case file {location}")
        _require(Path(sp["path"]).expanduser().is_absolute(), location, "[splits] path", sp["path"], "an absolute path")
        _require(isinstance(sp["sha256"], str) and bool(re.fullmatch(r"[0-9a-f]{64}", sp["sha256"])), location,
                 "[splits] sha256", sp["sha256"], "64 hex digits")
    check_page(spec.get("page", {}), location)
    notebook = spec.get("notebook", {})
    if "check" in notebook and not builtin:
        raise ParameterError(f"case file {location}: [notebook] check = {notebook['check']!r}: a case of your own "
                             f"cannot name code for its notebook to import (built-in cases only)")
    return spec


def _check_grid(grid, location: str) -> None:
    _require(isinstance(grid, dict), location, "grid", grid, "a table ([grid])")
    for key in ("ns", "ms", "trials"):
        if key not in grid:
            raise ParameterError(f"case file {location}: [grid] needs `{key}`")
    for key in ("ns", "ms"):
        _require(isinstance(grid[key], list) and bool(grid[key]), location, f"[grid] {key}", grid[key],
                 "a non-empty list")
    for n in grid["ns"]:
        if not (n == "all" or (isinstance(n, int) and not isinstance(n, bool) and n >= 0)):
            raise ParameterError(f"case file {location}: [grid] ns entry {n!r}: expected an integer >= 0 or 'all'")
    for m in grid["ms"]:
        if not (m == "all" or (isinstance(m, int) and not isinstance(m, bool) and m > 0)):
            raise ParameterError(f"case file {location}: [grid] ms entry {m!r}: expected an integer > 0 or 'all'")
    if not (isinstance(grid["trials"], int) and not isinstance(grid["trials"], bool) and grid["trials"] >= 1):
        raise ParameterError(f"case file {location}: [grid] trials={grid['trials']!r}: expected an integer >= 1")


#: the [page] keys that are not free prose, and what each must be
PAGE_STRINGS = ("title", "intro", "simulations", "figure_alt", "two_way_figure_alt")


def check_page(page, location: str) -> None:
    """The ``[page]`` table: strings, ``objectives`` a list of non-empty strings, ``caveats`` a bool (whether
    the case is one :mod:`s2rlib.book.caveats` knows is checked when the page is rendered), ``sensitivity`` a
    list of variant names of :mod:`s2rlib.law.sensitivity`."""
    if not isinstance(page, dict):
        raise ParameterError(f"case file {location}: `page` must be a table ([page]), not {type(page).__name__}")
    for key in PAGE_STRINGS:
        if key in page and not (isinstance(page[key], str) and page[key].strip()):
            raise ParameterError(f"case file {location}: [page] {key}={page[key]!r}: expected a non-empty string")
    if "objectives" in page:
        obj = page["objectives"]
        if not (isinstance(obj, list) and obj and all(isinstance(o, str) and o.strip() for o in obj)):
            raise ParameterError(f"case file {location}: [page] objectives={obj!r}: expected a non-empty list of "
                                 f"non-empty strings (one bullet each, without the final ';')")
    if "caveats" in page:
        if not isinstance(page["caveats"], bool):
            raise ParameterError(f"case file {location}: [page] caveats={page['caveats']!r}: expected true or false")
    if "results" in page:
        res = page["results"]
        if not (isinstance(res, str) and Path(res).expanduser().is_absolute() and res.endswith(".csv")
                and "`" not in res):
            raise ParameterError(f"case file {location}: [page] results={res!r}: expected the absolute path of a "
                                 f"results CSV, without backticks (s2r book-page NAME --results PATH writes it)")
        check_line(res, "[page] results", f"case file {location}")
    if "sensitivity" in page:
        sens = page["sensitivity"]
        if not (isinstance(sens, list) and all(isinstance(v, str) and v.strip() for v in sens)):
            raise ParameterError(f"case file {location}: [page] sensitivity={sens!r}: expected a list of protocol "
                                 f"variant names (s2rlib.law.sensitivity; checked when the page is written)")


def read_builtin() -> list[tuple[dict, str]]:
    out = []
    for res in sorted(builtin_dir().iterdir(), key=lambda r: r.name):
        if res.name.endswith(".toml"):
            out.append((parse(res.read_text(encoding="utf-8"), f"s2rlib/data/cases/{res.name}", builtin=True),
                        str(res)))
    return out


def read_user(directory: Path | None = None, problems: dict | None = None) -> list[tuple[dict, str]]:
    """The user's case files; a malformed one is left out and its error put in ``problems`` (file -> message)."""
    try:
        directory = user_cases_dir() if directory is None else Path(directory)
    except ParameterError as exc:  # $S2R_CASES_DIR names a file: named, and no user case is read
        if problems is None:
            raise
        problems[os.environ.get(CASES_ENV, "")] = str(exc)
        return []
    if not directory.is_dir():
        return []
    out = []
    for p in sorted(directory.glob("*.toml")):
        try:
            out.append((parse(p.read_text(encoding="utf-8"), str(p)), str(p)))
        except (ParameterError, OSError, UnicodeDecodeError) as exc:
            if problems is None:
                raise
            problems[str(p)] = str(exc)
    return out


# ---------------------------------------------------------------------------------------------- writing


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to a case file")


def dumps(spec: dict, header: str = "") -> str:
    """TOML text of a case spec: top-level scalars, then one level of tables (all a case file has)."""
    lines = [f"# {line}" for line in header.splitlines()]
    tables = {k: v for k, v in spec.items() if isinstance(v, dict)}
    lines += [f"{k} = {_value(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    for name, table in tables.items():
        lines += ["", f"[{name}]"] + [f"{k} = {_value(v)}" for k, v in table.items()]
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == spec, "case file writer round trip"
    return text
