"""The simulated broker: an offline exchange with its own books in a SQLite file.

Orders placed after a close fill at the next session's open (its close on close-only data)
for exactly the requested shares, at that price moved against the trader by the env's
slippage, paying the env's commission (and minimum fee), the conventions of
ploutos.env.accounting. A buy the cash cannot pay for is rejected, as is a sell of shares
the account does not hold. Its state lives apart from the ledger, like a real broker's, so
reconciling the two means something; every change is one SQLite transaction.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from ploutos.env.params import EnvParams
from ploutos.paper.brokers.base import BrokerError
from ploutos.paper.feed import DataFeed
from ploutos.paper.orders import BrokerOrder, OrderRequest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS account (id INTEGER PRIMARY KEY CHECK (id = 0), cash REAL NOT NULL);
CREATE TABLE IF NOT EXISTS positions (ticker TEXT PRIMARY KEY, qty REAL NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    broker_id INTEGER NOT NULL,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,
    qty REAL NOT NULL,
    trade_date TEXT NOT NULL,
    fill_date TEXT NOT NULL,
    status TEXT NOT NULL,
    filled_qty REAL NOT NULL DEFAULT 0,
    fill_price REAL NOT NULL DEFAULT 0,
    fee REAL NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT ''
);
"""
# The env scales a day's buys to the cash left, up to rounding; a buy that overshoots the cash
# by that much is filled (as the env fills it), one that needs more is rejected.
_CASH_SLACK = 1e-9
_COLUMNS = (
    "client_order_id, broker_id, ticker, side, qty, status, filled_qty, fill_price, fee, reason"
)


class SimBroker:
    name = "sim"

    def __init__(self, path: str | Path, params: EnvParams, feed: DataFeed) -> None:
        self.path = Path(path)
        self.params = params
        self.feed = feed
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._conn.execute(
            "INSERT OR IGNORE INTO account (id, cash) VALUES (0, ?)", (params.initial_cash,)
        )

    def close(self) -> None:
        self._conn.close()

    def _order(self, row: tuple) -> BrokerOrder:
        cid, bid, ticker, side, qty, status, filled, price, fee, reason = row
        return BrokerOrder(cid, f"sim-{bid}", ticker, side, qty, status, filled, price, fee, reason)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        return None if row is None else self._order(row)

    def submit(self, order: OrderRequest) -> BrokerOrder:
        if order.qty <= 0 or not np.isfinite(order.qty):
            raise BrokerError(f"order {order.client_order_id}: qty must be > 0, got {order.qty}")
        (next_id,) = self._conn.execute("SELECT COUNT(*) + 1 FROM orders").fetchone()
        self._conn.execute(
            "INSERT OR IGNORE INTO orders (client_order_id, broker_id, ticker, side, qty, "
            "trade_date, fill_date, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'accepted')",
            (order.client_order_id, next_id, order.ticker, order.side, order.qty,
             order.trade_date, order.fill_date),
        )  # fmt: skip
        found = self.get_order(order.client_order_id)
        assert found is not None
        return found

    def positions(self) -> dict[str, float]:
        rows = self._conn.execute("SELECT ticker, qty FROM positions WHERE qty != 0")
        return {t: q for t, q in rows}

    def cash(self) -> float:
        return float(self._conn.execute("SELECT cash FROM account").fetchone()[0])

    def sync(self, trade_date: str) -> None:
        """Fill every accepted order due on or before trade_date at its fill date's price."""
        due = self._conn.execute(
            "SELECT DISTINCT fill_date FROM orders WHERE status = 'accepted' AND fill_date <= ? "
            "ORDER BY fill_date",
            (trade_date,),
        ).fetchall()
        for (fill_date,) in due:
            self._fill_day(fill_date)

    def _fill_day(self, fill_date: str) -> None:
        bars = self.feed.history(fill_date)
        if bars.n_days == 0 or str(bars.dates[-1]) != fill_date:
            raise BrokerError(f"sim broker: no bar for the fill date {fill_date}")
        prices = bars.open if bars.open is not None else bars.close
        price_of = {t: float(prices[-1, a]) for a, t in enumerate(bars.tickers)}
        orders = self._conn.execute(
            "SELECT client_order_id, ticker, side, qty FROM orders WHERE status = 'accepted' "
            "AND fill_date = ? ORDER BY side DESC, broker_id",  # sells first, as the env
            (fill_date,),
        ).fetchall()
        c, s, min_fee = self.params.commission, self.params.slippage, self.params.min_fee
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            cash = self.cash()
            for cid, ticker, side, qty in orders:
                held = self.positions().get(ticker, 0.0)
                sign = 1.0 if side == "buy" else -1.0
                px = price_of[ticker] * (1.0 + sign * s)
                gross = qty * px
                fee = max(c * gross, min_fee) if min_fee > 0 else c * gross
                if side == "sell":
                    fee = min(fee, gross)
                reason = ""
                if side == "sell" and qty > held:
                    reason = f"sell of {qty} exceeds the {held} shares held"
                elif side == "buy" and gross + fee > cash + _CASH_SLACK * max(cash, 1.0):
                    reason = f"buy costs {gross + fee:.2f}, more than the cash {cash:.2f}"
                if reason:
                    self._conn.execute(
                        "UPDATE orders SET status = 'rejected', reason = ? "
                        "WHERE client_order_id = ?",
                        (reason, cid),
                    )
                    continue
                cash = cash - (gross + fee) if side == "buy" else cash + (gross - fee)
                self._conn.execute(
                    "INSERT INTO positions (ticker, qty) VALUES (?, ?) ON CONFLICT (ticker) "
                    "DO UPDATE SET qty = excluded.qty",
                    (ticker, held + qty if side == "buy" else held - qty),
                )
                self._conn.execute(
                    "UPDATE orders SET status = 'filled', filled_qty = qty, fill_price = ?, "
                    "fee = ? WHERE client_order_id = ?",
                    (px, fee, cid),
                )
            self._conn.execute("UPDATE account SET cash = ?", (cash,))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
