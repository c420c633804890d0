"""gymnasium's entry points for "Ploutos-v0" (registered in ploutos/__init__.py).

`gymnasium.make("Ploutos-v0")` composes conf/train.yaml from the package's own config folder
(the bundled sample data, the default groups) and builds its market; `overrides` are Hydra
overrides of that config, while a ready `cfg` (and `market`) is used as given.
`gymnasium.make_vec("Ploutos-v0", num_envs=N)` is the batched VectorEnv over one engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from ploutos.config import compose_train_config
from ploutos.env.gym import PloutosEnv, PloutosVectorEnv
from ploutos.errors import ConfigError
from ploutos.market import Market


def gym_config(cfg: DictConfig | None, overrides: Sequence[str] | None) -> DictConfig:
    """`cfg` as given, else the default config with `overrides`. Each group the env reads is
    checked by the module that reads it (data, features, env params, obs); the training-only
    groups are not, so an env costs no Lightning import."""
    if cfg is not None:
        if overrides:
            raise ConfigError("overrides", "pass either cfg or overrides, not both")
        return cfg
    return compose_train_config(list(overrides or ()))


def make_gym_env(
    *,
    overrides: Sequence[str] | None = None,
    cfg: DictConfig | None = None,
    market: Market | None = None,
    split: str = "train",
    seed: int = 0,
    evaluation: bool = False,
) -> PloutosEnv:
    """What gymnasium.make("Ploutos-v0", **kwargs) calls."""
    return PloutosEnv(
        cfg=gym_config(cfg, overrides),
        market=market,
        split=split,
        seed=seed,
        evaluation=evaluation,
    )


def make_gym_vector_env(
    num_envs: int,
    *,
    overrides: Sequence[str] | None = None,
    cfg: DictConfig | None = None,
    market: Market | None = None,
    split: str = "train",
    seed: int = 0,
) -> PloutosVectorEnv:
    """What gymnasium.make_vec("Ploutos-v0", num_envs=N, **kwargs) calls."""
    return PloutosVectorEnv(
        num_envs, cfg=gym_config(cfg, overrides), market=market, split=split, seed=seed
    )
