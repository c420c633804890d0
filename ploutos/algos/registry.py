"""Find an algorithm class by `algo._target_` (a class path) or `algo.name`.

An algorithm is one module with an `Algorithm` subclass and one YAML in conf/algo/ whose
`_target_` names the class; nothing else changes. `name`-only configs (checkpoints written
before `_target_` existed) resolve through the built-in table.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig

from ploutos.algos.base import Algorithm
from ploutos.errors import ConfigError
from ploutos.market import Market

BUILT_IN = {
    "ppo": "ploutos.algos.ppo.PPO",
    "reinforce": "ploutos.algos.reinforce.Reinforce",
    "a2c": "ploutos.algos.a2c.A2C",
    "dqn": "ploutos.algos.dqn.DQN",
    "sac": "ploutos.algos.sac.SAC",
}


def algorithm_class(algo: DictConfig) -> type[Algorithm]:
    """The class of cfg.algo; ConfigError naming algo._target_ / algo.name when unknown."""
    target = algo.get("_target_")
    name = algo.get("name")
    if target is None:
        if name not in BUILT_IN:
            raise ConfigError(
                "algo.name", f"unknown algorithm {name!r}; built in: {', '.join(BUILT_IN)}"
            )
        target = BUILT_IN[name]
    try:
        cls = get_class(str(target))
    except Exception as err:
        raise ConfigError("algo._target_", f"cannot import {target!r}: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
        raise ConfigError("algo._target_", f"{target!r} is not a ploutos.algos.base.Algorithm")
    if name is not None and name != cls.name:
        raise ConfigError("algo.name", f"{target} is '{cls.name}', got {name!r}")
    return cls


def validate_algo_config(algo: DictConfig) -> None:
    """The algorithm's own range checks, before any env or network is built."""
    algorithm_class(algo).validate_config(algo)


def make_algorithm(
    cfg: DictConfig, market: Market, market_meta: dict[str, Any] | None = None
) -> Algorithm:
    return algorithm_class(cfg.algo)(cfg, market, market_meta)
