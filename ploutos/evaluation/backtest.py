"""Backtest a model and every baseline on the same windows through the one engine.

A window is a SplitRange on the model's market calendar. One backtest covers either a whole
split (test by default), a date range, or E random windows of D trading days drawn (seeded)
inside a split; every strategy steps exactly the same windows with the same costs, through
ploutos.evaluation.runner (no second P&L code path, docs/design.md #3).

Aggregation over several windows (the seed's `--episodes 10 --days 90`):
- every metric in `metrics[strategy]` is the MEAN over windows of the per-window metric,
  except the timing counts (buy_good, buy_bad, sell_good, sell_bad: SUMS over windows) and
  buy_quality / sell_quality, recomputed from those sums (a window with two trades must not
  weigh as much as one with forty);
- `sharpe_std` is the spread of the per-window Sharpe ratios, `windows` their number;
- `sharpe_ci` is a stationary-bootstrap confidence interval of the Sharpe ratio of the
  POOLED daily returns of all windows (for one window: of its daily returns), with the
  pooled point estimate beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ploutos.errors import ConfigError
from ploutos.evaluation.baselines import BASELINES, run_baselines
from ploutos.evaluation.checkpoint import LoadedModel
from ploutos.evaluation.metrics import TRADING_DAYS, bootstrap_sharpe, simple_returns
from ploutos.evaluation.oracle import ORACLE, add_edge_capture, run_oracle
from ploutos.evaluation.runner import (
    EpisodeLog,
    episode_metrics,
    episode_timing,
    evaluation_config,
    run_policy,
)
from ploutos.market import Market, SplitRange
from ploutos.models.policy import Policy
from ploutos.obs.builders import ObsBuilder, make_obs_builder, market_first_day

AGENT = "agent"
_TIMING_COUNTS = ("buy_good", "buy_bad", "sell_good", "sell_bad")


@dataclass(frozen=True)
class WindowRun:
    """One strategy on one window: its equity curve, metrics, timing and engine log."""

    equity: np.ndarray  # float64 [D + 1]
    metrics: dict[str, float]
    timing: dict | None  # timing_quality result; None for the index (never trades)
    log: EpisodeLog | None  # None for the index, which is not stepped on the engine


@dataclass
class BacktestResult:
    """Strategies (agent first, then baselines) x windows, with aggregated metrics."""

    windows: list[SplitRange]
    dates: list[np.ndarray]  # per window: datetime64[D] [D + 1], row 0 = first decision day
    runs: dict[str, list[WindowRun]]  # strategy -> one run per window
    metrics: dict[str, dict]  # strategy -> aggregated metrics (see the module docstring)
    timing: dict[str, dict]  # strategy -> pooled timing counts and shares, per ticker too
    tickers: tuple[str, ...]
    market: Market  # the market the windows index into (with the window splits added)
    horizon: int = 5
    risk_free: float = 0.0
    description: str = ""
    settings: dict = field(default_factory=dict)

    @property
    def strategies(self) -> list[str]:
        return list(self.runs)

    def returns(self, strategy: str) -> np.ndarray:
        """Daily returns of `strategy`, windows concatenated in order (paired across
        strategies and across models backtested on the same windows)."""
        return np.concatenate([simple_returns(r.equity) for r in self.runs[strategy]])


def date_window(
    market: Market, start: str | None, end: str | None, name: str = "range"
) -> SplitRange:
    """The days of `market` with start <= date <= end (either bound may be None)."""
    dates = market.dates.astype("datetime64[D]")
    try:
        lo = 0 if start is None else int(np.searchsorted(dates, np.datetime64(str(start), "D")))
        hi = (
            len(dates)
            if end is None
            else int(np.searchsorted(dates, np.datetime64(str(end), "D"), side="right"))
        )
    except ValueError as err:
        raise ConfigError("start/end", f"not a date: {err}") from err
    if hi - lo < 2:
        raise ConfigError(
            "start/end",
            f"[{start}, {end}] holds {max(hi - lo, 0)} trading days of the market "
            f"({dates[0]} .. {dates[-1]}); need at least 2",
        )
    return SplitRange(name, lo, hi)


def random_windows(
    span: SplitRange, first_day: int, episodes: int, days: int, seed: int = 0
) -> list[SplitRange]:
    """`episodes` windows of `days` steps (days + 1 points) inside span, seeded.

    A window decides on s .. s + days - 1 and fills on s + 1 .. s + days, all in the span.
    """
    if episodes < 1:
        raise ConfigError("episodes", f"must be >= 1, got {episodes}")
    first = max(span.start, first_day)
    last_start = span.stop - 1 - days
    if days < 2 or last_start < first:
        raise ConfigError(
            "days",
            f"must be in [2, {span.stop - 1 - first}] for split '{span.name}' "
            f"({span.stop - 1 - first} steps after its first observable day), got {days}",
        )
    rng = np.random.default_rng(seed)
    starts = rng.integers(first, last_start + 1, size=episodes)
    return [SplitRange(f"window{i}", int(s), int(s) + days + 1) for i, s in enumerate(starts)]


def _with_windows(market: Market, windows: Sequence[SplitRange]) -> Market:
    return replace(market, splits={**market.splits, **{w.name: w for w in windows}})


def _pool_timing(timings: Sequence[dict], horizon: int) -> dict:
    """Sum timing counts over windows (overall and per ticker) and recompute the shares."""

    def share(good: int, bad: int) -> float:
        return good / (good + bad) if good + bad else 0.0

    keys = [f"{s}_{k}" for s in ("buy", "sell") for k in ("good", "bad", "unjudged")]
    out: dict = {"horizon": horizon}
    out.update({k: int(sum(t[k] for t in timings)) for k in keys})
    per: dict = {}
    for name in timings[0]["per_ticker"]:
        counts = {k: int(sum(t["per_ticker"][name][k] for t in timings)) for k in keys}
        counts["buy_quality"] = share(counts["buy_good"], counts["buy_bad"])
        counts["sell_quality"] = share(counts["sell_good"], counts["sell_bad"])
        per[name] = counts
    out["buy_quality"] = share(out["buy_good"], out["buy_bad"])
    out["sell_quality"] = share(out["sell_good"], out["sell_bad"])
    out["per_ticker"] = per
    return out


def _aggregate(
    runs: Sequence[WindowRun],
    pooled_returns: np.ndarray,
    timing: dict | None,
    risk_free: float,
    n_boot: int,
    seed: int,
) -> dict:
    keys = runs[0].metrics.keys()
    out: dict = {k: float(np.mean([r.metrics[k] for r in runs])) for k in keys}
    if timing is not None:
        for key in _TIMING_COUNTS:
            out[key] = float(timing[key])
        out["buy_quality"] = float(timing["buy_quality"])
        out["sell_quality"] = float(timing["sell_quality"])
    out["windows"] = float(len(runs))
    out["sharpe_std"] = float(np.std([r.metrics["sharpe"] for r in runs]))
    out["sharpe_ci"] = bootstrap_sharpe(
        pooled_returns, risk_free, TRADING_DAYS, n_boot=n_boot, seed=seed
    )
    return out


def resolve_windows(
    model: LoadedModel,
    split: str | None = "test",
    start: str | None = None,
    end: str | None = None,
    episodes: int | None = None,
    days: int | None = None,
    seed: int = 0,
    market: Market | None = None,
) -> tuple[list[SplitRange], str]:
    """The windows a backtest steps and a one-line description of them.

    start/end (either given) select a date range and take precedence over `split`;
    episodes/days (both given) draw random windows inside that range or split.
    """
    market = model.market if market is None else market
    if start is not None or end is not None:
        span = date_window(market, start, end)
        where = f"{start or 'start'} .. {end or 'end'}"
    else:
        name = split or "test"
        if name not in market.splits:
            raise ConfigError(
                "split", f"unknown split '{name}'; choose from {sorted(market.splits)}"
            )
        span = market.splits[name]
        where = f"split '{name}'"
    if (episodes is None) != (days is None):
        raise ConfigError("episodes/days", "give both episodes and days, or neither")
    first_day = market_first_day(model.cfg.obs, market)
    if episodes is None:
        first = max(span.start, first_day)
        dates = market.dates
        if first >= span.stop - 1:
            raise ConfigError(
                "start/end" if span.name == "range" else "split",
                f"{where} ends on {dates[span.stop - 1]}, before the first observable day "
                f"{dates[min(first, len(dates) - 1)]} (feature warm-up and obs lookback)",
            )
        return [span], f"{where}: {dates[first]} .. {dates[span.stop - 1]}"
    windows = random_windows(span, first_day, int(episodes), int(days), seed)
    return windows, f"{episodes} random windows of {days} days in {where} (seed {seed})"


def agent_policy_fn(policy: Policy, obs_builder: ObsBuilder) -> Callable:
    """The deterministic action function of a policy reading the market through
    `obs_builder`."""

    def act(obs):
        with torch.no_grad():
            return policy.act(obs, obs_builder, deterministic=True)

    return act


def run_backtest(
    model: LoadedModel,
    split: str | None = "test",
    episodes: int | None = None,
    days: int | None = None,
    seed: int = 0,
    *,
    start: str | None = None,
    end: str | None = None,
    baselines: Sequence[str] = BASELINES,
    horizon: int = 5,
    risk_free: float = 0.0,
    n_boot: int = 2000,
    market: Market | None = None,
    windows: Sequence[SplitRange] | None = None,
) -> BacktestResult:
    """Backtest model.policy (deterministic) and `baselines` on the same windows and costs.

    split: a split name of the model's market (test by default); start/end: a date range
    instead; episodes/days: that many random windows of that many trading days inside it.
    `baselines` may name `oracle`: the rule that knows a planted signal, run on planted
    synthetic markets only, and edge_capture (Sharpe / the oracle's) on every strategy.
    `market` replaces model.market (same calendar and tickers; permutation importance
    passes a shuffled one); `windows` replaces the window selection (compare passes the
    windows of its first model so every model steps the same days). The random baseline
    draws with seed + window index, so its windows differ from each other but not between
    runs.
    """
    base = model.market if market is None else market
    if windows is None:
        windows, description = resolve_windows(
            model, split, start, end, episodes, days, seed, market=base
        )
    else:
        windows = list(windows)
        description = f"{len(windows)} given window(s)"
    mkt = _with_windows(base, windows)
    eval_cfg, _ = evaluation_config(model.cfg, mkt)
    policy = model.policy
    # The features a window reads are the base market's (mkt only narrows the splits).
    builder = model.obs_builder if base is model.market else make_obs_builder(model.cfg.obs, base)
    was_training = policy.training
    policy.eval()
    runs: dict[str, list[WindowRun]] = {AGENT: []}
    runs.update({b: [] for b in baselines})
    try:
        for i, w in enumerate(windows):
            # The policy's market table (an ActorCritic's, an ensemble's) encodes the window's
            # decision days once up front instead of once a step, as evaluate_policy does.
            table = getattr(policy, "market_table", None)
            decision_days = torch.arange(max(w.start, builder.min_day), w.stop, device=mkt.device)
            with table(builder, decision_days) if table else nullcontext():
                log = run_policy(agent_policy_fn(policy, builder), mkt, eval_cfg, split=w.name)
            runs[AGENT].append(
                WindowRun(
                    log.equity[:, 0],
                    episode_metrics(log, mkt, 0, horizon, risk_free),
                    episode_timing(log, mkt, 0, horizon),
                    log,
                )
            )
            found = run_baselines(
                mkt, eval_cfg, w.name, [b for b in baselines if b != ORACLE], seed + i,
                horizon=horizon, risk_free=risk_free,
            )
            for name, res in found.items():
                timing = None if res.log is None else episode_timing(res.log, mkt, 0, horizon)
                runs[name].append(WindowRun(res.equity, res.metrics, timing, res.log))
            # On a planted-signal market, the rule that knows the signal (oracle.py).
            oracle = None if ORACLE not in baselines else run_oracle(
                mkt, eval_cfg, model.cfg.get("data") or {}, w.name, horizon, risk_free
            )
            if oracle is not None:
                runs[ORACLE].append(WindowRun(
                    oracle.equity, oracle.metrics, episode_timing(oracle.log, mkt, 0, horizon),
                    oracle.log,
                ))
    finally:
        policy.train(was_training)
    # The index is absent on markets without a benchmark.
    runs = {k: v for k, v in runs.items() if v}
    dates = [mkt.dates[r.log.days] for r in runs[AGENT]]
    timing, metrics = {}, {}
    for name, strategy_runs in runs.items():
        timings = [r.timing for r in strategy_runs if r.timing is not None]
        timing[name] = _pool_timing(timings, horizon) if timings else None
        pooled = np.concatenate([simple_returns(r.equity) for r in strategy_runs])
        metrics[name] = _aggregate(strategy_runs, pooled, timing[name], risk_free, n_boot, seed)
    add_edge_capture(metrics)
    return BacktestResult(
        windows=list(windows),
        dates=dates,
        runs=runs,
        metrics=metrics,
        timing={k: v for k, v in timing.items() if v is not None},
        tickers=tuple(mkt.tickers),
        market=mkt,
        horizon=horizon,
        risk_free=risk_free,
        description=description,
        settings={
            "split": split,
            "start": start,
            "end": end,
            "episodes": episodes,
            "days": days,
            "seed": seed,
            "baselines": list(baselines),
            "horizon": horizon,
            "risk_free": risk_free,
            "n_boot": n_boot,
        },
    )
