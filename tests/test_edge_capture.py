"""The oracle baseline of a planted market and edge capture (ploutos/evaluation/oracle.py):
the oracle reads only what is known at the decision day, acts in the agent's action space,
exploits the planted edge, and a backtest reports edge_capture = Sharpe / the oracle's Sharpe
in metrics.json and the console table, with best.ckpt shown beside last.ckpt."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose_config, make_toy_market
from omegaconf import OmegaConf
from test_backtest_checkpoint import tiny_checkpoint

from ploutos.apps.backtest import run as backtest_app
from ploutos.data.planted import make_signal
from ploutos.env.actions import make_action_space
from ploutos.env.types import BUY, HOLD, SELL
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.baselines import run_baselines
from ploutos.evaluation.beside_last import last_checkpoint_beside
from ploutos.evaluation.checkpoint import LoadedModel
from ploutos.evaluation.oracle import ORACLE, add_edge_capture, oracle_policy, run_oracle
from ploutos.evaluation.report import console_table
from ploutos.obs.compact import CompactObs
from ploutos.pipeline import build_market
from ploutos.training.loggers import resolved_container


def obs_for(days: torch.Tensor, portfolio_dim: int = 8) -> CompactObs:
    return CompactObs(days, torch.zeros((days.shape[0], portfolio_dim)))


@pytest.mark.parametrize("kind", ["ts_momentum", "cs_momentum", "lead_lag", "vol_timing"])
@pytest.mark.parametrize("mode", ["discrete", "weights"])
def test_oracle_actions_up_to_t_ignore_the_future(kind: str, mode: str) -> None:
    market = make_toy_market(n_days=300, n_assets=4, seed=1)
    signal = make_signal(kind, 0.2, None, 4)
    space = make_action_space(mode, 4)
    days = torch.arange(0, 300)
    before = oracle_policy(market, signal, space)(obs_for(days))
    t = 200
    close = market.close.clone()
    gen = torch.Generator().manual_seed(0)
    close[t + 1 :] *= torch.exp(0.05 * torch.randn(close[t + 1 :].shape, generator=gen,
                                                   dtype=torch.float64))
    after = oracle_policy(replace(market, close=close), signal, space)(obs_for(days))
    torch.testing.assert_close(after[: t + 1], before[: t + 1], rtol=0, atol=0)
    assert not torch.equal(after[t + 1 :], before[t + 1 :])  # it does read the new closes


def test_oracle_codes_and_weights_follow_the_signal() -> None:
    market = make_toy_market(n_days=120, n_assets=4, seed=2)
    signal = make_signal("ts_momentum", -0.3, 1, 4)  # mean reversion: long after a fall
    ret = torch.log(market.close[1:] / market.close[:-1])
    days = torch.arange(1, 120)
    codes = oracle_policy(market, signal, make_action_space("discrete", 4))(obs_for(days))
    expected = torch.where(ret < 0, BUY, torch.where(ret > 0, SELL, HOLD))
    torch.testing.assert_close(codes, expected)
    logits = oracle_policy(market, signal, make_action_space("weights", 4))(obs_for(days))
    weights = torch.softmax(logits.double(), dim=1)
    down = (ret < 0).double()
    n_down = down.sum(dim=1, keepdim=True)
    target = torch.where(n_down > 0, down / n_down.clamp(min=1), 0.0)
    # Logits at -LOGIT_BOUND leave e^-10 of weight: equal weights over the fallen, else cash.
    torch.testing.assert_close(weights[:, :4], target, atol=2e-4, rtol=0)
    torch.testing.assert_close(weights[:, 4], (n_down[:, 0] == 0).double(), atol=2e-4, rtol=0)


def test_edge_capture_numbers() -> None:
    metrics = {AGENT: {"sharpe": 1.5}, "cash": {"sharpe": 0.0}, ORACLE: {"sharpe": 3.0}}
    add_edge_capture(metrics)
    assert [m["edge_capture"] for m in metrics.values()] == [0.5, 0.0, 1.0]
    losing = {AGENT: {"sharpe": 1.5}, ORACLE: {"sharpe": -0.2}}
    add_edge_capture(losing)  # a ratio to a losing oracle would flip its meaning
    assert "edge_capture" not in losing[AGENT]
    alone = {AGENT: {"sharpe": 1.5}}
    add_edge_capture(alone)
    assert alone == {AGENT: {"sharpe": 1.5}}


def planted_cfg(*overrides: str):
    # 1,000 business days from 2000-01-03: validation is 2002 (250 days), test 2003 onwards.
    cfg = compose_config("train", [
        "data=synthetic", "data.n_assets=6", "data.n_days=1000", "features=minimal",
        "data.splits.val_start=2002-01-01", "data.splits.test_start=2003-01-01", *overrides,
    ])
    return OmegaConf.create(resolved_container(cfg))


def test_oracle_exploits_the_planted_edge_with_the_agents_costs() -> None:
    cfg = planted_cfg("data.signal=cs_momentum", "data.signal_strength=0.3")
    market, _ = build_market(cfg)
    oracle = run_oracle(market, cfg, cfg.data, "val")
    others = run_baselines(market, cfg, "val", ["buy_and_hold", "random"])
    assert oracle.metrics["sharpe"] > 3.0  # 250 days: far outside the noise of ~1
    assert oracle.metrics["sharpe"] > others["buy_and_hold"].metrics["sharpe"] + 1.0
    assert oracle.metrics["fees"] > 0  # it pays the same commission and slippage
    none = planted_cfg("data.signal=none", "data.signal_strength=0.3")
    assert run_oracle(market, none, none.data, "val") is None  # nothing planted: no oracle


def test_last_checkpoint_beside(tmp_path: Path) -> None:
    (tmp_path / "periodic").mkdir()
    for name in ("best.ckpt", "last.ckpt", "periodic/envsteps_000000001024.ckpt"):
        (tmp_path / name).write_bytes(b"x")
    assert last_checkpoint_beside(tmp_path / "best.ckpt") == tmp_path / "last.ckpt"
    assert last_checkpoint_beside(tmp_path / "periodic/envsteps_000000001024.ckpt") == (
        tmp_path / "last.ckpt"
    )
    assert last_checkpoint_beside(tmp_path / "last.ckpt") is None
    (tmp_path / "last.ckpt").unlink()
    assert last_checkpoint_beside(tmp_path / "best.ckpt") is None


def test_backtest_of_a_planted_checkpoint_has_edge_capture(tmp_path: Path) -> None:
    _, module = tiny_checkpoint(tmp_path, "data.signal=vol_timing", "data.signal_strength=0.3")
    model = LoadedModel(module.policy, module.cfg, module.env.market)
    result = run_backtest(model, "test", baselines=["cash", ORACLE], n_boot=50)
    assert result.strategies == [AGENT, "cash", ORACLE]
    oracle = result.metrics[ORACLE]["sharpe"]
    assert result.metrics[AGENT]["edge_capture"] == result.metrics[AGENT]["sharpe"] / oracle
    assert result.metrics["cash"]["edge_capture"] == 0.0
    assert ORACLE not in run_backtest(model, "test", baselines=["cash"], n_boot=50).metrics


def _backtest_best_beside_last(
    tmp_path: Path, best: Path, last: Path, caplog: pytest.LogCaptureFixture, *overrides: str
) -> tuple[dict, Path]:
    """Lay best and last out as a run's checkpoints, backtest best.ckpt with the app (logs
    captured); return metrics.json and the checkpoints folder."""
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    shutil.copy(best, run / "best.ckpt")
    shutil.copy(last, run / "last.ckpt")
    out = tmp_path / "bt"
    cfg = compose_config("backtest", [f"ckpt={run / 'best.ckpt'}", *overrides])
    with caplog.at_level(logging.INFO, logger="ploutos"):
        backtest_app(cfg, out)
    return json.loads((out / "metrics.json").read_text()), run


def test_a_best_ckpt_that_is_the_last_one_is_backtested_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt, _ = tiny_checkpoint(tmp_path / "a", "data.signal=lead_lag", "data.signal_strength=0.3")
    # best.ckpt and last.ckpt the same checkpoint: what trainer.select=last writes.
    doc, _ = _backtest_best_beside_last(tmp_path, ckpt, ckpt, caplog, "n_boot=20",
                                        "baselines=[oracle]")  # fmt: skip
    assert "last_checkpoint" not in doc and doc["env_steps"] == 512
    assert "best.ckpt is the run's last checkpoint (512 env steps)" in caplog.text
    assert "selected checkpoint beside" not in caplog.text


@pytest.mark.slow
def test_backtest_reports_edge_capture_and_the_last_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    planted = ("data.signal=lead_lag", "data.signal_strength=0.3")
    best, _ = tiny_checkpoint(tmp_path / "a", *planted)
    last, _ = tiny_checkpoint(tmp_path / "b", *planted, iterations=2)
    doc, run = _backtest_best_beside_last(tmp_path, best, last, caplog, "n_boot=100",
                                          "baselines=[buy_and_hold,oracle]")  # fmt: skip
    strategies = doc["strategies"]
    assert list(strategies) == [AGENT, "buy_and_hold", ORACLE]
    oracle_sharpe = strategies[ORACLE]["sharpe"]
    assert oracle_sharpe > 0 and strategies[ORACLE]["edge_capture"] == 1.0
    assert strategies[AGENT]["edge_capture"] == pytest.approx(
        strategies[AGENT]["sharpe"] / oracle_sharpe, rel=1e-12
    )
    beside = doc["last_checkpoint"]
    assert beside["checkpoint"] == str(run / "last.ckpt") and beside["env_steps"] == 2 * 512
    assert doc["env_steps"] == 512
    assert beside["metrics"]["edge_capture"] == pytest.approx(
        beside["metrics"]["sharpe"] / oracle_sharpe, rel=1e-12
    )
    logged = caplog.text
    assert "selected: best.ckpt (512 env steps)" in logged
    assert "last: last.ckpt (1,024 env steps)" in logged
    assert "edge capture" in logged
    table = console_table({AGENT: strategies[AGENT]})
    assert "edge capture" in table and f"{strategies[AGENT]['edge_capture']:+.2f}" in table
    assert np.isfinite(beside["metrics"]["sharpe"])
