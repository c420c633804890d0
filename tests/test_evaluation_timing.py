"""Timing classifier on constructed price paths with exact expected counts."""

from __future__ import annotations

import numpy as np
import pytest

from ploutos.evaluation.timing import timing_quality, timing_report


def _paths() -> np.ndarray:
    # Asset 0 rises 1 a day; asset 1 falls 1 a day; 12 days.
    days = np.arange(12, dtype=np.float64)
    return np.stack([100.0 + days, 100.0 - days], axis=1)


def test_buys_and_sells_on_trends() -> None:
    close = _paths()
    fill_days = np.arange(1, 12)  # rows are fill days 1..11
    buy = np.zeros((11, 2), dtype=bool)
    sell = np.zeros((11, 2), dtype=bool)
    buy[[0, 2, 4], 0] = True  # buys on the riser, fill days 1, 3, 5 -> all good (H=5)
    buy[[0, 1], 1] = True  # buys on the faller, fill days 1, 2 -> bad
    sell[[1, 3], 1] = True  # sells on the faller, fill days 2, 4 -> good
    sell[[5, 8, 10], 0] = True  # riser sells: day 6 -> bad (11 > 106); days 9, 11 unjudged
    q = timing_quality(buy, sell, close, fill_days, horizon=5, tickers=["UP", "DOWN"])
    assert (q["buy_good"], q["buy_bad"], q["buy_unjudged"]) == (3, 2, 0)
    assert (q["sell_good"], q["sell_bad"], q["sell_unjudged"]) == (2, 1, 2)
    assert q["buy_quality"] == pytest.approx(0.6)
    assert q["sell_quality"] == pytest.approx(2 / 3)
    assert q["per_ticker"]["UP"]["buy_quality"] == 1.0
    assert q["per_ticker"]["DOWN"]["buy_quality"] == 0.0
    assert q["per_ticker"]["DOWN"]["sell_good"] == 2
    assert q["per_ticker"]["UP"]["sell_unjudged"] == 2


def test_fill_price_not_close_decides() -> None:
    # Flat closes at 100: a buy filled at 99 is good (100 > 99), at 101 bad, at 100 bad
    # (no rise); a sell filled at 101 is good, at 100 bad.
    close = np.full((10, 1), 100.0)
    fill_days = np.array([1, 2, 3])
    price = np.array([[99.0], [101.0], [100.0]])
    buy = np.ones((3, 1), dtype=bool)
    q = timing_quality(buy, np.zeros_like(buy), close, fill_days, horizon=3, fill_price=price)
    assert (q["buy_good"], q["buy_bad"]) == (1, 2)
    sell = np.array([[True], [False], [True]])
    price = np.array([[101.0], [0.0], [100.0]])
    q = timing_quality(np.zeros_like(sell), sell, close, fill_days, horizon=3, fill_price=price)
    assert (q["sell_good"], q["sell_bad"]) == (1, 1)


def test_horizon_edge_is_unjudged() -> None:
    close = _paths()  # 12 days: day 6 + 5 = 11 is the last judgeable
    fill_days = np.array([6, 7])
    buy = np.ones((2, 2), dtype=bool)
    q = timing_quality(buy, np.zeros_like(buy), close, fill_days, horizon=5)
    assert (q["buy_good"], q["buy_bad"], q["buy_unjudged"]) == (1, 1, 2)


def test_no_trades_and_bad_horizon() -> None:
    close = _paths()
    none = np.zeros((3, 2), dtype=bool)
    q = timing_quality(none, none, close, np.arange(3), horizon=5)
    assert q["buy_quality"] == 0.0 and q["sell_quality"] == 0.0 and q["buy_good"] == 0
    with pytest.raises(ValueError, match="horizon"):
        timing_quality(none, none, close, np.arange(3), horizon=0)


def test_report_prints_like_the_seed() -> None:
    close = _paths()
    buy = np.zeros((11, 2), dtype=bool)
    buy[[0, 2, 4], 0] = True
    buy[0, 1] = True
    sell = np.zeros((11, 2), dtype=bool)
    sell[10, 0] = True
    q = timing_quality(buy, sell, close, np.arange(1, 12), tickers=["UP", "DOWN"])
    text = timing_report(q)
    assert "BUY timing: Good (buy low): 3 (75.0%) / Bad (buy high): 1 (25.0%)" in text
    assert "SELL timing: Good (sell high): 0 (0.0%) / Bad (sell low): 0 (0.0%)" in text
    assert "unjudged (within 5 days of the end): 1" in text
    assert "  UP:" in text and "  DOWN:" in text
