"""The paper-trading app behind `python paper.py [run|loop|status|replay|clear_kill] ...`.

    python paper.py ckpt=PATH broker=sim                 # today's session once (cron-friendly)
    python paper.py ckpt=PATH broker=sim loop=true       # wait for each close, run after it
    python paper.py ckpt=PATH broker=alpaca              # Alpaca's paper endpoint
    python paper.py status ledger=paper/NAME             # positions, equity vs expected, alarms
    python paper.py replay ckpt=PATH start=2021-01-04 end=2021-03-31
    python paper.py clear_kill ledger=paper/NAME reason="checked the positions by hand"

A ledger folder holds ledger.sqlite (the account's events), sim_broker.sqlite for the
simulated broker, and reports/<trade date>/.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, ListConfig, OmegaConf

from ploutos.apps.cli import ensure_console
from ploutos.drift import drift_settings
from ploutos.ensemble import EnsembleSpec
from ploutos.errors import ConfigError, DataError
from ploutos.paper import calendar
from ploutos.paper.brokers.base import Broker
from ploutos.paper.brokers.sim import SimBroker
from ploutos.paper.drift import PaperDrift
from ploutos.paper.feed import DataFeed
from ploutos.paper.ledger import Ledger
from ploutos.paper.model import PaperModel
from ploutos.paper.report import write_report
from ploutos.paper.session import AccountSpec, KillSwitchOn, Session, SessionResult

COMMANDS = ("run", "loop", "status", "replay", "clear_kill")
LEDGER_FILE = "ledger.sqlite"


log = logging.getLogger(__name__)

def _folder(cfg: DictConfig, model: PaperModel | None = None) -> Path:
    if cfg.get("ledger"):
        return Path(str(cfg.ledger))
    if model is None:
        raise ConfigError("ledger", "name the account's folder: ledger=paper/NAME")
    run = model.path.parent.parent.name if model.path.parent.name == "checkpoints" else ""
    return Path("paper") / (f"{run}-{model.path.stem}" if run else model.path.stem)


def _model(cfg: DictConfig) -> PaperModel:
    """The checkpoint of cfg.ckpt, or with ensemble=RULE the ensemble of cfg.ckpt (a list of
    checkpoints or a multirun folder) or of ensemble.members."""
    spec = EnsembleSpec.from_config(cfg.get("ensemble"))
    if not cfg.get("ckpt") and (spec is None or not spec.members):
        raise ConfigError("ckpt", "give the checkpoint to trade: python paper.py ckpt=PATH "
                                  "(an ensemble: ckpt=[A.ckpt,B.ckpt] ensemble=vote)")
    ckpt = cfg.get("ckpt")
    if isinstance(ckpt, ListConfig):
        if spec is None:
            raise ConfigError("ensemble", "several checkpoints trade as an ensemble: add "
                                          "ensemble=vote (or mean_probs, best_val, weighted)")
        ckpt = [str(p) for p in ckpt]
    elif ckpt is not None:
        ckpt = str(ckpt)
    overrides = OmegaConf.to_container(cfg.data, resolve=True) if cfg.get("data") else None
    return PaperModel.load(ckpt, overrides, spec)


def _drift(cfg: DictConfig) -> PaperDrift | None:
    settings = drift_settings(cfg.get("drift"))
    return None if settings is None else PaperDrift(settings)


def make_broker(cfg: DictConfig, folder: Path, model: PaperModel) -> Broker:
    name = cfg.broker.name
    if name == "sim":
        return SimBroker(folder / "sim_broker.sqlite", model.params, DataFeed(model.cfg.data))
    if name == "alpaca":
        from ploutos.paper.brokers.alpaca import AlpacaBroker

        return AlpacaBroker.from_env(paper=bool(cfg.broker.get("paper", True)))
    raise ConfigError("broker.name", f"unknown broker {name!r}; use sim or alpaca")


def _spec(
    cfg: DictConfig, model: PaperModel, folder: Path, horizon: int | None = None
) -> AccountSpec:
    params = model.params
    days = horizon or cfg.get("horizon_days") or params.episode_days or 252
    capital = float(cfg.capital) if cfg.get("capital") is not None else params.initial_cash
    return AccountSpec(folder.name, capital, int(days))


def _print_result(result: SessionResult) -> None:
    line = f"{result.trade_date}: {result.status}"
    if result.nav is not None:
        line += f", NAV {result.nav:,.2f} (expected {result.expected:,.2f})"
    if result.status == "done":
        line += f", {len(result.fills)} fills, {len(result.orders)} orders placed"
    log.info(line)
    for problem in result.problems:
        log.info(f"  alarm: {problem}")


def run_once(
    cfg: DictConfig,
    trade_date: str | None = None,
    mode: str = "live",
    horizon: int | None = None,
    model: PaperModel | None = None,
) -> SessionResult:
    """One session of the account in cfg.ledger (trade_date None: the last closed session)."""
    ensure_console()
    model = model or _model(cfg)
    folder = _folder(cfg, model)
    delay = pd.Timedelta(minutes=float(cfg.delay_minutes))
    date = (
        trade_date
        or cfg.get("trade_date")
        or calendar.last_closed_session(pd.Timestamp.now(tz="UTC"), delay)
    )
    date = str(date)[:10]
    with Ledger.open(folder / LEDGER_FILE) as ledger:
        broker = make_broker(cfg, folder, model)
        try:
            session = Session(
                ledger, broker, DataFeed(model.cfg.data), model, _spec(cfg, model, folder, horizon),
                mode=mode, next_date=calendar.next_session,
                cash_tolerance=float(cfg.broker.get("cash_tolerance", 0.01)), drift=_drift(cfg),
            )  # fmt: skip
            try:
                result = session.run(date)
            finally:
                if cfg.get("report", True):
                    write_report(ledger.state(), date, folder)
        finally:
            broker.close()
    _print_result(result)
    return result


def loop(
    cfg: DictConfig,
    now: Callable[[], pd.Timestamp] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[SessionResult]:
    """Run the last closed session, then wait for each next close (+ delay) and run it;
    cfg.max_sessions bounds the loop (null: forever). A kill switch ends it."""
    ensure_console()
    now = now or (lambda: pd.Timestamp.now(tz="UTC"))
    delay = pd.Timedelta(minutes=float(cfg.delay_minutes))
    model = _model(cfg)
    results: list[SessionResult] = []
    limit = cfg.get("max_sessions")
    while limit is None or len(results) < int(limit):
        results.append(run_once(cfg, calendar.last_closed_session(now(), delay), model=model))
        if limit is not None and len(results) >= int(limit):
            break
        date, at = calendar.next_run_time(now(), delay)
        log.info(f"next session: {date}, at {at.isoformat()}")
        sleep(max(0.0, (at - now()).total_seconds()))
    return results


def replay(cfg: DictConfig) -> list[SessionResult]:
    """Sessions for every data day in [start, end], sim broker, sizing at the real next bar."""
    ensure_console()
    if cfg.get("start") is None or cfg.get("end") is None:
        raise ConfigError("start/end", "replay needs both: replay ckpt=PATH start=... end=...")
    if cfg.broker.name != "sim":
        raise ConfigError("broker", "replay runs on the simulated broker only (broker=sim)")
    model = _model(cfg)
    start, end = str(cfg.start)[:10], str(cfg.end)[:10]
    feed = DataFeed(model.cfg.data)
    day = feed.day(end, model.tickers, lookahead=False)
    if day.bars is None:
        raise DataError(f"replay end {end}: {'; '.join(day.problems)}")
    market, _ = model.market(day.bars)
    dates = market.dates.astype("datetime64[D]")
    first = max(int(np.searchsorted(dates, np.datetime64(start))), _first_day(model, market))
    last = int(np.searchsorted(dates, np.datetime64(end), side="right")) - 1
    if last <= first:
        raise ConfigError("start/end", f"[{start}, {end}] leaves no trading day after warm-up")
    days = [str(d) for d in dates[first : last + 1]]
    results = [run_once(cfg, d, mode="replay", horizon=len(days) - 1, model=model) for d in days]
    _compare_with_backtest(cfg, model, days)
    return results


def _first_day(model: PaperModel, market: Any) -> int:
    from ploutos.obs.builders import market_first_day

    return market_first_day(model.cfg.obs, market)


def _compare_with_backtest(cfg: DictConfig, model: PaperModel, days: list[str]) -> None:
    from ploutos.ensemble import ensemble_for_backtest
    from ploutos.evaluation.backtest import AGENT, run_backtest
    from ploutos.evaluation.checkpoint import load_checkpoint

    try:
        if model.ensemble is None:
            loaded = load_checkpoint(model.path)
        else:
            spec = replace(model.ensemble, members=model.paths)
            loaded = ensemble_for_backtest(spec, split=None, start=days[0], end=days[-1])
    except DataError as err:
        log.info(f"backtest comparison skipped: {err}")
        return
    result = run_backtest(loaded, start=days[0], end=days[-1], baselines=(), n_boot=10)
    equity = result.runs[AGENT][0].equity
    state = Ledger.read_state(_folder(cfg, model) / LEDGER_FILE)
    nav = np.array([state.navs[d]["nav"] for d in days])
    log.info(f"replay vs backtest over {days[0]} .. {days[-1]}: max |NAV - equity| = "
          f"{np.abs(nav - equity).max():.3g}")  # fmt: skip


def status(cfg: DictConfig) -> str:
    ensure_console()
    folder = _folder(cfg)
    state = Ledger.read_state(folder / LEDGER_FILE)
    account = state.account or {}
    lines = [f"paper account {account.get('name', folder.name)} ({account.get('broker', '?')}),"
             f" from {account.get('start', '?')}; last finished day {state.last_done}"]  # fmt: skip
    if state.navs:
        last = max(state.navs)
        nav = state.navs[last]
        gap = nav["nav"] - nav["expected"]
        lines.append(f"{last}: NAV {nav['nav']:,.2f}, expected (engine, as the backtest) "
                     f"{nav['expected']:,.2f}, gap {gap:+,.2f}")  # fmt: skip
    lines.append(f"cash {state.cash:,.2f}")
    for ticker, qty in sorted(state.positions.items()):
        if qty:
            lines.append(f"  {ticker}: {qty:.6g} shares")
    lines.append(f"open orders: {len([c for c in state.open_orders if c in state.submitted])}")
    for alarm in state.alarms[-10:]:
        lines.append(f"alarm {alarm.trade_date} {alarm.payload['code']}: "
                     f"{alarm.payload['message']}")  # fmt: skip
    if state.kill is not None:
        lines.append(f"KILL SWITCH set on {state.kill.trade_date}: {state.kill.payload['message']}"
                     f"; clear: python paper.py clear_kill ledger={folder} reason=...")  # fmt: skip
    text = "\n".join(lines)
    log.info(text)
    return text


def clear_kill(cfg: DictConfig) -> bool:
    ensure_console()
    if not cfg.get("reason"):
        raise ConfigError("reason", 'say why trading may resume: reason="..."')
    with Ledger.open(_folder(cfg) / LEDGER_FILE) as ledger:
        cleared = ledger.clear_kill(str(cfg.reason))
    log.info("kill switch cleared" if cleared else "no kill switch was set")
    return cleared


def run(cfg: DictConfig) -> Any:
    ensure_console()
    command = str(cfg.get("command") or "run")
    if command == "run" and cfg.get("loop"):
        command = "loop"
    if command not in COMMANDS:
        raise ConfigError("command", f"unknown command {command!r}; one of {COMMANDS}")
    try:
        return {"run": run_once, "loop": loop, "status": status, "replay": replay,
                "clear_kill": clear_kill}[command](cfg)  # fmt: skip
    except KillSwitchOn as err:
        log.info(f"stopped: {err}")
        raise
