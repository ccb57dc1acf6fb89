"""Up-front validation of run parameters: a specific error before any training starts.

A notebook's first code cell calls :func:`validate_params`; after the data are loaded,
:func:`check_against_data` checks what depends on them (n against the source size, whether the
experimental split is large enough to train, validate and test).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import tempfile
from pathlib import Path

from s2rlib.datasets.case_data import CaseData
from s2rlib.cases.registry import check_descriptor, get_case
from s2rlib._core.errors import ChecksumError, ParameterError
from s2rlib._core.constants import ALL_M
from s2rlib.features.descriptors import DEFAULT as DEFAULT_DESCRIPTOR
from s2rlib.features.descriptors import DESCRIPTORS
from s2rlib.training.device import PRECISIONS, bf16_native
from s2rlib.training.device import record as device_record
from s2rlib.training.device import resolve as resolve_device
from s2rlib.training.transfer import Candidate, Recipe, check_source_left, split_and_draw
from s2rlib.training.models import MATMULS, OPTIMIZERS, onednn_available
from s2rlib.training.pretrain import SCHEDULES
from s2rlib.training.splits import file_sha256, read_split_file

MIN_TRAIN, MIN_VAL, MIN_TEST = 8, 2, 2


def split_words(n_train: float, n_val: float, n_test: float, recipe: Recipe) -> str:
    """The expected split of a too small experimental set, in words that do not contradict the minimum:
    the sizes to one decimal (7.7 train is short of 8 even where it rounds to 8), and how many samples the
    split needs (with ``m_target`` = all)."""
    tf, vf = recipe.test_fraction, recipe.val_fraction
    need = max(MIN_TRAIN / max((1 - tf) * (1 - vf), 1e-12), MIN_VAL / max((1 - tf) * vf, 1e-12),
               MIN_TEST / max(tf, 1e-12))
    return (f"the split ({tf:.0%} test, then {vf:.0%} of the rest for validation) gives about {n_train:.1f} train / "
            f"{n_val:.1f} validation / {n_test:.1f} test samples, short of the {MIN_TRAIN}/{MIN_VAL}/{MIN_TEST} it "
            f"needs (at least {math.ceil(need - 1e-9):,} samples with these fractions)")
#: bounds on the network's size: a width or a layer count beyond these is a typo, not an experiment
#: (``"hidden": [1e9]`` would otherwise fail on a 532 GB allocation after the data are loaded)
MAX_WIDTH, MAX_LAYERS, MAX_HIDDEN_WEIGHTS = 16384, 32, 20_000_000


#: the largest seed of a trial (seeds are 32-bit: numpy's legacy seeding and the split draws)
MAX_SEED = 2**32 - 1


def _int(name: str, value, *, minimum: int, allow_all: bool = False, maximum: int | None = None):
    if allow_all and value == "all":
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            expected = "an integer or 'all'" if allow_all else "an integer"
            raise ParameterError(f"parameter {name}={value!r}: expected {expected} >= {minimum}")
    value = int(value)
    if value < minimum:
        raise ParameterError(f"parameter {name}={value}: must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ParameterError(f"parameter {name}={value}: must be <= {maximum}")
    return value


def _candidates(value) -> None:
    """``recipe.candidates`` must be a list of {name, body_lr, head_lr} objects (checked before Recipe sees it)."""
    fields = sorted(f.name for f in dataclasses.fields(Candidate))
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
        raise ParameterError(f"parameter recipe.candidates={value!r}: expected a list of fine-tuning candidates, "
                             f"objects with fields {fields}")
    for i, c in enumerate(value):
        if isinstance(c, Candidate):
            continue
        if not isinstance(c, dict):
            raise ParameterError(f"parameter recipe.candidates[{i}]={c!r}: expected an object with fields {fields}")
        wrong = sorted(set(c) ^ set(fields))
        if wrong:
            raise ParameterError(f"parameter recipe.candidates[{i}]={c!r}: expected an object with fields {fields}, "
                                 f"field(s) {wrong} missing or unknown")


def _writable(name: str, path) -> str:
    """The path as a string if a file can be created there; checks without creating directories."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise ParameterError(f"parameter {name}={str(path)!r}: is a directory; expected the path of a CSV file")
    # the nearest existing ancestor must be a writable directory (missing ones are created at write time)
    anchor = p.parent
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir():
        raise ParameterError(f"parameter {name}={str(path)!r}: {anchor} is not a directory, so the file cannot be "
                             f"created; expected a path in a writable directory")
    try:
        fd, tmp = tempfile.mkstemp(dir=anchor, prefix=".s2r-write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ParameterError(f"parameter {name}={str(path)!r}: directory {anchor} is not writable "
                             f"({exc.strerror or exc})") from None
    return str(p)


def _positive_real(name: str, value, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ParameterError(f"parameter {name}={value!r}: expected {expected}")


def _check_schedule(recipe: Recipe) -> Recipe:
    """The pretraining schedule and, for "converge", its early-stopping fields (a cap is required)."""
    if recipe.pretrain_schedule not in SCHEDULES:
        raise ParameterError(f"parameter recipe.pretrain_schedule={recipe.pretrain_schedule!r}: expected one of "
                             f"{list(SCHEDULES)}")
    if recipe.pretrain_schedule != "converge":
        return recipe
    if recipe.pretrain_max_steps is None:
        raise ParameterError("parameter recipe.pretrain_max_steps=None with pretrain_schedule='converge': early "
                             "stopping needs a cap on the steps (e.g. 60000); the rows record whether it stopped "
                             "a member")
    ints = {name: _int(f"recipe.{name}", getattr(recipe, name), minimum=minimum)
            for name, minimum in (("pretrain_val_max", 1), ("pretrain_eval_steps", 1), ("pretrain_patience", 1),
                                  ("pretrain_drops", 0))}
    v = recipe.pretrain_val_fraction
    if not (isinstance(v, numbers.Real) and 0 < v < 1):
        raise ParameterError(f"parameter recipe.pretrain_val_fraction={v!r}: expected a fraction strictly between "
                             f"0 and 1")
    d = recipe.pretrain_lr_drop
    if not (isinstance(d, numbers.Real) and 0 < d < 1):
        raise ParameterError(f"parameter recipe.pretrain_lr_drop={d!r}: expected a factor strictly between 0 and 1 "
                             f"(the learning rate is multiplied by it at each drop)")
    return dataclasses.replace(recipe, **ints)


def validate_recipe(overrides: dict | None) -> Recipe:
    """A Recipe from the defaults plus ``overrides``; unknown or bad fields are a ParameterError."""
    if isinstance(overrides, str):  # the notebooks' recipe_json
        try:
            overrides = json.loads(overrides or "{}")
        except json.JSONDecodeError as exc:
            raise ParameterError(f"parameter recipe_json={overrides!r}: not valid JSON ({exc})") from None
    if overrides is not None and not isinstance(overrides, dict):
        raise ParameterError(f"parameter recipe={overrides!r}: expected a JSON object of Recipe fields, "
                             f"e.g. {{\"pretrain_epochs\": 5}}")
    overrides = dict(overrides or {})
    known = {f.name for f in dataclasses.fields(Recipe)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ParameterError(f"parameter recipe: unknown field(s) {unknown}; valid fields: {sorted(known)}")
    if "candidates" in overrides:
        _candidates(overrides["candidates"])
    try:
        recipe = Recipe.from_dict({**Recipe().to_dict(), **overrides})
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"parameter recipe={overrides!r}: {exc}") from None
    ints = {name: _int(f"recipe.{name}", getattr(recipe, name), minimum=1)
            for name in ("pretrain_batch", "pretrain_epochs", "finetune_batch", "finetune_max_epochs",
                         "patience_epochs", "pretrain_min_steps")}
    if recipe.pretrain_max_steps is not None:  # None = no cap (every n gets pretrain_epochs epochs)
        ints["pretrain_max_steps"] = _int("recipe.pretrain_max_steps", recipe.pretrain_max_steps, minimum=1)
    for name, allowed in (("loss", ("mse", "l1", "huber")), ("nonneg", ("off", "auto")),
                          ("y_scale", ("train", "source")), ("precision", PRECISIONS), ("matmul", MATMULS),
                          ("optimizer", OPTIMIZERS), ("descriptor", DESCRIPTORS)):
        if getattr(recipe, name) not in allowed:
            raise ParameterError(f"parameter recipe.{name}={getattr(recipe, name)!r}: expected one of {list(allowed)}")
    recipe = _check_schedule(recipe)
    if recipe.precision == "bf16" and not bf16_native():
        raise ParameterError("parameter recipe.precision='bf16': this CPU has no bfloat16 instructions "
                             "(neither AVX512-BF16 nor AMX), so bf16 would be emulated and slower than fp32; use "
                             "\"fp32\" here")
    if recipe.matmul == "onednn" and not onednn_available():
        raise ParameterError("parameter recipe.matmul='onednn': this torch build has no oneDNN linear kernel "
                             "(torch.ops.mkldnn._linear_pointwise); use \"blas\" here")
    if recipe.matmul == "onednn" and recipe.precision != "fp32":
        raise ParameterError(f"parameter recipe.matmul='onednn' with precision={recipe.precision!r}: the oneDNN "
                             "kernel choice is for fp32 (bf16 products already run on oneDNN); use matmul \"blas\"")
    if not isinstance(recipe.distinct_candidates, bool):
        raise ParameterError(f"parameter recipe.distinct_candidates={recipe.distinct_candidates!r}: "
                             f"expected true or false")
    if not isinstance(recipe.withhold_test_sources, bool):
        raise ParameterError(f"parameter recipe.withhold_test_sources={recipe.withhold_test_sources!r}: "
                             f"expected true or false")
    hidden = overrides.get("hidden", list(recipe.hidden))
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (list, tuple)) or not hidden:
        raise ParameterError(f"parameter recipe.hidden={hidden!r}: expected a non-empty list of layer widths, "
                             f"e.g. [256, 128]")
    ints["hidden"] = tuple(_int("recipe.hidden[]", w, minimum=1, maximum=MAX_WIDTH) for w in hidden)
    if len(hidden) > MAX_LAYERS:
        raise ParameterError(f"parameter recipe.hidden: {len(hidden)} layers, must be <= {MAX_LAYERS}")
    weights = sum(a * b for a, b in zip(ints["hidden"], ints["hidden"][1:]))
    if weights > MAX_HIDDEN_WEIGHTS:
        raise ParameterError(f"parameter recipe.hidden={list(ints['hidden'])}: {weights:,} weights between hidden "
                             f"layers per network, must be <= {MAX_HIDDEN_WEIGHTS:,}")
    if "pretrain_max_steps" in ints and ints["pretrain_min_steps"] > ints["pretrain_max_steps"]:
        raise ParameterError(f"parameter recipe.pretrain_min_steps={ints['pretrain_min_steps']}: must be <= "
                             f"recipe.pretrain_max_steps={ints['pretrain_max_steps']}")
    if recipe.finetune_discard is not None:
        _positive_real("recipe.finetune_discard", recipe.finetune_discard, allow_zero=True)
    ints["finetune_discard_after"] = _int("recipe.finetune_discard_after", recipe.finetune_discard_after, minimum=0)
    recipe = dataclasses.replace(recipe, **ints)  # 16.0 -> 16: what the network and the params JSON see
    for name in ("test_fraction", "val_fraction"):
        v = getattr(recipe, name)
        if not (isinstance(v, numbers.Real) and 0 < v < 1):
            raise ParameterError(f"parameter recipe.{name}={v!r}: expected a fraction strictly between 0 and 1")
    if not recipe.candidates:
        raise ParameterError("parameter recipe.candidates: at least one fine-tuning candidate is needed")
    _positive_real("recipe.pretrain_lr", recipe.pretrain_lr)
    for c in recipe.candidates:
        _positive_real(f"recipe.candidates[{c.name}].body_lr", c.body_lr, allow_zero=True)
        _positive_real(f"recipe.candidates[{c.name}].head_lr", c.head_lr)
        _positive_real(f"recipe.candidates[{c.name}].l2sp", c.l2sp, allow_zero=True)
    return recipe


def resolve_splits(case, splits: str | None) -> dict | None:
    """The split file a grid uses: ``splits`` (a path; ``s2r grid --splits``), else the case file's ``[splits]``
    (its sha256 checked), else None (random re-splits). Returns ``{"path", "sha256"}``."""
    if splits:
        path = Path(str(splits)).expanduser().resolve()
        if not path.is_file():
            raise ParameterError(f"parameter splits={str(splits)!r}: {path} does not exist; expected a split file "
                                 f"(CSV with a fold column, or JSON of train/test ids per fold)")
        return {"path": str(path), "sha256": file_sha256(path)}
    declared = case.spec.get("splits")
    if not declared:
        return None
    path = Path(declared["path"])
    if not path.is_file():
        raise ParameterError(f"case file {case.file}: [splits] path = {str(path)!r} does not exist")
    digest = file_sha256(path)
    if digest != declared["sha256"]:
        raise ChecksumError(f"{path}: the split file changed since {case.file} recorded it: sha256 {digest}, "
                            f"recorded {declared['sha256']}; restore it, or record the new one in the case file")
    return {"path": str(path), "sha256": digest}


def validate_params(case: str, n_source, trials, seed, m_target=ALL_M, output_path=None, recipe: dict | None = None,
                    threads=None, device=None, splits: str | None = None, **ignored) -> dict:
    """Check every parameter that does not need the data; returns them normalised."""
    try:
        the_case = get_case(case)
    except ParameterError as exc:
        raise ParameterError(f"parameter case={case!r}: {exc}") from None
    recipe_checked = validate_recipe(recipe)
    check_descriptor(the_case, recipe_checked.descriptor)
    if recipe_checked.descriptor != DEFAULT_DESCRIPTOR:
        # the grid notebooks load the default features; another descriptor runs in the recipe study until
        # validation adopts one (then the notebooks and their executed examples change in one commit)
        raise ParameterError(f"parameter recipe.descriptor={recipe_checked.descriptor!r}: a grid point computes the "
                             f"{DEFAULT_DESCRIPTOR!r} features; the descriptors are compared by validation in the "
                             f"recipe study (python benchmarks/descriptors.py run), not yet in a grid")
    out = {
        "case": case,
        "n_source": _int("n_source", n_source, minimum=0, allow_all=True),
        "trials": _int("trials", trials, minimum=1),
        "seed": _int("seed", seed, minimum=0, maximum=MAX_SEED),
        # ALL_M (-1; None and "all" from outside) = all experimental training data
        "m_target": ALL_M if m_target in (None, ALL_M, "all") else _int("m_target", m_target, minimum=MIN_TRAIN + MIN_VAL),
        "recipe": recipe_checked,
        "threads": None if threads is None else _int("threads", threads, minimum=1),
        # where it trains (refused with the reason where it cannot run here) and what the point records of it
        "device": str(resolve_device(device)),
        "device_record": device_record(device),
        # a user's fixed folds instead of random re-splits: its sha256 is a parameter (another file, another grid)
        "splits": resolve_splits(the_case, splits),
    }
    out["splits_record"] = {"splits_sha256": out["splits"]["sha256"]} if out["splits"] else {}
    if out["seed"] + out["trials"] - 1 > MAX_SEED:
        raise ParameterError(f"parameter seed={out['seed']}: trial t uses seed + t, and seed + trials - 1 = "
                             f"{out['seed'] + out['trials'] - 1} must be <= {MAX_SEED} (2**32 - 1)")
    out["output_path"] = None if output_path is None else _writable("output_path", output_path)
    return out


def check_against_data(params: dict, data: CaseData) -> dict:
    """Resolve n='all' and check n and the experimental split sizes against the loaded data."""
    params = dict(params)
    n = params["n_source"]
    if n == "all":
        n = data.n_source
    if n > data.n_source:
        raise ParameterError(
            f"parameter n_source={n}: larger than the source set of case {data.case!r} ({data.n_source} samples)")
    params["n_source"] = n
    recipe: Recipe = params["recipe"]
    if params.get("splits"):  # fixed folds: the file is checked against the data, and its folds against the grid
        folds = read_split_file(params["splits"]["path"], data, get_case(params["case"]))
        folds.check(params["trials"], params.get("m_target", ALL_M), MIN_TRAIN, MIN_VAL)
        params["folds"] = folds
        _check_draws(params, data, folds)
        return params
    n_groups = len(set(data.groups_target.tolist()))
    m = params.get("m_target")
    pool = (m if m != ALL_M else data.n_target * (1 - recipe.test_fraction))
    n_test = data.n_target * recipe.test_fraction
    n_val = pool * recipe.val_fraction
    n_train = pool - n_val
    if m != ALL_M and m > data.n_target * (1 - recipe.test_fraction):
        raise ParameterError(
            f"parameter m_target={m}: more than the {int(data.n_target * (1 - recipe.test_fraction))} experimental "
            f"samples left for training after the {recipe.test_fraction:.0%} test split of case {data.case!r}")
    if n_train < MIN_TRAIN or n_val < MIN_VAL or n_test < MIN_TEST or n_groups < 3:
        raise ParameterError(
            f"the experimental data of case {data.case!r} ({data.n_target} samples, {n_groups} groups) are too few "
            f"to split: {split_words(n_train, n_val, n_test, recipe)} (lower recipe.test_fraction/val_fraction or "
            f"raise m_target)")
    _check_draws(params, data, None)
    return params


def _check_draws(params: dict, data: CaseData, folds) -> None:
    """A numeric n that some trial cannot draw once its test materials' simulations are withheld is refused
    here, before the grid runs, with the message the point would fail with (the same splits and draws)."""
    n, recipe = params["n_source"], params["recipe"]
    if not (0 < n < data.n_source and recipe.withhold_test_sources and data.source_groups is not None):
        return
    seeds = [int(params["seed"]) + t for t in range(int(params["trials"]))]
    _, perms = split_and_draw(data, seeds, recipe, params.get("m_target", ALL_M), folds)
    check_source_left(data, n, seeds, perms)
