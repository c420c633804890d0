"""The portfolio state vector."""

from __future__ import annotations

import torch

from ploutos.obs import fresh_portfolio, portfolio_dim, portfolio_state


def test_portfolio_state_layout() -> None:
    cash = torch.tensor([500.0], dtype=torch.float64)
    shares = torch.tensor([[10.0, 0.0]], dtype=torch.float64)
    entry = torch.tensor([[40.0, 0.0]], dtype=torch.float64)
    close = torch.tensor([[50.0, 20.0]], dtype=torch.float64)
    equity = cash + (shares * close).sum(1)  # 1000
    peak = torch.tensor([1250.0], dtype=torch.float64)
    state = portfolio_state(cash, shares, entry, close, equity, peak, torch.tensor([0.25]))
    assert state.dtype == torch.float32 and state.shape == (1, portfolio_dim(2)) == (1, 7)
    expected = [0.5, 0.5, 0.0, 0.25, 0.0, 0.2, 0.25]
    torch.testing.assert_close(state[0], torch.tensor(expected))
    assert fresh_portfolio(2, torch.device("cpu")).tolist() == [1, 0, 0, 0, 0, 0, 1]
