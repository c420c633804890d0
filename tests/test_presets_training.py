"""The plan-B presets train end to end through the training app at a tiny budget, and their
checkpoints backtest: the hybrid keeps the vol_target sizing it trained under, the shaped
preset trains on its look-ahead bonus and is scored on P&L."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import compose_config

from ploutos.apps.train import train
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.checkpoint import load_checkpoint
from ploutos.pipeline import build_market

# The experiment group holds one preset, so the smoke preset's sizes are spelled out here.
TINY = (
    "data=synthetic",
    "data.n_assets=3",
    "data.n_days=800",
    "data.splits.val_start=2002-01-01",
    "data.splits.test_start=2002-07-01",
    "total_timesteps=2048",
    "eval_freq=1024",
    "checkpoint_freq=1024",
    "env.episode_days=64",
    "model.hidden_sizes=[16,16]",
    "trainer.progress_bar=false",
)
SMALL_PPO = ("algo.n_envs=16", "algo.n_steps=32", "algo.update_epochs=2", "algo.num_minibatches=2")


def _train(out: Path, preset: str) -> tuple[dict, Path]:
    cfg = compose_config(
        "train", [f"experiment={preset}", *TINY, *SMALL_PPO, f"trainer.output_dir={out}"]
    )
    market, report = build_market(cfg)
    train(cfg, market, report.market_meta(cfg))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["env_steps"] == 2048
    assert summary["n_evals"] == 2 and np.isfinite(summary["final_eval"]["eval/sharpe"])
    return summary, Path(summary["checkpoints"]["last"])


@pytest.mark.slow  # the presets' configs are unit-tested in test_algos_presets.py
def test_hybrid_vol_target_trains_and_its_checkpoint_trades_under_the_rule(tmp_path: Path):
    _, last = _train(tmp_path, "hybrid_vol_target")
    loaded = load_checkpoint(last)
    assert loaded.cfg.env.action_mode == "vol_target"
    result = run_backtest(loaded, baselines=("buy_and_hold",), n_boot=50)
    log = result.runs[AGENT][0].log
    assert result.metrics[AGENT]["trades"] > 0 and np.isfinite(log.equity).all()
    # Under the rule no position passes its cap, and the book is never levered (drift
    # between rebalances can lift a weight a little past the cap, never to twice it).
    weights = log.positions[:, 0] * log.close / log.equity[:, :1]
    cap = float(loaded.cfg.env.sizing.cap)
    assert weights.max() <= 1.5 * cap and weights.sum(axis=1).max() <= 1.0 + 1e-9
    assert weights.max() > 0.0


@pytest.mark.slow  # the presets' configs are unit-tested in test_algos_presets.py
def test_v6_shaped_trains_on_the_bonus_and_is_scored_on_pnl(tmp_path: Path):
    summary, last = _train(tmp_path, "v6_shaped")
    # The training reward looks ahead, so every evaluation replaced it with pnl.
    assert summary["final_eval"]["eval/reward_replaced"] == 1.0
    loaded = load_checkpoint(last)
    assert loaded.cfg.reward.name == "buy_bonus"
    result = run_backtest(loaded, baselines=("buy_and_hold",), n_boot=50)
    metrics = result.metrics[AGENT]
    assert metrics["trades"] > 0 and np.isfinite(metrics["sharpe"])
    assert np.isfinite(result.runs[AGENT][0].equity).all()


@pytest.mark.slow
def test_hybrid_takes_an_off_policy_learner(tmp_path: Path):
    # The sizing rules are discrete action modes, so DQN trains under them unchanged.
    cfg = compose_config(
        "train",
        [
            "experiment=hybrid_vol_target",
            *TINY,
            "algo=dqn",
            "algo.learning_starts=512",
            "algo.buffer_size=4096",
            "algo.batch_size=64",
            f"trainer.output_dir={tmp_path}",
        ],
    )
    market, report = build_market(cfg)
    summary = train(cfg, market, report.market_meta(cfg))
    assert summary["status"] == "completed" and summary["env_steps"] == 2048
    loaded = load_checkpoint(Path(summary["checkpoints"]["last"]))
    assert type(loaded.policy).__name__ == "BranchingQNetwork"
    assert run_backtest(loaded, baselines=(), n_boot=50).metrics[AGENT]["trades"] > 0
