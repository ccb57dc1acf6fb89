"""The Sim2Real protocol: draw n source samples, pretrain, fine-tune, evaluate on experiment.

One call of :func:`run_trials` computes one grid point: ``trials`` independent repetitions, each
with its own seed ``seed + t`` that fixes (1) the experimental train/validation/test split,
(2) the draw of ``n`` source samples and (3) the network initialisation. The split and the
initialisation do not depend on ``n``, and the source draws are nested (the first ``n`` of one
permutation), so the error at different ``n`` is a paired comparison on the same test set.

All trials train together as one batched ensemble (:class:`s2rlib.training.models.EnsembleMLP`). The
fine-tuning recipe is chosen per trial by validation MAE on a split carved from the experimental
training data (never the test split): every candidate in ``Recipe.candidates`` fine-tunes a copy
of the pretrained network side by side, with early stopping on the validation MAE (which also
covers "no fine-tuning": the pretrained network's own validation error is the first checkpoint).
Every member counts its own epochs and stops on its own patience, so a trial's result does not
depend on how many trials or candidates trained beside it (``batched=False`` is the one-network-at-
a-time reference, equal up to float rounding).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from s2rlib._core import allocator
from s2rlib.training import pretrain_cache
from s2rlib.training.device import PRECISIONS, bf16_native, describe, resolve
from s2rlib.datasets.case_data import CaseData
from s2rlib._core.errors import ParameterError
from s2rlib.training.models import EnsembleMLP
from s2rlib.training.metrics import simulation_baseline, trial_metrics
from s2rlib.training.finetune import finetune
from s2rlib.training.pretrain import pretrain, source_split
from s2rlib.training.splits import Folds, fold_split, split_groups  # noqa: F401 - split_groups: transfer's API
from s2rlib._core.constants import ALL_M


@dataclass(frozen=True)
class Candidate:
    """A fine-tuning recipe: learning rates of the body (all but the last layer) and the head."""

    name: str
    body_lr: float
    head_lr: float
    #: L2-SP: weight of ``sum ||W - W_pretrained||^2`` over the body's weights (0 = plain fine-tuning)
    l2sp: float = 0.0


@dataclass(frozen=True)
class Recipe:
    """Everything that defines training, besides data, n, m and seeds.

    The defaults are the recipe the recipe study chose on validation error (``s2rlib.grid.recipe_study``,
    chapter "What makes transfer work"; ``tests/test_recipe_report.py`` keeps them equal to the
    chosen step, "source"): a 512-512-256 network, L1 loss, 30 pretraining epochs of batch 512 at every
    n (at least 1,000 steps, no cap), early stopping after 50 stale epochs over three fine-tuning
    candidates (whole network, slow body, L2-SP), predictions clipped at 0 for a property that cannot
    be negative, the test materials' simulations withheld from pretraining, and the property
    standardised by the source database's statistics (so one pretrained network serves every m).
    """

    hidden: tuple[int, ...] = (512, 512, 256)
    pretrain_batch: int = 512
    pretrain_lr: float = 1e-3
    pretrain_epochs: int = 30
    #: a floor on pretraining steps, so that a small draw is not under-trained (n < 17,000 at batch 512
    #: gets more than ``pretrain_epochs`` epochs)
    pretrain_min_steps: int = 1000
    #: a cap on pretraining steps; None = no cap: every n above the floor gets ``pretrain_epochs`` epochs
    #: (the "converge" schedule needs a cap: it is refused without one)
    pretrain_max_steps: int | None = None
    #: "fixed" (the epochs, floor and cap above; a cosine learning rate) or "converge" (each member stops on
    #: its own source-validation error: s2rlib.training.pretrain; the floor and epochs are then unused)
    pretrain_schedule: str = "fixed"
    #: "converge" only: the share of each trial's source draw held out for validation (whole groups), at
    #: most ``pretrain_val_max`` rows; validation every epoch but at least every ``pretrain_eval_steps``
    #: steps; after ``pretrain_patience`` stale validations the rate drops by ``pretrain_lr_drop``, after
    #: ``pretrain_drops`` drops and one more stall the member stops
    pretrain_val_fraction: float = 0.1
    pretrain_val_max: int = 5000
    pretrain_eval_steps: int = 10
    pretrain_patience: int = 10
    pretrain_drops: int = 2
    pretrain_lr_drop: float = 0.3
    #: training loss, pretraining and fine-tuning: "mse", "l1" (the metric is MAE) or "huber"
    loss: str = "l1"
    #: clip predictions at 0 when the property cannot be negative: "auto" = when every source and
    #: experimental value of the case is >= 0 (a property of the case, e.g. band gap), "off" = never
    nonneg: str = "auto"
    #: withhold from pretraining the simulations of each trial's experimental test materials (the same
    #: identity the split groups by); False = the "look-up" protocol where they may be drawn
    withhold_test_sources: bool = True
    #: how the property is standardised for training: "train" = by each trial's experimental training
    #: rows (the first recipe), "source" = by the whole source database (pretraining then does not
    #: depend on m, so one pretrained network serves every m: s2rlib.training.pretrain_cache)
    y_scale: str = "source"
    finetune_batch: int = 128
    finetune_max_epochs: int = 400
    #: per-member early stopping: a member stops after this many epochs without a better validation
    #: MAE and keeps its best checkpoint
    patience_epochs: int = 50
    candidates: tuple[Candidate, ...] = (
        Candidate("full_lr1e-3", 1e-3, 1e-3),
        Candidate("body1e-4_head1e-3", 1e-4, 1e-3),
        Candidate("l2sp1e-3_lr1e-3", 1e-3, 1e-3, l2sp=1e-3),
    )
    test_fraction: float = 0.2
    val_fraction: float = 0.2
    #: arithmetic of the training steps' matrix products: "fp32", or "bf16" (``torch.autocast``: bfloat16
    #: products, fp32 weights, optimiser and loss; validation and test predictions stay fp32). bf16 pays
    #: only on a CPU with native bfloat16 (AVX512-BF16 or AMX); ``benchmarks/PRECISION.md`` measures it
    precision: str = "fp32"
    #: the kernel of the fp32 matrix products: "blas" (``torch.baddbmm``; MKL on x86, as the final grids ran)
    #: or "onednn" (oneDNN, one member at a time; faster where MKL takes a slow path, as on AMD CPUs). A step
    #: agrees to float rounding; over a whole run a trial moves about as much as with another seed
    #: (``benchmarks/MATMUL.md`` measures both)
    matmul: str = "blas"
    #: the optimizer step: "adam" (``EnsembleAdam``'s hand-written step, as the final grids ran) or "fused"
    #: (torch's fused CPU Adam kernel over the members grouped by learning rate: the same update in exact
    #: arithmetic, rounded differently; ``benchmarks/LEVERS.md`` measures both and their equivalence)
    optimizer: str = "adam"
    #: train a candidate only when no earlier candidate is the same recipe at this n, and give it that one's
    #: result: at n = 0 the L2-SP candidate is the whole-network one (there are no pretrained weights to pull
    #: toward), so with False (as the final grids ran) the from-scratch baseline is a best of two batch seeds
    #: of it (``benchmarks/LEVERS.md`` measures what dropping it does to the baseline)
    distinct_candidates: bool = False
    #: early discard of trailing candidates: at the end of each of its epochs a candidate stops (keeping its
    #: best checkpoint) when its best validation MAE so far is more than this share above the best of its
    #: trial's candidates so far, after ``finetune_discard_after`` epochs (None = every candidate runs its
    #: own patience, as the final grids ran); ``benchmarks/DISCARD.md`` sets the margin from every
    #: candidate's validation curve and measures how often the pick changes
    finetune_discard: float | None = None
    finetune_discard_after: int = 0
    #: the composition descriptor of the inorganic cases (``s2rlib.features.descriptors.DESCRIPTORS``):
    #: "composition" (the 62 statistics of pymatgen element data, as the final grids ran), "magpie"
    #: (matminer's Magpie preset), "mat2vec" or "oliynyk" (element embeddings); it reaches the features
    #: through ``cases.load_case(case, descriptor=...)``; a polymer case refuses any but the default
    descriptor: str = "composition"

    #: fields recorded only when they differ from this value: they were added after the final grids
    #: ran, so those grids' recorded recipes (and their point files' hashes) stay today's recipe
    RECORDED_IF_NOT: ClassVar[Mapping[str, object]] = MappingProxyType(
        {"precision": "fp32", "matmul": "blas", "optimizer": "adam", "distinct_candidates": False,
         "pretrain_schedule": "fixed", "finetune_discard": None, "finetune_discard_after": 0,
         "descriptor": "composition"})
    #: the fields only the "converge" schedule reads: recorded (all of them) only with that schedule
    CONVERGE_FIELDS: ClassVar[tuple[str, ...]] = ("pretrain_val_fraction", "pretrain_val_max", "pretrain_eval_steps",
                                                  "pretrain_patience", "pretrain_drops", "pretrain_lr_drop")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["candidates"] = [asdict(c) for c in self.candidates]
        if self.pretrain_schedule != "converge":
            for k in self.CONVERGE_FIELDS:
                del d[k]
        for k, v in self.RECORDED_IF_NOT.items():
            if d[k] == v:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        """The recipe a recorded dict describes: a field recorded only when not at its ``RECORDED_IF_NOT``
        value and absent takes that value (what the record meant when written), not today's default."""
        d = {**cls.RECORDED_IF_NOT, **d}
        if "hidden" in d:
            d["hidden"] = tuple(d["hidden"])
        if "candidates" in d:
            d["candidates"] = tuple(Candidate(**c) if isinstance(c, dict) else c for c in d["candidates"])
        return cls(**d)

    def pretrain_steps(self, n: int) -> int:
        """Pretraining length for n source samples: epochs * steps/epoch, clipped to [min, max] (the "fixed"
        schedule; with "converge", the cap: each member stops on its own before it)."""
        if n <= 0:
            return 0
        if self.pretrain_schedule == "converge":
            return int(self.pretrain_max_steps)
        steps = self.pretrain_epochs * math.ceil(n / self.pretrain_batch)
        steps = max(steps, self.pretrain_min_steps)
        return int(steps if self.pretrain_max_steps is None else min(steps, self.pretrain_max_steps))




def standardizer(X_source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feature mean and std from the whole source set (no labels used); std 0 -> 1."""
    mu = X_source.mean(0)
    sd = X_source.std(0)
    return mu, np.where(sd > 1e-12, sd, 1.0)


def run_trials(data: CaseData, n: int, *, trials: int, seed: int, recipe: Recipe = Recipe(), m: int = ALL_M,
               progress: bool = True, batched: bool = True, record_candidates: bool = False,
               device: str | None = None, folds: Folds | None = None) -> pd.DataFrame:
    """Run one grid point; returns tidy rows (trial, seed, metric, value, selected_recipe, ...).

    Metrics per trial: test ``mae``, ``rmse``, ``r2`` (property units), ``val_mae`` of the selected
    recipe, the sizes ``n_train``/``n_val``/``n_test``, the step of the selected candidate's best
    validation error (``finetune_best_step``) and the fine-tuning steps of all candidates together
    (``finetune_steps``).

    ``record_candidates=True`` adds, per candidate ``c``, ``val_mae@c`` and ``mae@c`` (the test error
    validation did not choose), for the recipe study; and, where the property has exact zeros (band gap's
    metals), ``mae_nonzero`` on the test rows with a non-zero measured value and their count ``n_test_nonzero``.

    ``batched=True`` trains all trials (and, in fine-tuning, all trials x candidates) as one
    ensemble; ``batched=False`` trains one network at a time (each trial pretrained alone, each
    candidate fine-tuned alone), the reference the batched path must reproduce up to float rounding:
    every member draws its batches from its own generator, counts its own epochs and stops on its
    own patience, so nothing in a member's training depends on the others.

    ``device`` ("cpu", the default and reference, or "cuda": :mod:`s2rlib.training.device`) is where every
    tensor of the training lives; initialisation and batch draws are the CPU's on any device.

    ``folds`` (a checked split file, :func:`s2rlib.training.splits.read_split_file`): trial ``t`` tests on
    fold ``t`` instead of a random re-split, its validation set carved from that fold's training rows.
    """
    built = data.notes.get("descriptor", "composition")  # the loaders record a descriptor that is not the default
    if built != recipe.descriptor:
        raise ParameterError(f"parameter recipe.descriptor={recipe.descriptor!r}: the data of case {data.case!r} "
                             f"were featurized with {built!r}; load them with cases.load_case(case, "
                             f"descriptor={recipe.descriptor!r})")
    dev = resolve(device)
    if dev.type != "cpu" and (recipe.matmul != "blas" or (recipe.precision == "bf16" and not
                                                          torch.cuda.is_bf16_supported())):
        raise ParameterError(f"parameter device={device!r}: recipe matmul={recipe.matmul!r}, precision="
                             f"{recipe.precision!r} is not available there (oneDNN is a CPU library; bf16 needs a GPU "
                             "that supports it)")
    # torch.device(...) as a context is a function mode that sees every torch call: not entered on the CPU
    with contextlib.nullcontext() if dev.type == "cpu" else torch.device(dev):
        return _run_on_device(data, n, trials, seed, recipe, m, progress, batched, record_candidates, folds)


def _run_on_device(data, n, trials, seed, recipe, m, progress, batched, record_candidates, folds) -> pd.DataFrame:
    t0 = time.perf_counter()
    allocator.keep_freed_memory()  # the same numbers, without page-faulting every large tensor each step
    pt = _prepare(data, n, trials, seed, recipe, m, folds)
    K = len(recipe.candidates)
    out = _Outcome(best_val=torch.empty(trials, K), best_step=torch.zeros(trials, K, dtype=torch.long),
                   trained_steps=torch.zeros(trials, K, dtype=torch.long), curves={} if record_candidates else None)
    for group in ([list(range(trials))] if batched else [[t] for t in range(trials)]):
        _train_group(pt, data, n, group, recipe, out, batched=batched, progress=progress)
    rows = [row for t in range(trials) for row in _trial_rows(pt, data, t, recipe, out, record_candidates)]
    frame = pd.DataFrame(rows)
    frame.attrs["wall_s"] = time.perf_counter() - t0
    if out.curves is not None:  # record_candidates: every candidate's validation curve, property units
        frame.attrs["val_curves"] = pd.DataFrame(
            [{"trial": t, "seed": pt.seeds[t], "candidate": recipe.candidates[k].name, "step": st,
              "epoch": i, "val_mae": v * pt.ystats[t][1]}
             for (t, k), curve in sorted(out.curves.items()) for i, (st, v) in enumerate(curve)],
            columns=["trial", "seed", "candidate", "step", "epoch", "val_mae"])
    frame.attrs["pretrain_steps"] = (pt.steps if not out.pretrain_info else  # converge: the longest member's
                                     max(int(i["steps"]) for i in out.pretrain_info.values()))
    frame.attrs["pretrain_reused"] = out.pretrain_reused  # ensembles taken from s2rlib.training.pretrain_cache
    return frame


@dataclass
class _Point:
    """What every trial of one grid point shares: seeds, standardised features, splits, draws, y statistics."""

    seeds: list[int]
    Xs: torch.Tensor
    Xt: torch.Tensor
    splits: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    draws: list[np.ndarray]
    ystats: list[tuple[float, float]]
    y_mu: torch.Tensor
    y_sd: torch.Tensor
    nonneg: bool
    floor: torch.Tensor | None
    steps: int
    #: "converge" schedule: each trial's source draw split into pretraining and source-validation rows
    source_train: list[np.ndarray] = field(default_factory=list)
    source_val: list[np.ndarray] = field(default_factory=list)


@dataclass
class _Outcome:
    """Per (trial, candidate): best validation error, its step, the steps run, the raw test predictions."""

    best_val: torch.Tensor
    best_step: torch.Tensor
    trained_steps: torch.Tensor
    test_pred: dict = field(default_factory=dict)
    pretrain_reused: int = 0
    #: "converge" schedule, per trial: steps run, step of the best source-validation error, that error
    #: (standardised units) and whether the cap stopped it
    pretrain_info: dict = field(default_factory=dict)
    #: per (trial, candidate): whether the early discard stopped it, and (``record_candidates``) its
    #: validation curve: (step, validation MAE in standardised units) at the end of each of its epochs
    discarded: dict = field(default_factory=dict)
    curves: dict | None = None


def split_and_draw(data: CaseData, seeds: list[int], recipe: Recipe, m: int, folds: Folds | None = None):
    """Per trial seed: the experimental split (train, validation, test) and the order in which source rows
    are drawn (the simulations of the trial's test groups withheld). A draw of n is the first n of it."""
    splits, perms = [], []
    for t, s in enumerate(seeds):
        rng = np.random.default_rng(s)
        tr, va, te = (split_groups(data.groups_target, rng, recipe.test_fraction, recipe.val_fraction, m)
                      if folds is None else
                      fold_split(data.groups_target, folds.test[t], folds.pool[t], rng, recipe.val_fraction, m))
        perm = rng.permutation(data.n_source)
        if recipe.withhold_test_sources and data.source_groups is not None:
            # withhold the simulations of this trial's test groups (same identity as the split's groups)
            held = np.isin(data.source_groups, data.groups_target[te])
            perm = perm[~held[perm]]
        splits.append((tr, va, te))
        perms.append(perm)
    return splits, perms


def check_source_left(data: CaseData, n: int, seeds: list[int], perms: list[np.ndarray]) -> None:
    """Refuse a numeric n that some trial cannot draw once its test materials' simulations are withheld
    (it would silently be another "all", a duplicate point)."""
    short = [(seeds[t], len(d)) for t, d in enumerate(perms) if 0 < n < data.n_source and len(d) < n]
    if short:
        seed_t, left = min(short, key=lambda x: x[1])
        raise ParameterError(f"parameter n_source={n}: only {left} of the {data.n_source} source samples are left "
                             f"after withholding the simulations of the test materials (trial seed {seed_t}); use "
                             f"n_source='all' for the whole remaining source, or at most {left}")


def _prepare(data: CaseData, n: int, trials: int, seed: int, recipe: Recipe, m: int, folds: Folds | None = None
             ) -> _Point:
    """Split (at random, or trial t on fold t), draw and standardise for every trial of a point (refuses an n
    beyond what is left)."""
    seeds = [seed + t for t in range(trials)]
    if folds is not None:
        folds.check(trials, m, 1, 1)
    mu, sd = standardizer(data.X_source)
    dev = torch.get_default_device()
    Xs = torch.from_numpy(((data.X_source - mu) / sd).astype(np.float32)).to(dev)
    Xt = torch.from_numpy(((data.X_target - mu) / sd).astype(np.float32)).to(dev)
    splits, perms = split_and_draw(data, seeds, recipe, m, folds)
    check_source_left(data, n, seeds, perms)
    draws = [perm[:n] for perm in perms]
    ystats = []
    for tr, _, _ in splits:
        y_fit = data.y_target[tr] if recipe.y_scale == "train" else data.y_source
        ystats.append((float(y_fit.mean()), float(y_fit.std()) or 1.0))
    # y is standardised per trial: by the source database (y_scale "source") or by that trial's
    # experimental training rows ("train")
    y_mu = torch.tensor([a for a, _ in ystats]).view(-1, 1)
    y_sd = torch.tensor([b for _, b in ystats]).view(-1, 1)
    # predictions are clipped at 0 (in property units) for a non-negative property
    nonneg = recipe.nonneg == "auto" and bool((data.y_target >= 0).all() and (data.y_source >= 0).all())
    floor = (-y_mu / y_sd) if nonneg else None  # (trials, 1): property value 0 in standardised units
    pt = _Point(seeds, Xs, Xt, splits, draws, ystats, y_mu, y_sd, nonneg, floor, recipe.pretrain_steps(n))
    if recipe.pretrain_schedule == "converge" and n > 0:
        for s, d in zip(seeds, draws):  # its own stream: the splits and draws above stay as they were
            tr_s, va_s = source_split(d, data.source_groups, np.random.default_rng([s, 3]),
                                      recipe.pretrain_val_fraction, recipe.pretrain_val_max)
            pt.source_train.append(tr_s)
            pt.source_val.append(va_s)
    return pt


def _train_group(pt: _Point, data: CaseData, n: int, group: list[int], recipe: Recipe, out: _Outcome, *,
                 batched: bool, progress: bool) -> None:
    """Pretrain the trials of ``group`` as one ensemble (or take it from the cache), then fine-tune every
    (trial, candidate) pair; writes into ``out``."""
    seeds, K = pt.seeds, len(recipe.candidates)
    dev = torch.get_default_device()
    model = EnsembleMLP([seeds[t] for t in group], pt.Xs.shape[1], recipe.hidden, matmul=recipe.matmul).to(dev)
    if n > 0:
        # each member's source targets, standardised by that trial's experimental statistics
        Ys = (torch.from_numpy(data.y_source.astype(np.float32)).to(dev).unsqueeze(0) - pt.y_mu[group]) / pt.y_sd[group]
        key = pretrain_cache.key(data_sha256=data.data_sha256, n=n, seeds=[seeds[t] for t in group],
                                 draws=[pt.draws[t] for t in group], recipe=recipe,
                                 y_stats=[pt.ystats[t] for t in group], X=pt.Xs, y=data.y_source,
                                 device=None if dev.type == "cpu" else describe(dev))
        conv = recipe.pretrain_schedule == "converge"

        def compute(net):
            return pretrain(net, pt.Xs, Ys, [seeds[t] for t in group], [pt.draws[t] for t in group], recipe,
                            steps=pt.steps, source_train=[pt.source_train[t] for t in group] if conv else None,
                            source_val=[pt.source_val[t] for t in group] if conv else None,
                            progress=f"pretrain n={n}" if progress else None)
        info: dict = {}
        out.pretrain_reused += int(pretrain_cache.pretrained(model, key, compute, info=info))
        for j, t in enumerate(group):
            if info:
                out.pretrain_info[t] = {k: v[j].item() for k, v in info.items()}
    # fine-tune: K candidates per trial, side by side (or one at a time); a twin is not trained
    twin = candidate_twins(recipe, n)
    pairs = [(t, k) for t in group for k in range(K) if twin[k] == k]
    # one at a time: one pair, or with the early discard one trial's candidates (they are compared)
    alone = ([[p for p in pairs if p[0] == t] for t in group] if recipe.finetune_discard is not None
             else [[p] for p in pairs])
    for chunk in ([pairs] if batched else alone):
        ft = model.select([group.index(t) for t, _ in chunk])
        Yt = torch.stack([(torch.from_numpy(data.y_target).to(dev) - pt.y_mu[t]) / pt.y_sd[t] for t, _ in chunk])
        body = torch.tensor([recipe.candidates[k].body_lr for _, k in chunk])
        head = torch.tensor([recipe.candidates[k].head_lr for _, k in chunk])
        if n == 0:  # from scratch, a frozen random body is no recipe: train it at the head's rate
            body = torch.where(body > 0, body, head)
        rngs = [np.random.default_rng([seeds[t], 2, k]) for t, k in chunk]
        l2sp = torch.tensor([recipe.candidates[k].l2sp for _, k in chunk])
        fl = None if pt.floor is None else torch.stack([pt.floor[t] for t, _ in chunk])
        info = finetune(ft, pt.Xt, Yt, [pt.splits[t][0] for t, _ in chunk], [pt.splits[t][1] for t, _ in chunk],
                         rngs, body, head, recipe, l2sp=l2sp if n > 0 else torch.zeros_like(l2sp), floor=fl,
                         progress=f"fine-tune n={n}" if progress else None, trial=torch.tensor([t for t, _ in chunk]),
                         curves=out.curves is not None)
        with torch.no_grad():
            for e, (t, k) in enumerate(chunk):
                out.best_val[t, k] = info["best_val"][e]
                out.best_step[t, k] = info["best_step"][e]
                out.trained_steps[t, k] = info["steps"][e]
                out.discarded[t, k] = bool(info["discarded"][e])
                if out.curves is not None:
                    out.curves[t, k] = info["curves"][e]
                out.test_pred[t, k] = ft.select([e])(pt.Xt.unsqueeze(0))[0].cpu().numpy()  # raw, before clip
    for t in group:  # a twin's result is its original's (argmin picks the original: the first of a tie)
        for k in (k for k in range(K) if twin[k] != k):
            out.best_val[t, k], out.best_step[t, k] = out.best_val[t, twin[k]], out.best_step[t, twin[k]]
            out.test_pred[t, k] = out.test_pred[t, twin[k]]


def candidate_twins(recipe: Recipe, n: int) -> list[int]:
    """For each candidate, the first candidate that is the same recipe at this ``n`` (itself when none is),
    with ``distinct_candidates``; else every candidate is its own. At n = 0 a frozen body trains at the
    head's rate and there is no L2-SP pull (see ``_train_group``)."""
    def effective(c: Candidate) -> tuple:
        body = c.body_lr if (n > 0 or c.body_lr > 0) else c.head_lr
        return body, c.head_lr, c.l2sp if n > 0 else 0.0

    eff = [effective(c) for c in recipe.candidates]
    return [eff.index(e) if recipe.distinct_candidates else k for k, e in enumerate(eff)]


def _trial_rows(pt: _Point, data: CaseData, t: int, recipe: Recipe, out: _Outcome, record_candidates: bool) -> list:
    """The tidy rows of trial ``t``: the candidate validation picks, its test metrics, sizes and steps."""
    k = int(torch.argmin(out.best_val[t]))
    tr, va, te = pt.splits[t]
    mean, scale = pt.ystats[t]
    raw_all = out.test_pred[t, k] * scale + mean
    pred_all = np.maximum(raw_all, 0.0) if pt.nonneg else raw_all
    metrics = trial_metrics(pred_all[te], data.y_target[te])
    metrics.update(simulation_baseline(data, tr, te, pred_all))
    metrics["val_mae"] = float(out.best_val[t, k]) * scale
    metrics["finetune_best_step"] = int(out.best_step[t, k])
    # every candidate's steps, summed: the trial's fine-tuning work (benchmarks/floor.py counts it)
    metrics["finetune_steps"] = int(out.trained_steps[t].sum())
    if recipe.finetune_discard is not None:  # candidates the early discard stopped (a twin is not counted)
        metrics["finetune_discarded"] = sum(out.discarded.get((t, kk), False) for kk in range(len(recipe.candidates)))
    # n_pool: the experimental rows outside the test split, from which the m training rows are drawn
    metrics.update(n_train=len(tr), n_val=len(va), n_test=len(te), n_pool=data.n_target - len(te),
                   n_source_used=len(pt.draws[t]))
    if t in out.pretrain_info:  # the "converge" schedule: what pretraining did, on the source side
        info = out.pretrain_info[t]
        metrics.update(pretrain_steps=int(info["steps"]), pretrain_best_step=int(info["best_step"]),
                       pretrain_val_mae=float(info["best_val"]) * float(pt.y_sd[t]),
                       pretrain_capped=float(bool(info["capped"])), n_source_val=len(pt.source_val[t]))
    if record_candidates:
        metrics["mae_unclipped"] = float(np.abs(raw_all[te] - data.y_target[te]).mean())
        if (data.y_target == 0).any():  # a property with exact zeros (band gap: metals): the regression part
            nz = te[data.y_target[te] != 0]
            metrics["mae_nonzero"] = float(np.abs(pred_all[nz] - data.y_target[nz]).mean()) if len(nz) else float("nan")
            metrics["n_test_nonzero"] = len(nz)
        for kk, cand in enumerate(recipe.candidates):
            p_k = out.test_pred[t, kk][te] * scale + mean
            p_k = np.maximum(p_k, 0.0) if pt.nonneg else p_k
            metrics[f"val_mae@{cand.name}"] = float(out.best_val[t, kk]) * scale
            metrics[f"mae@{cand.name}"] = float(np.abs(p_k - data.y_target[te]).mean())
    return [{"trial": t, "seed": pt.seeds[t], "metric": name, "value": value,
             "selected_recipe": recipe.candidates[k].name} for name, value in metrics.items()]
