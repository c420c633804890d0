"""Order execution on [N, A] float64 tensors: the one accounting engine (docs/design.md #3).

Conventions, shared by both action modes:
- Slippage moves the fill price against the trader: buys pay p (1 + s), sells get p (1 - s).
- A trade's fee is max(commission * gross, min_fee); a sell's fee never exceeds its gross,
  so selling can never push cash below zero.
- Buys are sized as cash outlays (gross + fee). When a day's outlays exceed the cash left
  after the sells, every buy is scaled by the same factor cash / total, so no asset index is
  favoured. The shares an outlay buys are then rounded down to lots, which only lowers it.
- Average entry price includes the buy fees, so a round trip wins only if it beat its costs.

Masks are applied by multiplying with 0/1 float tensors rather than torch.where: on the CPU,
where over [N, A] with unpredictable masks costs 20x an add (branchy, unvectorized kernel),
and it was most of a step's time. Every masked quantity is finite, so x * 0 is exactly 0.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ploutos.env.params import EnvParams
from ploutos.env.types import BUY, SELL


class Fills(NamedTuple):
    """The result of one day's trades (all float64 [N, A] except cash [N])."""

    cash: torch.Tensor
    shares: torch.Tensor
    entry: torch.Tensor
    bought: torch.Tensor
    sold: torch.Tensor
    fees: torch.Tensor
    price: torch.Tensor  # effective price of the fill (slippage included), else the raw price
    realized: torch.Tensor  # net proceeds minus entry cost of the shares sold


def as_mask(condition: torch.Tensor) -> torch.Tensor:
    """A bool condition as a float64 0/1 tensor, for branch-free masking."""
    return condition.to(torch.float64)


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
    is_sold = as_mask(sold > 0)
    sell_gross = sold * sell_px
    sell_fee = c * sell_gross
    if min_fee > 0:
        sell_fee = torch.minimum(sell_fee.clamp(min=min_fee), sell_gross) * is_sold
    proceeds = sell_gross - sell_fee
    realized = proceeds - sold * entry
    cash = cash + proceeds.sum(dim=1)
    shares = shares - sold

    # Scale every buy by min(1, cash / total) so no asset index is favoured.
    total = buy_outlays.sum(dim=1)
    ratio = (cash / total.clamp(min=1e-300)).clamp(max=1.0)
    outlay = buy_outlays * ratio.unsqueeze(1)
    if min_fee > 0:
        gross = torch.minimum(outlay / (1.0 + c), outlay - min_fee).clamp(min=0.0)
    else:
        gross = outlay / (1.0 + c)
    bought = round_lots(gross / buy_px, params.lot_size)
    if params.lot_size > 0:
        gross = bought * buy_px
    is_bought = as_mask(bought > 0)
    buy_fee = c * gross
    if min_fee > 0:
        buy_fee = buy_fee.clamp(min=min_fee) * is_bought
    # Outlays sum to at most cash; only rounding can overshoot it, by an ulp.
    cash = (cash - (gross + buy_fee).sum(dim=1)).clamp(min=0.0)

    new_shares = shares + bought
    held = as_mask(new_shares > 0)
    cost = shares * entry + gross + buy_fee
    # A flat asset has cost 0; dividing it by 1 instead of 0 keeps its entry at exactly 0.
    entry = cost / (new_shares + (1.0 - held)) * held
    # An asset is bought or sold on a day, never both, so one factor prices either side.
    fill_price = price * (1.0 + params.slippage * (is_bought - is_sold))
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
    code = actions.to(torch.float64)
    # For codes 0 (HOLD), 1 (BUY), 2 (SELL): a (2 - a) is 1 only for BUY, a (a - 1) / 2 only
    # for SELL; two float products are cheaper than two comparisons and two casts.
    is_buy = code * (float(SELL) - code)
    is_sell = code * (code - float(BUY)) * 0.5
    if params.sell_fraction >= 1.0:
        sell_shares = shares * is_sell
    else:
        sell_shares = round_lots(shares * params.sell_fraction, params.lot_size) * is_sell
    eq = equity.unsqueeze(1)
    room = (params.max_position_weight * eq - shares * price).clamp(min=0.0)
    gross = torch.minimum(params.buy_fraction * eq, room) * (1.0 + params.slippage)
    outlays = buy_outlay(gross, params) * (is_buy * as_mask(gross > 0))
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
    outlays = buy_outlay(buy_gross, params) * as_mask(buy_gross > 0)
    return sell_shares, outlays, weights
