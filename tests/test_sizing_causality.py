"""Every sizer is causal: the order it sizes on day t reads bars up to t only (and the
price it fills at on t + 1).

Two markets agree up to day t and differ after it: closes, highs and lows from t + 1 on, fill
prices from t + 2 on (the fill price of t + 1 is the order's own execution price). Each rule's
table agrees on rows 0 .. t, and an env stepped with the same actions over both markets fills
exactly the same orders on every day up to t + 1, for every sizer: the default fixed fraction
(`discrete`) and the hybrid rules of ploutos/env/sizing.py. A rule that peeked one day ahead
would change the fill of t + 1. Each check also asserts that the later rows or fills do
differ, so a sizer that ignored its bars would fail.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from test_algos_sizing import env_cfg, regime_market, with_ranges

from ploutos.env import make_env
from ploutos.env.sizing import SIZING_RULES
from ploutos.env.types import BUY, HOLD, SELL
from ploutos.market import Market

CUT = 150  # the last day both markets share
SIZERS = ["discrete", *sorted(SIZING_RULES)]  # discrete: the fixed-fraction rule


def perturbed_after(market: Market, day: int, seed: int = 1) -> Market:
    """`market` with the bars after `day` scaled by random factors, field by field, and a 30%
    jump on day + 1 (so any rule that read it would size differently: it turns even Kelly's
    rolling mean positive); the fill price of day + 1, what an order decided on `day`
    executes at, is kept."""
    rng = np.random.default_rng(seed)

    def shake(prices: torch.Tensor, first: int) -> torch.Tensor:
        out = prices.clone()
        factors = 1.3 * np.exp(rng.normal(0.0, 0.05, out[first:].shape))
        out[first:] *= torch.as_tensor(factors)
        return out

    return replace(
        market,
        close=shake(market.close, day + 1),
        fill=shake(market.fill, day + 2),
        high=shake(market.high, day + 1),
        low=shake(market.low, day + 1),
    )


def markets() -> tuple[Market, Market]:
    base = with_ranges(regime_market(n_days=260, switch=120, n_assets=2), wick=0.01)
    return base, perturbed_after(base, CUT)


def sizer_cfg(mode: str):
    # Short windows, so every rule's table is warmed up well before CUT, and a small Kelly
    # fraction, so its weights sit below the cap where a change in the bars shows.
    return env_cfg(mode, span=20, window=20, sigma_target=0.10, kappa=0.02, cap=0.5)


@pytest.mark.parametrize("rule", sorted(SIZING_RULES))
def test_a_rules_table_rows_up_to_t_ignore_later_bars(rule):
    base, changed = markets()
    tables = [
        make_env(sizer_cfg(rule), m, 1, evaluation=True).action_space.target_weights.numpy()
        for m in (base, changed)
    ]
    np.testing.assert_array_equal(tables[0][: CUT + 1], tables[1][: CUT + 1])
    assert np.abs(tables[0][CUT + 1 :]).sum() > 0  # warmed up, so a change could show
    assert not np.array_equal(tables[0][CUT + 2 :], tables[1][CUT + 2 :])


def fills_by_day(market: Market, mode: str) -> dict[int, np.ndarray]:
    """Filled shares per fill day under one fixed schedule of buys, holds and sells, with a
    BUY of both assets decided on CUT (its fill on CUT + 1 is where a peek would show)."""
    env = make_env(sizer_cfg(mode), market, n_envs=1, split="train", evaluation=True)
    env.reset()
    pattern = [BUY, BUY, HOLD, BUY, SELL, HOLD, BUY, HOLD, HOLD, SELL, BUY]
    fills: dict[int, np.ndarray] = {}
    for step in range(env.episode_days):
        code = pattern[step % len(pattern)]
        actions = torch.tensor([[code, pattern[(step + 3) % len(pattern)]]])
        if int(env.day[0]) == CUT:
            actions = torch.tensor([[BUY, BUY]])
        _, _, terminated, _, info = env.step(actions)
        fills[int(info["day"][0])] = info["filled_shares"][0].numpy().copy()
        if bool(terminated[0]):
            break
    return fills


@pytest.mark.parametrize("mode", SIZERS)
def test_a_sizers_orders_up_to_t_ignore_later_bars(mode):
    base, changed = markets()
    before, after = fills_by_day(base, mode), fills_by_day(changed, mode)
    assert before.keys() == after.keys()
    shared = [day for day in before if day <= CUT + 1]
    later = [day for day in before if day > CUT + 1]
    traded = sum(float(np.abs(before[day]).sum()) > 0 for day in shared)
    assert traded > 20  # the rule sized real orders before the cut
    assert np.abs(before[CUT + 1]).sum() > 0  # and the BUY decided on CUT did trade
    for day in shared:
        np.testing.assert_array_equal(before[day], after[day], err_msg=f"fill day {day}")
    assert any(not np.array_equal(before[day], after[day]) for day in later)
