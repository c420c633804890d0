"""Per-asset MLP extractor for v6 observations (`model.actor=per_asset`).

The joint MLP (ploutos.models.mlp) reads every asset's features for every asset's action, so
each asset's output has A x F inputs of its own and can fit the training days' realized
returns instead of a rule. Here one small actor head is shared by the assets: asset a's
logits read only [a's encoding | an optional cross-asset context | a's weight and unrealized
return | the global portfolio state]. Swapping two tickers swaps their actions, and what the
head learns from one ticker applies to all of them.

The context (`model.context_dim` numbers, 0 = none) pools a per-asset projection over the
assets. `model.context_pool=mean` averages it, so it summarizes the cross-section without
knowing which ticker is which and the actor stays permutation-equivariant. `learned` gives each
context number its own softmax weights over the tickers (one logit per ticker, zero at the
start, so it starts as the mean): a ticker-aware summary such as "the leader's return today",
which a lead-lag edge needs, yet only context_dim x A parameters, too few to fit the training
days. The critic reads the mean encoding, the context and the whole portfolio state.

The day/env split of the joint MLP is kept (docs/design.md #5): both first layers are linear
over [day part | portfolio part], so the day part (encodings and context through the first
layers' slices) runs once per distinct day and is gathered per env; only the portfolio
columns run per env. The table row of a day is [A + 1, H]: the actor's per-asset
pre-activations, then the critic's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ploutos.models.layers import (
    POLICY_GAIN,
    VALUE_GAIN,
    asset_encoder,
    layer_init,
    split_portfolio,
    tanh_mlp,
)

CONTEXT_POOLS = ("mean", "learned")


class PerAssetMLPBody(nn.Module):
    """One actor head shared by the assets; a pooled critic."""

    def __init__(
        self,
        n_assets: int,
        n_features: int,
        portfolio_dim: int,
        hidden_sizes: list[int],
        asset_dim: int,
        context_dim: int,
        per_asset_outputs: int,
        cash_output: bool,
        context_pool: str = "mean",
    ) -> None:
        super().__init__()
        self.n_assets = n_assets
        self.asset_encoder, encoding_dim = asset_encoder(n_features, asset_dim)
        self.context = (
            nn.Sequential(layer_init(nn.Linear(encoding_dim, context_dim)), nn.Tanh())
            if context_dim > 0
            else None
        )
        # [k, A] logits of each context number's weights over the tickers (learned pool).
        self.context_logits = (
            nn.Parameter(torch.zeros(context_dim, n_assets))
            if context_dim > 0 and context_pool == "learned"
            else None
        )
        self.day_dim = encoding_dim + context_dim  # first-layer columns that depend on the day
        first = hidden_sizes[0]
        n_global = portfolio_dim - 2 * n_assets
        self.pi_in = layer_init(nn.Linear(self.day_dim + 2 + n_global, first))
        self.vf_in = layer_init(nn.Linear(self.day_dim + portfolio_dim, first))
        self.pi_trunk = tanh_mlp(hidden_sizes)
        self.vf_trunk = tanh_mlp(hidden_sizes)
        self.pi_head = layer_init(nn.Linear(hidden_sizes[-1], per_asset_outputs), POLICY_GAIN)
        # Weights mode: the cash logit from the assets' mean hidden state, so it does not
        # depend on the order of the tickers either.
        self.cash_head = (
            layer_init(nn.Linear(hidden_sizes[-1], 1), POLICY_GAIN) if cash_output else None
        )
        self.vf_head = layer_init(nn.Linear(hidden_sizes[-1], 1), VALUE_GAIN)

    def encode_market(self, view: torch.Tensor) -> torch.Tensor:
        """[U, A, F] market features of U days -> [U, A + 1, H] first-layer day parts (rows
        0..A-1 the actor's per asset, row A the critic's)."""
        encoding = self.asset_encoder(view)  # [U, A, d]
        pooled = encoding.mean(dim=1)  # [U, d]
        if self.context is not None:
            projected = self.context(encoding)  # [U, A, k]
            if self.context_logits is None:
                context = projected.mean(dim=1)  # [U, k]
            else:
                weights = torch.softmax(self.context_logits, dim=1)  # [k, A]
                context = torch.einsum("uak,ka->uk", projected, weights)
            broadcast = context.unsqueeze(1).expand(-1, self.n_assets, -1)
            per_asset = torch.cat((encoding, broadcast), dim=-1)
            pooled = torch.cat((pooled, context), dim=-1)
        else:
            per_asset = encoding
        d = self.day_dim
        actor = F.linear(per_asset, self.pi_in.weight[:, :d], self.pi_in.bias)
        critic = F.linear(pooled, self.vf_in.weight[:, :d], self.vf_in.bias)
        return torch.cat((actor, critic.unsqueeze(1)), dim=1)

    def decide(
        self, market: torch.Tensor, portfolio: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Day parts per env [N, A + 1, H] + portfolio [N, P] -> (action params [N, head_dim],
        value [N])."""
        a, d = self.n_assets, self.day_dim
        per_asset, global_state = split_portfolio(portfolio, a)
        weight = self.pi_in.weight
        state = F.linear(per_asset, weight[:, d : d + 2])
        state = state + F.linear(global_state, weight[:, d + 2 :]).unsqueeze(1)
        hidden = self.pi_trunk(torch.tanh(market[:, :a] + state))  # [N, A, H]
        outputs = self.pi_head(hidden)  # [N, A, per-asset outputs]
        if self.cash_head is None:
            params = outputs.flatten(1)
        else:
            params = torch.cat((outputs.squeeze(-1), self.cash_head(hidden.mean(dim=1))), dim=-1)
        vf_state = F.linear(portfolio, self.vf_in.weight[:, d:])
        value = self.vf_head(self.vf_trunk(torch.tanh(market[:, a] + vf_state))).squeeze(-1)
        return params, value
