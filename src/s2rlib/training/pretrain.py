"""Pretraining to convergence: early stopping on a held-out split of each member's own source draw.

The fixed schedule (``Recipe.pretrain_schedule = "fixed"``, :func:`pretrain_fixed`)
gives every n the same epochs with a floor of steps, so along the n axis pretraining compute grows with
the data and a small draw is over-trained (n = 10 got 51,200 epochs). ``"converge"`` stops each member
when its own source-validation error stops improving:

* each trial's source draw (already without the simulations of its test materials) is split into a
  training part and a validation part of ``pretrain_val_fraction`` of it (at most ``pretrain_val_max``
  rows, at least one), by whole groups of the same identity the experimental split uses
  (``CaseData.source_groups``), with its own random stream (:func:`source_split`);
* every ``max(epoch, pretrain_eval_steps)`` steps the member's validation MAE is computed; after
  ``pretrain_patience`` evaluations without a better one its learning rate drops by
  ``pretrain_lr_drop``, and after ``pretrain_drops`` drops and one more stall it stops and keeps its
  best checkpoint; ``pretrain_max_steps`` caps it (the rows record whether the cap stopped it);
* members that stop leave the ensemble, so the work shrinks as they finish; a member trains the same
  alone as in an ensemble (its own batches, its own evaluations).

:func:`pretrain_converge` returns, per member, the steps run, the step of the best validation error, that
error (standardised units) and whether the cap stopped it.

Everything pretraining computes lives here (with :mod:`s2rlib.training.models` and
:mod:`s2rlib.training.device`): the pretrained cache's key hashes these modules' source, so a change of
the fine-tuning code (:mod:`s2rlib.training.transfer`) keeps the cached networks.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from s2rlib.training.device import training_precision
from s2rlib.training.models import EnsembleAdam, EnsembleMLP

#: the pretraining schedules of ``Recipe.pretrain_schedule``
SCHEDULES = ("fixed", "converge")


def source_split(draw: np.ndarray, groups: np.ndarray | None, rng: np.random.Generator, fraction: float,
                 max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) rows of one member's source draw: whole groups (``groups[row]``; each row its own
    group when None) go to validation until ``fraction`` of the draw (at most ``max_rows``, at least one row,
    never all of it) is reached."""
    draw = np.asarray(draw)
    if len(draw) < 2:
        return draw, draw[:0]
    keys = draw if groups is None else np.asarray(groups)[draw]
    uniq, inverse = np.unique(keys, return_inverse=True)
    order = rng.permutation(len(uniq))
    sizes = np.bincount(inverse, minlength=len(uniq))[order]
    want = min(max(1, int(round(fraction * len(draw)))), max_rows, len(draw) - 1)
    k = int(np.searchsorted(np.cumsum(sizes), want, side="left")) + 1
    k = min(k, len(uniq) - 1) if len(uniq) > 1 else 0
    held = np.isin(inverse, order[:k])
    return np.sort(draw[~held]), np.sort(draw[held])


def batches(idx: list[np.ndarray], rngs: list[np.random.Generator], batch: int) -> torch.Tensor:
    """(E, batch) row indices, member e sampling from its own rows with its own generator."""
    rows = torch.from_numpy(np.stack([ix[r.integers(0, len(ix), batch)] for ix, r in zip(idx, rngs)]))
    return rows.to(torch.get_default_device())  # the training's device (a no-op on the CPU)


def loss(pred: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Sum over members of each member's mean loss over its batch (members never interact)."""
    err = pred - y
    if kind == "mse":
        per = err.square()
    elif kind == "l1":
        per = err.abs()
    elif kind == "huber":  # quadratic within 1 standard deviation of the target, linear beyond
        per = torch.nn.functional.huber_loss(pred, y, reduction="none", delta=1.0)
    else:
        raise ValueError(f"unknown loss {kind!r}; expected 'mse', 'l1' or 'huber'")
    return per.mean(1).sum()


def pretrain(model: EnsembleMLP, X: torch.Tensor, Y: torch.Tensor, seeds: list[int], draws: list[np.ndarray],
             recipe, *, steps: int, source_train=None, source_val=None, progress: str | None = None) -> dict:
    """Pretrain member e (trial seed ``seeds[e]``) on its source draw by the recipe's schedule: ``steps``
    steps of :func:`pretrain_fixed`, or :func:`pretrain_converge` on ``source_train``/``source_val``. Each
    member draws its batches from its own generator, seeded by its trial seed. Returns the converge
    schedule's per-member record (empty for "fixed")."""
    rngs = [np.random.default_rng([s, 1]) for s in seeds]
    if recipe.pretrain_schedule == "converge":
        return pretrain_converge(model, X, Y, source_train, source_val, rngs, recipe, progress=progress)
    pretrain_fixed(model, X, Y, draws, rngs, steps, recipe, progress=progress)
    return {}


def pretrain_fixed(model, X, Y, draws, rngs, steps, recipe, progress=None):
    """Pretrain each member on its own source draw for ``steps`` steps of a cosine learning rate; Y is
    (E, N_source) standardised per member."""
    E = model.n_members
    lr = torch.full((E, 1, 1), recipe.pretrain_lr)
    opt = EnsembleAdam(model, [lr] * len(model.weights), fused=recipe.optimizer == "fused")
    member = torch.arange(E).view(-1, 1)
    bar = tqdm(range(steps), desc=progress, leave=False, disable=progress is None, mininterval=2.0)
    for step in bar:
        rows = batches(draws, rngs, recipe.pretrain_batch)
        with training_precision(recipe.precision):
            pred = model(X[rows]).float()
        loss(pred, Y[member, rows], recipe.loss).backward()
        opt.step(0.5 * (1 + math.cos(math.pi * step / steps)))


def eval_every(n_train: int, recipe) -> int:
    """Steps between two validations of a member: one epoch of its training rows, at least
    ``recipe.pretrain_eval_steps``."""
    return max(math.ceil(max(n_train, 1) / recipe.pretrain_batch), recipe.pretrain_eval_steps)


def _val_mae(net: EnsembleMLP, X: torch.Tensor, vidx: torch.Tensor, vy: torch.Tensor, vmask: torch.Tensor):
    with torch.no_grad():
        err = (net(X[vidx]) - vy).abs() * vmask
        return err.sum(1) / vmask.sum(1).clamp(min=1)


def padded(idx: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad ragged index arrays to (E, max_len) with a 0/1 mask."""
    L = max(max(len(i) for i in idx), 1)
    out = np.zeros((len(idx), L), dtype=np.int64)
    mask = np.zeros((len(idx), L), dtype=np.float32)
    for e, i in enumerate(idx):
        out[e, : len(i)] = i
        mask[e, : len(i)] = 1
    dev = torch.get_default_device()  # the training's device (a no-op on the CPU)
    return torch.from_numpy(out).to(dev), torch.from_numpy(mask).to(dev)


class _Members:
    """The working ensemble of :func:`pretrain_converge` and each member's bookkeeping (global ids)."""

    def __init__(self, model: EnsembleMLP, recipe, train: list[np.ndarray], val: list[np.ndarray], X, Y):
        E = model.n_members
        self.recipe, self.train, self.X = recipe, train, X
        self.vidx, self.vmask = padded(val)
        self.vy = Y[torch.arange(E).view(-1, 1), self.vidx]
        self.every = torch.tensor([eval_every(len(t), recipe) for t in train])
        self.lr = torch.full((E,), float(recipe.pretrain_lr))
        self.best_val = torch.full((E,), math.inf)
        self.best_step = torch.zeros(E, dtype=torch.long)
        self.steps = torch.zeros(E, dtype=torch.long)
        self.capped = torch.zeros(E, dtype=torch.bool)
        self.stale = torch.zeros(E, dtype=torch.long)
        self.drops = torch.zeros(E, dtype=torch.long)
        self.active = torch.arange(E)
        self.net = model.select(list(range(E)))
        self.best = [p.detach().clone() for p in self.net.parameters()]
        self.final = [p.detach().clone() for p in model.parameters()]
        self.opt = EnsembleAdam(self.net, self._rates(), fused=recipe.optimizer == "fused")

    def _rates(self) -> list[torch.Tensor]:
        return [self.lr[self.active].view(-1, 1, 1)] * len(self.net.weights)

    def evaluate(self, step: int) -> None:
        """Validate the members at the end of an evaluation interval; drop rates, stop stalled members."""
        due = torch.nonzero((step % self.every[self.active]) == 0).view(-1)
        cap = self.recipe.pretrain_max_steps
        at_cap = cap is not None and step >= cap
        if not len(due) and not at_cap:
            return
        if len(due):
            ids = self.active[due]
            sub = self.net if len(due) == self.net.n_members else self.net.select(due.tolist())
            v = _val_mae(sub, self.X, self.vidx[ids], self.vy[ids], self.vmask[ids])
            better = v < self.best_val[ids]
            self.best_val[ids] = torch.where(better, v, self.best_val[ids])
            self.best_step[ids] = torch.where(better, torch.full_like(ids, step), self.best_step[ids])
            self.stale[ids] = torch.where(better, torch.zeros_like(ids), self.stale[ids] + 1)
            with torch.no_grad():
                for bp, p in zip(self.best, self.net.parameters()):
                    local = due[better]
                    bp[local] = p[local]
            stalled = ids[self.stale[ids] >= self.recipe.pretrain_patience]
            drop = stalled[self.drops[stalled] < self.recipe.pretrain_drops]
            self.lr[drop] *= self.recipe.pretrain_lr_drop
            self.drops[drop] += 1
            self.stale[drop] = 0
            if len(drop):
                self.opt.lrs = self._rates()
        done = self.stale[self.active] >= self.recipe.pretrain_patience
        if at_cap:
            self.capped[self.active[~done]] = True
            done = torch.ones_like(done)
        if done.any():
            self._retire(done, step)

    def _retire(self, done: torch.Tensor, step: int) -> None:
        with torch.no_grad():
            for fp, bp in zip(self.final, self.best):
                fp[self.active[done]] = bp[done]
        self.steps[self.active[done]] = step
        keep = torch.nonzero(~done).view(-1)
        self.active = self.active[keep]
        if len(self.active):
            small = self.net.select(keep.tolist())
            self.opt = self.opt.select(small, keep)
            self.net = small
            self.best = [bp[keep] for bp in self.best]


def pretrain_converge(model: EnsembleMLP, X: torch.Tensor, Y: torch.Tensor, train: list[np.ndarray],
                      val: list[np.ndarray], rngs: list[np.random.Generator], recipe, *,
                      progress: str | None = None) -> dict[str, torch.Tensor]:
    """Pretrain each member on ``train[e]`` until its validation MAE on ``val[e]`` stops improving (module
    docstring); on return ``model`` holds every member's best checkpoint.

    Returns ``steps``, ``best_step``, ``best_val`` (standardised units) and ``capped`` per member.
    """
    ms = _Members(model, recipe, train, val, X, Y)
    cap = recipe.pretrain_max_steps
    bar = tqdm(total=cap, desc=progress, leave=False, disable=progress is None, mininterval=2.0)
    step = 0
    while len(ms.active):
        step += 1
        act = ms.active.tolist()
        rows = batches([train[e] for e in act], [rngs[e] for e in act], recipe.pretrain_batch)
        with training_precision(recipe.precision):
            pred = ms.net(X[rows]).float()
        loss(pred, Y[ms.active.view(-1, 1), rows], recipe.loss).backward()
        ms.opt.step()
        bar.update()
        ms.evaluate(step)
    bar.close()
    with torch.no_grad():
        for fp, p in zip(ms.final, model.parameters()):
            p.copy_(fp)
    return {"steps": ms.steps, "best_step": ms.best_step, "best_val": ms.best_val, "capped": ms.capped}
