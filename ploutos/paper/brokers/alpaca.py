"""Alpaca over REST with alpaca-py; the paper endpoint unless told otherwise.

Daily bars need no stream: a session places day market orders after the close (Alpaca
queues them for the next open) and reads orders, positions and cash back. The keys come from
ALPACA_API_KEY / ALPACA_SECRET_KEY and go only into the client's request headers: this module
never logs, returns or stores them, and no error message here carries them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from ploutos.errors import ConfigError
from ploutos.paper.brokers.base import BrokerError, BrokerTimeout
from ploutos.paper.orders import BrokerOrder, OrderRequest

KEY_VARIABLES = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY")
_CLOSED_WITHOUT_FILL = {"canceled": "canceled", "expired": "expired", "done_for_day": "expired"}


def _status(raw: str, filled_qty: float) -> str:
    """Alpaca's order status in our terms; a working order (new, accepted, partially filled
    while the day goes on...) is 'accepted' until it is final."""
    if raw in ("filled", "rejected"):
        return raw
    if raw in _CLOSED_WITHOUT_FILL:
        return "partially_filled" if filled_qty > 0 else _CLOSED_WITHOUT_FILL[raw]
    return "accepted"


def _value(x: Any) -> str:
    return str(getattr(x, "value", x))


class AlpacaBroker:
    name = "alpaca"

    def __init__(self, client: TradingClient) -> None:
        self._client = client

    @classmethod
    def from_env(cls, paper: bool = True, environ: Mapping[str, str] | None = None) -> AlpacaBroker:
        env = os.environ if environ is None else environ
        missing = [k for k in KEY_VARIABLES if not env.get(k)]
        if missing:
            raise ConfigError(
                "broker", f"alpaca needs {' and '.join(missing)} set in the environment"
            )
        return cls(TradingClient(env[KEY_VARIABLES[0]], env[KEY_VARIABLES[1]], paper=paper))

    def _call(self, what: str, fn, *args):
        try:
            return fn(*args)
        except (requests.Timeout, requests.ConnectionError) as err:
            raise BrokerTimeout(f"alpaca: {what}: no answer ({type(err).__name__})") from None
        except APIError as err:
            raise BrokerError(f"alpaca: {what}: HTTP {err.status_code}: {err}") from None

    @staticmethod
    def _order(raw: Any) -> BrokerOrder:
        filled = float(raw.filled_qty or 0)
        return BrokerOrder(
            client_order_id=raw.client_order_id,
            broker_id=str(raw.id),
            ticker=raw.symbol,
            side=_value(raw.side),
            qty=float(raw.qty or 0),
            status=_status(_value(raw.status), filled),
            filled_qty=filled,
            fill_price=float(raw.filled_avg_price or 0),
            fee=0.0,  # commission-free; the reconciliation's cash tolerance covers fees
        )

    def submit(self, order: OrderRequest) -> BrokerOrder:
        request = MarketOrderRequest(
            symbol=order.ticker,
            qty=order.qty,
            side=OrderSide.BUY if order.side == "buy" else OrderSide.SELL,
            time_in_force=TimeInForce.DAY,
            client_order_id=order.client_order_id,
        )
        return self._order(self._call(f"submit {order.client_order_id}",
                                      self._client.submit_order, request))  # fmt: skip

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        try:
            raw = self._client.get_order_by_client_id(client_order_id)
        except APIError as err:
            if err.status_code == 404:
                return None
            raise BrokerError(
                f"alpaca: order {client_order_id}: HTTP {err.status_code}: {err}"
            ) from None
        except (requests.Timeout, requests.ConnectionError) as err:
            raise BrokerTimeout(
                f"alpaca: order {client_order_id}: no answer ({type(err).__name__})"
            ) from None
        return self._order(raw)

    def sync(self, trade_date: str) -> None:
        """Alpaca fills on its own; nothing to catch up."""

    def positions(self) -> dict[str, float]:
        held = self._call("positions", self._client.get_all_positions)
        return {p.symbol: float(p.qty) for p in held if float(p.qty) != 0}

    def cash(self) -> float:
        return float(self._call("account", self._client.get_account).cash)

    def close(self) -> None:
        """Nothing held open between requests."""
