"""Order execution on [N, A] float64 tensors: the one accounting engine (DESIGN invariant 3).

Conventions, shared by both action modes:
- Slippage moves the fill price against the trader: buys pay p (1 + s), sells get p (1 - s).
- A trade's fee is max(commission * gross, min_fee); a sell's fee never exceeds its gross,
  so selling can never push cash below zero.
- Buys are sized as cash outlays (gross + fee). When a day's outlays exceed the cash left
  after the sells, every buy is scaled by the same factor cash / total, so no asset index is
  favoured. The shares an outlay buys are then rounded down to lots, which only lowers it.
- Average entry price includes the buy fees, so a round trip wins only if it beat its costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ploutos.env.params import EnvParams
from ploutos.env.types import BUY, SELL


@dataclass(frozen=True)
class Fills:
    """The result of one day's trades (all float64 [N, A] except cash [N])."""

    cash: torch.Tensor
    shares: torch.Tensor
    entry: torch.Tensor
    bought: torch.Tensor
    sold: torch.Tensor
    fees: torch.Tensor
    price: torch.Tensor  # effective price of the fill (slippage included), else the raw price
    realized: torch.Tensor  # net proceeds minus entry cost of the shares sold


def round_lots(shares: torch.Tensor, lot_size: float) -> torch.Tensor:
    if lot_size <= 0:
        return shares
    return torch.floor(shares / lot_size) * lot_size


def buy_outlay(gross: torch.Tensor, params: EnvParams) -> torch.Tensor:
    """Cash a buy of `gross` (at the slipped price) costs, fee included."""
    if params.min_fee > 0:
        return gross + torch.clamp(params.commission * gross, min=params.min_fee)
    return gross * (1.0 + params.commission)


def execute(
    cash: torch.Tensor,
    shares: torch.Tensor,
    entry: torch.Tensor,
    price: torch.Tensor,
    sell_shares: torch.Tensor,
    buy_outlays: torch.Tensor,
    params: EnvParams,
) -> Fills:
    """Sell `sell_shares` [N, A] (<= shares), then buy with `buy_outlays` [N, A] (>= 0)."""
    c, min_fee = params.commission, params.min_fee
    sell_px = price * (1.0 - params.slippage)
    buy_px = price * (1.0 + params.slippage)

    sold = sell_shares
    sell_gross = sold * sell_px
    sell_fee = c * sell_gross
    if min_fee > 0:
        capped = torch.minimum(sell_fee.clamp(min=min_fee), sell_gross)
        sell_fee = torch.where(sold > 0, capped, 0.0)
    proceeds = sell_gross - sell_fee
    realized = proceeds - sold * entry
    cash = cash + proceeds.sum(dim=1)
    shares = shares - sold

    total = buy_outlays.sum(dim=1)
    ratio = torch.where(total > cash, cash / total.clamp(min=1e-300), 1.0)
    outlay = buy_outlays * ratio.unsqueeze(1)
    if min_fee > 0:
        gross = torch.minimum(outlay / (1.0 + c), outlay - min_fee).clamp(min=0.0)
    else:
        gross = outlay / (1.0 + c)
    bought = round_lots(gross / buy_px, params.lot_size)
    if params.lot_size > 0:
        gross = bought * buy_px
    buy_fee = c * gross
    if min_fee > 0:
        buy_fee = torch.where(bought > 0, buy_fee.clamp(min=min_fee), 0.0)
    # Outlays sum to at most cash; only rounding can overshoot it, by an ulp.
    cash = (cash - (gross + buy_fee).sum(dim=1)).clamp(min=0.0)

    new_shares = shares + bought
    cost = shares * entry + gross + buy_fee
    entry = torch.where(new_shares > 0, cost / torch.where(new_shares > 0, new_shares, 1.0), 0.0)
    fill_price = torch.where(bought > 0, buy_px, torch.where(sold > 0, sell_px, price))
    return Fills(
        cash=cash,
        shares=new_shares,
        entry=entry,
        bought=bought,
        sold=sold,
        fees=sell_fee + buy_fee,
        price=fill_price,
        realized=realized,
    )


def discrete_orders(
    actions: torch.Tensor,
    shares: torch.Tensor,
    price: torch.Tensor,
    equity: torch.Tensor,
    params: EnvParams,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sell_shares, buy_outlays) for per-asset HOLD/BUY/SELL actions int64 [N, A].

    A buy targets buy_fraction of equity (marked at the fill price), capped so that the
    position stays within max_position_weight of equity; a sell closes sell_fraction of it.
    """
    sell = actions == SELL
    if params.sell_fraction >= 1.0:
        sell_shares = torch.where(sell, shares, 0.0)
    else:
        part = round_lots(shares * params.sell_fraction, params.lot_size)
        sell_shares = torch.where(sell, part, 0.0)
    eq = equity.unsqueeze(1)
    room = (params.max_position_weight * eq - shares * price).clamp(min=0.0)
    gross = torch.minimum(params.buy_fraction * eq, room) * (1.0 + params.slippage)
    outlays = torch.where((actions == BUY) & (gross > 0), buy_outlay(gross, params), 0.0)
    return sell_shares, outlays


def weight_orders(
    logits: torch.Tensor,
    cash: torch.Tensor,
    shares: torch.Tensor,
    price: torch.Tensor,
    params: EnvParams,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(sell_shares, buy_outlays, target weights [N, A + 1]) for A + 1 logits (cash last)."""
    weights = torch.softmax(logits.to(torch.float64), dim=1)
    value = shares * price
    equity = cash + value.sum(dim=1)
    target = weights[:, :-1] * equity.unsqueeze(1)
    delta = target - value
    excess = (-delta).clamp(min=0.0) / price
    sell_shares = torch.minimum(round_lots(excess, params.lot_size), shares)
    buy_gross = delta.clamp(min=0.0) * (1.0 + params.slippage)
    outlays = torch.where(buy_gross > 0, buy_outlay(buy_gross, params), 0.0)
    return sell_shares, outlays, weights
