"""Fault injection for tests and drills: a broker that misbehaves and a feed with bad days.

FaultyBroker wraps any Broker:
- timeout_after_accept: client ids whose submit reaches the broker, then raises BrokerTimeout
  (the answer is lost; the session must find the order by id and not send it twice);
- reject: tickers whose orders the broker rejects;
- partial: fraction of the requested shares that reaches the broker for every order (the
  rest never fills), as a partial fill.
FaultyFeed wraps a DataFeed: per trade date, "nan" (a NaN close of the first ticker on that
date), "missing" (the last ticker has no bars at all) or "stale" (no bar dated that day).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ploutos.data.bars import Bars
from ploutos.paper.brokers.base import Broker, BrokerTimeout
from ploutos.paper.feed import DataFeed, DayBars, cut_rows
from ploutos.paper.orders import BrokerOrder, OrderRequest

FEED_FAULTS = ("nan", "missing", "stale")


@dataclass
class FaultyBroker:
    inner: Broker
    timeout_after_accept: Collection[str] = ()
    reject: Collection[str] = ()
    partial: float = 1.0
    submits: list[str] = field(default_factory=list)  # every client id that reached inner

    @property
    def name(self) -> str:
        return f"faulty({self.inner.name})"

    def submit(self, order: OrderRequest) -> BrokerOrder:
        if order.ticker in self.reject:
            return BrokerOrder(order.client_order_id, "rejected", order.ticker, order.side,
                               order.qty, "rejected", reason="injected reject")  # fmt: skip
        sent = replace(order, qty=order.qty * self.partial)
        self.submits.append(order.client_order_id)
        placed = self.inner.submit(sent)
        if order.client_order_id in self.timeout_after_accept:
            raise BrokerTimeout(
                f"injected timeout after the broker accepted {order.client_order_id}"
            )
        return replace(placed, qty=order.qty)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        return self.inner.get_order(client_order_id)

    def sync(self, trade_date: str) -> None:
        self.inner.sync(trade_date)

    def positions(self) -> dict[str, float]:
        return self.inner.positions()

    def cash(self) -> float:
        return self.inner.cash()

    def close(self) -> None:
        self.inner.close()


class FaultyFeed(DataFeed):
    """A DataFeed whose bars are broken on the given trade dates (see the module docstring)."""

    def __init__(self, feed: DataFeed, faults: Mapping[str, str]) -> None:
        super().__init__(feed.cfg, feed.downloader)
        unknown = {k: v for k, v in faults.items() if v not in FEED_FAULTS}
        if unknown:
            raise ValueError(f"unknown feed faults {unknown}; use {FEED_FAULTS}")
        self.faults = dict(faults)
        self._current: str | None = None

    def day(self, trade_date: str, expected: Sequence[str], lookahead: bool) -> DayBars:
        self._current = trade_date
        try:
            return super().day(trade_date, expected, lookahead)
        finally:
            self._current = None

    def history(self, through: str, ahead_days: int = 0) -> Bars:
        bars = super().history(through, ahead_days)
        fault = self.faults.get(self._current or "")
        if fault is None:
            return bars
        day = np.datetime64(self._current, "D")
        if fault == "stale":
            return cut_rows(bars, day - np.timedelta64(1, "D"))
        if fault == "missing":
            return replace(bars, tickers=bars.tickers[:-1],
                           **{f: getattr(bars, f)[:, :-1] for f in bars.columns})  # fmt: skip
        close = bars.close.copy()
        close[np.searchsorted(bars.dates, day), 0] = np.nan
        return replace(bars, close=close)
