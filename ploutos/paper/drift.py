"""Drift alarms of a paper account: the calibrated detectors of ploutos.drift, fed each session.

On the account's first session the detectors are calibrated on the checkpoint's training
split of the session's market: its features, and the daily returns and executed sells' pnl of
the deterministic policy stepped over it on the one engine (what `python drift.py` calibrates
on). The calibration is one ledger event (drift_calibration). Each session then feeds the
trade date's features, the account's daily return (the NAV over the previous session's, when
that was the previous market day; else none) and the pnl of the sells the engine filled that
day, and records the day as one event (drift, key trade date): its inputs and every
detector's verdict. Those events are the detectors' state: OnlineDrift rebuilds it from them,
so a session killed at any point resumes with exactly the state a straight run has (one
SQLite transaction per event). A detector's alarm switching on, and the combined alarm
switching on, become alarms of the day in the ledger and its report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig

from ploutos.drift.config import LABELS, DriftSettings
from ploutos.drift.online import Calibration, DayRecord, OnlineDrift, calibrate
from ploutos.evaluation.backtest import agent_policy_fn
from ploutos.evaluation.metrics import simple_returns
from ploutos.evaluation.runner import evaluation_config, run_policy
from ploutos.paper.ledger import Ledger, LedgerState
from ploutos.paper.model import SessionMarket

CALIBRATION_KEY = "drift"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def training_inputs(
    cfg: DictConfig, session: SessionMarket
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(features [n, A, F], daily returns [n], sells' pnl) of the training split: the policy
    run deterministically over it on the engine."""
    market = session.market
    train = market.split("train")
    eval_cfg, _ = evaluation_config(cfg, market)
    policy = session.policy
    was_training = policy.training
    policy.eval()
    try:
        log = run_policy(agent_policy_fn(policy, session.obs_builder), market, eval_cfg,
                         split="train")  # fmt: skip
    finally:
        policy.train(was_training)
    returns = np.full(market.n_days, np.nan)
    returns[log.fill_days] = simple_returns(log.equity[:, 0])
    step, asset = np.nonzero(log.sell_mask[:, 0])
    sold_on = log.fill_days[step]
    pnl = log.realized_pnl[step, 0, asset][sold_on < train.stop]
    features = market.features[train.start : train.stop].cpu().numpy()
    return features, returns[train.start : train.stop], [float(v) for v in pnl]


def daily_return(state: LedgerState, trade_date: str, day: int) -> float | None:
    """The account's return on market day `day`: its NAV over the previous session's, when
    that session was the previous market day."""
    today = state.navs[trade_date]
    earlier = [d for d in state.navs if d < trade_date]
    if not earlier:
        return None
    previous = state.navs[max(earlier)]
    if int(previous["day"]) != day - 1:
        return None
    return float(today["nav"]) / float(previous["nav"]) - 1.0


class PaperDrift:
    """The drift step of a session (after the day's NAV is recorded). The detectors of the
    last session are kept for the next one of the same process, when the ledger holds no
    other day since (a new process rebuilds them from the ledger: the same state)."""

    def __init__(self, settings: DriftSettings) -> None:
        self.settings = settings
        self._online: OnlineDrift | None = None

    def _detectors(
        self, state: LedgerState, calibration: Calibration, session: SessionMarket
    ) -> OnlineDrift:
        recorded = sorted(state.drift)
        online = self._online
        if online is not None and [r.day for r in online.history] == [
            state.drift[d]["day"] for d in recorded
        ]:
            return online
        market = session.market
        train = market.split("train")
        reference = market.features[train.stop - self.settings.reference_days : train.stop]
        history = [DayRecord.from_json(state.drift[d]) for d in recorded]
        self._online = OnlineDrift(self.settings, calibration, reference.cpu().numpy(), history)
        return self._online

    def _calibration(
        self, ledger: Ledger, state: LedgerState, cfg: DictConfig, session: SessionMarket
    ) -> Calibration:
        if state.drift_calibration is not None:
            return Calibration.from_json(state.drift_calibration)
        features, returns, pnl = training_inputs(cfg, session)
        calibration = calibrate(self.settings, features, returns, pnl)
        ledger.append("drift_calibration", "account", CALIBRATION_KEY, calibration.to_json())
        return calibration

    def run_day(
        self,
        ledger: Ledger,
        trade_date: str,
        cfg: DictConfig,
        session: SessionMarket,
        day: int,
        start_day: int,
    ) -> DayRecord:
        """Feed trade_date (market day `day`) to the detectors, record it and its alarms;
        a day already recorded is read back (a rerun after a crash). Alarms count from the
        account's first day `start_day` on (earlier days are not the account's)."""
        state = ledger.state()
        if trade_date in state.drift:
            record = DayRecord.from_json(state.drift[trade_date])
        else:
            calibration = self._calibration(ledger, state, cfg, session)
            online = self._detectors(state, calibration, session)
            recent = session.market.features[max(0, day - online.lookback() + 1) : day + 1]
            record = online.step(day, recent.cpu().numpy(), start_day,
                                 daily_return(state, trade_date, day),
                                 state.navs[trade_date].get("sells", []))  # fmt: skip
            ledger.append("drift", trade_date, trade_date, record.to_json())
        self._alarms(ledger, state, trade_date, record)
        return record

    @staticmethod
    def _alarms(ledger: Ledger, state: LedgerState, trade_date: str, record: DayRecord) -> None:
        """One alarm per detector switching on and one for the combined alarm switching on
        (keys per trade date and code: recording them again after a crash is a no-op)."""
        for name in record.alarming():
            d = record.detectors[name]
            ledger.alarm(trade_date, f"drift_{name}",
                         f"drift: {LABELS.get(name, name)} alarm, statistic "
                         f"{_number(d['statistic'])} against its calibrated threshold "
                         f"{_number(d['threshold'])}")  # fmt: skip
        before = [r for r in state.drift.values() if r["day"] == record.day - 1]
        if record.combined and not (before and before[0]["combined"]):
            active = [LABELS.get(n, n) for n, d in record.detectors.items() if d["active"]]
            ledger.alarm(trade_date, "drift_combined",
                         f"drift: combined alarm, {record.votes} detectors agree "
                         f"({', '.join(active)})")  # fmt: skip


def drift_rows(record: dict[str, Any]) -> list[list[object]]:
    """The day's drift table for the report: detector, statistic, threshold, alarm, active."""
    return [[LABELS.get(name, name), _number(d["statistic"]), _number(d["threshold"]),
             "ALARM" if d["alarm"] else "", "active" if d["active"] else ""]
            for name, d in record["detectors"].items()]  # fmt: skip
