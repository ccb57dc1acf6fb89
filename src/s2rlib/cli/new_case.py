"""``s2r new-case``: a user's own case from two CSV files, checked, then written as a case file.

:func:`new_case` checks everything before it writes anything (the CSVs themselves with
:func:`s2rlib.cases.user_csv.check_files`, then that the default recipe can split the experimental
rows); then it writes one file, ``<cases dir>/<name>.toml``, that references the CSVs by absolute path
and sha256 (nothing is copied).
"""

from __future__ import annotations

import logging
from pathlib import Path

from s2rlib._core.atomic import write_text
from s2rlib._core.errors import DataError, ParameterError
from s2rlib.book.case_pages import default_figure_alt, default_objectives, default_two_way_figure_alt
from s2rlib.cases import case_file as casefile
from s2rlib.cases import user_csv
from s2rlib.cases.registry import CASES, from_spec, reload
from s2rlib.training.params import MIN_TEST, MIN_TRAIN, MIN_VAL, split_words, validate_recipe
from s2rlib.training.splits import file_sha256

log = logging.getLogger(__name__)


def _check_split(n_target: int, location) -> None:
    """The default recipe's experimental split (test, validation, training) of ``n_target`` groups is possible."""
    recipe = validate_recipe(None)
    n_test = n_target * recipe.test_fraction
    pool = n_target - n_test
    n_val = pool * recipe.val_fraction
    n_train = pool - n_val
    if n_train < MIN_TRAIN or n_val < MIN_VAL or n_test < MIN_TEST:
        raise DataError(f"{location}: {n_target} distinct experimental sample(s) after merging duplicates are too few: "
                        f"the default recipe's {split_words(n_train, n_val, n_test, recipe)}")


def default_ns(n_source: int) -> list:
    """0, then 1-3-10 steps up to the source size, then 'all'."""
    ns = [0] + [n for n in (10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000) if n < n_source] + ["all"]
    return ns


def new_case(name: str, source: str | Path, target: str | Path, *, kind: str, units: str, title: str | None = None,
             property: str = "target", source_description: str | None = None,
             target_description: str | None = None, notes: str = "", trials: int = 5,
             directory: Path | None = None, splits: str | Path | None = None) -> Path:
    """Check the two CSVs, then write ``<directory>/<name>.toml`` (atomically); returns its path."""
    casefile.check_name(name)
    directory = casefile.user_cases_dir() if directory is None else Path(directory)  # a file there: refused first
    reload()
    if name in CASES:
        raise ParameterError(f"case name {name!r} is taken ({CASES[name].file}); choose another name, or remove that "
                             f"file first to redefine the case")
    facts = user_csv.check_files(source, target, kind)
    _check_split(facts["target"]["unique"], target)
    for warning in user_csv.mismatch_warnings(facts):
        log.warning("new-case %s: %s", name, warning)
    src, tgt = facts["source"], facts["target"]
    what = "compositions" if kind == "composition" else "polymers"
    spec = {
        "name": name, "title": title or f"{name}: {Path(src['path']).name} -> {Path(tgt['path']).name}",
        "kind": kind, "property": property, "units": units,
        "grouping": "reduced formula" if kind == "composition" else "canonical repeat unit",
        "notes": notes or f"{tgt['in_source']} of the {tgt['unique']:,} experimental {what} also occur in the source",
        "source": {"path": src["path"], "sha256": src["sha256"],
                   "description": source_description or f"{Path(src['path']).name} ({src['rows']:,} rows, "
                                                         f"{src['unique']:,} {what})"},
        "target": {"path": tgt["path"], "sha256": tgt["sha256"],
                   "description": target_description or f"{Path(tgt['path']).name} ({tgt['rows']:,} rows, "
                                                         f"{tgt['unique']:,} {what})"},
        "grid": {"ns": default_ns(src["unique"]), "ms": ["all"], "trials": int(trials)},
    }
    if splits:  # fixed folds: checked against the data when a grid is planned (s2rlib.training.splits)
        split_path = Path(splits).expanduser().resolve()
        if not split_path.is_file():
            raise ParameterError(f"parameter --splits={str(splits)!r}: {split_path} does not exist")
        spec["splits"] = {"path": str(split_path), "sha256": file_sha256(split_path)}
    draft = from_spec(spec, file="", builtin=False)
    spec["page"] = {"objectives": default_objectives(draft), "figure_alt": default_figure_alt(draft)}
    if draft.two_way:
        spec["page"]["two_way_figure_alt"] = default_two_way_figure_alt(draft)
    spec["page"]["caveats"] = False
    path = directory / f"{name}.toml"
    text = casefile.dumps(spec, header=f"Case {name!r}, written by `s2r new-case`; format: s2rlib.cases.case_file")
    casefile.parse(text, str(path))  # what the registry will read: a bad --title/--units/--property stops here
    write_text(path, text)
    reload()
    return path
