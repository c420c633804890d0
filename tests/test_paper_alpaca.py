"""The Alpaca broker against HTTP responses from tests/fixtures/paper/alpaca: orders by
client id, positions, cash, errors and timeouts, the paper endpoint; and a live session
through it whose keys never reach a log, the ledger or the report.

The responses are recorded-shaped, not captured (tests have no network): each fixture is
exactly an alpaca-py model's JSON dump (Order, Position, TradeAccount: every field, nothing
else; illustrative values), and every response the fake server sends is
built through that model class, so an alpaca-py upgrade that adds, drops or retypes a field
fails here rather than in a live session. The error bodies parse as alpaca-py's APIError."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.models import Order, Position, TradeAccount
from paper_helpers import shared_checkpoint
from requests.adapters import BaseAdapter

from ploutos.paper.brokers.alpaca import AlpacaBroker
from ploutos.paper.brokers.base import BrokerError, BrokerTimeout
from ploutos.paper.feed import DataFeed
from ploutos.paper.ledger import Ledger
from ploutos.paper.model import PaperModel
from ploutos.paper.orders import OrderRequest
from ploutos.paper.report import write_report
from ploutos.paper.session import AccountSpec, Session

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "paper" / "alpaca"
KEY, SECRET = "PKTESTKEY0123456789XY", "sEcReT-do-not-leak-0123456789abcdefghij"


MODELS = {"order.json": Order, "position.json": Position, "account.json": TradeAccount}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def recorded(name: str, **changes) -> dict:
    """The recorded response `name` with `changes`, through its alpaca-py model."""
    return MODELS[name].model_validate({**fixture(name), **changes}).model_dump(mode="json")


class RecordedAlpaca(BaseAdapter):
    """Serves the recorded responses as a paper account would: orders kept by client id,
    filled by fill_all() (the next open), positions and cash following the fills."""

    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[str, dict] = {}
        self.cash = float(recorded("account.json")["cash"])
        self.held: dict[str, float] = {}
        self.requests: list[requests.PreparedRequest] = []
        self.timeout_next_submit = False
        self.forbid = False

    def fill_all(self, prices: dict[str, float]) -> None:
        for order in self.orders.values():
            if order["status"] != "accepted":
                continue
            qty, px = float(order["qty"]), prices[order["symbol"]]
            sign = 1.0 if order["side"] == "buy" else -1.0
            self.held[order["symbol"]] = self.held.get(order["symbol"], 0.0) + sign * qty
            self.cash -= sign * qty * px
            self.orders[order["client_order_id"]] = recorded(
                "order.json", **{**order, "status": "filled", "filled_qty": order["qty"],
                                 "filled_avg_price": repr(px),
                                 "filled_at": "2021-03-17T13:30:01.118541Z"})  # fmt: skip

    def _reply(self, request, status: int, body) -> requests.Response:
        response = requests.Response()
        response.status_code, response.request, response.url = status, request, request.url
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    def send(self, request, **kwargs) -> requests.Response:
        self.requests.append(request)
        url = urlparse(request.url)
        route = (request.method, url.path)
        if self.forbid:
            return self._reply(request, 403, fixture("forbidden.json"))
        if route == ("POST", "/v2/orders"):
            if self.timeout_next_submit:
                self.timeout_next_submit = False
                self._accept(json.loads(request.body))
                raise requests.ReadTimeout("read timed out")
            return self._reply(request, 200, self._accept(json.loads(request.body)))
        if route == ("GET", "/v2/orders:by_client_order_id"):
            cid = parse_qs(url.query)["client_order_id"][0]
            if cid not in self.orders:
                return self._reply(request, 404, fixture("not_found.json"))
            return self._reply(request, 200, self.orders[cid])
        if route == ("GET", "/v2/positions"):
            rows = [recorded("position.json", symbol=symbol, qty=repr(qty), qty_available=repr(qty))
                    for symbol, qty in self.held.items()]  # fmt: skip
            return self._reply(request, 200, rows)
        if route == ("GET", "/v2/account"):
            return self._reply(request, 200, recorded("account.json", cash=repr(self.cash)))
        raise AssertionError(f"no recorded response for {route}")

    def _accept(self, body: dict) -> dict:
        # The API answers numbers as strings, whatever the request sent.
        intent = "buy_to_open" if body["side"] == "buy" else "sell_to_close"
        order = recorded("order.json", id=str(uuid.uuid4()), qty=str(body["qty"]),
                         position_intent=intent,
                         **{k: body[k] for k in ("symbol", "side", "time_in_force",
                                                 "client_order_id")})  # fmt: skip
        self.orders[body["client_order_id"]] = order
        return order

    def close(self) -> None:
        return None


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixtures_are_alpaca_py_models_exactly(name: str) -> None:
    doc = fixture(name)
    model = MODELS[name]
    assert set(doc) == set(model.model_fields), name  # every field of the model, no other
    assert model.model_validate(doc).model_dump(mode="json") == doc  # types and values as is


@pytest.mark.parametrize(("name", "status"), [("forbidden.json", 403), ("not_found.json", 404)])
def test_error_fixtures_parse_as_alpaca_py_errors(name: str, status: int) -> None:
    doc = fixture(name)
    response = requests.Response()
    response.status_code = status
    error = APIError(json.dumps(doc), requests.HTTPError(response=response))
    assert (error.code, error.message, error.status_code) == (doc["code"], doc["message"], status)


@pytest.fixture
def alpaca(monkeypatch):
    monkeypatch.setenv("ALPACA_API_KEY", KEY)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
    broker = AlpacaBroker.from_env()
    server = RecordedAlpaca()
    broker._client._session.mount("https://", server)
    return broker, server


def test_orders_by_client_id_on_the_paper_endpoint(alpaca) -> None:
    broker, server = alpaca
    order = OrderRequest("acct-2021-03-16-AAPL-buy", "AAPL", "buy", 2.5, "2021-03-16",
                         "2021-03-17")  # fmt: skip
    assert broker.get_order(order.client_order_id) is None
    placed = broker.submit(order)
    assert (placed.status, placed.qty, placed.ticker) == ("accepted", 2.5, "AAPL")
    assert placed.side == "buy"
    server.fill_all({"AAPL": 120.25})
    found = broker.get_order(order.client_order_id)
    assert (found.status, found.filled_qty, found.fill_price) == ("filled", 2.5, 120.25)
    assert broker.positions() == {"AAPL": 2.5}
    assert broker.cash() == pytest.approx(100_000 - 2.5 * 120.25, abs=1e-9)
    post = next(r for r in server.requests if r.method == "POST")
    assert json.loads(post.body)["client_order_id"] == order.client_order_id
    assert json.loads(post.body)["time_in_force"] == "day"
    assert all(urlparse(r.url).hostname.startswith("paper-api.") for r in server.requests)
    assert post.headers["APCA-API-SECRET-KEY"] == SECRET  # the one place the key goes


def test_errors_and_timeouts(alpaca) -> None:
    broker, server = alpaca
    order = OrderRequest("acct-2021-03-16-MSFT-sell", "MSFT", "sell", 1.0, "2021-03-16",
                         "2021-03-17")  # fmt: skip
    server.timeout_next_submit = True
    with pytest.raises(BrokerTimeout, match="no answer"):
        broker.submit(order)
    assert broker.get_order(order.client_order_id).status == "accepted"  # it did arrive
    server.forbid = True
    with pytest.raises(BrokerError, match="HTTP 403") as err:
        broker.positions()
    assert SECRET not in str(err.value) and KEY not in str(err.value)


def test_missing_keys_are_named(monkeypatch) -> None:
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
    with pytest.raises(Exception, match="ALPACA_API_KEY") as err:
        AlpacaBroker.from_env()
    assert SECRET not in str(err.value)


def test_secrets_never_reach_logs_ledger_or_report(alpaca, tmp_path, caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)
    broker, server = alpaca
    model = PaperModel.load(shared_checkpoint())
    feed = DataFeed(model.cfg.data)
    bars = feed.history("2002-07-10")
    dates = [str(d) for d in bars.dates[-6:]]
    following = dict(zip(dates, dates[1:], strict=False))
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    spec = AccountSpec("live", model.params.initial_cash, 20)
    session = Session(ledger, broker, feed, model, spec, mode="live",
                      next_date=following.__getitem__, cash_tolerance=1e-6)  # fmt: skip
    placed = 0
    for i, date in enumerate(dates[:-1]):
        if i:  # the orders of the day before fill at this day's open
            opens = bars.open[list(bars.dates).index(np.datetime64(date))]
            server.fill_all(dict(zip(bars.tickers, map(float, opens), strict=True)))
        result = session.run(date)
        assert result.status == "done"
        placed += len(result.orders)
        logging.getLogger("ploutos.paper").info("session %s: %s", date, result)
        write_report(ledger.state(), date, tmp_path)
    ledger.close()
    assert placed > 0 and len(server.orders) == placed
    state = Ledger.read_state(tmp_path / "ledger.sqlite")
    assert len(state.fills) > 0 and state.kill is None
    assert {t: q for t, q in state.positions.items() if q} == broker.positions()

    out = capsys.readouterr()
    texts = [caplog.text, out.out, out.err]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    assert any("decision" in t for t in texts)  # the ledger was read
    for secret in (KEY, SECRET):
        assert not [t for t in texts if secret in t]
