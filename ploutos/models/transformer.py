"""Transformer extractor for v7 observations (window [L, A, F] + portfolio state).

Per asset, the window is cut into patches of `patch_days` days (60 days -> 12 tokens) and a
temporal encoder attends over them; the pooled token of each asset then attends across
assets. All of that depends on the day alone and runs once per distinct day. Each env's
portfolio state then joins each asset's token for the per-asset actor and the pooled critic.
"""

from __future__ import annotations

import torch
from torch import nn

from ploutos.models.layers import (
    POLICY_GAIN,
    VALUE_GAIN,
    layer_init,
    split_portfolio,
)


def _encoder(d_model: int, n_heads: int, ff_mult: int, n_layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        d_model,
        n_heads,
        dim_feedforward=ff_mult * d_model,
        dropout=0.0,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)


class TransformerBody(nn.Module):
    def __init__(
        self,
        n_assets: int,
        n_features: int,
        portfolio_dim: int,
        lookback: int,
        patch_days: int,
        d_model: int,
        n_heads: int,
        temporal_layers: int,
        cross_layers: int,
        ff_mult: int,
        head_hidden: int,
        discrete: bool,
    ) -> None:
        super().__init__()
        self.n_assets = n_assets
        self.patch_days = patch_days
        self.discrete = discrete
        n_tokens = lookback // patch_days
        self.patch_embed = nn.Linear(patch_days * n_features, d_model)
        self.time_pos = nn.Parameter(torch.zeros(n_tokens, d_model))
        self.asset_pos = nn.Parameter(torch.zeros(n_assets, d_model))
        nn.init.normal_(self.time_pos, std=0.02)
        nn.init.normal_(self.asset_pos, std=0.02)
        self.temporal = _encoder(d_model, n_heads, ff_mult, temporal_layers)
        self.cross = _encoder(d_model, n_heads, ff_mult, cross_layers)
        self.norm = nn.LayerNorm(d_model)
        n_global = portfolio_dim - 2 * n_assets
        self.join = nn.Sequential(
            layer_init(nn.Linear(d_model + 2 + n_global, head_hidden)), nn.Tanh()
        )
        self.pi_head = layer_init(nn.Linear(head_hidden, 3 if discrete else 1), POLICY_GAIN)
        # Weights mode: one logit per asset from its token, the cash logit from the pool.
        self.cash_head = None if discrete else layer_init(nn.Linear(head_hidden, 1), POLICY_GAIN)
        self.vf = nn.Sequential(
            layer_init(nn.Linear(head_hidden, head_hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(head_hidden, 1), VALUE_GAIN),
        )

    def encode_market(self, view: torch.Tensor) -> torch.Tensor:
        """[U, L, A, F] windows of U days -> [U, A, d_model] asset tokens."""
        u, lookback, a, f = view.shape
        patches = view.permute(0, 2, 1, 3).reshape(u * a, lookback // self.patch_days, -1)
        tokens = self.temporal(self.patch_embed(patches) + self.time_pos)
        assets = tokens.mean(dim=1).reshape(u, a, -1) + self.asset_pos
        return self.norm(self.cross(assets))

    def decide(
        self, market: torch.Tensor, portfolio: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Asset tokens [N, A, d] + portfolio [N, P] -> (action params, value [N])."""
        per_asset, global_state = split_portfolio(portfolio, self.n_assets)
        global_state = global_state.unsqueeze(1).expand(-1, self.n_assets, -1)
        h = self.join(torch.cat((market, per_asset, global_state), dim=-1))  # [N, A, H]
        pooled = h.mean(dim=1)
        if self.cash_head is None:
            params = self.pi_head(h)  # [N, A, 3]
        else:
            params = torch.cat((self.pi_head(h).squeeze(-1), self.cash_head(pooled)), dim=-1)
        return params, self.vf(pooled).squeeze(-1)
