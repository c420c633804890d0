"""Read a Hydra multirun folder: one JobRecord per job, whatever launcher or sweeper ran it.

A job is any folder under the multirun root holding `.hydra/config.yaml`. Its summary.json
(written by the training app), its overrides, its csv learning curve and, when someone ran
`python backtest.py` into the job folder, the backtest's metrics.json are picked up. A job
with no summary (killed, failed, still running) is kept with status "missing" so the report
can say so instead of silently dropping it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ploutos.errors import DataError
from ploutos.sweeper.config import CALLBACK_KEY
from ploutos.sweeper.outcome import STUDY_RECORD

SUMMARY = "summary.json"
BACKTEST_METRICS = "metrics.json"
# Where experiments/study.py backtests a job's selected checkpoint: at the timing horizon of
# the backtest config (5 days) and at 1 day.
STUDY_BACKTEST = "backtest"
STUDY_BACKTEST_H1 = "backtest_h1"
CURVE = "csv/metrics.csv"
# The key whose values are replicates, not configurations: aggregated over, never compared.
SEED_KEY = "seed"


@dataclass
class JobRecord:
    """What one multirun job left on disk."""

    job_dir: Path
    overrides: dict[str, str]
    config: dict[str, Any]
    summary: dict[str, Any] | None
    backtest: dict[str, Any] | None = None  # the agent's test metrics
    curve_path: Path | None = None
    # The same backtest's baselines (buy_and_hold, index, ...) and last.ckpt beside the
    # selected checkpoint; the agent's metrics at a 1-day timing horizon.
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_checkpoint: dict[str, Any] | None = None
    backtest_h1: dict[str, Any] | None = None
    swept: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.job_dir.name

    @property
    def status(self) -> str:
        return "missing" if self.summary is None else str(self.summary.get("status", "unknown"))


def parse_overrides(lines: list[str]) -> dict[str, str]:
    """`key=value` overrides as a dict; `+key=v` and `++key=v` count as key, `~key` is dropped."""
    out: dict[str, str] = {}
    for line in lines:
        text = str(line)
        if text.startswith("~") or "=" not in text:
            continue
        key, value = text.split("=", 1)
        out[key.lstrip("+")] = value
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON: {err}") from err


def _backtest_doc(job_dir: Path) -> dict[str, Any] | None:
    """The job's backtest metrics.json: the study's own (<job>/backtest/), else the newest
    one under the job, else None."""
    own = job_dir / STUDY_BACKTEST / BACKTEST_METRICS
    if own.is_file():
        return _read_json(own)
    found = sorted(
        (p for p in job_dir.rglob(BACKTEST_METRICS)
         if ".hydra" not in p.parts and STUDY_BACKTEST_H1 not in p.parts),
        key=lambda p: p.stat().st_mtime,
    )
    return _read_json(found[-1]) if found else None


def _strategies(doc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    strategies = (doc or {}).get("strategies")
    return dict(strategies) if isinstance(strategies, dict) else {}


def read_job(job_dir: Path) -> JobRecord:
    hydra_dir = job_dir / ".hydra"
    config = yaml.safe_load((hydra_dir / "config.yaml").read_text()) or {}
    overrides_file = hydra_dir / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
    curve = job_dir / CURVE
    doc = _backtest_doc(job_dir)
    strategies = _strategies(doc)
    h1 = _strategies(_read_json(job_dir / STUDY_BACKTEST_H1 / BACKTEST_METRICS)).get("agent")
    summary = _read_json(job_dir / SUMMARY)
    return JobRecord(
        job_dir=job_dir,
        overrides=parse_overrides(overrides or []),
        config=config,
        summary=summary,
        backtest=strategies.get("agent"),
        curve_path=curve if curve.is_file() else None,
        baselines={k: v for k, v in strategies.items() if k != "agent"},
        last_checkpoint=_last_checkpoint(doc, strategies.get("agent"), summary),
        backtest_h1=h1,
    )


def _last_checkpoint(
    doc: dict[str, Any] | None, agent: dict[str, Any] | None, summary: dict[str, Any] | None
) -> dict | None:
    """metrics.json's last_checkpoint section; when the backtested checkpoint is the run's
    last one (the backtest then shows it once, without the section), its own figures."""
    if doc is None:
        return None
    if "last_checkpoint" in doc:
        return doc["last_checkpoint"]
    steps = doc.get("env_steps")
    if agent is None or steps is None or steps != (summary or {}).get("env_steps"):
        return None
    return {"checkpoint": doc.get("checkpoint"), "env_steps": steps, "metrics": agent}


def _job_sort_key(path: Path) -> tuple[int, str]:
    # Hydra numbers jobs 0, 1, ..., 10: sort numerically where it can.
    return (int(path.name), "") if path.name.isdigit() else (1 << 30, str(path))


def find_jobs(root: Path) -> list[Path]:
    """Every job folder under a multirun root (or the root itself for a single run)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"multirun folder not found: {root}")
    found = {p.parent.parent for p in root.rglob(".hydra/config.yaml")}
    # A Hydra app run inside a job folder (a backtest into <job>/backtest) is not a job.
    jobs = [p for p in found if not any(parent in found for parent in p.parents)]
    return sorted(jobs, key=_job_sort_key)


def swept_keys(jobs: list[JobRecord]) -> list[str]:
    """Override keys whose value differs between jobs (or is missing from some), in the
    order they first appear. The Optuna sweeper's trial bookkeeping (study, storage, trial
    number of the pruning callback) is not part of a configuration."""
    keys: list[str] = []
    for job in jobs:
        keys += [k for k in job.overrides if k not in keys and not k.startswith(CALLBACK_KEY)]
    return [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]


def read_study_record(root: Path) -> dict[str, Any] | None:
    """The Optuna sweeper's pointer to its study (name, storage), if `root` is its sweep."""
    return _read_json(Path(root) / STUDY_RECORD)


def read_multirun(root: Path) -> list[JobRecord]:
    """All jobs of a multirun, each tagged with its values of the swept keys."""
    paths = find_jobs(root)
    if not paths:
        raise DataError(f"no Hydra jobs (.hydra/config.yaml) under {root}")
    jobs = [read_job(p) for p in paths]
    keys = swept_keys(jobs)
    for job in jobs:
        job.swept = {k: job.overrides.get(k, "(default)") for k in keys}
    return jobs
