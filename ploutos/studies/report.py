"""Turn a multirun folder into a study report: tables, learning curves and a verdict.

The verdict is multiple-testing aware: the configuration with the highest mean validation
Sharpe is judged by its deflated Sharpe ratio, with N = the number of configurations tried
plus the ensemble variants evaluated over the study's models, and V[SR_n] = the variance of
the configurations' mean validation Sharpe ratios. Seeds are replicates of a configuration,
not extra trials. The validation return series is not stored in summary.json, so returns are
taken as normal (skew 0, kurtosis 3) unless the caller passes its own. Checkpoint selection
inside each run (best of its evaluations) is a further, uncounted selection when
`select="best"`: the DSR is then on the optimistic side.

An ensemble variant is an ensemble (rule, members, the rule's settings) that the backtest or
compare app evaluated into the study folder: a metrics.json or compare.json under it with an
`ensemble` entry (ploutos/ensemble). Each distinct variant is one more trial, however often
it was evaluated. Its Sharpe is usually a test Sharpe, so it raises N but stays out of
V[SR_n], which is estimated from validation Sharpe ratios. A backtest or compare multirun
swept into the study folder leaves Hydra job folders there; they are evaluations, not
training jobs, and are left out of the job and configuration tables.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ploutos.errors import ConfigError, DataError
from ploutos.io import atomic_write_bytes
from ploutos.studies.collect import JobRecord, read_multirun, read_study_record, swept_keys
from ploutos.studies.curves import plot_curves
from ploutos.studies.deflated_sharpe import deannualize, deflated_sharpe_ratio
from ploutos.studies.optuna_study import markdown as study_markdown
from ploutos.studies.optuna_study import study_section
from ploutos.studies.table import configs_frame, jobs_frame, to_markdown

# A DSR at or above this rejects "the winner is selection luck" at the 5% level.
SIGNIFICANCE = 0.95
TABLE_COLUMNS = (
    "val_final_sharpe",
    "val_best_sharpe",
    "val_final_total_return",
    "val_final_max_drawdown",
    "test_sharpe",
    "test_total_return",
    "test_max_drawdown",
    "env_steps",
    "env_steps_per_s",
    "wall_time_s",
)
# The test split, read once per job after the sweep: the selected checkpoint's backtest (timing
# at the backtest's horizon and at 1 day), the last checkpoint's Sharpe on the same window, and
# the baselines' Sharpe on that window.
TEST_COLUMNS = (
    "test_sharpe",
    "test_last_sharpe",
    "test_buy_quality",
    "test_sell_quality",
    "test_h1_buy_quality",
    "test_h1_sell_quality",
    "test_random_buy_quality",
    "test_edge_capture",
    "test_buy_and_hold_sharpe",
    "test_index_sharpe",
    "test_momentum_sharpe",
    "test_random_sharpe",
    "test_oracle_sharpe",
)


# The apps' output files that can hold an evaluated ensemble (an `ensemble` entry).
ENSEMBLE_OUTPUTS = ("metrics.json", "compare.json")


@dataclass(frozen=True)
class StudyReport:
    jobs: pd.DataFrame
    configs: pd.DataFrame
    verdict: dict[str, Any]
    paths: dict[str, Path]
    ensembles: list[dict[str, Any]] = field(default_factory=list)


def _ensemble_trial(path: Path) -> dict[str, Any] | None:
    """The evaluated ensemble of a backtest (metrics.json) or compare (compare.json) output."""
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON: {err}") from err
    ensemble = doc.get("ensemble") if isinstance(doc, dict) else None
    if not isinstance(ensemble, dict) or "rule" not in ensemble:
        return None
    label = str(ensemble.get("label", f"ensemble:{ensemble['rule']}"))
    metrics = doc.get("strategies", {}).get("agent") or doc.get("metrics", {}).get(label) or {}
    settings = {k: ensemble.get(k) for k in ("metric", "mode", "temperature", "multirun_top_k")}
    members = sorted(str(m.get("checkpoint")) for m in ensemble.get("members", []))
    return {
        "variant": json.dumps([ensemble["rule"], members, settings], default=str),
        "label": label,
        "members": members,
        "sharpe": float(metrics.get("sharpe", math.nan)),
    }


def ensemble_variants(root: Path | str) -> list[dict[str, Any]]:
    """Each distinct ensemble variant evaluated under `root` (see the module docstring),
    with every file that evaluated it; the first file's Sharpe is reported."""
    found: dict[str, dict[str, Any]] = {}
    paths = sorted(p for name in ENSEMBLE_OUTPUTS for p in Path(root).rglob(name))
    for path in paths:
        trial = _ensemble_trial(path)
        if trial is not None:
            found.setdefault(trial["variant"], {**trial, "paths": []})["paths"].append(path)
    return list(found.values())


def _training_jobs(records: list[JobRecord], variants: list[dict[str, Any]]) -> list[JobRecord]:
    """The records without the Hydra job folders of evaluation sweeps (no summary.json, an
    ensemble evaluated inside), re-tagged with the keys swept between training jobs only."""
    evaluated = {p.parent for v in variants for p in v["paths"]}
    kept = [
        r for r in records
        if r.summary is not None or not any(d == r.job_dir or r.job_dir in d.parents
                                            for d in evaluated)
    ]  # fmt: skip
    if len(kept) < len(records):
        keys = swept_keys(kept)
        for job in kept:
            job.swept = {k: job.overrides.get(k, "(default)") for k in keys}
    return kept


def verdict(
    configs: pd.DataFrame,
    select: str = "best",
    periods_per_year: int = 252,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    n_tried: int | None = None,
    n_ensembles: int = 0,
) -> dict[str, Any]:
    """The DSR of the configuration with the highest mean validation Sharpe.

    select: "best" (Sharpe at each run's best checkpoint) or "final" (last evaluation).
    Pruned configurations (every job stopped by a sweeper's pruner) cannot win, but they were
    tried: they count in N and in V[SR_n] with the Sharpe they had when stopped. n_tried: the
    number of configurations tried where it exceeds this folder's (an Optuna study that spans
    several multirun folders). n_ensembles: ensemble variants evaluated over the study's
    models; each is one more trial in N (not in V[SR_n], see the module docstring).
    """
    if select not in ("best", "final"):
        raise ConfigError("select", f"must be 'best' or 'final', got '{select}'")
    column = f"val_{select}_sharpe_mean"
    scored = configs[np.isfinite(configs[column])]
    if scored.empty:
        return {"available": False, "reason": "no completed job reported a validation Sharpe"}
    pruned = scored["n_pruned"] >= scored["n_jobs"]
    candidates = scored[~pruned]
    if candidates.empty:
        return {"available": False, "reason": "every scored configuration was pruned"}
    winner = candidates.loc[candidates[column].idxmax()]
    days = float(winner["val_days_mean"])
    n_obs = int(days) if np.isfinite(days) else 0
    if n_obs < 2:
        return {"available": False, "reason": "validation length (eval/days) not recorded"}
    sharpes = scored[column].to_numpy(dtype=np.float64)
    n_configs = max(len(sharpes), int(n_tried or 0))
    n_trials = n_configs + int(n_ensembles)
    variance = float(sharpes.var(ddof=1)) if len(sharpes) > 1 else 0.0
    result = deflated_sharpe_ratio(
        sharpe=deannualize(float(winner[column]), periods_per_year),
        n_obs=n_obs,
        n_trials=n_trials,
        sharpe_variance=variance / periods_per_year,
        skew=skew,
        kurtosis=kurtosis,
    )
    significant = result.dsr >= SIGNIFICANCE
    return {
        "available": True,
        "select": select,
        "best_config": str(winner["config"]),
        "best_val_sharpe_annualized": float(winner[column]),
        "expected_max_sharpe_annualized": result.expected_max_sharpe * math.sqrt(periods_per_year),
        "periods_per_year": periods_per_year,
        "significant": bool(significant),
        "n_pruned": int(pruned.sum()),
        "n_ensemble_variants": int(n_ensembles),
        "text": (
            f"Best of {n_configs} configuration(s)"
            + (f" ({int(pruned.sum())} pruned)" if pruned.any() else "")
            + (
                f" and {int(n_ensembles)} ensemble variant(s), {n_trials} trials"
                if n_ensembles
                else ""
            )
            + f": {winner['config']} with mean validation "
            f"Sharpe {float(winner[column]):.2f} (annualized, {n_obs} days). Luck alone would "
            f"give the best of {n_trials} an expected "
            f"{result.expected_max_sharpe * math.sqrt(periods_per_year):.2f}. Deflated Sharpe "
            f"ratio {result.dsr:.3f} (PSR against 0 without the deflation: "
            f"{result.psr_zero:.3f}): "
            + (
                "the winner's edge survives the multiple testing at the 5% level."
                if significant
                else "not significant at the 5% level; the winner may be selection luck."
            )
        ),
        **{f"dsr_{k}": v for k, v in result.as_dict().items()},
    }


def _ensembles_markdown(variants: list[dict[str, Any]]) -> list[str]:
    if not variants:
        return []
    lines = [
        "## Ensemble variants (each a trial in the verdict's N)",
        "",
        "| ensemble | members | Sharpe | evaluated in |",
        "| --- | --- | --- | --- |",
    ]
    for v in variants:
        where = ", ".join(str(p) for p in v["paths"])
        lines.append(f"| {v['label']} | {len(v['members'])} | {v['sharpe']:.3f} | {where} |")
    return [*lines, ""]


def _test_markdown(configs: pd.DataFrame) -> list[str]:
    columns = [c for c in TEST_COLUMNS if f"{c}_mean" in configs]
    if not columns or not configs["n_backtested"].any():
        return []
    return [
        "## Test split: the selected checkpoint beside the last one and the baselines",
        "",
        "Sharpe ratios annualized; buy/sell quality = share of buys (sells) followed by a rise "
        "(fall) over the backtest's horizon (`h1_`: over 1 day).",
        "",
        to_markdown(configs, columns),
        "",
    ]


def _markdown(
    root: Path,
    jobs: pd.DataFrame,
    configs: pd.DataFrame,
    found: dict,
    study: str = "",
    variants: list[dict[str, Any]] | None = None,
) -> str:
    statuses = jobs["status"].value_counts().to_dict()
    lines = [
        f"# Study report: {root}",
        "",
        f"{len(jobs)} jobs ({', '.join(f'{n} {s}' for s, n in statuses.items())}), "
        f"{len(configs)} configuration(s); values are mean ± std over seeds. Test metrics: "
        f"{int(configs['n_backtested'].sum())} job(s) backtested.",
        "",
        to_markdown(configs, list(TABLE_COLUMNS)),
        "",
        *_test_markdown(configs),
        "## Verdict (deflated Sharpe ratio, Bailey & Lopez de Prado 2014)",
        "",
        found["text"] if found.get("available") else f"Not available: {found['reason']}.",
        "",
        *_ensembles_markdown(variants or []),
        "![learning curves](curves.png)",
        "",
    ]
    return "\n".join(lines) + (f"\n{study}" if study else "")


def build_report(
    root: Path | str,
    out_dir: Path | str | None = None,
    select: str = "best",
    periods_per_year: int = 252,
) -> StudyReport:
    """Read every job under `root` and write jobs.csv, configs.csv, report.md, verdict.json
    and curves.png into `out_dir` (default: <root>/report). A sweep of the Optuna sweeper
    also gets optuna_trials.csv, optuna.json and the study's plots (optuna_study.py)."""
    root = Path(root)
    out = Path(out_dir) if out_dir is not None else root / "report"
    variants = ensemble_variants(root)
    records = _training_jobs(read_multirun(root), variants)
    jobs = jobs_frame(records)
    configs = configs_frame(jobs, swept_keys(records))
    record = read_study_record(root)
    study = study_section(record) if record else None
    tried = study["n_complete"] + study["n_pruned"] if study else None
    found = verdict(configs, select=select, periods_per_year=periods_per_year, n_tried=tried,
                    n_ensembles=len(variants))  # fmt: skip
    fig = plot_curves(records)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    paths = {
        "jobs": atomic_write_bytes(out / "jobs.csv", jobs.to_csv(index=False).encode()),
        "configs": atomic_write_bytes(out / "configs.csv", configs.to_csv(index=False).encode()),
        "verdict": atomic_write_bytes(
            out / "verdict.json", (json.dumps(found, indent=2, default=str) + "\n").encode()
        ),
        "curves": atomic_write_bytes(out / "curves.png", buf.getvalue()),
    }
    if study is not None:
        paths["optuna_trials"] = atomic_write_bytes(
            out / "optuna_trials.csv", study["trials"].to_csv(index=False).encode()
        )
        summary = {k: v for k, v in study.items() if k not in ("trials", "figures")}
        paths["optuna"] = atomic_write_bytes(
            out / "optuna.json", (json.dumps(summary, indent=2, default=str) + "\n").encode()
        )
        for name, png in study["figures"].items():
            paths[Path(name).stem] = atomic_write_bytes(out / name, png)
    paths["markdown"] = atomic_write_bytes(
        out / "report.md",
        _markdown(
            root, jobs, configs, found, study_markdown(study) if study else "", variants
        ).encode(),
    )
    return StudyReport(jobs=jobs, configs=configs, verdict=found, paths=paths, ensembles=variants)
