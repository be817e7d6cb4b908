"""SAM against a hand-computed two-step update (Foret et al. 2021, Alg. 1), in float64 on a tiny network."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError
from phenomena.training import fit
from phenomena.training.sam import SAM


def tiny(seed=0):
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (6,), generator=g)
    return net, x, y


def closure_for(net, opt, x, y):
    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        return loss

    return closure


def grad_at(net, theta, x, y):
    """Gradient of the loss at the parameter dict ``theta``, by autograd on a functional call."""
    leaves = {n: t.detach().clone().requires_grad_(True) for n, t in theta.items()}
    loss = F.cross_entropy(functional_call(net, leaves, (x,)), y)
    return dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values())), strict=True)), loss.detach()


def hand_sam_sgd(net, x, y, steps, lr, rho, momentum=0.0, wd=0.0):
    """Foret et al.'s update by hand: e = rho g/||g||, g' = grad at w + e, then PyTorch's SGD form with g'."""
    theta = {n: p.detach().clone() for n, p in net.named_parameters()}
    buf, losses = None, []
    for _ in range(steps):
        g, loss = grad_at(net, theta, x, y)
        losses.append(loss)
        norm = torch.sqrt(sum((t**2).sum() for t in g.values()))
        g2, _ = grad_at(net, {n: theta[n] + rho * g[n] / norm for n in theta}, x, y)
        d = {n: g2[n] + wd * theta[n] for n in theta}
        buf = d if buf is None else {n: momentum * buf[n] + d[n] for n in theta}
        theta = {n: theta[n] - lr * buf[n] for n in theta}
    return theta, losses


@pytest.mark.parametrize("momentum, wd", [(0.0, 0.0), (0.9, 0.01)])
def test_sam_steps_equal_the_hand_computed_update(momentum, wd):
    net, x, y = tiny()
    expected, losses = hand_sam_sgd(net, x, y, steps=3, lr=0.3, rho=0.2, momentum=momentum, wd=wd)
    opt = SAM(torch.optim.SGD(net.parameters(), lr=0.3, momentum=momentum, weight_decay=wd), rho=0.2)
    for loss in losses:
        returned = opt.step(closure_for(net, opt, x, y))
        assert torch.allclose(returned, loss, rtol=0, atol=1e-13)  # the loss at w, before the step
    for n, p in net.named_parameters():
        assert torch.allclose(p, expected[n], rtol=0, atol=1e-12), n


def test_the_ascent_point_differs_from_w():
    # guards the oracle above against a degenerate case where SAM and SGD coincide
    net, x, y = tiny()
    sam, _ = hand_sam_sgd(net, x, y, steps=1, lr=0.3, rho=0.2)
    sgd, _ = hand_sam_sgd(net, x, y, steps=1, lr=0.3, rho=0.0)
    assert max((sam[n] - sgd[n]).abs().max() for n in sam) > 1e-3


def test_rho_zero_is_the_base_optimizer_exactly():
    net_a, x, y = tiny()
    net_b, _, _ = tiny()
    sam = SAM(torch.optim.Adam(net_a.parameters(), lr=0.05), rho=0.0)
    adam = torch.optim.Adam(net_b.parameters(), lr=0.05)
    for _ in range(4):
        sam.step(closure_for(net_a, sam, x, y))
        adam.zero_grad()
        F.cross_entropy(net_b(x), y).backward()
        adam.step()
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_weights_return_exactly_to_w_before_the_base_step():
    net, x, y = tiny()
    before = [p.detach().clone() for p in net.parameters()]
    opt = SAM(torch.optim.SGD(net.parameters(), lr=0.0), rho=0.5)  # lr 0: the step must change nothing
    opt.step(closure_for(net, opt, x, y))
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before, strict=True))
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())  # the g' was computed


def test_schedulers_and_state_dicts_act_on_the_base_optimizer():
    net, x, y = tiny()
    base = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    opt = SAM(base, rho=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5**s)
    opt.step(closure_for(net, opt, x, y))
    sched.step()
    assert base.param_groups[0]["lr"] == pytest.approx(0.05)
    state = opt.state_dict()
    net2, _, _ = tiny()
    opt2 = SAM(torch.optim.SGD(net2.parameters(), lr=0.1, momentum=0.9), rho=0.0)
    opt2.load_state_dict(state)
    assert opt2.rho == 0.1
    buf = base.state[next(iter(net.parameters()))]["momentum_buffer"]
    assert torch.equal(opt2.base.state[next(iter(net2.parameters()))]["momentum_buffer"], buf)


def test_sam_trains_through_fit_like_a_hand_written_loop():
    net, x, y = tiny()
    data = Dataset(x, y, x[:1], y[:1], {"num_classes": 2})
    expected, _ = hand_sam_sgd(net, x, y, steps=5, lr=0.3, rho=0.2)
    opt = SAM(torch.optim.SGD(net.parameters(), lr=0.3), rho=0.2)
    history, state = fit(net, data, F.cross_entropy, opt, steps=5)  # full batch: fit passes a closure
    assert state.step == 5
    for n, p in net.named_parameters():
        assert torch.allclose(p, expected[n], rtol=0, atol=1e-12), n


def test_bad_input_is_refused_in_one_sentence():
    net, x, y = tiny()
    with pytest.raises(UserError, match="closure"):
        SAM(torch.optim.SGD(net.parameters(), lr=0.1)).step()
    with pytest.raises(UserError, match="rho"):
        SAM(torch.optim.SGD(net.parameters(), lr=0.1), rho=-0.1)
    with pytest.raises(UserError, match="Optimizer"):
        SAM(list(net.parameters()), rho=0.1)
