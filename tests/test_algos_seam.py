"""The algorithm seam: REINFORCE (one module + one YAML) trains through `python train.py`,
checkpoints, resumes and is backtested with no change to the app, callbacks or evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import compose_config
from test_ppo_module import _rising_and_falling_market

from ploutos.algos.registry import BUILT_IN, algorithm_class, make_algorithm
from ploutos.algos.reinforce import Reinforce
from ploutos.env.types import BUY
from ploutos.errors import ConfigError
from ploutos.evaluation.checkpoint import load_checkpoint
from ploutos.obs.compact import CompactObs
from ploutos.obs.portfolio import fresh_portfolio

REPO = Path(__file__).resolve().parents[1]
TINY = ["algo=reinforce", "experiment=smoke", "data=synthetic", "data.n_days=900",
        "data.splits.val_start=2002-06-01", "data.splits.test_start=2003-01-01"]  # fmt: skip


def _train(out: Path, *overrides: str) -> dict:
    done = subprocess.run(
        [sys.executable, "train.py", *TINY, f"trainer.output_dir={out}", *overrides],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "summary.json").read_text())


def test_reinforce_trains_resumes_and_backtests_through_the_apps(tmp_path: Path) -> None:
    first = _train(tmp_path, "total_timesteps=2048")
    assert first["status"] == "completed" and first["env_steps"] == 2048
    last = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["algorithm"] == "reinforce" and ckpt["cfg"]["algo"]["name"] == "reinforce"

    resumed = _train(tmp_path, "total_timesteps=4096", f"ckpt_path={last}")
    assert resumed["resumed_at_env_steps"] == 2048 and resumed["env_steps"] == 4096

    from ploutos.apps.backtest import run as backtest

    out = tmp_path / "backtest"
    backtest(compose_config("backtest", [f"ckpt={last}", "n_boot=100", "split=val"]), out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(last) and metrics["env_steps"] == 4096
    model = load_checkpoint(last)
    assert isinstance(model.policy.body, torch.nn.Module)


def test_reinforce_learns_a_planted_edge() -> None:
    """Asset 0 rises 0.5% a day, asset 1 falls: the policy must learn to buy 0 and not 1.
    The edge is the asset's identity, not a feature, so the joint MLP (which knows which
    column is which) learns it; a per-asset head cannot tell the two apart."""
    market = _rising_and_falling_market()
    cfg = compose_config("train", [
        "model=mlp_joint", "algo=reinforce", "ent_coef=0.0", "total_timesteps=20480",
        "algo.n_envs=32", "algo.n_steps=32", "algo.learning_rate=0.01", "env.episode_days=32",
        "model.asset_dim=0",
    ])  # fmt: skip
    module = make_algorithm(cfg, market)
    optimizer = module.configure_optimizers()
    fresh = CompactObs(torch.arange(20, 80), fresh_portfolio(2, market.device).expand(60, -1))
    before = module.policy.action_probs(fresh, module.env.obs_builder)[:, :, BUY].mean(dim=0)
    stats = [module.run_iteration(optimizer) for _ in range(10)]
    buy = module.policy.action_probs(fresh, module.env.obs_builder)[:, :, BUY].mean(dim=0)
    assert before[0].item() < 0.45
    assert buy[0].item() > 0.8 and buy[1].item() < 0.05
    assert stats[-1]["episode_return"] > stats[0]["episode_return"]


def test_the_registry_finds_algorithms_by_target_or_name() -> None:
    ppo_cfg = compose_config("train").algo
    assert algorithm_class(ppo_cfg).name == "ppo"
    assert algorithm_class(compose_config("train", ["algo=reinforce"]).algo) is Reinforce
    assert set(BUILT_IN) >= {"ppo", "reinforce"}
    with pytest.raises(ConfigError, match="^algo.name: unknown algorithm 'sarsa'"):
        algorithm_class({"name": "sarsa"})
    with pytest.raises(ConfigError, match="^algo._target_: cannot import"):
        algorithm_class({"_target_": "nowhere.Algo", "name": "x"})
    with pytest.raises(ConfigError, match="^algo.name: ploutos.algos.ppo.PPO is 'ppo'"):
        algorithm_class({"_target_": "ploutos.algos.ppo.PPO", "name": "a2c"})
