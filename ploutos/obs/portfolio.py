"""The per-env portfolio state vector shared by every observation version.

Layout (P = 2A + 3, float32): [cash weight, position weights (A), unrealized return per
asset (A), drawdown from peak, time left: days to the split's end in episode lengths, capped
at 1 (ploutos.env.engine.time_left)]. Weights are marked at the close of the decision day, so
they use nothing the trader could not see.
"""

from __future__ import annotations

import torch


def portfolio_dim(n_assets: int) -> int:
    return 2 * n_assets + 3


def portfolio_state(
    cash: torch.Tensor,
    shares: torch.Tensor,
    entry: torch.Tensor,
    close: torch.Tensor,
    equity: torch.Tensor,
    peak: torch.Tensor,
    time_left: torch.Tensor,
) -> torch.Tensor:
    """[N, 2A + 3] float32 from float64 money state [N] / [N, A] and the day's close [N, A]."""
    inv_eq = 1.0 / equity.unsqueeze(1)
    weights = shares * close * inv_eq
    held = (shares > 0).to(close.dtype)
    # Entry is 0 for flat assets; dividing by 1 instead keeps them at 0 without NaNs (and
    # without torch.where, which is slow on the CPU; see ploutos.env.accounting).
    unrealized = (close / (entry + (1.0 - held)) - 1.0) * held
    drawdown = 1.0 - equity / peak
    # Each piece is narrowed to float32 before the concatenation, so a fused step writes the
    # state once instead of a float64 copy and then its float32 conversion.
    pieces = (cash.unsqueeze(1) * inv_eq, weights, unrealized, drawdown.unsqueeze(1),
              time_left.unsqueeze(1))  # fmt: skip
    return torch.cat([piece.to(torch.float32) for piece in pieces], dim=1)


def fresh_portfolio(n_assets: int, device: torch.device) -> torch.Tensor:
    """[P] state of a new episode: all cash, no positions, no drawdown, whole episode left."""
    state = torch.zeros(portfolio_dim(n_assets), dtype=torch.float32, device=device)
    state[0] = 1.0
    state[-1] = 1.0
    return state
