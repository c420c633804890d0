"""OnlineDrift (one day at a time, state rebuilt from the day records) equals DriftMonitor's
batch table day by day, and its calibration survives a JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from ploutos.config import CONF_DIR
from ploutos.drift.config import drift_settings
from ploutos.drift.monitor import DriftMonitor
from ploutos.drift.online import Calibration, DayRecord, OnlineDrift, calibrate
from ploutos.drift.scenarios import ar1_features, daily_returns, trade_pnls
from ploutos.errors import ConfigError

TRAIN, DAYS, ASSETS, FEATURES, CHANGE = 700, 800, 3, 5, 715
REBUILD_EVERY = 15  # a new OnlineDrift from the JSON records, as each paper process builds one


def _inputs(seed: int = 0, days: int = DAYS):
    rng = np.random.default_rng(seed)
    features = ar1_features(rng, days, ASSETS, FEATURES)
    features[CHANGE:, :, :2] += 1.5
    returns = daily_returns(rng, days, vol_change_day=CHANGE, vol_ratio=3.0)
    returns[[0, 720, 721]] = np.nan  # no return on those days (no session)
    trade_days = np.sort(rng.integers(0, days, 500))
    trades = np.stack([trade_days, trade_pnls(rng, [(440, 0.55), (60, 0.2)])], axis=1)
    return features, returns, trades


def _settings(**overrides):
    cfg = OmegaConf.merge(OmegaConf.load(CONF_DIR / "drift" / "default.yaml"),
                          {"reference_days": 252, "combine": {"hold_days": 42}}, overrides)
    return drift_settings(cfg)


def _day_by_day(days: int, gap: int = 0):
    """(batch table, JSON day records) over `days` days, the first TRAIN for training; the
    first `gap` monitored days have no record (no return, no trade: no session that day)."""
    settings = _settings()
    features, returns, trades = _inputs(days=days)
    returns[TRAIN : TRAIN + gap] = np.nan
    trades = trades[(trades[:, 0] < TRAIN) | (trades[:, 0] >= TRAIN + gap)]
    table = DriftMonitor(settings).run(features, returns, trades, TRAIN).table
    train_pnl = trades[trades[:, 0] < TRAIN, 1]
    calibration = Calibration.from_json(json.loads(json.dumps(
        calibrate(settings, features[:TRAIN], returns[:TRAIN], train_pnl).to_json())))
    reference = features[TRAIN - settings.reference_days : TRAIN]
    online = OnlineDrift(settings, calibration, reference)
    records: list[dict] = []
    for day in range(TRAIN + gap, days):
        if day % REBUILD_EVERY == 0:
            online = OnlineDrift(settings, calibration, reference,
                                 [DayRecord.from_json(r) for r in records])
        ret = None if np.isnan(returns[day]) else float(returns[day])
        pnl = trades[trades[:, 0] == day, 1].tolist()
        recent = features[max(0, day - online.lookback() + 1) : day + 1]
        record = online.step(day, recent, TRAIN, ret, pnl)
        records.append(json.loads(json.dumps(record.to_json(), allow_nan=False)))
    return settings, table.iloc[gap:], records


def _assert_equal(settings, table, records) -> np.ndarray:
    """Every detector's statistic, threshold and alarm and the votes equal the batch's;
    returns the combined alarm."""
    for name in settings.enabled_detectors():
        stat = np.array([np.nan if r["detectors"][name]["statistic"] is None
                         else r["detectors"][name]["statistic"] for r in records])
        np.testing.assert_allclose(stat, table[f"{name}_stat"].to_numpy(dtype=float),
                                   rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=name)
        alarm = np.array([r["detectors"][name]["alarm"] for r in records])
        np.testing.assert_array_equal(alarm, table[f"{name}_alarm"].to_numpy(), err_msg=name)
        assert records[0]["detectors"][name]["threshold"] == table[f"{name}_threshold"].iloc[0]
    votes = np.array([r["votes"] for r in records])
    np.testing.assert_array_equal(votes, table["combined_votes"].to_numpy())
    combined = np.array([r["combined"] for r in records])
    np.testing.assert_array_equal(combined, table["combined_alarm"].to_numpy())
    return combined


def test_day_by_day_equals_the_batch_monitor() -> None:
    """45 monitored days, the planted change on the 16th: ADWIN sees it within them."""
    settings, table, records = _day_by_day(TRAIN + 45)
    _assert_equal(settings, table, records)
    adwin = [r["detectors"]["adwin"]["alarm"] for r in records]
    assert any(adwin[CHANGE - TRAIN :]) and not any(adwin[: CHANGE - TRAIN])


def test_unrecorded_days_are_scored_from_the_features() -> None:
    """No record for the first 5 monitored days: the window tests score every day they still
    need from the features (the slow path of step) and agree with the batch all the same."""
    _assert_equal(*_day_by_day(TRAIN + 25, gap=5))


@pytest.mark.slow
def test_day_by_day_equals_the_batch_monitor_over_100_days() -> None:
    """Both paths of step: 5 unrecorded days first, then 95 recorded ones."""
    settings, table, records = _day_by_day(DAYS, gap=5)
    combined = _assert_equal(settings, table, records)
    # The planted change is seen: each detector but PSI (a 126-day window) alarms within 60
    # days of it, and the combined alarm is on only after it.
    change = CHANGE - TRAIN - 5  # records start after the 5 unrecorded days
    for name in ("ks", "mmd", "adwin", "hddm_a"):
        alarm = np.array([r["detectors"][name]["alarm"] for r in records])
        assert alarm[change : change + 60].any(), name
    assert combined[change:].any() and not combined[:change].any()


def test_other_settings_than_the_calibration_are_refused() -> None:
    settings = _settings()
    features, returns, trades = _inputs()
    calibration = calibrate(settings, features[:TRAIN], returns[:TRAIN], trades[:50, 1])
    reference = features[TRAIN - settings.reference_days : TRAIN]
    with pytest.raises(ConfigError, match=r"drift\.ks\.q"):
        OnlineDrift(_settings(ks={"q": 0.1}), calibration, reference)
