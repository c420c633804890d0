"""The one-engine invariant for paper trading: replaying history day by day (one session per
day, a fresh engine restored from the ledger each time, orders through the simulated broker)
gives the backtest's equity and trades."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from paper_helpers import backtest_log, open_account, shared_checkpoint

START, END = "2002-07-01", "2002-08-30"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    ckpt = shared_checkpoint()
    log = backtest_log(ckpt, START, END)
    dates = [str(d) for d in log.dates]
    ledger, broker, session = open_account(tmp_path_factory.mktemp("acct"), ckpt, len(dates) - 1)
    results = [session.run(d) for d in dates]
    yield log, dates, ledger.state(), broker, results
    ledger.close()
    broker.close()


def test_equity_equals_the_backtest(replayed) -> None:
    log, dates, state, _, results = replayed
    assert [r.status for r in results] == ["done"] * len(dates)
    nav = np.array([state.navs[d]["nav"] for d in dates])
    expected = np.array([state.navs[d]["expected"] for d in dates])
    backtest = log.equity[:, 0]
    # The engine's books are the backtest's, bit for bit; the ledger books the broker's fills.
    np.testing.assert_array_equal(expected, backtest)
    np.testing.assert_allclose(nav, backtest, rtol=0, atol=1e-9)
    assert abs(backtest[-1] - backtest[0]) > 1.0  # the account moved


def test_trades_equal_the_backtest(replayed) -> None:
    log, dates, state, _, _ = replayed
    tickers = list(log.tickers)
    filled = np.zeros_like(log.filled_shares[:, 0])
    price = np.zeros_like(filled)
    fees = np.zeros_like(filled)
    for fill in state.fills.values():
        row = dates.index(fill["fill_date"]) - 1
        col = tickers.index(fill["ticker"])
        sign = 1.0 if fill["side"] == "buy" else -1.0
        filled[row, col] = sign * fill["qty"]
        price[row, col] = fill["price"]
        fees[row, col] = fill["fee"]
    traded = log.filled_shares[:, 0] != 0
    assert traded.sum() == len(state.fills) > 20
    np.testing.assert_array_equal(filled, log.filled_shares[:, 0])
    np.testing.assert_allclose(price[traded], log.fill_price[:, 0][traded], rtol=1e-15, atol=0)
    np.testing.assert_allclose(fees, log.fees[:, 0], rtol=0, atol=1e-9)


def test_ledger_equals_broker_and_decisions_are_recorded(replayed) -> None:
    _, dates, state, broker, _ = replayed
    assert {t: q for t, q in state.positions.items() if q} == broker.positions()
    assert state.cash == broker.cash()
    assert sorted(state.decisions) == dates[:-1]  # no decision on the account's last day
    assert sorted(state.reconciled) == dates
    assert not state.alarms and state.kill is None


def test_rerunning_a_finished_day_is_a_no_op(tmp_path: Path) -> None:
    ckpt = shared_checkpoint()
    ledger, broker, session = open_account(tmp_path, ckpt, horizon=5)
    first = session.run(START)
    assert first.status == "done"
    before = list(ledger.events())
    again = session.run(START)
    assert again.status == "already done"
    assert list(ledger.events()) == before
    ledger.close()
    broker.close()
