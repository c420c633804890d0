"""Sizing rules for the hybrid: RL decides WHEN to be in an asset, a rule decides HOW MUCH.

The action stays per-asset HOLD / BUY / SELL (the same heads, distributions and buffers as
`discrete`, so every algorithm that takes discrete actions takes these), but its meaning
changes: BUY = be in the asset at the rule's target weight (buy up to it, or trim down to
it, when the position is off by more than `band` of equity), HOLD = leave the position as it
is, SELL = close sell_fraction of it (as in `discrete`). `discrete` itself is the fixed-
fraction rule (a BUY adds buy_fraction of equity up to max_position_weight).

Each rule's target weights are one causal table [T, A] built once per market (`bind`): row t
uses closes up to day t only, and an order decided on day t and filled on t + 1 reads row t.
So the agent trains under the sizing it is deployed with, inside the env step, and a row
never changes when later bars change (tests/test_algos_sizing.py).

- vol_target: per asset min(cap, (sigma_target / sqrt(A)) / sigma_i) from an EWMA of squared
  daily log returns (span 60: pandas' ewm(span, adjust=False) recursion, zero mean, rows 0
  until `span` returns are seen), annualized with 252 days; the weights are then scaled so
  the EWMA covariance puts the whole book at sigma_target, capped again per asset, and
  scaled down to gross exposure <= 1.
- kelly: fractional Kelly kappa * mu / sigma^2 of daily log returns over a rolling window
  (long only: negative edges size to 0), capped per asset, gross exposure <= 1.

Config (env.sizing, set by the `sizing` group, e.g. `+sizing=vol_target`): `cap` (default:
env.max_position_weight), `band` (0.02), and the rule's own keys below. An ATR rule would
need high/low bars, which the Market does not carry (it holds closes and fill prices).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from ploutos.env.accounting import buy_outlay, round_lots
from ploutos.env.actions import DiscreteActions
from ploutos.env.types import BUY, SELL
from ploutos.errors import ConfigError
from ploutos.market import Market

TRADING_DAYS = 252


def _positive(sizing: DictConfig, key: str, default: float) -> float:
    value = sizing.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"env.sizing.{key}", f"must be a number > 0, got {value!r}")
    return float(value)


def _window(sizing: DictConfig, key: str, default: int) -> int:
    value = sizing.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ConfigError(f"env.sizing.{key}", f"must be an integer >= 2, got {value!r}")
    return value


def log_returns(close: torch.Tensor) -> np.ndarray:
    """[T, A] daily log returns of closes, row 0 zero (no return before the first bar)."""
    c = close.detach().cpu().to(torch.float64).numpy()
    out = np.zeros_like(c)
    out[1:] = np.log(c[1:] / c[:-1])
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def cap_and_gross(weights: np.ndarray, cap: float) -> np.ndarray:
    """Clip each weight to [0, cap], then scale rows whose sum passes 1 down to 1."""
    w = np.clip(np.nan_to_num(weights, nan=0.0, posinf=cap), 0.0, cap)
    gross = w.sum(axis=1, keepdims=True)
    return w / np.maximum(gross, 1.0)


def vol_target_weights(
    close: torch.Tensor, sigma_target: float, span: int, cap: float
) -> np.ndarray:
    """[T, A] target weights; row t reads closes up to t (see the module docstring)."""
    r = log_returns(close)
    t, a = r.shape
    # EWMA second moments of the returns r_1 .. r_t, pandas' adjust=False recursion.
    products = pd.DataFrame((r[1:, :, None] * r[1:, None, :]).reshape(t - 1, a * a))
    second = products.ewm(span=span, adjust=False).mean().to_numpy().reshape(t - 1, a, a)
    cov = np.concatenate((np.zeros((1, a, a)), second)) * TRADING_DAYS
    sigma = np.sqrt(np.einsum("tii->ti", cov))
    raw = (sigma_target / math.sqrt(a)) / np.where(sigma > 0, sigma, np.inf)
    raw = np.minimum(raw, cap)
    book = np.sqrt(np.einsum("ti,tij,tj->t", raw, cov, raw))
    scale = np.where(book > 0, sigma_target / np.where(book > 0, book, 1.0), 0.0)
    weights = cap_and_gross(raw * scale[:, None], cap)
    weights[: span + 1] = 0.0  # warm-up: fewer than `span` returns seen
    return weights


def kelly_weights(close: torch.Tensor, kappa: float, window: int, cap: float) -> np.ndarray:
    """[T, A] fractional Kelly weights on rolling estimates; row t reads closes up to t."""
    r = pd.DataFrame(log_returns(close)[1:])
    rolling = r.rolling(window, min_periods=window)
    mu, var = rolling.mean().to_numpy(), rolling.var().to_numpy()
    f = kappa * mu / np.where(var > 0, var, np.nan)
    weights = cap_and_gross(np.concatenate((np.zeros((1, r.shape[1])), f)), cap)
    return np.nan_to_num(weights, nan=0.0)


class RuleSizedActions(DiscreteActions):
    """Per-asset timing actions sized by a rule's causal target-weight table."""

    def __init__(self, n_assets: int) -> None:
        super().__init__(n_assets)
        self.target_weights: torch.Tensor | None = None
        self.band = 0.0

    def rule_weights(self, market: Market, sizing: DictConfig, cap: float) -> np.ndarray:
        raise NotImplementedError

    def bind(self, market: Market, env_cfg: DictConfig) -> RuleSizedActions:
        sizing = env_cfg.get("sizing") or DictConfig({})
        cap = _positive(sizing, "cap", float(env_cfg.get("max_position_weight", 0.25)))
        if cap > 1.0:
            raise ConfigError("env.sizing.cap", f"must be <= 1 (a weight), got {cap}")
        bound = type(self)(self.n_assets)
        bound.band = float(sizing.get("band", 0.02))
        if not 0.0 <= bound.band < 1.0:
            raise ConfigError("env.sizing.band", f"must be in [0, 1), got {bound.band}")
        table = self.rule_weights(market, sizing, cap)
        bound.target_weights = torch.as_tensor(table, dtype=torch.float64, device=market.device)
        return bound

    def orders(self, actions, cash, shares, price, params, fill_day):
        if self.target_weights is None:
            raise ValueError(
                f"'{self.name}' sizing needs its market tables: build envs with make_env"
            )
        target = self.target_weights.index_select(0, fill_day - 1)  # the decision day's row
        value = shares * price
        equity = (cash + value.sum(dim=1)).unsqueeze(1)  # cash [N] -> equity [N, 1]
        delta = target * equity - value
        code = actions.to(torch.float64)
        is_buy = code * (float(SELL) - code)  # 1 for BUY only (see discrete_orders)
        is_sell = code * (code - float(BUY)) * 0.5  # 1 for SELL only
        off = (delta.abs() > self.band * equity).to(torch.float64) * is_buy
        trim = round_lots((-delta).clamp(min=0.0) / price, params.lot_size)
        if params.sell_fraction >= 1.0:
            close = shares
        else:
            close = round_lots(shares * params.sell_fraction, params.lot_size)
        sells = torch.minimum(trim * off + close * is_sell, shares)
        gross = delta.clamp(min=0.0) * (1.0 + params.slippage)
        outlays = buy_outlay(gross, params) * off * (gross > 0).to(torch.float64)
        return sells, outlays, actions


class VolTargetActions(RuleSizedActions):
    name = "vol_target"

    def rule_weights(self, market: Market, sizing: DictConfig, cap: float) -> np.ndarray:
        return vol_target_weights(
            market.close,
            sigma_target=_positive(sizing, "sigma_target", 0.10),
            span=_window(sizing, "span", 60),
            cap=cap,
        )


class KellyActions(RuleSizedActions):
    name = "kelly"

    def rule_weights(self, market: Market, sizing: DictConfig, cap: float) -> np.ndarray:
        return kelly_weights(
            market.close,
            kappa=_positive(sizing, "kappa", 0.25),
            window=_window(sizing, "window", 120),
            cap=cap,
        )


SIZING_RULES: dict[str, Any] = {"vol_target": VolTargetActions, "kelly": KellyActions}
