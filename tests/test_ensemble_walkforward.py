"""Ensembles in walk-forward (training replaced by a fake that saves seeded untrained
policies, as in test_walkforward_folds): best_val re-selects on each fold's own validation
days. And, marked slow, the researcher's commands end to end: a three-seed multirun of
train.py, then backtest.py over its folder with ensemble=vote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_walkforward_folds import wf_cfg

from ploutos.apps.walkforward import run_all
from ploutos.env.actions import make_action_space
from ploutos.evaluation.walkforward import plan_folds
from ploutos.models import make_policy
from ploutos.obs.builders import make_obs_builder

REPO = Path(__file__).resolve().parents[1]


def fake_train(fcfg, market, meta):
    """Saves an untrained policy seeded by fcfg.seed as the run's best checkpoint."""
    torch.manual_seed(int(fcfg.seed))
    space = make_action_space("discrete", market.n_assets)
    policy = make_policy(fcfg, make_obs_builder(fcfg.obs, market), space)
    for p in policy.parameters():  # untrained heads are near-uniform; make members differ
        p.data.mul_(20.0)
    out = Path(fcfg.trainer.output_dir) / "checkpoints"
    out.mkdir(parents=True)
    state = {f"policy.{k}": v for k, v in policy.state_dict().items()}
    torch.save({"state_dict": state}, out / "best.ckpt")
    return {"checkpoints": {"best": str(out / "best.ckpt")}, "env_steps": 0,
            "best_eval": {"score": 0.1}, "status": "completed"}  # fmt: skip


def test_best_val_reselects_on_each_fold(tmp_path: Path) -> None:
    cfg = wf_cfg("ensemble=best_val", "ensemble.seeds_per_fold=3")
    run_all(cfg, tmp_path, train_fn=fake_train)
    plan = plan_folds(cfg)
    for k, fold in enumerate(plan.folds):
        doc = json.loads((tmp_path / f"fold_{k:02d}" / "fold.json").read_text())
        ens = doc["ensemble"]
        assert ens["rule"] == "best_val"
        assert [m["seed"] for m in ens["members"]] == [42, 43, 44]
        assert (tmp_path / f"fold_{k:02d}" / "train_seed44" / "checkpoints" / "best.ckpt").is_file()
        scores = [m["validation_sharpe"] for m in ens["members"]]
        assert len(set(scores)) == 3
        assert [m["weight"] for m in ens["members"]] == [float(s == max(scores)) for s in scores]
        # Selected on the fold's validation days, all before its test window.
        assert ens["validation_window"] == {
            "start": str(plan.dates[fold["val"].start]),
            "end": str(plan.dates[fold["val"].stop - 1]),
        }
        assert fold["val"].stop <= fold["test"].start
    assert (tmp_path / "metrics.json").is_file()


def _run(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.mark.slow
def test_multirun_of_three_seeds_then_an_ensemble_backtest(tmp_path: Path) -> None:
    sweep = tmp_path / "multirun"
    _run("train.py", "-m", "experiment=smoke", "data=synthetic", "data.seed=0",
         "total_timesteps=1024", "eval_freq=512", "checkpoint_freq=1024", "seed=1,2,3",
         f"hydra.sweep.dir={sweep}")  # fmt: skip
    scores = {
        job: json.loads((sweep / job / "summary.json").read_text())["best_eval"]["score"]
        for job in ("0", "1", "2")
    }
    out = tmp_path / "backtest"
    _run("backtest.py", "ensemble=vote", f"ensemble.members={sweep}", "ensemble.top_k=2",
         "n_boot=100", f"output_dir={out}")  # fmt: skip
    doc = json.loads((out / "metrics.json").read_text())
    members = doc["ensemble"]["members"]
    top = sorted(scores, key=lambda j: -scores[j])[:2]
    assert [Path(m["job"]).name for m in members] == top
    assert [m["summary_score"] for m in members] == [scores[j] for j in top]
    assert all(m["checkpoint"].endswith("checkpoints/best.ckpt") for m in members)
    assert doc["model"] == "ensemble:vote" and "agent" in doc["strategies"]
