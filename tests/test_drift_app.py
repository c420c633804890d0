"""The drift app on a tiny trained checkpoint: drift.json / drift.csv hold numbers for every
detector and day of the window, the agent's returns and trades are the backtest's, and bad
input is one line naming the key or path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import compose_config
from test_backtest_checkpoint import tiny_checkpoint

from ploutos.apps.drift import model_inputs, run
from ploutos.errors import ConfigError
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
# The tiny market trains on ~460 days: a shorter reference than the default 504.
SHORT = ("drift.reference_days=252",)
DETECTORS = ("ks", "psi", "mmd", "adwin", "hddm_a")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path, _ = tiny_checkpoint(tmp_path_factory.mktemp("run"))
    return path


def _cfg(*overrides: str):
    return compose_config("drift_app", list(overrides))


def test_report_over_the_test_split_is_numbers(checkpoint: Path, tmp_path: Path) -> None:
    cfg = _cfg(f"ckpt={checkpoint}", *SHORT)
    summary = run(cfg, tmp_path)
    model = load_checkpoint(checkpoint)
    test = model.market.split("test")
    doc = json.loads((tmp_path / "drift.json").read_text())
    assert doc["monitored_days"] == test.n_days == summary["monitored_days"]
    assert doc["first_date"] == str(model.market.dates[test.start])[:10]
    assert doc["train_days"] == model.market.split("train").n_days
    table = pd.read_csv(tmp_path / "drift.csv")
    assert len(table) == test.n_days
    assert table["date"].iloc[0] == doc["first_date"]
    for name in DETECTORS:
        entry = doc["detectors"][name]
        assert np.isfinite(entry["threshold"]) and entry["threshold"] >= 0, name
        # The report's count is the day table's: one row per monitored day.
        assert entry["alarm_days"] == int(table[f"{name}_alarm"].sum()), name
    for name in ("ks", "psi", "mmd"):  # window tests: a value on every day
        assert np.isfinite(table[f"{name}_stat"]).all(), name
        assert np.isfinite(table[f"{name}_threshold"]).all(), name
    features = list(model.market.feature_names)
    ks = table[[f"ks_q:{n}" for n in features]].to_numpy()
    assert ((ks >= 0) & (ks <= 1)).all()
    assert (table[[f"psi:{n}" for n in features]].to_numpy() >= 0).all()
    assert set(table["combined_alarm"].unique()) <= {True, False}
    assert (tmp_path / "drift.png").stat().st_size > 10_000


def test_returns_and_trades_are_the_backtests(checkpoint: Path) -> None:
    model = load_checkpoint(checkpoint)
    test = model.market.split("test")
    inputs = model_inputs(model, test)
    result = run_backtest(model, "test", baselines=[], n_boot=10)
    log = result.runs[AGENT][0].log
    window = inputs.returns[inputs.train_days:]
    assert np.isnan(window[0])  # the first decision day: cash, no return yet
    np.testing.assert_allclose(window[1:], result.returns(AGENT))
    sells = int(log.sell_mask[:, 0].sum())
    assert sells > 0  # a near-random agent trades: the comparison below is not empty
    in_window = inputs.trades[inputs.trades[:, 0] >= inputs.train_days]
    assert len(in_window) == sells
    pnl = log.realized_pnl[:, 0][log.sell_mask[:, 0]]
    np.testing.assert_allclose(np.sort(in_window[:, 1]), np.sort(pnl))
    assert inputs.features.shape[0] == inputs.train_days + test.n_days


def test_a_window_inside_training_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="split.*inside the training period"):
        run(_cfg(f"ckpt={checkpoint}", "split=train", *SHORT), tmp_path)


def test_bad_path_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ckpt"
    done = subprocess.run(
        [sys.executable, "drift.py", f"ckpt={missing}", f"output_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(missing) in lines[0]


def test_backtest_report_gains_a_drift_section_only_when_asked(checkpoint: Path,
                                                               tmp_path: Path) -> None:
    from ploutos.apps.backtest import run as backtest

    plain, with_drift = tmp_path / "plain", tmp_path / "drift"
    common = [f"ckpt={checkpoint}", "baselines=[cash]", "n_boot=10"]
    backtest(compose_config("backtest", common), plain)
    assert not (plain / "drift.json").exists()
    assert "Drift" not in (plain / "report.html").read_text()
    backtest(compose_config("backtest", [*common, "drift=default", *SHORT]), with_drift)
    page = (with_drift / "report.html").read_text()
    assert "<h2>Drift (against the training period)</h2>" in page and "drift.png" in page
    doc = json.loads((with_drift / "drift.json").read_text())
    assert doc["monitored_days"] == load_checkpoint(checkpoint).market.split("test").n_days
    # The section reuses the backtest's run of the window: the same returns as drift.py's.
    standalone = tmp_path / "standalone"
    run(_cfg(f"ckpt={checkpoint}", *SHORT), standalone)
    pd.testing.assert_frame_equal(pd.read_csv(with_drift / "drift.csv"),
                                  pd.read_csv(standalone / "drift.csv"))
