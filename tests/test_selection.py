"""Model selection (ploutos/training/selection.py) and the validation Sharpe's bootstrap
interval (ploutos/evaluation/sharpe_interval.py): each rule's pick on a known history, the
interval against scipy's bootstrap, and a training run whose best.ckpt follows the rule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose_config, make_toy_market
from scipy import stats

from ploutos.apps.train import train
from ploutos.errors import ConfigError
from ploutos.evaluation.metrics import bootstrap_sharpe, sharpe_ratio
from ploutos.evaluation.sharpe_interval import with_sharpe_interval
from ploutos.training.selection import Selection, pick

VALUES = [0.1, 2.0, 0.3, 1.2, 1.3, 1.1]
LOWS = [-1.0, -0.2, -0.9, 0.1, 0.05, 0.2]
HISTORY = [
    {"env_steps": 1000 * (k + 1), "value": v, "ci_low": lo}
    for k, (v, lo) in enumerate(zip(VALUES, LOWS, strict=True))
]


def test_each_rule_picks_as_documented() -> None:
    assert pick(HISTORY, "best") == 1  # the one lucky evaluation
    assert pick(HISTORY, "last") == 5
    assert pick(HISTORY, "lower_bound") == 5  # the highest low end, 0.2
    # alpha 0.5: 0.1, 1.05, 0.675, 0.9375, 1.11875, 1.109375 -> the fifth evaluation
    assert pick(HISTORY, "smoothed", smoothing=0.5) == 4
    # alpha 1 is the raw metric; a small alpha trails the early evaluations
    assert pick(HISTORY, "smoothed", smoothing=1.0) == pick(HISTORY, "best")
    assert pick(HISTORY, "smoothed", smoothing=0.1) == 5
    assert pick(HISTORY, "best", monitor="eval/max_drawdown", mode="min") == 0
    assert pick(HISTORY, "last", monitor="eval/max_drawdown", mode="min") == 5
    assert pick([], "best") is None


def test_non_finite_evaluations_are_never_picked() -> None:
    history = [{"env_steps": 1, "value": math.nan, "ci_low": math.nan},
               {"env_steps": 2, "value": 0.5, "ci_low": -0.5},
               {"env_steps": 3, "value": math.inf, "ci_low": None}]
    assert pick(history, "best") == 1
    assert pick(history, "smoothed") == 1
    assert pick(history, "lower_bound") == 1


def test_state_survives_a_resume() -> None:
    straight = Selection("smoothed", smoothing=0.3)
    scores = [straight.score({"eval/sharpe": v}, k) for k, v in enumerate(VALUES)]
    first = Selection("smoothed", smoothing=0.3)
    for k, v in enumerate(VALUES[:3]):
        first.score({"eval/sharpe": v}, k)
    resumed = Selection("smoothed", smoothing=0.3)
    resumed.load_state_dict(first.state_dict())
    later = [resumed.score({"eval/sharpe": v}, k + 3) for k, v in enumerate(VALUES[3:])]
    assert later == scores[3:]
    assert resumed.summary()["history"] == straight.summary()["history"]


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^trainer.select: unknown rule 'median'"):
        Selection("median")
    with pytest.raises(ConfigError, match=r"^trainer.select: lower_bound .* eval/total_return"):
        Selection("lower_bound", monitor="eval/total_return")
    with pytest.raises(ConfigError, match=r"^trainer.select_smoothing: must be in \(0, 1\]"):
        Selection("smoothed", smoothing=0.0)


def test_early_stopping_under_the_last_rule_is_refused() -> None:
    from ploutos.training.validate import validate_training

    validate_training(compose_config("train", ["early_stopping.enabled=true",
                                               "trainer.select=best"]))  # fmt: skip
    cfg = compose_config("train", ["early_stopping.enabled=true"])  # select=last, the default
    with pytest.raises(ConfigError, match=r"^early_stopping.enabled: trainer.select=last .*"
                                          r"never stop"):  # fmt: skip
        validate_training(cfg)


def test_interval_sits_beside_the_sharpe_ratio() -> None:
    rng = np.random.default_rng(3)
    equity = 1e5 * np.cumprod(np.r_[1.0, 1.0 + rng.normal(0.001, 0.01, 300)])
    metrics = with_sharpe_interval({"total_return": 0.1, "sharpe": 1.6, "sortino": 2.0}, equity)
    assert list(metrics) == ["total_return", "sharpe", "sharpe_ci_low", "sharpe_ci_high",
                             "sortino"]
    point = sharpe_ratio(equity[1:] / equity[:-1] - 1)
    assert metrics["sharpe_ci_low"] < point < metrics["sharpe_ci_high"]
    # 300 days: the 90% interval is about 2 x 1.645 x 1 Sharpe wide
    assert 2.3 < metrics["sharpe_ci_high"] - metrics["sharpe_ci_low"] < 4.3
    assert with_sharpe_interval({"sharpe": 0.0}, equity) == with_sharpe_interval(
        {"sharpe": 0.0}, equity
    )


def test_bootstrap_matches_scipy_for_independent_days() -> None:
    """With blocks of mean length 1 the stationary bootstrap resamples days independently,
    which is scipy.stats.bootstrap's percentile interval."""
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0008, 0.01, 300)
    ours = bootstrap_sharpe(returns, n_boot=4000, mean_block=1.0, confidence=0.9, seed=1)
    theirs = stats.bootstrap(
        (returns,), lambda r, axis: r.mean(axis) / r.std(axis, ddof=1) * np.sqrt(252),
        n_resamples=4000, confidence_level=0.9, method="percentile", vectorized=True,
        rng=np.random.default_rng(2),
    ).confidence_interval
    assert ours["low"] == pytest.approx(theirs.low, abs=0.08)
    assert ours["high"] == pytest.approx(theirs.high, abs=0.08)


def test_training_run_saves_the_rules_pick_as_best(tmp_path: Path) -> None:
    market = make_toy_market(n_days=400, n_assets=3, n_features=5, seed=3)
    meta = {"tickers": list(market.tickers), "fingerprint": "toy"}
    cfg = compose_config("train", ["experiment=smoke", f"trainer.output_dir={tmp_path}",
                                   "trainer.select=lower_bound"])
    summary = train(cfg, market, meta)
    history = summary["selection"]["history"]
    assert summary["selection"]["rule"] == "lower_bound" and len(history) == 4
    assert [h["env_steps"] for h in history] == [1024, 2048, 3072, 4096]
    chosen = history[pick(history, "lower_bound")]
    assert summary["best_eval"]["env_steps"] == chosen["env_steps"]
    assert summary["best_eval"]["selection_score"] == chosen["ci_low"]
    assert summary["best_eval"]["score"] == chosen["value"]  # what run() hands a sweeper
    assert summary["best_eval"]["metrics"]["eval/sharpe_ci_low"] == chosen["ci_low"]
    assert summary["final_eval"]["eval/sharpe_ci_low"] < summary["final_eval"]["eval/sharpe"]
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)
    assert int(best["env_steps"]) == chosen["env_steps"]
