"""Range checks for the algo group, before any env or network is built."""

from __future__ import annotations

from omegaconf import DictConfig

from ploutos.errors import ConfigError

_POSITIVE_INTS = ("n_envs", "n_steps", "update_epochs", "num_minibatches", "total_timesteps")
_UNIT_INTERVAL = ("gamma", "gae_lambda")
_POSITIVE_FLOATS = ("clip_coef", "learning_rate", "max_grad_norm")
_NON_NEGATIVE_FLOATS = ("vf_coef", "ent_coef")


def _number(algo: DictConfig, key: str) -> float:
    value = algo.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"algo.{key}", f"must be a number, got {value!r}")
    return float(value)


def validate_ppo_config(algo: DictConfig) -> None:
    """Raise ConfigError naming the first out-of-range key of cfg.algo."""
    if algo.get("name") != "ppo":
        raise ConfigError("algo.name", f"this learner is 'ppo', got {algo.get('name')!r}")
    for key in _POSITIVE_INTS:
        value = algo.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"algo.{key}", f"must be an integer >= 1, got {value!r}")
    for key in _UNIT_INTERVAL:
        if not 0.0 <= _number(algo, key) <= 1.0:
            raise ConfigError(f"algo.{key}", f"must be in [0, 1], got {algo.get(key)}")
    for key in _POSITIVE_FLOATS:
        if not _number(algo, key) > 0.0:
            raise ConfigError(f"algo.{key}", f"must be > 0, got {algo.get(key)}")
    for key in _NON_NEGATIVE_FLOATS:
        if not _number(algo, key) >= 0.0:
            raise ConfigError(f"algo.{key}", f"must be >= 0, got {algo.get(key)}")
    if algo.get("target_kl") is not None and not _number(algo, "target_kl") > 0.0:
        raise ConfigError("algo.target_kl", f"must be > 0 or null, got {algo.target_kl}")
    batch = algo.n_envs * algo.n_steps
    if algo.num_minibatches > batch:
        raise ConfigError(
            "algo.num_minibatches",
            f"must be <= n_envs * n_steps ({batch}), got {algo.num_minibatches}",
        )
    for key in ("clip_vloss", "norm_adv", "anneal_lr"):
        if not isinstance(algo.get(key), bool):
            raise ConfigError(f"algo.{key}", f"must be true or false, got {algo.get(key)!r}")
    # Optional: configs written before it existed train with sample-shuffled minibatches.
    if not isinstance(algo.get("minibatch_by_day", False), bool):
        raise ConfigError(
            "algo.minibatch_by_day", f"must be true or false, got {algo.minibatch_by_day!r}"
        )
