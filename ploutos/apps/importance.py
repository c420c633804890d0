"""The permutation-importance app behind `python importance.py ckpt=PATH [split=test]`, or
`python importance.py ensemble=RULE ensemble.members=[A,B,C]` for an ensemble's decision."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from ploutos.apps.cli import ensure_console
from ploutos.ensemble import EnsembleSpec, ensemble_for_backtest
from ploutos.errors import ConfigError
from ploutos.evaluation.checkpoint import load_checkpoint
from ploutos.evaluation.importance import (
    UNIT_KINDS,
    correlation_clusters,
    format_table,
    make_units,
    permutation_importance,
    write_importance,
)

log = logging.getLogger(__name__)


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Path]:
    """`python importance.py`: load cfg.ckpt (or the ensemble of cfg.ensemble), compute the
    importance table, write the files. An ensemble's weights (best_val, weighted) are chosen
    on validation days before cfg.split, on the unshuffled market, and stay fixed while
    its inputs are shuffled."""
    ensure_console()
    spec = EnsembleSpec.from_config(cfg.get("ensemble"))
    if spec is None and not cfg.get("ckpt"):
        raise ConfigError("ckpt", "give the checkpoint: python importance.py ckpt=PATH")
    if spec is not None and cfg.get("ckpt"):
        raise ConfigError("ckpt", "give either ckpt or ensemble.members, not both")
    if int(cfg.n_repeats) < 1:
        raise ConfigError("n_repeats", f"must be >= 1, got {cfg.n_repeats}")
    if float(cfg.cluster_threshold) < 0:
        raise ConfigError("cluster_threshold", f"must be >= 0, got {cfg.cluster_threshold}")
    unknown = sorted(set(cfg.units) - set(UNIT_KINDS))
    if unknown:
        raise ConfigError("units", f"unknown {unknown}; choose from {list(UNIT_KINDS)}")
    if spec is None:
        model = load_checkpoint(cfg.ckpt, device=str(cfg.device))
        extra = {"checkpoint": str(model.path), "env_steps": model.env_steps}
    else:
        model = ensemble_for_backtest(
            spec, str(cfg.device), split=str(cfg.split), risk_free=float(cfg.risk_free)
        )
        extra = {"model": model.name, "ensemble": model.doc}
    if cfg.split not in model.market.splits:
        raise ConfigError("split", f"must be one of {sorted(model.market.splits)}, got "
                                   f"{cfg.split!r}")
    train = model.market.split("train")
    cluster_ids, _ = correlation_clusters(
        model.market.features, slice(train.start, train.stop), float(cfg.cluster_threshold)
    )
    groups = model.report.feature_groups if model.report is not None else None
    units = make_units(model.market.feature_names, groups, cluster_ids, list(cfg.units))
    result = permutation_importance(
        model.policy, model.market, model.cfg, units, split=str(cfg.split),
        n_repeats=int(cfg.n_repeats), seed=int(cfg.seed), risk_free=float(cfg.risk_free),
        cluster_ids=cluster_ids,
    )
    extra["cluster_threshold"] = float(cfg.cluster_threshold)
    paths = write_importance(result, out_dir, extra, top=int(cfg.top))
    log.info(format_table(result))
    log.info(f"importance: {out_dir}")
    return paths
