"""Where the book's results live and loading them: a case's results table, its fits by m.

Where the results live: ``results/<case>/results.csv`` of the checkout (found from the current
directory upwards), or ``$S2R_RESULTS_ROOT/<case>/results.csv`` when that variable is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from s2rlib._core.markup import literal
from s2rlib._core.constants import ALL_M
from s2rlib._core.paths import repo_root, results_root
from s2rlib.grid import results
from s2rlib.cases.registry import CASES, builtin_names, get_case
from s2rlib.book.display import note
from s2rlib._core.errors import ParameterError
from s2rlib.book.formatting import join_words, trials_words
from s2rlib.law.fit_cache import N_BOOT, fit_case  # N_BOOT: bootstrap draws of a chapter's main fit
from s2rlib.grid.selection import m_values
from s2rlib.law.trial_stats import CaseFit
from s2rlib.training.transfer import Recipe
from s2rlib.grid.recipe_study import V1
from s2rlib.grid.selection import select_grid

N_BOOT_PER_M = 300  # ... of the per-m fits of the two-way design (one fit per m; keeps the build fast)
#: the order of the case studies in the book (from the case registry; see :func:`book_cases` for user cases)
BOOK_CASES = tuple(builtin_names())


def results_path(case: str, root: str | Path | None = None) -> Path:
    """``<results root>/<case>/results.csv``, or the table the case file's ``[page] results`` names
    (``s2r book-page NAME --results PATH``: a grid run with ``--out``)."""
    declared = CASES[case].prose["page"].get("results") if case in CASES else None
    return Path(declared).expanduser() if declared else results_root(root) / case / "results.csv"


def missing_message(case: str, root: str | Path | None = None) -> str:
    path = results_path(case, root)
    c = get_case(case)
    ns = ",".join(str(n) for n in c.default_ns)
    out = f" --out {path.parent}" if c.prose["page"].get("results") else ""
    return (f"No results yet for **{c.name}**: `{_rel(path)}` does not exist. The numbers and figures of this "
            f"chapter appear once the grid has run, for example with `s2r grid {c.name} --ns {ns} "
            f"--trials {c.default_trials}{out}` (or `make book`, which runs every missing grid point first).")


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(repo_root().resolve()))
    except ValueError:
        return str(path)


def load_case_results(case: str, root: str | Path | None = None, *, announce: bool = True) -> pd.DataFrame | None:
    """The tidy results table of ``case`` (only its rows), or None when there is none yet.

    With ``announce`` a missing table is reported (an admonition in a notebook, a line elsewhere).
    A table that exists but is malformed raises :class:`s2rlib._core.errors.DataError`.
    """
    case = get_case(case).name
    path = results_path(case, root)
    if not path.is_file():
        if announce:
            note(missing_message(case, root), "warning", "Results missing")
        return None
    table = results.load_results(path)  # verified; a damaged table is rebuilt from its point files
    table = table[table["case"] == case].reset_index(drop=True)
    results.check_one_data(table, path, case)
    if table.empty:
        if announce:
            note(f"`{_rel(path)}` has no rows for case `{case}`.", "warning", "Results missing")
        return None
    return table


def _short(value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):  # fine-tuning candidates
        return ", ".join(str(c.get("name", "?")) for c in value)
    return str(tuple(value)) if isinstance(value, list) else str(value)


def case_words(case: str, *, start: bool = False) -> str:
    """A case's name in words, as its chapter title says it ("formation enthalpy", "Flory–Huggins χ");
    ``start``: capitalised to begin a sentence or a table cell."""
    try:
        c = get_case(case)
    except ParameterError:  # a table of a case not registered here: its name is all there is
        words = case.replace("_", " ")
        return words[:1].upper() + words[1:] if start else words
    words = str(c.prose.get("page", {}).get("title", c.title)).split(":")[0].strip() or c.name.replace("_", " ")
    if not start and not c.property_name[:1].isupper():
        words = words[:1].lower() + words[1:]
    words = words[:1].upper() + words[1:] if start else words
    return words if c.builtin else literal(words)  # a case of one's own: text, never markup


def _m_words(ms) -> str:
    names = ["all" if m == ALL_M else f"{int(m):,}" for m in ms]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class GridState:
    """Where a case's committed results stand against its default grid, read from the table's rows.

    ``state`` is ``"final"`` (today's recipe, the case file's trials, every m line of the case file
    complete), ``"partly final"`` (today's recipe and trials, some m lines complete, the others still to
    run) or ``"provisional"`` (another recipe, other trials, or no m line complete).
    """

    case: str
    #: "default" (today's transfer.Recipe()), "first" (the recipe study's first step), "earlier", "mixed", or
    #: "own": a case of one's own run with a recipe other than today's (``s2r grid --recipe``)
    recipe: str
    trials: tuple[int, int]  # fewest and most trials per point
    default_trials: int
    withheld: bool | None  # test materials' simulations withheld from pretraining (None: not known / mixed)
    complete_ms: tuple[int, ...]  # the case file's m whose every default n was run
    missing_ms: tuple[int, ...]  # the case file's m with points still to run
    differences: tuple[str, ...]  # what differs from the default grid, in detail (:func:`grid_currency`)
    partly_run: tuple[tuple[int, int], ...] = ()  # (m, points run) for a missing m that has some of its points
    default_points: int = 0  # the case file's n sizes, the points of one complete m line

    @property
    def state(self) -> str:
        if self.recipe != "default" or self.trials != (self.default_trials, self.default_trials) or not self.complete_ms:
            return "provisional"
        return "partly final" if self.missing_ms else "final"

    def _trial_words(self) -> str:
        lo, hi = self.trials
        return trials_words(hi) if lo == hi else f"{lo} to {hi} trials"

    def _todo_words(self) -> str:
        """The m lines still to run, those with some points first: "m = 100 has 7 of 8 points, m = 300 and
        1,000 still to run"."""
        run = dict(self.partly_run)
        parts = [f"m = {_m_words([m])} has {run[m]} of {self.default_points} points" for m in self.missing_ms if m in run]
        untouched = [m for m in self.missing_ms if m not in run]
        if untouched:
            parts.append(f"m = {_m_words(untouched)} still to run")
        return ", ".join(parts)

    def tag(self) -> str:
        """The short form of :meth:`words`, for a table cell."""
        if self.state == "final":
            return f"final ({self._trial_words()})"
        if self.state == "partly final":
            done = "m = all" if self.complete_ms == (ALL_M,) else f"m = {_m_words(self.complete_ms)}"
            return f"final at {done} ({self._trial_words()}); {self._todo_words()}"
        return self.words().replace("the first recipe", "first recipe").replace("an earlier recipe", "earlier recipe"
                                                                                ).replace(" from pretraining", "")

    def words(self) -> str:
        """One phrase for a table cell or a sentence: final, partly final (which m) or provisional (why)."""
        if self.state == "final":
            ms = self.complete_ms
            return (f"final: today's recipe, {self._trial_words()}, "
                    f"{'every m (' + _m_words(ms) + ')' if len(ms) > 1 else 'm = ' + _m_words(ms)}")
        if self.state == "partly final":
            done = "all experiments (m = all)" if self.complete_ms == (ALL_M,) else f"m = {_m_words(self.complete_ms)}"
            return f"final for {done}, {self._trial_words()}; {self._todo_words()}"
        why = {"first": "the first recipe", "earlier": "an earlier recipe", "mixed": "rows from several recipes",
               "own": "a recipe of its own (s2r grid --recipe), not today's default",
               "default": "today's recipe"}[self.recipe]
        parts = [why, self._trial_words() + ("" if self.trials[1] == self.default_trials else
                                             f" (not {self.default_trials})")]
        if self.withheld is False:
            parts.append("test materials' simulations not withheld from pretraining")
        if not self.complete_ms:
            parts.append("no m complete")
        return "provisional: " + ", ".join(parts)


def _full_recipe(recorded: dict) -> dict:
    """A recorded recipe with the fields that are recorded only when not at their value
    (``Recipe.RECORDED_IF_NOT``, e.g. ``precision`` fp32) filled in, so recipes compare field by field."""
    return {**Recipe.RECORDED_IF_NOT, **recorded}


def _recipe_kind(recorded: list[dict]) -> str:
    now, first = _full_recipe(Recipe().to_dict()), _full_recipe(Recipe(**V1).to_dict())
    if all(_full_recipe(r) == now for r in recorded):
        return "default"
    # a field added later (a candidate's l2sp) takes its default: Recipe.from_dict fills it in
    if all(r and all(first.get(k) == _full_recipe(Recipe.from_dict({k: v}).to_dict())[k] for k, v in r.items())
           for r in recorded):
        return "first"
    return "mixed" if len(recorded) > 1 else "earlier"


def _withheld(table: pd.DataFrame, recorded: list[dict]) -> bool | None:
    """Whether the test materials' simulations were withheld from pretraining: the recipe's field where
    it was recorded, else read from the rows (at the largest n, fewer source samples drawn than asked)."""
    flags = {r.get("withhold_test_sources") for r in recorded}
    if None not in flags:
        return flags.pop() if len(flags) == 1 else None
    if len(flags) > 1:
        return None
    used = table[table["metric"] == "n_source_used"]
    if used.empty:
        return None
    top = used[used["n_source"] == used["n_source"].max()]
    return bool(top["value"].mean() < float(top["n_source"].iloc[0]) - 0.5)


def recorded_recipes(case: str, table: pd.DataFrame) -> list[dict]:
    """The distinct training recipes recorded in a results table's ``params`` column (JSON per row);
    a ParameterError names the case, its results file and the row when a cell is not a JSON object."""
    import json

    if "params" not in table.columns:
        raise ParameterError(f"{case}: the results table ({results_path(case)}) has no 'params' column; "
                             f"columns: {list(table.columns)}")
    out = set()
    for i, p in table["params"].items():
        try:
            params = json.loads(str(p))
        except json.JSONDecodeError as err:
            params, why = None, str(err)
        else:
            why = f"a {type(params).__name__}"
        if not isinstance(params, dict):
            raise ParameterError(f"{case}: row {i} of {results_path(case)} has a 'params' cell that is not a JSON "
                                 f"object ({why}): {str(p)[:80]!r}")
        out.add(json.dumps(params.get("recipe", {}), sort_keys=True))
    return [json.loads(r) for r in sorted(out)]


def split_files(table: pd.DataFrame) -> list[str]:
    """The sha256 of the split files of fixed folds the rows were computed with (empty: random re-splits)."""
    import json

    return sorted({str(json.loads(str(p)).get("splits_sha256")) for p in table["params"].unique()} - {"None"})


def folds_words(table: pd.DataFrame) -> str | None:
    """What fixed folds mean for a page's intervals, in words (None for random re-splits)."""
    files = split_files(table)
    if not files:
        return None
    trials = int(table.groupby(["n_source", "m_target"])["trial"].nunique().max())
    sha = ", ".join(f"`{f[:16]}`" for f in files)
    return (f"These rows use fixed splits: trial t tests on fold t of a split file (sha256 {sha}), {trials} fold(s), "
            f"instead of random re-splits; each fold's validation set is carved from its training rows. Every mean "
            f"and 90% interval over trials on this page is therefore over folds: it says how the error varies from "
            f"fold to fold of that one partition, not over random splits of the data.")


def grid_state(case: str, table: pd.DataFrame) -> GridState:
    """The :class:`GridState` of a case's results table (one grid)."""
    c = get_case(case)
    recorded = recorded_recipes(case, table)
    per_point = table.groupby(["n_source", "m_target"])["trial"].nunique()
    trials = (int(per_point.min()), int(per_point.max())) if len(per_point) else (0, 0)
    ms = sorted({ALL_M if m is None else int(m) for m in c.default_ms}, key=lambda m: (m == ALL_M, m))
    missing = _n_missing(c, table, ms)
    total = len(c.default_ns)
    kind = _recipe_kind(recorded)
    kind = "own" if not c.builtin and kind in ("first", "earlier") else kind  # a user's --recipe is no history
    return GridState(case=c.name, recipe=kind, trials=trials, default_trials=int(c.default_trials),
                     withheld=_withheld(table, recorded), complete_ms=tuple(m for m in ms if m not in missing),
                     missing_ms=tuple(m for m in ms if m in missing), differences=tuple(grid_currency(case, table)),
                     partly_run=tuple((m, total - missing[m]) for m in ms if 0 < missing.get(m, 0) < total),
                     default_points=total)


def _n_missing(c, table: pd.DataFrame, ms) -> dict[int, int]:
    """{m: number of the case file's n sizes without a point at m} ("all" = any n above the numeric ones)."""
    numeric = [int(n) for n in c.default_ns if n != "all"]
    out = {}
    for m in ms:
        run = set(table.loc[table["m_target"] == m, "n_source"].astype(int))
        lost = sum(n not in run for n in numeric)
        lost += int("all" in c.default_ns and not any(n > max(numeric, default=0) for n in run))
        if lost:
            out[m] = lost
    return out


def states_markdown(states) -> str:
    """``{case: GridState or None}`` as a Markdown list in words, cases with the same words on one line."""
    groups: dict[str, list[str]] = {}
    for c, st in states.items():
        words = "no results yet" if st is None else st.words()
        groups.setdefault(words, []).append(case_words(c, start=not groups.get(words)))
    return "\n".join(f"* **{join_words(cs)}**: {w}." for w, cs in groups.items())


def grid_states_markdown(root: str | Path | None = None, cases=None) -> str:
    """Per case, in words, whether its committed results table is final or provisional (the method
    chapter's box, kept equal to the committed results by a test)."""
    states = {}
    for c in (BOOK_CASES if cases is None else cases):
        table = load_case_results(c, root, announce=False)
        states[c] = None if table is None else grid_state(c, select_grid(table))
    return states_markdown(states)


def grid_currency(case: str, table: pd.DataFrame) -> list[str]:
    """How a case's results differ from what its default grid would compute today, in words (empty
    when they are the default grid): another training recipe than ``transfer.Recipe()`` (the fields
    that differ, old -> now), other trials than the case file's, grid points not run yet."""
    import json

    c = get_case(case)
    out = []
    now = _full_recipe(Recipe().to_dict())
    recipes = {json.dumps(_full_recipe(r), sort_keys=True) for r in recorded_recipes(case, table)}
    changed, unrecorded = {}, []
    for recorded in map(json.loads, sorted(recipes)):
        for k in now:
            if k not in recorded:
                unrecorded += [k] if k not in unrecorded else []
            elif recorded[k] != now[k]:
                changed.setdefault(k, []).append(_short(recorded[k]))
    if changed or unrecorded:
        text = ("an earlier training recipe than today's default" if c.builtin else
                "a training recipe of its own (s2r grid --recipe), not today's default")
        if len(recipes) > 1:
            today = json.dumps(now, sort_keys=True) in recipes
            text = (f"rows from {len(recipes)} training recipes"
                    + (", only part of them today's default" if today else ", none of them today's default"))
        if changed:
            fields = [f"{k} {' or '.join(dict.fromkeys(old))} → {_short(now[k])}" for k, old in changed.items()]
            text += f" ({'; '.join(fields)})"
        if unrecorded:
            text += f"; not recorded, because the field did not exist yet: {', '.join(unrecorded)}"
        out.append(text)
    per_point = table.groupby(["n_source", "m_target"])["trial"].nunique()
    lo, hi = (int(per_point.min()), int(per_point.max())) if len(per_point) else (0, 0)
    if lo != hi:
        out.append(f"{lo} to {hi} trials per point instead of the case file's {c.default_trials}")
    elif hi != c.default_trials:
        out.append(f"{trials_words(hi)} per point instead of the case file's {c.default_trials}")
    ms = {ALL_M if m is None else int(m) for m in c.default_ms}
    missing = _n_missing(c, table, ms)
    if missing:
        parts = [f"{k} of {len(c.default_ns)} at {'all experiments' if m == ALL_M else f'm = {m:,}'}"
                 for m, k in sorted(missing.items(), key=lambda x: (x[0] == ALL_M, x[0]))]
        out.append(f"grid points not run yet: {', '.join(parts)}")
    return out


def fits_by_m(table: pd.DataFrame, *, metric: str = "mae", n_boot: int = N_BOOT,
              main: CaseFit | None = None) -> dict[int, CaseFit]:
    """One fit per experimental size m in the table (the two-way design); ``main``, an existing fit of one
    of those m (a chapter's main fit, with more bootstrap draws), is used as it is for its m."""
    return {m: main if main is not None and int(main.m_target) == m else fit_case(table, m, metric=metric, n_boot=n_boot)
            for m in m_values(table)}


def effective_m(table: pd.DataFrame, m_target: int = ALL_M) -> float:
    """Mean number of experimental training + validation samples at ``m_target`` (for m = -1)."""
    sub = table[(table["m_target"] == m_target) & table["metric"].isin(["n_train", "n_val"])]
    if sub.empty:
        return float("nan")
    per = sub.pivot_table(index=["n_source", "trial"], columns="metric", values="value", aggfunc="mean")
    return float(per.sum(axis=1).mean())
