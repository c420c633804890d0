"""Orders as the session and every broker see them, and the deterministic client order id."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any

SIDES = ("buy", "sell")
# Statuses after which a broker changes the order no more.
FINAL_STATUSES = ("filled", "partially_filled", "canceled", "expired", "rejected")
_MAX_ID = 48  # Alpaca allows 128 characters; short ids keep logs readable


def client_order_id(account: str, trade_date: str, ticker: str, side: str) -> str:
    """The one id of the order for (account, trade date, ticker, side).

    A retry after a crash or a timeout derives the same id, looks it up at the broker and
    never sends the order twice. Long account names are shortened to a stable hash.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", account)
    tail = f"{trade_date}-{ticker}-{side}"
    if len(safe) + len(tail) + 1 > _MAX_ID:
        safe = hashlib.sha256(account.encode()).hexdigest()[:10]
    return f"{safe}-{tail}"


@dataclass(frozen=True)
class OrderRequest:
    """A market order for `qty` shares, decided after the close of trade_date, meant to
    fill at the next session's open (fill_date)."""

    client_order_id: str
    ticker: str
    side: str
    qty: float
    trade_date: str
    fill_date: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BrokerOrder:
    """An order as the broker reports it; fill_price is the average, slippage included."""

    client_order_id: str
    broker_id: str
    ticker: str
    side: str
    qty: float
    status: str
    filled_qty: float = 0.0
    fill_price: float = 0.0
    fee: float = 0.0
    reason: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
