"""Range checks for the trainer group and the resume path, before any data is loaded."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ploutos.config import validate_config
from ploutos.errors import ConfigError

EVAL_METRICS = (
    "eval/total_return",
    "eval/sharpe",
    "eval/max_drawdown",
    "eval/win_rate",
    "eval/buy_quality",
    "eval/sell_quality",
    "eval/mean_reward",
)


def validate_training(cfg: DictConfig) -> None:
    """Every data-free check (ploutos.config) plus what the training app itself reads."""
    validate_config(cfg)
    tr = cfg.trainer
    if tr.mode not in ("max", "min"):
        raise ConfigError("trainer.mode", f"must be 'max' or 'min', got '{tr.mode}'")
    if not str(tr.monitor).startswith("eval/"):
        raise ConfigError(
            "trainer.monitor",
            f"must be an evaluation metric such as {', '.join(EVAL_METRICS)}; got '{tr.monitor}'",
        )
    if int(tr.log_every_n_iterations) < 1:
        raise ConfigError(
            "trainer.log_every_n_iterations", f"must be >= 1, got {tr.log_every_n_iterations}"
        )
    if cfg.early_stopping.enabled and tr.get("select", "best") == "last":
        raise ConfigError(
            "early_stopping.enabled",
            "trainer.select=last makes every evaluation the best so far, so it would never "
            "stop: set trainer.select=best, smoothed or lower_bound",
        )
    if tr.eval_split not in ("train", "val", "test"):
        raise ConfigError("trainer.eval_split", f"must be train, val or test; got {tr.eval_split}")
    if tr.eval_split == "test":
        raise ConfigError(
            "trainer.eval_split",
            "the test split is read once, by the backtest; select checkpoints on 'val'",
        )
    # 'auto' is the run folder's own newest checkpoint, resolved by the app.
    if cfg.ckpt_path not in (None, "auto") and not Path(cfg.ckpt_path).is_file():
        raise ConfigError("ckpt_path", f"no checkpoint file at '{cfg.ckpt_path}'")
