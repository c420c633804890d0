"""The backtest app end to end on a tiny checkpoint: every file is written, the PNGs are real
images, report.html references them, the numbers in the files agree with each other."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import compose_config
from test_backtest_checkpoint import tiny_checkpoint

from ploutos.apps.backtest import run as backtest_from_config
from ploutos.errors import ConfigError
from ploutos.evaluation.baselines import BASELINES
from ploutos.evaluation.report import METRIC_KEYS

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNGS = ("equity.png", "drawdown.png", "trades.png", "timing.png")


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def backtest_cfg(*overrides: str):
    return compose_config("backtest", overrides)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("run"))[0]


@pytest.fixture(scope="module")
def report_dir(ckpt: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("backtest")
    backtest_from_config(backtest_cfg(f"ckpt={ckpt}", "n_boot=200"), out)
    return out


def assert_valid_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 300 and height > 200 and len(data) > 10_000, (path, width, height)


def test_report_files_exist_and_pngs_are_valid(report_dir: Path) -> None:
    for name in ("metrics.json", "equity.csv", "trades.csv", "actions.csv", "report.html"):
        assert (report_dir / name).stat().st_size > 0, name
    for name in PNGS:
        assert_valid_png(report_dir / name)
    parser = _Images()
    parser.feed((report_dir / "report.html").read_text())
    assert sorted(parser.sources) == sorted(PNGS)
    assert not list(report_dir.glob(".*.tmp"))  # atomic writes left no temporaries


def test_metrics_json_and_csvs_agree(report_dir: Path) -> None:
    doc = json.loads((report_dir / "metrics.json").read_text())
    # The tiny checkpoint's synthetic market plants the default edge: the oracle runs too.
    assert list(doc["strategies"]) == ["agent", *BASELINES, "oracle"]
    for name, m in doc["strategies"].items():
        assert set(METRIC_KEYS) <= set(m), name
        ci = m["sharpe_ci"]
        assert ci["low"] <= ci["sharpe"] <= ci["high"], name
    assert doc["windows"] == [{"start": "2002-07-01", "end": "2003-01-24", "steps": 149}]
    agent = doc["strategies"]["agent"]
    timing = agent["timing"]
    assert agent["buy_quality"] == timing["buy_quality"]
    assert timing["buy_good"] + timing["buy_bad"] + timing["buy_unjudged"] > 0

    equity = pd.read_csv(report_dir / "equity.csv")
    assert list(equity.columns) == ["window", "date", "agent", *BASELINES, "oracle"]
    assert len(equity) == 150 and equity.date.iloc[0] == "2002-07-01"
    for name in ("agent", *BASELINES, "oracle"):
        total = equity[name].iloc[-1] / equity[name].iloc[0] - 1
        assert total == pytest.approx(doc["strategies"][name]["total_return"], rel=1e-9, abs=1e-12)
    assert (equity.cash == 100_000.0).all()

    trades = pd.read_csv(report_dir / "trades.csv")
    assert list(trades.columns) == [
        "window", "date", "ticker", "side", "shares", "price", "fee", "realized_pnl"
    ]  # fmt: skip
    assert len(trades) == agent["trades"]
    assert agent["fees"] == pytest.approx(trades.fee.sum(), rel=1e-12) and agent["fees"] > 0
    drawdown = equity.agent / equity.agent.cummax() - 1
    assert agent["max_drawdown"] == pytest.approx(drawdown.min(), rel=1e-12)
    assert set(trades.side) <= {"BUY", "SELL"} and (trades.shares > 0).all()
    actions = pd.read_csv(report_dir / "actions.csv")
    assert len(actions) == 149 and list(actions.columns) == ["window", "date", "S00", "S01", "S02"]
    assert set(np.unique(actions[["S00", "S01", "S02"]].to_numpy())) <= {"HOLD", "BUY", "SELL"}


def test_random_windows_report(ckpt: Path, tmp_path: Path, capsys) -> None:
    cfg = backtest_cfg(f"ckpt={ckpt}", "episodes=3", "days=30", "split=val", "n_boot=100")
    backtest_from_config(cfg, tmp_path)
    printed = capsys.readouterr().out
    assert "3 random windows of 30 days in split 'val'" in printed
    assert "BUY timing: Good (buy low)" in printed and "momentum" in printed
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert [w["steps"] for w in doc["windows"]] == [30, 30, 30]
    assert doc["strategies"]["agent"]["windows"] == 3
    assert len(pd.read_csv(tmp_path / "equity.csv")) == 93
    for name in PNGS:
        assert_valid_png(tmp_path / name)


def test_missing_ckpt_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^ckpt"):
        backtest_from_config(backtest_cfg(), tmp_path)


def test_backtest_script_end_to_end(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "backtest.py", f"ckpt={ckpt}", "n_boot=100", f"hydra.run.dir={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "buy_and_hold" in proc.stdout and "Timing quality (horizon 5 days)" in proc.stdout
    assert (out / "report.html").is_file() and (out / ".hydra" / "config.yaml").is_file()
    assert_valid_png(out / "equity.png")
