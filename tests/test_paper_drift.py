"""Paper sessions raise drift alarms: the calibrated detectors fed each day, their state in
the ledger (a session killed after its drift step resumes with the same verdicts), alarms in
the ledger and the day's report; a planted volatility tripling alarms within days, the
unchanged market does not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from paper_helpers import checkpoint_trained_until, open_account

from ploutos.config import CONF_DIR
from ploutos.data.bars import Bars
from ploutos.drift.config import drift_settings
from ploutos.drift.online import Calibration, DayRecord, OnlineDrift
from ploutos.paper.brokers.sim import SimBroker
from ploutos.paper.feed import DataFeed
from ploutos.paper.model import PaperModel
from ploutos.paper.report import write_report

# Trained on 2000-01-03 .. 2002-06-28 (train to 2001-12-31); the account trades after that.
TRAINED_END, TEST_START = "2002-06-28", "2002-04-01"
PLANT = "2002-07-22"  # volatility x 3 from this day's bar on
SETTINGS = drift_settings(OmegaConf.merge(OmegaConf.load(CONF_DIR / "drift" / "default.yaml"),
                                          {"reference_days": 252}))  # fmt: skip


def plant_volatility(bars: Bars, start: str, ratio: float) -> Bars:
    """Every log price move from the close before `start` on times `ratio` (opens, highs and
    lows keep their place relative to the previous close, so the bars stay valid)."""
    first = int(np.searchsorted(bars.dates, np.datetime64(start, "D")))
    if first >= bars.n_days or ratio == 1.0:
        return bars
    log_close = np.log(bars.close)
    base = log_close[first - 1]
    new_close = log_close.copy()
    new_close[first:] = base + ratio * (log_close[first:] - base)
    fields = {"close": np.exp(new_close)}
    for name in ("open", "high", "low"):
        values = getattr(bars, name)
        moved = values.copy()
        moved[first:] = np.exp(new_close[first - 1 : -1]
                               + ratio * (np.log(values[first:]) - log_close[first - 1 : -1]))
        fields[name] = moved
    return replace(bars, **fields)


class PlantedFeed(DataFeed):
    """The checkpoint's data source with the planted change (the session and the broker)."""

    def __init__(self, cfg, ratio: float) -> None:
        super().__init__(cfg)
        self.ratio = ratio

    def history(self, through: str, ahead_days: int = 0) -> Bars:
        return plant_volatility(super().history(through, ahead_days), PLANT, self.ratio)


def run_account(folder: Path, ratio: float, start: str, sessions: int, crash_on: int | None = None):
    """The trade dates and the final ledger state of an account over `sessions` sessions;
    with crash_on, the session of that index dies right after its drift step and the next
    process (a fresh model, session and detectors) runs it again."""
    ckpt = checkpoint_trained_until(TRAINED_END, TEST_START)

    def account(on_step=None):
        model = PaperModel.load(ckpt)
        feed = PlantedFeed(model.cfg.data, ratio)
        broker = SimBroker(folder / "sim_broker.sqlite", model.params, feed)
        return open_account(folder, ckpt, sessions, feed=feed, broker=broker, drift=SETTINGS,
                            model=model, on_step=on_step)  # fmt: skip

    dates = [str(d) for d in DataFeed(PaperModel.load(ckpt).cfg.data).history("2002-12-31").dates]
    dates = [d for d in dates if d >= start][:sessions]
    ledger, broker, session = account()
    for i, date in enumerate(dates):
        if i == crash_on:
            ledger.close()
            broker.close()

            def die(step: str) -> None:
                if step == "after_drift":
                    raise KeyboardInterrupt(step)  # nothing in a session catches it

            ledger, broker, session = account(die)
            with pytest.raises(KeyboardInterrupt):
                session.run(date)
            assert date in ledger.state().drift and date not in ledger.state().done
            ledger.close()
            broker.close()
            ledger, broker, session = account()
        assert session.run(date).status == "done", date
    state = ledger.state()
    ledger.close()
    broker.close()
    return dates, state


def drift_alarms(state) -> list[tuple[str, str]]:
    return [(a.trade_date, a.payload["code"]) for a in state.alarms
            if a.payload["code"].startswith("drift_")]  # fmt: skip


def test_a_planted_shift_alarms_within_days_and_the_unchanged_market_does_not(tmp_path) -> None:
    start, sessions = "2002-07-15", 12  # the plant is the 6th session
    dates, planted = run_account(tmp_path / "planted", 3.0, start, sessions, crash_on=7)
    plant = dates.index(PLANT)
    # Every day has its verdicts, computed once (the killed session's were kept and reused).
    assert sorted(planted.drift) == dates
    calibration = planted.drift_calibration
    assert calibration["settings"]["reference_days"] == 252
    assert set(calibration["thresholds"]) == {"ks", "psi", "mmd", "adwin", "hddm_a"}
    assert calibration["details"]["ks"]["training_alarms"] <= 1
    # KS (features) alarms within 5 sessions of the plant and not before it.
    ks = [dates.index(d) for d, code in drift_alarms(planted) if code == "drift_ks"]
    assert ks and plant <= ks[0] <= plant + 5, drift_alarms(planted)
    statistic = [planted.drift[d]["detectors"]["ks"]["statistic"] for d in dates]
    assert max(statistic[plant:]) > calibration["thresholds"]["ks"] > max(statistic[:plant])
    # The account's returns feed the detectors: the NAV's day over day, first day none.
    navs = [planted.navs[d]["nav"] for d in dates]
    returns = [planted.drift[d]["ret"] for d in dates]
    assert returns[0] is None
    np.testing.assert_allclose(returns[1:], np.diff(navs) / navs[:-1], rtol=1e-12)
    assert np.std(returns[plant + 1 :]) > 1.5 * np.std(returns[1:plant])

    # The state in the ledger is the detectors' whole state: one detector fed the recorded
    # days in order, without any restart, gives the recorded verdicts.
    model = PaperModel.load(checkpoint_trained_until(TRAINED_END, TEST_START))
    market, _ = model.market(PlantedFeed(model.cfg.data, 3.0).day(dates[-1], model.tickers,
                                                                   lookahead=False).bars)
    train = market.split("train")
    features = market.features.numpy()
    online = OnlineDrift(SETTINGS, Calibration.from_json(calibration),
                         features[train.stop - 252 : train.stop])  # fmt: skip
    first = planted.drift[dates[0]]["day"]
    for d in dates:
        recorded = DayRecord.from_json(planted.drift[d])
        day = recorded.day
        again = online.step(day, features[max(0, day - online.lookback() + 1) : day + 1], first,
                            recorded.ret, recorded.pnl)  # fmt: skip
        assert again == recorded, d

    # The report of the first alarm's day shows it and the detectors' table.
    alarm_day = dates[ks[0]]
    write_report(planted, alarm_day, tmp_path)
    html = (tmp_path / "reports" / alarm_day / "report.html").read_text()
    assert "drift_ks" in html and "ALARM" in html and "KS" in html

    _, unchanged = run_account(tmp_path / "unchanged", 1.0, start, sessions)
    codes = {code for _, code in drift_alarms(unchanged)}
    assert not codes & {"drift_ks", "drift_psi", "drift_adwin", "drift_hddm_a", "drift_combined"}
    ks_unchanged = [unchanged.drift[d]["detectors"]["ks"]["statistic"] for d in dates]
    assert max(ks_unchanged) < calibration["thresholds"]["ks"]


@pytest.mark.slow
def test_over_40_sessions_the_combined_alarm_fires_only_on_the_planted_shift(tmp_path) -> None:
    start, sessions = "2002-07-01", 40
    dates, planted = run_account(tmp_path / "planted", 3.0, start, sessions)
    plant = dates.index(PLANT)
    combined = [dates.index(d) for d, code in drift_alarms(planted) if code == "drift_combined"]
    assert combined and plant <= combined[0] <= plant + 25, drift_alarms(planted)
    adwin = [dates.index(d) for d, code in drift_alarms(planted) if code == "drift_adwin"]
    assert adwin and plant <= adwin[0] <= plant + 25
    _, unchanged = run_account(tmp_path / "unchanged", 1.0, start, sessions)
    assert not any(r["combined"] for r in unchanged.drift.values())
    codes = {code for _, code in drift_alarms(unchanged)}
    assert not codes & {"drift_ks", "drift_adwin", "drift_combined"}
