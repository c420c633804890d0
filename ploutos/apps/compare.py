"""The compare app behind `python compare.py ckpts=[A,B,...]`: every model on the same
windows, beside the baselines, with paired Sharpe tests and a report."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from ploutos.apps.cli import ensure_console
from ploutos.apps.windows import window_options
from ploutos.ensemble import EnsembleSpec, ensemble_beside
from ploutos.errors import ConfigError
from ploutos.evaluation.checkpoint import load_checkpoints
from ploutos.evaluation.compare import compare_models
from ploutos.evaluation.report import console_table, tests_table, write_compare_report

log = logging.getLogger(__name__)


def run(cfg: DictConfig, out_dir: Path) -> dict:
    """`python compare.py ckpts=[A,B]`: load, compare on the same windows, write, print.
    With `ensemble=RULE` the ensemble (of ensemble.members, else of the ckpts) is model 0,
    beside the ckpts."""
    ensure_console()
    spec = EnsembleSpec.from_config(cfg.get("ensemble"))
    if not cfg.get("ckpts") and (spec is None or not spec.members):
        raise ConfigError("ckpts", "give the checkpoints to compare: python compare.py ckpts=[A,B]")
    models = load_checkpoints(list(cfg.ckpts or []), device=str(cfg.device))
    windows = window_options(cfg)
    if spec is not None:
        models = ensemble_beside(
            spec, models, str(cfg.device), horizon=int(cfg.horizon),
            risk_free=float(cfg.risk_free), **windows,
        )  # fmt: skip
    comparison = compare_models(
        models,
        **windows,
        baselines=list(cfg.baselines),
        horizon=int(cfg.horizon),
        risk_free=float(cfg.risk_free),
        n_boot=int(cfg.n_boot),
        reference=int(cfg.reference),
        against=list(cfg.against),
    )
    extra: dict = {"checkpoints": [str(m.path) for m in models if m.path is not None]}
    if spec is not None:
        extra["ensemble"] = models[0].doc
        if not spec.members:  # the ckpts are the members: their mean beside the ensemble
            sharpes = [comparison.metrics[n]["sharpe"] for n in comparison.names[1:]]
            extra["members_mean_sharpe"] = sum(sharpes) / len(sharpes)
    files = write_compare_report(comparison, out_dir, extra)
    log.info(f"compare on {comparison.description}")
    log.info(console_table(comparison.metrics))
    log.info(tests_table(comparison.tests).to_string(index=False))
    log.info(f"report: {files['report']}")
    return files
