"""DriftMonitor: the per-day table, causality, input errors; the config group; the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from ploutos.config import CONF_DIR
from ploutos.drift.config import DriftSettings, drift_settings
from ploutos.drift.monitor import DriftMonitor
from ploutos.drift.report import drift_report
from ploutos.drift.scenarios import ar1_features, daily_returns, trade_pnls
from ploutos.errors import ConfigError, DataError

CONF = CONF_DIR / "drift"
TRAIN, DAYS, ASSETS, FEATURES = 900, 1100, 4, 6


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = ar1_features(rng, DAYS, ASSETS, FEATURES)
    features[1000:, :, :2] += 1.5
    returns = daily_returns(rng, DAYS, vol_change_day=1000, vol_ratio=3.0)
    days = np.sort(rng.integers(0, DAYS, 800))
    trades = np.stack([days, trade_pnls(rng, [(650, 0.55), (150, 0.3)])], axis=1)
    return features, returns, trades


def _settings() -> DriftSettings:
    settings = drift_settings(OmegaConf.load(CONF / "default.yaml"))
    assert settings is not None
    return settings


def test_table_has_every_detector_per_day_and_the_features() -> None:
    features, returns, trades = _inputs()
    names = [f"feat{i}" for i in range(FEATURES)]
    result = DriftMonitor(_settings()).run(features, returns, trades, TRAIN, names)
    table = result.table
    assert len(table) == DAYS - TRAIN and table["day"].iloc[0] == TRAIN
    for name in ("ks", "psi", "mmd", "adwin", "hddm_a"):
        for column in ("stat", "threshold", "alarm"):
            assert f"{name}_{column}" in table
    assert [f"ks_q:{n}" for n in names] + [f"psi:{n}" for n in names] == list(table.columns[-12:])
    # The planted feature shift, volatility tripling and win-rate drop all alarm after day 1000.
    for name in ("ks", "psi", "mmd", "adwin", "hddm_a"):
        first = result.summary["detectors"][name]["first_alarm_day"]
        assert first is not None and first >= 1000, name
    assert result.summary["combined"]["first_alarm_day"] >= 1000


def test_outputs_up_to_day_t_do_not_move_when_later_data_does() -> None:
    features, returns, trades = _inputs()
    options = {"page_hinkley": {"enabled": True}, "cusum": {"enabled": True}}
    settings = drift_settings(OmegaConf.merge(OmegaConf.load(CONF / "default.yaml"), options))
    assert settings is not None and len(settings.enabled_detectors()) == 7
    monitor = DriftMonitor(settings)
    base = monitor.run(features, returns, trades, TRAIN).table
    t = 1040
    rng = np.random.default_rng(99)
    later_features, later_returns = features.copy(), returns.copy()
    later_features[t + 1 :] = rng.normal(3.0, 2.0, later_features[t + 1 :].shape)
    later_returns[t + 1 :] *= 10.0
    later_trades = trades.copy()
    later_trades[trades[:, 0] > t, 1] = -1.0
    moved = monitor.run(later_features, later_returns, later_trades, TRAIN).table
    rows = base["day"] <= t
    assert moved[rows].equals(base[rows])
    assert not moved[~rows].equals(base[~rows])


def test_bad_inputs_name_what_is_wrong() -> None:
    features, returns, trades = _inputs()
    monitor = DriftMonitor(_settings())
    with pytest.raises(DataError, match="returns"):
        monitor.run(features, returns[:-1], trades, TRAIN)
    bad = features.copy()
    bad[17, 0, 0] = np.nan
    with pytest.raises(DataError, match="day 17"):
        monitor.run(bad, returns, trades, TRAIN)
    with pytest.raises(DataError, match="trades"):
        monitor.run(features, returns, [(DAYS + 5, 1.0)], TRAIN)
    with pytest.raises(ConfigError, match="drift.reference_days"):
        monitor.run(features, returns, trades, 300)


def test_default_yaml_is_the_settings_defaults_and_none_is_off() -> None:
    assert _settings() == DriftSettings()
    assert drift_settings(OmegaConf.load(CONF / "none.yaml")) is None


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"ks": {"window": 1}}, "drift.ks.window"),
        ({"psi": {"window": 63}}, "drift.psi.window"),
        ({"ks": {"q": 1.5}}, "drift.ks.q"),
        ({"mmd": {"permutations": "many"}}, "drift.mmd.permutations"),
        ({"mmd": {"block_days": 20}}, "drift.mmd.block_days"),
        ({"adwin": {"enabled": 1}}, "drift.adwin.enabled"),
        ({"combine": {"k": 6}}, "drift.combine.k"),
        ({"combine": {"quorum": 2}}, "drift.combine.quorum"),
        ({"calibration": {"false_alarms_per_year": 0}}, "drift.calibration.false_alarms_per_year"),
    ],
)
def test_bad_settings_name_the_key(override: dict, key: str) -> None:
    cfg = OmegaConf.merge(OmegaConf.load(CONF / "default.yaml"), override)
    with pytest.raises(ConfigError) as raised:
        drift_settings(cfg)
    assert raised.value.key == key


def test_report_writes_json_csv_and_chart(tmp_path: Path) -> None:
    features, returns, trades = _inputs()
    dates = np.datetime64("2015-01-02") + np.arange(DAYS)
    names = [f"feat{i}" for i in range(FEATURES)]
    summary = drift_report(features, returns, trades, dates, names, TRAIN,
                           OmegaConf.load(CONF / "default.yaml"), tmp_path,
                           feature_groups=["trend"] * 3 + ["volume"] * 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drift.csv", "drift.json", "drift.png"]
    written = json.loads((tmp_path / "drift.json").read_text())
    assert written["combined"] == summary["combined"]
    assert written["first_date"] == str(dates[TRAIN])
    assert written["detectors"]["adwin"]["first_alarm_date"] >= str(dates[1000])
    csv = (tmp_path / "drift.csv").read_text().splitlines()
    assert len(csv) == DAYS - TRAIN + 1 and csv[0].startswith("date,day,ks_stat")
    assert (tmp_path / "drift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="drift.name"):
        drift_report(features, returns, trades, dates, names, TRAIN,
                     OmegaConf.load(CONF / "none.yaml"), tmp_path)
