"""Permutation feature importance of a policy on the one accounting engine.

For one feature (or a set of them, permuted jointly), the days of the evaluated split are
shuffled in the market's already-normalized feature tensor: the same permutation of days
for every asset and every feature of the set, seeded. The policy then trades the split
again, deterministically, and two things are compared with the unshuffled run:

- action_change: the share of (day, asset) actions that differ (discrete mode), or the mean
  total-variation distance between the target allocations (weights mode: softmax of the
  logits), over the days traded;
- sharpe_drop: baseline Sharpe minus the shuffled run's Sharpe (positive: the policy needed
  the feature to earn what it earned).

Each is averaged over `n_repeats` shuffles (mean and std). For a v7 policy the shuffled
rows include the lookback days before the split that its windows read, so every window is
built from shuffled days. The normalizer's train-fitted state is never touched: only the
Market's copy of the feature tensor is permuted, and the original Market is left intact.

Correlated features hide each other's importance (shuffling one leaves its twin to carry
the signal), so, as scikit-learn's permutation-importance guide advises, features are also
grouped by hierarchical clustering of their Spearman rank correlation on the train split
and each cluster is permuted as one unit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from omegaconf import DictConfig
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform
from scipy.stats import rankdata

from ploutos.evaluation.metrics import TRADING_DAYS, sharpe_ratio, simple_returns
from ploutos.evaluation.report import atomic_write_text, save_figure, write_json
from ploutos.evaluation.runner import EpisodeLog, evaluation_config, run_policy
from ploutos.market import Market
from ploutos.models.policy import Policy
from ploutos.obs.builders import make_obs_builder, obs_lookback
from ploutos.obs.compact import CompactObs

UNIT_KINDS = ("feature", "group", "cluster")


@dataclass(frozen=True)
class Unit:
    """What one importance row permutes: one feature, a named group or a correlation cluster."""

    kind: str
    name: str
    features: tuple[int, ...]


# ---- grouping -------------------------------------------------------------------------------


def spearman_matrix(x: np.ndarray) -> np.ndarray:
    """[F, F] Spearman correlation of the columns of x [n, F].

    A constant column has no rank correlation with anything: its row and column are 0 (1 on
    the diagonal) instead of NaN, so it ends up in a cluster of its own.
    """
    ranks = rankdata(np.asarray(x, dtype=np.float64), axis=0)
    ranks -= ranks.mean(axis=0)
    norm = np.sqrt((ranks**2).sum(axis=0))
    safe = np.where(norm > 0, norm, 1.0)
    z = ranks / safe
    corr = z.T @ z
    corr[:, norm == 0] = 0.0
    corr[norm == 0, :] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip((corr + corr.T) / 2.0, -1.0, 1.0)


def correlation_clusters(
    features: np.ndarray | torch.Tensor, rows: slice, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(cluster id per feature [F] from 1, Ward linkage) of features [T, A, F] over `rows`.

    Distance is 1 - |Spearman| between features, pooled over the rows' days and all assets;
    Ward linkage on it, cut at `threshold` (0: every feature alone unless duplicated).
    """
    x = features.cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    x = x[rows].reshape(-1, x.shape[-1])
    n_features = x.shape[1]
    if n_features == 1:
        return np.ones(1, dtype=np.int64), np.empty((0, 4))
    distance = 1.0 - np.abs(spearman_matrix(x))
    np.fill_diagonal(distance, 0.0)
    linkage = hierarchy.ward(squareform(distance, checks=False))
    ids = hierarchy.fcluster(linkage, t=threshold, criterion="distance")
    return ids.astype(np.int64), linkage


def make_units(
    feature_names: Sequence[str],
    feature_groups: Sequence[str] | None = None,
    cluster_ids: Sequence[int] | None = None,
    kinds: Sequence[str] = UNIT_KINDS,
) -> list[Unit]:
    """Every feature alone, every named group, every correlation cluster of >= 2 features."""
    unknown = sorted(set(kinds) - set(UNIT_KINDS))
    if unknown:
        raise ValueError(f"unknown importance unit kinds {unknown}; choose from {UNIT_KINDS}")
    units: list[Unit] = []
    if "feature" in kinds:
        units += [Unit("feature", name, (i,)) for i, name in enumerate(feature_names)]
    if "group" in kinds and feature_groups is not None:
        for group in dict.fromkeys(feature_groups):
            idx = tuple(i for i, g in enumerate(feature_groups) if g == group)
            units.append(Unit("group", str(group), idx))
    if "cluster" in kinds and cluster_ids is not None:
        for cid in sorted(set(int(c) for c in cluster_ids)):
            idx = tuple(i for i, c in enumerate(cluster_ids) if int(c) == cid)
            # A one-feature cluster repeats that feature's own row.
            if len(idx) > 1:
                members = "+".join(feature_names[i] for i in idx)
                units.append(Unit("cluster", f"c{cid}:{members}", idx))
    return units


# ---- permutation ----------------------------------------------------------------------------


def permuted_rows(market: Market, split: str, lookback: int) -> range:
    """Day rows an evaluation of `split` reads: the split, plus a v7 window's history."""
    rng = market.split(split)
    return range(max(0, rng.start - (lookback - 1)), rng.stop)


def permute_features(
    features: torch.Tensor, feature_idx: Sequence[int], rows: range, generator: torch.Generator
) -> torch.Tensor:
    """A copy of features [T, A, F] whose `feature_idx` columns have their `rows` days shuffled
    by one permutation (shared by all assets and all listed features)."""
    out = features.clone()
    perm = torch.randperm(len(rows), generator=generator).to(features.device) + rows.start
    cols = torch.as_tensor(list(feature_idx), dtype=torch.int64, device=features.device)
    block = features[perm][:, :, cols]
    out[rows.start : rows.stop, :, cols] = block
    return out


def _run(policy: Policy, market: Market, cfg: DictConfig, split: str) -> EpisodeLog:
    """The deterministic policy over `split`, reading `market`'s (possibly permuted) features."""
    builder = make_obs_builder(cfg.obs, market)

    def act(obs: CompactObs) -> torch.Tensor:
        return policy.act(obs, builder, deterministic=True)

    with torch.no_grad():
        table = getattr(policy, "market_table", None)
        if table is None:
            return run_policy(act, market, cfg, split, obs_builder=builder)
        # An ActorCritic encodes each day of the split once up front instead of once a step.
        rng = market.split(split)
        with table(builder, torch.arange(rng.start, rng.stop, device=market.device)):
            return run_policy(act, market, cfg, split, obs_builder=builder)


def action_change(base: EpisodeLog, other: EpisodeLog) -> float:
    """Share of differing discrete actions, or mean total-variation distance of allocations."""
    a, b = base.actions, other.actions
    if a.dtype.kind in "iu":
        return float(np.mean(a != b))
    wa = torch.softmax(torch.as_tensor(a, dtype=torch.float64), dim=-1)
    wb = torch.softmax(torch.as_tensor(b, dtype=torch.float64), dim=-1)
    return float(0.5 * (wa - wb).abs().sum(dim=-1).mean())


def _sharpe(log: EpisodeLog, risk_free: float, periods_per_year: int) -> float:
    return sharpe_ratio(simple_returns(log.equity[:, 0]), risk_free, periods_per_year)


@dataclass(frozen=True)
class ImportanceResult:
    split: str
    baseline_sharpe: float
    n_repeats: int
    seed: int
    rows: list[dict[str, Any]]  # one per unit, sorted by kind then sharpe_drop_mean (desc)
    cluster_ids: list[int] | None = None

    def table(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["kind"] == kind]


def permutation_importance(
    policy: Policy,
    market: Market,
    cfg: DictConfig,
    units: Sequence[Unit],
    split: str = "test",
    n_repeats: int = 5,
    seed: int = 0,
    risk_free: float = 0.0,
    periods_per_year: int = TRADING_DAYS,
    cluster_ids: Sequence[int] | None = None,
) -> ImportanceResult:
    """Importance of each unit over `split`: mean and std of action_change and sharpe_drop
    over n_repeats shuffles. Unit u's r-th shuffle is seeded by (seed, u, r), so a unit's
    numbers do not depend on which other units are evaluated."""
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    eval_cfg, _ = evaluation_config(cfg, market)
    lookback = obs_lookback(eval_cfg.obs)
    rows_range = permuted_rows(market, split, lookback)
    base = _run(policy, market, eval_cfg, split)
    base_sharpe = _sharpe(base, risk_free, periods_per_year)

    rows: list[dict[str, Any]] = []
    for u, unit in enumerate(units):
        changes, drops = [], []
        for r in range(n_repeats):
            generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + u * 1_009 + r)
            shuffled = replace(
                market, features=permute_features(market.features, unit.features, rows_range,
                                                  generator)
            )
            log = _run(policy, shuffled, eval_cfg, split)
            changes.append(action_change(base, log))
            drops.append(base_sharpe - _sharpe(log, risk_free, periods_per_year))
        rows.append({
            "kind": unit.kind,
            "name": unit.name,
            "n_features": len(unit.features),
            "features": [market.feature_names[i] for i in unit.features],
            "action_change_mean": float(np.mean(changes)),
            "action_change_std": float(np.std(changes)),
            "sharpe_drop_mean": float(np.mean(drops)),
            "sharpe_drop_std": float(np.std(drops)),
        })
    order = {k: i for i, k in enumerate(UNIT_KINDS)}
    rows.sort(key=lambda r: (order[r["kind"]], -r["sharpe_drop_mean"], -r["action_change_mean"]))
    return ImportanceResult(
        split=split,
        baseline_sharpe=base_sharpe,
        n_repeats=n_repeats,
        seed=seed,
        rows=rows,
        cluster_ids=None if cluster_ids is None else [int(c) for c in cluster_ids],
    )


# ---- reports --------------------------------------------------------------------------------

CSV_FIELDS = (
    "kind",
    "name",
    "n_features",
    "action_change_mean",
    "action_change_std",
    "sharpe_drop_mean",
    "sharpe_drop_std",
    "features",
)


def importance_csv(result: ImportanceResult) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in result.rows:
        writer.writerow({**{k: row[k] for k in CSV_FIELDS}, "features": " ".join(row["features"])})
    return buf.getvalue()


def plot_importance(result: ImportanceResult, path: Path, top: int = 25) -> None:
    """One horizontal bar panel per unit kind: Sharpe drop and action change, with std bars."""
    kinds = [k for k in UNIT_KINDS if result.table(k)]
    heights = [min(len(result.table(k)), top) for k in kinds]
    fig, axes = plt.subplots(
        len(kinds), 2, figsize=(12, 1.2 + 0.28 * sum(heights) + 0.6 * len(kinds)),
        squeeze=False, gridspec_kw={"height_ratios": heights},
    )
    for row_axes, kind in zip(axes, kinds, strict=True):
        table = result.table(kind)[:top][::-1]
        labels = [r["name"] if len(r["name"]) <= 40 else r["name"][:37] + "..." for r in table]
        y = np.arange(len(table))
        for ax, key, title in (
            (row_axes[0], "sharpe_drop", "Sharpe drop"),
            (row_axes[1], "action_change", "action change"),
        ):
            ax.barh(y, [r[f"{key}_mean"] for r in table], xerr=[r[f"{key}_std"] for r in table],
                    color="tab:blue" if key == "sharpe_drop" else "tab:orange", alpha=0.8)
            ax.set_yticks(y, labels, fontsize=7)
            ax.axvline(0.0, color="black", lw=0.6)
            ax.set_title(f"{kind}: {title}", fontsize=9)
    fig.suptitle(
        f"permutation importance on {result.split} (baseline Sharpe "
        f"{result.baseline_sharpe:.3f}, {result.n_repeats} shuffles)", fontsize=10
    )
    fig.tight_layout()
    save_figure(fig, path)


def write_importance(
    result: ImportanceResult,
    out_dir: str | Path,
    extra: dict[str, Any] | None = None,
    top: int = 25,
) -> dict[str, Path]:
    """importance.csv, importance.json and importance.png in out_dir (each written atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out / "importance.csv",
        "json": out / "importance.json",
        "png": out / "importance.png",
    }
    atomic_write_text(paths["csv"], importance_csv(result))
    payload = {
        "split": result.split,
        "baseline_sharpe": result.baseline_sharpe,
        "n_repeats": result.n_repeats,
        "seed": result.seed,
        "cluster_ids": result.cluster_ids,
        **(extra or {}),
        "rows": result.rows,
    }
    write_json(paths["json"], payload)
    plot_importance(result, paths["png"], top)
    return paths


def format_table(result: ImportanceResult, top: int = 15) -> str:
    lines = [f"baseline Sharpe on {result.split}: {result.baseline_sharpe:.4f} "
             f"({result.n_repeats} shuffles per unit)"]
    for kind in UNIT_KINDS:
        table = result.table(kind)
        if not table:
            continue
        lines.append(f"{kind:<8s} {'name':<40s} {'sharpe drop':>17s} {'action change':>17s}")
        for r in table[:top]:
            name = r["name"] if len(r["name"]) <= 40 else r["name"][:37] + "..."
            lines.append(
                f"{'':<8s} {name:<40s} {r['sharpe_drop_mean']:>+9.4f} ±{r['sharpe_drop_std']:<6.4f}"
                f" {r['action_change_mean']:>9.4f} ±{r['action_change_std']:<6.4f}"
            )
    return "\n".join(lines)


# ---- the importance app ---------------------------------------------------------------------


