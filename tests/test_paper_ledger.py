"""The ledger's guarantees: append-only, one process at a time, a persisted kill switch on a
reconciliation mismatch that only the user command clears, and bad data days that trade
nothing and leave an alarm in the ledger and the report."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from paper_helpers import open_account, shared_checkpoint

from ploutos.paper.brokers.faults import FaultyBroker, FaultyFeed
from ploutos.paper.brokers.sim import SimBroker
from ploutos.paper.feed import DataFeed
from ploutos.paper.ledger import Ledger, LedgerLocked
from ploutos.paper.model import PaperModel
from ploutos.paper.report import write_report
from ploutos.paper.session import KillSwitchOn, ReconciliationError

DAYS = ["2002-07-01", "2002-07-02", "2002-07-03", "2002-07-05", "2002-07-08", "2002-07-09"]


def test_events_cannot_be_changed_or_deleted(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.sqlite") as ledger:
        assert ledger.append("alarm", "2002-07-01", "a", {"code": "x", "message": "m"})
        assert not ledger.append("alarm", "2002-07-01", "a", {"code": "y", "message": "m"})
    conn = sqlite3.connect(tmp_path / "l.sqlite")
    for sql in ("UPDATE events SET key = 'b'", "DELETE FROM events"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    assert conn.execute("SELECT payload FROM events").fetchall() == [
        ('{"code": "x", "message": "m"}',)
    ]
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_second_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    probe = f"from ploutos.paper.ledger import Ledger; Ledger.open({str(path)!r})"
    with Ledger.open(path):
        child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        assert child.returncode == 1
        assert "in use by another process" in child.stderr
        with pytest.raises(LedgerLocked, match="in use"):
            Ledger.open(path)
    # Released on close: the next process gets it.
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0


def test_mismatch_sets_a_kill_switch_only_the_user_clears(tmp_path: Path) -> None:
    ckpt = shared_checkpoint()
    ledger, broker, session = open_account(tmp_path, ckpt, horizon=20)
    for day in DAYS[:3]:
        session.run(day)
    held = broker.positions()
    ticker = sorted(held)[0]
    tamper = sqlite3.connect(tmp_path / "sim_broker.sqlite")  # a trade outside the account
    tamper.execute("UPDATE positions SET qty = qty + 1 WHERE ticker = ?", (ticker,))
    tamper.commit()
    with pytest.raises(ReconciliationError, match=f"{ticker}: ledger"):
        session.run(DAYS[3])
    ledger.close()
    broker.close()

    ledger, broker, session = open_account(tmp_path, ckpt, horizon=20)  # persisted
    with pytest.raises(KillSwitchOn, match="clear_kill"):
        session.run(DAYS[3])
    tamper.execute("UPDATE positions SET qty = qty - 1 WHERE ticker = ?", (ticker,))
    tamper.commit()
    assert ledger.clear_kill("positions restored by hand")
    assert session.run(DAYS[3]).status == "done"
    kinds = [e.kind for e in ledger.events() if e.kind in ("kill", "kill_cleared")]
    assert kinds == ["kill", "kill_cleared"]
    assert not ledger.clear_kill("nothing to clear")
    ledger.close()
    broker.close()


@pytest.mark.parametrize("fault", ["nan", "missing", "stale"])
def test_a_bad_data_day_trades_nothing(tmp_path: Path, fault: str) -> None:
    ckpt = shared_checkpoint()
    model = PaperModel.load(ckpt)
    bad = DAYS[2]
    feed = FaultyFeed(DataFeed(model.cfg.data), {bad: fault})
    ledger, broker, session = open_account(tmp_path, ckpt, horizon=20, feed=feed)
    for day in DAYS[:2]:
        session.run(day)
    orders_before = broker._conn.execute("SELECT * FROM orders").fetchall()
    result = session.run(bad)
    assert result.status == "bad data"
    expected = {"nan": "NaN close", "missing": "no bars", "stale": "stale data"}[fault]
    assert any(expected in p for p in result.problems), result.problems
    state = ledger.state()
    assert [a.trade_date for a in state.alarms] == [bad]
    assert bad not in state.navs and bad not in state.decisions
    assert not [i for i in state.intents.values() if i["trade_date"] == bad]
    assert broker._conn.execute("SELECT * FROM orders").fetchall() == orders_before
    page = write_report(state, bad, tmp_path)["report"].read_text()
    assert expected in page
    # The next day trades again: yesterday's orders filled, books and broker agree.
    assert session.run(DAYS[3]).status == "done"
    state = ledger.state()
    assert {t: q for t, q in state.positions.items() if q} == broker.positions()
    ledger.close()
    broker.close()


def test_broker_faults_never_duplicate_an_order(tmp_path: Path) -> None:
    ckpt = shared_checkpoint()
    model = PaperModel.load(ckpt)
    inner = SimBroker(tmp_path / "sim_broker.sqlite", model.params, DataFeed(model.cfg.data))
    first = open_account(tmp_path / "probe", ckpt, horizon=20)
    first[2].run(DAYS[0])
    probe_orders = first[0].state().intents
    first[0].close()
    first[1].close()
    timeout_id = next(iter(probe_orders))  # the first order of the first day
    faulty = FaultyBroker(inner, timeout_after_accept={timeout_id}, reject={"S02"}, partial=0.5)
    ledger, broker, session = open_account(tmp_path, ckpt, horizon=20, broker=faulty)
    for day in DAYS[:4]:
        assert session.run(day).status == "done"
        state = ledger.state()
        assert {t: q for t, q in state.positions.items() if q} == inner.positions()
    assert len(faulty.submits) == len(set(faulty.submits))
    assert timeout_id in faulty.submits
    codes = {a.payload["code"].split("_")[0] for a in state.alarms}
    assert {"timeout", "rejected"} <= codes
    rejected = [f for f in state.fills.values() if f["status"] == "rejected"]
    assert rejected and {f["ticker"] for f in rejected} == {"S02"}
    partial = [f for f in state.fills.values() if f["status"] == "filled"]
    assert partial and all(f["qty"] == pytest.approx(0.5 * f["intent_qty"]) for f in partial)
    ledger.close()
    broker.close()
