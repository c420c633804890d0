"""Hydra's sweep syntax as an Optuna search space, and a trial's parameters as overrides.

    key: interval(a, b)                   float in [a, b]
    key: tag(log, interval(a, b))         float in [a, b], sampled on a log scale
    key: tag(int, interval(a, b))         integer in [a, b] (tags combine: tag(int, log, ...))
    key: choice(x, y, ...)                one of the values (strings stay strings, so
                                          choice('[32,32]', '[64,64]') gives list overrides)
    key: range(a, b, step)                integers a, a + step, ... below b
    key: value                            fixed for every trial

The same syntax works in `hydra.sweeper.params` and on the command line; the command line
wins for a key given in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from ploutos.errors import ConfigError


@dataclass(frozen=True)
class SearchSpace:
    """Searched keys (as Optuna parameter names, `+` prefix kept) and the fixed overrides."""

    distributions: dict[str, BaseDistribution]
    fixed: list[str]

    def overrides_for(self, params: dict[str, Any]) -> list[str]:
        """The command-line overrides of one trial: the fixed ones, then its parameters."""
        return [*self.fixed, *(f"{key}={value}" for key, value in params.items())]

    def grid(self) -> dict[str, list[Any]]:
        """Every searched key's values, for the grid sampler (intervals have none)."""
        out: dict[str, list[Any]] = {}
        for key, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                out[key] = list(dist.choices)
            elif isinstance(dist, IntDistribution) and not dist.log:
                out[key] = list(range(dist.low, dist.high + 1, dist.step))
            else:
                raise ConfigError(
                    f"hydra.sweeper.params.{key}",
                    "the grid sampler needs choice(...) or range(...), not an interval",
                )
        return out


def _interval(key: str, sweep: IntervalSweep) -> BaseDistribution:
    tags = set(sweep.tags)
    unknown = tags - {"log", "int"}
    if unknown:
        raise ConfigError(key, f"unknown interval tag(s) {sorted(unknown)}; use log and/or int")
    log = "log" in tags
    if "int" in tags:
        low, high = int(sweep.start), int(sweep.end)
        if (low, high) != (sweep.start, sweep.end):
            raise ConfigError(key, f"tag(int, ...) needs integer bounds, got {sweep}")
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(sweep.start), float(sweep.end), log=log)


def _distribution(override: Override) -> BaseDistribution:
    key = f"hydra.sweeper.params.{override.get_key_element()}"
    value = override.value()
    if override.is_interval_sweep():
        assert isinstance(value, IntervalSweep)
        if value.start is None or value.end is None or value.start >= value.end:
            raise ConfigError(key, f"an interval needs start < end, got {value}")
        return _interval(key, value)
    if getattr(value, "shuffle", False):
        raise ConfigError(key, "shuffle(...) means nothing to a sampler; drop it")
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        values = list(override.sweep_iterator())
        if not values:
            raise ConfigError(key, f"{value} is empty")
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(values[0], values[-1], step=int(value.step))
        return CategoricalDistribution(values)
    if override.is_choice_sweep():
        return CategoricalDistribution(list(override.sweep_iterator()))
    raise ConfigError(key, f"unsupported sweep {override.input_line}")


def parse_search_space(params: dict[str, str] | None, arguments: list[str]) -> SearchSpace:
    """The search space of `hydra.sweeper.params` plus the command-line `arguments`."""
    lines = [f"{key}={value}" for key, value in (params or {}).items()] + list(arguments)
    by_key: dict[str, Override] = {}
    for override in OverridesParser.create().parse_overrides(lines):
        # The command line comes last, so it replaces a key the preset also searches.
        by_key[override.get_key_element()] = override
    distributions: dict[str, BaseDistribution] = {}
    fixed: list[str] = []
    for key, override in by_key.items():
        if override.is_sweep_override():
            distributions[key] = _distribution(override)
        else:
            fixed.append(override.input_line or f"{key}={override.get_value_element_as_str()}")
    if not distributions:
        raise ConfigError("hydra.sweeper.params", "nothing to search: no interval/choice/range")
    return SearchSpace(distributions=distributions, fixed=fixed)
