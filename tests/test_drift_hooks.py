"""Drift where it is used outside the drift app: training's start-up line (validation against
training) and walk-forward's retrain=drift fold planning."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose_config, make_toy_market
from omegaconf import OmegaConf

from ploutos.apps.drift import log_validation_drift, validation_drift
from ploutos.apps.train import train
from ploutos.config import CONF_DIR
from ploutos.drift.scenarios import ar1_features
from ploutos.errors import ConfigError

DRIFT = OmegaConf.load(CONF_DIR / "drift" / "default.yaml")
SHIFT_DAY = 40  # days into validation at which the planted regime starts


def _cfg(**drift):
    return OmegaConf.create({"drift": OmegaConf.merge(DRIFT, drift)})


def _market(planted: bool, seed: int = 0):
    """A toy market (train 590 days, val 295) with AR(1) features; planted: from SHIFT_DAY
    days into validation, two features move by 1.5 sd and daily volatility triples."""
    market = make_toy_market(n_days=1200, n_assets=4, n_features=6, seed=seed)
    rng = np.random.default_rng(seed)
    features = ar1_features(rng, market.n_days, market.n_assets, market.n_features)
    close = market.close.numpy()
    if planted:
        at = market.split("val").start + SHIFT_DAY
        features[at:, :, :2] += 1.5
        log_ret = np.diff(np.log(close), axis=0)
        log_ret[at - 1:] *= 3.0
        close = close[0] * np.exp(np.concatenate([np.zeros((1, close.shape[1])),
                                                  np.cumsum(log_ret, axis=0)]))
    return replace(market, features=torch.tensor(features),
                   close=torch.tensor(close), fill=torch.tensor(close))


def test_planted_validation_regime_alarms_after_it_starts() -> None:
    market = _market(planted=True)
    summary = validation_drift(_cfg(), market)
    shift = market.split("train").n_days + SHIFT_DAY
    for name in ("ks", "psi", "mmd", "adwin"):
        first = summary["detectors"][name]["first_alarm_day"]
        assert first is not None and shift <= first < shift + 126, (name, first)
    # The detectors fire ~22 days apart here (ADWIN, MMD, KS, PSI in turn), just beyond the
    # default 21 hold days; holding each onset for a quarter makes them agree.
    combined = validation_drift(_cfg(combine={"hold_days": 63}), market)["combined"]
    assert combined["first_alarm_day"] is not None and combined["first_alarm_day"] >= shift
    assert combined["alarm_days"] > 0
    assert summary["detectors"]["hddm_a"]["alarm_days"] == 0  # no trades before training


def test_stationary_validation_raises_no_combined_alarm() -> None:
    summary = validation_drift(_cfg(), _market(planted=False))
    assert summary["combined"]["alarm_days"] == 0
    assert summary["monitored_days"] == 295


def test_training_logs_one_line_when_drift_is_on(tmp_path: Path, caplog) -> None:
    market = _market(planted=True)
    cfg = compose_config("train", ["experiment=smoke", f"trainer.output_dir={tmp_path}",
                                   "drift=default", "total_timesteps=512"])
    with caplog.at_level(logging.INFO, logger="ploutos.apps.drift"):
        train(cfg, market, {"tickers": list(market.tickers), "fingerprint": "toy"})
    lines = [r.getMessage() for r in caplog.records if r.name == "ploutos.apps.drift"]
    assert len(lines) == 1
    assert lines[0].startswith("drift of validation against training: ")
    assert "KS on" in lines[0] and "ADWIN (volatility) on" in lines[0]
    assert "combined alarm (>= 2 agree) on" in lines[0] and "of 295 days" in lines[0]


def test_training_without_drift_logs_nothing(tmp_path: Path, caplog) -> None:
    market = _market(planted=False)
    cfg = compose_config("train", ["experiment=smoke", f"trainer.output_dir={tmp_path}",
                                   "total_timesteps=512"])
    with caplog.at_level(logging.INFO, logger="ploutos.apps.drift"):
        train(cfg, market, {"tickers": list(market.tickers), "fingerprint": "toy"})
    assert not [r for r in caplog.records if r.name == "ploutos.apps.drift"]


def test_too_short_training_names_the_reference_key() -> None:
    with pytest.raises(ConfigError, match="drift.reference_days"):
        log_validation_drift(_cfg(reference_days=630), _market(planted=False))
