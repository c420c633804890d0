"""Crash soak: 30 simulated sessions, with a crash at every step of one session (after the
fills, before the NAV, after the decision, after an intent, after a submit), the last one a
real SIGKILL of a subprocess. No order reaches the broker twice, the ledger equals the
broker's positions every day, and the NAV series is whole and equals the backtest's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from paper_helpers import backtest_log, open_account, shared_checkpoint

from ploutos.paper.brokers.faults import FaultyBroker
from ploutos.paper.brokers.sim import SimBroker
from ploutos.paper.feed import DataFeed
from ploutos.paper.model import PaperModel

START, END = "2002-07-01", "2002-08-09"  # 30 sessions
CRASH_DAY = 10
IN_PROCESS = ("after_fill", "before_nav", "after_decision", "after_intent")
TESTS = Path(__file__).resolve().parent
# Run one session in a child process that kills itself with SIGKILL at the step named.
KILL_JOB = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from paper_helpers import open_account
def hook(step):
    if step == {step!r}:
        os.kill(os.getpid(), signal.SIGKILL)
ledger, broker, session = open_account(Path({folder!r}), Path({ckpt!r}), {horizon}, on_step=hook)
session.run({date!r})
"""


class SimulatedCrash(BaseException):
    """Nothing in the session catches a BaseException: it unwinds like a dying process."""


def crash_at(step: str):
    def hook(name: str) -> None:
        if name == step:
            raise SimulatedCrash(step)

    return hook


def sim_orders(folder: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(folder / "sim_broker.sqlite") as conn:
        return [r[0] for r in conn.execute("SELECT client_order_id FROM orders")]


def test_crash_soak(tmp_path: Path) -> None:
    ckpt = shared_checkpoint()
    log = backtest_log(ckpt, START, END)
    dates = [str(d) for d in log.dates]
    assert len(dates) == 30
    horizon = len(dates) - 1
    params = PaperModel.load(ckpt).params

    def account(on_step=None):
        model = PaperModel.load(ckpt)
        broker = FaultyBroker(SimBroker(tmp_path / "sim_broker.sqlite", params,
                                        DataFeed(model.cfg.data)))  # fmt: skip
        return (*open_account(tmp_path, ckpt, horizon, broker=broker, on_step=on_step), broker)

    submits: list[str] = []
    crashes: list[str] = []
    ledger, broker, session, faulty = account()
    for i, date in enumerate(dates):
        if i == CRASH_DAY:
            for step in IN_PROCESS:
                ledger.close()
                broker.close()
                submits += faulty.submits
                ledger, broker, session, faulty = account(crash_at(step))
                try:
                    session.run(date)
                except SimulatedCrash as crash:
                    crashes.append(str(crash))
            ledger.close()
            broker.close()
            submits += faulty.submits
            job = KILL_JOB.format(tests=str(TESTS), step="after_submit", folder=str(tmp_path),
                                  ckpt=str(ckpt), horizon=horizon, date=date)  # fmt: skip
            child = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True)
            assert child.returncode == -9, child.stderr[-2000:]
            crashes.append("after_submit")
            ledger, broker, session, faulty = account()
            # The killed child placed an order the ledger never heard back about.
            state = ledger.state()
            assert set(sim_orders(tmp_path)) - set(state.submitted)
        result = session.run(date)
        assert result.status == "done", date
        state = ledger.state()
        assert {t: q for t, q in state.positions.items() if q} == broker.positions(), date
        assert state.cash == broker.cash(), date
    submits += faulty.submits
    ledger.close()
    broker.close()

    assert crashes == [*IN_PROCESS, "after_submit"]
    # No order reached the broker twice: each id was sent once, from this process or the child.
    in_broker = sim_orders(tmp_path)
    assert len(in_broker) == len(set(in_broker)) == len(state.intents)
    assert len(submits) == len(set(submits)) == len(in_broker) - 1  # one was sent by the child
    assert sorted(state.navs) == dates == sorted(state.done)
    nav = np.array([state.navs[d]["nav"] for d in dates])
    np.testing.assert_allclose(nav, log.equity[:, 0], rtol=0, atol=1e-9)
    assert os.path.exists(tmp_path / "ledger.sqlite")
