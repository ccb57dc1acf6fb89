"""EnsembleAdam: the in-place step is Adam as written, to the bit, with and without the L2-SP pull;
the allocator setting changes where memory comes from, not the numbers."""

import torch

from s2rlib._core import allocator
from s2rlib.training.models import EnsembleAdam, EnsembleMLP


def _textbook_step(params, state, lrs, t, scale, b1=0.9, b2=0.999, eps=1e-8, anchors=(), coef=None):
    """Adam as s2rlib wrote it before the in-place step (the moments in place, the update out of
    place, term by term): the reference the in-place step must equal."""
    c1, c2 = 1 - b1**t, 1 - b2**t
    with torch.no_grad():
        for (W, _), ref in zip(params, anchors):
            W.grad.add_(coef * (W - ref))
        for (W, b), (mW, vW, mb, vb), lr in zip(params, state, lrs):
            for p, m, v in ((W, mW, vW), (b, mb, vb)):
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                p.sub_(lr * scale * (m / c1) / ((v / c2).sqrt() + eps))
                p.grad = None


def _train(step_fn, l2sp: bool, steps=7):
    torch.manual_seed(0)
    X, Y = torch.randn(3, 16, 5), torch.randn(3, 16)
    net = EnsembleMLP([1, 2, 3], 5, (8, 4))
    lrs = [torch.tensor([1e-2, 1e-3, 0.0]).view(-1, 1, 1)] * 3
    opt = EnsembleAdam(net, lrs)
    if l2sp:
        opt.anchor([W.detach().clone() + 0.1 for W in net.weights[:-1]], torch.tensor([0.5, 0.0, 2.0]).view(-1, 1, 1))
    for s in range(steps):
        (net(X) - Y).abs().mean(1).sum().backward()
        step_fn(opt, 0.5 + 0.05 * s)
    return [p.detach().clone() for p in net.parameters()]


def _reference(opt, scale):
    opt.t += 1
    _textbook_step(opt.params, opt.state, opt.lrs, opt.t, scale, opt.b1, opt.b2, opt.eps, opt.anchors, opt.anchor_coef)


def test_in_place_adam_equals_the_formula_bitwise():
    for l2sp in (False, True):
        fast = _train(lambda opt, sc: opt.step(sc), l2sp)
        ref = _train(_reference, l2sp)
        assert all(torch.equal(a, b) for a, b in zip(fast, ref))
        # and the step moved the weights (a step that does nothing would also be "equal")
        init = [p.detach() for p in EnsembleMLP([1, 2, 3], 5, (8, 4)).parameters()]
        assert not torch.equal(fast[0][0], init[0][0])
        # a frozen member (learning rate 0) keeps its initial weights exactly, the others do not
        assert torch.equal(fast[0][2], init[0][2])


def test_adam_state_survives_member_selection():
    """After select(), the narrowed optimizer continues exactly as the full one would for those members."""
    torch.manual_seed(1)
    X, Y = torch.randn(3, 8, 4), torch.randn(3, 8)
    full = EnsembleMLP([5, 6, 7], 4, (6,))
    opt = EnsembleAdam(full, [torch.full((3, 1, 1), 1e-2)] * 2)
    for _ in range(3):
        (full(X) - Y).square().mean(1).sum().backward()
        opt.step()
    keep = torch.tensor([0, 2])
    small = full.select(keep.tolist())
    sopt = opt.select(small, keep)
    for net, o, x, y in ((full, opt, X, Y), (small, sopt, X[keep], Y[keep])):
        (net(x) - y).square().mean(1).sum().backward()
        o.step()
    assert all(torch.equal(a[keep], b) for a, b in zip(full.parameters(), small.parameters()))


def test_allocator_serves_large_blocks_from_the_heap():
    """What keep_freed_memory changes: a 40 MB tensor is mmapped in a fresh process and comes from the
    heap once it is on (glibc Linux; elsewhere the function says it did nothing)."""
    import subprocess
    import sys

    if allocator.mmapped_blocks() is None:
        assert allocator.keep_freed_memory() is False
        return
    probe = ("import torch; from s2rlib._core import allocator; {setup}b = allocator.mmapped_blocks(); "
             "t = torch.empty(10_000_000); print(allocator.mmapped_blocks() - b)")
    fresh = subprocess.run([sys.executable, "-c", probe.format(setup="")], capture_output=True, text=True, check=True)
    kept = subprocess.run([sys.executable, "-c", probe.format(setup="assert allocator.keep_freed_memory(); ")],
                          capture_output=True, text=True, check=True)
    assert fresh.stdout.split() == ["1"] and kept.stdout.split() == ["0"]


def test_allocator_setting_does_not_change_results():
    allocator.keep_freed_memory(False)
    off = _train(lambda opt, sc: opt.step(sc), True)
    assert allocator.keep_freed_memory(True)
    on = _train(lambda opt, sc: opt.step(sc), True)
    assert all(torch.equal(a, b) for a, b in zip(off, on))
