"""Small building blocks shared by the extractors: CleanRL's orthogonal init and MLP trunks."""

from __future__ import annotations

import math

import torch
from torch import nn

HIDDEN_GAIN = math.sqrt(2.0)
POLICY_GAIN = 0.01
VALUE_GAIN = 1.0


def layer_init(layer: nn.Linear, gain: float = HIDDEN_GAIN) -> nn.Linear:
    """Orthogonal weights and zero bias, as in CleanRL's PPO."""
    nn.init.orthogonal_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def tanh_mlp(sizes: list[int]) -> nn.Sequential:
    """Linear + tanh for each consecutive pair of sizes (empty when there is one size)."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [layer_init(nn.Linear(n_in, n_out)), nn.Tanh()]
    return nn.Sequential(*layers)


def split_portfolio(portfolio: torch.Tensor, n_assets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-asset ([N, A, 2]: weight, unrealized return) and global ([N, P - 2A]) state.

    Layout of the contract: [cash weight, weights (A), unrealized returns (A), drawdown,
    fraction of the episode left].
    """
    a = n_assets
    per_asset = torch.stack((portfolio[:, 1 : 1 + a], portfolio[:, 1 + a : 1 + 2 * a]), dim=-1)
    global_state = torch.cat((portfolio[:, :1], portfolio[:, 1 + 2 * a :]), dim=-1)
    return per_asset, global_state


def asset_encoder(n_features: int, asset_dim: int) -> tuple[nn.Module, int]:
    """The per-asset feature encoder both MLP bodies share, and its output width:
    Linear(F, asset_dim) + tanh, or the raw features when asset_dim is 0."""
    if asset_dim > 0:
        return nn.Sequential(layer_init(nn.Linear(n_features, asset_dim)), nn.Tanh()), asset_dim
    return nn.Identity(), n_features
