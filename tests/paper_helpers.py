"""Shared by the paper-trading tests: a tiny trained checkpoint on a synthetic market and a
paper account over it (sim broker, in-process sessions)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from test_backtest_checkpoint import tiny_checkpoint

from ploutos.paper.brokers.sim import SimBroker
from ploutos.paper.feed import DataFeed
from ploutos.paper.ledger import Ledger
from ploutos.paper.model import PaperModel
from ploutos.paper.session import AccountSpec, Session


@functools.cache
def shared_checkpoint() -> Path:
    """One tiny checkpoint per test process (training it takes a few seconds)."""
    # The backtest tests' tiny checkpoint (3 tickers, 800 days, test split from 2002-07-01).
    return tiny_checkpoint(Path(tempfile.mkdtemp(prefix="paper-ckpt-")))[0]


def backtest_log(ckpt: Path, start: str, end: str):
    """The backtest's engine log of the checkpoint's policy on [start, end]."""
    from ploutos.evaluation.backtest import AGENT, run_backtest
    from ploutos.evaluation.checkpoint import load_checkpoint

    result = run_backtest(load_checkpoint(ckpt), start=start, end=end, baselines=(), n_boot=10)
    return result.runs[AGENT][0].log


def open_account(
    folder: Path,
    ckpt: Path,
    horizon: int,
    feed: DataFeed | None = None,
    broker=None,
    data_overrides=None,
    on_step=None,
    name: str = "acct",
):
    """(ledger, broker, session) of a replay account in `folder`."""
    model = PaperModel.load(ckpt, data_overrides)
    feed = feed or DataFeed(model.cfg.data)
    ledger = Ledger.open(folder / "ledger.sqlite")
    broker = broker or SimBroker(
        folder / "sim_broker.sqlite", model.params, DataFeed(model.cfg.data)
    )
    spec = AccountSpec(name, model.params.initial_cash, horizon)
    kwargs = {} if on_step is None else {"on_step": on_step}
    return ledger, broker, Session(ledger, broker, feed, model, spec, mode="replay", **kwargs)
