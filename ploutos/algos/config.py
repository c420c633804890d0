"""Range checks for the algo group, before any env or network is built.

Each algorithm's `validate_config` calls these with its own keys, so every message names
`algo.<key>` and the rule it broke.
"""

from __future__ import annotations

from collections.abc import Iterable

from omegaconf import DictConfig

from ploutos.errors import ConfigError


def number(algo: DictConfig, key: str) -> float:
    value = algo.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"algo.{key}", f"must be a number, got {value!r}")
    return float(value)


def positive_ints(algo: DictConfig, keys: Iterable[str]) -> None:
    for key in keys:
        value = algo.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"algo.{key}", f"must be an integer >= 1, got {value!r}")


def unit_interval(algo: DictConfig, keys: Iterable[str]) -> None:
    for key in keys:
        if not 0.0 <= number(algo, key) <= 1.0:
            raise ConfigError(f"algo.{key}", f"must be in [0, 1], got {algo.get(key)}")


def positive_floats(algo: DictConfig, keys: Iterable[str]) -> None:
    for key in keys:
        if not number(algo, key) > 0.0:
            raise ConfigError(f"algo.{key}", f"must be > 0, got {algo.get(key)}")


def non_negative_floats(algo: DictConfig, keys: Iterable[str]) -> None:
    for key in keys:
        if not number(algo, key) >= 0.0:
            raise ConfigError(f"algo.{key}", f"must be >= 0, got {algo.get(key)}")


def booleans(algo: DictConfig, keys: Iterable[str], optional: Iterable[str] = ()) -> None:
    """`optional` keys may be absent (configs written before they existed)."""
    for key in keys:
        if not isinstance(algo.get(key), bool):
            raise ConfigError(f"algo.{key}", f"must be true or false, got {algo.get(key)!r}")
    for key in optional:
        if not isinstance(algo.get(key, False), bool):
            raise ConfigError(f"algo.{key}", f"must be true or false, got {algo.get(key)!r}")
