"""Where drift is used: the app behind `python drift.py ckpt=PATH [split=test | start=.. end=..]`,
the backtest report's drift section, the training start-up line and walk-forward's alarms.

ploutos.drift takes plain arrays; this module (above both evaluation and drift) turns a model,
a market and a window into them. The days handed to the monitor are the whole training split
followed by the evaluated window (days between them, e.g. validation before test, are left
out): the detectors calibrate on the training replay, the feature tests compare against the
last `drift.reference_days` training days, and the window is monitored. Where the window does
not follow the training directly, the first rolling windows of the monitored days still hold
the end of the training period, which delays an alarm by at most a window, never raises one.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ploutos.apps.cli import ensure_console
from ploutos.data.splits import FoldAlarms
from ploutos.drift import DriftMonitor, drift_report, drift_settings
from ploutos.drift.config import LABELS, DriftSettings
from ploutos.errors import ConfigError
from ploutos.evaluation.backtest import AGENT, BacktestResult, agent_policy_fn, resolve_windows
from ploutos.evaluation.checkpoint import LoadedModel, load_checkpoint
from ploutos.evaluation.metrics import simple_returns
from ploutos.evaluation.runner import EpisodeLog, evaluation_config, run_policy
from ploutos.market import Market, SplitRange

WINDOW_SPLIT = "drift_window"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftInputs:
    """What drift_report reads: the training days, then the monitored days."""

    features: np.ndarray  # float32 [T, A, F]
    returns: np.ndarray  # float64 [T]: daily simple returns, NaN where none
    trades: np.ndarray  # float64 [n, 2]: (position in these days, pnl) of executed sells
    dates: np.ndarray  # datetime64[D] [T]
    train_days: int
    market_days: np.ndarray  # int64 [T]: each day's index on the market's calendar


def monitored_days(market: Market, window: SplitRange, key: str = "split") -> np.ndarray:
    """The market day indices: the training split, then `window` (which must follow it)."""
    train = market.split("train")
    if window.start < train.stop:
        raise ConfigError(key, f"the drift window starts {market.dates[window.start]}, inside "
                               f"the training period (it ends {market.dates[train.stop - 1]}); "
                               "choose a later split or start")
    return np.concatenate([np.arange(train.start, train.stop), np.arange(window.start,
                                                                         window.stop)])


def log_returns_and_trades(log: EpisodeLog, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(returns [n_days] by market day, NaN where the log has none; (market day, pnl) of every
    executed sell of env 0: a win when its realized pnl is positive)."""
    returns = np.full(n_days, np.nan)
    returns[log.fill_days] = simple_returns(log.equity[:, 0])
    step, asset = np.nonzero(log.sell_mask[:, 0])
    trades = np.stack([log.fill_days[step], log.realized_pnl[step, 0, asset]], axis=1)
    return returns, trades.astype(np.float64)


def agent_logs(model: LoadedModel, windows: list[SplitRange]) -> list[EpisodeLog]:
    """The deterministic agent stepped over each window on the one engine."""
    market = replace(model.market, splits={**model.market.splits,
                                           **{w.name: w for w in windows}})
    eval_cfg, _ = evaluation_config(model.cfg, market)
    policy = model.policy
    was_training = policy.training
    policy.eval()
    try:
        act = agent_policy_fn(policy, model.obs_builder)
        return [run_policy(act, market, eval_cfg, split=w.name) for w in windows]
    finally:
        policy.train(was_training)


def model_inputs(model: LoadedModel, window: SplitRange, window_log: EpisodeLog | None = None,
                 key: str = "split") -> DriftInputs:
    """Features, the agent's returns and trades over the training split and `window`.

    The agent is run over the training split (its returns and trades calibrate the streaming
    detectors) and over the window, unless `window_log` (a backtest's run of it) is given.
    """
    market = model.market
    days = monitored_days(market, window, key)
    train = market.split("train")
    if window_log is None:
        logs = agent_logs(model, [train, replace(window, name=WINDOW_SPLIT)])
    else:
        logs = [*agent_logs(model, [train]), window_log]
    returns = np.full(market.n_days, np.nan)
    trades = []
    for episode in logs:
        found, executed = log_returns_and_trades(episode, market.n_days)
        returns = np.where(np.isnan(found), returns, found)
        trades.append(executed)
    position = np.full(market.n_days, -1)
    position[days] = np.arange(days.size)
    rows = np.concatenate(trades)
    rows = rows[position[rows[:, 0].astype(int)] >= 0]
    rows[:, 0] = position[rows[:, 0].astype(int)]
    return DriftInputs(
        features=market.features[days].cpu().numpy(),
        returns=returns[days],
        trades=rows,
        dates=market.dates[days].astype("datetime64[D]"),
        train_days=int(market.split("train").n_days),
        market_days=days,
    )


def model_drift(model: LoadedModel, window: SplitRange, cfg_drift: DictConfig, out_dir: Path,
                window_log: EpisodeLog | None = None, key: str = "split") -> dict[str, Any]:
    """drift.json, drift.csv and drift.png of `model` over `window` in out_dir; the summary."""
    inputs = model_inputs(model, window, window_log, key)
    groups = None if model.report is None else list(model.report.feature_groups)
    return drift_report(inputs.features, inputs.returns, inputs.trades, inputs.dates,
                        list(model.market.feature_names), inputs.train_days, cfg_drift, out_dir,
                        feature_groups=groups)


def alarm_line(summary: dict[str, Any]) -> str:
    """One line: which detectors alarm, on how many days, and the combined alarm."""
    parts = []
    for name, entry in summary["detectors"].items():
        if entry["alarm_days"]:
            parts.append(f"{LABELS.get(name, name)} on {entry['alarm_days']} days "
                         f"(from {entry.get('first_alarm_date') or entry['first_alarm_day']})")
    combined = summary["combined"]
    alarms = "; ".join(parts) if parts else "no detector alarms"
    return (f"{alarms}; combined alarm (>= {combined['k']} agree) on "
            f"{combined['alarm_days']} of {summary['monitored_days']} days")


def drift_html(summary: dict[str, Any]) -> str:
    """The report.html section: the line, one row per detector, the timeline chart."""
    rows = [{"detector": LABELS.get(name, name), "threshold": entry["threshold"],
             "training alarms": entry["training_alarms"], "alarms": entry["alarms"],
             "alarm days": entry["alarm_days"], "first alarm": entry.get("first_alarm_date")}
            for name, entry in summary["detectors"].items()]
    return (f"<p>{html.escape(alarm_line(summary))}</p>"
            + pd.DataFrame(rows).to_html(index=False, float_format=lambda v: f"{v:.4g}")
            + "<img src='drift.png' alt='drift timeline'>"
            + "<p>drift.json (summary), drift.csv (per day and feature)</p>")


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """`python drift.py`: load cfg.ckpt, monitor cfg.split (or start/end) against its training
    period, write drift.json/csv/png into out_dir and log the summary line."""
    ensure_console()
    if not cfg.get("ckpt"):
        raise ConfigError("ckpt", "give the checkpoint to check: python drift.py ckpt=PATH")
    if drift_settings(cfg.drift) is None:
        raise ConfigError("drift", "is 'none'; choose a detector set, e.g. drift=default")
    model = load_checkpoint(cfg.ckpt, device=str(cfg.device))
    start = None if cfg.start is None else str(cfg.start)
    end = None if cfg.end is None else str(cfg.end)
    windows, description = resolve_windows(model, cfg.split, start, end)
    key = "start" if start is not None or end is not None else "split"
    summary = model_drift(model, windows[0], cfg.drift, Path(out_dir), key=key)
    log.info(f"drift of {model.name} over {description} against its training period: "
          f"{alarm_line(summary)}")
    log.info(f"report: {Path(out_dir) / 'drift.json'}")
    return summary


def market_returns(market: Market) -> np.ndarray:
    """[T] equal-weight daily close-to-close return of the market's assets (NaN on day 0)."""
    close = market.close.cpu().numpy()
    out = np.full(close.shape[0], np.nan)
    out[1:] = (close[1:] / close[:-1] - 1.0).mean(axis=1)
    return out


def validation_drift(cfg: DictConfig, market: Market) -> dict[str, Any]:
    """The validation split's drift against the training split, as DriftMonitor's summary
    with first_alarm_date beside each first_alarm_day: features and the equal-weight market
    return (training starts before any agent exists, so there are no trades)."""
    settings = drift_settings(cfg.drift)
    if settings is None:
        raise ConfigError("drift", "is 'none'; nothing to monitor")
    train, val = market.split("train"), market.split("val")
    days = np.concatenate([np.arange(train.start, train.stop), np.arange(val.start, val.stop)])
    summary = DriftMonitor(settings).run(market.features[days].cpu().numpy(),
                                         market_returns(market)[days], None, train.n_days,
                                         market.feature_names).summary
    dates = market.dates[days].astype("datetime64[D]")
    for entry in (*summary["detectors"].values(), summary["combined"]):
        day = entry["first_alarm_day"]
        entry["first_alarm_date"] = None if day is None else str(dates[day])
    return summary


def fold_alarms(features: np.ndarray, returns: np.ndarray, settings: DriftSettings
                ) -> FoldAlarms:
    """Walk-forward's alarm source: for a fold's train range and the day its schedule ends,
    the days in train.stop .. stop - 1 on which the combined alarm is on, each computed
    from days up to it only (detectors calibrated on that fold's training days)."""

    def alarms(train: SplitRange, stop: int) -> np.ndarray:
        stop = min(stop, features.shape[0])
        result = DriftMonitor(settings).run(features[train.start:stop],
                                            returns[train.start:stop], None, train.n_days)
        on = result.table["combined_alarm"].to_numpy()
        return np.flatnonzero(on) + train.stop

    return alarms


def walk_forward_alarms(cfg: DictConfig) -> Callable[[np.ndarray, np.ndarray], FoldAlarms] | None:
    """For plan_folds: None with data.walk_forward.retrain=schedule, else the factory of the
    fold alarm source over the planned features and market returns (needs drift=default)."""
    retrain = cfg.data.walk_forward.get("retrain", "schedule")
    if retrain != "drift":
        return None
    settings = drift_settings(cfg.get("drift") or {"name": "none"})
    if settings is None:
        raise ConfigError("drift", "data.walk_forward.retrain=drift needs a detector set: "
                                   "add drift=default")
    return lambda features, returns: fold_alarms(features, returns, settings)


def backtest_drift_section(model: LoadedModel, result: BacktestResult, cfg: DictConfig,
                           out_dir: Path) -> tuple[str, str]:
    """The backtest report's drift section (drift.json/csv/png beside report.html): the
    backtested window, or with random windows the split or date range they were drawn in."""
    start = None if cfg.start is None else str(cfg.start)
    end = None if cfg.end is None else str(cfg.end)
    key = "start" if start is not None or end is not None else "split"
    if len(result.windows) == 1:
        window, episode = result.windows[0], result.runs[AGENT][0].log
    else:
        window, episode = resolve_windows(model, cfg.split, start, end)[0][0], None
    summary = model_drift(model, window, cfg.drift, out_dir, episode, key)
    log.info(f"drift against the training period: {alarm_line(summary)}")
    return "Drift (against the training period)", drift_html(summary)


def log_validation_drift(cfg: DictConfig, market: Market) -> str:
    """Training's hook: log validation_drift's line under the 'ploutos' logger (the console and
    the run's log file under the training app); returns the line."""
    line = f"drift of validation against training: {alarm_line(validation_drift(cfg, market))}"
    log.info(line)
    return line
