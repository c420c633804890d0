"""experiments/compare_walkforward.py: the paired test of two walk-forward runs reads their
stitched curves and equals compare's paired test on those days' returns."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ploutos.evaluation.compare import paired_sharpe_test

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "experiments"))
import compare_walkforward  # noqa: E402


def write_run(folder: Path, agent: np.ndarray, hold: np.ndarray, days: int) -> Path:
    folder.mkdir(parents=True)
    dates = pd.bdate_range("2010-01-04", periods=days).strftime("%Y-%m-%d")
    pd.DataFrame({"date": dates, "fold": 0, "agent": agent, "buy_and_hold": hold}).to_csv(
        folder / "equity.csv", index=False
    )
    return folder


def test_paired_tests_on_the_stitched_days(tmp_path: Path):
    rng = np.random.default_rng(3)
    days = 600
    hold = 1e5 * np.cumprod(1 + rng.normal(3e-4, 0.01, days))
    good = 1e5 * np.cumprod(1 + rng.normal(2e-3, 0.01, days))
    poor = 1e5 * np.cumprod(1 + rng.normal(0.0, 0.01, days))
    a = write_run(tmp_path / "a", good, hold, days)
    b = write_run(tmp_path / "b", poor, hold, days)
    tests = compare_walkforward.compare_walkforwards(a, b, n_boot=500)
    assert [(t["a"], t["b"]) for t in tests] == [("A", "B"), ("A", "buy_and_hold"),
                                                ("B", "buy_and_hold")]  # fmt: skip
    ret = {n: np.diff(x) / x[:-1] for n, x in (("A", good), ("B", poor), ("h", hold))}
    expected = paired_sharpe_test(ret["A"], ret["B"], n_boot=500)
    assert tests[0]["diff"] == pytest.approx(expected["diff"], rel=1e-9)
    assert (tests[0]["low"], tests[0]["high"]) == pytest.approx(
        (expected["low"], expected["high"]), rel=1e-9
    )
    # The planted drift gap, ~3.2 annualized Sharpe with a standard error near 0.9 here.
    assert tests[0]["diff"] > 1.5 and tests[0]["low"] > 0 and tests[0]["p_value"] < 0.05
    assert tests[2]["sharpe_b"] == pytest.approx(paired_sharpe_test(ret["h"], ret["h"])["sharpe_a"])


def test_refuses_runs_of_different_days(tmp_path: Path, capsys):
    curve = np.linspace(1e5, 1.1e5, 50)
    a = write_run(tmp_path / "a", curve, curve, 50)
    b = write_run(tmp_path / "b", curve[:40], curve[:40], 40)
    assert compare_walkforward.main([str(a), str(b)]) == 2
    assert "test different days" in capsys.readouterr().err
    assert compare_walkforward.main([str(a), str(tmp_path / "nowhere")]) == 2
    assert "nowhere/equity.csv" in capsys.readouterr().err
