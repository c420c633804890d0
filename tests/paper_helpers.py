"""Shared by the paper-trading tests: a tiny trained checkpoint on a synthetic market and a
paper account over it (sim broker, in-process sessions)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from test_backtest_checkpoint import tiny_checkpoint

from ploutos.paper.brokers.sim import SimBroker
from ploutos.paper.drift import PaperDrift
from ploutos.paper.feed import DataFeed
from ploutos.paper.ledger import Ledger
from ploutos.paper.model import PaperModel
from ploutos.paper.session import AccountSpec, Session


@functools.cache
def shared_checkpoint() -> Path:
    """One tiny checkpoint per test process (training it takes a few seconds)."""
    # The backtest tests' tiny checkpoint (3 tickers, 800 days, test split from 2002-07-01).
    return tiny_checkpoint(Path(tempfile.mkdtemp(prefix="paper-ckpt-")))[0]


@functools.cache
def checkpoint_trained_until(end: str, test_start: str, seed: int = 0) -> Path:
    """A tiny checkpoint whose data end on `end` (the same synthetic market, cut): paper
    sessions after it trade days it never saw, as a live account does."""
    out = Path(tempfile.mkdtemp(prefix="paper-ckpt-"))
    return tiny_checkpoint(out, f"data.end={end}", f"data.splits.test_start={test_start}",
                           f"seed={seed}")[0]  # fmt: skip


@functools.cache
def checkpoint_on_2021_dates() -> Path:
    """A tiny checkpoint on synthetic bars dated 2021-01-04 .. 2022-07 (NYSE calendar days)."""
    out = Path(tempfile.mkdtemp(prefix="paper-ckpt-"))
    return tiny_checkpoint(out, "data.start=2021-01-04", "data.splits.val_start=2021-06-01",
                           "data.splits.test_start=2021-09-01", "data.n_days=400")[0]


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
    drift=None,
    model=None,
):
    """(ledger, broker, session) of a replay account in `folder`; `drift`: DriftSettings."""
    model = model or PaperModel.load(ckpt, data_overrides)
    feed = feed or DataFeed(model.cfg.data)
    ledger = Ledger.open(folder / "ledger.sqlite")
    broker = broker or SimBroker(
        folder / "sim_broker.sqlite", model.params, DataFeed(model.cfg.data)
    )
    spec = AccountSpec(name, model.params.initial_cash, horizon)
    kwargs = {} if on_step is None else {"on_step": on_step}
    if drift is not None:
        kwargs["drift"] = PaperDrift(drift)
    return ledger, broker, Session(ledger, broker, feed, model, spec, mode="replay", **kwargs)
