"""Validation scores of the members, measured only on days before the trading window.

best_val and weighted weigh members by a metric (Sharpe by default) of each member trading
alone over the validation window: the market's `val_split`, cut to end before `cutoff`, the
first day of the window the ensemble will trade. Every day the scoring reads (decision
features, fill prices, the closes the equity is marked at) is before `cutoff`, so no price or
feature of the trading window can move the pick. Each member is scored with its own config
(obs, env costs, reward) and its own observation builder over the shared market.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from ploutos.errors import ConfigError
from ploutos.evaluation.checkpoint import LoadedModel
from ploutos.evaluation.runner import evaluate_policy
from ploutos.market import Market, SplitRange
from ploutos.obs.builders import make_obs_builder, market_first_day

WINDOW = "ensemble_val"


def validation_window(market: Market, val_split: str, cutoff: int) -> SplitRange:
    """`val_split` of `market` ending before day index `cutoff` (at least 2 days)."""
    if val_split not in market.splits:
        raise ConfigError(
            "ensemble.val_split",
            f"unknown split '{val_split}'; choose from {sorted(market.splits)}",
        )
    val = market.splits[val_split]
    stop = min(val.stop, int(cutoff))
    if stop - val.start < 2:
        raise ConfigError(
            "ensemble.val_split",
            f"split '{val_split}' (from {market.dates[val.start]}) has no days before the "
            f"trading window starting {market.dates[min(int(cutoff), market.n_days - 1)]}; "
            "members are scored on data before the window they trade",
        )
    return SplitRange(WINDOW, val.start, stop)


def validation_scores(
    members: Sequence[LoadedModel],
    window: SplitRange,
    metric: str = "sharpe",
    horizon: int = 5,
    risk_free: float = 0.0,
) -> list[float]:
    """`metric` of each member's deterministic policy over `window` of its market."""
    scores = []
    for m in members:
        market = replace(m.market, splits={**m.market.splits, window.name: window})
        first = market_first_day(m.cfg.obs, market)
        if first >= window.stop - 1:
            raise ConfigError(
                "ensemble.val_split",
                f"member {m.name} observes from {market.dates[first]}, after the validation "
                f"window's last day {market.dates[window.stop - 1]}",
            )
        builder = make_obs_builder(m.cfg.obs, market)
        metrics = evaluate_policy(m.policy, builder, m.cfg, window.name, horizon, risk_free)
        if metric not in metrics or isinstance(metrics[metric], str):
            numeric = sorted(k for k, v in metrics.items() if not isinstance(v, str))
            raise ConfigError(
                "ensemble.metric", f"unknown metric {metric!r}; choose from {numeric}"
            )
        score = float(metrics[metric])
        if not math.isfinite(score):
            raise ConfigError(
                "ensemble.metric", f"member {m.name} has a non-finite validation {metric}: {score}"
            )
        scores.append(score)
    return scores
