"""One trading session of a paper account, after the close of its trade date.

Steps, each recorded in the ledger before the next one starts (a rerun after a crash skips
what is recorded and redoes the rest; the hook names mark where tests inject crashes):

1. bars through the data sources, checked: a bad day records alarms and stops (no order);
2. the broker catches up; the final state of every open order is recorded as a fill
   ("after_fill");
3. reconcile: shares must equal the broker's exactly and cash (since the account opened)
   within the day's fees, else a persisted kill switch stops all trading ("before_nav");
4. the engine's books step to the trade date with the recorded decisions; the day's NAV
   (ledger) and expected equity (engine) are recorded; with drift detection, the day's
   features, return and sells feed the calibrated detectors, and the day's verdicts and
   alarms are recorded (paper/drift.py; "after_drift");
5. the policy decides on the engine's observation ("after_decision");
6. the engine sizes the orders by one more step over the next session's bar, and each order
   becomes a durable intent with a deterministic client id ("after_intent");
7. each intent not yet at the broker is looked up by its id there, then submitted
   ("after_submit", between the broker's answer and the ledger's record of it);
8. the day is marked done: running it again is a no-op.

Orders bring the broker's shares to the engine's: an order is the engine's fill plus the
gap between the engine's shares and the ledger's (exactly 0 in a replay, where the two
agree), so a live fill at another price than the estimate is caught up the next day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ploutos.errors import ConfigError, PloutosError
from ploutos.paper.books import Books
from ploutos.paper.brokers.base import Broker, BrokerTimeout
from ploutos.paper.drift import PaperDrift
from ploutos.paper.feed import DataFeed, with_estimated_next
from ploutos.paper.ledger import Ledger, LedgerError, LedgerState
from ploutos.paper.model import PaperModel
from ploutos.paper.orders import BrokerOrder, OrderRequest, client_order_id

STEPS = ("after_fill", "before_nav", "after_drift", "after_decision", "after_intent",
         "after_submit")
MODES = ("live", "replay")


class KillSwitchOn(PloutosError):
    """Trading is stopped until a user clears the kill switch."""


class ReconciliationError(KillSwitchOn):
    """The ledger and the broker disagree; the kill switch was set."""


@dataclass(frozen=True)
class AccountSpec:
    """What a new account is opened with (ignored once the ledger has its account event).

    horizon_days: market days from the first decision to the last fill (the engine's
    episode, which the policy's observation counts down)."""

    name: str
    capital: float
    horizon_days: int
    start: str | None = None  # None: the first trade date run


@dataclass
class SessionResult:
    trade_date: str
    status: str  # done | already done | bad data
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    nav: float | None = None
    expected: float | None = None
    problems: list[str] = field(default_factory=list)


def _no_hook(step: str) -> None:
    return None


class Session:
    """Runs trade dates of one account: `Session(...).run("2021-03-01")`."""

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        feed: DataFeed,
        model: PaperModel,
        spec: AccountSpec,
        mode: str = "live",
        next_date: Callable[[str], str] | None = None,
        on_step: Callable[[str], None] = _no_hook,
        cash_tolerance: float = 0.01,
        drift: PaperDrift | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "live" and next_date is None:
            raise ValueError("a live session needs next_date (the trading calendar)")
        self.ledger, self.broker, self.feed, self.model = ledger, broker, feed, model
        self.spec, self.mode, self.next_date = spec, mode, next_date
        self.on_step = on_step
        self.cash_tolerance = cash_tolerance
        self.drift = drift

    # ---- the session ----------------------------------------------------------------------

    def run(self, trade_date: str) -> SessionResult:
        state = self.ledger.state()
        if trade_date in state.done:
            return SessionResult(trade_date, "already done")
        self._check_can_run(state, trade_date)
        account = state.account or self._open_account(trade_date)
        if account["checkpoint_sha256"] != self.model.sha256:
            raise ConfigError(
                "ckpt", f"ledger {self.ledger.path} trades {account['checkpoint']} "
                f"(sha256 {account['checkpoint_sha256'][:16]}), not {self.model.path} "
                f"(sha256 {self.model.sha256[:16]}); open a new ledger for another model"
            )
        day = self.feed.day(trade_date, self.model.tickers, lookahead=self.mode == "replay")
        if day.problems:
            for i, problem in enumerate(day.problems):
                self.ledger.alarm(trade_date, f"bad_data_{i}", problem)
            self.ledger.append("session_done", trade_date, trade_date,
                               {"status": "bad data", "problems": list(day.problems)})  # fmt: skip
            return SessionResult(trade_date, "bad data", problems=list(day.problems))

        self.model.check_bars(day.bars)
        fills = self._record_fills(state, trade_date)
        state = self.ledger.state()
        self._reconcile(state, account, trade_date, fills)
        self.on_step("before_nav")

        bars = day.bars
        deciding = trade_date < account["end"] if "end" in account else True
        if deciding and not day.has_next:
            assert self.next_date is not None, "replay data end before the account's end"
            bars = with_estimated_next(bars, self.next_date(trade_date))
        session = self.model.session_market(bars, account["start"])
        dates = session.market.dates.astype("datetime64[D]")
        idx = int(np.searchsorted(dates, np.datetime64(trade_date, "D")))
        start = int(np.searchsorted(dates, np.datetime64(account["start"], "D")))
        end = start + int(account["horizon_days"])
        if idx > end:
            raise LedgerError(
                f"ledger {self.ledger.path}: the account's horizon ended before "
                f"{trade_date}; open a new ledger"
            )
        books = Books(self.model.cfg, session.market, session.obs_builder, start, end,
                      self._last_books(state))  # fmt: skip
        sells: list[float] = []  # realized pnl of the sells filled up to the trade date
        while books.day < idx:
            trade = books.step(self._actions_of(state, dates[books.day], books))
            sells += trade.realized_pnl[trade.sold].tolist()
        nav = state.cash + sum(
            q * float(session.market.close[idx, self.model.tickers.index(t)])
            for t, q in state.positions.items()
        )
        expected = books.equity
        self.ledger.append("nav", trade_date, trade_date, {
            "nav": nav, "expected": expected, "cash": state.cash,
            "positions": state.positions, "day": idx, "books": books.snapshot(),
            "sells": sells,
        })  # fmt: skip
        if self.drift is not None:
            self.drift.run_day(self.ledger, trade_date, self.model.cfg, session, idx, start)
            self.on_step("after_drift")

        orders: list[OrderRequest] = []
        if idx < end:
            actions = self._decide(state, trade_date, session, books)
            self.on_step("after_decision")
            orders = self._intents(state, trade_date, books, actions, dates)
            self._submit(trade_date, orders)
        self.ledger.append("session_done", trade_date, trade_date,
                           {"status": "done", "orders": len(orders), "nav": nav})  # fmt: skip
        return SessionResult(trade_date, "done", [o.to_dict() for o in orders], fills, nav,
                             expected)  # fmt: skip

    # ---- steps ----------------------------------------------------------------------------

    def _check_can_run(self, state: LedgerState, trade_date: str) -> None:
        where = f"ledger {self.ledger.path}"
        if state.kill is not None:
            raise KillSwitchOn(
                f"{where}: trading stopped on {state.kill.trade_date}: "
                f"{state.kill.payload['message']}; after checking the account, clear it with "
                f"`python paper.py clear_kill ledger={self.ledger.path.parent}`"
            )
        last = state.last_done
        if last is not None and trade_date < last:
            raise LedgerError(f"{where}: trade date {trade_date} is before {last}, already done")
        started = {e for d in (state.decisions, state.navs, state.reconciled) for e in d}
        started |= {i["trade_date"] for i in state.intents.values()}
        unfinished = sorted(d for d in started - set(state.done) if d < trade_date)
        if unfinished:
            raise LedgerError(
                f"{where}: the session of {unfinished[0]} started and did not finish; run "
                f"trade_date={unfinished[0]} first (it resumes where it stopped)"
            )
        account = state.account
        if account is not None and last is not None and last >= account.get("end", "9999"):
            raise LedgerError(f"{where}: the account ended on {account['end']}")

    def _open_account(self, trade_date: str) -> dict[str, Any]:
        spec = self.spec
        if spec.start is not None and spec.start != trade_date:
            raise LedgerError(f"the account starts on {spec.start}, not {trade_date}")
        held = self.broker.positions()
        if held:
            raise LedgerError(
                f"broker '{self.broker.name}' holds {held}; a paper account starts flat"
            )
        account = {
            "name": spec.name, "broker": self.broker.name, "capital": spec.capital,
            "start": trade_date, "horizon_days": spec.horizon_days,
            "broker_cash_at_open": self.broker.cash(), "checkpoint": str(self.model.path),
            "checkpoint_sha256": self.model.sha256, "tickers": self.model.tickers,
        }  # fmt: skip
        if self.model.ensemble is not None:
            account["ensemble"] = {"rule": self.model.ensemble.rule, "members": self.model.paths}
        if self.mode == "replay":
            account["end"] = self._replay_end(trade_date, spec.horizon_days)
        self.ledger.append("account", trade_date, "account", account)
        return account

    def _replay_end(self, start: str, horizon: int) -> str:
        dates = self.feed.history(start, ahead_days=3 * horizon + 10).dates
        first = int(np.searchsorted(dates, np.datetime64(start, "D")))
        if first + horizon >= len(dates):
            raise LedgerError(f"the data end before {horizon} days after {start}")
        return str(dates[first + horizon])

    def _record_fills(self, state: LedgerState, trade_date: str) -> list[dict[str, Any]]:
        self.broker.sync(trade_date)
        recorded = []
        for cid in state.open_orders:
            if cid not in state.submitted:
                continue  # an intent of this trade date, submitted below
            order = self.broker.get_order(cid)
            if order is None or not order.final:
                if state.intents[cid]["fill_date"] < trade_date:
                    self.ledger.alarm(trade_date, f"pending_{cid}",
                                      f"order {cid} is not final after its fill date")  # fmt: skip
                continue
            fill = self._fill_payload(state.intents[cid], order)
            self.ledger.append("fill", trade_date, cid, fill)
            recorded.append(fill)
            self.on_step("after_fill")
        return recorded

    @staticmethod
    def _fill_payload(intent: dict[str, Any], order: BrokerOrder) -> dict[str, Any]:
        return {
            "ticker": intent["ticker"], "side": intent["side"], "qty": order.filled_qty,
            "price": order.fill_price, "fee": order.fee, "status": order.status,
            "intent_qty": intent["qty"], "fill_date": intent["fill_date"],
            "reason": order.reason,
        }  # fmt: skip

    def _reconcile(
        self,
        state: LedgerState,
        account: dict[str, Any],
        trade_date: str,
        fills: list[dict[str, Any]],
    ) -> None:
        if trade_date in state.reconciled:
            return
        broker_pos = self.broker.positions()
        ledger_pos = {t: q for t, q in state.positions.items() if q != 0}
        problems = [
            f"{t}: ledger {ledger_pos.get(t, 0.0)!r} shares, broker {broker_pos.get(t, 0.0)!r}"
            for t in sorted(set(broker_pos) | set(ledger_pos))
            if ledger_pos.get(t, 0.0) != broker_pos.get(t, 0.0)
        ]
        broker_cash = self.broker.cash() - float(account["broker_cash_at_open"])
        ledger_cash = state.cash - float(account["capital"])
        tolerance = self.cash_tolerance + sum(float(f["fee"]) for f in fills)
        if abs(broker_cash - ledger_cash) > tolerance:
            problems.append(
                f"cash since the account opened: ledger {ledger_cash:+.4f}, broker "
                f"{broker_cash:+.4f} (tolerance {tolerance:.4f})"
            )
        if problems:
            message = "reconciliation mismatch: " + "; ".join(problems)
            self.ledger.alarm(trade_date, "reconciliation", message)
            self.ledger.set_kill(trade_date, message)
            raise ReconciliationError(f"ledger {self.ledger.path}: {message}; trading stopped")
        self.ledger.append("reconciled", trade_date, trade_date,
                           {"positions": broker_pos, "cash_change": broker_cash})  # fmt: skip

    @staticmethod
    def _last_books(state: LedgerState) -> dict[str, Any] | None:
        return state.navs[max(state.navs)]["books"] if state.navs else None

    @staticmethod
    def _actions_of(state: LedgerState, day: np.datetime64, books: Books) -> torch.Tensor:
        decision = state.decisions.get(str(day))
        if decision is None:
            return books.hold()
        space = books.env.action_space
        return torch.tensor([decision["actions"]], dtype=space.dtype)

    def _decide(
        self, state: LedgerState, trade_date: str, session: Any, books: Books
    ) -> torch.Tensor:
        if trade_date in state.decisions:
            return self._actions_of(state, np.datetime64(trade_date, "D"), books)
        with torch.no_grad():
            actions = session.policy.act(books.observe(), session.obs_builder, deterministic=True)
        self.ledger.append("decision", trade_date, trade_date,
                           {"actions": actions[0].tolist(), "day": books.day})  # fmt: skip
        return actions

    def _intents(
        self,
        state: LedgerState,
        trade_date: str,
        books: Books,
        actions: torch.Tensor,
        dates: np.ndarray,
    ) -> list[OrderRequest]:
        held = books.shares
        trade = books.step(actions)
        fill_date = str(dates[trade.day])
        tickers = self.model.tickers
        gap = held - np.array([state.positions.get(t, 0.0) for t in tickers])
        qty = trade.filled_shares + gap
        orders = []
        # Sells first, as the env and the simulated broker execute a day's orders.
        for a in [*np.flatnonzero(qty < 0), *np.flatnonzero(qty > 0)]:
            side = "buy" if qty[a] > 0 else "sell"
            cid = client_order_id(self.spec.name, trade_date, tickers[a], side)
            order = OrderRequest(cid, tickers[a], side, float(abs(qty[a])), trade_date, fill_date)
            if self.ledger.append("intent", trade_date, cid, order.to_dict()):
                self.on_step("after_intent")
            # A rerun after a crash keeps the intent recorded first.
            orders.append(OrderRequest(**state.intents.get(cid, order.to_dict())))
        return orders

    def _submit(self, trade_date: str, orders: list[OrderRequest]) -> None:
        state = self.ledger.state()
        for order in orders:
            cid = order.client_order_id
            if cid in state.submitted:
                continue
            found = self.broker.get_order(cid)
            if found is not None:
                self.ledger.append("acknowledged", trade_date, cid, found.to_dict())
                placed = found
            else:
                try:
                    placed = self.broker.submit(order)
                except BrokerTimeout as err:
                    placed = self.broker.get_order(cid)
                    if placed is None:
                        raise
                    self.ledger.alarm(trade_date, f"timeout_{cid}", f"{err}; found by id")
                self.on_step("after_submit")
                self.ledger.append("submitted", trade_date, cid, placed.to_dict())
            if placed.status == "rejected":
                self.ledger.alarm(trade_date, f"rejected_{cid}",
                                  f"order {cid} rejected: {placed.reason}")  # fmt: skip
                self.ledger.append("fill", trade_date, cid,
                                   self._fill_payload(order.to_dict(), placed))  # fmt: skip
