"""Walk-forward validation: per fold, train on its train window, pick the checkpoint on its
validation window, backtest on its test window; then stitch the test curves into one.

Folds come from ploutos.data.splits.walk_forward_folds over data.walk_forward (expanding or
rolling, with an embargo of untraded days between train and val and between val and test).

Per fold the market is rebuilt with data.splits moved to the fold, so the normalizer is fitted
on the fold's train window and nothing else (docs/design.md #2); the Market's splits are
then set to the fold's exact ranges, so the embargo days are neither trained, validated nor
tested on. The checkpoint written by the training app carries those data.splits, so a later
`backtest.py ckpt=.../best.ckpt` of a fold scores exactly the fold's test window.

A fold writes fold.json (windows, training summary, test metrics) and equity.csv (its test
curves: agent and baselines) into its folder; `stitch` reads every fold folder under a root
(a multirun sweep folder or the sequential run's folder) and writes the stitched report:
metrics.json, equity.csv, folds.csv and walkforward.png.

Stitching: fold k's curve is rescaled to start where fold k - 1's ended and appended whole.
Its first point is its first decision day, on which the fold's agent holds only cash, so the
stitched curve has one zero-return day per fold boundary: exactly what a trader who restarts
with each newly trained model earns. Baselines (buy-and-hold re-bought each fold, with its
costs) are stitched the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from hydra.core.config_store import ConfigStore
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ploutos.config import SCHEMA_GROUP, TrainSchema
from ploutos.data.splits import FoldAlarms, walk_forward_folds
from ploutos.errors import ConfigError, DataError
from ploutos.evaluation.backtest import AGENT
from ploutos.evaluation.metrics import (
    TRADING_DAYS,
    bootstrap_sharpe,
    compute_metrics,
    drawdown_curve,
    simple_returns,
)
from ploutos.evaluation.report import atomic_write_text, metrics_table, save_figure, write_json
from ploutos.market import Market, SplitRange

log = logging.getLogger(__name__)
FOLD_FILE = "fold.json"
# The stitched table: (metric, header, format), as the backtest report's table.
STITCHED_COLUMNS = (
    ("total_return", "return", "{:+.2%}"),
    ("annual_return", "CAGR", "{:+.2%}"),
    ("annual_volatility", "vol", "{:.2%}"),
    ("sharpe", "Sharpe", "{:+.2f}"),
    ("sharpe_ci", "Sharpe 95% CI", None),
    ("sortino", "Sortino", "{:+.2f}"),
    ("calmar", "Calmar", "{:+.2f}"),
    ("max_drawdown", "max DD", "{:.2%}"),
    ("trades", "trades", "{:.0f}"),
    ("days", "days", "{:.0f}"),
)

TrainFn = Callable[[DictConfig, Market, dict[str, Any]], dict[str, Any]]


@dataclass
class WalkForwardOptions:
    baselines: list[str] = field(default_factory=lambda: ["buy_and_hold", "index"])
    horizon: int = 5
    risk_free: float = 0.0
    n_boot: int = 1000


@dataclass
class WalkForwardSchema(TrainSchema):
    """The training config plus what walkforward.py reads."""

    fold: int | None = None
    stitch: str | None = None
    list_folds: bool = False
    walkforward: WalkForwardOptions = field(default_factory=WalkForwardOptions)


def register_configs() -> None:
    ConfigStore.instance().store(
        group=SCHEMA_GROUP, name="walkforward", node=WalkForwardSchema, package="_global_"
    )


# ---- folds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoldPlan:
    dates: np.ndarray  # datetime64[D] [T]: the whole calendar
    first_observable_day: int
    folds: list[dict[str, SplitRange]]

    def describe(self) -> str:
        lines = []
        for k, fold in enumerate(self.folds):
            parts = [
                f"{name} {self.dates[r.start]}..{self.dates[r.stop - 1]} ({r.n_days}d)"
                for name, r in fold.items()
            ]
            lines.append(f"fold {k}: " + ", ".join(parts))
        return "\n".join(lines)


def plan_folds(
    cfg: DictConfig, drift_alarms: Callable[[np.ndarray, np.ndarray], FoldAlarms] | None = None
) -> FoldPlan:
    """The folds of cfg.data.walk_forward on the calendar and warm-up of cfg's data.

    Bars and features only: data.splits plays no part (each fold sets its own), and nothing
    is fitted here. With retrain=drift, drift_alarms(features [T, A, F], equal-weight daily
    returns [T]) gives the alarm source (ploutos.apps.drift.walk_forward_alarms).
    """
    from ploutos.data import load_bars
    from ploutos.features import build_features

    bars = load_bars(cfg.data)
    feature_set = build_features(bars, cfg.features)
    warmup = feature_set.warmup
    # As in pipeline.build_market: a v7 window reaches lookback - 1 days further back.
    first_observable_day = warmup + int(cfg.obs.get("lookback", 1) or 1) - 1
    dates = np.asarray(bars.dates, "datetime64[D]")
    alarms = None
    if drift_alarms is not None:
        returns = np.full(len(dates), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            returns[1:] = np.nanmean(bars.close[1:] / bars.close[:-1] - 1.0, axis=1)
        alarms = drift_alarms(feature_set.values, returns)
    folds = walk_forward_folds(dates, cfg.data.walk_forward, first_observable_day, alarms)
    return FoldPlan(dates, first_observable_day, folds)


def check_fold_index(plan: FoldPlan, fold: int) -> None:
    if not isinstance(fold, int) or not 0 <= fold < len(plan.folds):
        raise ConfigError(
            "fold", f"must be an integer in [0, {len(plan.folds) - 1}] (data.walk_forward gives "
            f"{len(plan.folds)} folds), got {fold!r}"
        )


def fold_config(cfg: DictConfig, plan: FoldPlan, fold: int, train_dir: Path) -> DictConfig:
    """cfg with data.splits on fold `fold`'s exact train, val and test windows and the training
    output in train_dir."""
    check_fold_index(plan, fold)
    f, day = plan.folds[fold], lambda i: str(plan.dates[i])
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    # The exact fold bounds, embargo gaps excluded: a later backtest of a fold checkpoint on
    # split=val trades the fold's validation days and nothing else.
    out.data.splits = {
        "train_start": day(f["train"].start),
        "train_end": day(f["train"].stop - 1),
        "val_start": day(f["val"].start),
        "val_end": day(f["val"].stop - 1),
        "test_start": day(f["test"].start),
        "end": day(f["test"].stop - 1),
    }
    out.trainer.output_dir = str(train_dir)
    return out


def fold_market(fold_cfg: DictConfig, fold: dict[str, SplitRange]) -> tuple[Market, Any]:
    """The fold's market: normalizer fitted on the fold's train window, splits set to the
    fold's exact (embargoed) ranges."""
    from ploutos.pipeline import build_market

    market, report = build_market(fold_cfg)
    if report.splits != dict(fold):
        raise DataError(
            f"walk-forward: the market's splits {report.splits} are not the fold's {fold}; "
            "the calendar changed between planning and building"
        )
    return market, report


def best_checkpoint(summary: dict[str, Any]) -> str:
    ckpts = summary.get("checkpoints", {})
    path = ckpts.get("best") or ckpts.get("last")
    if not path:
        raise FileNotFoundError(
            f"training wrote no best or last checkpoint in {summary.get('output_dir')}"
        )
    return str(path)


def windows_doc(plan: FoldPlan, fold: dict[str, SplitRange]) -> dict[str, dict]:
    return {
        name: {
            "start": str(plan.dates[r.start]),
            "end": str(plan.dates[r.stop - 1]),
            "start_index": r.start,
            "stop_index": r.stop,
            "days": r.n_days,
        }
        for name, r in fold.items()
    }


# ---- stitching ------------------------------------------------------------------------------


def stitch_curves(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate equity curves, each rescaled to start at the previous one's last value."""
    if not curves:
        raise ValueError("no curves to stitch")
    out = [np.asarray(curves[0], dtype=np.float64)]
    for curve in curves[1:]:
        curve = np.asarray(curve, dtype=np.float64)
        out.append(curve * (out[-1][-1] / curve[0]))
    return np.concatenate(out)


def find_folds(root: str | Path) -> list[Path]:
    """Fold folders (holding fold.json) directly under root, in fold order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"walk-forward folder not found: {root}")
    found = sorted(p.parent for p in root.glob(f"*/{FOLD_FILE}"))
    if not found:
        raise FileNotFoundError(f"no fold folders ({FOLD_FILE}) under {root}")
    docs = {d: json.loads((d / FOLD_FILE).read_text()) for d in found}
    ordered = sorted(found, key=lambda d: docs[d]["fold"])
    indices = [docs[d]["fold"] for d in ordered]
    if len(set(indices)) != len(indices):
        raise DataError(f"{root}: fold indices repeat ({indices}); one run per fold")
    return ordered


def stitch(root: str | Path, risk_free: float = 0.0, n_boot: int = 1000) -> dict[str, Any]:
    """Stitch the fold folders under root; write metrics.json, equity.csv, folds.csv and
    walkforward.png there, and return the metrics document."""
    root = Path(root)
    dirs = find_folds(root)
    docs = [json.loads((d / FOLD_FILE).read_text()) for d in dirs]
    frames = [pd.read_csv(d / "equity.csv") for d in dirs]
    strategies = [c for c in frames[0].columns if c != "date"]
    for doc, frame in zip(docs, frames, strict=True):
        missing = set(strategies) - set(frame.columns)
        if missing:
            raise DataError(f"fold {doc['fold']}: equity.csv lacks {sorted(missing)}")
    for i in range(1, len(frames)):
        doc, frame, prev = docs[i], frames[i], frames[i - 1]
        if frame["date"].iloc[0] <= prev["date"].iloc[-1]:
            raise ConfigError(
                "data.walk_forward.step_days",
                f"fold {doc['fold']}'s test starts {frame['date'].iloc[0]}, before the previous "
                f"fold's ends ({prev['date'].iloc[-1]}): test windows overlap; use step_days "
                ">= test_days",
            )
    stitched = pd.DataFrame({
        "date": pd.concat([f["date"] for f in frames], ignore_index=True),
        "fold": np.concatenate([np.full(len(f), doc["fold"]) for doc, f in zip(docs, frames,
                                                                                 strict=True)]),
    })
    metrics: dict[str, dict] = {}
    for name in strategies:
        curve = stitch_curves([f[name].to_numpy() for f in frames])
        stitched[name] = curve
        m = compute_metrics(curve, TRADING_DAYS, risk_free)
        m["sharpe_ci"] = bootstrap_sharpe(simple_returns(curve), risk_free, n_boot=n_boot)
        m["trades"] = float(sum(doc["test"].get(name, {}).get("trades", 0.0) for doc in docs))
        metrics[name] = m
    per_fold = pd.DataFrame([
        {"fold": doc["fold"], "test_start": doc["windows"]["test"]["start"],
         "test_end": doc["windows"]["test"]["end"],
         **{f"{name}_sharpe": doc["test"][name]["sharpe"] for name in strategies},
         **{f"{name}_return": doc["test"][name]["total_return"] for name in strategies},
         "best_val_score": (doc["training"].get("best_eval") or {}).get("score")}
        for doc in docs
    ])
    document = {
        "folds": [doc["fold"] for doc in docs],
        "fold_dirs": [str(d) for d in dirs],
        "first_day": str(stitched["date"].iloc[0]),
        "last_day": str(stitched["date"].iloc[-1]),
        "stitching": "each fold's test curve rescaled to start at the previous fold's end",
        "strategies": metrics,
    }
    write_json(root / "metrics.json", document)
    atomic_write_text(root / "equity.csv", stitched.to_csv(index=False))
    atomic_write_text(root / "folds.csv", per_fold.to_csv(index=False))
    plot_stitched(stitched, strategies, root / "walkforward.png")
    table = metrics_table(metrics, STITCHED_COLUMNS).to_string()
    atomic_write_text(root / "table.txt", table + "\n")
    log.info(f"walk-forward, {len(docs)} folds stitched ({document['first_day']} .. "
             f"{document['last_day']}):\n{table}\nreport: {root}")
    return document


def plot_stitched(stitched: pd.DataFrame, strategies: Sequence[str], path: Path) -> None:
    dates = pd.to_datetime(stitched["date"])
    fig, (ax_eq, ax_dd) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for name in strategies:
        width = 1.8 if name == AGENT else 1.0
        ax_eq.plot(dates, stitched[name], lw=width, label=name)
        ax_dd.plot(dates, drawdown_curve(stitched[name].to_numpy()), lw=width, label=name)
    starts = dates[stitched["fold"].ne(stitched["fold"].shift())].iloc[1:]
    for ax in (ax_eq, ax_dd):
        for start in starts:
            ax.axvline(start, color="grey", lw=0.6, ls=":")
    ax_eq.set_title("walk-forward: stitched out-of-sample equity (dotted: fold boundaries)")
    ax_eq.set_ylabel("equity")
    ax_eq.legend(fontsize=8)
    ax_dd.set_ylabel("drawdown")
    fig.tight_layout()
    save_figure(fig, path)


# ---- entry points ---------------------------------------------------------------------------


class StitchOnMultirunEnd(Callback):
    """Hydra callback: once every fold job of a sweep has finished, stitch the sweep folder
    (with a cluster launcher this runs in the submitting process, after the jobs)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        root = Path(config.hydra.sweep.dir)
        if any(root.glob(f"*/{FOLD_FILE}")):
            opts = config.walkforward
            stitch(root, float(opts.risk_free), int(opts.n_boot))
