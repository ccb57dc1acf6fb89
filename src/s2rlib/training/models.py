"""The MLP, in batched-ensemble form: E independent networks trained in one set of bmm calls.

Weights of layer ``l`` are stacked as ``(E, d_in, d_out)``; the input is ``(E, B, d_in)``. Each
member has its own initialisation seed, so member ``e`` is the same network whether it is trained
alone (E = 1) or with others. Training uses a functional Adam with a per-member, per-layer
learning rate (``(E, 1, 1)`` tensors), which also expresses frozen layers (rate 0) and lets
several fine-tuning recipes train side by side.

The layers' fp32 matrix products run through ``torch.baddbmm`` (``matmul="blas"``: MKL on x86) or
through oneDNN, one member at a time (``matmul="onednn"``: ``torch.ops.mkldnn._linear_pointwise``). On an
AMD CPU MKL's fp32 GEMM does not take its fastest code path and oneDNN's can be about twice as fast. The
two compute the same products with different rounding: a step agrees to about 1e-6, but over thousands
of steps the trajectories part, so a trial's result moves about as much as with another seed
(``benchmarks/MATMUL.md`` measures both; no equivalence test has been run).
"""

from __future__ import annotations

import math

import torch


#: how the layers' matrix products are computed (see the module docstring)
MATMULS = ("blas", "onednn")
#: the optimizer step (``EnsembleAdam(fused=...)``): the hand-written reference or torch's fused kernel
OPTIMIZERS = ("adam", "fused")


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``x @ w.T + b`` through oneDNN (2-d ``x``; ``w`` is (out, in))."""
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")


def onednn_available() -> bool:
    """Whether this torch build has oneDNN's fp32 linear kernel (``torch.ops.mkldnn._linear_pointwise``)."""
    try:
        _linear(torch.ones(2, 3), torch.ones(4, 3), None)
        return True
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


class _OneDNNLayer(torch.autograd.Function):
    """``b + x @ W`` for an ensemble, (E, B, i) x (E, i, o) + (E, 1, o), through oneDNN one member at a time;
    backward: ``gy @ W.T`` (only when the input needs it: not for the first layer), ``x.T @ gy``, ``sum gy``."""

    @staticmethod
    def forward(ctx, x, W, b):
        ctx.save_for_backward(x, W)
        return torch.stack([_linear(x[e], W[e].t(), b[e, 0]) for e in range(x.shape[0])])

    @staticmethod
    def backward(ctx, gy):
        x, W = ctx.saved_tensors
        E = x.shape[0]
        gy = gy.contiguous()
        gx = torch.stack([_linear(gy[e], W[e], None) for e in range(E)]) if ctx.needs_input_grad[0] else None
        xt, gyt = x.transpose(1, 2).contiguous(), gy.transpose(1, 2).contiguous()
        gW = torch.stack([_linear(xt[e], gyt[e], None) for e in range(E)])
        return gx, gW, gy.sum(1, keepdim=True)


class EnsembleMLP(torch.nn.Module):
    """E independent MLPs ``d_in -> hidden... -> 1`` with SiLU activations."""

    def __init__(self, seeds: list[int], d_in: int, hidden: tuple[int, ...] = (256, 256, 128), matmul: str = "blas"):
        super().__init__()
        if matmul not in MATMULS:
            raise ValueError(f"matmul={matmul!r}: expected one of {list(MATMULS)}")
        self.matmul = matmul
        self.sizes = (d_in, *hidden, 1)
        self.n_members = len(seeds)
        weights, biases = [], []
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            # on the CPU, from the CPU generator: a member starts from the same weights on any device
            W = torch.empty(len(seeds), a, b, device="cpu")
            B = torch.empty(len(seeds), 1, b, device="cpu")
            for e, seed in enumerate(seeds):
                g = torch.Generator().manual_seed(int(seed) * 1009 + i)
                bound = 1.0 / math.sqrt(a)  # torch.nn.Linear's default (kaiming-uniform, a=sqrt(5))
                W[e].uniform_(-bound, bound, generator=g)
                B[e].uniform_(-bound, bound, generator=g)
            weights.append(torch.nn.Parameter(W))
            biases.append(torch.nn.Parameter(B))
        self.weights = torch.nn.ParameterList(weights)
        self.biases = torch.nn.ParameterList(biases)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (E, B, d_in) -> (E, B)."""
        h = x
        last = len(self.weights) - 1
        # oneDNN for fp32 only: under bf16 autocast torch.baddbmm already runs oneDNN's bf16 kernel
        onednn = self.matmul == "onednn" and not torch.is_autocast_enabled("cpu")
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            h = _OneDNNLayer.apply(h, W, b) if onednn else torch.baddbmm(b, h, W)
            if i < last:
                h = torch.nn.functional.silu(h)
        return h.squeeze(-1)

    def select(self, members: list[int]) -> "EnsembleMLP":
        """A new ensemble made of copies of the given members (repeats allowed)."""
        out = EnsembleMLP.__new__(EnsembleMLP)
        torch.nn.Module.__init__(out)
        out.sizes = self.sizes
        out.matmul = self.matmul
        out.n_members = len(members)
        idx = torch.as_tensor(members, dtype=torch.long)
        out.weights = torch.nn.ParameterList([torch.nn.Parameter(W.detach()[idx].clone()) for W in self.weights])
        out.biases = torch.nn.ParameterList([torch.nn.Parameter(b.detach()[idx].clone()) for b in self.biases])
        return out

    def flops_per_sample(self) -> int:
        """Forward + backward FLOPs for one sample of one member, 6 x the multiply-adds of every layer (the
        convention of ``benchmarks/bench_grid.py``'s reports). Training computes no input gradient for the
        first layer, so this over-counts by 2 x its multiply-adds (2.5% at 62 inputs, 9% at 267);
        ``benchmarks/floor.py`` counts exactly."""
        macs = sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        return 6 * macs


class EnsembleAdam:
    """Adam over stacked ensemble parameters with per-member learning rates.

    ``lrs[i]`` is a ``(E, 1, 1)`` tensor of learning rates for layer ``i`` (0 freezes that layer
    of that member). Members never interact: each update is elementwise.

    ``fused=False`` is the hand-written step (the reference: eleven passes over the parameters, the formula's
    own rounding, as the final grids ran); ``fused=True`` runs torch's fused CPU Adam kernel
    (``torch._fused_adam_``, one pass) over each layer's runs of neighbouring members that share a learning
    rate (views, so nothing is copied; a frozen run is skipped). The two are the same update in exact
    arithmetic, ``lr * (m / c1) / (sqrt(v / c2) + eps)`` against ``lr / c1 * m / (sqrt(v) / sqrt(c2) + eps)``,
    and differ in rounding (``benchmarks/LEVERS.md`` measures both).
    """

    def __init__(self, model: EnsembleMLP, lrs: list[torch.Tensor], betas=(0.9, 0.999), eps: float = 1e-8,
                 fused: bool = False):
        self.params = [(W, b) for W, b in zip(model.weights, model.biases)]
        self.lrs = lrs
        self.b1, self.b2 = betas
        self.eps = eps
        self.fused = fused
        self.t = 0
        self.state = [(torch.zeros_like(W), torch.zeros_like(W), torch.zeros_like(b), torch.zeros_like(b))
                      for W, b in self.params]
        self.anchors: list[torch.Tensor] = []  # L2-SP: reference weights of the first layers, rows anchor_rows
        self.anchor_coef: torch.Tensor | None = None  # (E, 1, 1)
        self.anchor_rows: torch.Tensor | None = None  # the members whose coefficient is > 0

    def anchor(self, weights: list[torch.Tensor], coef: torch.Tensor) -> None:
        """Add ``coef * (W - W_ref)`` to the gradient of the first ``len(weights)`` weight matrices
        (the L2-SP penalty ``coef / 2 * ||W - W_ref||^2`` per member; ``coef`` is ``(E, 1, 1)``). Only the
        members with ``coef > 0`` are pulled (for the others the term is 0): their rows of ``weights`` are
        copied and kept."""
        self.anchor_rows = torch.nonzero(coef.view(-1) > 0).view(-1)
        self.anchors = [w.detach()[self.anchor_rows].clone() for w in weights]
        self.anchor_coef = coef

    def select(self, model: EnsembleMLP, keep: torch.Tensor) -> "EnsembleAdam":
        """This optimizer's state for the members ``keep``, now stepping ``model`` (``self``'s model
        narrowed to those members, e.g. by :meth:`EnsembleMLP.select`)."""
        out = EnsembleAdam.__new__(EnsembleAdam)
        out.params = [(W, b) for W, b in zip(model.weights, model.biases)]
        out.lrs = [lr[keep] for lr in self.lrs]
        out.b1, out.b2, out.eps, out.t, out.fused = self.b1, self.b2, self.eps, self.t, self.fused
        out.state = [tuple(s[keep] for s in st) for st in self.state]
        out.anchors, out.anchor_rows, out.anchor_coef = [], None, None
        if self.anchor_coef is not None:
            row_of = torch.full((len(self.anchor_coef),), -1, dtype=torch.long)
            row_of[self.anchor_rows] = torch.arange(len(self.anchor_rows))
            rows = row_of[keep]
            out.anchor_coef = self.anchor_coef[keep]
            out.anchor_rows = torch.nonzero(rows >= 0).view(-1)
            out.anchors = [a[rows[rows >= 0]] for a in self.anchors]
        return out

    def _buffers(self, i: int) -> tuple[torch.Tensor, ...]:
        """Two scratch tensors per parameter of layer ``i`` (weight and bias), allocated once, so that
        a step makes no temporaries the size of a weight matrix (see ``s2rlib._core.allocator``)."""
        if not hasattr(self, "_scratch") or len(self._scratch) != len(self.params):
            self._scratch = [tuple(torch.empty_like(p) for p in (W, W, b, b)) for W, b in self.params]
        return self._scratch[i]

    def _pull(self) -> None:
        """The L2-SP term ``coef * (W - W_ref)`` added to the gradients of the anchored members only, in
        the order of the formula (so each pulled member's gradient is what it was with every member pulled)."""
        rows = self.anchor_rows
        for i, ((W, _), ref) in enumerate(zip(self.params, self.anchors)):
            if W.grad is None or not len(rows):
                continue
            if len(rows) == len(W):  # every member: in place, into the scratch buffer
                pull = self._buffers(i)[0]
                torch.sub(W, ref, out=pull)
                W.grad.add_(pull.mul_(self.anchor_coef))
            else:
                pull = W.detach().index_select(0, rows).sub_(ref).mul_(self.anchor_coef[rows])
                W.grad.index_add_(0, rows, pull)

    @torch.no_grad()
    def step(self, scale: float = 1.0) -> None:
        """One Adam step, ``p -= lr * scale * (m / c1) / (sqrt(v / c2) + eps)``: computed in place in that
        order (so the rounding is that of the formula as written), or by the fused kernel (``fused``)."""
        self.t += 1
        self._pull()
        if self.fused:
            self._fused_step(scale)
            return
        c1 = 1 - self.b1**self.t
        c2 = 1 - self.b2**self.t
        for i, ((W, b), (mW, vW, mb, vb), lr) in enumerate(zip(self.params, self.state, self.lrs)):
            rate = lr * scale
            bW, uW, bb, ub = self._buffers(i)
            for p, m, v, den, upd in ((W, mW, vW, bW, uW), (b, mb, vb, bb, ub)):
                if p.grad is None:
                    continue
                m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
                v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
                torch.div(v, c2, out=den).sqrt_().add_(self.eps)
                torch.div(m, c1, out=upd).mul_(rate).div_(den)
                p.sub_(upd)
                p.grad = None

    def _fused_step(self, scale: float) -> None:
        """``torch._fused_adam_`` once per distinct learning rate, over the runs of members that share it."""
        if getattr(self, "_runs", None) is None:
            self._runs = [lr_runs(lr) for lr in self.lrs]
        groups: dict[float, tuple[list, list, list, list]] = {}
        for (W, b), (mW, vW, mb, vb), runs in zip(self.params, self.state, self._runs):
            for p, m, v in ((W, mW, vW), (b, mb, vb)):
                if p.grad is None:
                    continue
                for lo, hi, rate in runs:
                    g = groups.setdefault(rate, ([], [], [], []))
                    for lst, x in zip(g, (p, p.grad, m, v)):
                        lst.append(x[lo:hi])
                p.grad = None
        t = torch.tensor(float(self.t))
        for rate, (ps, gs, ms, vs) in groups.items():
            torch._fused_adam_(ps, gs, ms, vs, [], [t] * len(ps), lr=rate * scale, beta1=self.b1, beta2=self.b2,
                               weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)


def lr_runs(lr: torch.Tensor) -> list[tuple[int, int, float]]:
    """``(first, end, rate)`` for each run of neighbouring members with the same learning rate in ``lr``
    (``(E, 1, 1)``), leaving out frozen runs (rate 0): the slices a fused step updates together."""
    rates = lr.view(-1).tolist()
    runs, lo = [], 0
    for e in range(1, len(rates) + 1):
        if e == len(rates) or rates[e] != rates[lo]:
            if rates[lo] != 0:
                runs.append((lo, e, float(rates[lo])))
            lo = e
    return runs
