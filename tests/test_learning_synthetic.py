"""PPO learns a planted edge: on the synthetic market tomorrow's intraday return leans on
the sign of today's return (data.signal_strength). Trained through the training app, the
agent must beat buy-and-hold on the held-out test split and time its buys well.

Buy quality is judged at a 1-day horizon here: the planted edge lives in the next day's
return, and over the default 5 days it is diluted by four days of noise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import compose_config
from lightning.pytorch.callbacks import Callback

from ploutos.apps.train import train
from ploutos.evaluation import evaluate_policy, run_baselines
from ploutos.pipeline import build_market


class KeepModule(Callback):
    def on_train_end(self, trainer, pl_module) -> None:
        self.module = pl_module


def train_and_judge(
    out: Path, *overrides: str, learning_rate: float | None = 0.001
) -> tuple[dict, dict, dict]:
    """(summary, agent metrics on test, buy-and-hold metrics on test). learning_rate=None
    leaves the algorithm's own (SAC has two and no algo.learning_rate)."""
    cfg = compose_config(
        "train",
        [
            "data=synthetic",
            "features=minimal",
            "obs=v6",
            "model=mlp",
            "reward=pnl",
            f"trainer.output_dir={out}",
            "trainer.progress_bar=false",
            *([f"algo.learning_rate={learning_rate}"] if learning_rate is not None else []),
            *overrides,
        ],
    )
    market, report = build_market(cfg)
    keep = KeepModule()
    summary = train(cfg, market, report.market_meta(cfg), [keep])
    agent = evaluate_policy(
        keep.module.policy, keep.module.env.obs_builder, cfg, split="test", horizon=1
    )
    baseline = run_baselines(market, cfg, split="test", names=["buy_and_hold"], horizon=1)
    return summary, agent, baseline["buy_and_hold"].metrics


def assert_beats_buy_and_hold(
    agent: dict, bh: dict, *, returns: float, sharpe: float | None, buy_quality: float, buys: int
) -> None:
    """A learned edge on the test split: total return and Sharpe above buy-and-hold's by these
    margins (sharpe None: not judged), the share of good buys above buy_quality, and at least
    `buys` judged buys, so that share means something."""
    assert agent["total_return"] > bh["total_return"] + returns
    if sharpe is not None:
        assert agent["sharpe"] > bh["sharpe"] + sharpe
    assert agent["buy_quality"] > buy_quality
    assert agent["buy_good"] + agent["buy_bad"] >= buys


def test_ppo_learns_a_strong_planted_edge_fast(tmp_path: Path) -> None:
    summary, agent, bh = train_and_judge(
        tmp_path,
        "data.n_assets=3",
        "data.signal_strength=1.0",
        "total_timesteps=100000",
        "algo.n_envs=256",
        "algo.n_steps=16",
        "eval_freq=50000",
        "checkpoint_freq=100000",
    )
    assert summary["status"] == "completed" and summary["env_steps"] >= 100_000
    assert_beats_buy_and_hold(agent, bh, returns=0.2, sharpe=1.0, buy_quality=0.58, buys=50)


@pytest.mark.slow
def test_ppo_learns_the_planted_edge_with_longer_training(tmp_path: Path) -> None:
    # Same market as the fast test, three times the training and stricter bars.
    summary, agent, bh = train_and_judge(
        tmp_path,
        "data.n_assets=3",
        "data.signal_strength=1.0",
        "total_timesteps=300000",
        "algo.n_envs=256",
        "algo.n_steps=16",
        "eval_freq=50000",
        "checkpoint_freq=150000",
    )
    assert summary["best_eval"]["score"] > 2.0  # validation Sharpe of the best checkpoint
    assert_beats_buy_and_hold(agent, bh, returns=1.0, sharpe=2.0, buy_quality=0.6, buys=100)
