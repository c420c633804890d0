"""The fused Adam the learners build takes torch's reference Adam steps."""

from __future__ import annotations

import copy

import pytest
import torch

from ploutos.algos.optim import adam


@pytest.mark.parametrize("eps", [1e-8, 1e-5])
def test_fused_adam_takes_adams_steps(eps):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    twin = copy.deepcopy(net)
    initial = torch.cat([p.detach().flatten() for p in net.parameters()])
    fused = adam(net.parameters(), 1e-2, eps=eps)
    reference = torch.optim.Adam(twin.parameters(), 1e-2, eps=eps)
    assert fused.defaults["fused"] and reference.defaults["fused"] is None
    x = torch.randn(32, 6)
    for _ in range(20):
        for model, opt in ((net, fused), (twin, reference)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    got, want = (torch.cat([p.detach().flatten() for p in m.parameters()]) for m in (net, twin))
    assert (got - initial).abs().max() > 0.05  # 20 steps of lr 1e-2 moved the weights
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
