"""The Broker protocol every paper broker implements, and its errors."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ploutos.errors import PloutosError
from ploutos.paper.orders import BrokerOrder, OrderRequest


class BrokerError(PloutosError):
    """The broker refused a request or could not be reached."""


class BrokerTimeout(BrokerError):
    """No answer in time: the request may or may not have reached the broker, so the caller
    looks the order up by its client id before sending anything again."""


@runtime_checkable
class Broker(Protocol):
    """What a trading session asks of a broker.

    submit: place a market order for the next session's open; idempotent on the client id
      (a second submit of the same id returns the existing order);
    get_order: the order with this client id, or None when the broker never received it;
    sync: let the broker catch up to the close of trade_date (the simulator fills the orders
      due by then; a real broker fills on its own and does nothing here);
    positions: shares held per ticker (non-zero only); cash: the account's cash.
    """

    name: str

    def submit(self, order: OrderRequest) -> BrokerOrder: ...

    def get_order(self, client_order_id: str) -> BrokerOrder | None: ...

    def sync(self, trade_date: str) -> None: ...

    def positions(self) -> dict[str, float]: ...

    def cash(self) -> float: ...

    def close(self) -> None: ...
