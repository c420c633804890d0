"""The walk-forward app behind `python walkforward.py`: train, select and test each fold,
then stitch (ploutos.evaluation.walkforward holds the folds and the stitching)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ploutos.apps.cli import RunInterrupted, ensure_console
from ploutos.apps.drift import walk_forward_alarms
from ploutos.apps.train import train
from ploutos.ensemble import EnsembleSpec
from ploutos.ensemble.walkforward import fold_ensemble
from ploutos.evaluation.backtest import run_backtest
from ploutos.evaluation.checkpoint import (
    LoadedModel,
    policy_from_checkpoint,
    read_checkpoint,
)
from ploutos.evaluation.report import write_json
from ploutos.evaluation.walkforward import (
    FOLD_FILE,
    FoldPlan,
    TrainFn,
    best_checkpoint,
    fold_config,
    fold_market,
    plan_folds,
    stitch,
    windows_doc,
)
from ploutos.io import atomic_write_text
from ploutos.market import Market
from ploutos.models.policy import Policy

log = logging.getLogger(__name__)


def load_policy(path: str | Path, cfg: DictConfig, market: Market) -> Policy:
    """The policy of a training checkpoint over an in-memory market (no rebuild)."""
    return policy_from_checkpoint(read_checkpoint(Path(path)), cfg, market, path)


def run_fold(
    cfg: DictConfig,
    fold: int,
    out_dir: str | Path,
    plan: FoldPlan | None = None,
    train_fn: TrainFn | None = None,
) -> dict[str, Any]:
    """Train, select and test fold `fold`; write fold.json and equity.csv into out_dir."""
    out = Path(out_dir)
    spec = EnsembleSpec.from_config(cfg.get("ensemble"))  # checked before any training
    plan = plan or plan_folds(cfg, walk_forward_alarms(cfg))
    fcfg = fold_config(cfg, plan, fold, out / "train")
    splits = plan.folds[fold]
    market, report = fold_market(fcfg, splits)
    log.info(f"walk-forward fold {fold}/{len(plan.folds) - 1}: "
             f"{plan.describe().splitlines()[fold]}")  # fmt: skip
    summary = (train_fn or train)(fcfg, market, report.market_meta(fcfg))
    if summary["status"] == "interrupted":  # a stop signal ends the walk-forward, not the fold
        raise RunInterrupted(signal.Signals[summary["signal"]],
                             f"fold {fold}; resume it with: {summary['resume_command']}")
    ckpt = best_checkpoint(summary)
    policy = load_policy(ckpt, fcfg, market)
    opts = cfg.walkforward
    model = LoadedModel(policy=policy, cfg=fcfg, market=market, report=report)
    if spec is not None:  # more members trained on this fold, combined (best_val re-selects)
        model = fold_ensemble(spec, fcfg, market, report, summary, train_fn or train,
                              int(opts.horizon), float(opts.risk_free))  # fmt: skip
    result = run_backtest(
        model,
        split="test",
        baselines=list(opts.baselines),
        horizon=int(opts.horizon),
        risk_free=float(opts.risk_free),
        n_boot=int(opts.n_boot),
    )
    equity = pd.DataFrame({"date": pd.to_datetime(result.dates[0]).strftime("%Y-%m-%d")})
    for name, runs in result.runs.items():
        equity[name] = runs[0].equity
    doc = {
        "fold": fold,
        "n_folds": len(plan.folds),
        "mode": str(cfg.data.walk_forward.get("mode", "expanding")),
        "embargo_days": cfg.data.walk_forward.get("embargo_days"),
        "windows": windows_doc(plan, splits),
        "data_splits": OmegaConf.to_container(fcfg.data.splits),
        "checkpoint": ckpt,
        "training": {
            "status": summary.get("status"),
            "env_steps": summary.get("env_steps"),
            "best_eval": summary.get("best_eval"),
            "wall_time_s": summary.get("wall_time_s"),
        },
        "test": {
            name: {k: v for k, v in m.items() if not isinstance(v, dict)}
            for name, m in result.metrics.items()
        },
    }
    if spec is not None:
        doc["ensemble"] = model.doc
    write_json(out / FOLD_FILE, doc)
    atomic_write_text(out / "equity.csv", equity.to_csv(index=False))
    log.info(f"fold {fold} test: " + "; ".join(
        f"{name} Sharpe {m['sharpe']:+.3f}, return {m['total_return']:+.2%}"
        for name, m in result.metrics.items()
    ))
    return doc


def run_all(cfg: DictConfig, out_dir: str | Path, train_fn: TrainFn | None = None) -> dict:
    """Every fold in sequence (out_dir/fold_KK), then the stitch: the laptop command."""
    out = Path(out_dir)
    plan = plan_folds(cfg, walk_forward_alarms(cfg))
    log.info(f"walk-forward: {len(plan.folds)} folds\n{plan.describe()}")
    for k in range(len(plan.folds)):
        run_fold(cfg, k, out / f"fold_{k:02d}", plan, train_fn)
    opts = cfg.walkforward
    return stitch(out, float(opts.risk_free), int(opts.n_boot))


def main(cfg: DictConfig, out_dir: str | Path) -> dict | None:
    """walkforward.py: `stitch=DIR` stitches, `list_folds=true` prints the plan, `fold=K`
    runs one fold (a multirun job), and neither runs all folds then stitches."""
    ensure_console()
    opts = cfg.walkforward
    if cfg.stitch:
        return stitch(cfg.stitch, float(opts.risk_free), int(opts.n_boot))
    if cfg.list_folds:
        plan = plan_folds(cfg, walk_forward_alarms(cfg))
        log.info(plan.describe())
        log.info(f"one job per fold: python walkforward.py -m 'fold=range({len(plan.folds)})' ...")
        return None
    if cfg.fold is not None:
        return run_fold(cfg, int(cfg.fold), out_dir)
    return run_all(cfg, out_dir)
