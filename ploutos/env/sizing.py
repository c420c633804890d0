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
- atr: risk `risk_fraction` of equity over `atr_multiple` x ATR, i.e. hold risk_fraction x
  equity / (atr_multiple x ATR) shares, capped per asset, gross exposure <= 1. ATR is Wilder's
  average true range over `window` days (TA-Lib's convention: the first true range is day 1's,
  the first ATR the mean of `window` of them, then ATR_t = ATR_{t-1} + (TR_t - ATR_{t-1}) /
  window). Its table holds risk_fraction / (atr_multiple x ATR) per asset, a weight per unit
  of price: the fill price turns it into the target weight inside the step. It needs daily
  highs and lows (Market.high / Market.low), so close-only data stops with a DataError.

Config (env.sizing, set by the `sizing` group, e.g. `+sizing=vol_target`): `cap` (default:
env.max_position_weight), `band` (0.02), and the rule's own keys below.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from scipy.signal import lfilter

from ploutos.env.accounting import buy_outlay, round_lots
from ploutos.env.actions import DiscreteActions
from ploutos.env.types import BUY, SELL
from ploutos.errors import ConfigError, DataError
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


def wilder_atr(
    high: torch.Tensor, low: torch.Tensor, close: torch.Tensor, window: int
) -> np.ndarray:
    """[T, A] Wilder's average true range; row t reads bars up to t, NaN before `window`
    true ranges exist (rows 0 .. window - 1)."""
    h, lo, c = (x.detach().cpu().to(torch.float64).numpy() for x in (high, low, close))
    previous = c[:-1]
    true_range = np.maximum.reduce(
        [h[1:] - lo[1:], np.abs(h[1:] - previous), np.abs(lo[1:] - previous)]
    )  # [T - 1, A]: day 1 onward, as a true range needs the previous close
    atr = np.full_like(c, np.nan)
    if len(true_range) < window:
        return atr
    first = true_range[:window].mean(axis=0)
    atr[window] = first
    if len(true_range) == window:
        return atr
    # The rest of Wilder's recursion as a first-order linear filter started from `first`.
    decay = 1.0 - 1.0 / window
    atr[window + 1 :] = lfilter(
        [1.0 / window], [1.0, -decay], true_range[window:], axis=0, zi=(decay * first)[None, :]
    )[0]
    return atr


def atr_risk_per_price(
    high: torch.Tensor, low: torch.Tensor, close: torch.Tensor,
    risk_fraction: float, atr_multiple: float, window: int,
) -> np.ndarray:  # fmt: skip
    """[T, A] risk_fraction / (atr_multiple x ATR): times a price, the weight whose shares
    risk `risk_fraction` of equity over atr_multiple x ATR; 0 before the ATR exists."""
    atr = wilder_atr(high, low, close, window)
    per_price = risk_fraction / (atr_multiple * np.where(atr > 0, atr, np.nan))
    return np.nan_to_num(per_price, nan=0.0)


class RuleSizedActions(DiscreteActions):
    """Per-asset timing actions sized by a rule's causal per-day table."""

    def __init__(self, n_assets: int) -> None:
        super().__init__(n_assets)
        self.target_weights: torch.Tensor | None = None  # the rule's [T, A] table
        self.band = 0.0
        self.cap = 1.0

    def rule_weights(self, market: Market, sizing: DictConfig, cap: float) -> np.ndarray:
        raise NotImplementedError

    def targets(self, rows: torch.Tensor, price: torch.Tensor) -> torch.Tensor:
        """[N, A] target weights at the fill from the decision day's table rows."""
        return rows

    def bind(self, market: Market, env_cfg: DictConfig) -> RuleSizedActions:
        sizing = env_cfg.get("sizing") or DictConfig({})
        cap = _positive(sizing, "cap", float(env_cfg.get("max_position_weight", 0.25)))
        if cap > 1.0:
            raise ConfigError("env.sizing.cap", f"must be <= 1 (a weight), got {cap}")
        bound = type(self)(self.n_assets)
        bound.cap = cap
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
        rows = self.target_weights.index_select(0, fill_day - 1)  # the decision day's rows
        target = self.targets(rows, price)
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


class ATRActions(RuleSizedActions):
    name = "atr"

    def rule_weights(self, market: Market, sizing: DictConfig, cap: float) -> np.ndarray:
        missing = [name for name in ("high", "low") if getattr(market, name) is None]
        if missing:
            raise DataError(
                f"sizing=atr needs daily highs and lows, and this market has no "
                f"{' or '.join(missing)} column (close-only data): use data with OHLC bars "
                f"(data=synthetic, data=yahoo) or another sizing rule"
            )
        return atr_risk_per_price(
            market.high, market.low, market.close,
            risk_fraction=_positive(sizing, "risk_fraction", 0.01),
            atr_multiple=_positive(sizing, "atr_multiple", 2.0),
            window=_window(sizing, "window", 14),
        )  # fmt: skip

    def targets(self, rows: torch.Tensor, price: torch.Tensor) -> torch.Tensor:
        weights = (rows * price).clamp(max=self.cap)
        gross = weights.sum(dim=1, keepdim=True)
        return weights / gross.clamp(min=1.0)


SIZING_RULES: dict[str, Any] = {
    "vol_target": VolTargetActions,
    "kelly": KellyActions,
    "atr": ATRActions,
}
