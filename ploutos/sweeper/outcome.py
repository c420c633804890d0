"""What a finished trial left in its run folder, and the files the sweeper writes.

The training app writes summary.json after its fit returns, so a pruned run's summary says
`completed` (the pruning callback stopped the fit the way early stopping does). The sweeper
reads the trial's `pruned` attribute and rewrites the summary as `status: pruned`, with where
it was pruned, atomically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ploutos.errors import DataError
from ploutos.io import atomic_write_json

SUMMARY = "summary.json"
# The sweep folder's pointer to its study, read by the study report.
STUDY_RECORD = "optuna_study.json"


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        raise DataError(f"{path}: the trial's run wrote no summary")
    return json.loads(path.read_text())


def mark_pruned(run_dir: Path, pruned: dict[str, Any], trial_number: int) -> Path:
    """Rewrite the run's summary.json with `status: pruned` and where it was pruned."""
    summary = read_summary(run_dir)
    summary["status"] = "pruned"
    summary["pruned"] = {**pruned, "trial": int(trial_number)}
    return atomic_write_json(Path(run_dir) / SUMMARY, summary)


def objective_values(summary: dict[str, Any], metrics: list[str]) -> list[float]:
    """The best checkpoint's value of each metric (summary.json's best_eval.metrics)."""
    found = (summary.get("best_eval") or {}).get("metrics") or {}
    missing = [m for m in metrics if m not in found]
    if missing:
        raise DataError(
            f"hydra.sweeper.metrics: {missing} not in the run's best_eval metrics "
            f"(have {sorted(found)})"
        )
    values = [float(found[m]) for m in metrics]
    if not all(math.isfinite(v) for v in values):
        named = dict(zip(metrics, values, strict=True))
        raise DataError(f"hydra.sweeper.metrics: non-finite value(s) {named}")
    return values


def write_study_record(sweep_dir: Path, record: dict[str, Any]) -> Path:
    return atomic_write_json(Path(sweep_dir) / STUDY_RECORD, record)
