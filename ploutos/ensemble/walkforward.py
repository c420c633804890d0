"""An ensemble per walk-forward fold: the fold's ordinary training run is member 0, and
`seeds_per_fold - 1` more runs with seeds seed + 1, seed + 2, ... train on the same fold
market (the fold config is resolved, so data.seed and the bars stay those of the fold).
The rule is applied with the fold's test window as the trading window, so best_val and
weighted re-select on the fold's own validation days, before its test days."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ploutos.ensemble.model import EnsembleModel, build_ensemble
from ploutos.ensemble.spec import EnsembleSpec
from ploutos.errors import ConfigError
from ploutos.evaluation.checkpoint import LoadedModel, policy_from_checkpoint, read_checkpoint
from ploutos.evaluation.walkforward import best_checkpoint
from ploutos.market import Market

TrainFn = Callable[[DictConfig, Market, dict[str, Any]], dict[str, Any]]


def member_config(fold_cfg: DictConfig, offset: int) -> DictConfig:
    """The fold config with seed + offset, training into its own folder beside the fold's."""
    cfg = OmegaConf.create(OmegaConf.to_container(fold_cfg, resolve=True))
    cfg.seed = int(fold_cfg.seed) + offset
    cfg.trainer.output_dir = f"{fold_cfg.trainer.output_dir}_seed{cfg.seed}"
    return cfg


def fold_ensemble(
    spec: EnsembleSpec,
    fold_cfg: DictConfig,
    market: Market,
    report: Any,
    summary: dict[str, Any],
    train_fn: TrainFn,
    horizon: int = 5,
    risk_free: float = 0.0,
) -> EnsembleModel:
    """Train the fold's extra members, then build the ensemble for its test window.
    `summary` is the fold's ordinary training run (member 0)."""
    if spec.members:
        raise ConfigError(
            "ensemble.members",
            "walk-forward trains its members per fold (ensemble.seeds_per_fold); leave it unset",
        )
    runs = [(fold_cfg, summary)]
    for offset in range(1, spec.seeds_per_fold):
        cfg = member_config(fold_cfg, offset)
        runs.append((cfg, train_fn(cfg, market, report.market_meta(cfg))))
    members = []
    for cfg, run in runs:
        path = Path(best_checkpoint(run))
        members.append(
            LoadedModel(
                policy=policy_from_checkpoint(read_checkpoint(path), cfg, market, path),
                cfg=cfg,
                market=market,
                report=report,
                meta=report.market_meta(cfg),
                path=path,
                env_steps=run.get("env_steps"),
            )
        )
    model = build_ensemble(spec, members, market.split("test").start, horizon, risk_free)
    for row, (cfg, run) in zip(model.doc["members"], runs, strict=True):
        row.update(seed=int(cfg.seed), training_status=run.get("status"),
                   best_eval=(run.get("best_eval") or {}).get("score"))  # fmt: skip
    return model
