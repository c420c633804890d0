"""The paper account's ledger: one SQLite file of append-only events, one writer at a time.

Every fact a session learns or decides is an event (account opened, decision, order intent,
submitted, acknowledged, fill, reconciled, daily NAV, alarm, kill switch set or cleared,
session done). Nothing is ever updated or deleted (triggers refuse it), and the current state
of the account is rebuilt by replaying the events in order (`LedgerState`).

Durability: WAL journal, synchronous=FULL, one committed transaction per event, so an event
that `append` returned for survives a kill -9 or a power cut. An event is keyed by
(kind, key); appending an existing key is a no-op that returns False, which is what makes a
session rerun after a crash safe: it re-derives the same keys and skips what is recorded.

One process at a time: `Ledger.open` takes an exclusive flock on `<ledger>.lock` (released
by the kernel when the process dies, even by SIGKILL); a second process is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ploutos.errors import PloutosError

KINDS = (
    "account",  # key "account": start date, horizon, capital, broker, checkpoint hash
    "decision",  # key trade date: the policy's actions
    "intent",  # key client order id: durable before the broker sees the order
    "submitted",  # key client order id: the broker accepted (or rejected) it
    "acknowledged",  # key client order id: found at the broker by id after a crash/timeout
    "fill",  # key client order id: the order's final fill (qty, price, fee)
    "reconciled",  # key trade date: ledger and broker agree
    "nav",  # key trade date: NAV, the engine's expected equity and its books
    "alarm",  # key trade date + code
    "drift_calibration",  # key "drift": the drift detectors' calibration on the training period
    "drift",  # key trade date: the day's drift inputs and every detector's verdict
    "kill",  # key trade date:n: trading stopped (persisted kill switch)
    "kill_cleared",  # key kill's key: cleared by a user command
    "session_done",  # key trade date: the day is finished; a rerun is a no-op
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    trade_date TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (kind, key)
);
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the paper ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the paper ledger is append-only'); END;
"""


class LedgerError(PloutosError):
    """The ledger cannot be used as asked (in use, or its events contradict the request)."""


class LedgerLocked(LedgerError):
    """Another process holds the ledger."""


@dataclass(frozen=True)
class Event:
    seq: int
    recorded_at: str
    trade_date: str
    kind: str
    key: str
    payload: dict[str, Any]


@dataclass
class LedgerState:
    """The account as its events say, replayed in order."""

    account: dict[str, Any] | None = None
    cash: float = 0.0
    positions: dict[str, float] = field(default_factory=dict)
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    submitted: dict[str, dict[str, Any]] = field(default_factory=dict)
    fills: dict[str, dict[str, Any]] = field(default_factory=dict)
    navs: dict[str, dict[str, Any]] = field(default_factory=dict)
    reconciled: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarms: list[Event] = field(default_factory=list)
    drift_calibration: dict[str, Any] | None = None
    drift: dict[str, dict[str, Any]] = field(default_factory=dict)
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    kill: Event | None = None  # the active kill switch, if any

    @property
    def open_orders(self) -> list[str]:
        """Client ids of orders the broker holds (or may hold) without a final fill."""
        return [cid for cid in self.intents if cid not in self.fills]

    @property
    def last_done(self) -> str | None:
        return max(self.done) if self.done else None

    def apply(self, event: Event) -> None:
        p = event.payload
        if event.kind == "account":
            self.account = p
            self.cash = float(p["capital"])
        elif event.kind == "decision":
            self.decisions[event.key] = p
        elif event.kind == "intent":
            self.intents[event.key] = p
        elif event.kind in ("submitted", "acknowledged"):
            self.submitted[event.key] = p
        elif event.kind == "fill":
            self.fills[event.key] = p
            self._book_fill(p)
        elif event.kind == "reconciled":
            self.reconciled[event.key] = p
        elif event.kind == "nav":
            self.navs[event.key] = p
        elif event.kind == "alarm":
            self.alarms.append(event)
        elif event.kind == "drift_calibration":
            self.drift_calibration = p
        elif event.kind == "drift":
            self.drift[event.key] = p
        elif event.kind == "kill":
            self.kill = event
        elif event.kind == "kill_cleared":
            self.kill = None
        elif event.kind == "session_done":
            self.done[event.key] = p

    def _book_fill(self, fill: dict[str, Any]) -> None:
        """Shares and cash as the broker reports the fill (its price includes slippage)."""
        qty, price, fee = float(fill["qty"]), float(fill["price"]), float(fill["fee"])
        if qty == 0:
            return
        ticker = fill["ticker"]
        held = self.positions.get(ticker, 0.0)
        if fill["side"] == "buy":
            self.positions[ticker] = held + qty
            self.cash = self.cash - (qty * price + fee)
        else:
            self.positions[ticker] = held - qty
            self.cash = self.cash + (qty * price - fee)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Ledger:
    """An open ledger; use `Ledger.open(path)` as a context manager."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock_fd: int) -> None:
        self.path = path
        self._conn = conn
        self._lock_fd = lock_fd

    @classmethod
    def open(cls, path: str | os.PathLike) -> Ledger:
        """Open (creating) the ledger at `path`, refusing if another process holds it."""
        db = Path(path)
        db.parent.mkdir(parents=True, exist_ok=True)
        lock_path = db.with_name(db.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LedgerLocked(
                f"{db}: the ledger is in use by another process (pid {holder}); one session "
                "at a time per paper account"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            # isolation_level=None: no implicit transactions; each append is one BEGIN/COMMIT.
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        return cls(db, conn, fd)

    @staticmethod
    def read_state(path: str | os.PathLike) -> LedgerState:
        """The state of a ledger on disk, read-only and without the lock (for `status`, which
        may look while a session runs)."""
        db = Path(path)
        if not db.is_file():
            raise LedgerError(f"{db}: no paper ledger there")
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT seq, recorded_at, trade_date, kind, key, payload FROM events ORDER BY seq"
            ).fetchall()
        finally:
            conn.close()
        state = LedgerState()
        for row in rows:
            state.apply(Event(*row[:5], json.loads(row[5])))
        return state

    def close(self) -> None:
        self._conn.close()
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, kind: str, trade_date: str, key: str, payload: dict[str, Any]) -> bool:
        """Record one event durably; False (and nothing written) if (kind, key) exists."""
        if kind not in KINDS:
            raise ValueError(f"unknown ledger event kind {kind!r}; one of {KINDS}")
        text = json.dumps(payload, sort_keys=True, allow_nan=False)
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO events (recorded_at, trade_date, kind, key, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            (_now(), trade_date, kind, key, text),
        )
        return cur.rowcount == 1

    def events(self, kind: str | None = None) -> Iterator[Event]:
        sql = "SELECT seq, recorded_at, trade_date, kind, key, payload FROM events"
        args: tuple = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            args = (kind,)
        for row in self._conn.execute(sql + " ORDER BY seq", args):
            yield Event(*row[:5], json.loads(row[5]))

    def state(self) -> LedgerState:
        state = LedgerState()
        for event in self.events():
            state.apply(event)
        return state

    def alarm(self, trade_date: str, code: str, message: str, **extra: Any) -> bool:
        return self.append(
            "alarm", trade_date, f"{trade_date}:{code}", {"code": code, "message": message, **extra}
        )

    def set_kill(self, trade_date: str, message: str) -> None:
        # Numbered: a kill switch set again after a user cleared one is a new event.
        n = sum(1 for _ in self.events("kill"))
        self.append("kill", trade_date, f"{trade_date}:{n}", {"message": message})

    def clear_kill(self, reason: str) -> bool:
        """The user command behind `paper.py clear_kill`: False when no kill switch is set."""
        kill = self.state().kill
        if kill is None:
            return False
        self.append("kill_cleared", kill.trade_date, kill.key, {"reason": reason, "by": "user"})
        return True
