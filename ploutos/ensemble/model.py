"""EnsembleModel: an ensemble in the shape every evaluator takes (a LoadedModel), and the
functions the apps call to build one for a backtest, a comparison or a walk-forward fold.

The ensemble trades on its members' shared market with the config of the reference member
(the one with the longest observation history, first in list order among equals): its env
costs, reward and observation decide the windows and the accounting. Its report document
(`doc`) names every member with its checkpoint, weight and scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ploutos.ensemble.members import RankedJob, load_members, member_paths, shared_market_members
from ploutos.ensemble.policy import Ensemble
from ploutos.ensemble.rules import SCORED_RULES, member_weights
from ploutos.ensemble.selection import validation_scores, validation_window
from ploutos.ensemble.spec import EnsembleSpec
from ploutos.evaluation.backtest import resolve_windows
from ploutos.evaluation.checkpoint import LoadedModel
from ploutos.evaluation.compare import common_windows
from ploutos.obs.builders import market_first_day


@dataclass
class EnsembleModel(LoadedModel):
    members: list[LoadedModel] = field(default_factory=list)
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.doc.get("label", "ensemble"))


def unique_names(models: Sequence[LoadedModel]) -> list[str]:
    names: list[str] = []
    for i, m in enumerate(models):
        names.append(m.name if m.name not in names else f"{m.name}#{i}")
    return names


def reference_member(members: Sequence[LoadedModel]) -> LoadedModel:
    return max(members, key=lambda m: market_first_day(m.cfg.obs, m.market))


def build_ensemble(
    spec: EnsembleSpec,
    members: Sequence[LoadedModel],
    cutoff: int,
    horizon: int = 5,
    risk_free: float = 0.0,
    jobs: Sequence[RankedJob] = (),
) -> EnsembleModel:
    """The ensemble of `members` (already on one market) for a trading window starting on
    day index `cutoff`: best_val and weighted are scored on validation days before it."""
    members = list(members)
    names = unique_names(members)
    market = members[0].market
    scores, window = None, None
    if spec.rule in SCORED_RULES:
        window = validation_window(market, spec.val_split, cutoff)
        scores = validation_scores(members, window, spec.metric, horizon, risk_free)
    weights = member_weights(spec.rule, scores, names, spec.mode, float(spec.temperature))
    policy = Ensemble([m.policy for m in members], [m.cfg.obs for m in members], spec.rule,
                      weights, names)  # fmt: skip
    ranked = {str(j.checkpoint): j for j in jobs}
    rows = []
    for i, (m, name) in enumerate(zip(members, names, strict=True)):
        row: dict[str, Any] = {
            "name": name,
            "checkpoint": str(m.path),
            "weight": weights[i],
            "obs": str(m.cfg.obs.name),
            "env_steps": m.env_steps,
        }
        if scores is not None:
            row[f"validation_{spec.metric}"] = scores[i]
        job = ranked.get(str(m.path))
        if job is not None:
            row.update(job=str(job.job_dir), summary_score=job.score, summary_monitor=job.monitor)
        rows.append(row)
    doc: dict[str, Any] = {"label": f"ensemble:{spec.rule}", "rule": spec.rule, "members": rows}
    if window is not None:
        doc.update(
            metric=spec.metric,
            mode=spec.mode,
            validation_window={"start": str(market.dates[window.start]),
                               "end": str(market.dates[window.stop - 1])},
        )  # fmt: skip
        if spec.rule == "weighted":
            doc["temperature"] = float(spec.temperature)
    if jobs:
        doc["multirun_top_k"] = spec.top_k
    ref = reference_member(members)
    return EnsembleModel(
        policy=policy,
        cfg=ref.cfg,
        market=market,
        report=ref.report,
        meta=ref.meta,
        members=members,
        doc=doc,
    )


def ensemble_for_backtest(
    spec: EnsembleSpec,
    device: str = "cpu",
    *,
    split: str | None = "test",
    start: str | None = None,
    end: str | None = None,
    episodes: int | None = None,
    days: int | None = None,
    seed: int = 0,
    horizon: int = 5,
    risk_free: float = 0.0,
) -> EnsembleModel:
    """Load spec.members and build the ensemble for the windows run_backtest will draw
    from the same arguments."""
    paths, jobs = member_paths(spec.members, spec.top_k)
    members = load_members(paths, device)
    windows, _ = resolve_windows(reference_member(members), split, start, end, episodes, days, seed)
    cutoff = min(w.start for w in windows)
    return build_ensemble(spec, members, cutoff, horizon, risk_free, jobs)


def ensemble_beside(
    spec: EnsembleSpec,
    models: Sequence[LoadedModel],
    device: str = "cpu",
    *,
    split: str | None = "test",
    start: str | None = None,
    end: str | None = None,
    episodes: int | None = None,
    days: int | None = None,
    seed: int = 0,
    horizon: int = 5,
    risk_free: float = 0.0,
) -> list[LoadedModel]:
    """[ensemble, *models] for compare: the members are spec.members when given, else
    `models` themselves (then rebound to their one shared market)."""
    jobs: list[RankedJob] = []
    if spec.members:
        paths, jobs = member_paths(spec.members, spec.top_k)
        members = load_members(paths, device)
    else:
        members = models = shared_market_members(models)
    windows, _ = common_windows([*members, *models], split, start, end, episodes, days, seed)
    cutoff = min(w.start for w in windows)
    return [build_ensemble(spec, members, cutoff, horizon, risk_free, jobs), *models]
