"""Fine-tuning on the experimental rows: every member with its own early stopping on validation MAE.

:func:`finetune` trains an ensemble whose members are (trial, candidate) pairs side by side. Member e's
epoch is ``ceil(len(tr_idx[e]) / finetune_batch)`` of its steps; after each of its epochs its validation
MAE is checked, and after ``patience_epochs`` epochs without improvement (or ``finetune_max_epochs``) it
stops and leaves the ensemble, so the work shrinks as members finish. With ``Recipe.finetune_discard`` a
member also stops when it trails the best of its own trial's members by more than that share
(:func:`trailing`): validation would not pick it. Members never interact otherwise: a member trains the
same alone as beside others (its own batches from its own generator, its own epochs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from s2rlib.training.device import training_precision
from s2rlib.training.models import EnsembleAdam, EnsembleMLP
from s2rlib.training.pretrain import batches, loss, padded


class _Validation:
    """Each member's validation rows (padded), targets and non-negativity floor."""

    def __init__(self, X: torch.Tensor, Y: torch.Tensor, va_idx: list[np.ndarray], floor: torch.Tensor | None):
        self.X, self.floor = X, floor
        self.vidx, self.vmask = padded(va_idx)
        self.vy = Y[torch.arange(len(va_idx)).view(-1, 1), self.vidx]

    @torch.no_grad()
    def mae(self, net: EnsembleMLP, members: torch.Tensor) -> torch.Tensor:
        pred = net(self.X[self.vidx[members]])
        if self.floor is not None:
            pred = torch.maximum(pred, self.floor[members])
        err = (pred - self.vy[members]).abs() * self.vmask[members]
        return err.sum(1) / self.vmask[members].sum(1)


class _Members:
    """The working ensemble of :func:`finetune` and every member's bookkeeping (global ids)."""

    def __init__(self, model: EnsembleMLP, recipe, val: _Validation, spe: torch.Tensor, opt_rates, l2sp,
                 trial: torch.Tensor | None, curves: bool):
        E = model.n_members
        self.recipe, self.val, self.spe = recipe, val, spe
        self.max_steps = spe * recipe.finetune_max_epochs
        self.best_val = val.mae(model, torch.arange(E))
        self.best_step = torch.zeros(E, dtype=torch.long)
        self.stop_step = torch.zeros(E, dtype=torch.long)
        self.stale = torch.zeros(E, dtype=torch.long)
        self.discarded = torch.zeros(E, dtype=torch.bool)
        self.trial = torch.zeros(E, dtype=torch.long) if trial is None else trial
        # every member's validation curve, epoch 0 (the starting network) first
        self.record = [[(0, v)] for v in self.best_val.tolist()] if curves else None
        self.final = [p.detach().clone() for p in model.parameters()]  # best checkpoints, all members
        self.best = [p.detach().clone() for p in model.parameters()]  # the same, in the working order
        self.active = torch.arange(E)
        self.net = model.select(list(range(E)))
        self.opt = EnsembleAdam(self.net, opt_rates, fused=recipe.optimizer == "fused")
        # L2-SP: a pull of the body's weights toward the pretrained ones (gradient 2 * l2sp * (W - W0))
        if l2sp is not None and bool((l2sp > 0).any()):
            self.opt.anchor(list(self.net.weights[:-1]), 2 * l2sp.view(-1, 1, 1))  # copies anchored rows

    @torch.no_grad()
    def epoch_end(self, step: int, local: torch.Tensor) -> None:
        """Validate the working members ``local`` (at the end of one of their epochs); checkpoint those
        that improved; record curves; mark the trailing ones for the early discard."""
        ids = self.active[local]
        v = self.val.mae(_subset(self.net, local), ids)
        better = v < self.best_val[ids]
        self.best_val[ids] = torch.where(better, v, self.best_val[ids])
        self.best_step[ids] = torch.where(better, torch.full_like(ids, step), self.best_step[ids])
        self.stale[ids] = torch.where(better, torch.zeros_like(ids), self.stale[ids] + 1)
        keep_best(self.best, list(self.net.parameters()), local, better)
        if self.record is not None:
            for e, val in zip(ids.tolist(), v.tolist()):
                self.record[e].append((step, val))
        if self.recipe.finetune_discard is not None:
            epochs = torch.div(step, self.spe[ids], rounding_mode="floor")
            self.discarded[ids] = trailing(self.best_val, self.trial, ids, self.recipe, epochs=epochs)

    @torch.no_grad()
    def retire(self, step: int) -> None:
        """Stop the members out of patience, at their cap, or discarded: keep their best checkpoints."""
        a = self.active
        ends = (self.stale[a] >= self.recipe.patience_epochs) | (step >= self.max_steps[a])
        self.discarded[a[ends]] = False  # it stops here anyway: not the discard's doing
        done = ends | self.discarded[a]
        if not done.any():
            return
        for fp, bp in zip(self.final, self.best):
            fp[a[done]] = bp[done]
        self.stop_step[a[done]] = step
        keep = torch.nonzero(~done).view(-1)
        self.active = a[keep]
        if len(self.active):
            self.net, self.opt, self.best = _shrink(self.net, self.opt, self.best, keep)


def finetune(model, X, Y, tr_idx, va_idx, rngs, body, head, recipe, l2sp=None, floor=None, progress=None,
             trial=None, curves=False) -> dict:
    """Fine-tune each member with its own early stopping (module docstring); on return every member of
    ``model`` holds its best checkpoint (the pretrained network if no step improved on it).

    Returns per member ``best_val`` (standardised units), ``best_step``, ``steps`` (the steps it trained),
    ``discarded`` (stopped by the early discard; ``trial[e]`` is member e's trial) and, with
    ``curves=True``, ``curves``: its (step, validation MAE) at every epoch end (else None).
    """
    n_layers = len(model.weights)
    spe = torch.tensor([math.ceil(len(i) / recipe.finetune_batch) for i in tr_idx])
    ms = _Members(model, recipe, _Validation(X, Y, va_idx, floor), spe,
                  [body.view(-1, 1, 1)] * (n_layers - 1) + [head.view(-1, 1, 1)], l2sp, trial, curves)
    bar = tqdm(total=int(ms.max_steps.max()), desc=progress, leave=False, disable=progress is None,
               mininterval=2.0)
    step = 0
    while len(ms.active):
        step += 1
        act = ms.active.tolist()
        rows = batches([tr_idx[e] for e in act], [rngs[e] for e in act], recipe.finetune_batch)
        with training_precision(recipe.precision):
            pred = ms.net(X[rows]).float()
        loss(pred, Y[ms.active.view(-1, 1), rows], recipe.loss).backward()
        ms.opt.step()
        bar.update()
        due = (step % spe[ms.active]) == 0  # members at the end of one of their epochs
        if not due.any():
            continue
        ms.epoch_end(step, torch.nonzero(due).view(-1))
        ms.retire(step)
    bar.close()
    with torch.no_grad():
        for fp, p in zip(ms.final, model.parameters()):
            p.copy_(fp)
    return {"best_val": ms.best_val, "best_step": ms.best_step, "steps": ms.stop_step,
            "discarded": ms.discarded, "curves": ms.record}


def trailing(best_val: torch.Tensor, trial: torch.Tensor, ids: torch.Tensor, recipe, *,
             epochs: torch.Tensor) -> torch.Tensor:
    """For the members ``ids`` (just validated, ``epochs`` of their own run): whether each one's best
    validation MAE so far is more than ``recipe.finetune_discard`` above the best of its trial's members
    so far (stopped members included), after ``recipe.finetune_discard_after`` epochs. The trial's leader
    is never discarded, and members of other trials never count."""
    lead = torch.full((int(trial.max()) + 1,), math.inf).scatter_reduce(0, trial, best_val, "amin")
    behind = best_val[ids] > (1 + recipe.finetune_discard) * lead[trial[ids]]
    return behind & (epochs >= recipe.finetune_discard_after)


def keep_best(best: list[torch.Tensor], params: list[torch.Tensor], local: torch.Tensor, better: torch.Tensor) -> None:
    """Checkpoint the working members ``local[better]`` (those whose validation error improved): copy
    their parameters into ``best``; the others' checkpoints are left as they are."""
    improved = local[better]
    if len(improved):
        for bp, p in zip(best, params):
            bp[improved] = p.detach()[improved]


def _subset(net: EnsembleMLP, local: torch.Tensor) -> EnsembleMLP:
    return net if len(local) == net.n_members else net.select(local.tolist())


def _shrink(net, opt, best, keep):
    """Keep only the working members ``keep`` (local positions): network, Adam state, checkpoints."""
    small = net.select(keep.tolist())
    opt = opt.select(small, keep)
    return small, opt, [bp[keep] for bp in best]


def discard_replay(curves: pd.DataFrame, margin: float, after: int = 0) -> pd.DataFrame:
    """What the early discard would have done, replayed on every candidate's validation curve of a run
    without it (``run_trials(..., record_candidates=True).attrs["val_curves"]``: trial, candidate, epoch,
    val_mae; epoch 0 is the pretrained network). Candidates never interact, so the replay is exact: a
    candidate the discard keeps trains as in the recorded run, one it stops keeps its best so far. Returns
    one row per (trial, candidate): the epoch it stopped at (its recorded last epoch when kept), its best
    validation MAE then, whether it was discarded, and validation's pick with the discard (``picked``)
    beside the pick without it (``picked_full``)."""
    rows = []
    for trial, cur in curves.groupby("trial", sort=True):
        names = list(dict.fromkeys(cur.candidate))  # the recipe's order: argmin picks the first of a tie
        table = cur.pivot(index="epoch", columns="candidate", values="val_mae").sort_index()[names]
        last = {c: int(table[c].last_valid_index()) for c in names}  # where its patience stopped it
        best = {c: float(table[c].iloc[0]) for c in names}  # epoch 0: the pretrained network's error
        stop, gone = dict(last), set()
        for epoch in table.index[1:]:
            due = [c for c in names if c not in gone and epoch <= last[c]]
            for c in due:
                best[c] = min(best[c], float(table.at[epoch, c]))
            lead = min(best.values())
            for c in due:
                if epoch >= after and best[c] > (1 + margin) * lead and epoch < last[c]:
                    gone.add(c)  # at its last epoch it stops anyway: the same outcome as without the discard
                    stop[c] = int(epoch)
        full = {c: float(table[c].min()) for c in names}
        picked = min(names, key=lambda c: (best[c], names.index(c)))
        picked_full = min(names, key=lambda c: (full[c], names.index(c)))
        rows += [{"trial": trial, "candidate": c, "stop_epoch": stop[c], "last_epoch": last[c], "best_val": best[c],
                  "discarded": c in gone, "picked": picked, "picked_full": picked_full} for c in names]
    return pd.DataFrame(rows)
