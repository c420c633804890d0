"""The selection study's second half: every trainer.select rule on every run, backtested.

    python -m ploutos.studies.selection_study multirun/studies/selection-full/DIR

A run of the study (experiments/studies/selection.yaml) keeps a checkpoint at every
evaluation and its validation history in summary.json (`selection.history`). For each run
and each rule (ploutos/training/selection.py) this picks the checkpoint the rule would have
made best.ckpt, backtests it on the test split beside the oracle rule of the planted signal
and buy-and-hold (same days and costs), and writes into DIR/report/:

- selection_runs.csv: one row per run and rule: the pick's env steps, validation value,
  test Sharpe with its 95% stationary-bootstrap interval, the oracle's and buy-and-hold's
  test Sharpe, edge capture (test Sharpe / the oracle's);
- selection.csv / selection.md: per signal and rule, means over seeds: test Sharpe, capture
  (mean Sharpe / mean oracle Sharpe), the pick minus last.ckpt's test Sharpe, how often the
  agent's interval covers buy-and-hold's Sharpe, and the deflated Sharpe verdict of the pick
  (n_trials = the run's evaluations, their validation Sharpe's variance, test days).

Each run's rows are kept in its folder (selection_rows.json), so the analysis can run while
later jobs still train and backtests each finished run once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.checkpoint import load_checkpoints
from ploutos.evaluation.oracle import ORACLE
from ploutos.io import atomic_write_text
from ploutos.studies.collect import read_multirun
from ploutos.studies.deflated_sharpe import deannualize, deflated_sharpe_ratio
from ploutos.training.selection import RULES, pick

BASELINES = ("buy_and_hold", ORACLE)
# The deflated Sharpe ratio at or above which a pick counts as skill (5% level).
DSR_LEVEL = 0.95
CACHE = "selection_rows.json"


def rule_checkpoints(job_dir: Path, summary: dict[str, Any]) -> dict[str, tuple[Path, int]]:
    """rule -> (checkpoint file, env steps) of the evaluation the rule picks in this run."""
    selection = summary.get("selection") or {}
    history = selection.get("history") or []
    monitor = summary["best_eval"]["monitor"]
    mode = summary["best_eval"]["mode"]
    smoothing = float(selection.get("smoothing", 0.5))
    last = job_dir / "checkpoints" / "last.ckpt"
    out: dict[str, tuple[Path, int]] = {}
    for rule in RULES:
        k = pick(history, rule, monitor, mode, smoothing)
        if k is None:
            continue
        steps = int(history[k]["env_steps"])
        periodic = job_dir / "checkpoints" / "periodic" / f"envsteps_{steps:012d}.ckpt"
        if steps == int(summary["env_steps"]) and last.is_file():
            out[rule] = (last, steps)  # the final evaluation is last.ckpt's
        elif periodic.is_file():
            out[rule] = (periodic, steps)
    return out


def _verdict(test_sharpe: float, n_days: int, history: Sequence[dict]) -> dict[str, float]:
    values = [h["value"] for h in history if h.get("value") is not None]
    variance = float(np.var([deannualize(v) for v in values], ddof=1)) if len(values) > 1 else 0.0
    dsr = deflated_sharpe_ratio(deannualize(test_sharpe), n_days, max(len(values), 1), variance)
    return {"dsr": dsr.dsr, "skill": float(dsr.dsr >= DSR_LEVEL)}


def backtest_run(job_dir: Path, summary: dict[str, Any], n_boot: int) -> list[dict[str, Any]]:
    """One row per rule of this run (see the module docstring)."""
    picks = rule_checkpoints(job_dir, summary)
    files = sorted({path for path, _ in picks.values()})
    models = dict(zip(files, load_checkpoints(files), strict=True))
    results = {
        path: run_backtest(model, "test", baselines=BASELINES, n_boot=n_boot)
        for path, model in models.items()
    }
    history = summary["selection"]["history"]
    values = {int(h["env_steps"]): h["value"] for h in history}
    rows = []
    for rule, (path, steps) in picks.items():
        metrics = results[path].metrics
        agent, bh = metrics[AGENT], metrics["buy_and_hold"]
        ci = agent["sharpe_ci"]
        rows.append({
            "rule": rule,
            "checkpoint": path.name,
            "env_steps": steps,
            "val_sharpe": values.get(steps),
            "test_sharpe": agent["sharpe"],
            "test_ci_low": ci["low"],
            "test_ci_high": ci["high"],
            "oracle_sharpe": metrics[ORACLE]["sharpe"] if ORACLE in metrics else np.nan,
            "bh_sharpe": bh["sharpe"],
            "capture": agent.get("edge_capture", np.nan),
            "covers_bh": float(ci["low"] <= bh["sharpe"] <= ci["high"]),
            "last_test_sharpe": results[picks["last"][0]].metrics[AGENT]["sharpe"],
            **_verdict(agent["sharpe"], int(agent["days"]), history),
        })
    return rows


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Per signal and rule, over seeds (see the module docstring)."""
    rows = []
    for (signal, rule), group in runs.groupby(["signal", "rule"], sort=False):
        oracle = group["oracle_sharpe"].mean()
        rows.append({
            "signal": signal,
            "rule": rule,
            "seeds": len(group),
            "test_sharpe": group["test_sharpe"].mean(),
            "oracle_sharpe": oracle,
            "capture": group["test_sharpe"].mean() / oracle if oracle > 0 else np.nan,
            "minus_last": (group["test_sharpe"] - group["last_test_sharpe"]).mean(),
            "bh_sharpe": group["bh_sharpe"].mean(),
            "covers_bh": group["covers_bh"].mean(),
            "skill_verdicts": int(group["skill"].sum()),
            "val_sharpe": group["val_sharpe"].mean(),
        })
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    header = ("| signal | rule | seeds | test Sharpe | oracle | capture | minus last | "
              "buy & hold | CI covers B&H | DSR skill | val Sharpe |")
    lines = [header, "|" + "---|" * 11]
    for r in table.itertuples(index=False):
        capture = "n/a" if np.isnan(r.capture) else f"{r.capture:.2f}"
        oracle = "n/a" if np.isnan(r.oracle_sharpe) else f"{r.oracle_sharpe:+.2f}"
        lines.append(
            f"| {r.signal} | {r.rule} | {r.seeds} | {r.test_sharpe:+.2f} | {oracle} | "
            f"{capture} | {r.minus_last:+.2f} | {r.bh_sharpe:+.2f} | "
            f"{r.covers_bh:.0%} | {r.skill_verdicts}/{r.seeds} | {r.val_sharpe:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def job_rows(job_dir: Path, summary: dict[str, Any], n_boot: int) -> list[dict[str, Any]]:
    """backtest_run's rows, kept in the job's folder (selection_rows.json) so that running the
    analysis again, or while later jobs still train, backtests each finished run once."""
    cached = job_dir / CACHE
    if cached.is_file() and cached.stat().st_mtime >= (job_dir / "summary.json").stat().st_mtime:
        return json.loads(cached.read_text())
    rows = backtest_run(job_dir, summary, n_boot)
    atomic_write_text(cached, json.dumps(rows, default=float) + "\n")
    return rows


def market_label(data: dict[str, Any]) -> str:
    """The table's `signal` column: the planted kind of a synthetic market; for any other
    source its name and test start (a walk-forward fold of the bundled data)."""
    if data.get("source", "synthetic") == "synthetic":
        return str(data.get("signal") or "ts_momentum")  # configs before the kinds had one
    return f"{data.get('source')} test {(data.get('splits') or {}).get('test_start')}"


def selection_study(root: Path, n_boot: int = 1000) -> pd.DataFrame:
    """Backtest every rule's pick of every finished run under `root`; write the report."""
    rows = []
    for job in read_multirun(Path(root)):
        if job.summary is None or job.status not in ("completed", "early_stopped"):
            continue
        data = job.config.get("data") or {}
        for row in job_rows(job.job_dir, job.summary, n_boot):
            rows.append({"signal": market_label(data),
                         "seed": job.config.get("seed"), "job": job.name, **row})
    runs = pd.DataFrame(rows)
    table = summarize(runs)
    out = Path(root) / "report"
    atomic_write_text(out / "selection_runs.csv", runs.to_csv(index=False))
    atomic_write_text(out / "selection.csv", table.to_csv(index=False))
    atomic_write_text(out / "selection.md", markdown(table))
    atomic_write_text(out / "selection.json", json.dumps(
        {"runs": runs.to_dict("records"), "table": table.to_dict("records")}, indent=2,
        default=float,
    ) + "\n")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="the study's multirun folder")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args(argv)
    print(markdown(selection_study(args.root, args.n_boot)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
