"""End-to-end runs of the training app on small markets: files written, resume, early
stopping, the NaN guard, loggers, and the v7 transformer path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from conftest import compose_config, cuda_params, make_toy_market
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

import ploutos.algos.ppo as ppo_module
import ploutos.training.loggers as loggers_module
from ploutos.apps.train import run, train
from ploutos.errors import TrainingDiverged

BATCH = 16 * 32  # smoke preset: n_envs x n_steps env steps per iteration


def smoke_cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_config("train", ["experiment=smoke", f"trainer.output_dir={out}", *overrides])


@pytest.fixture(scope="module")
def market():
    return make_toy_market(n_days=400, n_assets=3, n_features=5, seed=3)


def _meta(market) -> dict:
    return {"tickers": list(market.tickers), "fingerprint": "toy"}


class StopAfter(Callback):
    """Kills the run (as a crash would) once the module has done `n` iterations."""

    class Killed(RuntimeError):
        pass

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.iterations >= self.n:
            raise self.Killed(f"killed after {self.n} iterations")


def test_smoke_run_writes_checkpoints_summary_and_logs(tmp_path: Path, market) -> None:
    summary = train(smoke_cfg(tmp_path), market, _meta(market))

    assert summary["status"] == "completed"
    assert summary["env_steps"] == 4096 and summary["iterations"] == 8
    # eval_freq 1024 with 512 steps per iteration: 1024, 2048, 3072, 4096.
    assert summary["n_evals"] == 4 and summary["final_eval"]["env_steps"] == 4096
    assert summary["env_steps_per_s"] > 0 and summary["wall_time_s"] > 0
    ckpt = tmp_path / "checkpoints"
    assert summary["checkpoints"]["periodic"] == [
        str(ckpt / "periodic" / f"envsteps_{s:012d}.ckpt") for s in (2048, 4096)
    ]
    assert summary["checkpoints"]["last"] == str(ckpt / "last.ckpt")
    assert summary["checkpoints"]["best"] == str(ckpt / "best.ckpt")
    best = summary["best_eval"]
    assert best["monitor"] == "eval/sharpe"
    assert best["score"] == max(best["score"], summary["final_eval"]["eval/sharpe"])
    assert json.loads((tmp_path / "summary.json").read_text())["env_steps"] == 4096

    # A checkpoint carries what a backtest needs: resolved config and market metadata.
    saved = torch.load(ckpt / "best.ckpt", weights_only=False)
    assert saved["env_steps"] == best["env_steps"]
    assert saved["cfg"]["total_timesteps"] == 4096 and saved["cfg"]["eval_freq"] == 1024
    assert saved["market_meta"] == _meta(market)
    last = torch.load(ckpt / "last.ckpt", weights_only=False)
    assert last["env_steps"] == 4096

    rows = list(csv.DictReader((tmp_path / "csv" / "metrics.csv").open()))
    evals = [r for r in rows if r.get("eval/sharpe")]
    assert [float(r["train/env_steps"]) for r in evals] == [1024, 2048, 3072, 4096]
    assert float(evals[-1]["eval/sharpe"]) == pytest.approx(summary["final_eval"]["eval/sharpe"])
    train_rows = [r for r in rows if r.get("train/policy_loss")]
    assert len(train_rows) == 8
    for key in ("train/entropy", "train/approx_kl", "train/lr", "train/env_steps_per_sec"):
        assert all(r[key] != "" for r in train_rows), key


def test_resume_matches_a_straight_run(tmp_path: Path, market) -> None:
    straight = smoke_cfg(tmp_path / "straight", "checkpoint_freq=2048")
    ref = train(straight, market, _meta(market))

    killed = smoke_cfg(tmp_path / "killed", "checkpoint_freq=2048")
    with pytest.raises(StopAfter.Killed):
        train(killed, market, _meta(market), callbacks=[StopAfter(4)])
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["env_steps"] == 4 * BATCH

    resumed_cfg = smoke_cfg(tmp_path / "resumed", "checkpoint_freq=2048", f"ckpt_path={last}")
    resumed = train(resumed_cfg, market, _meta(market))
    assert resumed["resumed_at_env_steps"] == 4 * BATCH
    assert resumed["env_steps"] == ref["env_steps"] == 8 * BATCH
    assert resumed["n_evals"] == ref["n_evals"] == 4  # evaluation counters carried over

    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), name
    for name, value in a["env_state"].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, b["env_state"][name]), name
    assert resumed["final_eval"] == ref["final_eval"]


@pytest.mark.parametrize(("patience", "min_evals", "stop_eval"), [(2, 0, 3), (2, 5, 5)])
def test_early_stopping_counts_evaluations(
    tmp_path: Path, market, patience: int, min_evals: int, stop_eval: int
) -> None:
    # eval/days is the same at every evaluation, so only the first one "improves" it and
    # every later one counts towards the patience.
    cfg = smoke_cfg(
        tmp_path,
        "eval_freq=512",
        "trainer.monitor=eval/days",
        "trainer.select=best",  # last (the default) would never stop
        "early_stopping.enabled=true",
        f"early_stopping.max_no_improvement_evals={patience}",
        f"early_stopping.min_evals={min_evals}",
    )
    summary = train(cfg, market, _meta(market))
    assert summary["status"] == "early_stopped"
    assert summary["n_evals"] == stop_eval
    assert summary["stopped_early_at"] == summary["env_steps"] == stop_eval * BATCH
    assert summary["best_eval"]["env_steps"] == BATCH
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)[
        "env_steps"
    ] == stop_eval * BATCH


def test_nan_keeps_the_last_good_checkpoint(
    tmp_path: Path, market, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss = ppo_module.ppo_loss
    done = {"iterations": 0}

    class Track(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            done["iterations"] = pl_module.iterations

    def poisoned_from_iteration_6(*args, **kwargs):
        loss, stats = real_loss(*args, **kwargs)
        return (loss * float("nan") if done["iterations"] >= 5 else loss), stats

    monkeypatch.setattr(ppo_module, "ppo_loss", poisoned_from_iteration_6)
    last = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(TrainingDiverged) as err:
        train(smoke_cfg(tmp_path, "checkpoint_freq=1024"), market, _meta(market), [Track()])
    message = str(err.value)
    assert "iteration 6" in message and "loss" in message and str(last) in message

    saved = torch.load(last, weights_only=False)
    assert saved["env_steps"] == 4 * BATCH  # the last periodic save before the NaN
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["error"] == message
    assert summary["env_steps"] == 5 * BATCH


def test_lookahead_reward_is_evaluated_with_pnl(tmp_path: Path, market, capsys) -> None:
    cfg = smoke_cfg(tmp_path, "reward=v6_timing", "total_timesteps=1024")
    summary = train(cfg, market)
    assert summary["final_eval"]["eval/reward_replaced"] == 1.0
    out = capsys.readouterr().out
    assert "looks ahead" in out
    n_params = sum(p.numel() for p in ppo_module.PPO(cfg, market).policy.parameters())
    assert f"{n_params:,} trainable parameters" in out


def test_many_loggers_in_one_run(tmp_path: Path, market, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = smoke_cfg(tmp_path, "logger=many", "total_timesteps=1024", "logger.wandb.tags=[smoke]")
    summary = train(cfg, market, _meta(market))
    assert summary["n_evals"] == 1
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))




@pytest.mark.parametrize("keep", [True, False])
def test_freed_host_memory_is_kept_only_when_configured(tmp_path: Path, market, monkeypatch, keep):
    import ploutos.apps.train as app_module

    calls = []
    monkeypatch.setattr(app_module, "keep_freed_memory", lambda: calls.append(1) or True)
    cfg = smoke_cfg(tmp_path, "total_timesteps=512", f"trainer.keep_freed_host_memory={keep}")
    train(cfg, market, _meta(market))
    assert calls == ([1] if keep else [])


def test_glibc_malloc_settings_apply_on_linux() -> None:
    import sys

    from ploutos.training.host_memory import keep_freed_memory

    assert keep_freed_memory() is sys.platform.startswith("linux")

@pytest.mark.parametrize("mode", ["RUN", "MULTIRUN"])
def test_wandb_groups_a_multiruns_jobs_by_sweep_folder(tmp_path: Path, mode: str) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    cfg = compose_config("train", [f"hydra.sweep.dir={tmp_path}/sweep"], return_hydra_config=True)
    cfg.hydra.mode = RunMode[mode]
    HydraConfig.instance().set_config(cfg)
    try:
        group = loggers_module.sweep_group()
    finally:
        HydraConfig.instance().cfg = None
    assert group == (f"{tmp_path}/sweep" if mode == "MULTIRUN" else None)


def test_v7_transformer_with_diff_sharpe_runs_end_to_end(tmp_path: Path, market) -> None:
    cfg = smoke_cfg(
        tmp_path,
        "obs=v7",
        "obs.lookback=10",
        "model=transformer",
        "model.d_model=16",
        "model.n_heads=2",
        "model.temporal_layers=1",
        "model.cross_layers=1",
        "model.head_hidden=16",
        "reward=diff_sharpe",
        "total_timesteps=2048",
    )
    summary = train(cfg, market, _meta(market))
    assert summary["status"] == "completed" and summary["env_steps"] == 2048
    assert summary["final_eval"]["eval/reward_replaced"] == 0.0
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["cfg"]["model"]["name"] == "transformer"
    assert saved["cfg"]["reward"]["name"] == "diff_sharpe"


def test_run_builds_the_market_and_returns_the_best_score(tmp_path: Path, capsys) -> None:
    synthetic = ("data=synthetic", "data.n_assets=3", "features=minimal")
    assert run(smoke_cfg(tmp_path / "summary", *synthetic, "summary_only=true")) is None
    assert "data: synthetic" in capsys.readouterr().out
    assert not (tmp_path / "summary").exists()  # nothing trained, nothing written

    best = run(smoke_cfg(tmp_path / "run", *synthetic, "total_timesteps=1024"))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert best == summary["best_eval"]["score"] and summary["env_steps"] == 1024
    meta = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)[
        "market_meta"
    ]
    assert meta["tickers"] == ["S00", "S01", "S02"] and len(meta["fingerprint"]) >= 16
    assert meta["normalizer_state"] and meta["feature_names"]


@pytest.mark.parametrize("device", cuda_params()[1:])
def test_smoke_run_on_an_accelerator(tmp_path: Path, device: str) -> None:
    market = make_toy_market(n_days=300, n_assets=3, n_features=5, seed=3)
    summary = train(smoke_cfg(tmp_path, f"device={device}", "total_timesteps=2048"), market)
    assert summary["status"] == "completed" and summary["env_steps"] == 2048
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["cfg"]["device"] == device
