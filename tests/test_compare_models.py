"""compare: the same windows for every model, a model against itself gives a difference of
exactly zero and p = 1, the paired test finds a planted difference, and the app's files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import compose_config
from test_backtest_checkpoint import tiny_checkpoint
from test_backtest_report import assert_valid_png

from ploutos.apps.compare import run as compare_from_config
from ploutos.errors import ConfigError, DataError
from ploutos.evaluation.backtest import AGENT
from ploutos.evaluation.checkpoint import load_checkpoint
from ploutos.evaluation.compare import compare_models, paired_sharpe_test


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> tuple[Path, Path]:
    """Two checkpoints on the same data: different seeds of the policy, same bars."""
    a = tiny_checkpoint(tmp_path_factory.mktemp("a"))[0]
    b = tiny_checkpoint(tmp_path_factory.mktemp("b"), "seed=7", "data.seed=42")[0]
    return a, b


def test_model_against_itself_is_exactly_zero_and_not_significant(ckpts) -> None:
    model = load_checkpoint(ckpts[0])
    comparison = compare_models([model, model], episodes=3, days=40, seed=1, n_boot=500, against=())
    assert comparison.names == [model.name, f"{model.name}#1"]
    (test,) = comparison.tests
    assert test["diff"] == 0.0 and test["low"] == 0.0 and test["high"] == 0.0
    assert test["p_value"] == 1.0 and test["days"] == 120
    a, b = (comparison.results[n] for n in comparison.names)
    np.testing.assert_array_equal(a.returns(AGENT), b.returns(AGENT))


def test_models_step_the_same_windows(ckpts) -> None:
    models = [load_checkpoint(p) for p in ckpts]
    comparison = compare_models(models, n_boot=300)
    a, b = (comparison.results[n] for n in comparison.names)
    assert a.windows == b.windows == comparison.windows
    np.testing.assert_array_equal(a.dates[0], b.dates[0])
    # Baselines once (from the first backtest), beside every model.
    assert list(comparison.metrics) == [
        *comparison.names, "buy_and_hold", "index", "cash", "random", "momentum"
    ]  # fmt: skip
    pairs = [(t["a"], t["b"]) for t in comparison.tests]
    assert pairs == [
        (comparison.names[1], comparison.names[0]),
        (comparison.names[0], "buy_and_hold"),
        (comparison.names[1], "buy_and_hold"),
    ]
    for t in comparison.tests:
        assert t["low"] <= t["diff"] <= t["high"] and 0.0 < t["p_value"] <= 1.0
        assert t["days"] == len(a.returns(AGENT))


def test_paired_test_detects_a_planted_edge_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    common = rng.normal(0.0, 0.01, 2000)
    better = common + 0.002  # the same days plus a steady 20 bp a day: Sharpe up by ~3.2
    test = paired_sharpe_test(better, common, n_boot=2000, seed=0)
    expected = (better.mean() / better.std(ddof=1) - common.mean() / common.std(ddof=1)) * np.sqrt(
        252
    )
    assert test["diff"] == pytest.approx(expected, rel=1e-12)
    assert test["p_value"] < 0.01 and test["low"] > 0
    noise = paired_sharpe_test(common + rng.normal(0, 1e-3, 2000), common, n_boot=2000, seed=0)
    assert noise["p_value"] > 0.05 and noise["low"] < 0 < noise["high"]
    with pytest.raises(ValueError, match="same 1-D shape"):
        paired_sharpe_test(common, common[:-1])


def test_different_data_is_refused(ckpts, tmp_path: Path) -> None:
    other = tiny_checkpoint(tmp_path, "data.signal_strength=0.0")[0]
    with pytest.raises(DataError, match="different data"):
        compare_models([load_checkpoint(ckpts[0]), load_checkpoint(other)])


def test_compare_app_writes_table_curves_and_test(ckpts, tmp_path: Path, capsys) -> None:
    cfg = compose_config(
        "compare", [f"ckpts=[{ckpts[0]},{ckpts[1]}]", "n_boot=300", "episodes=2", "days=50"]
    )
    compare_from_config(cfg, tmp_path)
    printed = capsys.readouterr().out
    assert "p-value" in printed and "buy_and_hold" in printed
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert len(doc["windows"]) == 2 and len(doc["tests"]) == 3
    table = pd.read_csv(tmp_path / "compare.csv")
    assert list(table.strategy[:2]) == doc["models"]
    equity = pd.read_csv(tmp_path / "equity.csv")
    assert list(equity.columns[:4]) == ["window", "date", *doc["models"]]
    assert len(equity) == 102
    assert_valid_png(tmp_path / "equity.png")
    assert "equity.png" in (tmp_path / "report.html").read_text()
    empty = compose_config("compare")
    with pytest.raises(ConfigError, match="^ckpts"):
        compare_from_config(empty, tmp_path)
