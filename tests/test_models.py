"""EnsembleAdam: the in-place step is Adam as written, to the bit, with and without the L2-SP pull (pulled
only on its members); the fused step is the same up to rounding and keeps members independent;
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


def _train(step_fn, l2sp: bool, steps=7, fused=False):
    torch.manual_seed(0)
    X, Y = torch.randn(3, 16, 5), torch.randn(3, 16)
    net = EnsembleMLP([1, 2, 3], 5, (8, 4))
    lrs = [torch.tensor([1e-2, 1e-3, 0.0]).view(-1, 1, 1)] * 3
    opt = EnsembleAdam(net, lrs, fused=fused)
    opt.full_anchors = []  # every member's reference weights, for the textbook step
    if l2sp:
        opt.full_anchors = [W.detach().clone() + 0.1 for W in net.weights[:-1]]
        opt.anchor(opt.full_anchors, torch.tensor([0.5, 0.0, 2.0]).view(-1, 1, 1))
    for s in range(steps):
        (net(X) - Y).abs().mean(1).sum().backward()
        step_fn(opt, 0.5 + 0.05 * s)
    return [p.detach().clone() for p in net.parameters()]


def _reference(opt, scale):
    """The textbook step, with the L2-SP pull computed for every member (0 for a coefficient of 0)."""
    opt.t += 1
    _textbook_step(opt.params, opt.state, opt.lrs, opt.t, scale, opt.b1, opt.b2, opt.eps, opt.full_anchors,
                   opt.anchor_coef)


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


def test_l2sp_pull_only_on_its_members_is_bitwise_the_pull_on_all():
    """The pull is computed only for the members whose coefficient is > 0 (member 1's is 0 above): the
    weights equal, to the bit, those of the textbook step that pulls every member, and the anchored rows
    are the pulled members' own."""
    net = EnsembleMLP([1, 2, 3], 5, (8, 4))
    opt = EnsembleAdam(net, [torch.full((3, 1, 1), 1e-3)] * 3)
    opt.anchor(list(net.weights[:-1]), torch.tensor([0.5, 0.0, 2.0]).view(-1, 1, 1))
    assert opt.anchor_rows.tolist() == [0, 2] and len(opt.anchors[0]) == 2
    assert torch.equal(opt.anchors[1][1], net.weights[1].detach()[2])
    assert all(torch.equal(a, b) for a, b in zip(_train(lambda o, sc: o.step(sc), True), _train(_reference, True)))


def test_fused_adam_is_the_formula_up_to_rounding_and_keeps_frozen_members():
    """fused=True (torch's fused kernel over runs of members sharing a rate): the same update as the
    textbook step up to float rounding, with and without L2-SP; a frozen member keeps its weights exactly."""
    init = [p.detach() for p in EnsembleMLP([1, 2, 3], 5, (8, 4)).parameters()]
    for l2sp in (False, True):
        fused = _train(lambda o, sc: o.step(sc), l2sp, steps=20, fused=True)
        ref = _train(_reference, l2sp, steps=20)
        for a, b, p0 in zip(fused, ref, init):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
            assert torch.equal(a[2], p0[2])
        assert not torch.equal(fused[0][0], init[0][0])


def test_lr_runs_group_neighbouring_members_and_skip_frozen_ones():
    from s2rlib.training.models import lr_runs

    lr = torch.tensor([1e-3, 1e-3, 1e-4, 0.0, 0.0, 1e-3]).view(-1, 1, 1)
    assert [(a, b) for a, b, _ in lr_runs(lr)] == [(0, 2), (2, 3), (5, 6)]
    assert lr_runs(torch.zeros(3, 1, 1)) == []


def test_a_member_trains_alone_as_in_the_ensemble_with_the_fused_step():
    """Member independence under fused=True: member 1 of an ensemble whose neighbours have other learning
    rates (so its run is cut differently) ends where it ends trained alone, up to rounding."""
    torch.manual_seed(2)
    X, Y = torch.randn(3, 16, 5), torch.randn(3, 16)
    out = []
    for members, lr in (([4, 5, 6], [1e-2, 1e-3, 1e-3]), ([5], [1e-3])):
        idx = [0, 1, 2] if len(members) == 3 else [1]
        net = EnsembleMLP(members, 5, (8, 4))
        opt = EnsembleAdam(net, [torch.tensor(lr).view(-1, 1, 1)] * 3, fused=True)
        opt.anchor(list(net.weights[:-1]), torch.full((len(members), 1, 1), 0.5))
        for s in range(15):
            (net(X[idx]) - Y[idx]).abs().mean(1).sum().backward()
            opt.step(0.9)
        out.append([p.detach()[members.index(5)] for p in net.parameters()])
    for a, b in zip(*out):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


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
    _step_both(full, opt, small, sopt, keep, X, Y, 1)
    assert all(torch.equal(a[keep], b) for a, b in zip(full.parameters(), small.parameters()))


def _step_both(full, opt, small, sopt, keep, X, Y, steps):
    """``steps`` optimizer steps of the full and the narrowed ensemble, the narrowed one fed the kept rows
    of the full one's gradients: what is compared is the optimizer, not the batched matmul (whose
    rounding may depend on the batch size on some CPUs, e.g. AMD EPYC)."""
    for _ in range(steps):
        (full(X) - Y).square().mean(1).sum().backward()
        for a, b in zip(full.parameters(), small.parameters()):
            b.grad = a.grad[keep].clone()
        opt.step()
        sopt.step()


def test_selection_keeps_the_l2sp_anchors_of_the_kept_members():
    """select() after anchor(): the kept members keep their own reference rows and coefficients (a
    member without a pull stays without), and the narrowed optimizer continues as the full one, to the bit."""
    torch.manual_seed(3)
    X, Y = torch.randn(4, 8, 4), torch.randn(4, 8)
    full = EnsembleMLP([1, 2, 3, 4], 4, (6, 5))
    opt = EnsembleAdam(full, [torch.full((4, 1, 1), 1e-2)] * 3)
    opt.anchor([W.detach() + 0.2 for W in full.weights[:-1]], torch.tensor([0.0, 1.0, 0.0, 3.0]).view(-1, 1, 1))
    for _ in range(3):
        (full(X) - Y).square().mean(1).sum().backward()
        opt.step()
    keep = torch.tensor([1, 2, 3])
    small = full.select(keep.tolist())
    sopt = opt.select(small, keep)
    assert sopt.anchor_rows.tolist() == [0, 2] and torch.equal(sopt.anchors[0], opt.anchors[0])
    _step_both(full, opt, small, sopt, keep, X, Y, 3)
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
