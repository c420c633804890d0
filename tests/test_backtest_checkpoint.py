"""load_checkpoint: the rebuilt policy acts exactly as the trained one, the stored normalizer
is used, and changed data, missing files and foreign files are refused with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose_config
from omegaconf import DictConfig, OmegaConf

from ploutos.algos.ppo import PPO
from ploutos.config import register_configs
from ploutos.errors import DataError
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.checkpoint import CheckpointError, LoadedModel, load_checkpoint
from ploutos.obs.compact import CompactObs
from ploutos.pipeline import build_market
from ploutos.training.checkpoint_io import atomic_torch_save
from ploutos.training.loggers import resolved_container

# A small synthetic market: 3 tickers, 800 business days (2000-01-03 .. 2003-01-24).
TINY = (
    "experiment=smoke",
    "data=synthetic",
    "data.n_assets=3",
    "data.n_days=800",
    "data.splits.val_start=2002-01-01",
    "data.splits.test_start=2002-07-01",
    "features=minimal",
    # The joint MLP: after one iteration its assets' modes already differ, so the tiny policy
    # trades (a per-asset head starts with nearly the same action for every asset).
    "model=mlp_joint",
    "model.hidden_sizes=[16,16]",
)


def tiny_cfg(out: Path, *overrides: str) -> DictConfig:
    register_configs()
    cfg = compose_config("train", [*TINY, f"trainer.output_dir={out}", *overrides])
    return OmegaConf.create(resolved_container(cfg))


def tiny_checkpoint(out: Path, *overrides: str, iterations: int = 1) -> tuple[Path, PPO]:
    """Train a PPO module for a few iterations (no Trainer) and save a checkpoint exactly as
    the training app's checkpoints are assembled (state_dict + on_save_checkpoint)."""
    cfg = tiny_cfg(out, *overrides)
    market, report = build_market(cfg)
    module = PPO(cfg, market, report.market_meta(cfg))
    optimizer = module.configure_optimizers()
    for _ in range(iterations):
        module.run_iteration(optimizer)
    ckpt = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(ckpt)
    path = out / "checkpoints" / "last.ckpt"
    atomic_torch_save(ckpt, path)
    return path, module


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, PPO]:
    return tiny_checkpoint(tmp_path_factory.mktemp("run"))


def _probe_obs(module: PPO, n: int = 64) -> CompactObs:
    """Every test day with random portfolio states (the market part depends on the day)."""
    test = module.env.market.split("test")
    days = torch.arange(test.start, test.start + n)
    gen = torch.Generator().manual_seed(0)
    portfolio = torch.rand((n, module.env.obs_builder.portfolio_dim), generator=gen)
    return CompactObs(days, portfolio)


def test_round_trip_gives_identical_actions_and_backtest(trained) -> None:
    path, module = trained
    loaded = load_checkpoint(path)
    assert loaded.env_steps == module.env_steps == 512
    assert loaded.name == f"{path.parent.parent.name}/last"
    obs = _probe_obs(module)
    module.policy.eval()
    expected = module.policy.act(obs, module.env.obs_builder, deterministic=True)
    got = loaded.policy.act(obs, loaded.obs_builder, deterministic=True)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # The rebuilt features come from the stored normalizer: bit-identical to training's.
    torch.testing.assert_close(loaded.market.features, module.env.market.features, rtol=0, atol=0)

    in_memory = LoadedModel(module.policy, module.cfg, module.env.market)
    a = run_backtest(loaded, baselines=(), n_boot=50)
    b = run_backtest(in_memory, baselines=(), n_boot=50)
    np.testing.assert_array_equal(a.runs[AGENT][0].equity, b.runs[AGENT][0].equity)
    assert a.metrics[AGENT]["trades"] > 0  # a policy that does something, not a flat line
    # The settings record the call's arguments (the loop's decision days once shadowed `days`).
    assert a.settings["days"] is None and a.settings["episodes"] is None
    windowed = run_backtest(loaded, episodes=2, days=20, baselines=(), n_boot=50)
    assert (windowed.settings["episodes"], windowed.settings["days"]) == (2, 20)


def test_changed_data_is_refused(trained, tmp_path: Path) -> None:
    path, _ = trained
    ckpt = torch.load(path, weights_only=True)
    ckpt["cfg"]["data"]["signal_strength"] = 0.3  # other bars from the same source and seed
    other = tmp_path / "other.ckpt"
    torch.save(ckpt, other)
    with pytest.raises(DataError, match="fingerprint mismatch.*synthetic"):
        load_checkpoint(other)

    ckpt = torch.load(path, weights_only=True)
    ckpt["cfg"]["data"]["n_assets"] = 4
    torch.save(ckpt, other)
    with pytest.raises(DataError, match="tickers differ"):
        load_checkpoint(other)


def test_missing_and_foreign_files(tmp_path: Path, trained) -> None:
    missing = tmp_path / "nope" / "best.ckpt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_checkpoint(missing)
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.ckpt"):
        load_checkpoint(junk)
    path, _ = trained
    ckpt = torch.load(path, weights_only=True)
    del ckpt["market_meta"]
    torch.save(ckpt, junk)
    with pytest.raises(CheckpointError, match="market_meta"):
        load_checkpoint(junk)
