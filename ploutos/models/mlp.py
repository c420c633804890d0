"""MLP extractor for v6 observations (features of day t for all assets + portfolio state).

The first layer of a plain MLP over [market | portfolio] splits into a market part, which
depends on the day alone and runs once per distinct day of a batch, and a portfolio part,
which runs per env; their sum is exactly the plain layer's pre-activation (docs/design.md #5).
An optional small per-asset encoder (shared across assets) shrinks the market part further.
"""

from __future__ import annotations

import torch
from torch import nn

from ploutos.models.layers import POLICY_GAIN, VALUE_GAIN, asset_encoder, layer_init, tanh_mlp


class MLPBody(nn.Module):
    """Separate policy and value trunks (as SB3's MlpPolicy) over a shared market encoding."""

    def __init__(
        self,
        n_assets: int,
        n_features: int,
        portfolio_dim: int,
        hidden_sizes: list[int],
        asset_dim: int,
        action_dim: int,
    ) -> None:
        super().__init__()
        self.asset_encoder, encoding_dim = asset_encoder(n_features, asset_dim)
        market_dim = n_assets * encoding_dim
        first = hidden_sizes[0]
        # Policy and value first layers stacked in one matmul: [pi | vf] along the output.
        self.market_in = layer_init(nn.Linear(market_dim, 2 * first))
        self.portfolio_in = layer_init(nn.Linear(portfolio_dim, 2 * first, bias=False))
        self.pi_trunk = tanh_mlp(hidden_sizes)
        self.vf_trunk = tanh_mlp(hidden_sizes)
        self.pi_head = layer_init(nn.Linear(hidden_sizes[-1], action_dim), POLICY_GAIN)
        self.vf_head = layer_init(nn.Linear(hidden_sizes[-1], 1), VALUE_GAIN)

    def encode_market(self, view: torch.Tensor) -> torch.Tensor:
        """[U, A, F] market features of U days -> [U, 2 * hidden] first-layer market part."""
        return self.market_in(self.asset_encoder(view).flatten(1))

    def decide(
        self, market: torch.Tensor, portfolio: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-env market encoding [N, 2H] + portfolio [N, P] -> (action params, value [N])."""
        h_pi, h_vf = torch.tanh(market + self.portfolio_in(portfolio)).chunk(2, dim=-1)
        params = self.pi_head(self.pi_trunk(h_pi))
        value = self.vf_head(self.vf_trunk(h_vf)).squeeze(-1)
        return params, value
