"""Every plan-B algorithm through the unchanged training app on a tiny synthetic market:
train, checkpoint, resume from a killed run to the straight run's weights, then backtest
the checkpoint through load_checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import compose_config
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

from ploutos.apps.train import train
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.checkpoint import load_checkpoint
from ploutos.pipeline import build_market

TINY = (
    "experiment=smoke",
    "data=synthetic",
    "data.n_assets=3",
    "data.n_days=800",
    "data.splits.val_start=2002-01-01",
    "data.splits.test_start=2002-07-01",
    "features=minimal",
    "model.hidden_sizes=[16,16]",
    "total_timesteps=3072",
    "eval_freq=1536",
    "checkpoint_freq=1536",
)
ALGOS = {
    "a2c": (),
    "dqn": ("algo.learning_starts=600", "algo.buffer_size=4000", "algo.batch_size=64"),
    "sac": (
        "env=weights",
        "algo.learning_starts=600",
        "algo.buffer_size=4000",
        "algo.batch_size=64",
    ),
}


class Kill(Callback):
    class Killed(RuntimeError):
        pass

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.iterations >= 3:
            raise self.Killed("killed after 3 iterations")


def _cfg(out: Path, algo: str, *extra: str) -> DictConfig:
    return compose_config(
        "train", [*TINY, f"algo={algo}", *ALGOS[algo], f"trainer.output_dir={out}", *extra]
    )


# a2c in the default suite; the off-policy pair (~20 s each) also resume in-process in
# tests/test_algos_dqn.py and tests/test_algos_sac.py.
@pytest.mark.parametrize(
    "algo", ["a2c", *(pytest.param(name, marks=pytest.mark.slow) for name in ("dqn", "sac"))]
)
def test_train_resume_and_backtest_through_the_app(tmp_path: Path, algo: str) -> None:
    cfg = _cfg(tmp_path / "straight", algo)
    market, report = build_market(cfg)
    meta = report.market_meta(cfg)
    ref = train(cfg, market, meta)
    assert ref["status"] == "completed" and ref["env_steps"] == 3072 and ref["n_evals"] == 2

    with pytest.raises(Kill.Killed):
        train(_cfg(tmp_path / "killed", algo), market, meta, callbacks=[Kill()])
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)  # replay extras are tensors and plain types
    assert saved["env_steps"] == 1536
    if algo != "a2c":
        assert saved["replay"]["size"] > 0
    resumed = train(_cfg(tmp_path / "resumed", algo, f"ckpt_path={last}"), market, meta)
    assert resumed["env_steps"] == 3072 and resumed["final_eval"] == ref["final_eval"]
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False)
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), name

    loaded = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    assert (
        type(loaded.policy).__name__
        == {
            "a2c": "ActorCritic",
            "dqn": "BranchingQNetwork",
            "sac": "SquashedGaussianPolicy",
        }[algo]
    )
    result = run_backtest(loaded, baselines=("buy_and_hold",), n_boot=50)
    log = result.runs[AGENT][0].log
    # The checkpoint's policy trades (a loaded net that holds still would show none) and the
    # report counts exactly its filled orders.
    filled = int(log.buy_mask.sum() + log.sell_mask.sum())
    assert result.metrics[AGENT]["trades"] == filled > 0
