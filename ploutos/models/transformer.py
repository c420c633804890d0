"""Transformer extractor for v7 observations (window [L, A, F] + portfolio state).

Per asset, the window is cut into patches of `patch_days` days (60 days -> 12 tokens) and a
temporal encoder attends over them; the pooled token of each asset then attends across
assets. All of that depends on the day alone and runs once per distinct day. Each env's
portfolio state then joins each asset's token for the per-asset actor and the pooled critic.

Where the time goes and what is shared (measured on a 2-core CPU, d_model 64, 2 + 2 layers):
- Patch embedding is about a quarter of the encoder's multiply-adds, and a window of day d
  holds the same patches (same alignment: ends d, d - 5, ...) as the windows of d - 5,
  d - 10, ...; `encode_days` embeds each distinct patch of a batch once, straight from the
  feature tensor, and gathers 12 tokens per window. That removes 11/12 of the embedding work
  and the copy of every [L, A, F] window. `encode_market` keeps the per-window computation
  as the reference it is tested against.
- The join layer's input is [asset token | asset state | global state]; its token part
  depends on the day only, so it runs per day inside the encoding and only the few portfolio
  columns run per env (the MLP's first-layer split, docs/design.md #5). The parameters are
  the same nn.Linear's, sliced, so checkpoints and parameter counts are unchanged.
- The encoder layers are nn.TransformerEncoderLayer modules (same parameters and state
  dict) run by a lean pre-norm forward: one fused QKV projection and
  F.scaled_dot_product_attention (faster on 12-token sequences than hand-written softmax
  attention).
- Not adopted: bf16 autocast (measured: no gain forward and a modest one backward on a CPU
  without AMX, at the price of blurring the new/old log-prob ratio PPO clips on), and
  smaller sizes (d_model 64 and 2 + 2 layers stay the default). The other lever is the
  batch: see ploutos.algos.minibatches and conf/experiment/v7_transformer.yaml.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


def _run_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor) -> torch.Tensor:
    """Pre-norm self-attention + GELU feed-forward (dropout 0) on x [B, S, d]."""
    attn = layer.self_attn
    b, s, d = x.shape
    heads = attn.num_heads
    qkv = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(b, s, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    mixed = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, d)
    x = x + attn.out_proj(mixed)
    return x + layer.linear2(F.gelu(layer.linear1(layer.norm2(x))))


def _run_encoder(encoder: nn.TransformerEncoder, x: torch.Tensor) -> torch.Tensor:
    for layer in encoder.layers:
        x = _run_layer(layer, x)
    return x


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
        per_asset_outputs: int,
        cash_output: bool,
    ) -> None:
        super().__init__()
        self.n_assets = n_assets
        self.lookback = lookback
        self.patch_days = patch_days
        self.d_model = d_model
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
        # Per-asset outputs from each asset's token (3 logits, or one weight logit); the
        # action space's cash output (weights mode) from the pooled tokens.
        self.pi_head = layer_init(nn.Linear(head_hidden, per_asset_outputs), POLICY_GAIN)
        self.cash_head = (
            layer_init(nn.Linear(head_hidden, 1), POLICY_GAIN) if cash_output else None
        )
        self.vf = nn.Sequential(
            layer_init(nn.Linear(head_hidden, head_hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(head_hidden, 1), VALUE_GAIN),
        )

    def encode_market(self, view: torch.Tensor) -> torch.Tensor:
        """[U, L, A, F] windows of U days -> [U, A, head_hidden] day part of the join layer.

        The reference path: every window embeds its own patches.
        """
        u, lookback, a, f = view.shape
        # Asset-major sequences (asset, day), as encode_days builds them.
        patches = view.permute(2, 0, 1, 3).reshape(a * u, lookback // self.patch_days, -1)
        return self._encode_tokens(self.patch_embed(patches), u)

    def encode_days(self, features_by_asset: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
        """Windows ending at `days` [U] of features [A, T, F] (asset-major, contiguous: see
        V7Builder.features_by_asset) -> [U, A, head_hidden].

        Equal to encode_market(windows of days); each distinct patch is embedded once.
        """
        p = self.patch_days
        n_tokens = self.lookback // p
        # Token i of the window ending at d is the patch ending at d - (L - p) + p * i.
        offsets = torch.arange(n_tokens, device=days.device) * p - (self.lookback - p)
        ends, inverse = torch.unique(days.unsqueeze(1) + offsets, return_inverse=True)
        # In the asset-major layout the p days of a patch are one contiguous run of p * F
        # floats, so every patch of an asset is a row of this overlapping view, rows (day,
        # feature) as in the window view, and gathering E patches copies E rows per asset.
        a, t, f = features_by_asset.shape
        patches = features_by_asset.as_strided((a, t - p + 1, p * f), (t * f, f, 1))
        embedded = self.patch_embed(patches.index_select(1, ends - (p - 1)))  # [A, E, d]
        tokens = embedded[:, inverse]  # [A, U, n_tokens, d]
        return self._encode_tokens(tokens.reshape(-1, n_tokens, self.d_model), days.shape[0])

    def _encode_tokens(self, tokens: torch.Tensor, u: int) -> torch.Tensor:
        """Patch tokens [A * U, n_tokens, d], asset-major -> [U, A, head_hidden] (join layer,
        day part). The temporal encoder treats every (asset, day) sequence alike, so only the
        small pooled tokens are put back in day-major order."""
        tokens = _run_encoder(self.temporal, tokens + self.time_pos)
        pooled = tokens.mean(dim=1).reshape(self.n_assets, u, -1).transpose(0, 1)
        assets = self.norm(_run_encoder(self.cross, pooled + self.asset_pos))
        join = self.join[0]
        return F.linear(assets, join.weight[:, : self.d_model], join.bias)

    def decide(
        self, market: torch.Tensor, portfolio: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Day part of the join [N, A, H] + portfolio [N, P] -> (action params, value [N])."""
        per_asset, global_state = split_portfolio(portfolio, self.n_assets)
        weight = self.join[0].weight
        d = self.d_model
        # In place on fresh [N, A, H] tensors: the per-sample part dominates large batches.
        state = F.linear(per_asset, weight[:, d : d + 2])
        state += F.linear(global_state, weight[:, d + 2 :]).unsqueeze(1)
        h = torch.tanh(state.add_(market))  # [N, A, H]
        pooled = h.mean(dim=1)
        if self.cash_head is None:
            params = self.pi_head(h)  # [N, A, 3]
        else:
            params = torch.cat((self.pi_head(h).squeeze(-1), self.cash_head(pooled)), dim=-1)
        return params, self.vf(pooled).squeeze(-1)
