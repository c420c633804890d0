"""Where an ensemble's members come from, and the checks that they can share one market.

Members are a list of checkpoint files, or a multirun folder: every job under it that wrote a
summary.json (the training app's) contributes its selected checkpoint (summary
`checkpoints.best`), and the `top_k` jobs by the summary's best validation score are kept.
That score was measured during training on the job's validation split, which lies before its
test split, so ranking by it reads no test data.

Members are loaded with load_checkpoints (one Market per distinct data/features/obs config)
and must agree on tickers, data fingerprint, action mode and normalized features. They then
all trade on ONE market: the one built for the member with the longest observation history
(its splits start where every member can observe); members built over another market (other
obs config, same features) are rebound to it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ploutos.env.params import EnvParams
from ploutos.errors import ConfigError
from ploutos.evaluation.checkpoint import CheckpointError, LoadedModel, load_checkpoints
from ploutos.obs.builders import market_first_day

SUMMARY = "summary.json"


@dataclass(frozen=True)
class RankedJob:
    """One multirun job: its folder, selected checkpoint and best validation score."""

    job_dir: Path
    checkpoint: Path
    score: float
    monitor: str


def _job_checkpoint(summary_path: Path, doc: dict[str, Any]) -> Path | None:
    """The job's selected checkpoint; a moved multirun folder is found by the file's name
    in the job's checkpoints/ folder."""
    stored = (doc.get("checkpoints") or {}).get("best")
    if not stored:
        return None
    path = Path(stored)
    if path.is_file():
        return path
    moved = summary_path.parent / "checkpoints" / path.name
    return moved if moved.is_file() else path


def rank_multirun(root: Path, top_k: int) -> list[RankedJob]:
    """The top_k jobs of a multirun folder by best validation score (best first; equal
    scores in folder order). Jobs without a score (failed, diverged before any evaluation)
    are skipped; the jobs must all monitor the same metric."""
    summaries = sorted(root.rglob(SUMMARY))
    jobs: list[RankedJob] = []
    for path in summaries:
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path}: not valid JSON ({err})") from err
        best = doc.get("best_eval") or {}
        ckpt = _job_checkpoint(path, doc)
        if best.get("score") is None or ckpt is None:
            continue
        sign = 1.0 if best.get("mode", "max") == "max" else -1.0
        jobs.append(RankedJob(path.parent, ckpt, sign * float(best["score"]), str(best["monitor"])))
    if not jobs:
        raise CheckpointError(
            f"{root}: no job with a {SUMMARY} holding a best validation score and checkpoint"
        )
    monitors = sorted({j.monitor for j in jobs})
    if len(monitors) > 1:
        raise ConfigError("ensemble.members", f"{root}: jobs monitor different metrics {monitors}")
    ranked = sorted(jobs, key=lambda j: -j.score)  # stable: equal scores keep folder order
    for job in ranked[:top_k]:
        if not job.checkpoint.is_file():
            raise CheckpointError(f"{job.job_dir}: selected checkpoint missing: {job.checkpoint}")
    return ranked[:top_k]


def member_paths(members: Any, top_k: int = 3) -> tuple[list[Path], list[RankedJob]]:
    """(checkpoint paths, ranked jobs) for `ensemble.members`: a list of checkpoints or one
    multirun folder (then the ranked jobs the paths come from; else no jobs)."""
    if not members:
        raise ConfigError(
            "ensemble.members",
            "give the members: ensemble.members=[a.ckpt,b.ckpt] or ensemble.members=MULTIRUN_DIR",
        )
    if not isinstance(top_k, int) or top_k < 1:
        raise ConfigError("ensemble.top_k", f"must be an integer >= 1, got {top_k!r}")
    if isinstance(members, str | Path):
        root = Path(members)
        if root.is_dir():
            jobs = rank_multirun(root, top_k)
            return [j.checkpoint for j in jobs], jobs
        members = [members]
    paths = [Path(str(p)) for p in members]
    for p in paths:
        if p.is_dir():
            raise ConfigError(
                "ensemble.members", f"{p} is a folder: give a multirun folder alone, not in a list"
            )
    return paths, []


def _differences(ref: LoadedModel, other: LoadedModel) -> str | None:
    """What keeps `other` from trading on ref's market, or None."""
    if tuple(other.market.tickers) != tuple(ref.market.tickers):
        return f"tickers {list(other.market.tickers)} vs {list(ref.market.tickers)}"
    ours, theirs = ref.meta.get("fingerprint"), other.meta.get("fingerprint")
    if theirs != ours:
        return f"data fingerprint {str(theirs)[:16]} vs {str(ours)[:16]} (other bars)"
    a, b = (EnvParams.from_config(m.cfg.env).action_mode for m in (other, ref))
    if a != b:
        return f"env.action_mode {a} vs {b}"
    if other.market is not ref.market and not (
        other.market.feature_names == ref.market.feature_names
        and torch.equal(other.market.features, ref.market.features)
    ):
        return "normalized features (other features config or normalizer state)"
    return None


def shared_market_members(models: Sequence[LoadedModel]) -> list[LoadedModel]:
    """The models rebound to one market (see the module docstring); raises CheckpointError
    naming the member and what differs."""
    if not models:
        raise ConfigError("ensemble.members", "an ensemble needs at least one member")
    ref = max(models, key=lambda m: market_first_day(m.cfg.obs, m.market))
    for m in models:
        diff = _differences(ref, m)
        if diff is not None:
            raise CheckpointError(f"ensemble member {m.path} differs from {ref.path}: {diff}")
    return [m if m.market is ref.market else replace(m, market=ref.market) for m in models]


def load_members(paths: Sequence[Path], device: str = "cpu") -> list[LoadedModel]:
    """Load the members' checkpoints and put them on one market."""
    return shared_market_members(load_checkpoints(list(paths), device))
