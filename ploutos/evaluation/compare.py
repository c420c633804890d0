"""Compare models on the same windows, with a paired bootstrap test of the Sharpe difference.

Every model steps exactly the same days. Models may differ in observation lookback (v6 vs
v7), which moves the first tradable day of their splits; the compared span is therefore the
intersection of the models' spans, starting at the latest first observable day. All models
must be trained on the same bars (identical data fingerprint): a comparison on different
prices would compare data, not models.

The test (paired stationary bootstrap, Politis & Romano; as in Ledoit & Wolf's Sharpe test):
resample the DAYS once per replicate with one index matrix shared by both models, so the
dependence between the two return series and within each (volatility clustering) is kept.
With d = Sharpe(A) - Sharpe(B) on the pooled daily returns and d*_b the replicates,
- the confidence interval is the percentile interval of d*;
- the two-sided p-value of H0: d = 0 uses the replicates centred on d (the null
  distribution's shape): p = (1 + #{|d*_b - d| >= |d|}) / (B + 1).
A model compared with itself has d = 0 exactly, every d*_b = 0, and p = 1.
Pooling windows lets a block run across a window boundary; with windows of tens of days and
mean block length 10 this is a minor smoothing, not a bias in d.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ploutos.errors import ConfigError, DataError
from ploutos.evaluation.backtest import (
    AGENT,
    BacktestResult,
    random_windows,
    resolve_windows,
    run_backtest,
)
from ploutos.evaluation.baselines import BASELINES
from ploutos.evaluation.checkpoint import LoadedModel
from ploutos.evaluation.metrics import (
    TRADING_DAYS,
    sharpe_ratio,
    sharpe_samples,
    stationary_bootstrap_indices,
)
from ploutos.market import SplitRange
from ploutos.obs.builders import market_first_day


@dataclass
class Comparison:
    names: list[str]  # one per model, unique, in the order given
    results: dict[str, BacktestResult]  # model name -> its backtest (baselines: first only)
    windows: list[SplitRange]
    metrics: dict[str, dict]  # models then the first backtest's baselines -> metrics
    tests: list[dict]  # paired Sharpe-difference tests (see paired_sharpe_test)
    description: str


def paired_sharpe_test(
    returns_a: np.ndarray,
    returns_b: np.ndarray,
    risk_free: float = 0.0,
    periods_per_year: int = TRADING_DAYS,
    n_boot: int = 5000,
    mean_block: float = 10.0,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Sharpe(A) - Sharpe(B) on the same days, its bootstrap CI and two-sided p-value."""
    a = np.asarray(returns_a, dtype=np.float64)
    b = np.asarray(returns_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired returns need the same 1-D shape, got {a.shape} and {b.shape}")
    diff = sharpe_ratio(a, risk_free, periods_per_year) - sharpe_ratio(
        b, risk_free, periods_per_year
    )
    out = {
        "sharpe_a": sharpe_ratio(a, risk_free, periods_per_year),
        "sharpe_b": sharpe_ratio(b, risk_free, periods_per_year),
        "diff": diff,
        "low": diff,
        "high": diff,
        "p_value": 1.0,
        "confidence": confidence,
        "n_boot": n_boot,
        "days": int(a.size),
    }
    if a.size < 2:
        return out
    idx = stationary_bootstrap_indices(a.size, n_boot, mean_block, np.random.default_rng(seed))
    samples = sharpe_samples(a[idx], risk_free, periods_per_year) - sharpe_samples(
        b[idx], risk_free, periods_per_year
    )
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    extreme = np.abs(samples - diff) >= abs(diff)
    out.update(
        low=float(low),
        high=float(high),
        p_value=float((1 + extreme.sum()) / (n_boot + 1)),
    )
    return out


def _unique_names(models: Sequence[LoadedModel]) -> list[str]:
    names: list[str] = []
    for i, m in enumerate(models):
        name = m.name
        names.append(name if name not in names else f"{name}#{i}")
    return names


def common_windows(
    models: Sequence[LoadedModel],
    split: str | None = "test",
    start: str | None = None,
    end: str | None = None,
    episodes: int | None = None,
    days: int | None = None,
    seed: int = 0,
) -> tuple[list[SplitRange], str]:
    """Windows every model can trade: the intersection of their spans, drawn once."""
    first = models[0]
    ours = str(first.meta.get("fingerprint"))
    for m in models[1:]:
        theirs = str(m.meta.get("fingerprint"))
        if theirs != ours:
            raise DataError(
                f"{m.path} and {first.path} were trained on different data (fingerprints "
                f"{theirs[:16]} vs {ours[:16]}); compare models on the same bars"
            )
    spans = [resolve_windows(m, split, start, end)[0][0] for m in models]
    span = SplitRange(spans[0].name, max(s.start for s in spans), min(s.stop for s in spans))
    first_day = max(market_first_day(m.cfg.obs, m.market) for m in models)
    dates = first.market.dates
    if episodes is None and days is None:
        lo = max(span.start, first_day)
        if lo >= span.stop - 1:
            raise ConfigError("split", f"the models share no tradable day in '{span.name}'")
        where = f"{span.name}: {dates[lo]} .. {dates[span.stop - 1]}"
        return [SplitRange(span.name, lo, span.stop)], where
    if episodes is None or days is None:
        raise ConfigError("episodes/days", "give both episodes and days, or neither")
    windows = random_windows(span, first_day, int(episodes), int(days), seed)
    return windows, f"{episodes} random windows of {days} days in {span.name} (seed {seed})"


def compare_models(
    models: Sequence[LoadedModel],
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
    n_boot: int = 5000,
    reference: int = 0,
    against: Sequence[str] = ("buy_and_hold",),
) -> Comparison:
    """Backtest every model on the same windows; test each model against models[reference]
    (a single model against itself) and against each baseline named in `against`."""
    if len(models) < 1:
        raise ConfigError("ckpts", "give at least one checkpoint")
    if not 0 <= reference < len(models):
        raise ConfigError("reference", f"must index one of the {len(models)} models")
    windows, description = common_windows(models, split, start, end, episodes, days, seed)
    names = _unique_names(models)
    results = {
        name: run_backtest(
            m,
            windows=windows,
            seed=seed,
            baselines=baselines if i == 0 else (),
            horizon=horizon,
            risk_free=risk_free,
            n_boot=n_boot,
        )
        for i, (name, m) in enumerate(zip(names, models, strict=True))
    }
    metrics = {name: results[name].metrics[AGENT] for name in names}
    first = results[names[0]]
    metrics.update({b: first.metrics[b] for b in first.strategies if b != AGENT})
    ref = names[reference]
    tests = []
    for name in names:
        if name == ref and len(names) > 1:
            continue
        test = paired_sharpe_test(
            results[name].returns(AGENT),
            results[ref].returns(AGENT),
            risk_free,
            n_boot=n_boot,
            seed=seed,
        )
        tests.append({"a": name, "b": ref, **test})
    for base in against:
        if base not in first.runs:
            continue
        for name in names:
            test = paired_sharpe_test(
                results[name].returns(AGENT),
                first.returns(base),
                risk_free,
                n_boot=n_boot,
                seed=seed,
            )
            tests.append({"a": name, "b": base, **test})
    return Comparison(names, results, list(windows), metrics, tests, description)
